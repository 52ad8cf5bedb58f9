#include "agent/components.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "export/file_exporter.h"
#include "export/otlp_grpc_exporter.h"
#include "export/otlp_http_exporter.h"

namespace otelbpf {
namespace {
using std::chrono::milliseconds;
using std::chrono::seconds;

TlsServerOptions listener_tls(const ListenerTlsConfig& tls) {
  return {tls.cert_file, tls.key_file, tls.client_ca_file};
}

std::uint16_t port_of(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  return colon == std::string::npos ? 0
                                    : static_cast<std::uint16_t>(std::atoi(host_port.c_str() + colon + 1));
}

// An OTLP exporter's options from the settings resolved from config and the OTEL_EXPORTER_OTLP_* variables.
template <class Options>
Options exporter_options(OtlpExporterSettings settings) {
  Options options;
  options.endpoint = std::move(settings.endpoint);
  options.gzip = settings.gzip;
  options.timeout = settings.timeout;
  options.headers = std::move(settings.headers);
  options.tls = std::move(settings.tls);
  return options;
}

}  // namespace

HttpServerOptions http_server_options(const AgentConfig::HttpReceiver& http) {
  HttpServerOptions options;
  options.listen_address = http.listen;
  options.port = http.port;
  options.threads = http.threads;
  options.max_connections = http.max_connections;
  options.decode_threads = http.decode_threads;
  options.body_timeout = milliseconds(http.body_timeout_ms);
  options.idle_timeout = milliseconds(http.idle_timeout_ms);
  options.retry_after = seconds(http.retry_after_seconds);
  options.tls = listener_tls(http.tls);
  return options;
}

GrpcServerOptions grpc_server_options(const AgentConfig::GrpcReceiver& grpc) {
  GrpcServerOptions options{grpc.listen, grpc.max_message_bytes};
  options.quota_memory_bytes = grpc.quota_memory_bytes;
  options.max_threads = grpc.max_threads;
  options.max_concurrent_streams = grpc.max_concurrent_streams;
  options.tls = listener_tls(grpc.tls);
  return options;
}

IngestLimits ingest_limits(const AgentConfig::HttpReceiver& http, const AgentConfig::Pipeline& pipeline) {
  return IngestLimits{http.max_body_bytes, http.max_decompressed_bytes, pipeline.max_spans};
}

SpanPipelineOptions pipeline_options(const AgentConfig::Pipeline& pipeline, MemoryBudget* memory) {
  return SpanPipelineOptions{pipeline.max_batches, pipeline.max_spans, memory};
}

AssemblerOptions assembler_options(const AgentConfig::Assembler& assembler, bool expect_net_spans,
                                   bool gateway_routing, bool peer_spans, MemoryBudget* memory) {
  return AssemblerOptions{.link_window = milliseconds(assembler.link_window_ms),
                          .max_buffered_spans = assembler.max_buffered_spans,
                          .reparent_app_server_spans = assembler.reparent_app_server_spans,
                          .max_link_wait = milliseconds(assembler.max_link_wait_ms),
                          .assumed_app_lag = milliseconds(assembler.assumed_app_lag_ms),
                          .expect_net_spans = expect_net_spans,
                          .gateway_routing = gateway_routing,
                          .peer_spans = peer_spans,
                          // Gateway routing marks spans with attributes as they leave: those leave as OTLP.
                          .compact_sys_output = !gateway_routing,
                          .memory = memory};
}

gateway::GatewayRouterOptions gateway_router_options(const AgentConfig::Gateway& g) {
  gateway::GatewayRouterOptions options;
  options.endpoints = g.endpoints;
  options.dns = g.dns;
  options.refresh = seconds(g.refresh_seconds);
  options.down_for = seconds(g.down_seconds);
  return options;
}

ExportWorkerOptions export_worker_options(const AgentConfig::Exporters& e) {
  ExportWorkerOptions worker;
  worker.queue_batches = e.queue_batches;
  worker.max_batch_spans = e.max_batch_spans;
  worker.max_request_bytes = e.max_request_bytes;
  worker.max_batch_delay = milliseconds(e.batch_delay_ms);
  worker.initial_backoff = milliseconds(e.initial_backoff_ms);
  worker.max_backoff = milliseconds(e.max_backoff_ms);
  worker.max_retry_elapsed = seconds(e.max_retry_seconds);
  worker.spool_dir = e.spool_dir;
  worker.spool_max_bytes = e.spool_max_bytes;
  return worker;
}

OtlpExporterConfig otlp_exporter_config(const OtlpEndpointConfig& c) {
  OtlpExporterConfig out;
  out.endpoint = c.endpoint;
  out.compression = c.compression;
  out.timeout = milliseconds(c.timeout_ms);
  out.headers = c.headers;
  out.tls.enabled = c.tls.enabled;
  out.tls.ca_file = c.tls.ca_file;
  out.tls.cert_file = c.tls.cert_file;
  out.tls.key_file = c.tls.key_file;
  out.tls.insecure_skip_verify = c.tls.insecure_skip_verify;
  return out;
}

std::vector<std::unique_ptr<ExportWorker>> make_exporters(const AgentConfig::Exporters& e) {
  const ExportWorkerOptions worker = export_worker_options(e);
  std::vector<std::unique_ptr<ExportWorker>> workers;
  if (e.file.enabled) {
    FileExporterOptions file;
    file.path = e.file.path;
    file.max_bytes = e.file.max_bytes;
    file.keep_files = e.file.keep_files;
    file.drop_behind_bytes = e.file.drop_behind_bytes;
    spdlog::info("exporting OTLP/JSON lines to {}", file.path);
    workers.push_back(std::make_unique<ExportWorker>(std::make_unique<FileExporter>(file), worker));
  }
  if (e.otlp_http.enabled) {
    const auto http = exporter_options<OtlpHttpExporterOptions>(
        resolve_otlp_settings(otlp_exporter_config(e.otlp_http), OtlpProtocol::kHttpProtobuf));
    spdlog::info("exporting OTLP/HTTP protobuf to {}{}", http.endpoint, http.gzip ? " (gzip)" : "");
    workers.push_back(std::make_unique<ExportWorker>(std::make_unique<OtlpHttpExporter>(http), worker));
  }
  if (e.otlp_grpc.enabled) {
    const auto grpc = exporter_options<OtlpGrpcExporterOptions>(
        resolve_otlp_settings(otlp_exporter_config(e.otlp_grpc), OtlpProtocol::kGrpc));
    spdlog::info("exporting OTLP/gRPC to {}{}", grpc.endpoint, grpc.tls.enabled ? " (TLS)" : "");
    workers.push_back(std::make_unique<ExportWorker>(std::make_unique<OtlpGrpcExporter>(grpc), worker));
  }
  if (workers.empty()) spdlog::warn("no exporter is enabled: spans are received and counted, then discarded");
  return workers;
}

std::vector<std::uint16_t> own_ports(const AgentConfig& config) {
  // A port configured as 0 ("any free port") is added once bound (Agent::Components::start_probes). 0 itself
  // must never be ignored: it is what the kernel reports as the local port of a TCP socket it is done with
  // (tcp_done releases the port while answers still wait to be read), so ignoring 0 dropped those reads.
  std::vector<std::uint16_t> ports;
  const auto add = [&](bool enabled, std::uint16_t port) {
    if (enabled && port != 0) ports.push_back(port);
  };
  add(config.http.enabled, config.http.port);
  add(config.grpc.enabled, port_of(config.grpc.listen));
  add(config.ui.enabled, config.ui.port);
  return ports;
}

ui::TraceViewOptions trace_view_options(const AgentConfig::Ui& u) {
  ui::TraceViewOptions options;
  options.listen_address = u.listen;
  options.port = u.port;
  options.store.max_bytes = static_cast<std::size_t>(u.store_mib) << 20;
  options.store.max_traces = static_cast<std::size_t>(u.max_traces);
  options.store.max_spans_per_trace = static_cast<std::size_t>(u.max_spans_per_trace);
  options.store.max_new_traces_per_second = static_cast<std::size_t>(u.max_new_traces_per_second);
  return options;
}

k8s::KubeClientOptions kube_client_options(const AgentConfig::Kubernetes& k, const std::string& node_name) {
  k8s::KubeClientOptions api;
  api.api_url = k.api_url;
  api.token_file = k.token_file;
  api.ca_file = k.ca_file;
  api.insecure_skip_tls_verify = k.insecure_skip_tls_verify;
  api.node_name = node_name;
  api.token_reread = seconds(k.token_reread_seconds);
  api.page_size = k.page_size;
  api.watch_timeout = seconds(k.watch_timeout_seconds);
  api.resync = seconds(k.resync_seconds);
  api.initial_backoff = milliseconds(k.initial_backoff_ms);
  api.max_backoff = milliseconds(k.max_backoff_ms);
  return api;
}

#ifdef OTELBPF_WITH_BPF
SyscallProbeOptions syscall_probe_options(const AgentConfig::Probes& p,
                                          const std::vector<std::uint16_t>& own) {
  SyscallProbeOptions probes;
  probes.payload_capture_bytes = p.payload_capture_bytes;
  probes.ringbuf_bytes = p.ringbuf_bytes;
  probes.transport = p.event_transport == "ringbuf"   ? SyscallProbeOptions::Transport::kRingBuffer
                     : p.event_transport == "perfbuf" ? SyscallProbeOptions::Transport::kPerfBuffer
                                                      : SyscallProbeOptions::Transport::kAuto;
  probes.pids = p.pids;
  probes.cgroup_id = p.cgroup_id;
  probes.ignore_ports = p.ignore_ports;
  probes.ignore_ports.insert(probes.ignore_ports.end(), own.begin(), own.end());
  probes.send_start_marks = p.send_start_marks;
  probes.tls_uprobes = p.tls_enabled;
  return probes;
}

SyscallEventProcessorOptions syscall_processing_options(const AgentConfig::Probes& p,
                                                        const std::string& node_name, MemoryBudget* memory) {
  SyscallEventProcessorOptions processing;
  processing.max_connections = p.max_connections;
  processing.connection_idle = seconds(p.connection_idle_seconds);
  processing.host_name = node_name;
  processing.memory = memory;
  return processing;
}

netcap::PacketCaptureOptions packet_capture_options(const AgentConfig::Netcap& n,
                                                    const std::string& node_name,
                                                    const std::vector<std::uint16_t>& own,
                                                    MemoryBudget* memory) {
  netcap::PacketCaptureOptions capture;
  capture.probes.payload_capture_bytes = n.payload_capture_bytes;
  capture.probes.ringbuf_bytes = n.ringbuf_bytes;
  capture.probes.max_events_per_cpu_per_second = n.max_events_per_cpu_per_second;
  capture.processing.max_flows = n.max_flows;
  capture.processing.flow_idle = seconds(n.flow_idle_seconds);
  capture.processing.host_name = node_name;
  capture.processing.memory = memory;
  capture.processing.ignore_ports = own;
  capture.selection.patterns = n.interfaces;
  capture.selection.include_loopback = n.include_loopback;
  capture.state_dir = n.state_dir;
  return capture;
}
#endif

}  // namespace otelbpf
