#include "config/agent_config.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>

extern char** environ;

namespace otelbpf {
extern const char* const kDefaultConfigYaml;

namespace {

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + sep.size();
  }
  return parts;
}

// Top-level keys of a DeepFlow v6.x agent-group config (the yaml names of the server's
// VTapGroupConfiguration, what `deepflow-ctl agent-group-config list <id> -o yaml` exports), minus the ones
// otelbpf honours: external_agent_http_proxy_enabled/port (the receiver) and log_level. Users moving from
// DeepFlow keep one file for both agents, so these are named in a warning, not refused; any other unknown
// key is still a typo and refused.
// clang-format off
constexpr std::string_view kIgnoredDeepflowKeys[] = {
    "vtap_group_id", "vtap_group_lcuuid", "max_collect_pps", "max_npb_bps", "max_cpus", "max_millicpus",
    "max_memory", "sys_free_memory_limit", "sync_interval", "platform_sync_interval", "stats_interval",
    "rsyslog_enabled", "system_load_circuit_breaker_threshold", "system_load_circuit_breaker_recover",
    "system_load_circuit_breaker_metric", "max_tx_bandwidth", "bandwidth_probe_interval",
    "tap_interface_regex", "max_escape_seconds", "mtu", "output_vlan", "collector_socket_type",
    "compressor_socket_type", "npb_socket_type", "npb_vlan_mode", "collector_enabled", "vtap_flow_1s_enabled",
    "l4_log_tap_types", "l4_log_ignore_tap_sides", "l7_log_ignore_tap_sides", "npb_dedup_enabled",
    "platform_enabled", "if_mac_source", "vm_xml_path", "extra_netns_regex", "nat_ip_enabled",
    "capture_packet_size", "inactive_server_port_enabled", "inactive_ip_enabled", "log_threshold",
    "log_retention", "log_file_size", "http_log_proxy_client", "http_log_trace_id", "http_log_span_id",
    "http_log_x_request_id", "l7_log_packet_size", "l4_log_collect_nps_threshold",
    "l7_log_collect_nps_threshold", "l7_metrics_enabled", "l7_log_store_tap_types", "capture_socket_type",
    "capture_bpf", "tap_mode", "thread_threshold", "process_threshold", "ntp_enabled",
    "l4_performance_enabled", "pod_cluster_internal_ip", "domains", "decap_type",
    "prometheus_http_api_addresses", "analyzer_port", "analyzer_ip", "proxy_controller_port",
    "proxy_controller_ip", "wasm_plugins", "so_plugins", "static_config",
};
// clang-format on

// A copy of the file's top level without the DeepFlow keys otelbpf does not use, which are appended to
// `ignored`. Anything that is not a mapping is returned as it is, for merge_into to refuse by name.
YAML::Node without_ignored_deepflow_keys(const YAML::Node& file_node, std::vector<std::string>& ignored) {
  if (!file_node.IsMap()) return file_node;
  YAML::Node kept(YAML::NodeType::Map);
  for (const auto& item : file_node) {
    const auto key = item.first.as<std::string>();
    if (is_ignored_deepflow_key(key)) {
      ignored.push_back(key);
    } else {
      kept[key] = item.second;
    }
  }
  return kept;
}

// DeepFlow writes levels in capitals and says WARNING; anything else would reach spdlog, whose from_str
// turns an unknown name into "off" and silences the agent.
std::string normalized_log_level(const std::string& configured) {
  std::string level = configured;
  std::transform(level.begin(), level.end(), level.begin(), [](unsigned char c) { return std::tolower(c); });
  if (level == "warning") return "warn";
  if (level == "err") return "error";
  for (const char* known : {"trace", "debug", "info", "warn", "error", "critical", "off"})
    if (level == known) return level;
  throw ConfigError(fmt::format(
      "config: log_level must be trace, debug, info, warn, error, critical or off, not '{}'", configured));
}

