#include "common/memory_budget.h"

#include <algorithm>

namespace otelbpf {

MemoryBudget::MemoryBudget(std::size_t limit_bytes, MetricsRegistry& metrics)
    : limit_(std::max<std::size_t>(limit_bytes, 1)),
      held_gauge_(metrics.gauge("otelbpf_memory_held_bytes",
                                "Bytes the agent holds for its input (queues, assembler, tables), estimated")),
      refused_(metrics.counter("otelbpf_memory_refused_batches_total",
                               "Batches refused because their bytes did not fit the memory budget")) {
  metrics.gauge("otelbpf_memory_limit_bytes", "The memory budget (memory_limit_mib)")
      .set(static_cast<std::int64_t>(limit_));
}

bool MemoryBudget::try_charge(std::size_t bytes) {
  std::size_t current = held_.load(std::memory_order_relaxed);
  do {
    if (current + bytes > limit_) {
      refused_.inc();
      return false;
    }
  } while (!held_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed));
  publish();
  return true;
}

void MemoryBudget::charge(std::size_t bytes) {
  held_.fetch_add(bytes, std::memory_order_relaxed);
  publish();
}

void MemoryBudget::release(std::size_t bytes) {
  held_.fetch_sub(bytes, std::memory_order_relaxed);
  publish();
}

void MemoryBudget::publish() { held_gauge_.set(static_cast<std::int64_t>(held_.load(std::memory_order_relaxed))); }

void MemoryCharge::adjust(MemoryBudget* budget, std::size_t bytes) {
  if (budget != budget_) {
    reset();
    budget_ = budget;
  }
  if (!budget_) return;
  if (bytes > bytes_)
    budget_->charge(bytes - bytes_);
  else if (bytes < bytes_)
    budget_->release(bytes_ - bytes);
  bytes_ = bytes;
}

void MemoryCharge::transfer(MemoryCharge& other, std::size_t bytes) {
  bytes = std::min(bytes, bytes_);
  if (!budget_ || bytes == 0) return;
  if (other.budget_ != budget_) {
    // The receiving side is charged on its own account: move the bytes through the budget.
    bytes_ -= bytes;
    budget_->release(bytes);
    other.adjust(budget_, other.bytes_ + bytes);
    return;
  }
  bytes_ -= bytes;
  other.bytes_ += bytes;
}

void MemoryCharge::reset() {
  if (budget_ && bytes_) budget_->release(bytes_);
  budget_ = nullptr;
  bytes_ = 0;
}

}  // namespace otelbpf
