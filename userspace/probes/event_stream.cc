#include "probes/event_stream.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/perf_event.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace otelbpf {
namespace {

// libbpf returns NULL and sets errno on failure.
int last_error() { return errno ? -errno : -EINVAL; }

}  // namespace

std::string libbpf_error_text(int err) {
  char buf[256];
  libbpf_strerror(err, buf, sizeof(buf));
  return fmt::format("{} (errno {})", buf, err < 0 ? -err : err);
}

std::uint32_t ring_buffer_size(std::uint32_t requested) {
  std::uint64_t size = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  while (size < requested && size < (1ull << 31)) size <<= 1;
  return static_cast<std::uint32_t>(size);
}

void raise_memlock_limit() {
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MEMLOCK, &unlimited) != 0)
    spdlog::debug("setrlimit(RLIMIT_MEMLOCK) failed: {}", std::strerror(errno));
}

std::vector<std::uint64_t> sum_per_cpu_counters(const bpf_map* map, std::uint32_t count) {
  std::vector<std::uint64_t> totals(count, 0);
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return totals;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  for (std::uint32_t slot = 0; slot < count; ++slot) {
    if (bpf_map__lookup_elem(map, &slot, sizeof(slot), per_cpu.data(), per_cpu.size() * sizeof(std::uint64_t), 0) != 0)
      continue;
    for (auto v : per_cpu) totals[slot] += v;
  }
  return totals;
}

EventStream::EventStream(RecordHandler handler, Options options)
    : handler_(std::move(handler)), options_(options) {}

EventStream::~EventStream() {
  ring_.reset();
  perf_.reset();
}

std::unique_ptr<EventStream> EventStream::ring_buffer(int map_fd, RecordHandler handler, Options options) {
  std::unique_ptr<EventStream> stream(new EventStream(std::move(handler), options));
  stream->ring_.reset(ring_buffer__new(map_fd, &EventStream::on_ring_record, stream.get(), nullptr));
  if (!stream->ring_) throw ProbeError("creating the ring buffer consumer failed: " + libbpf_error_text(last_error()));
  return stream;
}

std::unique_ptr<EventStream> EventStream::perf_buffer(int map_fd, std::size_t total_bytes, RecordHandler handler,
                                                      Options options) {
  std::unique_ptr<EventStream> stream(new EventStream(std::move(handler), options));
  // Per-CPU buffers of the same total size as the ring buffer would have had.
  const long cpus = std::max(1, libbpf_num_possible_cpus());
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::size_t pages = 1;
  while (pages * page * static_cast<std::size_t>(cpus) < total_bytes && pages < 4096) pages <<= 1;
  if (options.batched_wakeups) {
    // Each CPU's buffer wakes the consumer when 1/8 of it is filled (perf's watermark), not per event as
    // perf_buffer__new sets it up (a wake-up per event is an IPI paid by the traced thread: ~5 us per event
    // in a VM); poll() reads the rest when its timeout passes.
    perf_event_attr attr{};
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    attr.watermark = 1;
    attr.wakeup_watermark = static_cast<std::uint32_t>(std::max<std::size_t>(pages * page / 8, page));
    stream->perf_.reset(
        perf_buffer__new_raw(map_fd, pages, &attr, &EventStream::on_perf_event, stream.get(), nullptr));
  } else {
    stream->perf_.reset(perf_buffer__new(map_fd, pages, &EventStream::on_perf_record, &EventStream::on_perf_lost,
                                         stream.get(), nullptr));
  }
  if (!stream->perf_)
    throw ProbeError("creating the perf buffer consumer failed: " + libbpf_error_text(last_error()));
  return stream;
}

void EventStream::dispatch(std::span<const std::uint8_t> record) {
  if (handler_error_) return;  // a handler threw earlier in this poll: poll() rethrows it
  try {
    if (!handler_(record)) ++malformed_;
  } catch (...) {
    handler_error_ = std::current_exception();
  }
  ++handled_;
}

int EventStream::on_ring_record(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<EventStream*>(ctx);
  self->dispatch({static_cast<const std::uint8_t*>(data), size});
  // A negative answer stops libbpf after this record (which counts as consumed): the handler threw, or
  // this poll's budget is spent.
  if (self->handler_error_) return -ECANCELED;
  return self->budget_ && self->handled_ >= self->budget_ ? -E2BIG : 0;
}

void EventStream::on_perf_record(void* ctx, int, void* data, std::uint32_t size) {
  static_cast<EventStream*>(ctx)->dispatch({static_cast<const std::uint8_t*>(data), size});
}

void EventStream::on_perf_lost(void* ctx, int, __u64 count) { static_cast<EventStream*>(ctx)->perf_lost_ += count; }

enum bpf_perf_event_ret EventStream::on_perf_event(void* ctx, int, perf_event_header* event) {
  auto* self = static_cast<EventStream*>(ctx);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(event);
  if (event->type == PERF_RECORD_SAMPLE && event->size >= sizeof(*event) + sizeof(std::uint32_t)) {
    std::uint32_t size;  // PERF_SAMPLE_RAW: u32 size, then the bytes bpf_perf_event_output wrote
    std::memcpy(&size, bytes + sizeof(*event), sizeof(size));
    if (size <= event->size - sizeof(*event) - sizeof(size))
      self->dispatch({bytes + sizeof(*event) + sizeof(size), size});
    else
      ++self->malformed_;
  } else if (event->type == PERF_RECORD_LOST && event->size >= sizeof(*event) + 2 * sizeof(std::uint64_t)) {
    std::uint64_t lost;  // u64 id, u64 lost
    std::memcpy(&lost, bytes + sizeof(*event) + sizeof(std::uint64_t), sizeof(lost));
    self->perf_lost_ += lost;
  }
  return LIBBPF_PERF_EVENT_CONT;
}

int EventStream::consume() {
  int n = perf_ ? perf_buffer__consume(perf_.get()) : ring_buffer__consume(ring_.get());
  if (handler_error_) std::rethrow_exception(std::exchange(handler_error_, nullptr));
  if (n == -E2BIG || n == -EINTR) return 0;  // the budget was spent / a signal: what was handled stands
  return n < 0 ? n : 0;
}

int EventStream::poll(std::chrono::milliseconds timeout, std::size_t max_records) {
  budget_ = max_records ? max_records : options_.max_records_per_poll;
  handled_ = 0;
  // With batched wake-ups most records arrive without one: read what is waiting first, and wait only
  // when nothing was.
  if (options_.batched_wakeups || timeout.count() == 0) {
    if (int rc = consume(); rc < 0) return rc;
    if (handled_ > 0 || timeout.count() == 0) return static_cast<int>(handled_);
  }
  const int wait_ms = static_cast<int>(timeout.count());
  int n = perf_ ? perf_buffer__poll(perf_.get(), wait_ms) : ring_buffer__poll(ring_.get(), wait_ms);
  if (handler_error_) std::rethrow_exception(std::exchange(handler_error_, nullptr));
  if (n == -EINTR || n == -E2BIG) n = 0;
  if (n < 0) return n;
  // After the wait (a wake-up or the timeout): the records committed without a wake-up.
  if (options_.batched_wakeups && (!budget_ || handled_ < budget_))
    if (int rc = consume(); rc < 0) return rc;
  return static_cast<int>(handled_);
}

int EventStream::epoll_fd() const {
  return perf_ ? perf_buffer__epoll_fd(perf_.get()) : ring_buffer__epoll_fd(ring_.get());
}

}  // namespace otelbpf
