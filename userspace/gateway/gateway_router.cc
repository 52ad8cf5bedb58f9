#include "gateway/gateway_router.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <set>

#include "export/otlp_http_exporter.h"
#include "model/attributes.h"

namespace otelbpf::gateway {
namespace {

using Clock = std::chrono::steady_clock;

const std::string* string_attribute(const otlp::Span& span, std::string_view key) {
  for (const auto& kv : span.attributes())
    if (kv.key() == key && kv.value().has_string_value()) return &kv.value().string_value();
  return nullptr;
}

void strip_attribute(otlp::Span& span, std::string_view key) {
  auto* attributes = span.mutable_attributes();
  for (int i = 0; i < attributes->size(); ++i)
    if (attributes->Get(i).key() == key) {
      attributes->DeleteSubrange(i, 1);
      return;
    }
}

// The key a span is routed by: the stitch key it waits on, or the one its copy serves as reference for.
const std::string* routing_key(const otlp::Span& span) {
  if (const auto* key = string_attribute(span, attr::kGatewayKey)) return key;
  return string_attribute(span, attr::kGatewayReference);
}

// Requests being built, one per destination, with each span under a copy of its resource and scope.
class RequestsByDestination {
 public:
  void add(const std::string& destination, const otlp::ResourceSpans& rs, const otlp::ScopeSpans& ss,
           int resource_index, int scope_index, otlp::Span span) {
    auto& out = requests_[destination];
    auto& scopes = scopes_[destination];
    auto it = scopes.find({resource_index, scope_index});
    if (it == scopes.end()) {
      auto& resources = resources_[destination];
      auto r = resources.find(resource_index);
      if (r == resources.end()) {
        auto* out_rs = out.add_resource_spans();
        *out_rs->mutable_resource() = rs.resource();
        out_rs->set_schema_url(rs.schema_url());
        r = resources.emplace(resource_index, out_rs).first;
      }
      auto* out_ss = r->second->add_scope_spans();
      *out_ss->mutable_scope() = ss.scope();
      out_ss->set_schema_url(ss.schema_url());
      it = scopes.emplace(std::pair{resource_index, scope_index}, out_ss).first;
    }
    *it->second->add_spans() = std::move(span);
  }
  std::map<std::string, otlp::ExportRequest>& requests() { return requests_; }

 private:
  std::map<std::string, otlp::ExportRequest> requests_;
  std::map<std::string, std::map<int, otlp::ResourceSpans*>> resources_;
  std::map<std::string, std::map<std::pair<int, int>, otlp::ScopeSpans*>> scopes_;
};

}  // namespace

std::string gateway_url(const std::string& endpoint) {
  if (endpoint.starts_with("http://") || endpoint.starts_with("https://")) return endpoint;
  const bool v6 = std::count(endpoint.begin(), endpoint.end(), ':') > 1 && endpoint.front() != '[';
  if (!v6) return "http://" + endpoint + "/v1/traces";
  const auto colon = endpoint.rfind(':');
  return "http://[" + endpoint.substr(0, colon) + "]" + endpoint.substr(colon) + "/v1/traces";
}

std::vector<std::string> resolve_replicas(const std::string& name_and_port) {
  const auto colon = name_and_port.rfind(':');
  if (colon == std::string::npos) return {};
  const std::string name = name_and_port.substr(0, colon), port = name_and_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(name.c_str(), port.c_str(), &hints, &found) != 0) return {};
  std::set<std::string> out;
  for (const addrinfo* a = found; a; a = a->ai_next) {
    char host[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    out.insert(std::string(host) + ":" + port);
  }
  freeaddrinfo(found);
  return {out.begin(), out.end()};
}

// Whether a replica accepts TCP connections now.
static bool replica_reachable(const std::string& endpoint, std::chrono::milliseconds timeout) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = endpoint.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), endpoint.c_str() + colon + 1, &hints, &found) != 0) return false;
  bool ok = false;
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    if (connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int error = 0;
      socklen_t len = sizeof error;
      ok = poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
           getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return ok;
}

// One gateway replica: its exporter, a bounded queue and the thread that sends it.
struct GatewayRouter::Link {
  std::string endpoint;
  OtlpHttpExporter exporter;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<otlp::ExportRequest> queue;
  std::deque<std::pair<Clock::time_point, std::size_t>> recent;  // spans sent, for in-flight counting
  bool stopping = false;
  std::thread thread;

  Link(std::string endpoint_, std::chrono::milliseconds timeout, MetricsRegistry& metrics)
      : endpoint(std::move(endpoint_)),
        exporter(OtlpHttpExporterOptions{.endpoint = gateway_url(endpoint), .timeout = timeout},
                 "gateway " + endpoint, metrics) {}

  // Spans sent within `window` before now (their partners may hash elsewhere once this replica leaves).
  std::size_t sent_within(std::chrono::milliseconds window) {
    std::lock_guard lock(mutex);
    const auto since = Clock::now() - window;
    std::size_t n = 0;
    for (const auto& [at, spans] : recent)
      if (at >= since) n += spans;
    return n;
  }
  void stop_and_join() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (thread.joinable()) thread.join();
  }
};

