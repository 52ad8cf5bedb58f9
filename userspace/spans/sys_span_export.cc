#include "spans/sys_span_export.h"

#include <algorithm>

namespace otelbpf {

namespace {

std::optional<l7::AttributeValue> exportable(std::string_view key, const AttributeView& value) {
  return std::visit(
      [&](const auto& x) -> l7::AttributeValue {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string_view>)
          return exportable_attribute_text(key, x);
        else
          return x;
      },
      value);
}

// The attributes for_each_sys_attribute adds around the record's, by name: the link rules look up ~25
// names per span, most of them absent, and a walk of the whole list for each was 10 % of the agent.
std::optional<l7::AttributeValue> tracer_attribute(const SysSpanGroup& group, const SysSpan& span,
                                                   std::string_view key) {
  // Every name below starts with one of these letters: the link rules' many other names (http.target,
  // url.*, db.*, rpc.*, dns.*) are told apart without the chain of comparisons.
  switch (key.empty() ? '\0' : key.front()) {
    case 'o':
    case 't':
    case 'n':
    case 's':
    case 'c':
      break;
    case 'h':
      if (key.size() == std::string_view("http.request.header.x-request-id").size()) break;
      return std::nullopt;
    default:
      return std::nullopt;
  }
  const auto& record = span.record;
  const auto& ctx = record.context;
  auto text = [&](std::string_view value) { return exportable(key, value); };
  if (key == attr::kTraceContextSource)
    return ctx && ctx->ids_valid ? text(l7::to_string(ctx->source)) : std::nullopt;
  if (key == "http.request.header.x-request-id")
    return ctx && !ctx->request_id.empty() ? text(ctx->request_id) : std::nullopt;
  if (key == "thread.id") return std::int64_t{record.req_tid};
  if (span.has_socket) {
    const bool server = record.role == l7::Role::kServer;
    if (key == "network.transport") return text(span.udp ? "udp" : "tcp");
    if (key == "network.type") return text(span.ipv6 ? "ipv6" : "ipv4");
    if (key == "network.peer.address") return text(span.peer_address);
    if (key == "network.peer.port") return std::int64_t{span.peer_port};
    if (key == "network.local.address") return text(span.local_address);
    if (key == "network.local.port") return std::int64_t{span.local_port};
    // Asked only when the record has none of its own (see find_sys_attribute).
    if (key == "server.address") return text(server ? span.local_address : span.peer_address);
    if (key == "server.port") return std::int64_t{server ? span.local_port : span.peer_port};
    if (key == "client.address") return server ? text(span.peer_address) : std::nullopt;
    if (key == "client.port")
      return server ? std::optional<l7::AttributeValue>(std::int64_t{span.peer_port}) : std::nullopt;
  }
  if (key == attr::kL7Protocol) return text(record.protocol);
  if (key == attr::kTls) return span.tls ? std::optional<l7::AttributeValue>(true) : std::nullopt;
  if (key == "otelbpf.req.bytes") return static_cast<std::int64_t>(record.req_bytes);
  if (key == "otelbpf.resp.bytes") return static_cast<std::int64_t>(record.resp_bytes);
  if (key == attr::kReqSeq) return std::int64_t{record.req_seq};
  if (key == attr::kRespSeq) return std::int64_t{record.resp_seq};
  if (key == attr::kSyscallTraceId)
    return span.syscall_trace_id ? text(std::to_string(span.syscall_trace_id)) : std::nullopt;
  if (key == "otelbpf.response_missing")
    return record.response_missing ? std::optional<l7::AttributeValue>(true) : std::nullopt;
  if (key == attr::kSpanSource) return text("sys");
  return std::nullopt;
}

}  // namespace

std::uint64_t sys_record_name_lengths(const SysSpan& span) {
  std::uint64_t lengths = 0;
  for (const auto& [name, value] : span.record.attributes)
    lengths |= std::uint64_t{1} << (name.view().size() % 64);
  return lengths;
}

std::optional<l7::AttributeValue> find_sys_attribute(const SysSpanGroup& group, const SysSpan& span,
                                                     std::string_view key,
                                                     std::uint64_t record_name_lengths) {
  // The record's attributes first: no parser sets a name that the tracer adds before them (process,
  // thread, network.*, client.*), and the tracer adds server.* only when the record has none, so this is
  // the order of the exported list (tests/unit/assembler/compact_sys_span_test.cc compares every name).
  if (record_name_lengths & (std::uint64_t{1} << (key.size() % 64)))
    for (const auto& [name, value] : span.record.attributes)
      if (name == key) return exportable(key, view_of(value));
  return tracer_attribute(group, span, key);
}

void export_sys_span(const SysSpanGroup& group, const SysSpan& span, otlp::Span& out) {
  // A sys span has ~25 attributes (and the assembler adds its source): one allocation of the slots.
  out.mutable_attributes()->Reserve(static_cast<int>(28 + span.record.attributes.size()));
  if (span.linked)
    out.set_trace_id(span.linked_trace_id.data(), span.linked_trace_id.size());
  else
    out.set_trace_id(span.trace_id.data(), span.trace_id.size());
  out.set_span_id(span.span_id.data(), span.span_id.size());
  out.set_name(sys_span_name(span));
  out.set_kind(static_cast<otlp::Span::SpanKind>(sys_span_kind(span)));
  out.set_start_time_unix_nano(sys_span_start_unix_ns(span));
  out.set_end_time_unix_nano(sys_span_end_unix_ns(span));
  if (const auto& ctx = span.record.context; ctx && ctx->ids_valid) {
    out.set_parent_span_id(ctx->span_id.data(), ctx->span_id.size());
    out.set_trace_state(ctx->tracestate);
    out.set_flags(ctx->flags);
  }
  if (span.linked) out.set_parent_span_id(span.linked_parent_span_id);
  for_each_sys_attribute(group, span, [&out](std::string_view key, const AttributeView& value) {
    add_span_attribute_view(out, key, value);
    return true;
  });
  if (span.record.error) {
    out.mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
    out.mutable_status()->set_message(exportable_status_message(span.record));
  }
}

void set_sys_scope(opentelemetry::proto::common::v1::InstrumentationScope& scope) {
  scope.set_name(kSysScopeName);
  scope.set_version(kAgentVersion);
}

namespace {

// The scope and spans of a group, as the ResourceSpans `rs` (whose resource the caller sets).
void add_group_spans(const SysSpanGroup& group, otlp::ResourceSpans& rs) {
  auto* ss = rs.add_scope_spans();
  set_sys_scope(*ss->mutable_scope());
  ss->mutable_spans()->Reserve(static_cast<int>(group.spans.size()));
  for (const auto& span : group.spans) export_sys_span(group, span, *ss->add_spans());
}

}  // namespace

void export_sys_groups(SpanBatch& batch) {
  for (auto& group : batch.sys_groups) {
    auto* rs = batch.request().add_resource_spans();
    *rs->mutable_resource() = std::move(group.resource);
    add_group_spans(group, *rs);
  }
  batch.sys_groups.clear();
}

otlp::ExportRequest otlp_request_of(const SpanBatch& batch) {
  otlp::ExportRequest out = batch.request();
  for (const auto& group : batch.sys_groups) {
    auto* rs = out.add_resource_spans();
    *rs->mutable_resource() = group.resource;
    add_group_spans(group, *rs);
  }
  return out;
}

const otlp::ExportRequest& otlp_form_of(const SpanBatch& batch, otlp::ExportRequest& storage) {
  if (batch.sys_groups.empty()) return batch.request();
  storage = otlp_request_of(batch);
  return storage;
}

}  // namespace otelbpf
