#pragma once
// A sys span as the syscall tracer makes it, kept compact until it leaves the trace assembler
// (docs/memory-budget.md, "The compact sys span"): the L7 record the parser produced, moved in as it is
// (its attribute keys are literals, its values mostly short strings), and what the tracer knew of the
// socket, the thread and the trace. The same span as OTLP protobuf is ~4.5 KiB in ~100 heap objects; this
// is one object and the record's few buffers. spans/sys_span_export.h reads its attributes (for the link
// rules) and writes it as OTLP (as it leaves the assembler) from one list, so both always agree.
#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/trace_id_bytes.h"
#include "model/attributes.h"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "protocols/common/record.h"
#include "protocols/common/trace_context.h"

namespace otelbpf {

struct SysSpan {
  l7::L7Record record;
  std::array<std::uint8_t, 16> trace_id{};  // the request's trace context's, else a new trace's
  std::array<std::uint8_t, 8> span_id{};
  std::int64_t monotonic_to_wall_ns = 0;  // the kernel's clock to the wall clock, when the span was made
  std::uint64_t syscall_trace_id = 0;     // the thread link (0: none)
  // The socket, as text and numbers (has_socket false: not known).
  std::string local_address, peer_address;
  std::uint16_t local_port = 0, peer_port = 0;
  bool has_socket = false;
  bool udp = false;
  bool ipv6 = false;
  bool tls = false;  // the bytes were TLS plaintext (otelbpf.tls=true)
  // Where the assembler put it (linked: its trace and parent are these, not the request's or its own).
  bool linked = false;
  TraceIdBytes linked_trace_id;
  std::string linked_parent_span_id;
};

// The instrumentation scope of every sys span (at the agent's version).
inline constexpr const char* kSysScopeName = "otelbpf.syscall";

// The sys spans of one process from one flush of the tracer, with the process's resource (shared by
// them as the OTLP ResourceSpans they become).
struct SysSpanGroup {
  opentelemetry::proto::resource::v1::Resource resource;
  std::uint32_t pid = 0;   // host pid (process.pid)
  std::string executable;  // process.executable.name, valid UTF-8
  std::vector<SysSpan> spans;
};

// An attribute value that points into whatever holds it (a record, a compact sys span).
using AttributeView = std::variant<std::string_view, std::int64_t, double, bool>;
AttributeView view_of(const l7::AttributeValue& value);
// Captured text as it may leave the node: valid UTF-8 (invalid bytes become U+FFFD).
std::string exportable_text(std::string_view text);
// Text as it may leave the node under this attribute name: valid UTF-8, and a URL query's values
// redacted.
std::string exportable_attribute_text(std::string_view key, std::string_view text);
// A record's error text for the span status: valid UTF-8, database literals redacted.
std::string exportable_status_message(const l7::L7Record& record);

// Which of the socket's attributes a span has, besides the socket itself (for_each_socket_attribute).
struct SocketAttributesShape {
  bool server = false;  // a server's span: client.* name the far end
  bool record_names_server_address = false, record_names_server_port = false;  // the protocol named them
};

// The socket's attributes of a span with has_socket, in the order they are exported: network.*, server.*
// unless the record names them, and client.* of a server.
template <class At>
void for_each_socket_attribute(const SysSpan& span, const SocketAttributesShape& shape, At&& at) {
  at("network.transport", std::string_view(span.udp ? "udp" : "tcp"));
  at("network.type", std::string_view(span.ipv6 ? "ipv6" : "ipv4"));
  at("network.peer.address", std::string_view(span.peer_address));
  at("network.peer.port", std::int64_t{span.peer_port});
  at("network.local.address", std::string_view(span.local_address));
  at("network.local.port", std::int64_t{span.local_port});
  if (!shape.record_names_server_address)
    at("server.address", std::string_view(shape.server ? span.local_address : span.peer_address));
  if (!shape.record_names_server_port)
    at("server.port", std::int64_t{shape.server ? span.local_port : span.peer_port});
  // client.* describe the other end of a server's connection (HTTP server spans); on a client's own span
  // they would repeat network.local.*.
  if (shape.server) {
    at("client.address", std::string_view(span.peer_address));
    at("client.port", std::int64_t{span.peer_port});
  }
}

// Every attribute of a sys span in the order it is exported: visit(key, AttributeView) returns true to
// go on, false to stop. The values are as captured; set_exportable_value / exportable_attribute_text make
// them what leaves the node.
template <class Visit>
void for_each_sys_attribute(const SysSpanGroup& group, const SysSpan& span, Visit&& visit) {
  bool going = true;
  auto at = [&](std::string_view key, const AttributeView& value) {
    if (going) going = visit(key, value);
  };
  const auto& record = span.record;
  const auto& ctx = record.context;
  if (ctx && ctx->ids_valid) at(attr::kTraceContextSource, std::string_view(l7::to_string(ctx->source)));
  if (ctx && !ctx->request_id.empty())
    at("http.request.header.x-request-id", std::string_view(ctx->request_id));
  // process.pid and process.executable.name are the group's resource's (as the semantic conventions put
  // them), not repeated per span: they were ~7 % of the bytes of every exported sys span.
  at("thread.id", std::int64_t{record.req_tid});
  if (span.has_socket) {
    // The protocol may already have named the server (HTTP Host); the socket's view is the address. (One
    // walk of the record's list for both names: two were ~1.5 % of the agent under tracing load.)
    SocketAttributesShape shape;
    shape.server = record.role == l7::Role::kServer;
    for (const auto& [key, value] : record.attributes) {
      shape.record_names_server_address = shape.record_names_server_address || key.view() == "server.address";
      shape.record_names_server_port = shape.record_names_server_port || key.view() == "server.port";
    }
    // A visitor may take the socket's attributes as one piece (the JSON encoder writes a connection's
    // from a cache); they are the same for every span of the connection.
    if constexpr (requires { visit.socket_attributes(span, shape); }) {
      if (going) going = visit.socket_attributes(span, shape);
    } else {
      for_each_socket_attribute(span, shape, at);
    }
  }
  for (const auto& [key, value] : record.attributes) at(key.view(), view_of(value));
  at(attr::kL7Protocol, std::string_view(record.protocol));
  if (span.tls) at(attr::kTls, true);
  at("otelbpf.req.bytes", static_cast<std::int64_t>(record.req_bytes));
  at("otelbpf.resp.bytes", static_cast<std::int64_t>(record.resp_bytes));
  at(attr::kReqSeq, std::int64_t{record.req_seq});
  at(attr::kRespSeq, std::int64_t{record.resp_seq});
  if (span.syscall_trace_id) {
    char text[24];
    const auto end = std::to_chars(text, text + sizeof text, span.syscall_trace_id).ptr;
    at(attr::kSyscallTraceId, std::string_view(text, static_cast<std::size_t>(end - text)));
  }
  if (record.response_missing) at("otelbpf.response_missing", true);
  at(attr::kSpanSource, std::string_view("sys"));
}

// The span's fields as exported.
std::string sys_span_name(const SysSpan& span);
int sys_span_kind(const SysSpan& span);  // otlp::Span::SpanKind
std::uint64_t sys_span_start_unix_ns(const SysSpan& span);
std::uint64_t sys_span_end_unix_ns(const SysSpan& span);  // never before the start
std::string sys_span_id(const SysSpan& span);
std::string sys_span_trace_id(const SysSpan& span);
std::string sys_span_parent_id(const SysSpan& span);  // the context's sender, or empty

// The ids it leaves with, as views into the span (no copy: the JSON encoder writes them per span): the
// linked ones, else its own trace id and the context's parent.
std::string_view sys_span_exported_trace_id(const SysSpan& span);
std::string_view sys_span_exported_parent_id(const SysSpan& span);

// Resident bytes of a compact span and of a group, estimated like approx_resident_bytes (span_batch.h).
std::size_t approx_resident_bytes(const SysSpan& span);
std::size_t approx_resident_bytes(const SysSpanGroup& group);

}  // namespace otelbpf
