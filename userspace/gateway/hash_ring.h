#pragma once
// Consistent hashing of stitch keys onto gateway endpoints (docs/gateway.md, Hashing). Every agent builds
// the same ring from the same endpoint list, so both halves of a call, seen by agents on different nodes,
// go to the same gateway without any coordination. Each endpoint owns `virtual_nodes` points on a 64-bit
// ring; a key belongs to the first point at or after its hash. Adding or removing one endpoint moves only
// the keys of its own points (about 1/n of them).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace otelbpf::gateway {

// FNV-1a over the bytes, then a 64-bit finaliser: stable across processes, builds and architectures (the
// standard library's hashes are not), and spread well enough for the ring.
std::uint64_t stable_hash(std::string_view bytes);

class HashRing {
 public:
  HashRing() = default;
  // Duplicates are ignored; the order of `endpoints` does not matter.
  explicit HashRing(std::vector<std::string> endpoints, int virtual_nodes = 128);

  // The endpoint a key belongs to; nullptr when the ring is empty.
  const std::string* owner(std::string_view key) const;
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  bool empty() const { return endpoints_.empty(); }

 private:
  std::vector<std::string> endpoints_;                     // sorted, unique
  std::vector<std::pair<std::uint64_t, std::size_t>> points_;  // (hash, endpoint index), sorted
};

}  // namespace otelbpf::gateway
