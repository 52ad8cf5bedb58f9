#include "k8s/kube_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "common/proc_file.h"
#include "k8s/api_transport.h"
#include "k8s/pod_json.h"

namespace otelbpf::k8s {
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kMaxListPageBytes = 512ull << 20;
constexpr std::size_t kMaxWatchLineBytes = 64u << 20;
constexpr std::size_t kMaxErrorBodyBytes = 64u << 10;

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string env_or(const std::map<std::string, std::string>& env, const char* name,
                   std::string fallback = {}) {
  auto it = env.find(name);
  return it == env.end() || it->second.empty() ? fallback : it->second;
}

// How one LIST or WATCH ended: kOk is a LIST complete, or a WATCH the server ended (timeoutSeconds).
using Outcome = ApiOutcome;

}  // namespace

std::chrono::milliseconds backoff_delay(std::uint32_t attempt, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds max, double random01) {
  const auto cap = std::max<std::int64_t>(1, max.count());
  std::int64_t delay = std::max<std::int64_t>(1, initial.count());
  for (std::uint32_t i = 0; i < attempt && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  const double half = static_cast<double>(delay) / 2.0;
  return std::chrono::milliseconds(static_cast<std::int64_t>(half + half * std::clamp(random01, 0.0, 1.0)));
}

std::optional<KubeClientOptions> in_cluster_options(const std::map<std::string, std::string>& environment) {
  const auto host = env_or(environment, "KUBERNETES_SERVICE_HOST");
  if (host.empty()) return std::nullopt;
  const auto port = env_or(environment, "KUBERNETES_SERVICE_PORT", "443");
  KubeClientOptions options;
  options.api_url = host.find(':') != std::string::npos ? fmt::format("https://[{}]:{}", host, port)
                                                        : fmt::format("https://{}:{}", host, port);
  options.token_file = std::string(kServiceAccountDir) + "/token";
  options.ca_file = std::string(kServiceAccountDir) + "/ca.crt";
  return options;
}

KubernetesMode parse_kubernetes_mode(const std::string& text) {
  if (text == "auto") return KubernetesMode::kAuto;
  if (text == "on") return KubernetesMode::kOn;
  if (text == "off") return KubernetesMode::kOff;
  throw std::invalid_argument("kubernetes.mode must be auto, on or off, not '" + text + "'");
}

std::optional<KubeClientOptions> resolve_kube_client_options(
    KubernetesMode mode, KubeClientOptions configured,
    const std::map<std::string, std::string>& environment) {
  if (mode == KubernetesMode::kOff) return std::nullopt;
  if (configured.api_url.empty()) {
    auto cluster = in_cluster_options(environment);
    if (!cluster) {
      if (mode == KubernetesMode::kOn)
        throw std::runtime_error(
            "kubernetes.mode is on but kubernetes.api_url is empty and KUBERNETES_SERVICE_HOST is not set");
      return std::nullopt;
    }
    configured.api_url = cluster->api_url;
    if (configured.token_file.empty()) configured.token_file = cluster->token_file;
    if (configured.ca_file.empty()) configured.ca_file = cluster->ca_file;
  }
  return configured;
}

std::string resolve_node_name(const std::string& configured,
                              const std::map<std::string, std::string>& environment) {
  if (!configured.empty()) return configured;
  if (auto node = env_or(environment, "NODE_NAME"); !node.empty()) return node;
  return host_name();
}

std::map<std::string, std::string> kubernetes_environment() {
  std::map<std::string, std::string> env;
  for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "NODE_NAME"})
    if (const char* value = std::getenv(name)) env[name] = value;
  return env;
}

struct KubeClient::Impl {
  KubeClientOptions& options;
  PodCache& cache;
  Gauge& pods;
  MetricsRegistry& metrics;
  ApiTransport api;
  PodJsonDecoder decoder;
  std::mt19937_64 rng{std::random_device{}()};
  std::string resource_version;
  Clock::time_point listed_at{};
  std::string last_error;

  Impl(KubeClientOptions& o, PodCache& c, MetricsRegistry& m)
      : options(o),
        cache(c),
        pods(m.gauge("otelbpf_k8s_pods", "Pods of this node in the attribution cache")),
        metrics(m),
        api(o, [this](std::string_view reason, std::string message) {
          count_error(reason, std::move(message));
        }) {}

