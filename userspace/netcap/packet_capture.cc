#include "netcap/packet_capture.h"

#include <linux/rtnetlink.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/scoped_fd.h"
#include "common/thread_name.h"
#include "probes/kernel_filesystems.h"

namespace otelbpf::netcap {
namespace {

// One state file per network namespace: agents of different namespaces (one per node netns in tests,
// or per node) must not clean up each other's qdiscs.
std::string netns_id() {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0) return "unknown";
  return std::to_string(st.st_ino);
}

void add_delta(Counter& counter, std::uint64_t now, std::uint64_t& last) {
  if (now > last) counter.inc(now - last);
  last = now;
}

}  // namespace

PacketCapture::PacketCapture(PacketCaptureOptions options, SpanPipeline& pipeline, MetricsRegistry& metrics)
    : options_(std::move(options)),
      pipeline_(pipeline),
      metrics_(metrics),
      processor_(
          options_.processing,
          [this](SpanBatch batch) {
            const auto spans = batch.span_count();
            if (pipeline_.submit(std::move(batch), SpanPipeline::Sender::kCannotRetry) !=
                SpanPipeline::Admission::kAccepted)
              metrics_
                  .counter("otelbpf_netcap_dropped_spans_total", "net spans dropped",
                           {{"reason", "pipeline_full"}})
                  .inc(spans);
          },
          metrics) {}

PacketCapture::~PacketCapture() { stop(); }

bool PacketCapture::start(std::string& error) {
  try {
    ensure_kernel_filesystems();
    probes_ = PacketProbes::load(options_.probes,
                                 [this](const otelbpf_packet_event& e, std::span<const std::uint8_t> p) {
                                   processor_.on_event(e, p);
                                 });
    requests_ = std::make_unique<NetlinkSocket>();
    watch_ = std::make_unique<NetlinkSocket>(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR);
    state_file_ = options_.state_dir + "/netcap-clsact." + netns_id();
    clean_up_after_crash(list_links(*requests_));
    resync_interfaces();
  } catch (const std::exception& e) {
    error = e.what();
    attachments_.clear();
    probes_.reset();
    return false;
  }
  spdlog::info("packet capture: {} interface(s) tapped, payload capture {} bytes, rate limit {}/s per CPU",
               attachments_.size(), probes_->payload_capture_bytes(),
               options_.probes.max_events_per_cpu_per_second);
  publish_metrics();
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return true;
}

void PacketCapture::clean_up_after_crash(const std::vector<LinkInfo>& links) {
  int stale = 0;
  for (const auto& link : links) stale += remove_stale_filters(link.ifindex);
  // Qdiscs the dead run created: its state file names them; remove those nobody else uses.
  std::ifstream in(state_file_);
  std::set<std::string> names;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::uint32_t ifindex = 0;
    std::string name;
    if (!(fields >> ifindex >> name)) continue;
    for (const auto& link : links)
      if (link.ifindex == ifindex && link.name == name && remove_clsact_if_empty(ifindex)) names.insert(name);
  }
  if (stale || !names.empty())
    spdlog::warn("packet capture: removed {} tc filter(s) and {} clsact qdisc(s) left by a previous run",
                 stale, names.size());
  metrics_
      .counter("otelbpf_netcap_stale_filters_removed_total", "tc filters of a crashed run removed at start")
      .inc(static_cast<std::uint64_t>(stale));
  std::error_code ec;
  std::filesystem::remove(state_file_, ec);
}

void PacketCapture::write_state() {
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  std::ostringstream out;
  for (const auto& [ifindex, a] : attachments_)
    if (a->created_qdisc()) out << ifindex << ' ' << names_[ifindex] << '\n';
  if (out.str().empty()) {
    std::filesystem::remove(state_file_, ec);
    return;
  }
  const std::string tmp = state_file_ + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << out.str();
  }
  std::filesystem::rename(tmp, state_file_, ec);
}

void PacketCapture::resync_interfaces() {
  const auto links = list_links(*requests_);
  std::set<std::uint32_t> present;
  bool changed = false;
  for (const auto& link : links) {
    present.insert(link.ifindex);
    const bool attached = attachments_.contains(link.ifindex);
    TapInterface tap{link.ifindex,   link.name,         link.kind,         link.tap_class(),
                     link.tunnel_id, link.tunnel_local, link.tunnel_remote};
    if (attached) {
      processor_.set_interface(tap);  // addresses and names change: keep the classification current
      continue;
    }
    if (!link.up || !options_.selection.selected(link)) continue;
    // On lo every packet passes egress then ingress: one hook sees each segment exactly once.
    const bool loopback = link.tap_class() == TapClass::kLoopback;
    std::string error;
    auto a = TcAttachment::attach(link.ifindex, loopback ? -1 : probes_->program_fd(true, link.l3()),
                                  probes_->program_fd(false, link.l3()), error);
    if (!a) {
      spdlog::warn("packet capture: cannot tap {} (ifindex {}): {}", link.name, link.ifindex, error);
      metrics_
          .counter("otelbpf_netcap_attach_failures_total", "Interfaces the tc programs could not attach to")
          .inc();
      continue;
    }
    if (!error.empty()) spdlog::warn("packet capture: {} partly tapped: {}", link.name, error);
    spdlog::info("packet capture: tapped {} (ifindex {}, {}, {}{})", link.name, link.ifindex,
                 link.kind.empty() ? "physical" : link.kind, to_string(link.tap_class()),
                 link.l3() ? ", no L2 header" : "");
    attachments_.emplace(link.ifindex, std::move(a));
    names_[link.ifindex] = link.name;
    processor_.set_interface(tap);
    changed = true;
  }
  for (auto it = attachments_.begin(); it != attachments_.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("packet capture: {} (ifindex {}) is gone", names_[it->first], it->first);
    it->second->forget();  // the kernel removed the filters with the device
    processor_.forget_interface(it->first);
    names_.erase(it->first);
    it = attachments_.erase(it);
    changed = true;
  }
  if (changed) write_state();
  metrics_.gauge("otelbpf_netcap_interfaces", "Interfaces the tc programs are attached to")
      .set(static_cast<std::int64_t>(attachments_.size()));
}

