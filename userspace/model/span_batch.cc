#include "model/span_batch.h"

namespace otelbpf {

const char* to_string(SpanSource source) {
  switch (source) {
    case SpanSource::kApp:
      return "app";
    case SpanSource::kSys:
      return "sys";
    case SpanSource::kNet:
      return "net";
  }
  return "unknown";
}

std::size_t count_spans(const otlp::ExportRequest& request) {
  std::size_t n = 0;
  for (const auto& rs : request.resource_spans())
    for (const auto& ss : rs.scope_spans()) n += static_cast<std::size_t>(ss.spans_size());
  return n;
}

std::size_t SpanBatch::span_count() const { return count_spans(request); }

}  // namespace otelbpf
