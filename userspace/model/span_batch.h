#pragma once
// The one span model every pipeline stage speaks: OTLP's own ExportTraceServiceRequest, so that a span
// keeps everything it came with (resource, scope, attributes, events, links, status, trace state, flags,
// dropped counts, and even fields newer than our schema, which protobuf keeps as unknown fields).
#include <cstddef>
#include <string>

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

// Where spans came from (requirements §2, attribute `otelbpf.span.source`).
enum class SpanSource { kApp, kSys, kNet };
const char* to_string(SpanSource source);

struct SpanBatch {
  otlp::ExportRequest request;
  SpanSource source = SpanSource::kApp;
  // The OTLP sender's address, for pod attribution of app spans (requirements §4).
  std::string peer_address;
  // Sent by a configured peer (another otelbpf agent): only then are the otelbpf.* source and link
  // attributes of its spans believed (docs/linking.md, "Trust").
  bool from_peer_agent = false;

  std::size_t span_count() const;
};

std::size_t count_spans(const otlp::ExportRequest& request);

}  // namespace otelbpf