GatewayRouter::GatewayRouter(GatewayRouterOptions options, MetricsRegistry& metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      anchored_spans_(metrics.counter("otelbpf_gateway_sent_spans_total",
                                      "Spans sent to the gateway tier", {{"kind", "anchored"}})),
      reference_spans_(metrics.counter("otelbpf_gateway_sent_spans_total", "Spans sent to the gateway tier",
                                       {{"kind", "reference"}})),
      rehashes_(metrics.counter("otelbpf_gateway_rehashes_total",
                                "Changes of the gateway replica set (discovery, failures, returns)")),
      in_flight_at_rehash_(metrics.counter(
          "otelbpf_gateway_in_flight_spans_at_rehash_total",
          "Spans sent to a gateway replica shortly before it left the ring: their partners may hash elsewhere")),
      rerouted_spans_(metrics.counter("otelbpf_gateway_rerouted_spans_total",
                                      "Spans re-sent to the new owner of their key after a replica failed")),
      dropped_queue_full_(metrics.counter("otelbpf_gateway_dropped_spans_total",
                                          "Spans for the gateway tier dropped", {{"reason", "queue_full"}})),
      members_gauge_(metrics.gauge("otelbpf_gateway_replicas", "Gateway replicas in the hash ring")) {
  discovered_ = options_.dns.empty() ? options_.endpoints : resolve_replicas(options_.dns);
  {
    std::lock_guard lock(mutex_);
    rebuild_ring_locked("start");
  }
  spdlog::info("gateway routing: {} replica(s){}", ring_.endpoints().size(),
               options_.dns.empty() ? "" : " from DNS " + options_.dns);
  refresher_ = std::thread([this] { refresh_loop(); });
}

GatewayRouter::~GatewayRouter() { stop(); }

void GatewayRouter::stop() {
  std::map<std::string, std::shared_ptr<Link>> links;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    links.swap(links_);
  }
  wake_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  for (auto& [endpoint, link] : links) {
    link->stop_and_join();
    std::size_t left = 0;
    for (const auto& request : link->queue) left += count_spans(request);
    if (left) dropped_queue_full_.inc(left);
  }
}

std::vector<std::string> GatewayRouter::ring_members() const {
  std::lock_guard lock(mutex_);
  return ring_.endpoints();
}

void GatewayRouter::rebuild_ring_locked(const char* why) {
  const auto now = Clock::now();
  std::vector<std::string> members;
  for (const auto& endpoint : discovered_) {
    auto down = down_until_.find(endpoint);
    if (down != down_until_.end() && down->second > now) continue;
    members.push_back(endpoint);
  }
  HashRing next(members);
  if (next.endpoints() == ring_.endpoints() && !ring_.empty()) return;
  const bool changed = next.endpoints() != ring_.endpoints();
  // Replicas leaving the ring: what they were sent lately may miss its partner, which now hashes elsewhere.
  for (const auto& old : ring_.endpoints())
    if (!std::binary_search(next.endpoints().begin(), next.endpoints().end(), old))
      if (auto link = links_.find(old); link != links_.end())
        in_flight_at_rehash_.inc(link->second->sent_within(options_.in_flight_window));
  if (changed && !ring_.endpoints().empty()) {
    rehashes_.inc();
    spdlog::info("gateway ring ({}): {} -> {} replica(s)", why, ring_.endpoints().size(), next.endpoints().size());
  }
  ring_ = std::move(next);
  members_gauge_.set(static_cast<std::int64_t>(ring_.endpoints().size()));
  for (const auto& endpoint : ring_.endpoints()) {
    if (links_.contains(endpoint)) continue;
    auto link = std::make_shared<Link>(endpoint, options_.timeout, metrics_);
    link->thread = std::thread([this, raw = link.get()] {
      for (;;) {
        otlp::ExportRequest request;
        {
          std::unique_lock lock(raw->mutex);
          raw->wake.wait(lock, [&] { return raw->stopping || !raw->queue.empty(); });
          if (raw->stopping) return;
          request = std::move(raw->queue.front());
          raw->queue.pop_front();
        }
        const std::size_t spans = count_spans(request);
        const ExportOutcome outcome = raw->exporter.send(request);
        if (outcome.kind == ExportOutcome::Kind::kOk) {
          std::lock_guard lock(raw->mutex);
          raw->recent.emplace_back(Clock::now(), spans);
          while (raw->recent.size() > 4096 ||
                 (!raw->recent.empty() && raw->recent.front().first < Clock::now() - options_.in_flight_window))
            raw->recent.pop_front();
        } else {
          spdlog::warn("gateway {}: {} ({} spans re-routed)", raw->endpoint, outcome.reason, spans);
          on_send_failed(raw->endpoint, std::move(request));
        }
      }
    });
    links_.emplace(endpoint, std::move(link));
  }
}

