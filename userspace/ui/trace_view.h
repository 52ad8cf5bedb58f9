#pragma once
// The built-in trace view (docs/design.md, Trace view): its own HTTP listener (ui.listen, loopback by
// default: span data may be sensitive; a DaemonSet user reaches it with kubectl port-forward) serving
//   /                      the page (a trace list, and a trace's waterfall / flame graph), built into the
//   binary /api/traces            the recent traces, newest first: ?service= &pod= &namespace=
//   &min_duration_ms= &limit= /api/traces/{trace id} one trace's spans
// from a TraceStore fed by the output stage. Feeding is off the exporters' path: offer() hands a batch to
// the view's own thread through a small bounded queue; a full queue drops the batch for the view only
// (counted).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/metrics.h"
#include "model/span_batch.h"
#include "ui/trace_store.h"

namespace otelbpf::ui {

struct TraceViewOptions {
  std::string listen_address = "127.0.0.1";
  std::uint16_t port = 38090;  // 0: any free port (the log says which)
  TraceStoreOptions store{};
  std::size_t max_queued_batches = 64;
};

// The JSON API's documents (exposed for tests).
std::string traces_json(const std::vector<TraceSummary>& traces);
std::string trace_json(const StoredTrace& trace);
// The page.
std::string_view index_html();

class TraceView {
 public:
  TraceView(TraceViewOptions options, MemoryBudget* budget = nullptr,
            MetricsRegistry& metrics = default_metrics());
  ~TraceView();
  TraceView(const TraceView&) = delete;
  TraceView& operator=(const TraceView&) = delete;

  // Binds and starts serving; throws std::runtime_error with the reason when the address cannot be bound.
  void start();
  void stop();
  std::uint16_t bound_port() const;

  // From the output stage: never blocks. Nothing is kept while the view is not listening.
  void offer(std::shared_ptr<const SpanBatch> batch);

  TraceStore& store() { return store_; }
  // Waits until every batch offered so far is in the store (tests).
  void drain();

  struct Server;  // the listener (trace_view.cc)

 private:
  void feed_loop();

  TraceViewOptions options_;
  TraceStore store_;
  Counter& queue_drops_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<const SpanBatch>> queue_;
  bool stopping_ = false;
  std::atomic<bool> listening_{false};
  std::size_t in_flight_ = 0;
  std::thread feeder_;
  std::unique_ptr<Server> server_;
};

}  // namespace otelbpf::ui
