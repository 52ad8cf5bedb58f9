#include "gateway/hash_ring.h"

#include <algorithm>

namespace otelbpf::gateway {

std::uint64_t stable_hash(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  for (const char c : bytes) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ULL;  // FNV prime
  }
  // splitmix64's finaliser: FNV alone leaves nearby keys ("x#1", "x#2") close on the ring.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

HashRing::HashRing(std::vector<std::string> endpoints, int virtual_nodes) : endpoints_(std::move(endpoints)) {
  std::sort(endpoints_.begin(), endpoints_.end());
  endpoints_.erase(std::unique(endpoints_.begin(), endpoints_.end()), endpoints_.end());
  points_.reserve(endpoints_.size() * static_cast<std::size_t>(virtual_nodes));
  for (std::size_t e = 0; e < endpoints_.size(); ++e)
    for (int v = 0; v < virtual_nodes; ++v)
      points_.emplace_back(stable_hash(endpoints_[e] + "#" + std::to_string(v)), e);
  std::sort(points_.begin(), points_.end());
}

const std::string* HashRing::owner(std::string_view key) const {
  if (points_.empty()) return nullptr;
  const std::uint64_t h = stable_hash(key);
  auto it = std::lower_bound(points_.begin(), points_.end(), std::pair<std::uint64_t, std::size_t>{h, 0});
  if (it == points_.end()) it = points_.begin();  // the ring wraps around
  return &endpoints_[it->second];
}

}  // namespace otelbpf::gateway
