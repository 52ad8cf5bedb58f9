#include "k8s/cgroup.h"

#include "common/proc_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace otelbpf::k8s {
namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool is_container_id(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!is_hex(c)) return false;
  return true;
}

bool strip_suffix(std::string_view& s, std::string_view suffix) {
  if (!s.ends_with(suffix)) return false;
  s.remove_suffix(suffix.size());
  return true;
}

// A pod UID is a UUID, except for static pods whose UID is the 32-hex hash of their manifest; the systemd
// driver writes the UUID's dashes as underscores because '-' separates slice levels.
std::string pod_uid_of(std::string_view segment) {
  strip_suffix(segment, ".slice");
  const auto at = segment.rfind("pod");
  if (at == std::string_view::npos || (at != 0 && segment[at - 1] != '-')) return {};
  const auto uid = segment.substr(at + 3);
  if (uid.size() < 32 || uid.size() > 36) return {};
  std::string out;
  out.reserve(uid.size());
  for (char c : uid) {
    if (c == '_' || c == '-') {
      out += '-';
    } else if (is_hex(c)) {
      out += c;
    } else {
      return {};
    }
  }
  return out;
}

struct ContainerSegment {
  std::string_view id;
  ContainerRuntime runtime = ContainerRuntime::kNone;
};

ContainerSegment container_of(std::string_view segment, std::string_view parent) {
  // cri-o's monitor process (conmon) runs beside the container, not in it.
  if (segment.starts_with("crio-conmon-")) return {};
  strip_suffix(segment, ".scope");
  static constexpr std::pair<std::string_view, ContainerRuntime> kPrefixes[] = {
      {"cri-containerd-", ContainerRuntime::kContainerd},
      {"docker-", ContainerRuntime::kDocker},
      {"crio-", ContainerRuntime::kCrio},
      {"libpod-", ContainerRuntime::kPodman},
  };
  for (const auto& [prefix, runtime] : kPrefixes) {
    if (segment.starts_with(prefix) && is_container_id(segment.substr(prefix.size())))
      return {segment.substr(prefix.size()), runtime};
  }
  if (is_container_id(segment)) {
    // cgroupfs layouts: `/docker/<id>` is docker's own; under kubepods both containerd and docker write
    // the bare id, so the runtime is told by the pod's status instead.
    return {segment, parent == "docker" ? ContainerRuntime::kDocker : ContainerRuntime::kUnknown};
  }
  return {};
}

}  // namespace

const char* to_string(ContainerRuntime runtime) {
  switch (runtime) {
    case ContainerRuntime::kDocker:
      return "docker";
    case ContainerRuntime::kContainerd:
      return "containerd";
    case ContainerRuntime::kCrio:
      return "cri-o";
    case ContainerRuntime::kPodman:
      return "podman";
    case ContainerRuntime::kNone:
    case ContainerRuntime::kUnknown:
      break;
  }
  return "";
}

CgroupIdentity parse_cgroup_path(std::string_view path) {
  CgroupIdentity out;
  std::string_view parent;
  // The innermost match wins: nested layouts (a kind node is itself a docker container) put the pod's
  // cgroups below the outer container's.
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto segment = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (segment.empty() || segment == "." || segment == "..") continue;
    if (auto uid = pod_uid_of(segment); !uid.empty()) {
      out.pod_uid = std::move(uid);
    } else if (auto container = container_of(segment, parent); !container.id.empty()) {
      out.container_id = std::string(container.id);
      out.runtime = container.runtime;
    }
    parent = segment;
  }
  return out;
}

CgroupIdentity parse_proc_cgroup(std::string_view contents) {
  CgroupIdentity best;
  while (!contents.empty()) {
    const auto newline = contents.find('\n');
    auto line = contents.substr(0, newline);
    contents = newline == std::string_view::npos ? std::string_view{} : contents.substr(newline + 1);
    // "hierarchy-id:controller-list:path"; the path may itself contain ':'.
    const auto first = line.find(':');
    if (first == std::string_view::npos) continue;
    const auto second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    auto identity = parse_cgroup_path(line.substr(second + 1));
    if (identity.in_container() && !identity.pod_uid.empty()) return identity;
    if (identity.in_container() && !best.in_container())
      best = std::move(identity);
    else if (!identity.pod_uid.empty() && best.pod_uid.empty() && !best.in_container())
      best = std::move(identity);
  }
  return best;
}

