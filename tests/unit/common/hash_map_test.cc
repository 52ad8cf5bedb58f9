// shrink_if_sparse: a table that grew in a burst and holds little now gives its slot array back, keeping
// every entry; a table used as far as its size, or a small one, is left alone (no rehash per sweep).
#include "common/hash_map.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace otelbpf {
namespace {

TEST(ShrinkIfSparse, ATableEmptiedAfterABurstShrinksToWhatItHolds) {
  HashMap<std::uint64_t, std::string> table;
  for (std::uint64_t key = 0; key < 20000; ++key) table[key] = std::to_string(key);
  const auto burst_capacity = table.capacity();
  for (std::uint64_t key = 300; key < 20000; ++key) table.erase(key);

  shrink_if_sparse(table);

  EXPECT_LT(table.capacity(), burst_capacity / 16);
  ASSERT_EQ(table.size(), 300u);
  for (std::uint64_t key = 0; key < 300; ++key) EXPECT_EQ(table.at(key), std::to_string(key)) << key;
}

TEST(ShrinkIfSparse, ATableStillInUseOrSmallKeepsItsCapacity) {
  HashSet<std::uint64_t> busy;
  for (std::uint64_t key = 0; key < 20000; ++key) busy.insert(key);
  for (std::uint64_t key = 0; key < 10000; ++key) busy.erase(key);  // half of it left: not sparse
  const auto busy_capacity = busy.capacity();
  shrink_if_sparse(busy);
  EXPECT_EQ(busy.capacity(), busy_capacity);

  HashSet<std::uint64_t> small;
  for (std::uint64_t key = 0; key < 500; ++key) small.insert(key);
  small.clear();
  const auto small_capacity = small.capacity();
  shrink_if_sparse(small);  // below the size where a table fits the cache anyway
  EXPECT_EQ(small.capacity(), small_capacity);
}

}  // namespace
}  // namespace otelbpf
