#pragma once
// The agent's Kubernetes API client: keeps PodCache equal to the pods of this node (docs/design.md, Pod attribution) by
// LIST (paged with limit/continue) then WATCH from the list's resourceVersion, on its own thread.
//
// The API going away never stops tracing: attribution keeps answering from the cache while the client
// reconnects with exponential backoff and jitter. A watch that falls too far behind (410 Gone, as an HTTP
// answer or as an ERROR event carrying a Status with code 410) starts over with a fresh LIST.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "k8s/pod_cache.h"

namespace otelbpf::k8s {

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubeClientOptions {
  std::string api_url;     // "https://10.96.0.1:443" or "http://127.0.0.1:8001" (kubectl proxy)
  std::string token_file;  // bearer token, re-read every token_reread ("" = none)
  std::string ca_file;     // PEM bundle that verifies the API server ("" = the system's)
  bool insecure_skip_tls_verify = false;
  std::string node_name;                    // LIST/WATCH only pods with spec.nodeName=<node> ("" = every pod)
  std::chrono::seconds token_reread{60};    // projected service-account tokens rotate (about hourly)
  std::uint32_t page_size = 500;            // LIST limit; the rest follows with continue
  std::chrono::seconds watch_timeout{300};  // timeoutSeconds: the server ends a watch after this
  // A LIST from scratch this often even when the watch is healthy (0 = only after 410 Gone).
  std::chrono::seconds resync{0};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};  // a LIST page must arrive within this
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
};

// Where the API is: in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service-account token and CA), else
// nullopt. `environment` lets tests supply the variables.
std::optional<KubeClientOptions> in_cluster_options(const std::map<std::string, std::string>& environment);

// kubernetes.mode: auto (use the API when one is configured or the agent runs in a cluster), on, off.
enum class KubernetesMode { kAuto, kOn, kOff };
// Throws std::invalid_argument for anything but auto, on, off.
KubernetesMode parse_kubernetes_mode(const std::string& text);

// The client's options with what the configuration left empty taken from the in-cluster environment, or
// nullopt for host mode (off, or auto with neither an api_url nor the in-cluster variables). Throws
// std::runtime_error for mode on with no API to reach, so a misconfigured DaemonSet says so at start-up.
std::optional<KubeClientOptions> resolve_kube_client_options(
    KubernetesMode mode, KubeClientOptions configured, const std::map<std::string, std::string>& environment);

// The node's name: the configured one, else $NODE_NAME (the downward API in the DaemonSet), else the host
// name.
std::string resolve_node_name(const std::string& configured,
                              const std::map<std::string, std::string>& environment);

// The variables the two functions above read, from this process's environment.
std::map<std::string, std::string> kubernetes_environment();

// Delay before reconnect attempt `attempt` (0-based): initial * 2^attempt capped at max, then "equal
// jitter" (half fixed, half random) so that the agents of a cluster do not reconnect in step.
// `random01` is in [0, 1).
std::chrono::milliseconds backoff_delay(std::uint32_t attempt, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds max, double random01);

class KubeClient {
 public:
  KubeClient(KubeClientOptions options, PodCache& cache, MetricsRegistry& metrics = default_metrics());
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // Starts the thread; returns at once (the first LIST completes in the background).
  void start();
  // Interrupts any request in flight and joins the thread.
  void stop();

  // True once a LIST has completed (the cache holds the node's pods).
  bool synced() const { return synced_.load(); }
  // Blocks until synced or the timeout passes; true when synced.
  bool wait_synced(std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  void run();

  KubeClientOptions options_;
  PodCache& cache_;
  MetricsRegistry& metrics_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<bool> synced_{false};
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
};

}  // namespace otelbpf::k8s