  void count_error(std::string_view reason, std::string message) {
    metrics
        .counter("otelbpf_k8s_api_errors_total", "Failed Kubernetes API requests, by reason",
                 {{"reason", std::string(reason)}})
        .inc();
    last_error = std::move(message);
  }
  void count_restart(const char* reason) {
    metrics
        .counter("otelbpf_k8s_watch_restarts_total", "Pod watches started again, by why the last one ended",
                 {{"reason", reason}})
        .inc();
  }

  std::string pods_target(const std::string& extra) const {
    std::string target = "/api/v1/pods?";
    if (!options.node_name.empty())
      target += "fieldSelector=" + url_encode("spec.nodeName=" + options.node_name) + "&";
    return target + extra;
  }

  // A non-200 answer: 410 is the expected "too old"; 401/403 name RBAC or token trouble.
  Outcome http_failure(unsigned status, const std::string& body, const char* what) {
    if (status == 410) return Outcome::kGone;
    if (status == 401) api.token_refused();
    count_error(fmt::format("http_{}", status),
                fmt::format("{} answered HTTP {}: {}", what, status, body.substr(0, 512)));
    return Outcome::kFailed;
  }

  Outcome list() {
    std::vector<PodInfo> pods_listed;
    std::string continue_token;
    PodListPage page;
    do {
      std::string query = fmt::format("limit={}", options.page_size);
      if (!continue_token.empty()) query += "&continue=" + url_encode(continue_token);
      unsigned status = 0;
      std::string body;
      if (auto o = api.get(pods_target(query), kMaxListPageBytes, status, body); o != Outcome::kOk) return o;
      // An expired continue token is a 410 too: the list starts over from its first page.
      if (status != 200) return http_failure(status, body, "pod LIST");
      std::string error;
      if (!decoder.decode_pod_list(body, page, error)) {
        count_error("decode", error);
        return Outcome::kFailed;
      }
      for (auto& p : page.items) pods_listed.push_back(std::move(p));
      continue_token = page.continue_token;
    } while (!continue_token.empty());
    const auto count = pods_listed.size();
    cache.replace_all(std::move(pods_listed));
    pods.set(static_cast<std::int64_t>(cache.size()));
    resource_version = page.resource_version;
    listed_at = Clock::now();
    spdlog::info("kubernetes: {} pods on node {} (resourceVersion {})", count,
                 options.node_name.empty() ? "<all>" : options.node_name, resource_version);
    return Outcome::kOk;
  }

  // Applies one WatchEvent line; returns kOk to go on reading.
  Outcome apply(std::string_view line, std::size_t& events) {
    WatchEvent event;
    std::string error;
    if (!decoder.decode_watch_event(line, event, error)) {
      count_error("decode", error);
      return Outcome::kFailed;
    }
    switch (event.type) {
      case WatchEventType::kAdded:
      case WatchEventType::kModified:
        cache.upsert(event.pod);
        break;
      case WatchEventType::kDeleted:
        cache.remove(event.pod.uid);
        break;
      case WatchEventType::kBookmark:
        break;
      case WatchEventType::kError:
        if (event.status_code == 410) return Outcome::kGone;
        count_error("watch_error", fmt::format("watch ERROR event: code {} {}: {}", event.status_code,
                                               event.status_reason, event.status_message));
        return Outcome::kFailed;
    }
    if (!event.pod.resource_version.empty()) resource_version = event.pod.resource_version;
    pods.set(static_cast<std::int64_t>(cache.size()));
    ++events;
    return Outcome::kOk;
  }

