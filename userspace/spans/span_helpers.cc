#include "spans/span_helpers.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <variant>

#include "protocols/common/redact.h"

namespace otelbpf {

void set_exportable_value(otlp::AnyValue& out, std::string_view key, const AttributeView& value) {
  std::visit(
      [&out, &key](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          // Valid text (nearly all of it) is set as it is: one copy, into the span.
          if (key != "url.query" && l7::is_valid_utf8(x))
            out.set_string_value(x.data(), x.size());
          else
            out.set_string_value(exportable_attribute_text(key, x));
        } else if constexpr (std::is_same_v<T, bool>)
          out.set_bool_value(x);
        else if constexpr (std::is_same_v<T, double>)
          out.set_double_value(x);
        else
          out.set_int_value(x);
      },
      value);
}

void add_span_attribute_view(otlp::Span& span, std::string_view key, const AttributeView& value) {
  auto* kv = span.add_attributes();
  kv->set_key(key.data(), key.size());
  set_exportable_value(*kv->mutable_value(), key, value);
}

void add_span_attribute(otlp::Span& span, std::string_view key, const l7::AttributeValue& value) {
  add_span_attribute_view(span, key, view_of(value));
}

SpanIdGenerator::SpanIdGenerator() = default;

void SpanIdGenerator::fill_trace_id(std::array<std::uint8_t, 16>& id) {
  const std::uint64_t hi = rng_() | 1, lo = rng_();  // never all zero
  std::memcpy(id.data(), &hi, 8);
  std::memcpy(id.data() + 8, &lo, 8);
}

void SpanIdGenerator::fill_span_id(std::array<std::uint8_t, 8>& id) {
  const std::uint64_t v = rng_() | 1;
  std::memcpy(id.data(), &v, 8);
}

std::string SpanIdGenerator::trace_id() {
  std::array<std::uint8_t, 16> id;
  fill_trace_id(id);
  return std::string(reinterpret_cast<const char*>(id.data()), id.size());
}

std::string SpanIdGenerator::span_id() {
  std::array<std::uint8_t, 8> id;
  fill_span_id(id);
  return std::string(reinterpret_cast<const char*>(id.data()), id.size());
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

void add_resource_attribute(otlp::Resource& resource, std::string_view key, std::string value) {
  auto* kv = resource.add_attributes();
  kv->set_key(key.data(), key.size());
  kv->mutable_value()->set_string_value(std::move(value));
}

void add_resource_attribute(otlp::Resource& resource, std::string_view key, std::int64_t value) {
  auto* kv = resource.add_attributes();
  kv->set_key(key.data(), key.size());
  kv->mutable_value()->set_int_value(value);
}

otlp::Span begin_record_span(const l7::L7Record& record, otlp::Span::SpanKind kind,
                             std::int64_t monotonic_to_wall_ns, SpanIdGenerator& ids) {
  otlp::Span span;
  // A sys span has ~25 attributes: one allocation of the slots instead of six as the list grows.
  span.mutable_attributes()->Reserve(32);
  span.set_span_id(ids.span_id());
  span.set_name(exportable_text(record.span_name.empty() ? record.protocol : record.span_name));
  span.set_kind(kind);
  span.set_start_time_unix_nano(
      static_cast<std::uint64_t>(static_cast<std::int64_t>(record.start_ns) + monotonic_to_wall_ns));
  span.set_end_time_unix_nano(static_cast<std::uint64_t>(
      static_cast<std::int64_t>(std::max(record.end_ns, record.start_ns)) + monotonic_to_wall_ns));
  const auto& ctx = record.context;
  if (ctx && ctx->ids_valid) {
    span.set_trace_id(std::string(reinterpret_cast<const char*>(ctx->trace_id.data()), ctx->trace_id.size()));
    span.set_parent_span_id(
        std::string(reinterpret_cast<const char*>(ctx->span_id.data()), ctx->span_id.size()));
    span.set_trace_state(ctx->tracestate);
    span.set_flags(ctx->flags);
    add_str(span, attr::kTraceContextSource, l7::to_string(ctx->source));
  } else {
    span.set_trace_id(ids.trace_id());
  }
  return span;
}

}  // namespace otelbpf
