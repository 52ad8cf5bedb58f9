#pragma once
// What a compact sys span (model/sys_span.h) says as OTLP: its attributes, read one by one for the link
// rules' facts (assembler/span_facts.h) and written all at once as it leaves the assembler. Both read the
// one list below, so the facts of a compact span are those of the span that is exported.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/attributes.h"
#include "model/span_batch.h"
#include "model/sys_span.h"
#include "spans/span_helpers.h"

namespace otelbpf {

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
  at(attr::kProcessPid, std::int64_t{group.pid});
  at("process.executable.name", std::string_view(group.executable));
  at("thread.id", std::int64_t{record.req_tid});
  if (span.has_socket) {
    const bool server = record.role == l7::Role::kServer;
    at("network.transport", std::string_view(span.udp ? "udp" : "tcp"));
    at("network.type", std::string_view(span.ipv6 ? "ipv6" : "ipv4"));
    at("network.peer.address", std::string_view(span.peer_address));
    at("network.peer.port", std::int64_t{span.peer_port});
    at("network.local.address", std::string_view(span.local_address));
    at("network.local.port", std::int64_t{span.local_port});
    // The protocol may already have named the server (HTTP Host); the socket's view is the address.
    if (!l7::find_attribute(record, "server.address"))
      at("server.address", std::string_view(server ? span.local_address : span.peer_address));
    if (!l7::find_attribute(record, "server.port"))
      at("server.port", std::int64_t{server ? span.local_port : span.peer_port});
    at("client.address", std::string_view(server ? span.peer_address : span.local_address));
    at("client.port", std::int64_t{server ? span.peer_port : span.local_port});
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
}

// The attribute's value as it is exported, or nullopt.
std::optional<l7::AttributeValue> find_sys_attribute(const SysSpanGroup& group, const SysSpan& span,
                                                     std::string_view key);

// The span's fields as exported.
std::string sys_span_name(const SysSpan& span);
int sys_span_kind(const SysSpan& span);  // otlp::Span::SpanKind
std::uint64_t sys_span_start_unix_ns(const SysSpan& span);
std::uint64_t sys_span_end_unix_ns(const SysSpan& span);  // never before the start
std::string sys_span_id(const SysSpan& span);
std::string sys_span_trace_id(const SysSpan& span);
std::string sys_span_parent_id(const SysSpan& span);  // the context's sender, or empty

// Writes the span as OTLP into `out` (an empty span).
void export_sys_span(const SysSpanGroup& group, const SysSpan& span, otlp::Span& out);
// The instrumentation scope of every sys span: otelbpf.syscall at the agent's version.
void set_sys_scope(opentelemetry::proto::common::v1::InstrumentationScope& scope);
// Moves a batch's compact groups into its OTLP request as ResourceSpans (for readers of the tracer's
// batches other than the assembler, which exports each span as it leaves).
void export_sys_groups(SpanBatch& batch);

}  // namespace otelbpf
