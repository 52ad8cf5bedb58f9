#pragma once
// Hash tables for the agent's hot paths: Abseil's Swiss tables instead of std::unordered_map/set.
//
// Why: the trace assembler looks every span up in a dozen string-keyed tables, and with the std containers
// ~15% of the agent's samples under tracing load were their bucket arithmetic (a division by a prime per
// lookup) and chain walks. Swiss tables probe a group of control bytes at once and index by a power of two.
// Node-based, so a reference to a value stays valid while others are inserted, as with the containers they
// replace. Iteration order is unspecified (and varies from run to run): nothing may depend on it.
#include <absl/container/flat_hash_map.h>
#include <absl/container/node_hash_map.h>
#include <absl/container/node_hash_set.h>

namespace otelbpf {

template <class Key, class Value>
using HashMap = absl::node_hash_map<Key, Value>;
template <class Key>
using HashSet = absl::node_hash_set<Key>;
// For small values that nobody holds a reference to (a number for a number): the entries live in the slot
// array, with no allocation per entry.
template <class Key, class Value>
using FlatHashMap = absl::flat_hash_map<Key, Value>;

// Gives a table's slot array back once it is mostly empty. A Swiss table keeps the capacity of its
// largest size: the assembler's per-span tables grow to ~16k entries in the agent's first seconds (a
// server not yet known to run an SDK keeps its facts for one) and hold a few hundred afterwards, and every
// lookup then probes a random place of a slot array a hundred times larger than its entries, out of the
// cache. Shrinking costs one rehash of what is left, at most once per call (the caller's sweep).
template <class Table>
void shrink_if_sparse(Table& table) {
  constexpr std::size_t kSmallCapacity = 1024;  // below this, a table fits the cache whatever its load
  if (table.capacity() > kSmallCapacity && table.size() * 8 < table.capacity()) table.rehash(0);
}

}  // namespace otelbpf
