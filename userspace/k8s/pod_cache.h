#pragma once
// What the agent knows of the pods on its node, indexed the three ways attribution asks (docs/design.md, Pod attribution):
// by pod UID (from a process's cgroup), by container id (the same, more precisely), and by pod IP (app spans
// and, later, packets). Filled by the Kubernetes API watch; read by the span pipeline from other threads.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace otelbpf::k8s {

struct OwnerReference {
  std::string kind;  // "ReplicaSet", "DaemonSet", "StatefulSet", "Job", ...
  std::string name;
  bool controller = false;
};

struct ContainerInfo {
  std::string id;       // bare id, without the "containerd://" scheme of the pod status
  std::string name;     // as in the pod spec
  std::string runtime;  // the scheme of the status's containerID: "containerd", "docker", "cri-o"
};

// Resource attributes naming a workload: {"k8s.deployment.name", "web"}, {"k8s.replicaset.name", ...}.
using WorkloadAttributes = std::vector<std::pair<std::string, std::string>>;

struct PodInfo {
  std::string uid;
  std::string name;
  std::string namespace_name;
  std::string node_name;
  std::string resource_version;
  std::string phase;                 // status.phase; Succeeded and Failed pods no longer hold their IPs
  std::vector<std::string> pod_ips;  // status.podIPs (status.podIP first)
  bool host_network = false;
  std::vector<OwnerReference> owners;
  std::string pod_template_hash;          // the pod's `pod-template-hash` label, when a Deployment made it
  std::vector<ContainerInfo> containers;  // regular, init and ephemeral containers that have started
  WorkloadAttributes workload;            // filled by PodCache from owners
};

// The workload a pod belongs to, from its controller owner reference: a ReplicaSet "web-5d4f8c7b9" made by
// a Deployment gives k8s.deployment.name "web" as well; a Job "backup-28391040" made by a CronJob gives
// k8s.cronjob.name "backup" as well (the CronJob controller appends the scheduled time in minutes).
WorkloadAttributes derive_workload(const std::vector<OwnerReference>& owners,
                                   const std::string& pod_template_hash = {});

struct PodCacheOptions {
  // A deleted pod's processes may still have spans waiting in the assembler: keep answering by UID and
  // container id a while. Its IPs are forgotten at once, since a new pod may take them.
  std::chrono::seconds deleted_retention{60};
};

class PodCache {
 public:
  using Clock = std::chrono::steady_clock;
  using PodPtr = std::shared_ptr<const PodInfo>;

  explicit PodCache(PodCacheOptions options = {});

  void upsert(PodInfo pod, Clock::time_point now = Clock::now());
  void remove(const std::string& uid, Clock::time_point now = Clock::now());
  // A fresh LIST: pods not in it are treated as deleted.
  void replace_all(std::vector<PodInfo> pods, Clock::time_point now = Clock::now());

  PodPtr by_uid(const std::string& uid) const;
  PodPtr by_ip(const std::string& ip) const;
  struct ContainerMatch {
    PodPtr pod;
    const ContainerInfo* container = nullptr;  // points into *pod
  };
  std::optional<ContainerMatch> by_container(const std::string& container_id) const;

  // Live pods (deleted ones kept for retention are not counted).
  std::size_t size() const;

 private:
  void index(const PodPtr& pod);
  void unindex(const PodInfo& pod, bool keep_identity);
  void purge_deleted(Clock::time_point now);

  PodCacheOptions options_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, PodPtr> by_uid_;
  std::unordered_map<std::string, PodPtr> by_ip_;
  std::unordered_map<std::string, PodPtr> by_container_;
  std::unordered_map<std::string, Clock::time_point> deleted_;  // uid -> when deleted
};

}  // namespace otelbpf::k8s
