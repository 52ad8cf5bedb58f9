#include "netcap/packet_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "packets.skel.h"
#include "probes/kernel_filesystems.h"
#include "probes/libbpf_logging.h"

namespace otelbpf::netcap {
namespace {

std::string libbpf_error_text(int err) {
  char buf[256];
  libbpf_strerror(err, buf, sizeof(buf));
  return std::string(buf) + " (errno " + std::to_string(err < 0 ? -err : err) + ")";
}

std::uint32_t ring_size(std::uint32_t requested) {
  std::uint64_t size = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  while (size < requested && size < (1ull << 31)) size <<= 1;
  return static_cast<std::uint32_t>(size);
}

}  // namespace

void PacketProbes::SkeletonDeleter::operator()(packets_bpf* skel) const { packets_bpf__destroy(skel); }

PacketProbes::~PacketProbes() {
  ring_.reset();
  skel_.reset();
}

std::unique_ptr<PacketProbes> PacketProbes::load(const PacketProbeOptions& options, EventHandler handler) {
  if (!handler) throw PacketProbeError("PacketProbes::load needs an event handler");
  route_libbpf_logs_to_spdlog();
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  setrlimit(RLIMIT_MEMLOCK, &unlimited);  // pre-5.11 kernels account BPF memory to the rlimit

  Skeleton skel(packets_bpf__open());
  if (!skel) throw PacketProbeError("opening the packet probe object failed: " + libbpf_error_text(-errno));
  const std::uint32_t capture =
      std::min<std::uint32_t>(options.payload_capture_bytes, OTELBPF_PKT_MAX_PAYLOAD);
  skel->rodata->packet_payload_bytes = capture;
  skel->rodata->rate_per_cpu = options.max_events_per_cpu_per_second;
  skel->rodata->rate_burst = options.burst;
  skel->rodata->wakeup_bytes = options.wakeup_bytes;
  if (int err = bpf_map__set_max_entries(skel->maps.packet_events, ring_size(options.ringbuf_bytes)); err)
    throw PacketProbeError("setting the packet ring buffer size failed: " + libbpf_error_text(err));
  if (int err = packets_bpf__load(skel.get()); err)
    throw PacketProbeError("loading the tc packet programs failed: " + libbpf_error_text(err) +
                           " (needs root or CAP_BPF+CAP_NET_ADMIN and kernel BTF)");

  std::unique_ptr<PacketProbes> probes(new PacketProbes(std::move(skel), std::move(handler)));
  probes->payload_capture_bytes_ = capture;
  probes->ring_.reset(ring_buffer__new(bpf_map__fd(probes->skel_->maps.packet_events),
                                       &PacketProbes::on_ring_record, probes.get(), nullptr));
  if (!probes->ring_)
    throw PacketProbeError("creating the packet ring buffer consumer failed: " + libbpf_error_text(-errno));
  return probes;
}

int PacketProbes::program_fd(bool ingress, bool l3) const {
  const bpf_program* prog = ingress ? (l3 ? skel_->progs.tc_ingress_l3 : skel_->progs.tc_ingress)
                                    : (l3 ? skel_->progs.tc_egress_l3 : skel_->progs.tc_egress);
  return bpf_program__fd(prog);
}

int PacketProbes::on_ring_record(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<PacketProbes*>(ctx);
  otelbpf_packet_event event;
  if (size < sizeof(event)) {
    ++self->malformed_events_;
    return 0;
  }
  std::memcpy(&event, data, sizeof(event));
  if (event.captured_len > size - sizeof(event) || event.captured_len > event.payload_len) {
    ++self->malformed_events_;
    return 0;
  }
  try {
    self->handler_(event, {static_cast<const std::uint8_t*>(data) + sizeof(event), event.captured_len});
  } catch (...) {
    self->handler_error_ = std::current_exception();  // never unwind through libbpf's C frames
    return -ECANCELED;
  }
  // A negative answer makes libbpf stop after this record (which counts as consumed).
  if (++self->handled_ >= self->budget_ && self->budget_) return -E2BIG;
  return 0;
}

int PacketProbes::poll(std::chrono::milliseconds timeout, std::size_t budget) {
  budget_ = budget;
  handled_ = 0;
  int n = timeout.count() > 0 ? ring_buffer__poll(ring_.get(), static_cast<int>(timeout.count())) : 0;
  // Records queued without a wakeup are only found by consuming unconditionally.
  if (n >= 0) n = ring_buffer__consume(ring_.get());
  if (handler_error_) std::rethrow_exception(std::exchange(handler_error_, nullptr));
  if (n == -E2BIG) return static_cast<int>(handled_);
  if (n == -EINTR) return static_cast<int>(handled_);
  return n < 0 ? n : static_cast<int>(handled_);
}

int PacketProbes::epoll_fd() const { return ring_buffer__epoll_fd(ring_.get()); }

PacketKernelCounters PacketProbes::counters() const {
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return {};
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpus));
  std::uint64_t t[OTELBPF_PKT_CNT_MAX] = {};
  for (std::uint32_t idx = 0; idx < OTELBPF_PKT_CNT_MAX; ++idx) {
    if (bpf_map__lookup_elem(skel_->maps.packet_counters, &idx, sizeof(idx), per_cpu.data(),
                             per_cpu.size() * sizeof(std::uint64_t), 0) != 0)
      continue;
    for (auto v : per_cpu) t[idx] += v;
  }
  return PacketKernelCounters{
      .seen = t[OTELBPF_PKT_CNT_SEEN],
      .emitted = t[OTELBPF_PKT_CNT_EMITTED],
      .no_payload = t[OTELBPF_PKT_CNT_NO_PAYLOAD],
      .rate_limited = t[OTELBPF_PKT_CNT_RATE_LIMITED],
      .other = t[OTELBPF_PKT_CNT_OTHER],
      .unparsable = t[OTELBPF_PKT_CNT_UNPARSABLE],
      .ringbuf_drops = t[OTELBPF_PKT_CNT_RINGBUF_DROPS],
  };
}

}  // namespace otelbpf::netcap
