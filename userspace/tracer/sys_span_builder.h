#pragma once
// Turns an L7 record of one socket of one process into a sys span (docs/design.md, Span sources): the protocol's
// attributes, plus process, thread, socket and otelbpf.* attributes, and the trace context the request
// carried (the header rule, docs/design.md, Linking, rule 2: a sys span carrying context joins that trace under the span the header names).
#include <cstdint>
#include <random>
#include <string>

#include "bpf/events.h"
#include "model/span_batch.h"
#include "protocols/common/record.h"

namespace otelbpf {

// Attribute keys shared by the tracer and the assembler.
namespace attr {
inline constexpr const char* kSyscallTraceId = "otelbpf.syscall_trace_id";
inline constexpr const char* kTraceContextSource = "otelbpf.trace_context.source";
inline constexpr const char* kL7Protocol = "otelbpf.l7.protocol";
inline constexpr const char* kReqSeq = "otelbpf.tcp.req_seq";
inline constexpr const char* kRespSeq = "otelbpf.tcp.resp_seq";
inline constexpr const char* kProcessPid = "process.pid";
inline constexpr const char* kOriginalParent = "otelbpf.original_parent_span_id";
}  // namespace attr

struct SysSpanOrigin {
  std::uint32_t pid = 0;
  const otelbpf_socket_info* sock = nullptr;
  std::string_view executable;
  std::uint64_t syscall_trace_id = 0;  // 0 = none
  std::int64_t monotonic_to_wall_ns = 0;
};

class SpanIdGenerator {
 public:
  SpanIdGenerator();
  std::string trace_id();
  std::string span_id();

 private:
  std::mt19937_64 rng_;
};

// Appends an attribute of any L7 value type (shared by the sys and net span builders).
void add_span_attribute(otlp::Span& span, std::string_view key, const l7::AttributeValue& value);
// Captured text as it may leave the node: valid UTF-8 (invalid bytes become U+FFFD).
std::string exportable_text(std::string_view text);
// A record's error text for the span status: valid UTF-8, database literals redacted.
std::string exportable_status_message(const l7::L7Record& record);

otlp::Span build_sys_span(const l7::L7Record& record, const SysSpanOrigin& origin, SpanIdGenerator& ids);

// "10.0.0.1" / "::1" for an address of the event structs (IPv4-mapped IPv6 shown as IPv4).
std::string format_address(const std::uint8_t* addr, std::uint16_t family);

}  // namespace otelbpf
