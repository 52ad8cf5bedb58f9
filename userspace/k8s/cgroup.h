#pragma once
// Which container and pod a process runs in, read from /proc/<pid>/cgroup (requirements §4).
//
// The kubelet names a pod's cgroup after the pod UID and the runtime names each container's cgroup after
// the container id, in one of two layouts: the cgroupfs driver (`/kubepods/burstable/pod<uid>/<id>`) and
// the systemd driver (`kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope`).
// Both appear under cgroup v1 (one line per hierarchy) and v2 (the single `0::` line).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace otelbpf::k8s {

enum class ContainerRuntime { kNone, kUnknown, kDocker, kContainerd, kCrio, kPodman };
// The OpenTelemetry `container.runtime` value ("" for kNone and kUnknown).
const char* to_string(ContainerRuntime runtime);

struct CgroupIdentity {
  std::string pod_uid;       // with dashes, as in metadata.uid ("" outside a pod)
  std::string container_id;  // bare id without the runtime prefix ("" for a host process)
  ContainerRuntime runtime = ContainerRuntime::kNone;

  bool in_container() const { return !container_id.empty(); }
  bool operator==(const CgroupIdentity&) const = default;
};

// One cgroup path ("/kubepods/burstable/pod.../<id>").
CgroupIdentity parse_cgroup_path(std::string_view path);
// The whole /proc/<pid>/cgroup text; the first line that names a container or pod wins, because under
// cgroup v1 some hierarchies (often cpuset or perf_event) are not nested per container.
CgroupIdentity parse_proc_cgroup(std::string_view contents);

// Reads and caches the identity of processes. The cache is keyed by pid and checked against the process's
// start time (field 22 of /proc/<pid>/stat), so a recycled pid is never given the previous owner's pod.
// Once a process has exited its last known identity is still answered: its spans arrive after it is gone.
class ProcessCgroups {
 public:
  explicit ProcessCgroups(std::string proc_root = "/proc", std::size_t max_entries = 16384);

  // nullopt when the process is unknown (never seen and no /proc entry).
  std::optional<CgroupIdentity> lookup(std::uint32_t pid);
  std::size_t size() const;

 private:
  struct Entry {
    std::uint64_t start_time = 0;
    CgroupIdentity identity;
    std::list<std::uint32_t>::iterator lru;
  };
  std::optional<std::uint64_t> start_time_of(std::uint32_t pid) const;
  std::optional<CgroupIdentity> read_identity(std::uint32_t pid) const;

  std::string proc_root_;
  std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint32_t, Entry> entries_;
  std::list<std::uint32_t> lru_;  // most recently used first
};

}  // namespace otelbpf::k8s
