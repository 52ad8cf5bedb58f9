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

// The lengths (mod 64) of the names in the span's record, one bit each: a reader that looks up many
// names, most of them absent (the link rules' facts ask ~20), passes it to find_sys_attribute so that a
// name of no length in the record skips the walk of the record's list.
std::uint64_t sys_record_name_lengths(const SysSpan& span);

// The attribute's value as it is exported, or nullopt. `record_name_lengths`: sys_record_name_lengths
// of the span, when the caller has it.
std::optional<l7::AttributeValue> find_sys_attribute(const SysSpanGroup& group, const SysSpan& span,
                                                     std::string_view key,
                                                     std::uint64_t record_name_lengths = ~std::uint64_t{0});

// Writes the span as OTLP into `out` (an empty span).
void export_sys_span(const SysSpanGroup& group, const SysSpan& span, otlp::Span& out);
// The instrumentation scope of every sys span: otelbpf.syscall at the agent's version.
void set_sys_scope(opentelemetry::proto::common::v1::InstrumentationScope& scope);
// Moves a batch's compact groups into its OTLP request as ResourceSpans, for a reader that changes the
// OTLP spans in place (the gateway router and a gateway's filter).
void export_sys_groups(SpanBatch& batch);
// A batch's spans as one OTLP request (its request, then its compact groups exported), for readers that
// take only OTLP (the OTLP exporters, the spool); the batch is left as it is.
otlp::ExportRequest otlp_request_of(const SpanBatch& batch);
// The same without a copy when there is nothing to export: the batch's own request if it holds no compact
// sys spans, else otlp_request_of(batch) made in `storage`.
const otlp::ExportRequest& otlp_form_of(const SpanBatch& batch, otlp::ExportRequest& storage);

}  // namespace otelbpf
