#pragma once
// Span ids under a key, ordered by start time, for the questions "which spans of this key were running
// at time t": a busy server has tens of thousands of sys SERVER spans per process (or per health-check
// target) within the link window, and scanning them all for every SDK span is quadratic (issue 13,
// item 8). A lookup visits only the spans that started in the window before t, newest first.
//
// Spans are named by their span_key (assembler/span_id_map.h), the key of the assembler's facts: a word
// per entry instead of a string id, which was copied on every insert and compared on every erase.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

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

  // Spans arrive nearly in start order, so an insert is an append or lands a few entries from the end.
  void insert(const Key& key, std::uint64_t start_ns, std::uint64_t span) {
    Spans& spans = index_[key];
    auto& entries = spans.entries;
    if (entries.empty() || entries.back().start_ns <= start_ns) {
      entries.push_back({start_ns, span});
    } else {
      auto at = std::upper_bound(entries.begin(), entries.end(), start_ns,
                                 [](std::uint64_t t, const Entry& e) { return t < e.start_ns; });
      entries.insert(at, {start_ns, span});
    }
    ++spans.live;
  }

  // Calls visit(span) for the spans of `key` that started at or before `t_ns`, latest start first.
  template <typename Visit>
  void started_before(const Key& key, std::uint64_t t_ns, Visit visit) const {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    const auto& entries = it->second.entries;
    const std::uint64_t earliest = t_ns > kLongestSpanNs ? t_ns - kLongestSpanNs : 0;
    auto s = std::upper_bound(entries.begin(), entries.end(), t_ns,
                              [](std::uint64_t t, const Entry& e) { return t < e.start_ns; });
    for (int visited = 0; s != entries.begin() && visited < kMaxVisited; ++visited) {
      --s;
      if (s->start_ns < earliest) break;
      if (!s->erased) visit(s->span);
    }
  }

  // Drops the one entry insert(key, start_ns, span) made. Entries mostly leave in the order they came, from
  // the front; one that leaves out of order is blanked, and the blanks are swept when they are the front
  // or outnumber the live entries (a few facts kept long, e.g. samples, must not pin every blank after them).
  void erase(const Key& key, std::uint64_t start_ns, std::uint64_t span) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    Spans& spans = it->second;
    auto& entries = spans.entries;
    auto s = std::lower_bound(entries.begin(), entries.end(), start_ns,
                              [](const Entry& e, std::uint64_t t) { return e.start_ns < t; });
    for (; s != entries.end() && s->start_ns == start_ns; ++s)
      if (!s->erased && s->span == span) {
        s->erased = true;
        --spans.live;
        break;
      }
    while (!entries.empty() && entries.front().erased) entries.pop_front();
    while (!entries.empty() && entries.back().erased) entries.pop_back();
    if (spans.live == 0) {
      index_.erase(it);
      return;
    }
    if (entries.size() > 64 && entries.size() > 2 * spans.live)
      entries.erase(std::remove_if(entries.begin(), entries.end(), [](const Entry& e) { return e.erased; }),
                    entries.end());
  }

  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& [key, spans] : index_) n += spans.live;
    return n;
  }

 private:
  struct Entry {
    std::uint64_t start_ns;
    std::uint64_t span;
    bool erased = false;  // not yet swept
  };
  struct Spans {
    std::deque<Entry> entries;  // by start time; equal starts in insertion order
    std::size_t live = 0;
  };
  HashMap<Key, Spans> index_;
};

}  // namespace otelbpf