// DeepFlow's switches are 0/1; true/false are accepted as well. Anything else is a mistake worth naming.
bool deepflow_switch(const YAML::Node& node, const std::string& key) {
  const auto text = node.as<std::string>();
  if (text == "1" || text == "true") return true;
  if (text == "0" || text == "false") return false;
  throw ConfigError(fmt::format("config: '{}' must be 1 or 0, not '{}'", key, text));
}

// Free-form maps (header lists) accept any key; everywhere else a key must exist in the defaults.
bool is_free_form(const YAML::Node& default_node) { return default_node.IsMap() && default_node.size() == 0; }

void merge_into(YAML::Node target, const YAML::Node& overlay, const std::string& path) {
  if (!overlay.IsMap())
    throw ConfigError(fmt::format("config: '{}' must be a mapping", path.empty() ? "/" : path));
  for (const auto& item : overlay) {
    const auto key = item.first.as<std::string>();
    const auto full = path.empty() ? key : path + "." + key;
    const YAML::Node& const_target = target;
    YAML::Node existing = const_target[key];
    if (!existing.IsDefined()) {
      if (!is_free_form(target)) throw ConfigError(fmt::format("config: unknown key '{}'", full));
      target[key] = YAML::Clone(item.second);
      continue;
    }
    if (existing.IsMap() && item.second.IsMap() && !is_free_form(existing)) {
      merge_into(existing, item.second, full);
    } else {
      target[key] = YAML::Clone(item.second);
    }
  }
}

// "a.b.c" = "value": the value is parsed as YAML so lists and numbers work (--set probes.pids=[1,2]).
void apply_override(YAML::Node root, const std::string& dotted, const std::string& value,
                    const char* origin) {
  const auto parts = split(dotted, ".");
  YAML::Node leaf;
  try {
    leaf = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("config: {} {}: cannot parse value '{}'", origin, dotted, value));
  }
  // An empty value means the empty string, not null (e.g. --set export.spool_dir=).
  if (leaf.IsNull() && value != "null" && value != "~") leaf = YAML::Node(value);
  // Build {a: {b: {c: leaf}}} from the inside out; yaml-cpp's operator= on a Node copies the value into
  // the referenced node, so reset() is what rebinds a handle.
  YAML::Node overlay = leaf;
  for (auto i = parts.size(); i-- > 0;) {
    YAML::Node wrapper(YAML::NodeType::Map);
    wrapper[parts[i]] = overlay;
    overlay.reset(wrapper);
  }
  merge_into(root, overlay, "");
}

// Read-only lookup of "a.b.c" (const access never inserts keys).
YAML::Node lookup(const YAML::Node& root, const std::string& dotted) {
  YAML::Node node;
  node.reset(root);
  for (const auto& part : split(dotted, ".")) {
    const YAML::Node& current = node;
    YAML::Node child = current[part];
    if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    node.reset(child);
  }
  return node;
}

template <typename T>
T get(const YAML::Node& root, const std::string& dotted) {
  const YAML::Node node = lookup(root, dotted);
  if (!node.IsDefined()) throw ConfigError(fmt::format("config: missing key '{}'", dotted));
  try {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      const auto wide = node.as<long long>();
      if (wide < static_cast<long long>(std::numeric_limits<T>::min()) ||
          static_cast<unsigned long long>(std::max(wide, 0LL)) > std::numeric_limits<T>::max())
        throw ConfigError(fmt::format("config: '{}' = {} is out of range", dotted, wide));
      return static_cast<T>(wide);
    } else {
      return node.as<T>();
    }
  } catch (const YAML::Exception&) {
    throw ConfigError(fmt::format("config: '{}' has an invalid value '{}'", dotted, YAML::Dump(node)));
  }
}

std::map<std::string, std::string> get_map(const YAML::Node& root, const std::string& dotted) {
  std::map<std::string, std::string> out;
  const YAML::Node node = lookup(root, dotted);
  if (node.IsMap())
    for (const auto& kv : node) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  return out;
}

