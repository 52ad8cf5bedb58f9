#pragma once
// Pod attribution (docs/design.md, Pod attribution): the stage between the assembler and the exporters
// that says which pod, container and workload each resource's spans came from.
//
//   sys spans: otelbpf.cgroup.id -> cgroup v2 directory, else process.pid -> /proc/<pid>/cgroup ->
//              container id / pod UID -> pod metadata
//   app spans: k8s.* already present are kept; else app.host.ip or k8s.pod.ip -> pod; else the OTLP
//              sender's address -> pod
//   net spans: attribute_ip() and attribute_ifindex() for the packet path
//
// In host mode (no Kubernetes) only host.name and, for processes in docker containers, container.id.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/metrics.h"
#include "k8s/cgroup.h"
#include "k8s/pod_cache.h"
#include "model/span_batch.h"

namespace otelbpf::k8s {

struct PodAttributorOptions {
  bool kubernetes = true;  // false: host mode, the cache is not consulted
  std::string node_name;   // k8s.node.name
  std::string host_name;   // host.name where a resource has none ("" = node_name)
};

class PodAttributor {
 public:
  PodAttributor(PodAttributorOptions options, PodCache& cache, ProcessCgroups& cgroups,
                MetricsRegistry& metrics = default_metrics());

  // Adds the attribution attributes to every resource of the batch; never removes or overrides an app
  // span's own k8s.* attributes.
  void annotate(SpanBatch& batch);

  // The pod that owns an address (nullptr for unknown addresses and for hostNetwork pods, whose address is
  // the node's). Accepts "10.0.0.5", "::ffff:10.0.0.5" and "[fd00::5]".
  PodCache::PodPtr attribute_ip(const std::string& ip) const;
  // The pod behind a veth, by the host-side interface index; the packet path fills the map.
  PodCache::PodPtr attribute_ifindex(std::uint32_t ifindex) const;
  void set_interface_pod(std::uint32_t ifindex, std::string pod_uid);
  void forget_interface(std::uint32_t ifindex);

  // Sets the pod's resource attributes (k8s.pod.*, k8s.namespace.name, k8s.node.name, workload, and the
  // container's when given). With overwrite false, attributes already present are kept.
  void set_pod_attributes(otlp::Resource& resource, const PodInfo& pod, const ContainerInfo* container,
                          bool overwrite) const;

 private:
  void annotate_sys(otlp::Resource& resource, std::size_t spans);
  void annotate_net(SpanBatch& batch);
  void annotate_app(otlp::ResourceSpans& rs, const std::string& peer_address, std::size_t spans);
  void count(SpanSource source, const char* how, std::size_t spans);
  void count_unattributed(SpanSource source, std::size_t spans);

  PodAttributorOptions options_;
  PodCache& cache_;
  ProcessCgroups& cgroups_;
  MetricsRegistry& metrics_;
  mutable std::mutex interfaces_mutex_;
  std::unordered_map<std::uint32_t, std::string> pod_by_ifindex_;
};

}  // namespace otelbpf::k8s
