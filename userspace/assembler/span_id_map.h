#pragma once
// A hash map keyed by span id, for the assembler's per-span tables (its facts).
//
// Span ids are 8 bytes: the receiver refuses spans with others (OTLP), and the tracer and packet capture
// make 8. The map is keyed by their 64-bit value, so a lookup hashes and compares one word instead of a
// string: with string keys the assembler spent about a sixth of its time in probing and comparing them.
// An id of any other length (only a test or a malformed peer could make one) is keyed by its hash, which
// a different 8-byte id could equal only by a 64-bit collision.
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

#include <absl/container/node_hash_map.h>
#include <absl/hash/hash.h>

namespace otelbpf {

inline std::uint64_t span_key(std::string_view span_id) {
  if (span_id.size() == 8) {
    std::uint64_t key;
    std::memcpy(&key, span_id.data(), sizeof key);
    return key;
  }
  return absl::Hash<std::string_view>{}(span_id);
}

// Node-based (references to values stay valid while others are inserted), like common/hash_map.h's.
template <class Value>
class SpanIdMap {
 public:
  using Map = absl::node_hash_map<std::uint64_t, Value>;
  using iterator = typename Map::iterator;
  using const_iterator = typename Map::const_iterator;

  iterator find(std::string_view id) { return map_.find(span_key(id)); }
  const_iterator find(std::string_view id) const { return map_.find(span_key(id)); }
  bool contains(std::string_view id) const { return map_.contains(span_key(id)); }
  // By span_key(id), for callers that keep keys instead of ids.
  iterator find_key(std::uint64_t key) { return map_.find(key); }
  const_iterator find_key(std::uint64_t key) const { return map_.find(key); }
  std::pair<iterator, bool> try_emplace(std::string_view id) { return map_.try_emplace(span_key(id)); }
  std::pair<iterator, bool> try_emplace_key(std::uint64_t key) { return map_.try_emplace(key); }
  // Constructs the value from `value` only if the key is new (else `value` is left as it was).
  template <class V>
  std::pair<iterator, bool> try_emplace_key(std::uint64_t key, V&& value) {
    return map_.try_emplace(key, std::forward<V>(value));
  }
  Value& operator[](std::string_view id) { return map_[span_key(id)]; }
  void erase(iterator it) { map_.erase(it); }
  void erase(const_iterator it) { map_.erase(it); }

  std::size_t size() const { return map_.size(); }
  std::size_t capacity() const { return map_.capacity(); }
  void rehash(std::size_t n) { map_.rehash(n); }
  bool empty() const { return map_.empty(); }
  iterator begin() { return map_.begin(); }
  iterator end() { return map_.end(); }
  const_iterator begin() const { return map_.begin(); }
  const_iterator end() const { return map_.end(); }

 private:
  Map map_;
};

}  // namespace otelbpf
