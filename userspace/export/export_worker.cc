#include "export/export_worker.h"

#include "common/thread_name.h"
#include "spans/sys_span_export.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace otelbpf {
namespace {
constexpr const char* kDroppedName = "otelbpf_exporter_dropped_spans_total";
constexpr const char* kDroppedHelp = "Spans an exporter gave up on, by reason";
// How long an idle worker sleeps in the queue between looks at the spool; close() wakes it anyway.
constexpr std::chrono::milliseconds kIdleWait{1000};
}  // namespace

ExportWorker::ExportWorker(std::unique_ptr<SpanExporter> exporter, ExportWorkerOptions options,
                           MetricsRegistry& metrics)
    : exporter_(std::move(exporter)),
      options_(std::move(options)),
      name_(exporter_->name()),
      metrics_(metrics),
      sent_spans_(metrics.counter("otelbpf_exporter_sent_spans_total", "Spans the endpoint accepted",
                                  {{"exporter", name_}})),
      failed_attempts_(metrics.counter("otelbpf_exporter_failed_attempts_total",
                                       "Send attempts that failed (each retry counts)",
                                       {{"exporter", name_}})),
      spooled_spans_(
          metrics.counter("otelbpf_exporter_spooled_spans_total",
                          "Spans written to the on-disk spool (sent later, when the endpoint is back)",
                          {{"exporter", name_}})),
      spool_bytes_(metrics.gauge("otelbpf_exporter_spool_bytes", "Bytes in the exporter's on-disk spool",
                                 {{"exporter", name_}})),
      queue_batches_(metrics.gauge("otelbpf_exporter_queue_batches",
                                   "Batches waiting in the exporter's queue", {{"exporter", name_}})),
      queue_(std::max<std::size_t>(options_.queue_batches, 1)),
      rng_(std::random_device{}()) {
  // Every series exists from the start, so alerts on them see 0 rather than nothing.
  for (const char* reason : {"queue_full", "spool_full", "spool_error", "spool_corrupt", "permanent", "too_large", "retry_exhausted", "shutdown"})
    metrics_.counter(kDroppedName, kDroppedHelp, {{"exporter", name_}, {"reason", reason}});
  metrics_.counter("otelbpf_exporter_spool_corrupt_files_total", "Spool files that failed their checks on replay",
                   {{"exporter", name_}});
  if (!options_.spool_dir.empty())
    spool_ = std::make_unique<BatchSpool>(std::filesystem::path(options_.spool_dir) / name_,
                                          options_.spool_max_bytes, &spool_bytes_);
  thread_ = std::thread([this] { run(); });
}

ExportWorker::~ExportWorker() { shutdown(std::chrono::milliseconds(0)); }

ExportWorker::BatchPtr ExportWorker::in_exporter_form(BatchPtr batch) const {
  if (batch->sys_groups.empty() || exporter_->takes_compact_spans()) return batch;
  // This exporter's own OTLP copy (the batch may be shared with other exporters and the trace view); its
  // bytes are not charged to the budget, and it lives while the exporter sends it.
  auto copy = std::make_shared<SpanBatch>();
  copy->source = batch->source;
  copy->peer_address = batch->peer_address;
  copy->from_peer_agent = batch->from_peer_agent;
  copy->request() = otlp_request_of(*batch);
  return copy;
}

bool ExportWorker::enqueue(std::shared_ptr<const SpanBatch> batch) {
  if (!batch) return true;
  const std::size_t spans = batch->span_count();
  if (spans == 0) return true;
  if (queue_.try_push(batch)) {
    queue_batches_.set(static_cast<std::int64_t>(queue_.size()));
    return true;
  }
  otlp::ExportRequest exported;  // the spool takes OTLP (rare: a full queue, shutting down)
  park(otlp_form_of(*batch, exported), spans, queue_.closed() ? "shutdown" : "queue_full");
  return false;
}

