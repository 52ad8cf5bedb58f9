#pragma once
// How a BPF object's events reach userspace, written once for every loader (the syscall probes and the
// packet probes): the BPF ring buffer (Linux 5.8+) or, before it, a per-CPU perf buffer; wake-ups that
// the kernel side batches; a bound on the records one poll() handles; records shorter than they claim;
// perf buffer overruns; and handler exceptions, which must never unwind through libbpf's C frames.
//
// Also the few libbpf chores every loader repeats (error text, ring sizes, the memlock rlimit, summing a
// per-CPU counter array).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "probes/libbpf_handles.h"

struct perf_event_header;

namespace otelbpf {

class ProbeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "Operation not permitted (errno 1)": libbpf's text for a negative or positive errno.
std::string libbpf_error_text(int err);
// The ring buffer size the kernel accepts for `requested` bytes: a power-of-two number of pages.
std::uint32_t ring_buffer_size(std::uint32_t requested);
// Kernels before 5.11 account BPF memory to RLIMIT_MEMLOCK; later ones to the cgroup.
void raise_memlock_limit();
// Each of `count` slots of a BPF_MAP_TYPE_PERCPU_ARRAY of u64, summed over the CPUs (0 where unreadable).
std::vector<std::uint64_t> sum_per_cpu_counters(const bpf_map* map, std::uint32_t count);

class EventStream {
 public:
  // One record as the kernel wrote it. Returns false when it is malformed (counted, skipped). May throw:
  // the poll stops and poll() rethrows.
  using RecordHandler = std::function<bool(std::span<const std::uint8_t> record)>;

  struct Options {
    // Records one poll() handles at most: under sustained load a consumer would otherwise never return
    // to its caller's periodic work (flushing spans, eviction, counters). 0: no bound.
    std::size_t max_records_per_poll = 8192;
    // The kernel side commits most records without waking the consumer (BPF_RB_NO_WAKEUP, or a perf
    // watermark): poll() reads whatever is there before waiting, and again after its timeout.
    bool batched_wakeups = true;
  };

  // Throws ProbeError when the consumer cannot be set up.
  static std::unique_ptr<EventStream> ring_buffer(int map_fd, RecordHandler handler, Options options);
  // A perf event array, `total_bytes` spread over the possible CPUs.
  static std::unique_ptr<EventStream> perf_buffer(int map_fd, std::size_t total_bytes, RecordHandler handler,
                                                  Options options);

  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // Handles what is waiting, else waits up to `timeout` for records; at most `max_records` (0: the
  // options' bound). Returns the records handled, or -errno (EINTR counts as 0). Rethrows what the
  // handler threw.
  int poll(std::chrono::milliseconds timeout, std::size_t max_records = 0);
  // Readable when records wait and a wake-up was sent, for an external epoll loop (then poll(0ms)).
  int epoll_fd() const;
  // "ringbuf" or "perfbuf".
  const char* transport() const { return perf_ ? "perfbuf" : "ringbuf"; }
  std::uint64_t malformed_records() const { return malformed_; }
  // Records the perf buffer overwrote before they were read (the ring buffer counts its drops in the
  // kernel, where its producers see them).
  std::uint64_t perf_lost() const { return perf_lost_; }

 private:
  EventStream(RecordHandler handler, Options options);
  void dispatch(std::span<const std::uint8_t> record);
  int consume();
  static int on_ring_record(void* ctx, void* data, std::size_t size);
  static void on_perf_record(void* ctx, int cpu, void* data, std::uint32_t size);
  static void on_perf_lost(void* ctx, int cpu, __u64 count);  // libbpf's perf_buffer_lost_fn
  static enum bpf_perf_event_ret on_perf_event(void* ctx, int cpu, perf_event_header* event);

  RecordHandler handler_;
  Options options_;
  RingBufferConsumer ring_;
  PerfBufferConsumer perf_;
  std::size_t budget_ = 0;
  std::size_t handled_ = 0;
  std::uint64_t malformed_ = 0;
  std::uint64_t perf_lost_ = 0;
  std::exception_ptr handler_error_;
};

}  // namespace otelbpf
