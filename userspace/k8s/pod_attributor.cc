#include "k8s/pod_attributor.h"

#include <algorithm>
#include <charconv>

#include <map>

namespace otelbpf::k8s {
namespace {

otlp::KeyValue* find(otlp::Resource& resource, std::string_view key) {
  for (auto& kv : *resource.mutable_attributes())
    if (kv.key() == key) return &kv;
  return nullptr;
}

const otlp::KeyValue* find_span_attribute(const otlp::Span& span, std::string_view key) {
  for (const auto& kv : span.attributes())
    if (kv.key() == key) return &kv;
  return nullptr;
}

std::string string_value(const otlp::KeyValue* kv) {
  if (!kv) return {};
  const auto& v = kv->value();
  if (v.has_string_value()) return v.string_value();
  if (v.has_int_value()) return std::to_string(v.int_value());
  return {};
}

void set_attribute(otlp::Resource& resource, std::string_view key, const std::string& value, bool overwrite) {
  if (value.empty()) return;
  if (auto* existing = find(resource, key)) {
    if (overwrite) existing->mutable_value()->set_string_value(value);
    return;
  }
  auto* kv = resource.add_attributes();
  kv->set_key(std::string(key));
  kv->mutable_value()->set_string_value(value);
}

std::size_t spans_of(const otlp::ResourceSpans& rs) {
  std::size_t n = 0;
  for (const auto& ss : rs.scope_spans()) n += static_cast<std::size_t>(ss.spans_size());
  return n;
}

// "[fd00::5]:8080" / "[fd00::5]" -> "fd00::5"; "::ffff:10.0.0.5" -> "10.0.0.5" (a dual-stack socket's view
// of an IPv4 peer).
std::string normalize_ip(std::string ip) {
  if (!ip.empty() && ip.front() == '[') {
    const auto close = ip.find(']');
    ip = ip.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  }
  static constexpr std::string_view kMapped = "::ffff:";
  if (ip.size() > kMapped.size() && ip.starts_with(kMapped) && ip.find('.') != std::string::npos)
    ip = ip.substr(kMapped.size());
  return ip;
}

}  // namespace

PodAttributor::PodAttributor(PodAttributorOptions options, PodCache& cache, ProcessCgroups& cgroups,
                             MetricsRegistry& metrics)
    : options_(std::move(options)), cache_(cache), cgroups_(cgroups), metrics_(metrics) {
  if (options_.host_name.empty()) options_.host_name = options_.node_name;
}

void PodAttributor::count(SpanSource source, const char* how, std::size_t spans) {
  metrics_
      .counter("otelbpf_k8s_attributed_spans_total",
               "Spans attributed to a pod, by source and by what matched",
               {{"source", to_string(source)}, {"how", how}})
      .inc(spans);
}

void PodAttributor::count_unattributed(SpanSource source, std::size_t spans) {
  metrics_
      .counter("otelbpf_k8s_unattributed_spans_total", "Spans no pod could be found for, by source",
               {{"source", to_string(source)}})
      .inc(spans);
}

void PodAttributor::set_pod_attributes(otlp::Resource& resource, const PodInfo& pod,
                                       const ContainerInfo* container, bool overwrite) const {
  set_attribute(resource, "k8s.pod.name", pod.name, overwrite);
  set_attribute(resource, "k8s.pod.uid", pod.uid, overwrite);
  set_attribute(resource, "k8s.namespace.name", pod.namespace_name, overwrite);
  set_attribute(resource, "k8s.node.name", pod.node_name.empty() ? options_.node_name : pod.node_name,
                overwrite);
  for (const auto& [key, value] : pod.workload) set_attribute(resource, key, value, overwrite);
  if (container) {
    set_attribute(resource, "k8s.container.name", container->name, overwrite);
    set_attribute(resource, "container.id", container->id, overwrite);
    set_attribute(resource, "container.runtime", container->runtime, overwrite);
  }
}

// Net spans seen at a pod's NIC belong to that pod: the client's for the client pod NIC, the server's for
// the server pod NIC (node NICs and tunnels belong to the node). The packet path emits one resource per
// batch, so the spans are regrouped into one resource per pod here.
void PodAttributor::annotate_net(SpanBatch& batch) {
  if (!options_.kubernetes) return;
  otlp::ExportRequest regrouped;
  std::map<std::string, otlp::ResourceSpans*> by_pod;
  for (auto& rs : *batch.request().mutable_resource_spans())
    for (auto& ss : *rs.mutable_scope_spans())
      for (auto& span : *ss.mutable_spans()) {
        const auto side = string_value(find_span_attribute(span, "otelbpf.tap.side"));
        PodCache::PodPtr pod;
        if (side == "client-pod-nic")
          pod = attribute_ip(string_value(find_span_attribute(span, "client.address")));
        if (side == "server-pod-nic")
          pod = attribute_ip(string_value(find_span_attribute(span, "network.peer.address")));
        const std::string key = pod ? pod->uid : std::string();
        auto& group = by_pod[key];
        if (!group) {
          group = regrouped.add_resource_spans();
          *group->mutable_resource() = rs.resource();
          set_attribute(*group->mutable_resource(), "k8s.node.name", options_.node_name, false);
          if (pod) set_pod_attributes(*group->mutable_resource(), *pod, nullptr, false);
          auto* scope = group->add_scope_spans();
          *scope->mutable_scope() = ss.scope();
        }
        *group->mutable_scope_spans(0)->add_spans() = std::move(span);
        if (pod)
          count(SpanSource::kNet, "ip", 1);
        else if (side == "client-pod-nic" || side == "server-pod-nic")
          count_unattributed(SpanSource::kNet, 1);
      }
  batch.request() = std::move(regrouped);
}

void PodAttributor::annotate(SpanBatch& batch) {
  if (batch.source == SpanSource::kNet) annotate_net(batch);
  for (auto& rs : *batch.request().mutable_resource_spans()) {
    const auto spans = spans_of(rs);
    switch (batch.source) {
      case SpanSource::kSys:
        annotate_sys(*rs.mutable_resource(), spans);
        break;
      case SpanSource::kApp:
        annotate_app(rs, batch.peer_address, spans);
        break;
      case SpanSource::kNet:
        break;  // annotate_net, above
    }
    set_attribute(*rs.mutable_resource(), "host.name", options_.host_name, false);
  }
  // The tracer's compact sys spans: one resource per process, as their OTLP form would have.
  for (auto& group : batch.sys_groups) {
    annotate_sys(group.resource, group.spans.size());
    set_attribute(group.resource, "host.name", options_.host_name, false);
  }
}

void PodAttributor::annotate_sys(otlp::Resource& resource, std::size_t spans) {
  const auto pid_text = string_value(find(resource, "process.pid"));
  std::uint32_t pid = 0;
  const auto parsed = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
  // The cgroup the probes saw first: it is still there after a short-lived process has exited. The pid's
  // /proc entry next (cgroup v1 hosts, where the v2 id names no pod).
  std::optional<CgroupIdentity> identity;
  const auto cgroup_text = string_value(find(resource, "otelbpf.cgroup.id"));
  std::uint64_t cgroup_id = 0;
  std::from_chars(cgroup_text.data(), cgroup_text.data() + cgroup_text.size(), cgroup_id);
  if (cgroup_id) identity = cgroups_.lookup_cgroup_id(cgroup_id);
  if ((!identity || (!identity->in_container() && identity->pod_uid.empty())) && parsed.ec == std::errc() && pid != 0)
    if (auto by_pid = cgroups_.lookup(pid)) identity = by_pid;
  if (identity && identity->in_container()) {
    set_attribute(resource, "container.id", identity->container_id, true);
    set_attribute(resource, "container.runtime", to_string(identity->runtime), true);
  }
  if (!options_.kubernetes) return;
  set_attribute(resource, "k8s.node.name", options_.node_name, false);
  if (!identity) return count_unattributed(SpanSource::kSys, spans);
  if (identity->in_container()) {
    if (auto match = cache_.by_container(identity->container_id)) {
      set_pod_attributes(resource, *match->pod, match->container, true);
      return count(SpanSource::kSys, "cgroup", spans);
    }
  }
  if (!identity->pod_uid.empty()) {
    if (auto pod = cache_.by_uid(identity->pod_uid)) {
      // The container started after the pod's last status update: the pod is known, the container not yet.
      set_pod_attributes(resource, *pod, nullptr, true);
      return count(SpanSource::kSys, "cgroup", spans);
    }
    // Not (yet) in the cache: the UID is still a true and useful answer.
    set_attribute(resource, "k8s.pod.uid", identity->pod_uid, true);
  }
  count_unattributed(SpanSource::kSys, spans);
}

void PodAttributor::annotate_app(otlp::ResourceSpans& rs, const std::string& peer_address,
                                 std::size_t spans) {
  auto& resource = *rs.mutable_resource();
  // The SDK (or a collector's k8sattributes processor) already knows its pod: that answer stands.
  const bool has_pod = find(resource, "k8s.pod.name") || find(resource, "k8s.pod.uid");
  if (!options_.kubernetes) return;
  if (has_pod) return count(SpanSource::kApp, "resource", spans);
  PodCache::PodPtr pod;
  const char* how = nullptr;
  for (const char* key : {"app.host.ip", "k8s.pod.ip"}) {
    if (auto ip = string_value(find(resource, key)); !ip.empty()) {
      if ((pod = attribute_ip(ip))) {
        how = key;
        break;
      }
    }
  }
  if (!pod && !peer_address.empty() && (pod = attribute_ip(peer_address))) how = "peer_address";
  if (!pod) return count_unattributed(SpanSource::kApp, spans);
  // One container of a multi-container pod cannot be told from the address: the container stays unnamed.
  set_pod_attributes(resource, *pod, nullptr, false);
  count(SpanSource::kApp, how, spans);
}

PodCache::PodPtr PodAttributor::attribute_ip(const std::string& ip) const {
  if (!options_.kubernetes) return nullptr;
  return cache_.by_ip(normalize_ip(ip));
}

PodCache::PodPtr PodAttributor::attribute_ifindex(std::uint32_t ifindex) const {
  if (!options_.kubernetes) return nullptr;
  std::string uid;
  {
    std::lock_guard lock(interfaces_mutex_);
    auto it = pod_by_ifindex_.find(ifindex);
    if (it == pod_by_ifindex_.end()) return nullptr;
    uid = it->second;
  }
  return cache_.by_uid(uid);
}

void PodAttributor::set_interface_pod(std::uint32_t ifindex, std::string pod_uid) {
  std::lock_guard lock(interfaces_mutex_);
  pod_by_ifindex_[ifindex] = std::move(pod_uid);
}

void PodAttributor::forget_interface(std::uint32_t ifindex) {
  std::lock_guard lock(interfaces_mutex_);
  pod_by_ifindex_.erase(ifindex);
}

}  // namespace otelbpf::k8s
