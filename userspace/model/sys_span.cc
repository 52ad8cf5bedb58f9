#include "model/sys_span.h"

#include <algorithm>

#include "model/span_batch.h"
#include "protocols/common/redact.h"

namespace otelbpf {

std::string exportable_text(std::string_view text) {
  return l7::is_valid_utf8(text) ? std::string(text) : l7::to_valid_utf8(text);
}

std::string exportable_status_message(const l7::L7Record& record) {
  // Database servers quote the values they refused in their error text.
  if (record.protocol == "mysql" || record.protocol == "postgresql")
    return exportable_text(l7::redact_error_message(record.status_message));
  return exportable_text(record.status_message);
}

AttributeView view_of(const l7::AttributeValue& value) {
  return std::visit(
      [](const auto& x) -> AttributeView {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>)
          return std::string_view(x);
        else
          return x;
      },
      value);
}

// Every string that sys and net spans carry passes here: captured bytes become valid UTF-8 (protobuf
// strings must be), and a URL's query keeps its names but not its values (tokens, signatures).
std::string exportable_attribute_text(std::string_view key, std::string_view text) {
  if (key == "url.query") return exportable_text(l7::redact_url_query(text));
  return exportable_text(text);
}

namespace {
template <std::size_t N>
std::string_view view_of_id(const std::array<std::uint8_t, N>& id) {
  return std::string_view(reinterpret_cast<const char*>(id.data()), N);
}
template <std::size_t N>
std::string bytes_of(const std::array<std::uint8_t, N>& id) {
  return std::string(view_of_id(id));
}
}  // namespace

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

std::string sys_span_id(const SysSpan& span) { return bytes_of(span.span_id); }
std::string sys_span_trace_id(const SysSpan& span) { return bytes_of(span.trace_id); }

std::string sys_span_parent_id(const SysSpan& span) {
  const auto& ctx = span.record.context;
  return ctx && ctx->ids_valid ? bytes_of(ctx->span_id) : std::string();
}

std::string_view sys_span_exported_trace_id(const SysSpan& span) {
  return span.linked ? std::string_view(span.linked_trace_id) : view_of_id(span.trace_id);
}

std::string_view sys_span_exported_parent_id(const SysSpan& span) {
  if (span.linked) return span.linked_parent_span_id;
  const auto& ctx = span.record.context;
  return ctx && ctx->ids_valid ? view_of_id(ctx->span_id) : std::string_view();
}

}  // namespace otelbpf
