#include "agent/agent.h"

#include "spans/sys_span_export.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "agent/components.h"
#include "common/memory_budget.h"
#include "gateway/gateway_router.h"
#include "model/attributes.h"
#include "protocols/common/redact.h"
#ifdef OTELBPF_WITH_BPF
#include "tracer/syscall_tracer.h"
#endif

namespace otelbpf {
namespace {
using Clock = std::chrono::steady_clock;

// Pod attribution (docs/design.md, Pod attribution): the cache the API client fills on its own thread, and
// the attributor the assembler's output passes through. Without Kubernetes (host mode) the client is absent.
struct PodAttribution {
  std::unique_ptr<k8s::PodCache> cache;
  std::unique_ptr<k8s::ProcessCgroups> cgroups;
  std::unique_ptr<k8s::KubeClient> client;
  std::unique_ptr<k8s::PodAttributor> attributor;

  PodAttribution(const AgentConfig::Kubernetes& k, const std::string& configured_node_name) {
    const auto environment = k8s::kubernetes_environment();
    cache = std::make_unique<k8s::PodCache>(
        k8s::PodCacheOptions{std::chrono::seconds(k.deleted_pod_retention_seconds)});
    cgroups = std::make_unique<k8s::ProcessCgroups>(k.proc_root, k.max_cached_processes, k.cgroup_root);
    if (cgroups->cgroup2_root().empty())
      spdlog::info(
          "pod attribution: no cgroup v2 hierarchy mounted; processes are placed by /proc/<pid>/cgroup only");
    const auto api = kube_client_options(k, k8s::resolve_node_name(configured_node_name, environment));
    const auto resolved =
        k8s::resolve_kube_client_options(k8s::parse_kubernetes_mode(k.mode), api, environment);
    k8s::PodAttributorOptions options;
    options.kubernetes = resolved.has_value();
    options.node_name = api.node_name;
    options.host_name = configured_node_name.empty() ? api.node_name : configured_node_name;
    if (resolved) {
      client = std::make_unique<k8s::KubeClient>(*resolved, *cache);
      client->start();
    } else {
      spdlog::info(
          "pod attribution: host mode (no Kubernetes API); spans get host.name and container.id only");
    }
    attributor = std::make_unique<k8s::PodAttributor>(options, *cache, *cgroups);
  }
};

// A gateway's copies of node agents' client ends (otelbpf.gateway.reference) served its links; the
// originals were exported by their own nodes. The stitch keys the node agents marked go too.
void drop_gateway_references(SpanBatch& batch) {
  auto marked = [](const otlp::Span& span, std::string_view key) {
    return std::any_of(span.attributes().begin(), span.attributes().end(),
                       [&](const auto& kv) { return kv.key() == key; });
  };
  auto& resources = *batch.request().mutable_resource_spans();
  for (auto& rs : resources) {
    auto& scopes = *rs.mutable_scope_spans();
    for (auto& ss : scopes) {
      auto& spans = *ss.mutable_spans();
      spans.erase(std::remove_if(spans.begin(), spans.end(),
                                 [&](const otlp::Span& span) { return marked(span, attr::kGatewayReference); }),
                  spans.end());
      for (auto& span : spans) {
        auto& attributes = *span.mutable_attributes();
        attributes.erase(std::remove_if(attributes.begin(), attributes.end(),
                                        [](const auto& kv) { return kv.key() == attr::kGatewayKey; }),
                         attributes.end());
      }
    }
  }
  drop_empty_groups(batch.request());
}

// Where the assembler's batches go: the gateway tier (what waits for another node), pod attribution, then
// every exporter (and the trace view, which takes its copy on its own thread).
class AttributeAndExport {
 public:
  AttributeAndExport(PodAttribution& attribution, gateway::GatewayRouter* router, bool gateway_mode,
                     std::vector<std::unique_ptr<ExportWorker>>& workers, ui::TraceView* trace_view,
                     std::atomic<Clock::rep>& stop_deadline)
      : attribution_(attribution),
        router_(router),
        gateway_mode_(gateway_mode),
        workers_(workers),
        trace_view_(trace_view),
        stop_deadline_(stop_deadline) {}

