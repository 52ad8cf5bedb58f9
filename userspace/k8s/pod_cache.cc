#include "k8s/pod_cache.h"

#include <algorithm>
#include <mutex>
#include <unordered_set>

namespace otelbpf::k8s {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The alphabet of pod-template-hash values (k8s.io/apimachinery rand.SafeEncodeString: no vowels, no
// characters that read alike).
bool is_template_hash(std::string_view s) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  return s.size() >= 5 && s.size() <= 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return kAlphabet.find(c) != std::string_view::npos; });
}

std::string strip_last_part(const std::string& name) {
  const auto dash = name.rfind('-');
  return dash == std::string::npos ? std::string{} : name.substr(0, dash);
}

// A CronJob's Job is "<cronjob>-<scheduled time in minutes since the epoch>": 8 digits since 1979, so
// shorter numeric suffixes ("migrate-2") are taken as part of a hand-made Job's name.
constexpr std::size_t kMinCronJobSuffixDigits = 8;

bool terminal_phase(const std::string& phase) { return phase == "Succeeded" || phase == "Failed"; }

}  // namespace

WorkloadAttributes derive_workload(const std::vector<OwnerReference>& owners,
                                   const std::string& pod_template_hash) {
  WorkloadAttributes out;
  if (owners.empty()) return out;
  auto owner =
      std::find_if(owners.begin(), owners.end(), [](const OwnerReference& o) { return o.controller; });
  if (owner == owners.end()) owner = owners.begin();
  const std::string& name = owner->name;
  if (owner->kind == "ReplicaSet") {
    out.emplace_back("k8s.replicaset.name", name);
    std::string deployment;
    if (!pod_template_hash.empty() && name.size() > pod_template_hash.size() + 1 &&
        name.ends_with("-" + pod_template_hash)) {
      deployment = name.substr(0, name.size() - pod_template_hash.size() - 1);
    } else if (pod_template_hash.empty()) {
      const auto dash = name.rfind('-');
      if (dash != std::string::npos && is_template_hash(std::string_view(name).substr(dash + 1)))
        deployment = strip_last_part(name);
    }
    if (!deployment.empty()) out.emplace_back("k8s.deployment.name", deployment);
  } else if (owner->kind == "DaemonSet") {
    out.emplace_back("k8s.daemonset.name", name);
  } else if (owner->kind == "StatefulSet") {
    out.emplace_back("k8s.statefulset.name", name);
  } else if (owner->kind == "Job") {
    out.emplace_back("k8s.job.name", name);
    const auto dash = name.rfind('-');
    if (dash != std::string::npos && dash > 0) {
      const std::string_view suffix = std::string_view(name).substr(dash + 1);
      if (suffix.size() >= kMinCronJobSuffixDigits && all_digits(suffix))
        out.emplace_back("k8s.cronjob.name", name.substr(0, dash));
    }
  } else if (owner->kind == "CronJob") {
    out.emplace_back("k8s.cronjob.name", name);
  } else if (owner->kind == "Deployment") {
    out.emplace_back("k8s.deployment.name", name);
  }
  return out;
}

PodCache::PodCache(PodCacheOptions options) : options_(options) {}

void PodCache::index(const PodPtr& pod) {
  by_uid_[pod->uid] = pod;
  // hostNetwork pods share the node's address: an IP match could name any of them.
  if (!pod->host_network && !terminal_phase(pod->phase))
    for (const auto& ip : pod->pod_ips) by_ip_[ip] = pod;
  for (const auto& c : pod->containers)
    if (!c.id.empty()) by_container_[c.id] = pod;
}

void PodCache::unindex(const PodInfo& pod, bool keep_identity) {
  for (const auto& ip : pod.pod_ips) {
    auto it = by_ip_.find(ip);
    if (it != by_ip_.end() && it->second->uid == pod.uid) by_ip_.erase(it);
  }
  if (keep_identity) return;
  for (const auto& c : pod.containers) {
    auto it = by_container_.find(c.id);
    if (it != by_container_.end() && it->second->uid == pod.uid) by_container_.erase(it);
  }
  by_uid_.erase(pod.uid);
}

void PodCache::purge_deleted(Clock::time_point now) {
  for (auto it = deleted_.begin(); it != deleted_.end();) {
    if (now - it->second < options_.deleted_retention) {
      ++it;
      continue;
    }
    if (auto pod = by_uid_.find(it->first); pod != by_uid_.end()) {
      const PodPtr keep = pod->second;
      unindex(*keep, false);
    }
    it = deleted_.erase(it);
  }
}

void PodCache::upsert(PodInfo pod, Clock::time_point now) {
  if (pod.uid.empty()) return;
  pod.workload = derive_workload(pod.owners, pod.pod_template_hash);
  auto ptr = std::make_shared<const PodInfo>(std::move(pod));
  std::unique_lock lock(mutex_);
  purge_deleted(now);
  deleted_.erase(ptr->uid);
  if (auto old = by_uid_.find(ptr->uid); old != by_uid_.end()) {
    const PodPtr previous = old->second;
    unindex(*previous, false);
  }
  index(ptr);
}

void PodCache::remove(const std::string& uid, Clock::time_point now) {
  std::unique_lock lock(mutex_);
  purge_deleted(now);
  auto it = by_uid_.find(uid);
  if (it == by_uid_.end() || deleted_.count(uid)) return;
  const PodPtr pod = it->second;
  unindex(*pod, true);
  deleted_[uid] = now;
}

void PodCache::replace_all(std::vector<PodInfo> pods, Clock::time_point now) {
  std::unordered_set<std::string> listed;
  for (const auto& p : pods) listed.insert(p.uid);
  std::vector<std::string> gone;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [uid, pod] : by_uid_)
      if (!listed.count(uid)) gone.push_back(uid);
  }
  for (auto& p : pods) upsert(std::move(p), now);
  for (const auto& uid : gone) remove(uid, now);
}

PodCache::PodPtr PodCache::by_uid(const std::string& uid) const {
  std::shared_lock lock(mutex_);
  auto it = by_uid_.find(uid);
  return it == by_uid_.end() ? nullptr : it->second;
}

PodCache::PodPtr PodCache::by_ip(const std::string& ip) const {
  std::shared_lock lock(mutex_);
  auto it = by_ip_.find(ip);
  return it == by_ip_.end() ? nullptr : it->second;
}

std::optional<PodCache::ContainerMatch> PodCache::by_container(const std::string& container_id) const {
  std::shared_lock lock(mutex_);
  auto it = by_container_.find(container_id);
  if (it == by_container_.end()) return std::nullopt;
  for (const auto& c : it->second->containers)
    if (c.id == container_id) return ContainerMatch{it->second, &c};
  return std::nullopt;
}

std::size_t PodCache::size() const {
  std::shared_lock lock(mutex_);
  return by_uid_.size() - deleted_.size();
}

}  // namespace otelbpf::k8s
