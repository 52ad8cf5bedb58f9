#pragma once
// Trace context carried in request headers (docs/design.md, Linking, rule 1). Every header-based protocol (HTTP/1,
// HTTP/2, gRPC) extracts it the same way from its decoded header list.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace otelbpf::l7 {

// Header fields in wire order; names in their original case (lookups are case-insensitive).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct TraceContext {
  // Which header the ids came from, strongest first (this is also the extraction precedence).
  enum class Source : uint8_t { kW3C, kB3, kB3Multi, kJaeger, kSkyWalking, kRequestIdOnly };

  std::array<uint8_t, 16> trace_id{};  // 64-bit ids (B3, Jaeger) are left-padded with zeros
  std::array<uint8_t, 8> span_id{};    // the span that sent the request: the parent of the receiving span
  std::optional<std::array<uint8_t, 8>> parent_span_id;  // B3 ParentSpanId, Jaeger parent (when nonzero)
  uint8_t flags = 0;                                     // W3C trace flags; bit 0 = sampled
  std::string tracestate;  // W3C only, raw (several tracestate headers joined with ',')
  Source source = Source::kRequestIdOnly;
  std::string request_id;  // x-request-id, whatever else is present (a weak link: raw value only)
  // False only for kRequestIdOnly: trace_id/span_id are then zero and must not be used.
  bool ids_valid = false;

  bool sampled() const { return (flags & 0x01) != 0; }
};

const char* to_string(TraceContext::Source s);

// Reads the first valid context by precedence traceparent > b3 > X-B3-* > uber-trace-id > sw8; an
// invalid header of a stronger kind is ignored (W3C says so for traceparent) and the next kind is tried.
// Returns nullopt when nothing usable (not even x-request-id) is present.
std::optional<TraceContext> extract_trace_context(const HeaderList& headers);
// Whether extract_trace_context reads a header of this name (case-insensitive): parsers that keep only
// what is read keep these.
bool is_trace_context_header(std::string_view name);

// The single-header parsers, exposed for tests and for protocols that carry one value out of band.
std::optional<TraceContext> parse_traceparent(std::string_view value);
std::optional<TraceContext> parse_b3_single(std::string_view value);
std::optional<TraceContext> parse_uber_trace_id(std::string_view value);
std::optional<TraceContext> parse_sw8(std::string_view value);

// Lowercase hex, for logs and tests.
std::string to_hex(const uint8_t* data, size_t n);
template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& a) {
  return to_hex(a.data(), N);
}

}  // namespace otelbpf::l7