OtlpEndpointConfig get_endpoint(const YAML::Node& root, const std::string& prefix) {
  OtlpEndpointConfig e;
  e.enabled = get<bool>(root, prefix + ".enabled");
  e.endpoint = get<std::string>(root, prefix + ".endpoint");
  if (prefix.ends_with("http")) e.compression = get<std::string>(root, prefix + ".compression");
  e.timeout_ms = get<std::uint32_t>(root, prefix + ".timeout_ms");
  e.headers = get_map(root, prefix + ".headers");
  e.tls.enabled = get<bool>(root, prefix + ".tls.enabled");
  e.tls.ca_file = get<std::string>(root, prefix + ".tls.ca_file");
  e.tls.cert_file = get<std::string>(root, prefix + ".tls.cert_file");
  e.tls.key_file = get<std::string>(root, prefix + ".tls.key_file");
  e.tls.insecure_skip_verify = get<bool>(root, prefix + ".tls.insecure_skip_verify");
  return e;
}

ListenerTlsConfig get_listener_tls(const YAML::Node& root, const std::string& prefix) {
  ListenerTlsConfig t;
  t.cert_file = get<std::string>(root, prefix + ".tls.cert_file");
  t.key_file = get<std::string>(root, prefix + ".tls.key_file");
  t.client_ca_file = get<std::string>(root, prefix + ".tls.client_ca_file");
  if (t.cert_file.empty() != t.key_file.empty())
    throw ConfigError(fmt::format("config: {}.tls needs both cert_file and key_file", prefix));
  if (t.cert_file.empty() && !t.client_ca_file.empty())
    throw ConfigError(fmt::format("config: {}.tls.client_ca_file needs a server cert_file", prefix));
  return t;
}

}  // namespace

const char* default_config_yaml() { return kDefaultConfigYaml; }

bool is_ignored_deepflow_key(const std::string& key) {
  return std::ranges::find(kIgnoredDeepflowKeys, key) != std::end(kIgnoredDeepflowKeys);
}

std::map<std::string, std::string> otelbpf_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    if (entry.rfind("OTELBPF_", 0) != 0) continue;
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

YAML::Node merge_config(const ConfigSources& sources, std::vector<std::string>* ignored_deepflow_keys) {
  YAML::Node root = YAML::Load(kDefaultConfigYaml);
  if (!sources.file.empty()) {
    std::ifstream in(sources.file);
    if (!in) throw ConfigError(fmt::format("config: cannot read '{}'", sources.file));
    std::stringstream text;
    text << in.rdbuf();
    YAML::Node file_node;
    try {
      file_node = YAML::Load(text.str());
    } catch (const YAML::Exception& e) {
      throw ConfigError(fmt::format("config: '{}' is not valid YAML: {}", sources.file, e.what()));
    }
    // Only the file may be a DeepFlow agent-group config: an OTELBPF_* variable or --set that names a key
    // otelbpf does not have is a mistake.
    std::vector<std::string> ignored;
    if (!file_node.IsNull()) merge_into(root, without_ignored_deepflow_keys(file_node, ignored), "");
    if (ignored_deepflow_keys) *ignored_deepflow_keys = std::move(ignored);
  }
  for (const auto& [name, value] : sources.environment) {
    // OTELBPF_RECEIVER__HTTP__PORT -> receiver.http.port
    std::string key = name.substr(std::string("OTELBPF_").size());
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string dotted;
    for (const auto& part : split(key, "__")) dotted += (dotted.empty() ? "" : ".") + part;
    apply_override(root, dotted, value, name.c_str());
  }
  for (const auto& assignment : sources.set_overrides) {
    auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(fmt::format("config: --set '{}' must look like section.key=value", assignment));
    apply_override(root, assignment.substr(0, eq), assignment.substr(eq + 1), "--set");
  }
  return root;
}