  Outcome watch(std::chrono::seconds timeout, std::size_t& events) {
    const auto query = fmt::format("watch=1&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={}",
                                   url_encode(resource_version), timeout.count());
    unsigned status = 0;
    if (auto o = api.open_stream(pods_target(query), status); o != Outcome::kOk) return o;
    // Bookmarks arrive about once a minute and the server ends the watch at timeoutSeconds: silence well
    // past that is a dead connection.
    const auto idle =
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout) + std::chrono::seconds(60);
    std::string pending;
    while (!api.stream_done()) {
      const Outcome read = api.read_stream(pending, status == 200 ? idle : options.request_timeout);
      if (read == Outcome::kStopped) return read;
      if (status != 200) {
        if (pending.size() > kMaxErrorBodyBytes || read != Outcome::kOk) break;
        continue;
      }
      // Events are newline-delimited JSON; chunk boundaries fall anywhere.
      std::size_t start = 0;
      for (auto newline = pending.find('\n'); newline != std::string::npos;
           newline = pending.find('\n', start)) {
        const std::string_view line(pending.data() + start, newline - start);
        start = newline + 1;
        if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
        if (auto o = apply(line, events); o != Outcome::kOk) return o;
      }
      pending.erase(0, start);
      if (pending.size() > kMaxWatchLineBytes) {
        count_error("decode", "watch event longer than 64 MiB");
        return Outcome::kFailed;
      }
      if (read == Outcome::kDisconnected) {
        count_error("read", fmt::format("watch connection lost: {}", api.stream_error()));
        return Outcome::kDisconnected;
      }
    }
    if (status != 200) return http_failure(status, pending, "pod WATCH");
    // A last event without its newline (the stream ended right after it).
    if (pending.find_first_not_of(" \r\t\n") != std::string::npos)
      if (auto o = apply(pending, events); o != Outcome::kOk) return o;
    return Outcome::kOk;
  }
};

KubeClient::KubeClient(KubeClientOptions options, PodCache& cache, MetricsRegistry& metrics)
    : options_(std::move(options)), cache_(cache), metrics_(metrics) {
  // Throws std::invalid_argument for a URL or CA file the transport cannot use.
  impl_ = std::make_unique<Impl>(options_, cache_, metrics_);
  metrics_.gauge("otelbpf_k8s_pods", "Pods of this node in the attribution cache").set(0);
}

KubeClient::~KubeClient() { stop(); }

void KubeClient::start() {
  if (thread_.joinable()) return;
  spdlog::info("kubernetes: watching pods of node {} at {}",
               options_.node_name.empty() ? "<all>" : options_.node_name, options_.api_url);
  thread_ = std::thread([this] { run(); });
}

void KubeClient::stop() {
  if (!impl_) return;
  impl_->api.stop();
  if (thread_.joinable()) thread_.join();
}

bool KubeClient::wait_synced(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return synced_.load(); });
}

void KubeClient::run() {
  auto& i = *impl_;
  std::uint32_t attempt = 0;
  bool need_list = true;
  auto back_off = [&](const char* what) {
    const auto delay = backoff_delay(attempt, options_.initial_backoff, options_.max_backoff,
                                     std::uniform_real_distribution<double>(0.0, 1.0)(i.rng));
    ++attempt;
    spdlog::warn("kubernetes: {} ({}); attribution uses the cached pods, retrying in {} ms", what,
                 i.last_error, delay.count());
    return i.api.sleep_for(delay);
  };
  while (!i.api.stopping()) {
    if (need_list) {
      const auto outcome = i.list();
      if (outcome == Outcome::kStopped) break;
      if (outcome == Outcome::kGone) {
        // An expired continue token: start the list again from its first page, after a breath.
        i.count_restart("gone");
        if (!i.api.sleep_for(options_.initial_backoff)) break;
        continue;
      }
      if (outcome != Outcome::kOk) {
        if (!back_off("pod LIST failed")) break;
        continue;
      }
      need_list = false;
      attempt = 0;
      {
        std::lock_guard lock(mutex_);
        synced_ = true;
      }
      changed_.notify_all();
    }
    auto timeout = options_.watch_timeout;
    if (options_.resync.count() > 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::seconds>(i.listed_at + options_.resync - Clock::now());
      timeout = std::clamp(left, std::chrono::seconds(1), timeout);
    }
    std::size_t events = 0;
    const auto outcome = i.watch(timeout, events);
    if (events > 0) attempt = 0;
    switch (outcome) {
      case Outcome::kStopped:
        return;
      case Outcome::kGone:
        spdlog::info("kubernetes: watch resourceVersion {} expired (410 Gone); listing again",
                     i.resource_version);
        i.count_restart("gone");
        need_list = true;
        break;
      case Outcome::kOk:
        if (options_.resync.count() > 0 && Clock::now() >= i.listed_at + options_.resync) {
          i.count_restart("resync");
          need_list = true;
        } else {
          i.count_restart("closed");
        }
        break;
      case Outcome::kDisconnected:
        i.count_restart("disconnected");
        if (!back_off("pod watch disconnected")) return;
        break;
      case Outcome::kFailed:
        i.count_restart("error");
        if (!back_off("pod WATCH failed")) return;
        break;
    }
  }
}

}  // namespace otelbpf::k8s
