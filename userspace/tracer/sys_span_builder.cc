#include "tracer/sys_span_builder.h"

#include "protocols/common/redact.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>
#include <variant>

namespace otelbpf {
namespace {

void add_int(otlp::Span& span, const std::string& key, std::int64_t value) {
  add_span_attribute(span, key, value);
}
void add_str(otlp::Span& span, const std::string& key, std::string value) {
  add_span_attribute(span, key, std::move(value));
}

std::string bytes_of(const std::uint8_t* data, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(data), n);
}

}  // namespace

std::string exportable_text(std::string_view text) {
  return l7::is_valid_utf8(text) ? std::string(text) : l7::to_valid_utf8(text);
}

std::string exportable_status_message(const l7::L7Record& record) {
  // Database servers quote the values they refused in their error text.
  if (record.protocol == "mysql" || record.protocol == "postgresql")
    return exportable_text(l7::redact_error_message(record.status_message));
  return exportable_text(record.status_message);
}

// Every string that sys and net spans carry passes here: captured bytes become valid UTF-8 (protobuf
// strings must be), and a URL's query keeps its names but not its values (tokens, signatures).
void add_span_attribute(otlp::Span& span, std::string_view key, const l7::AttributeValue& value) {
  auto* kv = span.add_attributes();
  kv->set_key(key.data(), key.size());
  auto* v = kv->mutable_value();
  std::visit(
      [v, &key](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          // Valid text (nearly all of it) is set as it is: no copy on the hot path.
          if (key == "url.query")
            v->set_string_value(exportable_text(l7::redact_url_query(x)));
          else if (l7::is_valid_utf8(x))
            v->set_string_value(x);
          else
            v->set_string_value(l7::to_valid_utf8(x));
        } else if constexpr (std::is_same_v<T, bool>)
          v->set_bool_value(x);
        else if constexpr (std::is_same_v<T, double>)
          v->set_double_value(x);
        else
          v->set_int_value(x);
      },
      value);
}

SpanIdGenerator::SpanIdGenerator() : rng_(std::random_device{}()) {}

std::string SpanIdGenerator::trace_id() {
  std::string id(16, '\0');
  std::uint64_t hi = rng_() | 1, lo = rng_();  // never all zero
  std::memcpy(id.data(), &hi, 8);
  std::memcpy(id.data() + 8, &lo, 8);
  return id;
}

std::string SpanIdGenerator::span_id() {
  std::string id(8, '\0');
  std::uint64_t v = rng_() | 1;
  std::memcpy(id.data(), &v, 8);
  return id;
}

std::string format_address(const std::uint8_t* addr, std::uint16_t family) {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    inet_ntop(AF_INET, addr, text, sizeof text);
  } else {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(addr, kMapped, 12) == 0)
      inet_ntop(AF_INET, addr + 12, text, sizeof text);
    else
      inet_ntop(AF_INET6, addr, text, sizeof text);
  }
  return text;
}

otlp::Span build_sys_span(const l7::L7Record& record, const SysSpanOrigin& origin, SpanIdGenerator& ids) {
  otlp::Span span;
  span.set_span_id(ids.span_id());
  span.set_name(exportable_text(record.span_name.empty() ? record.protocol : record.span_name));
  span.set_kind(record.role == l7::Role::kServer ? otlp::Span::SPAN_KIND_SERVER
                                                 : otlp::Span::SPAN_KIND_CLIENT);
  span.set_start_time_unix_nano(
      static_cast<std::uint64_t>(static_cast<std::int64_t>(record.start_ns) + origin.monotonic_to_wall_ns));
  span.set_end_time_unix_nano(static_cast<std::uint64_t>(
      static_cast<std::int64_t>(std::max(record.end_ns, record.start_ns)) + origin.monotonic_to_wall_ns));

  const auto& ctx = record.context;
  if (ctx && ctx->ids_valid) {
    span.set_trace_id(bytes_of(ctx->trace_id.data(), 16));
    span.set_parent_span_id(bytes_of(ctx->span_id.data(), 8));
    span.set_trace_state(ctx->tracestate);
    span.set_flags(ctx->flags);
    add_str(span, attr::kTraceContextSource, l7::to_string(ctx->source));
  } else {
    span.set_trace_id(ids.trace_id());
  }
  if (ctx && !ctx->request_id.empty()) add_str(span, "http.request.header.x-request-id", ctx->request_id);

  add_int(span, attr::kProcessPid, origin.pid);
  add_str(span, "process.executable.name", exportable_text(origin.executable));
  add_int(span, "thread.id", record.req_tid);
  if (origin.sock) {
    const auto& s = *origin.sock;
    add_str(span, "network.transport", s.protocol == IPPROTO_UDP ? "udp" : "tcp");
    add_str(span, "network.type", s.family == AF_INET6 ? "ipv6" : "ipv4");
    const std::string local = format_address(s.saddr, s.family);
    const std::string remote = format_address(s.daddr, s.family);
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