AgentConfig parse_config(const YAML::Node& root) {
  AgentConfig c;
  c.log_level = normalized_log_level(get<std::string>(root, "log_level"));
  c.node_name = get<std::string>(root, "node_name");
  c.memory_limit_mib = get<std::uint64_t>(root, "memory_limit_mib");
  if (c.memory_limit_mib < 16) throw ConfigError("config: memory_limit_mib must be at least 16");
  const auto mode = get<std::string>(root, "mode");
  if (mode != "agent" && mode != "gateway") throw ConfigError("config: mode must be agent or gateway");
  c.mode = mode == "gateway" ? AgentConfig::Mode::kGateway : AgentConfig::Mode::kAgent;
  c.gateway.endpoints = get<std::vector<std::string>>(root, "gateway.endpoints");
  c.gateway.dns = get<std::string>(root, "gateway.dns");
  c.gateway.refresh_seconds = get<std::uint32_t>(root, "gateway.refresh_seconds");
  c.gateway.down_seconds = get<std::uint32_t>(root, "gateway.down_seconds");
  if (c.gateway.refresh_seconds == 0) throw ConfigError("config: gateway.refresh_seconds must be at least 1");
  if (!c.gateway.dns.empty() && c.gateway.dns.find(':') == std::string::npos)
    throw ConfigError("config: gateway.dns must be name:port");
  if (c.mode == AgentConfig::Mode::kGateway && c.gateway.enabled())
    throw ConfigError("config: a gateway (mode: gateway) does not route to other gateways (gateway.endpoints/dns)");
  c.http.enabled = get<bool>(root, "receiver.http.enabled");
  c.http.listen = get<std::string>(root, "receiver.http.listen");
  c.http.port = get<std::uint16_t>(root, "receiver.http.port");
  // DeepFlow agent-group keys, so an existing `external_agent_http_proxy_*` config works unchanged.
  if (auto enabled = root["external_agent_http_proxy_enabled"]; enabled && !enabled.IsNull())
    c.http.enabled = deepflow_switch(enabled, "external_agent_http_proxy_enabled");
  if (auto port = root["external_agent_http_proxy_port"]; port && !port.IsNull())
    c.http.port = get<std::uint16_t>(root, "external_agent_http_proxy_port");
  c.http.threads = get<int>(root, "receiver.http.threads");
  c.http.max_connections = get<std::uint32_t>(root, "receiver.http.max_connections");
  c.http.decode_threads = get<int>(root, "receiver.http.decode_threads");
  c.http.tls = get_listener_tls(root, "receiver.http");
  c.http.max_body_bytes = get<std::uint64_t>(root, "receiver.http.max_body_bytes");
  c.http.max_decompressed_bytes = get<std::uint64_t>(root, "receiver.http.max_decompressed_bytes");
  c.http.body_timeout_ms = get<std::uint32_t>(root, "receiver.http.body_timeout_ms");
  c.http.idle_timeout_ms = get<std::uint32_t>(root, "receiver.http.idle_timeout_ms");
  c.http.retry_after_seconds = get<std::uint32_t>(root, "receiver.http.retry_after_seconds");
  c.grpc.enabled = get<bool>(root, "receiver.grpc.enabled");
  c.grpc.listen = get<std::string>(root, "receiver.grpc.listen");
  c.grpc.max_message_bytes = get<std::uint64_t>(root, "receiver.grpc.max_message_bytes");
  c.grpc.quota_memory_bytes = get<std::uint64_t>(root, "receiver.grpc.quota_memory_bytes");
  c.grpc.max_threads = get<int>(root, "receiver.grpc.max_threads");
  c.grpc.max_concurrent_streams = get<int>(root, "receiver.grpc.max_concurrent_streams");
  c.grpc.tls = get_listener_tls(root, "receiver.grpc");
  c.peer_agents = get<std::vector<std::string>>(root, "receiver.peer_agents");
  c.pipeline.max_batches = get<std::uint64_t>(root, "pipeline.max_batches");
  c.pipeline.max_spans = get<std::uint64_t>(root, "pipeline.max_spans");
  c.ui.enabled = get<bool>(root, "ui.enabled");
  c.ui.listen = get<std::string>(root, "ui.listen");
  c.ui.port = get<std::uint16_t>(root, "ui.port");
  c.ui.store_mib = get<std::uint64_t>(root, "ui.store_mib");
  c.ui.max_traces = get<std::uint64_t>(root, "ui.max_traces");
  c.ui.max_spans_per_trace = get<std::uint64_t>(root, "ui.max_spans_per_trace");
  c.ui.max_new_traces_per_second = get<std::uint64_t>(root, "ui.max_new_traces_per_second");
  if (c.ui.enabled && (c.ui.store_mib == 0 || c.ui.store_mib >= c.memory_limit_mib))
    throw ConfigError("config: ui.store_mib must be at least 1 and below memory_limit_mib");
  c.redaction.url_query = get<bool>(root, "redaction.url_query");
  c.redaction.url_query_allow = get<std::vector<std::string>>(root, "redaction.url_query_allow");
  c.probes.enabled = get<bool>(root, "probes.enabled");
  c.probes.payload_capture_bytes = get<std::uint32_t>(root, "probes.payload_capture_bytes");
  if (c.probes.payload_capture_bytes > 4096)
    throw ConfigError("config: probes.payload_capture_bytes must be at most 4096");
  c.probes.ringbuf_bytes = get<std::uint32_t>(root, "probes.ringbuf_bytes");
  c.probes.event_transport = get<std::string>(root, "probes.event_transport");
  if (c.probes.event_transport != "auto" && c.probes.event_transport != "ringbuf" &&
      c.probes.event_transport != "perfbuf")
    throw ConfigError("config: probes.event_transport must be auto, ringbuf or perfbuf");
  c.probes.pids = get<std::vector<std::uint32_t>>(root, "probes.pids");
  c.probes.cgroup_id = get<std::uint64_t>(root, "probes.cgroup_id");
  c.probes.ignore_ports = get<std::vector<std::uint16_t>>(root, "probes.ignore_ports");
  if (std::find(c.probes.ignore_ports.begin(), c.probes.ignore_ports.end(), 0) != c.probes.ignore_ports.end())
    throw ConfigError(
        "config: probes.ignore_ports cannot list 0: sockets the kernel is done with report local port 0, and "
        "their last reads would be dropped");
  c.probes.max_connections = get<std::uint32_t>(root, "probes.max_connections");
  c.probes.connection_idle_seconds = get<std::uint32_t>(root, "probes.connection_idle_seconds");
  c.probes.send_start_marks = get<bool>(root, "probes.send_start_marks");
  c.probes.tls_enabled = get<bool>(root, "probes.tls.enabled");
  c.probes.tls_rescan_seconds = get<std::uint32_t>(root, "probes.tls.rescan_seconds");
  if (c.probes.tls_rescan_seconds == 0) throw ConfigError("config: probes.tls.rescan_seconds must be at least 1");
  c.netcap.enabled = get<bool>(root, "netcap.enabled");
  c.netcap.interfaces = get<std::vector<std::string>>(root, "netcap.interfaces");
  c.netcap.include_loopback = get<bool>(root, "netcap.include_loopback");
  c.netcap.payload_capture_bytes = get<std::uint32_t>(root, "netcap.payload_capture_bytes");
  if (c.netcap.payload_capture_bytes > 1024)
    throw ConfigError("config: netcap.payload_capture_bytes must be at most 1024");
  c.netcap.max_events_per_cpu_per_second = get<std::uint32_t>(root, "netcap.max_events_per_cpu_per_second");
  c.netcap.ringbuf_bytes = get<std::uint32_t>(root, "netcap.ringbuf_bytes");
  c.netcap.max_flows = get<std::uint32_t>(root, "netcap.max_flows");
  if (c.netcap.max_flows == 0) throw ConfigError("config: netcap.max_flows must be positive");
  c.netcap.flow_idle_seconds = get<std::uint32_t>(root, "netcap.flow_idle_seconds");
  c.netcap.state_dir = get<std::string>(root, "netcap.state_dir");
  c.assembler.link_window_ms = get<std::uint32_t>(root, "assembler.link_window_ms");
  c.assembler.max_buffered_spans = get<std::uint64_t>(root, "assembler.max_buffered_spans");
  c.assembler.reparent_app_server_spans = get<bool>(root, "assembler.reparent_app_server_spans");
  c.assembler.max_link_wait_ms = get<std::uint32_t>(root, "assembler.max_link_wait_ms");
  c.assembler.assumed_app_lag_ms = get<std::uint32_t>(root, "assembler.assumed_app_lag_ms");
  auto& e = c.exporters;
  e.queue_batches = get<std::uint64_t>(root, "export.queue_batches");
  e.max_batch_spans = get<std::uint64_t>(root, "export.max_batch_spans");
  e.max_request_bytes = get<std::uint64_t>(root, "export.max_request_bytes");
  e.batch_delay_ms = get<std::uint32_t>(root, "export.batch_delay_ms");
  e.initial_backoff_ms = get<std::uint32_t>(root, "export.initial_backoff_ms");
  e.max_backoff_ms = get<std::uint32_t>(root, "export.max_backoff_ms");
  e.max_retry_seconds = get<std::uint32_t>(root, "export.max_retry_seconds");
  e.spool_dir = get<std::string>(root, "export.spool_dir");
  e.spool_max_bytes = get<std::uint64_t>(root, "export.spool_max_bytes");
  e.shutdown_timeout_ms = get<std::uint32_t>(root, "export.shutdown_timeout_ms");
  e.file.enabled = get<bool>(root, "export.file.enabled");
  e.file.path = get<std::string>(root, "export.file.path");
  e.file.max_bytes = get<std::uint64_t>(root, "export.file.max_bytes");
  e.file.keep_files = get<std::uint32_t>(root, "export.file.keep_files");
  e.file.drop_behind_bytes = get<std::uint64_t>(root, "export.file.drop_behind_bytes");
  e.otlp_http = get_endpoint(root, "export.otlp_http");
  e.otlp_grpc = get_endpoint(root, "export.otlp_grpc");
  auto& k = c.kubernetes;
  k.mode = get<std::string>(root, "kubernetes.mode");
  if (k.mode != "auto" && k.mode != "on" && k.mode != "off")
    throw ConfigError(fmt::format("config: kubernetes.mode must be auto, on or off, not '{}'", k.mode));
  k.api_url = get<std::string>(root, "kubernetes.api_url");
  k.token_file = get<std::string>(root, "kubernetes.token_file");
  k.ca_file = get<std::string>(root, "kubernetes.ca_file");
  k.insecure_skip_tls_verify = get<bool>(root, "kubernetes.insecure_skip_tls_verify");
  k.token_reread_seconds = get<std::uint32_t>(root, "kubernetes.token_reread_seconds");
  k.page_size = get<std::uint32_t>(root, "kubernetes.page_size");
  k.watch_timeout_seconds = get<std::uint32_t>(root, "kubernetes.watch_timeout_seconds");
  k.resync_seconds = get<std::uint32_t>(root, "kubernetes.resync_seconds");
  k.initial_backoff_ms = get<std::uint32_t>(root, "kubernetes.initial_backoff_ms");
  k.max_backoff_ms = get<std::uint32_t>(root, "kubernetes.max_backoff_ms");
  k.deleted_pod_retention_seconds = get<std::uint32_t>(root, "kubernetes.deleted_pod_retention_seconds");
  k.proc_root = get<std::string>(root, "kubernetes.proc_root");
  k.cgroup_root = get<std::string>(root, "kubernetes.cgroup_root");
  k.max_cached_processes = get<std::uint64_t>(root, "kubernetes.max_cached_processes");
  if (k.page_size == 0 || k.watch_timeout_seconds == 0 || k.initial_backoff_ms == 0 ||
      k.max_cached_processes == 0)
    throw ConfigError(
        "config: kubernetes.page_size, watch_timeout_seconds, initial_backoff_ms and "
        "max_cached_processes must be positive");
  if (c.pipeline.max_batches == 0 || c.pipeline.max_spans == 0 || e.queue_batches == 0)
    throw ConfigError("config: queue sizes must be positive");
  if (c.mode == AgentConfig::Mode::kGateway) {
    // A gateway assembles what node agents send it: it traces nothing on its own host.
    c.probes.enabled = false;
    c.netcap.enabled = false;
  }
  return c;
}

}  // namespace otelbpf
