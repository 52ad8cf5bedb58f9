#include "pipeline/span_pipeline.h"

#include <utility>

namespace otelbpf {

SpanPipeline::SpanPipeline(SpanPipelineOptions options, MetricsRegistry& metrics)
    : options_(options),
      queue_(options.max_batches),
      queued_spans_gauge_(metrics.gauge("otelbpf_pipeline_queued_spans", "Spans waiting for the assembler")) {
}

SpanPipeline::Admission SpanPipeline::submit(SpanBatch batch, Sender sender) {
  if (queue_.closed()) return Admission::kClosed;
  if (sender == Sender::kRetries && downstream_saturated_ && downstream_saturated_()) return Admission::kFull;
  const std::size_t spans = batch.span_count();
  // Reserve the span budget first so concurrent senders cannot overshoot it together. A single batch
  // larger than the whole budget is still admitted into an empty pipeline, else it could never pass.
  std::size_t current = queued_spans_.load();
  do {
    if (current != 0 && current + spans > options_.max_spans) return Admission::kFull;
  } while (!queued_spans_.compare_exchange_weak(current, current + spans));
  const std::size_t counted_bytes = std::exchange(batch.admission_bytes, 0);
  if (options_.memory && !batch.charge.bytes()) {
    auto charge =
        MemoryCharge::try_take(options_.memory, counted_bytes ? counted_bytes : approx_resident_bytes(batch));
    if (!charge) {
      queued_spans_.fetch_sub(spans);
      return Admission::kFull;
    }
    batch.charge = std::move(*charge);
  }
  if (!queue_.try_push(std::move(batch))) {
    queued_spans_.fetch_sub(spans);
    return queue_.closed() ? Admission::kClosed : Admission::kFull;
  }
  queued_spans_gauge_.set(static_cast<std::int64_t>(queued_spans_.load()));
  return Admission::kAccepted;
}

std::optional<SpanBatch> SpanPipeline::next(std::chrono::milliseconds timeout) {
  auto batch = queue_.pop_for(timeout);
  if (batch) {
    queued_spans_.fetch_sub(batch->span_count());
    queued_spans_gauge_.set(static_cast<std::int64_t>(queued_spans_.load()));
  }
  return batch;
}

void SpanPipeline::close() { queue_.close(); }

double SpanPipeline::fill_ratio() const {
  const double by_spans = static_cast<double>(queued_spans_.load()) / static_cast<double>(options_.max_spans);
  const double by_batches = static_cast<double>(queue_.size()) / static_cast<double>(queue_.capacity());
  return std::max(by_spans, by_batches);
}

}  // namespace otelbpf
