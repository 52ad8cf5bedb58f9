#pragma once
// Userspace half of the packet path: packet events in, net spans out. Per capture point (ifindex) and
// flow (inner 5-tuple, canonical), TCP payload segments are put back in order, and DNS datagrams (each a
// whole message) go as they come; both are fed to the protocol registry's stitchers as DataChunks,
// exactly as the syscall path feeds them; each record becomes one net span. Knows nothing about how events arrive, so tests drive it with parsed fixtures.
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "bpf/events.h"
#include "common/metrics.h"
#include "model/span_batch.h"
#include "netcap/net_span_builder.h"
#include "netcap/tcp_reassembler.h"
#include "protocols/registry/l7_feed.h"
#include "protocols/registry/protocol.h"

namespace otelbpf::netcap {

struct PacketEventProcessorOptions {
  std::size_t max_flows = 65536;  // TCP flows and DNS (UDP) flows together
  std::chrono::seconds flow_idle{120};
  std::size_t max_batch_spans = 512;
  std::uint32_t max_failed_inferences = 16;
  std::size_t max_held_segments = 16;  // per flow direction, waiting for a hole to fill
  std::string host_name;
  // Flows with one of these ports at either end are not followed (the agent's own OTLP doors).
  std::vector<std::uint16_t> ignore_ports;
  // The flow table's estimated bytes are charged here (nullptr: not accounted).
  MemoryBudget* memory = nullptr;
};

struct FlowKey {
  std::uint32_t ifindex = 0;
  std::uint8_t family = 0;
  std::uint8_t protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
  Endpoint lo;  // the smaller endpoint (address, then port)
  Endpoint hi;
  bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
  std::size_t operator()(const FlowKey& k) const;
};

class PacketEventProcessor {
 public:
  using BatchSink = std::function<void(SpanBatch)>;

  PacketEventProcessor(PacketEventProcessorOptions options, BatchSink sink,
                       MetricsRegistry& metrics = default_metrics());
  ~PacketEventProcessor();

  // Capture points: what the span says about where it was seen.
  void set_interface(const TapInterface& tap);
  void forget_interface(std::uint32_t ifindex);

  void on_event(const otelbpf_packet_event& event, std::span<const std::uint8_t> payload);
  // Idle eviction, clock resync, hand the spans made so far to the sink.
  void tick();
  // Every flow ends (pending requests leave as records) and everything is flushed.
  void close_all();

  std::size_t flows() const { return index_.size(); }

 private:
  struct Flow;
  using Lru = std::list<std::unique_ptr<Flow>>;

  Flow* find_or_create(const otelbpf_packet_event& event, const FlowKey& key);
  void feed(Flow& flow, int orientation, const TcpReassembler::Segment& segment);
  void finish_records(Flow& flow);
  void end_flow(Lru::iterator it, std::uint64_t ts_ns);
  void flush();

  PacketEventProcessorOptions options_;
  BatchSink sink_;
  MetricsRegistry& metrics_;
  std::unordered_map<std::uint32_t, TapInterface> interfaces_;
  Lru lru_;  // most recently used first
  std::unordered_map<FlowKey, Lru::iterator, FlowKeyHash> index_;
  SpanIdGenerator ids_;
  std::int64_t monotonic_to_wall_ns_ = 0;
  otlp::ResourceSpans pending_;
  std::size_t pending_spans_ = 0;
  std::vector<l7::L7Record> records_;
  Counter& events_;
  Counter& spans_;
  Counter& retransmissions_;
  Counter& zero_windows_;
  Counter& gaps_;
  Counter& evicted_;
  Counter& unrecognised_;
  Counter& unknown_protocol_;
  MemoryCharge table_charge_;
};

}  // namespace otelbpf::netcap
