#pragma once
// What the sys and the net span builders share: how an L7 record's values become OTLP attributes (every
// captured string made valid UTF-8 once, URL query values redacted), span ids, addresses as text, and the
// resource attributes of the spans the agent makes itself.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <absl/random/random.h>

#include "model/attributes.h"
#include "model/span_batch.h"
#include "protocols/common/record.h"

namespace otelbpf {

// The agent's version, as its own spans' scope and /metrics give it (CMake's project version).
inline constexpr const char* kAgentVersion = OTELBPF_VERSION;

// Ids need to be unique, not unpredictable: a PCG engine (absl::InsecureBitGen, seeded from the OS) with
// 16 bytes of state, where mt19937_64's 2.5 KiB refill was ~1.5 % of the tracer's thread.
class SpanIdGenerator {
 public:
  SpanIdGenerator();
  std::string trace_id();
  std::string span_id();
  void fill_trace_id(std::array<std::uint8_t, 16>& id);  // never all zero
  void fill_span_id(std::array<std::uint8_t, 8>& id);

 private:
  absl::InsecureBitGen rng_;
};

// Sets `out` to the value as it may leave the node (strings as exportable_attribute_text makes them).
void set_exportable_value(otlp::AnyValue& out, std::string_view key, const AttributeView& value);
// Appends an attribute of any L7 value type; strings leave as valid UTF-8, url.query with its values
// redacted.
void add_span_attribute(otlp::Span& span, std::string_view key, const l7::AttributeValue& value);
void add_span_attribute_view(otlp::Span& span, std::string_view key, const AttributeView& value);
inline void add_int(otlp::Span& span, std::string_view key, std::int64_t value) {
  add_span_attribute(span, key, value);
}
inline void add_str(otlp::Span& span, std::string_view key, std::string value) {
  add_span_attribute(span, key, std::move(value));
}
void add_resource_attribute(otlp::Resource& resource, std::string_view key, std::string value);
void add_resource_attribute(otlp::Resource& resource, std::string_view key, std::int64_t value);
// "10.0.0.1" / "::1" for an address of the event structs (IPv4-mapped IPv6 shown as IPv4).
std::string format_address(const std::uint8_t* addr, std::uint16_t family);

// What every span the agent makes from an L7 record starts with: a new span id, the record's name, its
// start and end on the wall clock (an end before the start is the start), and the trace id and parent of
// the trace context the request carried (with otelbpf.trace_context.source), or a new trace.
otlp::Span begin_record_span(const l7::L7Record& record, otlp::Span::SpanKind kind,
                             std::int64_t monotonic_to_wall_ns, SpanIdGenerator& ids);

}  // namespace otelbpf
