#include "tracer/thread_links.h"

#include <limits>
#include <random>

namespace otelbpf {

std::uint64_t ThreadLinks::begin_request(std::uint64_t pid, std::uint32_t tid, std::uint64_t ts_ns) {
  if (next_id_ == 0) {
    // Random high bits keep ids of two agent runs (or two nodes) apart.
    std::random_device rd;
    next_id_ = (static_cast<std::uint64_t>(rd()) << 32) | 1;
  }
  evict_if_needed(ts_ns);
  auto& history = threads_[key(pid, tid)];
  if (!history.empty() && history.back().end_ns > ts_ns) history.back().end_ns = ts_ns;
  history.push_back({ts_ns, std::numeric_limits<std::uint64_t>::max(), next_id_++});
  if (history.size() > kHistoryPerThread) history.pop_front();
  return history.back().id;
}

void ThreadLinks::end_request(std::uint64_t pid, std::uint32_t tid, std::uint64_t ts_ns) {
  auto it = threads_.find(key(pid, tid));
  if (it == threads_.end() || it->second.empty()) return;
  auto& last = it->second.back();
  if (last.end_ns == std::numeric_limits<std::uint64_t>::max() && ts_ns >= last.begin_ns) last.end_ns = ts_ns;
}

std::uint64_t ThreadLinks::id_at(std::uint64_t pid, std::uint32_t tid, std::uint64_t ts_ns) const {
  auto it = threads_.find(key(pid, tid));
  if (it == threads_.end()) return 0;
  for (auto interval = it->second.rbegin(); interval != it->second.rend(); ++interval)
    if (interval->begin_ns <= ts_ns) return ts_ns <= interval->end_ns ? interval->id : 0;
  return 0;
}

void ThreadLinks::evict_if_needed(std::uint64_t now_ns) {
  if (threads_.size() < max_threads_) return;
  // Forget the threads idle longest; a full scan is rare (only at the bound) and keeps the map simple.
  std::uint64_t cutoff = now_ns;
  for (const auto& [k, history] : threads_)
    if (!history.empty()) cutoff = std::min(cutoff, history.back().begin_ns);
  const std::uint64_t horizon = cutoff + (now_ns - cutoff) / 2;
  for (auto it = threads_.begin(); it != threads_.end();)
    it = (it->second.empty() || it->second.back().begin_ns <= horizon) ? threads_.erase(it) : std::next(it);
}

}  // namespace otelbpf