void PacketCapture::run() {
  name_this_thread("otb-netcap");
  using clock = std::chrono::steady_clock;
  const ScopedFd epoll(epoll_create1(EPOLL_CLOEXEC));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = 1;
  bool waiting = epoll.valid() && epoll_ctl(epoll.get(), EPOLL_CTL_ADD, probes_->epoll_fd(), &ev) == 0;
  ev.data.u32 = 2;
  waiting = waiting && epoll_ctl(epoll.get(), EPOLL_CTL_ADD, watch_->fd(), &ev) == 0;
  if (!waiting)
    spdlog::error("packet capture: cannot wait on the ring and interface events ({}): polling every 10 ms",
                  std::strerror(errno));
  auto last_tick = clock::now();
  // When to look at the interfaces again (max: nothing changed).
  auto resync_at = clock::time_point::max();
  constexpr std::size_t kBudget = 4096;
  bool backlog = false;
  while (!stopping_) {
    epoll_event ready[2];
    // The kernel batches wakeups (wakeup_bytes): drain on a 10 ms beat whether woken or not.
    const int n = waiting ? epoll_wait(epoll.get(), ready, 2, backlog ? 0 : 10) : 0;
    if (!waiting && !backlog) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    try {
      // Bounded, so that ticks (flushes, idle eviction, metrics) and interface changes still run under
      // a packet flood.
      backlog = probes_->poll(std::chrono::milliseconds(0), kBudget) >= static_cast<int>(kBudget);
    } catch (const std::exception& e) {
      spdlog::error("packet capture: event handling failed: {}", e.what());
    }
    bool interface_events = !waiting;  // without epoll, looked for on every beat
    for (int i = 0; i < n; ++i) interface_events |= ready[i].data.u32 == 2;
    if (interface_events) {
      // Interfaces come in bursts (a pod's veth pair, its addresses, its state): resync once after.
      const int got = watch_->drain([](const nlmsghdr&) {});
      if (got != 0 && resync_at == clock::time_point::max())
        resync_at = clock::now() + std::chrono::milliseconds(100);
    }
    const auto now = clock::now();
    if (now >= resync_at) {
      resync_at = clock::time_point::max();
      try {
        resync_interfaces();
      } catch (const std::exception& e) {
        spdlog::warn("packet capture: interface resync failed: {}", e.what());
        resync_at = now + std::chrono::seconds(1);
      }
    }
    if (now - last_tick >= std::chrono::milliseconds(100)) {
      processor_.tick();
      publish_metrics();
      last_tick = now;
    }
  }
}

void PacketCapture::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.join();
  // Reverse order of start: no new packets, then what the kernel already queued, then the flows.
  while (!attachments_.empty()) attachments_.erase(std::prev(attachments_.end()));
  write_state();
  try {
    while (probes_->poll(std::chrono::milliseconds(0)) > 0) {
    }
  } catch (const std::exception& e) {
    spdlog::error("packet capture: event handling failed: {}", e.what());
  }
  publish_metrics();
  processor_.close_all();
  watch_.reset();
  requests_.reset();
  probes_.reset();
  spdlog::info("packet capture: stopped, every tc filter removed");
}

void PacketCapture::publish_metrics() {
  if (!probes_) return;
  const auto now = probes_->counters();
  auto skipped = [&](const char* reason) -> Counter& {
    return metrics_.counter("otelbpf_netcap_kernel_skipped_total",
                            "Packets the tc programs did not emit, by reason", {{"reason", reason}});
  };
  add_delta(metrics_.counter("otelbpf_netcap_kernel_packets_total", "Packets the tc programs ran on"),
            now.seen, last_.seen);
  add_delta(metrics_.counter("otelbpf_netcap_kernel_events_total", "Events the tc programs emitted"),
            now.emitted, last_.emitted);
  add_delta(skipped("no_payload"), now.no_payload, last_.no_payload);
  add_delta(skipped("rate_limited"), now.rate_limited, last_.rate_limited);
  add_delta(skipped("other"), now.other, last_.other);
  add_delta(skipped("unparsable"), now.unparsable, last_.unparsable);
  add_delta(
      metrics_.counter("otelbpf_netcap_ringbuf_drops_total",
                       "Packet events lost because the ring buffer was full (raise netcap.ringbuf_bytes)"),
      now.ringbuf_drops, last_.ringbuf_drops);
  add_delta(
      metrics_.counter("otelbpf_netcap_malformed_events_total", "Ring buffer records shorter than claimed"),
      probes_->malformed_events(), last_malformed_);
}

}  // namespace otelbpf::netcap
