#include "probes/probe_metrics.h"

namespace otelbpf {
namespace {

void add_delta(Counter& counter, std::uint64_t now, std::uint64_t& last) {
  if (now > last) counter.inc(now - last);
  last = now;
}

}  // namespace

void ProbeMetrics::publish(const SyscallProbes& probes) {
  for (const auto& status : probes.status()) {
    registry_
        .gauge("otelbpf_probe_attached", "1 when the probe is attached to its hook, else 0",
               {{"probe", status.name}})
        .set(status.attached ? 1 : 0);
  }
  const KernelCounters now = probes.counters();
  add_delta(
      registry_.counter("otelbpf_probe_events_total", "Events the syscall probes wrote to the ring buffer"),
      now.events, last_.events);
  add_delta(registry_.counter("otelbpf_probe_ringbuf_drops_total",
                              "Events lost because the ring buffer was full (raise probes.ringbuf_bytes)"),
            now.ringbuf_drops, last_.ringbuf_drops);
  add_delta(registry_.counter("otelbpf_probe_non_socket_skipped_total",
                              "Traced syscalls skipped because the fd is not a socket"),
            now.non_socket_skipped, last_.non_socket_skipped);
  add_delta(registry_.counter("otelbpf_probe_other_socket_skipped_total",
                              "Traced syscalls skipped on sockets other than TCP/UDP over IPv4/IPv6"),
            now.other_socket_skipped, last_.other_socket_skipped);
  add_delta(registry_.counter("otelbpf_probe_filtered_total",
                              "Syscalls dropped in the kernel by the pid, cgroup or port filters"),
            now.filtered, last_.filtered);
  add_delta(registry_.counter("otelbpf_probe_inflight_lost_total",
                              "Syscalls whose entry state could not be stored (exit not traced)"),
            now.inflight_lost, last_.inflight_lost);
  add_delta(registry_.counter("otelbpf_probe_sock_cache_misses_total",
                              "Socket calls whose traced-or-not verdict was not cached and took an fd walk"),
            now.sock_cache_misses, last_.sock_cache_misses);
  add_delta(registry_.counter("otelbpf_probe_malformed_events_total",
                              "Ring buffer records shorter than their header claims"),
            probes.malformed_events(), last_malformed_);
}

}  // namespace otelbpf
