#pragma once
// Span ids under a key, ordered by start time, for the questions "which spans of this key were running
// at time t": a busy server has tens of thousands of sys SERVER spans per process (or per health-check
// target) within the link window, and scanning them all for every SDK span is quadratic (issue 13,
// item 8). A lookup visits only the spans that started in the window before t, newest first.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "common/hash_map.h"

namespace otelbpf {

template <typename Key>
class TimeIndex {
 public:
  // Requests longer than this are not looked for (a minute: far beyond any link window).
  static constexpr std::uint64_t kLongestSpanNs = 60'000'000'000ull;
  // Nor more than this many candidates per lookup (a key with that many spans started in the same
  // instant cannot be told apart anyway).
  static constexpr int kMaxVisited = 512;

  void insert(const Key& key, std::uint64_t start_ns, const std::string& id) {
    index_[key].emplace(start_ns, id);
  }

  // Calls visit(id) for the spans of `key` that started at or before `t_ns`, latest start first.
  template <typename Visit>
  void started_before(const Key& key, std::uint64_t t_ns, Visit visit) const {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    const auto& spans = it->second;
    const std::uint64_t earliest = t_ns > kLongestSpanNs ? t_ns - kLongestSpanNs : 0;
    int visited = 0;
    for (auto s = spans.upper_bound(t_ns); s != spans.begin() && visited < kMaxVisited; ++visited) {
      --s;
      if (s->first < earliest) break;
      visit(s->second);
    }
  }

  // Drops the one entry insert(key, start_ns, id) made.
  void erase(const Key& key, std::uint64_t start_ns, const std::string& id) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    auto [first, last] = it->second.equal_range(start_ns);
    for (auto s = first; s != last; ++s)
      if (s->second == id) {
        it->second.erase(s);
        break;
      }
    if (it->second.empty()) index_.erase(it);
  }

  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& [key, spans] : index_) n += spans.size();
    return n;
  }

 private:
  HashMap<Key, std::multimap<std::uint64_t, std::string>> index_;
};

}  // namespace otelbpf
