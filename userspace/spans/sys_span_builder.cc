#include "spans/sys_span_builder.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include "spans/sys_span_export.h"

namespace otelbpf {

SysSpan make_sys_span(l7::L7Record&& record, const SysSpanOrigin& origin, SpanIdGenerator& ids) {
  SysSpan span;
  fill_sys_span(span, std::move(record), origin, ids);
  return span;
}

void fill_sys_span(SysSpan& span, l7::L7Record&& record, const SysSpanOrigin& origin, SpanIdGenerator& ids) {
  span.record = std::move(record);
  ids.fill_span_id(span.span_id);
  if (const auto& ctx = span.record.context; ctx && ctx->ids_valid)
    span.trace_id = ctx->trace_id;
  else
    ids.fill_trace_id(span.trace_id);
  span.monotonic_to_wall_ns = origin.monotonic_to_wall_ns;
  span.syscall_trace_id = origin.syscall_trace_id;
  span.tls = origin.tls;
  if (origin.sock) {
    const auto& s = *origin.sock;
    span.has_socket = true;
    span.udp = s.protocol == IPPROTO_UDP;
    span.ipv6 = s.family == AF_INET6;
    // Assigned, not made beside and moved in: each copy of short text is a call.
    if (origin.local_address.empty())
      span.local_address = format_address(s.saddr, s.family);
    else
      span.local_address.assign(origin.local_address);
    if (origin.peer_address.empty())
      span.peer_address = format_address(s.daddr, s.family);
    else
      span.peer_address.assign(origin.peer_address);
    span.local_port = s.sport;
    span.peer_port = s.dport;
  }
}

otlp::Span build_sys_span(const l7::L7Record& record, const SysSpanOrigin& origin, SpanIdGenerator& ids) {
  SysSpanGroup group;
  group.pid = origin.pid;
  group.executable = exportable_text(origin.executable);
  const SysSpan span = make_sys_span(l7::L7Record(record), origin, ids);
  otlp::Span out;
  export_sys_span(group, span, out);
  return out;
}

}  // namespace otelbpf