void ExportWorker::shutdown(std::chrono::milliseconds deadline) {
  std::call_once(shutdown_once_, [&] {
    {
      std::lock_guard lock(stop_mutex_);
      stop_deadline_ = Clock::now() + deadline;
      stopping_.store(true);
    }
    stop_cv_.notify_all();
    queue_.close();
    if (thread_.joinable()) thread_.join();
  });
}

bool ExportWorker::past_stop_deadline() const { return stopping_.load() && Clock::now() >= stop_deadline_; }

bool ExportWorker::sleep_until(Clock::time_point until) {
  std::unique_lock lock(stop_mutex_);
  // Only a shutdown() that arrives during this sleep cuts it short: once stopping, retries still pace
  // themselves until the shutdown deadline.
  const bool was_stopping = stopping_.load();
  return stop_cv_.wait_until(lock, until, [&] { return !was_stopping && stopping_.load(); });
}

std::chrono::milliseconds ExportWorker::jittered(std::chrono::milliseconds backoff) {
  // Randomization factor 0.5, as the Collector's backoff: exporters of many agents restarting against one
  // collector must not retry in lockstep.
  std::uniform_real_distribution<double> factor(0.5, 1.5);
  auto ms = static_cast<std::int64_t>(static_cast<double>(backoff.count()) * factor(rng_));
  return std::chrono::milliseconds(std::max<std::int64_t>(ms, 1));
}

void ExportWorker::count_drop(const std::string& reason, std::size_t spans) {
  metrics_.counter(kDroppedName, kDroppedHelp, {{"exporter", name_}, {"reason", reason}}).inc(spans);
}

void ExportWorker::park(const otlp::ExportRequest& request, std::size_t spans,
                        const char* reason_without_spool) {
  if (!spool_) {
    count_drop(reason_without_spool, spans);
    return;
  }
  std::string error;
  switch (spool_->push(request, spans, error)) {
    case BatchSpool::PushResult::kStored:
      spooled_spans_.inc(spans);
      return;
    case BatchSpool::PushResult::kFull:
      count_drop("spool_full", spans);
      return;
    case BatchSpool::PushResult::kError:
      spdlog::warn("exporter {}: cannot spool {} spans: {}", name_, spans, error);
      count_drop("spool_error", spans);
      return;
  }
}

void ExportWorker::enter_degraded(std::chrono::milliseconds retry_after) {
  if (!degraded_) {
    degraded_ = true;
    probe_backoff_ = options_.initial_backoff;
    spdlog::warn("exporter {}: endpoint failing; new batches go to the spool until it answers again", name_);
  } else {
    probe_backoff_ = std::min(probe_backoff_ * 2, options_.max_backoff);
  }
  next_probe_ = Clock::now() + std::max(jittered(probe_backoff_), retry_after);
}

void ExportWorker::leave_degraded() {
  if (!degraded_) return;
  degraded_ = false;
  spdlog::info("exporter {}: endpoint answers again; replaying {} spooled batches", name_,
               spool_ ? spool_->batches() : 0);
}

const otlp::ExportRequest& ExportWorker::merged_request(Pending& pending) {
  if (!pending.merged) {
    pending.request.Clear();
    otlp::ExportRequest exported;
    for (const auto& part : pending.parts) pending.request.MergeFrom(otlp_form_of(*part, exported));
    pending.merged = true;
  }
  return pending.request;
}

ExportOutcome ExportWorker::send(Pending& pending) {
  if (pending.merged || pending.parts.empty()) return exporter_->send(pending.request);
  std::vector<const SpanBatch*> parts;
  parts.reserve(pending.parts.size());
  for (const auto& part : pending.parts) parts.push_back(part.get());
  return exporter_->send_batches(parts);
}

