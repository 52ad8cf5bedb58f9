#include "spans/sys_span_export.h"

#include <algorithm>

namespace otelbpf {

std::optional<l7::AttributeValue> find_sys_attribute(const SysSpanGroup& group, const SysSpan& span,
                                                     std::string_view key) {
  std::optional<l7::AttributeValue> found;
  for_each_sys_attribute(group, span, [&](std::string_view k, const AttributeView& value) {
    if (k != key) return true;
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string_view>)
            found.emplace(exportable_attribute_text(key, x));
          else
            found.emplace(x);
        },
        value);
    return false;
  });
  return found;
}

std::string sys_span_name(const SysSpan& span) {
  const auto& r = span.record;
  return exportable_text(r.span_name.empty() ? r.protocol : r.span_name);
}

int sys_span_kind(const SysSpan& span) {
  return span.record.role == l7::Role::kServer ? otlp::Span::SPAN_KIND_SERVER : otlp::Span::SPAN_KIND_CLIENT;
}

std::uint64_t sys_span_start_unix_ns(const SysSpan& span) {
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(span.record.start_ns) +
                                    span.monotonic_to_wall_ns);
}

std::uint64_t sys_span_end_unix_ns(const SysSpan& span) {
  const auto end = std::max(span.record.end_ns, span.record.start_ns);
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(end) + span.monotonic_to_wall_ns);
}

namespace {
template <std::size_t N>
std::string bytes_of(const std::array<std::uint8_t, N>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), N);
}
}  // namespace

std::string sys_span_id(const SysSpan& span) { return bytes_of(span.span_id); }
std::string sys_span_trace_id(const SysSpan& span) { return bytes_of(span.trace_id); }

std::string sys_span_parent_id(const SysSpan& span) {
  const auto& ctx = span.record.context;
  return ctx && ctx->ids_valid ? bytes_of(ctx->span_id) : std::string();
}

void export_sys_span(const SysSpanGroup& group, const SysSpan& span, otlp::Span& out) {
  // A sys span has ~25 attributes (and the assembler adds its source): one allocation of the slots.
  out.mutable_attributes()->Reserve(static_cast<int>(28 + span.record.attributes.size()));
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
  scope.set_name("otelbpf.syscall");
  scope.set_version(kAgentVersion);
}

void export_sys_groups(SpanBatch& batch) {
  for (auto& group : batch.sys_groups) {
    auto* rs = batch.request.add_resource_spans();
    *rs->mutable_resource() = std::move(group.resource);
    auto* ss = rs->add_scope_spans();
    set_sys_scope(*ss->mutable_scope());
    ss->mutable_spans()->Reserve(static_cast<int>(group.spans.size()));
    for (const auto& span : group.spans) export_sys_span(group, span, *ss->add_spans());
  }
  batch.sys_groups.clear();
}

}  // namespace otelbpf
