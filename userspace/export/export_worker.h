#pragma once
// What the OTel Collector's exporterhelper gives every exporter, given here to every SpanExporter: a
// bounded queue that never blocks the pipeline, batching up to a size or a delay, retry with exponential
// backoff and jitter, and an on-disk spool that holds batches while the endpoint is down and is replayed,
// oldest first, once it is back (or at the next start).
//
// Accounting: every span handed to enqueue() ends up counted exactly once as sent, as spooled (and later
// sent or spooled again across restarts), or as dropped with a reason:
//   queue_full       queue full and no spool
//   spool_full       the spool's byte bound would be exceeded (what is already spooled stays)
//   spool_error      the spool file could not be written
//   permanent        the endpoint refused the data for good (400, INVALID_ARGUMENT, ...)
//   too_large        one span alone is larger than the endpoint takes in a request (requests over the
//                    size limit, or refused as too large, are split in halves until they pass)
//   retry_exhausted  no spool and max_retry_elapsed passed
//   shutdown         still undelivered at the shutdown deadline, and no spool
// A spool file that fails its checks when read back is discarded and counted (files, not spans) as
// otelbpf_exporter_spool_corrupt_files_total.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>
#include <thread>

#include "common/bounded_queue.h"
#include "common/metrics.h"
#include "export/batch_spool.h"
#include "export/exporter.h"

namespace otelbpf {

struct ExportWorkerOptions {
  std::size_t queue_batches = 1024;
  // A request is sent once it holds this many spans or its first batch has waited max_batch_delay.
  // Batches are merged whole (never split), so one larger batch is sent as it is.
  std::size_t max_batch_spans = 512;
  std::chrono::milliseconds max_batch_delay{200};
  // No request is larger than this (serialized): the OTel Collector's gRPC receiver takes 4 MiB.
  // Merging stops before it; a larger batch is split; a request refused as too large is halved.
  std::size_t max_request_bytes = 4u << 20;
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // How long one request is retried before it goes to the spool (or is dropped when there is none).
  std::chrono::milliseconds max_retry_elapsed{30000};
  // "" = no spool. Each exporter spools into its own subdirectory, <spool_dir>/<exporter name>.
  std::string spool_dir;
  std::uint64_t spool_max_bytes = 256u << 20;
};

class ExportWorker {
 public:
  // Starts the worker thread. Throws std::runtime_error when the spool directory is unusable.
  ExportWorker(std::unique_ptr<SpanExporter> exporter, ExportWorkerOptions options,
               MetricsRegistry& metrics = default_metrics());
  // Shuts down with a zero deadline if shutdown() was not called (queued batches go to the spool or are
  // counted as dropped), and joins.
  ~ExportWorker();
  ExportWorker(const ExportWorker&) = delete;
  ExportWorker& operator=(const ExportWorker&) = delete;

  // Never waits. false = not queued: the queue is full (or shut down), and the batch was written to the
  // spool if there is one (a file write on the caller's thread), else dropped and counted.
  bool enqueue(std::shared_ptr<const SpanBatch> batch);
  // The queue is (nearly) full: the pipeline pushes back on its senders instead of dropping here.
  bool saturated() const { return queue_.size() * 10 >= queue_.capacity() * 9; }

  // Sends what is queued and tries the spool once, until `deadline`; then stops the thread. What is left
  // goes to the spool, or is counted as dropped (reason="shutdown"). A send already in progress at the
  // deadline is not interrupted: it can overrun by up to the exporter's own timeout. Idempotent.
  void shutdown(std::chrono::milliseconds deadline);

  const std::string& exporter_name() const { return name_; }

 private:
  using Clock = std::chrono::steady_clock;
  using BatchPtr = std::shared_ptr<const SpanBatch>;
  struct Pending {
    // The batches collect() took, sent as they are (SpanExporter::send_parts: no copy of their spans).
    std::vector<BatchPtr> parts;
    // The one request they make, merged only where a request must be had (halves, spool); or a request
    // of its own (a half).
    otlp::ExportRequest request;
    bool merged = false;
    std::size_t spans = 0;
    std::size_t bytes = 0;  // serialized size
  };
  static const otlp::ExportRequest& merged_request(Pending& pending);
  ExportOutcome send(Pending& pending);

  void run();
  bool collect(Pending& out, Clock::duration first_wait);
  void deliver(Pending& pending);
  // Sends a request the endpoint refused as too large, or one over max_request_bytes, in halves.
  void deliver_in_halves(const otlp::ExportRequest& request);
  // Replays the oldest spooled batch once; false when it could not be sent (the endpoint still fails).
  bool replay_one();
  // Puts a request the endpoint could not take into the spool, or counts it as dropped with `reason`.
  void park(const otlp::ExportRequest& request, std::size_t spans, const char* reason_without_spool);
  // The batch as this worker's exporter takes it: compact sys spans made OTLP unless it takes them.
  BatchPtr in_exporter_form(BatchPtr batch) const;
  void count_drop(const std::string& reason, std::size_t spans);
  void enter_degraded(std::chrono::milliseconds retry_after);
  void leave_degraded();
  std::chrono::milliseconds jittered(std::chrono::milliseconds backoff);
  // Sleeps until `until` or shutdown(); true when shutdown() interrupted it.
  bool sleep_until(Clock::time_point until);
  bool past_stop_deadline() const;

  std::unique_ptr<SpanExporter> exporter_;
  const ExportWorkerOptions options_;
  const std::string name_;
  MetricsRegistry& metrics_;
  Counter& sent_spans_;
  Counter& failed_attempts_;
  Counter& spooled_spans_;
  Gauge& spool_bytes_;
  Gauge& queue_batches_;

  BoundedQueue<BatchPtr> queue_;
  std::unique_ptr<BatchSpool> spool_;
  BatchPtr carry_;  // popped but held back: it would have taken the request beyond max_batch_spans

  // Worker-thread state: the endpoint failed until retries ran out; new requests go to the spool and the
  // spool's oldest batch probes the endpoint every probe_backoff_.
  bool degraded_ = false;
  Clock::time_point next_probe_{};
  std::chrono::milliseconds probe_backoff_{0};
  std::mt19937_64 rng_;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::atomic<bool> stopping_{false};
  Clock::time_point stop_deadline_{};  // set before stopping_, read after it
  std::once_flag shutdown_once_;
  std::thread thread_;
};

}  // namespace otelbpf
