// otelbpf-agent: receives OTLP spans, traces what applications never instrumented with eBPF, stitches both
// into one trace, and exports the combined stream.
//
// Start-up reads as the data flows: exporters, assembler, pipeline, receivers, probes. Shutdown (SIGTERM,
// SIGINT) runs the other way: stop the doors, drain the pipeline, flush the assembler, flush the exporters.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "assembler/trace_assembler.h"
#include "protocols/common/redact.h"
#include "config/agent_config.h"
#include "export/export_worker.h"
#include "export/file_exporter.h"
#include "export/otlp_endpoint.h"
#include "export/otlp_grpc_exporter.h"
#include "export/otlp_http_exporter.h"
#include "k8s/kube_client.h"
#include "k8s/pod_attributor.h"
#include "pipeline/span_pipeline.h"
#include "receiver/grpc_server.h"
#include "receiver/http_server.h"
#ifdef OTELBPF_WITH_BPF
#include "netcap/packet_capture.h"
#include "tracer/syscall_tracer.h"
#endif

namespace otelbpf {
namespace {

struct CommandLine {
  ConfigSources sources;
  bool print_config = false;
  bool print_defaults = false;
};

// Named flags are shorthands for --set; they are applied last, so they win.
int parse_command_line(int argc, char** argv, CommandLine& cl) {
  CLI::App app{"otelbpf-agent: OTLP + eBPF full-stack tracing node agent"};
  std::vector<std::string> sets;
  std::optional<int> http_port;
  std::optional<std::string> grpc_listen, export_file, otlp_http, otlp_grpc, log_level, spool_dir;
  bool no_grpc = false, no_probes = false, no_file = false;
  app.add_option("-c,--config", cl.sources.file, "YAML config file (keys as in --print-defaults)");
  app.add_option("--set", sets, "Override one key: section.key=value (repeatable)");
  app.add_option("--http-port", http_port, "OTLP/HTTP + /metrics port (receiver.http.port)");
  app.add_option("--grpc-listen", grpc_listen, "OTLP/gRPC address host:port (receiver.grpc.listen)");
  app.add_flag("--no-grpc", no_grpc, "Disable the OTLP/gRPC receiver");
  app.add_option("--export-file", export_file, "OTLP/JSON-lines output file (export.file.path)");
  app.add_flag("--no-file-export", no_file, "Disable the file exporter");
  app.add_option("--otlp-http-endpoint", otlp_http, "Also export OTLP/HTTP protobuf to this URL");
  app.add_option("--otlp-grpc-endpoint", otlp_grpc, "Also export OTLP/gRPC to this host:port");
  app.add_option("--spool-dir", spool_dir, "On-disk spool for exports while an endpoint is down");
  app.add_flag("--no-probes", no_probes, "OTel-only mode: do not load the eBPF probes");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  app.add_flag("--print-config", cl.print_config, "Print the effective configuration and exit");
  app.add_flag("--print-defaults", cl.print_defaults, "Print the documented defaults and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  cl.sources.set_overrides = sets;
  auto& s = cl.sources.set_overrides;
  if (http_port) s.push_back("receiver.http.port=" + std::to_string(*http_port));
  if (grpc_listen) s.push_back("receiver.grpc.listen=" + *grpc_listen);
  if (no_grpc) s.push_back("receiver.grpc.enabled=false");
  if (export_file) s.push_back("export.file.path=" + *export_file);
  if (no_file) s.push_back("export.file.enabled=false");
  if (otlp_http) {
    s.push_back("export.otlp_http.enabled=true");
    s.push_back("export.otlp_http.endpoint=" + *otlp_http);
  }
  if (otlp_grpc) {
    s.push_back("export.otlp_grpc.enabled=true");
    s.push_back("export.otlp_grpc.endpoint=" + *otlp_grpc);
  }
  if (spool_dir) s.push_back("export.spool_dir=" + *spool_dir);
  if (no_probes) s.push_back("probes.enabled=false");
  if (log_level) s.push_back("log_level=" + *log_level);
  cl.sources.environment = otelbpf_environment();
  return -1;
}

std::vector<std::unique_ptr<ExportWorker>> make_exporters(const AgentConfig& config) {
  const auto& e = config.exporters;
  ExportWorkerOptions worker;
  worker.queue_batches = e.queue_batches;
  worker.max_batch_spans = e.max_batch_spans;
  worker.max_request_bytes = e.max_request_bytes;
  worker.max_batch_delay = std::chrono::milliseconds(e.batch_delay_ms);
  worker.initial_backoff = std::chrono::milliseconds(e.initial_backoff_ms);
  worker.max_backoff = std::chrono::milliseconds(e.max_backoff_ms);
  worker.max_retry_elapsed = std::chrono::seconds(e.max_retry_seconds);
  worker.spool_dir = e.spool_dir;
  worker.spool_max_bytes = e.spool_max_bytes;

  auto otlp_config = [](const OtlpEndpointConfig& c) {
    OtlpExporterConfig out;
    out.endpoint = c.endpoint;
    out.compression = c.compression;
    out.timeout = std::chrono::milliseconds(c.timeout_ms);
    out.headers = c.headers;
    out.tls.enabled = c.tls.enabled;
    out.tls.ca_file = c.tls.ca_file;
    out.tls.cert_file = c.tls.cert_file;
    out.tls.key_file = c.tls.key_file;
    out.tls.insecure_skip_verify = c.tls.insecure_skip_verify;
    return out;
  };

  std::vector<std::unique_ptr<ExportWorker>> workers;
  if (e.file.enabled) {
    FileExporterOptions file;
    file.path = e.file.path;
    file.max_bytes = e.file.max_bytes;
    file.keep_files = e.file.keep_files;
    spdlog::info("exporting OTLP/JSON lines to {}", file.path);
    workers.push_back(std::make_unique<ExportWorker>(std::make_unique<FileExporter>(file), worker));
  }
  if (e.otlp_http.enabled) {
    auto settings = resolve_otlp_settings(otlp_config(e.otlp_http), OtlpProtocol::kHttpProtobuf);
    OtlpHttpExporterOptions http;
    http.endpoint = settings.endpoint;
    http.gzip = settings.gzip;
    http.timeout = settings.timeout;
    http.headers = settings.headers;
    http.tls = settings.tls;
    spdlog::info("exporting OTLP/HTTP protobuf to {}{}", http.endpoint, http.gzip ? " (gzip)" : "");
    workers.push_back(std::make_unique<ExportWorker>(std::make_unique<OtlpHttpExporter>(http), worker));
  }
  if (e.otlp_grpc.enabled) {
    auto settings = resolve_otlp_settings(otlp_config(e.otlp_grpc), OtlpProtocol::kGrpc);
    OtlpGrpcExporterOptions grpc;
    grpc.endpoint = settings.endpoint;
    grpc.gzip = settings.gzip;
    grpc.timeout = settings.timeout;
    grpc.headers = settings.headers;
    grpc.tls = settings.tls;
    spdlog::info("exporting OTLP/gRPC to {}{}", grpc.endpoint, grpc.tls.enabled ? " (TLS)" : "");
    workers.push_back(std::make_unique<ExportWorker>(std::make_unique<OtlpGrpcExporter>(grpc), worker));
  }
  if (workers.empty()) spdlog::warn("no exporter is enabled: spans are received and counted, then discarded");
  return workers;
}

// Pod attribution (docs/design.md, Pod attribution): the cache the API client fills on its own thread, and the attributor
// the assembler's sink runs on every batch. Without Kubernetes (host mode) the client is absent.
struct PodAttribution {
  std::unique_ptr<k8s::PodCache> cache;
  std::unique_ptr<k8s::ProcessCgroups> cgroups;
  std::unique_ptr<k8s::KubeClient> client;
  std::unique_ptr<k8s::PodAttributor> attributor;
};

PodAttribution start_pod_attribution(const AgentConfig& config) {
  const auto& k = config.kubernetes;
  const auto environment = k8s::kubernetes_environment();
  PodAttribution out;
  out.cache = std::make_unique<k8s::PodCache>(
      k8s::PodCacheOptions{std::chrono::seconds(k.deleted_pod_retention_seconds)});
  out.cgroups = std::make_unique<k8s::ProcessCgroups>(k.proc_root, k.max_cached_processes, k.cgroup_root);
  if (out.cgroups->cgroup2_root().empty())
    spdlog::info("pod attribution: no cgroup v2 hierarchy mounted; processes are placed by /proc/<pid>/cgroup only");
  k8s::KubeClientOptions api;
  api.api_url = k.api_url;
  api.token_file = k.token_file;
  api.ca_file = k.ca_file;
  api.insecure_skip_tls_verify = k.insecure_skip_tls_verify;
  api.node_name = k8s::resolve_node_name(config.node_name, environment);
  api.token_reread = std::chrono::seconds(k.token_reread_seconds);
  api.page_size = k.page_size;
  api.watch_timeout = std::chrono::seconds(k.watch_timeout_seconds);
  api.resync = std::chrono::seconds(k.resync_seconds);
  api.initial_backoff = std::chrono::milliseconds(k.initial_backoff_ms);
  api.max_backoff = std::chrono::milliseconds(k.max_backoff_ms);
  const auto resolved =
      k8s::resolve_kube_client_options(k8s::parse_kubernetes_mode(k.mode), api, environment);
  k8s::PodAttributorOptions options;
  options.kubernetes = resolved.has_value();
  options.node_name = api.node_name;
  options.host_name = config.node_name.empty() ? api.node_name : config.node_name;
  if (resolved) {
    out.client = std::make_unique<k8s::KubeClient>(*resolved, *out.cache);
    out.client->start();
  } else {
    spdlog::info("pod attribution: host mode (no Kubernetes API); spans get host.name and container.id only");
  }
  out.attributor = std::make_unique<k8s::PodAttributor>(options, *out.cache, *out.cgroups);
  return out;
}

std::uint16_t port_of(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  return colon == std::string::npos ? 0
                                    : static_cast<std::uint16_t>(std::atoi(host_port.c_str() + colon + 1));
}

int run(const AgentConfig& config) {
  // Signals are taken synchronously by sigwait on this thread; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto& metrics = default_metrics();
  metrics.gauge("otelbpf_build_info", "Agent build", {{"version", OTELBPF_VERSION}}).set(1);

  MemoryBudget memory(static_cast<std::size_t>(config.memory_limit_mib) << 20, metrics);
  auto workers = make_exporters(config);
  // Set at SIGTERM: one deadline (export.shutdown_timeout_ms) for the assembler's final flush and the
  // exporters together, so the whole stop fits the pod's grace period.
  std::atomic<std::chrono::steady_clock::rep> stop_deadline{std::chrono::steady_clock::time_point::max().time_since_epoch().count()};
  auto attribution = start_pod_attribution(config);
  TraceAssembler assembler(
      AssemblerOptions{std::chrono::milliseconds(config.assembler.link_window_ms),
                       config.assembler.max_buffered_spans, config.assembler.reparent_app_server_spans,
                       std::chrono::milliseconds(config.assembler.max_link_wait_ms),
                       std::chrono::milliseconds(config.assembler.assumed_app_lag_ms), config.netcap.enabled,
                       &memory},
      [&workers, &attribution, &stop_deadline](std::shared_ptr<SpanBatch> batch) {
        attribution.attributor->annotate(*batch);
        const std::shared_ptr<const SpanBatch> shared = std::move(batch);
        for (auto& worker : workers) {
          // Pace to a busy exporter rather than overflow its queue: this only waits when the queue is
          // nearly full, which admission control keeps rare except while the assembler flushes at
          // shutdown, and never past the shutdown deadline (then the exporter counts the drops).
          for (int waited_ms = 0; waited_ms < 2000 && worker->saturated(); ++waited_ms) {
            if (std::chrono::steady_clock::now().time_since_epoch().count() >= stop_deadline.load()) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          worker->enqueue(shared);
        }
      });
  SpanPipeline pipeline(SpanPipelineOptions{config.pipeline.max_batches, config.pipeline.max_spans, &memory});
  pipeline.set_downstream_saturated([&workers] {
    return std::any_of(workers.begin(), workers.end(), [](const auto& w) { return w->saturated(); });
  });
  auto stage = std::make_unique<AssemblerStage>(pipeline, assembler);

  // /readyz answers 503 until every component (the probes included) has started or given up.
  std::atomic<bool> started{false};
  OtlpIngest ingest(pipeline, IngestLimits{config.http.max_body_bytes, config.http.max_decompressed_bytes,
                                           config.pipeline.max_spans});
  ingest.trust_peer_agents(config.peer_agents);
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<GrpcServer> grpc;
  if (config.http.enabled) {
    HttpServerOptions options;
    options.listen_address = config.http.listen;
    options.port = config.http.port;
    options.threads = config.http.threads;
    options.max_connections = config.http.max_connections;
    options.decode_threads = config.http.decode_threads;
    options.body_timeout = std::chrono::milliseconds(config.http.body_timeout_ms);
    options.idle_timeout = std::chrono::milliseconds(config.http.idle_timeout_ms);
    options.retry_after = std::chrono::seconds(config.http.retry_after_seconds);
    options.tls = {config.http.tls.cert_file, config.http.tls.key_file, config.http.tls.client_ca_file};
    http = std::make_unique<HttpServer>(options, ingest, metrics, [&pipeline, &started](std::string& reason) {
      if (!started) {
        reason = "starting";
        return false;
      }
      if (pipeline.fill_ratio() < 0.9) return true;
      reason = "span pipeline is over 90% full";
      return false;
    });
    http->start();
  }
  if (config.grpc.enabled) {
    GrpcServerOptions options{config.grpc.listen, config.grpc.max_message_bytes};
    options.quota_memory_bytes = config.grpc.quota_memory_bytes;
    options.max_threads = config.grpc.max_threads;
    options.max_concurrent_streams = config.grpc.max_concurrent_streams;
    options.tls = {config.grpc.tls.cert_file, config.grpc.tls.key_file, config.grpc.tls.client_ca_file};
    grpc = std::make_unique<GrpcServer>(options, ingest);
    grpc->start();
  }

  // Before any span is built or indexed: the assembler compares queries as the probes export them.
  l7::set_url_query_redaction(config.redaction.url_query, config.redaction.url_query_allow);
#ifdef OTELBPF_WITH_BPF
  std::unique_ptr<SyscallTracer> tracer;
  if (config.probes.enabled) {
    SyscallProbeOptions probes;
    probes.payload_capture_bytes = config.probes.payload_capture_bytes;
    probes.ringbuf_bytes = config.probes.ringbuf_bytes;
    probes.transport =
        config.probes.event_transport == "ringbuf"   ? SyscallProbeOptions::Transport::kRingBuffer
        : config.probes.event_transport == "perfbuf" ? SyscallProbeOptions::Transport::kPerfBuffer
                                                     : SyscallProbeOptions::Transport::kAuto;
    probes.pids = config.probes.pids;
    probes.cgroup_id = config.probes.cgroup_id;
    probes.ignore_ports = config.probes.ignore_ports;
    // The agent's own doors: an SDK's export requests to us are transport, not application traffic.
    if (config.http.enabled) probes.ignore_ports.push_back(config.http.port);
    if (config.grpc.enabled && port_of(config.grpc.listen))
      probes.ignore_ports.push_back(port_of(config.grpc.listen));
    SyscallEventProcessorOptions processing;
    processing.max_connections = config.probes.max_connections;
    processing.connection_idle = std::chrono::seconds(config.probes.connection_idle_seconds);
    processing.host_name = config.node_name;
    processing.memory = &memory;
    processing.on_new_process = [cgroups = attribution.cgroups.get()](std::uint32_t pid) {
      cgroups->lookup(pid);
    };
    tracer = std::make_unique<SyscallTracer>(probes, processing, pipeline);
    std::string error;
    if (!tracer->start(error)) {
      spdlog::error("eBPF probes unavailable ({}); continuing in OTel-only mode", error);
      metrics.gauge("otelbpf_probes_enabled", "1 when the eBPF syscall probes run").set(0);
      tracer.reset();
    } else {
      metrics.gauge("otelbpf_probes_enabled", "1 when the eBPF syscall probes run").set(1);
    }
  }
  // Packet capture (net spans), beside the syscall tracer; refused programs leave the rest running.
  std::unique_ptr<netcap::PacketCapture> packet_capture;
  if (config.netcap.enabled) {
    netcap::PacketCaptureOptions capture;
    capture.probes.payload_capture_bytes = config.netcap.payload_capture_bytes;
    capture.probes.ringbuf_bytes = config.netcap.ringbuf_bytes;
    capture.probes.max_events_per_cpu_per_second = config.netcap.max_events_per_cpu_per_second;
    capture.processing.max_flows = config.netcap.max_flows;
    capture.processing.flow_idle = std::chrono::seconds(config.netcap.flow_idle_seconds);
    capture.processing.host_name = config.node_name;
    capture.processing.memory = &memory;
    // The agent's own doors, as for the syscall probes: OTLP exports to us are transport.
    if (config.http.enabled) capture.processing.ignore_ports.push_back(config.http.port);
    if (config.grpc.enabled && port_of(config.grpc.listen))
      capture.processing.ignore_ports.push_back(port_of(config.grpc.listen));
    capture.selection.patterns = config.netcap.interfaces;
    capture.selection.include_loopback = config.netcap.include_loopback;
    capture.state_dir = config.netcap.state_dir;
    packet_capture = std::make_unique<netcap::PacketCapture>(capture, pipeline);
    std::string error;
    if (!packet_capture->start(error)) {
      spdlog::error("packet capture unavailable ({}); continuing without net spans", error);
      packet_capture.reset();
    }
    metrics.gauge("otelbpf_netcap_enabled", "1 when the tc packet capture runs").set(packet_capture ? 1 : 0);
  }
#else
  if (config.probes.enabled) spdlog::warn("built without eBPF support; running in OTel-only mode");
#endif

  started = true;
  spdlog::info("otelbpf-agent running (pid {})", getpid());
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("received {}, flushing", strsignal(signal));
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.exporters.shutdown_timeout_ms);
  stop_deadline = until.time_since_epoch().count();

  if (http) http->stop();
  if (grpc) grpc->stop();
#ifdef OTELBPF_WITH_BPF
  if (tracer) tracer->stop();
  if (packet_capture) packet_capture->stop();
#endif
  pipeline.close();
  stage->join();
  stage.reset();
  // What is left of the one deadline, for all exporters together, not one each.
  for (auto& worker : workers)
    worker->shutdown(std::max(
        std::chrono::milliseconds(0),
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now())));
  workers.clear();
  if (attribution.client) attribution.client->stop();
  spdlog::info("otelbpf-agent stopped");
  return 0;
}

}  // namespace
}  // namespace otelbpf

int main(int argc, char** argv) {
  using namespace otelbpf;
  CommandLine cl;
  if (int rc = parse_command_line(argc, argv, cl); rc >= 0) return rc;
  if (cl.print_defaults) {
    std::cout << default_config_yaml();
    return 0;
  }
  AgentConfig config;
  std::vector<std::string> ignored_deepflow_keys;
  try {
    auto merged = merge_config(cl.sources, &ignored_deepflow_keys);
    if (cl.print_config) {
      std::cout << YAML::Dump(merged) << "\n";
      return 0;
    }
    config = parse_config(merged);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (!ignored_deepflow_keys.empty())
    spdlog::warn("config: ignoring DeepFlow agent-group keys otelbpf has no use for: {}",
                 fmt::join(ignored_deepflow_keys, ", "));
  try {
    return run(config);
  } catch (const std::exception& e) {
    spdlog::critical("otelbpf-agent cannot start: {}", e.what());
    return 1;
  }
}
