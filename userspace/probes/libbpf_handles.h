#pragma once
// Owning wrappers for the libbpf objects the probes hold: each frees its kernel object exactly once.
#include <memory>

#include <bpf/libbpf.h>

namespace otelbpf {

struct BpfLinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
// An attached program; destroying it detaches.
using BpfLink = std::unique_ptr<bpf_link, BpfLinkDeleter>;

struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};
// A consumer of one or more BPF_MAP_TYPE_RINGBUF maps (its epoll fd and mmaps).
using RingBufferConsumer = std::unique_ptr<ring_buffer, RingBufferDeleter>;

struct PerfBufferDeleter {
  void operator()(perf_buffer* pb) const { perf_buffer__free(pb); }
};
// Consumer of a perf event array (the fallback where the kernel has no ring buffer).
using PerfBufferConsumer = std::unique_ptr<perf_buffer, PerfBufferDeleter>;

}  // namespace otelbpf
