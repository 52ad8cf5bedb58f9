#pragma once
// Hash tables for the agent's hot paths: Abseil's Swiss tables instead of std::unordered_map/set.
//
// Why: the trace assembler looks every span up in a dozen string-keyed tables, and with the std containers
// ~15% of the agent's samples under tracing load were their bucket arithmetic (a division by a prime per
// lookup) and chain walks. Swiss tables probe a group of control bytes at once and index by a power of two.
// Node-based, so a reference to a value stays valid while others are inserted, as with the containers they
// replace. Iteration order is unspecified (and varies from run to run): nothing may depend on it.
#include <absl/container/node_hash_map.h>
#include <absl/container/node_hash_set.h>

namespace otelbpf {

template <class Key, class Value>
using HashMap = absl::node_hash_map<Key, Value>;
template <class Key>
using HashSet = absl::node_hash_set<Key>;

}  // namespace otelbpf
