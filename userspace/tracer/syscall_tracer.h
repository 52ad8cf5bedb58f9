#pragma once
// The syscall tracer as the agent runs it: the probes, a polling thread, the event processor, and the
// hand-off of sys spans to the pipeline. A kernel that refuses the probes leaves the agent in OTel-only
// mode (docs/design.md, Operating it): start() reports why and returns false, and nothing else stops.
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "pipeline/span_pipeline.h"
#include "probes/probe_metrics.h"
#include "probes/syscall_probes.h"
#include "probes/tls_probes.h"
#include "tracer/syscall_event_processor.h"

namespace otelbpf {

class SyscallTracer {
 public:
  SyscallTracer(SyscallProbeOptions probe_options, SyscallEventProcessorOptions processor_options,
                SpanPipeline& pipeline, MetricsRegistry& metrics = default_metrics(),
                TlsProbeOptions tls_options = {});
  ~SyscallTracer();
  SyscallTracer(const SyscallTracer&) = delete;
  SyscallTracer& operator=(const SyscallTracer&) = delete;

  // Loads and attaches the probes and starts the polling thread; false (with `error`) when the kernel
  // refuses them all.
  bool start(std::string& error);
  // Closes every connection (pending requests become spans), flushes, and detaches the syscall hooks. The
  // TLS uprobes stay attached until release(): detaching a uprobe waits ~0.1 s in the kernel here
  // (docs/kernel-cost.md, "Detaching at stop"), so the agent releases them after its last export.
  void stop();
  // Detaches the TLS uprobes and unloads the programs (after stop(); the destructor does both).
  void release();
  bool running() const { return thread_.joinable(); }
  const std::vector<ProbeStatus>& probe_status() const;

 private:
  void run();
  void publish_kernel_counters();

  SyscallProbeOptions probe_options_;
  SpanPipeline& pipeline_;
  MetricsRegistry& metrics_;
  SyscallEventProcessor processor_;
  std::unique_ptr<SyscallProbes> probes_;
  TlsProbeOptions tls_options_;
  // Where the TLS uprobes go (when probe_options.tls_uprobes): created by start() before the poll thread,
  // destroyed by stop() after it and before probes_.
  std::unique_ptr<TlsProbes> tls_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  ProbeMetrics probe_metrics_;
};

}  // namespace otelbpf
