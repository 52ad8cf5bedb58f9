#include "probes/probe_metrics.h"

namespace otelbpf {
namespace {

void add_delta(Counter& counter, std::uint64_t now, std::uint64_t& last) {
  if (now > last) counter.inc(now - last);
  last = now;
}

// The probes' kernel-side counters (summed over CPUs) as metrics.
struct KernelCounterMetric {
  const char* name;
  const char* help;
  std::uint64_t KernelCounters::*value;
};
constexpr KernelCounterMetric kKernelCounterMetrics[] = {
    {"otelbpf_probe_events_total", "Events the syscall probes wrote to the ring buffer",
     &KernelCounters::events},
    {"otelbpf_probe_ringbuf_drops_total",
     "Events lost because the ring buffer was full (raise probes.ringbuf_bytes)",
     &KernelCounters::ringbuf_drops},
    {"otelbpf_probe_non_socket_skipped_total", "Traced syscalls skipped because the fd is not a socket",
     &KernelCounters::non_socket_skipped},
    {"otelbpf_probe_other_socket_skipped_total",
     "Traced syscalls skipped on sockets other than TCP/UDP over IPv4/IPv6",
     &KernelCounters::other_socket_skipped},
    {"otelbpf_probe_filtered_total", "Syscalls dropped in the kernel by the pid, cgroup or port filters",
     &KernelCounters::filtered},
    {"otelbpf_probe_inflight_lost_total", "Syscalls whose entry state could not be stored (exit not traced)",
     &KernelCounters::inflight_lost},
    {"otelbpf_probe_sock_cache_misses_total",
     "Socket calls whose traced-or-not verdict was not cached and took an fd walk",
     &KernelCounters::sock_cache_misses},
    {"otelbpf_probe_tls_ciphertext_skipped_total",
     "Socket calls made inside SSL_read/SSL_write, whose ciphertext the TLS plaintext replaces",
     &KernelCounters::tls_ciphertext_skipped},
    {"otelbpf_probe_tls_unbound_total", "TLS plaintext dropped because its socket could not be found",
     &KernelCounters::tls_unbound},
    {"otelbpf_probe_tls_events_total", "TLS plaintext events the uprobes wrote to the ring buffer",
     &KernelCounters::tls_events},
};

}  // namespace

void ProbeMetrics::publish(const SyscallProbes& probes) {
  for (const auto& status : probes.status()) {
    registry_
        .gauge("otelbpf_probe_attached", "1 when the probe is attached to its hook, else 0",
               {{"probe", status.name}})
        .set(status.attached ? 1 : 0);
  }
  const KernelCounters now = probes.counters();
  for (const KernelCounterMetric& metric : kKernelCounterMetrics)
    add_delta(registry_.counter(metric.name, metric.help), now.*metric.value, last_.*metric.value);
  add_delta(registry_.counter("otelbpf_probe_malformed_events_total",
                              "Ring buffer records shorter than their header claims"),
            probes.malformed_events(), last_malformed_);
}

}  // namespace otelbpf