  void operator()(std::shared_ptr<SpanBatch> batch) const {
    // The router and the gateway's filter read OTLP spans (the assembler emits compact sys spans only
    // when neither runs; this is for safety).
    if ((router_ || gateway_mode_) && !batch->sys_groups.empty()) export_sys_groups(*batch);
    // A node agent's spans that wait for a partner on another node go to the gateway tier instead.
    if (router_) router_->route(*batch);
    // A gateway links with the node agents' copies of client ends; their originals left from their nodes.
    if (gateway_mode_) drop_gateway_references(*batch);
    if (batch->request().resource_spans_size() == 0 && batch->sys_groups.empty()) return;
    attribution_.attributor->annotate(*batch);
    const std::shared_ptr<const SpanBatch> shared = std::move(batch);
    if (trace_view_) trace_view_->offer(shared);
    for (auto& worker : workers_) {
      // Pace to a busy exporter rather than overflow its queue: this only waits when the queue is nearly
      // full, which admission control keeps rare except while the assembler flushes at shutdown, and never
      // past the shutdown deadline (then the exporter counts the drops).
      for (int waited_ms = 0; waited_ms < 2000 && worker->saturated(); ++waited_ms) {
        if (Clock::now().time_since_epoch().count() >= stop_deadline_.load()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      worker->enqueue(shared);
    }
  }

 private:
  PodAttribution& attribution_;
  gateway::GatewayRouter* router_ = nullptr;
  bool gateway_mode_ = false;
  std::vector<std::unique_ptr<ExportWorker>>& workers_;
  ui::TraceView* trace_view_;
  std::atomic<Clock::rep>& stop_deadline_;
};

}  // namespace

// Declared in data-flow order, so that destruction (the reverse) never leaves a component pointing at one
// already gone.
struct Agent::Components {
  const AgentConfig config;
  MetricsRegistry& metrics = default_metrics();
  MemoryBudget memory{static_cast<std::size_t>(config.memory_limit_mib) << 20, metrics};
  std::vector<std::unique_ptr<ExportWorker>> workers = make_exporters(config.exporters);
  std::unique_ptr<gateway::GatewayRouter> gateway_router =
      config.mode == AgentConfig::Mode::kAgent && config.gateway.enabled()
          ? std::make_unique<gateway::GatewayRouter>(gateway_router_options(config.gateway), metrics)
          : nullptr;
  // Set at stop: one deadline for the assembler's final flush and the exporters together.
  std::atomic<Clock::rep> stop_deadline{Clock::time_point::max().time_since_epoch().count()};
  PodAttribution attribution{config.kubernetes, config.node_name};
  std::unique_ptr<ui::TraceView> trace_view =
      config.ui.enabled ? std::make_unique<ui::TraceView>(trace_view_options(config.ui), &memory, metrics)
                        : nullptr;
  TraceAssembler assembler{
      assembler_options(config.assembler, config.netcap.enabled, gateway_router != nullptr,
                        !config.peer_agents.empty() || config.mode == AgentConfig::Mode::kGateway, &memory),
      AttributeAndExport(attribution, gateway_router.get(), config.mode == AgentConfig::Mode::kGateway, workers,
                         trace_view.get(), stop_deadline)};
  SpanPipeline pipeline{pipeline_options(config.pipeline, &memory)};
  std::unique_ptr<AssemblerStage> stage;  // started in the constructor, once the pipeline is set up
  // /readyz answers 503 until every component (the probes included) has started or given up.
  std::atomic<bool> started{false};
  OtlpIngest ingest{pipeline, ingest_limits(config.http, config.pipeline)};
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<GrpcServer> grpc;
#ifdef OTELBPF_WITH_BPF
  std::unique_ptr<SyscallTracer> tracer;
  std::unique_ptr<netcap::PacketCapture> packet_capture;
#endif

  explicit Components(const AgentConfig& c) : config(c) {
    pipeline.set_downstream_saturated([this] {
      return std::any_of(workers.begin(), workers.end(), [](const auto& w) { return w->saturated(); });
    });
    stage = std::make_unique<AssemblerStage>(pipeline, assembler);
  }

