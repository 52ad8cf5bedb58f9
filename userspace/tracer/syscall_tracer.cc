#include "tracer/syscall_tracer.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "common/thread_name.h"
#include "probes/kernel_filesystems.h"

namespace otelbpf {

SyscallTracer::SyscallTracer(SyscallProbeOptions probe_options,
                             SyscallEventProcessorOptions processor_options, SpanPipeline& pipeline,
                             MetricsRegistry& metrics, TlsProbeOptions tls_options)
    : probe_options_(std::move(probe_options)),
      pipeline_(pipeline),
      metrics_(metrics),
      processor_(
          [&] {
            processor_options.on_exec = [this](std::uint32_t pid) {
              if (tls_) tls_->on_exec(pid);
            };
            return std::move(processor_options);
          }(),
          [this](SpanBatch batch) {
            const auto spans = batch.span_count();
            if (pipeline_.submit(std::move(batch), SpanPipeline::Sender::kCannotRetry) !=
                SpanPipeline::Admission::kAccepted)
              metrics_
                  .counter("otelbpf_tracer_dropped_spans_total", "sys spans dropped",
                           {{"reason", "pipeline_full"}})
                  .inc(spans);
          },
          metrics),
      tls_options_(std::move(tls_options)),
      probe_metrics_(metrics) {}

SyscallTracer::~SyscallTracer() {
  stop();
  release();
}

bool SyscallTracer::start(std::string& error) {
  try {
    ensure_kernel_filesystems();
    probes_ = SyscallProbes::load(
        probe_options_, [this](const otelbpf_event_header& header, std::span<const std::uint8_t> payload) {
          processor_.on_event(header, payload);
        });
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  if (probe_options_.tls_uprobes) {
    if (probes_->tls_loaded()) {
      tls_ = std::make_unique<TlsProbes>(*probes_, tls_options_, metrics_);
      tls_->start();
      spdlog::info("TLS probes: {} OpenSSL libraries/executables attached; new processes are watched",
                   tls_->attached().size());
    } else {
      spdlog::warn("TLS probes: the kernel refused the SSL uprobes; TLS connections stay opaque");
    }
  }
  std::size_t refused = 0;
  for (const auto& probe : probes_->status()) refused += probe.attached ? 0 : 1;
  publish_kernel_counters();
  spdlog::info("syscall tracer: {} probes attached, {} refused by the kernel, events via {}",
               probes_->attached_count(), refused, probes_->transport());
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return true;
}

void SyscallTracer::run() {
  name_this_thread("otb-tracer");
  auto last_tick = std::chrono::steady_clock::now();
  while (!stopping_) {
    const int rc = probes_->poll(std::chrono::milliseconds(50));
    if (rc < 0) spdlog::warn("syscall tracer: ring buffer poll failed: {}", std::strerror(-rc));
    const auto now = std::chrono::steady_clock::now();
    if (now - last_tick >= std::chrono::milliseconds(100)) {
      processor_.tick();
      publish_kernel_counters();
      last_tick = now;
    }
  }
  // Drain what the kernel already queued before the links go away.
  while (probes_->poll(std::chrono::milliseconds(0)) > 0) {
  }
  publish_kernel_counters();
  processor_.close_all();
}

void SyscallTracer::publish_kernel_counters() { probe_metrics_.publish(*probes_); }

void SyscallTracer::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.join();
  if (tls_) tls_->stop_watching();
  if (probes_) probes_->detach_hooks();
}

void SyscallTracer::release() {
  if (tls_) {
    if (const auto links = tls_->attached_links(); links > 0)
      spdlog::info("TLS probes: detaching {} uprobes (the kernel takes ~0.1 s each)", links);
    tls_.reset();  // detaches the uprobes before their programs go
  }
  probes_.reset();
}

const std::vector<ProbeStatus>& SyscallTracer::probe_status() const {
  static const std::vector<ProbeStatus> none;
  return probes_ ? probes_->status() : none;
}

}  // namespace otelbpf