bool ExportWorker::collect(Pending& out, Clock::duration first_wait) {
  out.parts.clear();
  out.request.Clear();
  out.merged = false;
  out.spans = 0;
  BatchPtr first = std::move(carry_);
  carry_.reset();
  if (!first) {
    auto popped = queue_.pop_for(first_wait);
    if (!popped) return false;
    first = std::move(*popped);
  }
  first = in_exporter_form(std::move(first));
  const auto flush_at = Clock::now() + options_.max_batch_delay;
  // Resources are not deduplicated: merging is for fewer requests, not smaller ones.
  out.spans = first->span_count();
  const bool sized = exporter_->limits_request_bytes();
  out.bytes = sized ? first->request().ByteSizeLong() : 0;
  out.parts.push_back(std::move(first));
  while (out.spans < options_.max_batch_spans && out.bytes < options_.max_request_bytes) {
    auto wait = stopping_.load() ? Clock::duration::zero() : flush_at - Clock::now();
    if (wait < Clock::duration::zero()) break;
    auto next = queue_.pop_for(wait);
    if (!next) break;
    *next = in_exporter_form(std::move(*next));
    const std::size_t spans = (*next)->span_count();
    const std::size_t bytes = sized ? (*next)->request().ByteSizeLong() : 0;
    if (out.spans + spans > options_.max_batch_spans || out.bytes + bytes > options_.max_request_bytes) {
      carry_ = std::move(*next);
      break;
    }
    out.parts.push_back(std::move(*next));
    out.spans += spans;
    out.bytes += bytes;
  }
  queue_batches_.set(static_cast<std::int64_t>(queue_.size()));
  return true;
}

void ExportWorker::deliver_in_halves(const otlp::ExportRequest& request) {
  const std::size_t spans = count_spans(request);
  if (spans <= 1) {
    spdlog::warn("exporter {}: dropping a span larger than the endpoint takes in one request", name_);
    count_drop("too_large", spans);
    return;
  }
  auto [first, second] = split_request(request);
  for (auto* part : {&first, &second}) {
    Pending half;
    half.request = std::move(*part);
    half.merged = true;
    half.spans = count_spans(half.request);
    half.bytes = half.request.ByteSizeLong();
    deliver(half);
  }
}

void ExportWorker::deliver(Pending& pending) {
  if (pending.bytes > options_.max_request_bytes && pending.spans > 1) {
    deliver_in_halves(merged_request(pending));
    return;
  }
  if (past_stop_deadline()) {
    park(merged_request(pending), pending.spans, "shutdown");
    return;
  }
  // While the endpoint is down, retrying every new request for max_retry_elapsed would only pile up; the
  // spool's oldest batch probes instead, and these wait behind it in order.
  if (degraded_ && spool_ && !spool_->empty()) {
    park(merged_request(pending), pending.spans, "shutdown");
    return;
  }
  const auto give_up_at = Clock::now() + options_.max_retry_elapsed;
  auto backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    ExportOutcome outcome = send(pending);
    switch (outcome.kind) {
      case ExportOutcome::Kind::kOk:
        sent_spans_.inc(pending.spans);
        leave_degraded();
        return;
      case ExportOutcome::Kind::kPermanent:
        spdlog::warn("exporter {}: dropping {} spans: {}", name_, pending.spans, outcome.reason);
        count_drop("permanent", pending.spans);
        leave_degraded();  // the endpoint answered, so the spool can be tried
        return;
      case ExportOutcome::Kind::kTooLarge:
        failed_attempts_.inc();
        spdlog::info("exporter {}: {} spans refused as too large ({}); sending them in halves", name_,
                     pending.spans, outcome.reason);
        leave_degraded();
        deliver_in_halves(merged_request(pending));
        return;
      case ExportOutcome::Kind::kRetryable:
        break;
    }
    failed_attempts_.inc();
    spdlog::debug("exporter {}: attempt {} failed: {}", name_, attempt, outcome.reason);
    const auto wait = std::max(jittered(backoff), outcome.retry_after);
    backoff = std::min(backoff * 2, options_.max_backoff);
    auto limit = give_up_at;
    if (stopping_.load()) limit = std::min(limit, stop_deadline_);
    if (Clock::now() + wait > limit) {
      const bool stopping = stopping_.load();
      spdlog::warn("exporter {}: {} spans not sent after {} attempts ({}); {}", name_, pending.spans, attempt,
                   outcome.reason, spool_ ? "spooling them" : "dropping them");
      park(merged_request(pending), pending.spans, stopping ? "shutdown" : "retry_exhausted");
      if (spool_) enter_degraded(outcome.retry_after);
      return;
    }
    sleep_until(Clock::now() + wait);
  }
}