  void start_receivers();
  void start_probes();
};

void Agent::Components::start_receivers() {
  ingest.trust_peer_agents(config.peer_agents);
  if (trace_view) {
    // The view is optional: a port that cannot be bound is reported and tracing goes on without it.
    try {
      trace_view->start();
    } catch (const std::exception& e) {
      spdlog::error("{}; continuing without the trace view", e.what());
    }
    metrics.gauge("otelbpf_ui_enabled", "1 when the trace view listens")
        .set(trace_view->bound_port() ? 1 : 0);
  }
  if (config.http.enabled) {
    http = std::make_unique<HttpServer>(http_server_options(config.http), ingest, metrics,
                                        [this](std::string& reason) {
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
    grpc = std::make_unique<GrpcServer>(grpc_server_options(config.grpc), ingest);
    grpc->start();
  }
}

void Agent::Components::start_probes() {
  // Before any span is built or indexed: the assembler compares queries as the probes export them.
  l7::set_url_query_redaction(config.redaction.url_query, config.redaction.url_query_allow);
#ifdef OTELBPF_WITH_BPF
  auto own = own_ports(config);
  // Ports bound as 0 ("any free port") are known only now: the agent's own traffic is never traced.
  for (const std::uint16_t bound : {http ? http->bound_port() : std::uint16_t{0},
                                    trace_view ? trace_view->bound_port() : std::uint16_t{0}})
    if (bound != 0 && std::find(own.begin(), own.end(), bound) == own.end()) own.push_back(bound);
  if (config.probes.enabled) {
    auto processing = syscall_processing_options(config.probes, config.node_name, &memory);
    processing.on_new_process = [cgroups = attribution.cgroups.get()](std::uint32_t pid) {
      cgroups->lookup(pid);
    };
    TlsProbeOptions tls;
    tls.rescan_interval = std::chrono::seconds(config.probes.tls_rescan_seconds);
    tracer = std::make_unique<SyscallTracer>(syscall_probe_options(config.probes, own), processing, pipeline,
                                             metrics, tls);
    std::string error;
    if (!tracer->start(error)) {
      spdlog::error("eBPF probes unavailable ({}); continuing in OTel-only mode", error);
      tracer.reset();
    }
    metrics.gauge("otelbpf_probes_enabled", "1 when the eBPF syscall probes run").set(tracer ? 1 : 0);
  }
  // Packet capture (net spans), beside the syscall tracer; refused programs leave the rest running.
  if (config.netcap.enabled) {
    packet_capture = std::make_unique<netcap::PacketCapture>(
        packet_capture_options(config.netcap, config.node_name, own, &memory), pipeline);
    std::string error;
    if (!packet_capture->start(error)) {
      spdlog::error("packet capture unavailable ({}); continuing without net spans", error);
      packet_capture.reset();
    }
    metrics.gauge("otelbpf_netcap_enabled", "1 when the tc packet capture runs").set(packet_capture ? 1 : 0);
  }
  const bool sys_spans = tracer != nullptr;
#else
  if (config.probes.enabled) spdlog::warn("built without eBPF support; running in OTel-only mode");
  const bool sys_spans = false;
#endif
  // Without the probes (and no peer agent to send sys spans) nothing can link an app span: the assembler
  // passes app batches straight through instead of holding them for a link window.
  assembler.set_expect_sys_spans(sys_spans || !config.peer_agents.empty() ||
                                 config.mode == AgentConfig::Mode::kGateway);
}

Agent::Agent(const AgentConfig& config) : c_(std::make_unique<Components>(config)) {
  c_->metrics.gauge("otelbpf_build_info", "Agent build", {{"version", OTELBPF_VERSION}}).set(1);
  try {
    c_->start_receivers();
    c_->start_probes();
  } catch (...) {
    stop(Clock::now());  // what did start (the assembler's thread, a receiver) stops in order
    throw;
  }
  c_->started = true;
  spdlog::info("otelbpf-agent running (pid {})", getpid());
}

Agent::~Agent() {
  if (c_) stop(Clock::now());
}

void Agent::stop(Clock::time_point deadline) {
  if (!c_) return;
  auto& c = *c_;
  c.stop_deadline = deadline.time_since_epoch().count();
  if (c.http) c.http->stop();
  if (c.grpc) c.grpc->stop();
#ifdef OTELBPF_WITH_BPF
  if (c.tracer) c.tracer->stop();
  if (c.packet_capture) c.packet_capture->stop();
#endif
  c.pipeline.close();
  c.stage->join();
  c.stage.reset();
  if (c.gateway_router) c.gateway_router->stop();
  // What is left of the one deadline, for all exporters together, not one each.
  for (auto& worker : c.workers)
    worker->shutdown(
        std::max(std::chrono::milliseconds(0),
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())));
  c.workers.clear();
  spdlog::info("exporters stopped");
#ifdef OTELBPF_WITH_BPF
  // Last, with every span out: the TLS uprobes' detach is the slow part of stopping (~0.1 s per uprobe).
  if (c.tracer) c.tracer->release();
#endif
  if (c.attribution.client) c.attribution.client->stop();
  if (c.trace_view) c.trace_view->stop();
  c_.reset();
}

}  // namespace otelbpf
