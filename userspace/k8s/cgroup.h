#pragma once
// Which container and pod a process runs in, from its cgroup: by the cgroup id the probes record, or from
// /proc/<pid>/cgroup (docs/design.md, Pod attribution).
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
// start time (field 22 of /proc/<pid>/stat), so a recycled pid is not given the previous owner's pod.
// Once a process has exited its last known identity is still answered: its spans arrive after it is gone.
class ProcessCgroups {
 public:
  // `cgroup2_root`: where the cgroup v2 hierarchy is mounted ("" = the first cgroup2 mount in
  // /proc/self/mountinfo; none = no lookups by cgroup id). `recheck_after`: how long a cached identity is
  // answered before the start time is read again. Every batch of every traced process asks (a host
  // process, whose cgroup names no pod, by pid): reading /proc/<pid>/stat each time was ~2 % of the
  // agent under load. A pid recycled within that time keeps the old owner's identity until the recheck.
  explicit ProcessCgroups(std::string proc_root = "/proc", std::size_t max_entries = 16384,
                          std::string cgroup2_root = "",
                          std::chrono::milliseconds recheck_after = std::chrono::seconds(1));

  // nullopt when the process is unknown (never seen and no /proc entry).
  std::optional<CgroupIdentity> lookup(std::uint32_t pid);
  // By the cgroup v2 id the probes record with every event (bpf_get_current_cgroup_id): the id is the
  // inode number of the cgroup's directory, which outlives a process that exited before its events were
  // read (curl is gone within milliseconds; its pod's cgroup is not). nullopt when no directory of the
  // hierarchy has that id (cgroup v1 only, or the cgroup was removed before the first look).
  std::optional<CgroupIdentity> lookup_cgroup_id(std::uint64_t cgroup_id);
  std::size_t size() const;
  const std::string& cgroup2_root() const { return cgroup2_root_; }

 private:
  struct Entry {
    std::uint64_t start_time = 0;
    std::chrono::steady_clock::time_point checked{};  // when start_time was last read
    CgroupIdentity identity;
    std::list<std::uint32_t>::iterator lru;
  };
  std::optional<std::uint64_t> start_time_of(std::uint32_t pid) const;
  std::optional<CgroupIdentity> read_identity(std::uint32_t pid) const;

  // Walks the hierarchy once and indexes every directory by its inode; called for an id not yet known,
  // at most once a second (a burst of unknown ids costs one walk).
  void index_cgroup_tree();

  std::string proc_root_;
  std::size_t max_entries_;
  std::chrono::milliseconds recheck_after_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint32_t, Entry> entries_;
  std::list<std::uint32_t> lru_;  // most recently used first

  std::string cgroup2_root_;
  std::mutex cgroup_ids_mutex_;
  std::unordered_map<std::uint64_t, CgroupIdentity> by_cgroup_id_;  // rebuilt by each walk
  std::chrono::steady_clock::time_point last_walk_{};
};

// The mount point of the cgroup v2 hierarchy named in a mountinfo text ("" when none).
std::string find_cgroup2_mount(std::string_view mountinfo);

}  // namespace otelbpf::k8s