bool ExportWorker::replay_one() {
  BatchSpool::Corruption corrupt;
  auto entry = spool_->front(corrupt);
  if (!entry) {
    if (!corrupt.reason.empty()) {
      spdlog::error("exporter {}: discarding a spooled batch ({} spans): {}", name_, corrupt.spans,
                    corrupt.reason);
      metrics_
          .counter("otelbpf_exporter_spool_corrupt_files_total",
                   "Spool files that failed their checks on replay", {{"exporter", name_}})
          .inc();
      count_drop("spool_corrupt", corrupt.spans);
    }
    return true;
  }
  ExportOutcome outcome = exporter_->send(entry->request);
  switch (outcome.kind) {
    case ExportOutcome::Kind::kOk:
      spool_->pop(entry->sequence);
      sent_spans_.inc(entry->spans);
      leave_degraded();
      return true;
    case ExportOutcome::Kind::kPermanent:
      spool_->pop(entry->sequence);
      spdlog::warn("exporter {}: dropping {} spooled spans: {}", name_, entry->spans, outcome.reason);
      count_drop("permanent", entry->spans);
      leave_degraded();
      return true;
    case ExportOutcome::Kind::kTooLarge: {
      // A batch spooled before the limit was known (or under a larger one) must not wedge the spool's
      // head: it leaves the spool and goes out in halves.
      failed_attempts_.inc();
      auto request = std::move(entry->request);
      spool_->pop(entry->sequence);
      leave_degraded();
      deliver_in_halves(request);
      return true;
    }
    case ExportOutcome::Kind::kRetryable:
      break;
  }
  failed_attempts_.inc();
  spdlog::debug("exporter {}: spool replay failed: {}", name_, outcome.reason);
  enter_degraded(outcome.retry_after);
  return false;
}

void ExportWorker::run() {
  name_this_thread("otb-x-" + name_);
  Pending pending;
  for (;;) {
    const bool stopping = stopping_.load();
    if (stopping && past_stop_deadline()) break;
    const bool spooled = spool_ && !spool_->empty();
    // The spool is replayed one batch per round, so that live batches keep moving while a long one drains.
    if (spooled && !stopping && (!degraded_ || Clock::now() >= next_probe_)) replay_one();

    Clock::duration first_wait = kIdleWait;
    if (stopping) {
      first_wait = Clock::duration::zero();
    } else if (spool_ && !spool_->empty()) {
      first_wait =
          degraded_ ? std::max(next_probe_ - Clock::now(), Clock::duration::zero()) : Clock::duration::zero();
    }
    if (collect(pending, first_wait)) {
      deliver(pending);
      pending.parts.clear();  // the batches' memory goes back now, not at the next collect
    } else if (stopping) {
      break;  // queue closed and drained
    }
  }

  // Shutdown: the spool gets one chance within the deadline (it stays on disk for the next start anyway).
  if (spool_) {
    while (!spool_->empty() && !past_stop_deadline()) {
      if (!replay_one()) break;
    }
  }
  otlp::ExportRequest exported;
  if (carry_) {
    park(otlp_form_of(*carry_, exported), carry_->span_count(), "shutdown");
    carry_.reset();
  }
  while (auto batch = queue_.pop_for(Clock::duration::zero()))
    park(otlp_form_of(**batch, exported), (*batch)->span_count(), "shutdown");
  queue_batches_.set(0);
}

}  // namespace otelbpf