void GatewayRouter::on_send_failed(const std::string& endpoint, otlp::ExportRequest request) {
  std::deque<otlp::ExportRequest> queued;
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  down_until_[endpoint] = Clock::now() + options_.down_for;
  rebuild_ring_locked("send failed");
  if (auto link = links_.find(endpoint); link != links_.end()) {
    std::lock_guard link_lock(link->second->mutex);
    queued.swap(link->second->queue);
  }
  queued.push_front(std::move(request));
  for (auto& r : queued) {
    rerouted_spans_.inc(count_spans(r));
    dispatch_locked(std::move(r));
  }
}

void GatewayRouter::dispatch_locked(otlp::ExportRequest request) {
  if (ring_.empty()) {
    dropped_queue_full_.inc(count_spans(request));
    return;
  }
  RequestsByDestination parts;
  for (int ri = 0; ri < request.resource_spans_size(); ++ri) {
    auto& rs = *request.mutable_resource_spans(ri);
    for (int si = 0; si < rs.scope_spans_size(); ++si) {
      auto& ss = *rs.mutable_scope_spans(si);
      for (auto& span : *ss.mutable_spans()) {
        const std::string* key = routing_key(span);
        const std::string* owner = ring_.owner(key ? *key : span.span_id());
        parts.add(*owner, rs, ss, ri, si, std::move(span));
      }
    }
  }
  for (auto& [endpoint, part] : parts.requests()) {
    auto link = links_.find(endpoint);
    if (link == links_.end()) continue;
    const std::size_t spans = count_spans(part);
    {
      std::lock_guard lock(link->second->mutex);
      if (link->second->queue.size() >= options_.max_queued_requests) {
        dropped_queue_full_.inc(spans);
        continue;
      }
      link->second->queue.push_back(std::move(part));
    }
    link->second->wake.notify_one();
  }
}

void GatewayRouter::route(SpanBatch& batch) {
  otlp::ExportRequest to_gateways;
  std::size_t anchored = 0, references = 0;
  std::lock_guard lock(mutex_);
  const bool have_gateways = !ring_.empty() && !stopping_;
  auto& resources = *batch.request().mutable_resource_spans();
  for (auto& rs : resources) {
    otlp::ResourceSpans* out_rs = nullptr;
    for (auto& ss : *rs.mutable_scope_spans()) {
      otlp::ScopeSpans* out_ss = nullptr;
      auto take_scope = [&]() -> otlp::ScopeSpans* {
        if (!out_rs) {
          out_rs = to_gateways.add_resource_spans();
          *out_rs->mutable_resource() = rs.resource();
          out_rs->set_schema_url(rs.schema_url());
        }
        if (!out_ss) {
          out_ss = out_rs->add_scope_spans();
          *out_ss->mutable_scope() = ss.scope();
          out_ss->set_schema_url(ss.schema_url());
        }
        return out_ss;
      };
      google::protobuf::RepeatedPtrField<otlp::Span> kept;
      for (auto& span : *ss.mutable_spans()) {
        const bool is_anchored = string_attribute(span, attr::kGatewayKey) != nullptr;
        const bool is_reference = string_attribute(span, attr::kGatewayReference) != nullptr;
        if (have_gateways && is_anchored) {
          ++anchored;
          *take_scope()->add_spans() = std::move(span);
          continue;
        }
        if (have_gateways && is_reference) {
          ++references;
          *take_scope()->add_spans() = span;  // the copy keeps the mark: the gateway links with it, not exports it
        }
        strip_attribute(span, attr::kGatewayKey);
        strip_attribute(span, attr::kGatewayReference);
        kept.Add(std::move(span));
      }
      ss.mutable_spans()->Swap(&kept);
    }
  }
  // Resources and scopes whose every span went to the gateways leave the node's export empty-handed.
  drop_empty_groups(batch.request());
  if (anchored + references == 0) return;
  anchored_spans_.inc(anchored);
  reference_spans_.inc(references);
  dispatch_locked(std::move(to_gateways));
}

void GatewayRouter::refresh_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.refresh);
    if (stopping_) break;
    if (!options_.dns.empty()) {
      lock.unlock();
      auto found = resolve_replicas(options_.dns);  // blocking: outside the lock
      lock.lock();
      // A name that does not resolve for a moment (DNS hiccup) keeps the last known set.
      if (!found.empty()) discovered_ = std::move(found);
    }
    // A replica that stopped accepting connections leaves the ring now, not when a send to it fails: a
    // node whose keys all hash elsewhere would otherwise keep it (and so disagree with the other nodes).
    const auto members = ring_.endpoints();
    lock.unlock();
    std::vector<std::string> unreachable;
    for (const auto& endpoint : members)
      if (!replica_reachable(endpoint, std::chrono::milliseconds(500))) unreachable.push_back(endpoint);
    lock.lock();
    for (const auto& endpoint : unreachable) {
      spdlog::warn("gateway {}: not accepting connections; leaves the ring for {} s", endpoint,
                   std::chrono::duration_cast<std::chrono::seconds>(options_.down_for).count());
      down_until_[endpoint] = Clock::now() + options_.down_for;
    }
    rebuild_ring_locked(!unreachable.empty() ? "unreachable" : options_.dns.empty() ? "recheck" : "discovery");
  }
}

}  // namespace otelbpf::gateway