std::string find_cgroup2_mount(std::string_view mountinfo) {
  // "36 25 0:31 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw": the mount point is
  // field 5, the filesystem type the first field after " - ".
  std::istringstream lines{std::string(mountinfo)};
  for (std::string line; std::getline(lines, line);) {
    const auto separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    std::istringstream after(line.substr(separator + 3)), before(line.substr(0, separator));
    std::string type, field, mount_point;
    after >> type;
    if (type != "cgroup2") continue;
    for (int i = 1; i <= 5 && before >> field; ++i)
      if (i == 5) mount_point = field;
    if (!mount_point.empty()) return mount_point;
  }
  return {};
}

ProcessCgroups::ProcessCgroups(std::string proc_root, std::size_t max_entries, std::string cgroup2_root,
                               std::chrono::milliseconds recheck_after)
    : proc_root_(std::move(proc_root)),
      max_entries_(std::max<std::size_t>(1, max_entries)),
      recheck_after_(recheck_after),
      cgroup2_root_(std::move(cgroup2_root)) {
  if (cgroup2_root_.empty()) cgroup2_root_ = find_cgroup2_mount(read_proc_file("/proc/self/mountinfo").value_or(""));
}

std::optional<CgroupIdentity> ProcessCgroups::lookup_cgroup_id(std::uint64_t cgroup_id) {
  if (cgroup_id == 0 || cgroup2_root_.empty()) return std::nullopt;
  std::lock_guard lock(cgroup_ids_mutex_);
  if (auto it = by_cgroup_id_.find(cgroup_id); it != by_cgroup_id_.end()) return it->second;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_walk_ < std::chrono::seconds(1)) return std::nullopt;
  last_walk_ = now;
  index_cgroup_tree();
  if (auto it = by_cgroup_id_.find(cgroup_id); it != by_cgroup_id_.end()) return it->second;
  return std::nullopt;
}

void ProcessCgroups::index_cgroup_tree() {
  // Every directory is kept, pod or not, so that a host service's id is answered (with no pod) from the
  // index instead of asking for another walk. A removed cgroup leaves the index at the next walk.
  std::unordered_map<std::uint64_t, CgroupIdentity> index;
  std::error_code ec;
  namespace fs = std::filesystem;
  const fs::path root(cgroup2_root_);
  if (struct stat st {}; ::stat(root.c_str(), &st) == 0) index.emplace(st.st_ino, CgroupIdentity{});
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || ec) {
      ec.clear();
      continue;
    }
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;
    auto identity = parse_cgroup_path("/" + fs::relative(it->path(), root, ec).generic_string());
    if (ec) {
      ec.clear();
      continue;
    }
    index.emplace(st.st_ino, std::move(identity));
    if (index.size() >= 4 * max_entries_) break;  // a bound on a pathological tree
  }
  by_cgroup_id_ = std::move(index);
}

std::optional<std::uint64_t> ProcessCgroups::start_time_of(std::uint32_t pid) const {
  const auto stat = read_proc_file(proc_root_ + "/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  const std::string& text = *stat;
  // The command name (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i)
    if (!(fields >> field)) return std::nullopt;
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<CgroupIdentity> ProcessCgroups::read_identity(std::uint32_t pid) const {
  const auto text = read_proc_file(proc_root_ + "/" + std::to_string(pid) + "/cgroup");
  if (!text) return std::nullopt;
  return parse_proc_cgroup(*text);
}

std::optional<CgroupIdentity> ProcessCgroups::lookup(std::uint32_t pid) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(pid); it != entries_.end() && now - it->second.checked < recheck_after_) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.identity;
    }
  }
  const auto start_time = start_time_of(pid);
  std::lock_guard lock(mutex_);
  auto it = entries_.find(pid);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    // Gone since (no stat): the last known identity is the best answer for its late spans.
    if (!start_time || *start_time == it->second.start_time) {
      if (start_time) it->second.checked = now;
      return it->second.identity;
    }
  }
  if (!start_time) return std::nullopt;
  auto identity = read_identity(pid);
  if (!identity) {
    // Exited between the two reads: whatever is cached belonged to an earlier owner of the pid.
    if (it != entries_.end()) {
      lru_.erase(it->second.lru);
      entries_.erase(it);
    }
    return std::nullopt;
  }
  if (it == entries_.end()) {
    if (entries_.size() >= max_entries_) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(pid);
    it = entries_.emplace(pid, Entry{0, {}, {}, lru_.begin()}).first;
  }
  it->second.start_time = *start_time;
  it->second.checked = now;
  it->second.identity = *identity;
  return it->second.identity;
}

std::size_t ProcessCgroups::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace otelbpf::k8s
