#pragma once
// A sys span as the syscall tracer makes it, kept compact until it leaves the trace assembler
// (docs/memory-budget.md, "The compact sys span"): the L7 record the parser produced, moved in as it is
// (its attribute keys are literals, its values mostly short strings), and what the tracer knew of the
// socket, the thread and the trace. The same span as OTLP protobuf is ~4.5 KiB in ~100 heap objects; this
// is one object and the record's few buffers. spans/sys_span_export.h reads its attributes (for the link
// rules) and writes it as OTLP (as it leaves the assembler) from one list, so both always agree.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "protocols/common/record.h"

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
};

// The sys spans of one process from one flush of the tracer, with the process's resource (shared by
// them as the OTLP ResourceSpans they become).
struct SysSpanGroup {
  opentelemetry::proto::resource::v1::Resource resource;
  std::uint32_t pid = 0;   // host pid (process.pid)
  std::string executable;  // process.executable.name, valid UTF-8
  std::vector<SysSpan> spans;
};

// Resident bytes of a compact span and of a group, estimated like approx_resident_bytes (span_batch.h).
std::size_t approx_resident_bytes(const SysSpan& span);
std::size_t approx_resident_bytes(const SysSpanGroup& group);

}  // namespace otelbpf
