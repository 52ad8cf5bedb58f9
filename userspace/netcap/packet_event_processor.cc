#include "netcap/packet_event_processor.h"

#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "common/clock.h"
#include "common/proc_file.h"

namespace otelbpf::netcap {
namespace {

bool endpoint_less(const Endpoint& a, const Endpoint& b) {
  const int c = std::memcmp(a.addr, b.addr, sizeof a.addr);
  return c != 0 ? c < 0 : a.port < b.port;
}

}  // namespace

std::size_t FlowKeyHash::operator()(const FlowKey& k) const {
  std::uint64_t h =
      1469598103934665603ull ^ k.ifindex ^ (std::uint64_t(k.family) << 32) ^ (std::uint64_t(k.protocol) << 40);
  auto mix = [&h](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  mix(k.lo.addr, 16);
  mix(&k.lo.port, 2);
  mix(k.hi.addr, 16);
  mix(&k.hi.port, 2);
  return static_cast<std::size_t>(h);
}

// One TCP or DNS flow at one capture point. Orientation 0 is the side that opened it (SYN sender), or,
// for a flow already running when the capture started and for a DNS flow, the side whose payload came
// first; its bytes are fed
// to the stitcher as kEgress. The stitcher then says (record.role) whether that side was the client.
struct PacketEventProcessor::Flow {
  FlowKey key;
  Endpoint side[2];
  bool tc_direction_known[2] = {false, false};
  std::uint8_t tc_direction[2] = {0, 0};
  TcpReassembler streams[2];
  // Tunnel and VLAN as the last packet of each orientation carried them.
  struct Path {
    std::uint8_t tunnel_type = 0;
    bool has_tunnel_id = false;
    std::uint32_t tunnel_id = 0;
    std::uint8_t outer_family = 0;
    std::uint8_t outer_src[16] = {};
    std::uint8_t outer_dst[16] = {};
    std::uint16_t vlan_id = 0;
  } path[2];
  l7::L7Feed l7;  // protocol inference and the stitcher
  bool fin[2] = {false, false};
  // Since the last record: attributed to the next exchange that completes.
  std::uint64_t retransmissions_seen = 0;
  std::uint64_t retransmissions_reported = 0;
  std::uint64_t zero_windows = 0;
  std::uint64_t last_seen_ns = 0;

  explicit Flow(std::size_t max_held) : streams{TcpReassembler(max_held), TcpReassembler(max_held)} {}
};

PacketEventProcessor::PacketEventProcessor(PacketEventProcessorOptions options, BatchSink sink,
                                           MetricsRegistry& metrics)
    : options_(std::move(options)),
      sink_(std::move(sink)),
      metrics_(metrics),
      monotonic_to_wall_ns_(monotonic_to_wall_offset_ns()),
      events_(metrics.counter("otelbpf_netcap_events_total", "Packet events processed")),
      spans_(metrics.counter("otelbpf_netcap_spans_total", "net spans made from packets")),
      retransmissions_(metrics.counter("otelbpf_netcap_retransmissions_total",
                                       "TCP segments carrying bytes already seen at the same capture point")),
      zero_windows_(
          metrics.counter("otelbpf_netcap_zero_windows_total", "TCP segments advertising a zero window")),
      gaps_(metrics.counter("otelbpf_netcap_sequence_gaps_total",
                            "Holes in a flow's byte stream skipped because they never filled")),
      evicted_(
          metrics.counter("otelbpf_netcap_flows_evicted_total", "Flows forgotten for idleness or the bound")),
      unrecognised_(metrics.counter("otelbpf_netcap_unrecognised_flows_total",
                                    "Flows whose bytes matched no supported protocol")),
      unknown_protocol_(metrics.counter("otelbpf_netcap_unknown_protocol_events_total",
                                        "Packet events of an L4 protocol other than TCP or UDP (dropped)")) {
  if (options_.host_name.empty()) options_.host_name = host_name();
}

PacketEventProcessor::~PacketEventProcessor() = default;

void PacketEventProcessor::set_interface(const TapInterface& tap) { interfaces_[tap.ifindex] = tap; }

void PacketEventProcessor::forget_interface(std::uint32_t ifindex) {
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if ((*it)->key.ifindex == ifindex) end_flow(it, now_monotonic_ns());
    it = next;
  }
  interfaces_.erase(ifindex);
}

PacketEventProcessor::Flow* PacketEventProcessor::find_or_create(const otelbpf_packet_event& event,
                                                                 const FlowKey& key) {
  if (auto it = index_.find(key); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->get();
  }
  const bool syn = event.tcp_flags & OTELBPF_TCP_SYN;
  const bool ack = event.tcp_flags & OTELBPF_TCP_ACK;
  // Only an opening or bytes start a flow; a stray FIN, RST or window update of a forgotten one does not.
  if (!syn && event.payload_len == 0) return nullptr;
  if (event.tcp_flags & OTELBPF_TCP_RST) return nullptr;
  for (auto port : options_.ignore_ports)
    if (event.sport == port || event.dport == port) return nullptr;
  while (index_.size() >= options_.max_flows && !lru_.empty()) {
    evicted_.inc();
    end_flow(std::prev(lru_.end()), event.ts_ns);
  }
  auto flow = std::make_unique<Flow>(options_.max_held_segments);
  flow->key = key;
  Endpoint src, dst;
  std::memcpy(src.addr, event.saddr, 16);
  src.port = event.sport;
  std::memcpy(dst.addr, event.daddr, 16);
  dst.port = event.dport;
  // A SYN-ACK comes from the side that did not open the flow.
  const bool opened_by_dst = syn && ack;
  flow->side[0] = opened_by_dst ? dst : src;
  flow->side[1] = opened_by_dst ? src : dst;
  lru_.push_front(std::move(flow));
  index_.emplace(key, lru_.begin());
  return lru_.front().get();
}

void PacketEventProcessor::on_event(const otelbpf_packet_event& event,
                                    std::span<const std::uint8_t> payload) {
  events_.inc();
  const bool udp = event.protocol == IPPROTO_UDP;
  if (event.protocol != IPPROTO_TCP && !udp) {
    unknown_protocol_.inc();
    return;
  }
  FlowKey key;
  key.ifindex = event.ifindex;
  key.family = event.family;
  key.protocol = event.protocol;
  Endpoint src, dst;
  std::memcpy(src.addr, event.saddr, 16);
  src.port = event.sport;
  std::memcpy(dst.addr, event.daddr, 16);
  dst.port = event.dport;
  const bool src_lower = endpoint_less(src, dst);
  key.lo = src_lower ? src : dst;
  key.hi = src_lower ? dst : src;

  Flow* flow = find_or_create(event, key);
  if (!flow) return;
  flow->last_seen_ns = event.ts_ns;
  const int o = flow->side[0] == src ? 0 : 1;
  flow->tc_direction[o] = event.direction;
  flow->tc_direction_known[o] = true;
  auto& path = flow->path[o];
  path.tunnel_type = event.tunnel_type;
  path.has_tunnel_id = event.flags & OTELBPF_PKT_F_TUNNEL_ID;
  path.tunnel_id = event.tunnel_id;
  path.outer_family = event.outer_family;
  std::memcpy(path.outer_src, event.outer_saddr, 16);
  std::memcpy(path.outer_dst, event.outer_daddr, 16);
  path.vlan_id = event.vlan_depth ? event.vlan_id : 0;

  if (udp) {
    // A datagram is one whole DNS message: no ordering, retransmission or end of flow to work out (the
    // stitcher matches responses to queries by id and question, and the flow ends when it is idle).
    TcpReassembler::Segment datagram;
    datagram.len = event.payload_len;
    datagram.ts_ns = event.ts_ns;
    datagram.captured = std::string_view(reinterpret_cast<const char*>(payload.data()),
                                         std::min<std::size_t>(payload.size(), event.captured_len));
    feed(*flow, o, datagram);
    finish_records(*flow);
    if (pending_spans_ >= options_.max_batch_spans) flush();
    return;
  }
  const bool syn = event.tcp_flags & OTELBPF_TCP_SYN;
  const bool rst = event.tcp_flags & OTELBPF_TCP_RST;
  if (syn) flow->streams[o].on_syn(event.seq);
  if (event.window == 0 && !syn && !rst) {
    ++flow->zero_windows;
    zero_windows_.inc();
  }
  if (event.payload_len > 0) {
    const std::uint64_t before = flow->streams[o].retransmissions();
    const std::uint64_t gaps_before = flow->streams[o].gaps();
    TcpReassembler::Segment segment;
    // The payload of a SYN (TCP Fast Open) starts one past the SYN's own sequence number.
    segment.seq = syn ? event.seq + 1 : event.seq;
    segment.len = event.payload_len;
    segment.ts_ns = event.ts_ns;
    segment.captured = std::string_view(reinterpret_cast<const char*>(payload.data()),
                                        std::min<std::size_t>(payload.size(), event.captured_len));
    flow->streams[o].add(segment, [&](const TcpReassembler::Segment& s) { feed(*flow, o, s); });
    const std::uint64_t retrans = flow->streams[o].retransmissions() - before;
    flow->retransmissions_seen += retrans;
    retransmissions_.inc(retrans);
    gaps_.inc(flow->streams[o].gaps() - gaps_before);
    finish_records(*flow);
  }
  if (event.tcp_flags & OTELBPF_TCP_FIN) flow->fin[o] = true;
  if (rst || (flow->fin[0] && flow->fin[1])) end_flow(index_.at(key), event.ts_ns);
  if (pending_spans_ >= options_.max_batch_spans) flush();
}

void PacketEventProcessor::feed(Flow& flow, int orientation, const TcpReassembler::Segment& s) {
  const auto direction = orientation == 0 ? l7::Direction::kEgress : l7::Direction::kIngress;
  l7::InferenceInput inference;
  inference.first_bytes = s.captured;
  inference.direction = direction;
  inference.udp = flow.key.protocol == IPPROTO_UDP;
  inference.local_port = flow.side[orientation].port;
  inference.remote_port = flow.side[1 - orientation].port;
  l7::DataChunk chunk;
  chunk.direction = direction;
  chunk.ts_enter_ns = s.ts_ns;
  chunk.ts_exit_ns = s.ts_ns;
  chunk.tcp_seq = s.seq;
  chunk.total_bytes = s.len;
  chunk.captured = s.captured;
  if (flow.l7.feed(inference, chunk, records_, options_.max_failed_inferences) ==
      l7::L7Feed::Outcome::kGaveUp)
    unrecognised_.inc();
}

void PacketEventProcessor::finish_records(Flow& flow) {
  if (records_.empty()) return;
  if (pending_.scope_spans_size() == 0) {
    auto* resource = pending_.mutable_resource();
    add_resource_attribute(*resource, "service.name", "otelbpf-network");
    add_resource_attribute(*resource, "host.name", options_.host_name);
    auto* scope = pending_.add_scope_spans()->mutable_scope();
    scope->set_name("otelbpf.packet");
    scope->set_version(kAgentVersion);
  }
  auto* scope_spans = pending_.mutable_scope_spans(0);
  auto tap = interfaces_.find(flow.key.ifindex);
  TapInterface unknown;
  if (tap == interfaces_.end()) {
    unknown.ifindex = flow.key.ifindex;
    unknown.name = "if" + std::to_string(flow.key.ifindex);
  }
  for (const auto& record : records_) {
    // record.role is the role of orientation 0 (its bytes were fed as egress).
    const int client = record.role == l7::Role::kServer ? 1 : 0;
    NetSpanOrigin origin;
    origin.tap = tap == interfaces_.end() ? &unknown : &tap->second;
    origin.family = flow.key.family;
    origin.protocol = flow.key.protocol;
    origin.client = flow.side[client];
    origin.server = flow.side[1 - client];
    origin.request_tc_direction = flow.tc_direction[client];
    const auto& path = flow.path[client];
    origin.tunnel_type = path.tunnel_type;
    origin.has_tunnel_id = path.has_tunnel_id;
    origin.tunnel_id = path.tunnel_id;
    origin.outer_family = path.outer_family;
    std::memcpy(origin.outer_src, path.outer_src, 16);
    std::memcpy(origin.outer_dst, path.outer_dst, 16);
    origin.vlan_id = path.vlan_id;
    origin.retransmissions = flow.retransmissions_seen - flow.retransmissions_reported;
    origin.zero_windows = flow.zero_windows;
    origin.monotonic_to_wall_ns = monotonic_to_wall_ns_;
    flow.retransmissions_reported = flow.retransmissions_seen;
    flow.zero_windows = 0;
    *scope_spans->add_spans() = build_net_span(record, origin, ids_);
    ++pending_spans_;
    spans_.inc();
  }
  records_.clear();
}

void PacketEventProcessor::end_flow(Lru::iterator it, std::uint64_t ts_ns) {
  Flow& flow = **it;
  if (flow.l7.parsing()) {
    records_.clear();
    flow.l7.close(ts_ns, records_, metrics_, "net");
    finish_records(flow);
  }
  index_.erase(flow.key);
  lru_.erase(it);
}

void PacketEventProcessor::flush() {
  if (pending_spans_ == 0) return;
  SpanBatch batch;
  batch.source = SpanSource::kNet;
  *batch.request().add_resource_spans() = std::move(pending_);
  pending_.Clear();
  pending_spans_ = 0;
  sink_(std::move(batch));
}

void PacketEventProcessor::tick() {
  const std::uint64_t now = now_monotonic_ns();
  const std::uint64_t idle = static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.flow_idle).count());
  while (!lru_.empty() && lru_.back()->last_seen_ns + idle < now) {
    evicted_.inc();
    end_flow(std::prev(lru_.end()), now);
  }
  monotonic_to_wall_ns_ = monotonic_to_wall_offset_ns();
  // A flow, its stitcher and the segments held per direction (max_held_segments, with their payload).
  const std::size_t bytes_per_flow = sizeof(Flow) + 2048 + 2 * options_.max_held_segments * 512;
  table_charge_.adjust(options_.memory, index_.size() * bytes_per_flow);
  metrics_.gauge("otelbpf_netcap_flows", "TCP flows tracked by the packet path")
      .set(static_cast<std::int64_t>(index_.size()));
  flush();
}

void PacketEventProcessor::close_all() {
  while (!lru_.empty()) end_flow(std::prev(lru_.end()), now_monotonic_ns());
  flush();
}

}  // namespace otelbpf::netcap
