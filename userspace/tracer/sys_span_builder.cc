#include "tracer/sys_span_builder.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <algorithm>

namespace otelbpf {

otlp::Span build_sys_span(const l7::L7Record& record, const SysSpanOrigin& origin, SpanIdGenerator& ids) {
  const auto kind =
      record.role == l7::Role::kServer ? otlp::Span::SPAN_KIND_SERVER : otlp::Span::SPAN_KIND_CLIENT;
  otlp::Span span = begin_record_span(record, kind, origin.monotonic_to_wall_ns, ids);
  const auto& ctx = record.context;
  if (ctx && !ctx->request_id.empty()) add_str(span, "http.request.header.x-request-id", ctx->request_id);

  add_int(span, attr::kProcessPid, origin.pid);
  add_str(span, "process.executable.name", exportable_text(origin.executable));
  add_int(span, "thread.id", record.req_tid);
  if (origin.sock) {
    const auto& s = *origin.sock;
    add_str(span, "network.transport", s.protocol == IPPROTO_UDP ? "udp" : "tcp");
    add_str(span, "network.type", s.family == AF_INET6 ? "ipv6" : "ipv4");
    const std::string local =
        origin.local_address.empty() ? format_address(s.saddr, s.family) : std::string(origin.local_address);
    const std::string remote =
        origin.peer_address.empty() ? format_address(s.daddr, s.family) : std::string(origin.peer_address);
    add_str(span, "network.peer.address", remote);
    add_int(span, "network.peer.port", s.dport);
    add_str(span, "network.local.address", local);
    add_int(span, "network.local.port", s.sport);
    const bool server = record.role == l7::Role::kServer;
    // The protocol may already have named the server (HTTP Host); the socket's view is the address.
    if (!l7::find_attribute(record, "server.address"))
      add_str(span, "server.address", server ? local : remote);
    if (!l7::find_attribute(record, "server.port")) add_int(span, "server.port", server ? s.sport : s.dport);
    add_str(span, "client.address", server ? remote : local);
    add_int(span, "client.port", server ? s.dport : s.sport);
  }
  for (const auto& [key, value] : record.attributes) add_span_attribute(span, key, value);
  add_str(span, attr::kL7Protocol, record.protocol);
  if (origin.tls) add_span_attribute(span, attr::kTls, true);
  add_int(span, "otelbpf.req.bytes", static_cast<std::int64_t>(record.req_bytes));
  add_int(span, "otelbpf.resp.bytes", static_cast<std::int64_t>(record.resp_bytes));
  add_int(span, attr::kReqSeq, record.req_seq);
  add_int(span, attr::kRespSeq, record.resp_seq);
  if (origin.syscall_trace_id) add_str(span, attr::kSyscallTraceId, std::to_string(origin.syscall_trace_id));
  if (record.response_missing) add_span_attribute(span, "otelbpf.response_missing", true);
  if (record.error) {
    span.mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
    span.mutable_status()->set_message(exportable_status_message(record));
  }
  return span;
}

}  // namespace otelbpf
