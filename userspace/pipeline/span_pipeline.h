#pragma once
// The bounded hand-off between the span sources (OTLP receivers, the syscall tracer, the packet path) and
// the assembler stage. Bounded by batches and by spans: a sender is told "full" at once (so OTLP clients get
// 429/UNAVAILABLE and retry; eBPF sources count a drop), never blocked.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>

#include "common/bounded_queue.h"
#include "common/metrics.h"
#include "model/span_batch.h"

namespace otelbpf {

struct SpanPipelineOptions {
  std::size_t max_batches = 4096;
  std::size_t max_spans = 262144;
  // When set, a batch is admitted only if its estimated resident bytes fit the budget, and it holds them
  // (SpanBatch::charge) until its spans are freed, wherever they are by then.
  MemoryBudget* memory = nullptr;
};

class SpanPipeline {
 public:
  enum class Admission { kAccepted, kFull, kClosed };
  // Whether a refused sender sends again. An OTLP client retries (429 / UNAVAILABLE), so it is held back
  // while an exporter is saturated, before its spans take the pipeline's room. The probes cannot: a
  // refused batch is lost. Their batches are queued while the pipeline has room, whatever the exporters
  // say, and the assembler paces its output to them: the pipeline's room absorbs an exporter's stall
  // (a file exporter's queue of small batches filled in ~75 ms at full speed, and the probes' spans were
  // dropped with the pipeline nearly empty).
  enum class Sender { kRetries, kCannotRetry };

  explicit SpanPipeline(SpanPipelineOptions options, MetricsRegistry& metrics = default_metrics());

  // Never blocks. On kFull/kClosed the batch is not taken and the caller decides (reject or count a drop).
  Admission submit(SpanBatch batch, Sender sender = Sender::kRetries);

  // Downstream back-pressure: while this says true (an exporter queue is nearly full), submit() answers
  // kFull to senders that retry, so OTLP senders get 429/UNAVAILABLE and retry instead of spans being
  // dropped further on.
  void set_downstream_saturated(std::function<bool()> saturated) {
    downstream_saturated_ = std::move(saturated);
  }

  // Consumer side (the assembler stage).
  std::optional<SpanBatch> next(std::chrono::milliseconds timeout);

  // Stops admissions; next() drains what is queued and then returns nullopt.
  void close();
  bool closed() const { return queue_.closed(); }

  // The memory budget batches are charged to (nullptr: none). A source may charge a batch itself before
  // it exists (the receiver, before decoding); submit() then keeps that charge.
  MemoryBudget* memory_budget() const { return options_.memory; }

  // Fraction of the span budget in use, for /readyz and back-pressure decisions.
  double fill_ratio() const;
  std::size_t queued_spans() const { return queued_spans_.load(); }

 private:
  SpanPipelineOptions options_;
  BoundedQueue<SpanBatch> queue_;
  std::atomic<std::size_t> queued_spans_{0};
  Gauge& queued_spans_gauge_;
  std::function<bool()> downstream_saturated_;
};

}  // namespace otelbpf
