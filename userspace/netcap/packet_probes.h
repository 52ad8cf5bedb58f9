#pragma once
// Loader of bpf/packets.bpf.c: open, set rodata (capture size, rate limit), load, consume the ring
// buffer. Attaching the programs to interfaces is TcAttachment's job (one per interface, owned by
// PacketCapture); this object owns the programs and maps they run with.
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>

#include "bpf/events.h"
#include "probes/event_stream.h"
#include "probes/libbpf_handles.h"

struct packets_bpf;  // bpftool skeleton (packets.skel.h), private to the .cc

namespace otelbpf::netcap {

struct PacketProbeOptions {
  std::uint32_t payload_capture_bytes = 256;  // clamped to OTELBPF_PKT_MAX_PAYLOAD
  std::uint32_t ringbuf_bytes = 8u << 20;
  std::uint32_t max_events_per_cpu_per_second = 0;  // token bucket refill; 0 = unlimited
  std::uint32_t burst = 0;                          // bucket depth; 0 = one second's worth
  // The kernel wakes the consumer only when this many bytes wait (0: every event); the consumer must
  // then also drain on a timer (PacketCapture does, every 10 ms; poll() always drains).
  std::uint32_t wakeup_bytes = 64u << 10;
};

// Sums over all CPUs of enum otelbpf_packet_counter; monotonic.
struct PacketKernelCounters {
  std::uint64_t seen = 0;
  std::uint64_t emitted = 0;
  std::uint64_t no_payload = 0;
  std::uint64_t rate_limited = 0;
  std::uint64_t other = 0;
  std::uint64_t unparsable = 0;
  std::uint64_t ringbuf_drops = 0;
};

using PacketProbeError = ProbeError;

class PacketProbes {
 public:
  using EventHandler =
      std::function<void(const otelbpf_packet_event& event, std::span<const std::uint8_t> payload)>;

  // Throws PacketProbeError when the kernel refuses the programs or maps.
  static std::unique_ptr<PacketProbes> load(const PacketProbeOptions& options, EventHandler handler);
  ~PacketProbes();
  PacketProbes(const PacketProbes&) = delete;
  PacketProbes& operator=(const PacketProbes&) = delete;

  // The tc program for a hook; `l3`: for devices without a link-layer header.
  int program_fd(bool ingress, bool l3) const;
  // Waits up to `timeout` for a wakeup, then dispatches whatever is queued (wakeups may be batched, see
  // wakeup_bytes), at most `budget` events (0: all there are, which under a steady packet flood may be
  // never-ending); number handled or -errno (EINTR counts as 0).
  int poll(std::chrono::milliseconds timeout, std::size_t budget = 0);
  int epoll_fd() const;
  PacketKernelCounters counters() const;
  std::uint64_t malformed_events() const { return stream_->malformed_records(); }
  std::uint32_t payload_capture_bytes() const { return payload_capture_bytes_; }

 private:
  struct SkeletonDeleter {
    void operator()(packets_bpf* skel) const;
  };
  using Skeleton = std::unique_ptr<packets_bpf, SkeletonDeleter>;

  PacketProbes(Skeleton skel, EventHandler handler) : skel_(std::move(skel)), handler_(std::move(handler)) {}
  // One ring buffer record: the event, then captured_len bytes. False when it is shorter.
  bool on_record(std::span<const std::uint8_t> record);

  Skeleton skel_;
  EventHandler handler_;
  std::unique_ptr<EventStream> stream_;
  std::uint32_t payload_capture_bytes_ = 0;
};

}  // namespace otelbpf::netcap
