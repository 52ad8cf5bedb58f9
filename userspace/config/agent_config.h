#pragma once
// The agent's configuration: embedded defaults (config/otelbpf.yaml) < YAML file < OTELBPF_* environment
// < --set flags. Unknown keys are errors, so a typo never silently falls back to a default. The one
// exception: a file may be a DeepFlow agent-group config, whose top-level DeepFlow keys are applied where
// otelbpf has the feature and otherwise reported back (not refused), so such a file works unchanged.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace otelbpf {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct OtlpEndpointConfig {
  bool enabled = false;
  std::string endpoint;
  std::string compression;
  std::uint32_t timeout_ms = 10000;
  std::map<std::string, std::string> headers;
  struct {
    bool enabled = false;  // gRPC endpoints without a scheme only (https:// says it itself)
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    bool insecure_skip_verify = false;
  } tls;
};

// receiver.<transport>.tls: a certificate makes the listener TLS; a client CA makes it mutual TLS.
struct ListenerTlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
};

struct AgentConfig {
  std::string log_level;
  std::string node_name;
  std::uint64_t memory_limit_mib = 640;  // the memory budget (common/memory_budget.h)
  enum class Mode { kAgent, kGateway } mode = Mode::kAgent;
  struct Gateway {
    std::vector<std::string> endpoints;
    std::string dns;
    std::uint32_t refresh_seconds;
    std::uint32_t down_seconds;
    bool enabled() const { return !endpoints.empty() || !dns.empty(); }
  } gateway{};

  struct HttpReceiver {
    bool enabled;
    std::string listen;
    std::uint16_t port;
    int threads;
    std::uint64_t max_body_bytes;
    std::uint64_t max_decompressed_bytes;
    std::uint32_t body_timeout_ms;
    std::uint32_t idle_timeout_ms;
    std::uint32_t retry_after_seconds;
    std::uint32_t max_connections;
    int decode_threads;
    ListenerTlsConfig tls;
  } http{};
  struct GrpcReceiver {
    bool enabled;
    std::string listen;
    std::uint64_t max_message_bytes;
    std::uint64_t quota_memory_bytes;
    int max_threads;
    int max_concurrent_streams;
    ListenerTlsConfig tls;
  } grpc{};
  // Addresses of other otelbpf agents whose spans may claim a sys or net source (docs/linking.md, "Trust").
  std::vector<std::string> peer_agents;
  struct Pipeline {
    std::uint64_t max_batches;
    std::uint64_t max_spans;
  } pipeline{};
  struct Probes {
    bool enabled;
    std::uint32_t payload_capture_bytes;
    std::uint32_t ringbuf_bytes;
    std::string event_transport;
    std::vector<std::uint32_t> pids;
    std::uint64_t cgroup_id;
    std::vector<std::uint16_t> ignore_ports;
    std::uint32_t max_connections;
    std::uint32_t connection_idle_seconds;
    bool send_start_marks;
    bool tls_enabled;
    std::uint32_t tls_rescan_seconds;
  } probes{};
  struct Redaction {
    bool url_query;
    std::vector<std::string> url_query_allow;
  } redaction{};
  struct Netcap {
    bool enabled;
    std::vector<std::string> interfaces;
    bool include_loopback;
    std::uint32_t payload_capture_bytes;
    std::uint32_t max_events_per_cpu_per_second;
    std::uint32_t ringbuf_bytes;
    std::uint32_t max_flows;
    std::uint32_t flow_idle_seconds;
    std::string state_dir;
  } netcap{};
  struct Assembler {
    std::uint32_t link_window_ms;
    std::uint64_t max_buffered_spans;
    bool reparent_app_server_spans;
    std::uint32_t max_link_wait_ms;
    std::uint32_t assumed_app_lag_ms;
  } assembler{};
  struct Ui {
    bool enabled;
    std::string listen;
    std::uint16_t port;
    std::uint64_t store_mib;
    std::uint64_t max_traces;
    std::uint64_t max_spans_per_trace;
    std::uint64_t max_new_traces_per_second;
  } ui{};
  struct Exporters {
    std::uint64_t queue_batches;
    std::uint64_t max_batch_spans;
    std::uint64_t max_request_bytes;
    std::uint32_t batch_delay_ms;
    std::uint32_t initial_backoff_ms;
    std::uint32_t max_backoff_ms;
    std::uint32_t max_retry_seconds;
    std::string spool_dir;
    std::uint64_t spool_max_bytes;
    std::uint32_t shutdown_timeout_ms;
    struct {
      bool enabled;
      std::string path;
      std::uint64_t max_bytes;
      std::uint32_t keep_files;
      std::uint64_t drop_behind_bytes;
    } file;
    OtlpEndpointConfig otlp_http;
    OtlpEndpointConfig otlp_grpc;
  } exporters{};
  struct Kubernetes {
    std::string mode;  // auto | on | off
    std::string api_url;
    std::string token_file;
    std::string ca_file;
    bool insecure_skip_tls_verify;
    std::uint32_t token_reread_seconds;
    std::uint32_t page_size;
    std::uint32_t watch_timeout_seconds;
    std::uint32_t resync_seconds;
    std::uint32_t initial_backoff_ms;
    std::uint32_t max_backoff_ms;
    std::uint32_t deleted_pod_retention_seconds;
    std::string proc_root;
    std::string cgroup_root;  // the cgroup v2 mount; "" = found in /proc/self/mountinfo
    std::uint64_t max_cached_processes;
  } kubernetes{};
};

struct ConfigSources {
  std::string file;                                // --config path ("" = none)
  std::vector<std::string> set_overrides;          // "a.b.c=value"
  std::map<std::string, std::string> environment;  // OTELBPF_* variables (name -> value)
};

// The embedded defaults as YAML text (config/otelbpf.yaml).
const char* default_config_yaml();

// Merges all sources into one YAML tree (throws ConfigError naming the bad key or value). Top-level
// DeepFlow agent-group keys of the file that otelbpf does not use (vtap_group_id, max_memory, ...) are left
// out of the tree and, when `ignored_deepflow_keys` is given, listed there in file order for one warning.
YAML::Node merge_config(const ConfigSources& sources,
                        std::vector<std::string>* ignored_deepflow_keys = nullptr);

// Whether `key` is a top-level key of a DeepFlow (v6.x) agent-group config that otelbpf does not use.
bool is_ignored_deepflow_key(const std::string& key);

// Typed view of a merged tree, with range checks.
AgentConfig parse_config(const YAML::Node& merged);

// Collects the OTELBPF_* variables of this process.
std::map<std::string, std::string> otelbpf_environment();

}  // namespace otelbpf
