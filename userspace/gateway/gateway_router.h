#pragma once
// A node agent's side of the gateway tier (docs/gateway.md). The assembler marks the spans that still wait
// for a partner on another node (otelbpf.gateway.key: the server end of a call whose client end is not on
// this node, with the spans under it) and the client ends such partners must be linked to
// (otelbpf.gateway.reference). route() takes the first out of the node's export and sends them, with copies
// of the second, to the gateway their stitch key hashes to; both halves of a call meet there.
//
// Replicas come from a static list or a DNS name (a headless Service: one A record per ready pod), re-read
// every `refresh`. A replica that fails a send is left out of the ring for `down_for` and its queued and
// failed requests go to the new owners of their keys. What was sent to a replica shortly before it left
// the ring may have lost its partner to the rehash: counted, never silent.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "gateway/hash_ring.h"
#include "model/span_batch.h"

namespace otelbpf::gateway {

struct GatewayRouterOptions {
  std::vector<std::string> endpoints;  // "host:port" of each gateway replica (OTLP/HTTP)
  std::string dns;                     // "name:port": every address of the name is a replica
  std::chrono::milliseconds refresh{5000};
  std::chrono::milliseconds down_for{10000};
  // Spans sent to a replica this recently before it left the ring are counted as in flight at the change.
  std::chrono::milliseconds in_flight_window{10000};
  std::chrono::milliseconds timeout{2000};
  std::size_t max_queued_requests = 256;  // per replica; beyond, counted drops
};

// "host:port" -> "http://host:port/v1/traces" (IPv6 hosts bracketed).
std::string gateway_url(const std::string& endpoint);
// The addresses `name:port` resolves to, as "ip:port" (sorted); empty when it does not resolve.
std::vector<std::string> resolve_replicas(const std::string& name_and_port);

class GatewayRouter {
 public:
  explicit GatewayRouter(GatewayRouterOptions options, MetricsRegistry& metrics = default_metrics());
  ~GatewayRouter();
  GatewayRouter(const GatewayRouter&) = delete;
  GatewayRouter& operator=(const GatewayRouter&) = delete;

  // Takes the spans marked otelbpf.gateway.key out of `batch` and sends them, with copies of the spans
  // marked otelbpf.gateway.reference, to their gateways; what stays in `batch` loses both marks. With no
  // replica known, everything stays (exported unassembled rather than lost).
  void route(SpanBatch& batch);
  // Stops refreshing and sending; queued requests are dropped and counted.
  void stop();

  std::vector<std::string> ring_members() const;

 private:
  struct Link;
  void refresh_loop();
  void rebuild_ring_locked(const char* why);
  // Splits `request` by the owner of each span's key and queues each part on its owner.
  void dispatch_locked(otlp::ExportRequest request);
  void on_send_failed(const std::string& endpoint, otlp::ExportRequest request);

  GatewayRouterOptions options_;
  MetricsRegistry& metrics_;
  Counter& anchored_spans_;
  Counter& reference_spans_;
  Counter& rehashes_;
  Counter& in_flight_at_rehash_;
  Counter& rerouted_spans_;
  Counter& dropped_queue_full_;
  Gauge& members_gauge_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<std::string> discovered_;
  std::map<std::string, std::chrono::steady_clock::time_point> down_until_;
  HashRing ring_;
  std::map<std::string, std::shared_ptr<Link>> links_;
  std::thread refresher_;
};

}  // namespace otelbpf::gateway
