#pragma once
// The span model every pipeline stage speaks: OTLP's own ExportTraceServiceRequest for received spans, so
// that a span keeps everything it came with (resource, scope, attributes, events, links, status, trace
// state, flags, dropped counts, and even fields newer than our schema, which protobuf keeps as unknown
// fields); and the syscall tracer's compact sys spans (model/sys_span.h).
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/arena.h>

#include "common/memory_budget.h"
#include "model/sys_span.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace otelbpf {

namespace otlp {
using ExportRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ExportResponse = opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using ResourceSpans = opentelemetry::proto::trace::v1::ResourceSpans;
using ScopeSpans = opentelemetry::proto::trace::v1::ScopeSpans;
using Span = opentelemetry::proto::trace::v1::Span;
using Status = opentelemetry::proto::trace::v1::Status;
using KeyValue = opentelemetry::proto::common::v1::KeyValue;
using AnyValue = opentelemetry::proto::common::v1::AnyValue;
using Resource = opentelemetry::proto::resource::v1::Resource;
}  // namespace otlp

// Where spans came from (docs/design.md, Span sources: attribute `otelbpf.span.source`).
enum class SpanSource { kApp, kSys, kNet };
const char* to_string(SpanSource source);

// A batch holds OTLP spans (`request()`: what receivers decode) and/or the syscall tracer's compact sys
// spans (`sys_groups`, model/sys_span.h), which stay compact through the assembler and become OTLP (or
// OTLP/JSON) only where a reader needs it (docs/memory-budget.md, "The compact sys span"). Readers that
// take only OTLP use spans/sys_span_export.h.
//
// The OTLP request lives on the heap, or on an arena the batch owns (the receiver decodes into one sized
// from the body: one allocation per block instead of one per string and message, and the whole request
// freed at once; docs/memory-budget.md, "Decoding"). Moving a batch moves a pointer. Spans moved from an
// arena batch into another batch are copied by protobuf, which is correct for any pair of arenas.
struct SpanBatch {
  SpanBatch();
  explicit SpanBatch(std::unique_ptr<google::protobuf::Arena> arena);
  SpanBatch(SpanBatch&& other) noexcept;
  SpanBatch& operator=(SpanBatch&& other) noexcept;
  ~SpanBatch();

  otlp::ExportRequest& request();
  const otlp::ExportRequest& request() const {
    return request_ ? *request_ : otlp::ExportRequest::default_instance();
  }
  // The arena's bytes (its blocks, used or not), 0 for a heap request.
  std::size_t arena_bytes() const;

  std::vector<SysSpanGroup> sys_groups;
  SpanSource source = SpanSource::kApp;
  // The OTLP sender's address, for pod attribution of app spans (docs/design.md, Pod attribution).
  std::string peer_address;
  // Sent by a configured peer (another otelbpf agent): only then are the otelbpf.* source and link
  // attributes of its spans believed (docs/linking.md, "Trust").
  bool from_peer_agent = false;
  // Its bytes in the memory budget while it lives (set at admission to the pipeline, and by the stages
  // that make new batches from admitted spans).
  MemoryCharge charge;
  // approx_resident_bytes(*this) as its maker summed it while filling it, span by span with each span's
  // bytes still in the cache (0: not summed). Admission charges this instead of walking the batch again
  // (the tracer's walk was 5 % of its thread), and clears it: it is not kept up to date after.
  std::size_t admission_bytes = 0;

  std::size_t span_count() const;

 private:
  // Declared before the request: the request (on the arena, or owned) goes first.
  std::unique_ptr<google::protobuf::Arena> arena_;
  std::unique_ptr<otlp::ExportRequest> owned_request_;
  otlp::ExportRequest* request_ = nullptr;  // on arena_, or owned_request_; null after a move (empty)
};

std::size_t count_spans(const otlp::ExportRequest& request);
// Removes the scopes left without spans, then the resources left without scopes (after spans were taken
// out of a request).
void drop_empty_groups(otlp::ExportRequest& request);

// Resident bytes of decoded spans, estimated by a walk over their fields (object sizes, attribute
// key/value storage, events, links) without protobuf's reflection; within ~20% of SpaceUsedLong for the
// agent's sys spans and for SDK spans (tests/unit/model). Used for the memory budget.
std::size_t approx_resident_bytes(const otlp::ExportRequest& request);
std::size_t approx_resident_bytes(const otlp::ResourceSpans& resource_spans);
std::size_t approx_resident_bytes(const otlp::ScopeSpans& scope_spans);
// A ScopeSpans without its spans: the scope and the slots of its span list.
std::size_t approx_scope_header_bytes(const otlp::ScopeSpans& scope_spans);
std::size_t approx_resident_bytes(const otlp::Span& span);
// Both forms of a batch.
std::size_t approx_resident_bytes(const SpanBatch& batch);
// A group's own bytes, without those of its spans (approx_resident_bytes(SysSpan) each).
std::size_t approx_resident_bytes_without_spans(const SysSpanGroup& group);

}  // namespace otelbpf
