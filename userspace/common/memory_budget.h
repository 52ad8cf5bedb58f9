#pragma once
// One memory budget in bytes for everything the agent holds because of its input: batches waiting in the
// pipeline, spans the assembler holds for their link window and the facts it keeps about them, batches in
// the exporters' queues, connection and flow tables (docs/memory-budget.md).
//
// Admission acts on it: a new batch is taken only if its bytes fit (an OTLP sender gets 429/UNAVAILABLE
// and retries; a kernel source counts a drop). What is already inside is charged unconditionally as it
// moves (a span leaving the assembler becomes part of an export batch): the limit bounds what comes in,
// and whatever came in is always accounted until it is freed.
//
// The figures are estimates of resident bytes (model/span_batch.h approx_resident_bytes), calibrated
// against protobuf's own SpaceUsedLong; the agent's fixed overhead (code, libraries, BPF ring buffers,
// thread stacks, allocator slack) comes on top and is stated in docs/memory-budget.md.
#include <atomic>
#include <cstddef>
#include <optional>
#include <utility>

#include "common/metrics.h"

namespace otelbpf {

class MemoryBudget {
 public:
  MemoryBudget(std::size_t limit_bytes, MetricsRegistry& metrics = default_metrics());
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Takes `bytes` if they fit under the limit; false (and counted) if not.
  bool try_charge(std::size_t bytes);
  // Takes `bytes` whatever the level: memory that already exists and only changes hands.
  void charge(std::size_t bytes);
  void release(std::size_t bytes);

  std::size_t limit() const { return limit_; }
  std::size_t held() const { return held_.load(std::memory_order_relaxed); }
  double fill_ratio() const { return static_cast<double>(held()) / static_cast<double>(limit_); }

 private:
  void publish();

  const std::size_t limit_;
  std::atomic<std::size_t> held_{0};
  Gauge& held_gauge_;
  Counter& refused_;
};

// Bytes of a budget held by one object (a batch, a table); released when it dies. Move-only.
class MemoryCharge {
 public:
  MemoryCharge() = default;
  MemoryCharge(MemoryBudget* budget, std::size_t bytes) : budget_(budget), bytes_(budget ? bytes : 0) {}
  MemoryCharge(MemoryCharge&& other) noexcept
      : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  MemoryCharge& operator=(MemoryCharge&& other) noexcept {
    if (this != &other) {
      reset();
      budget_ = std::exchange(other.budget_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  MemoryCharge(const MemoryCharge&) = delete;
  MemoryCharge& operator=(const MemoryCharge&) = delete;
  ~MemoryCharge() { reset(); }

  // Admission: the charge of `bytes` if they fit under the limit (always, without a budget); nullopt (and
  // counted by the budget) if not.
  static std::optional<MemoryCharge> try_take(MemoryBudget* budget, std::size_t bytes) {
    if (budget && !budget->try_charge(bytes)) return std::nullopt;
    return MemoryCharge(budget, bytes);
  }
  // Charges the budget unconditionally for what this object now holds.
  static MemoryCharge take(MemoryBudget* budget, std::size_t bytes) {
    if (budget) budget->charge(bytes);
    return MemoryCharge(budget, bytes);
  }
  // Sets the charge to `bytes` (a table that grew or shrank), unconditionally.
  void adjust(MemoryBudget* budget, std::size_t bytes);
  // Hands `bytes` of this charge to `other` (spans that moved from one batch to another): no change in
  // the budget's total.
  void transfer(MemoryCharge& other, std::size_t bytes);
  void reset();

  std::size_t bytes() const { return bytes_; }

 private:
  MemoryBudget* budget_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace otelbpf
