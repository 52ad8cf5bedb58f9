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
void PacketProbes::SkeletonDeleter::operator()(packets_bpf* skel) const { packets_bpf__destroy(skel); }

PacketProbes::~PacketProbes() {
  stream_.reset();
  skel_.reset();
}

std::unique_ptr<PacketProbes> PacketProbes::load(const PacketProbeOptions& options, EventHandler handler) {
  if (!handler) throw PacketProbeError("PacketProbes::load needs an event handler");
  route_libbpf_logs_to_spdlog();
  raise_memlock_limit();

  Skeleton skel(packets_bpf__open());
  if (!skel) throw PacketProbeError("opening the packet probe object failed: " + libbpf_error_text(-errno));
  const std::uint32_t capture =
      std::min<std::uint32_t>(options.payload_capture_bytes, OTELBPF_PKT_MAX_PAYLOAD);
  skel->rodata->packet_payload_bytes = capture;
  skel->rodata->rate_per_cpu = options.max_events_per_cpu_per_second;
  skel->rodata->rate_burst = options.burst;
  skel->rodata->wakeup_bytes = options.wakeup_bytes;
  if (int err = bpf_map__set_max_entries(skel->maps.packet_events, ring_buffer_size(options.ringbuf_bytes)); err)
    throw PacketProbeError("setting the packet ring buffer size failed: " + libbpf_error_text(err));
  if (int err = packets_bpf__load(skel.get()); err)
    throw PacketProbeError("loading the tc packet programs failed: " + libbpf_error_text(err) +
                           " (needs root or CAP_BPF+CAP_NET_ADMIN and kernel BTF)");

  std::unique_ptr<PacketProbes> probes(new PacketProbes(std::move(skel), std::move(handler)));
  probes->payload_capture_bytes_ = capture;
  // The kernel wakes the consumer once per wakeup_bytes; PacketCapture drains on a short timer besides.
  probes->stream_ = EventStream::ring_buffer(
      bpf_map__fd(probes->skel_->maps.packet_events),
      [raw = probes.get()](std::span<const std::uint8_t> record) { return raw->on_record(record); },
      EventStream::Options{.max_records_per_poll = 0, .batched_wakeups = options.wakeup_bytes > 0});
  return probes;
}

int PacketProbes::program_fd(bool ingress, bool l3) const {
  const bpf_program* prog = ingress ? (l3 ? skel_->progs.tc_ingress_l3 : skel_->progs.tc_ingress)
                                    : (l3 ? skel_->progs.tc_egress_l3 : skel_->progs.tc_egress);
  return bpf_program__fd(prog);
}

bool PacketProbes::on_record(std::span<const std::uint8_t> record) {
  otelbpf_packet_event event;
  if (record.size() < sizeof(event)) return false;
  std::memcpy(&event, record.data(), sizeof(event));
  if (event.captured_len > record.size() - sizeof(event) || event.captured_len > event.payload_len) return false;
  handler_(event, record.subspan(sizeof(event), event.captured_len));
  return true;
}

int PacketProbes::poll(std::chrono::milliseconds timeout, std::size_t budget) {
  return stream_->poll(timeout, budget);
}

int PacketProbes::epoll_fd() const { return stream_->epoll_fd(); }

PacketKernelCounters PacketProbes::counters() const {
  const auto t = sum_per_cpu_counters(skel_->maps.packet_counters, OTELBPF_PKT_CNT_MAX);
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
