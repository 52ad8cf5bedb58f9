#pragma once
// The per-thread syscall trace id of the thread rule (docs/design.md, Linking, rule 3): a thread takes a fresh id when it reads a request
// on a server connection and hands it to the requests it writes before it answers. Lookups are by time,
// because records are completed (and so turned into spans) after the syscalls that carried them.
#include <cstdint>
#include <deque>
#include <unordered_map>

namespace otelbpf {

class ThreadLinks {
 public:
  explicit ThreadLinks(std::size_t max_threads = 65536) : max_threads_(max_threads) {}

  // The thread read the start of a request at `ts_ns`; returns the id it now carries.
  std::uint64_t begin_request(std::uint64_t pid, std::uint32_t tid, std::uint64_t ts_ns);
  // The thread wrote the answer to its current request at `ts_ns`: requests written later are not children.
  void end_request(std::uint64_t pid, std::uint32_t tid, std::uint64_t ts_ns);
  // The id the thread carried at `ts_ns` (0 = none).
  std::uint64_t id_at(std::uint64_t pid, std::uint32_t tid, std::uint64_t ts_ns) const;

  std::size_t threads() const { return threads_.size(); }

 private:
  struct Interval {
    std::uint64_t begin_ns;
    std::uint64_t end_ns;  // UINT64_MAX while open
    std::uint64_t id;
  };
  static std::uint64_t key(std::uint64_t pid, std::uint32_t tid) { return (pid << 32) | tid; }
  void evict_if_needed(std::uint64_t now_ns);

  static constexpr std::size_t kHistoryPerThread = 32;
  std::size_t max_threads_;
  std::unordered_map<std::uint64_t, std::deque<Interval>> threads_;
  std::uint64_t next_id_ = 0;
};

}  // namespace otelbpf
