#pragma once
// Turns an L7 record of one socket of one process into a sys span (docs/design.md, Span sources): the
// protocol's attributes, plus process, thread, socket and otelbpf.* attributes, and the trace context the
// request carried (the header rule, docs/design.md, Linking, rule 2: a sys span carrying context joins that
// trace under the span the header names). The tracer makes the compact form (model/sys_span.h);
// spans/sys_span_export.h says what it becomes as OTLP.
#include <cstdint>
#include <random>
#include <string>

#include "bpf/events.h"
#include "model/span_batch.h"
#include "protocols/common/record.h"
#include "spans/span_helpers.h"

namespace otelbpf {

struct SysSpanOrigin {
  std::uint32_t pid = 0;
  const otelbpf_socket_info* sock = nullptr;
  // sock's addresses as text when the caller has them already (empty: formatted here).
  std::string_view local_address, peer_address;
  std::string_view executable;
  std::uint64_t syscall_trace_id = 0;  // 0 = none
  std::int64_t monotonic_to_wall_ns = 0;
  bool tls = false;  // the bytes were TLS plaintext (otelbpf.tls=true)
};

// The compact sys span of a record (moved in: its attributes are not copied). origin.pid and
// origin.executable belong to the span's group (SysSpanGroup), not to the span.
SysSpan make_sys_span(l7::L7Record&& record, const SysSpanOrigin& origin, SpanIdGenerator& ids);
// The same, made in a default-constructed span where it is to stay (the tracer's group of the process):
// a sys span is ~20 strings and a record, and moving one in was ~6 % of the tracer's time.
void fill_sys_span(SysSpan& span, l7::L7Record&& record, const SysSpanOrigin& origin, SpanIdGenerator& ids);

// The OTLP span of a record, as the assembler exports the compact one (tests and tools).
otlp::Span build_sys_span(const l7::L7Record& record, const SysSpanOrigin& origin, SpanIdGenerator& ids);

}  // namespace otelbpf
