#pragma once
// Publishes the syscall probes' health as metrics: whether each probe is attached and the kernel-side
// counters (events, ring buffer drops, skipped and filtered syscalls).
#include "common/metrics.h"
#include "probes/syscall_probes.h"

namespace otelbpf {

class ProbeMetrics {
 public:
  explicit ProbeMetrics(MetricsRegistry& registry = default_metrics()) : registry_(registry) {}
  // Call periodically (e.g. per /metrics scrape). The kernel counters are running totals, so each
  // call adds what accumulated since the previous one.
  void publish(const SyscallProbes& probes);

 private:
  MetricsRegistry& registry_;
  KernelCounters last_{};
  std::uint64_t last_malformed_ = 0;
};

}  // namespace otelbpf
