#pragma once
// Each component's options from its own section of the configuration: the one place where config keys
// (config/otelbpf.yaml documents them) become component settings. Pure mappings, tested on their own
// (tests/unit/agent); agent.cc only wires the components these options build.
#include <cstdint>
#include <memory>
#include <vector>

#include "assembler/trace_assembler.h"
#include "config/agent_config.h"
#include "gateway/gateway_router.h"
#include "export/export_worker.h"
#include "export/otlp_endpoint.h"
#include "k8s/kube_client.h"
#include "k8s/pod_attributor.h"
#include "pipeline/span_pipeline.h"
#include "receiver/grpc_server.h"
#include "receiver/http_server.h"
#ifdef OTELBPF_WITH_BPF
#include "netcap/packet_capture.h"
#include "probes/syscall_probes.h"
#include "tracer/syscall_event_processor.h"
#include "ui/trace_view.h"
#endif

namespace otelbpf {

class MemoryBudget;

HttpServerOptions http_server_options(const AgentConfig::HttpReceiver& http);
GrpcServerOptions grpc_server_options(const AgentConfig::GrpcReceiver& grpc);
IngestLimits ingest_limits(const AgentConfig::HttpReceiver& http, const AgentConfig::Pipeline& pipeline);
ui::TraceViewOptions trace_view_options(const AgentConfig::Ui& ui);
SpanPipelineOptions pipeline_options(const AgentConfig::Pipeline& pipeline, MemoryBudget* memory);
AssemblerOptions assembler_options(const AgentConfig::Assembler& assembler, bool expect_net_spans,
                                   bool gateway_routing, bool peer_spans, MemoryBudget* memory);
gateway::GatewayRouterOptions gateway_router_options(const AgentConfig::Gateway& gateway);
ExportWorkerOptions export_worker_options(const AgentConfig::Exporters& exporters);
OtlpExporterConfig otlp_exporter_config(const OtlpEndpointConfig& endpoint);
// One worker per enabled exporter (file, OTLP/HTTP, OTLP/gRPC), in that order. Throws
// std::invalid_argument when an endpoint's settings cannot be used.
std::vector<std::unique_ptr<ExportWorker>> make_exporters(const AgentConfig::Exporters& exporters);

// The agent's own OTLP doors: requests to them are an SDK's transport, not application traffic, so neither
// the syscall probes nor packet capture make spans of them.
std::vector<std::uint16_t> own_ports(const AgentConfig& config);

// What the Kubernetes API client is given before the environment (in-cluster variables, mode) is applied.
k8s::KubeClientOptions kube_client_options(const AgentConfig::Kubernetes& kubernetes,
                                           const std::string& node_name);

#ifdef OTELBPF_WITH_BPF
SyscallProbeOptions syscall_probe_options(const AgentConfig::Probes& probes,
                                          const std::vector<std::uint16_t>& own_ports);
SyscallEventProcessorOptions syscall_processing_options(const AgentConfig::Probes& probes,
                                                        const std::string& node_name, MemoryBudget* memory);
netcap::PacketCaptureOptions packet_capture_options(const AgentConfig::Netcap& netcap,
                                                    const std::string& node_name,
                                                    const std::vector<std::uint16_t>& own_ports,
                                                    MemoryBudget* memory);
#endif

}  // namespace otelbpf
