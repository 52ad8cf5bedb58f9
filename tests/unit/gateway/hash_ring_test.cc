// The gateway tier's consistent hashing: every agent maps a key to the same replica, keys spread over the
// replicas, and a replica leaving moves only its own keys.
#include "gateway/hash_ring.h"

#include <gtest/gtest.h>

#include <map>

namespace otelbpf::gateway {
namespace {

std::string key(int i) { return std::to_string(1000003u * i) + "/" + std::to_string(7919u * i + 1); }

TEST(HashRing, TheSameKeyGoesToTheSameReplicaWhateverTheListOrder) {
  HashRing a({"10.0.0.1:4318", "10.0.0.2:4318", "10.0.0.3:4318"});
  HashRing b({"10.0.0.3:4318", "10.0.0.1:4318", "10.0.0.2:4318", "10.0.0.1:4318"});
  EXPECT_EQ(b.endpoints().size(), 3u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(*a.owner(key(i)), *b.owner(key(i)));
}

TEST(HashRing, KeysSpreadOverTheReplicas) {
  HashRing ring({"g1:4318", "g2:4318", "g3:4318", "g4:4318"});
  std::map<std::string, int> count;
  const int keys = 40000;
  for (int i = 0; i < keys; ++i) ++count[*ring.owner(key(i))];
  ASSERT_EQ(count.size(), 4u);
  for (const auto& [endpoint, n] : count) {
    EXPECT_GT(n, keys / 4 * 0.75) << endpoint;
    EXPECT_LT(n, keys / 4 * 1.25) << endpoint;
  }
}

TEST(HashRing, AReplicaLeavingMovesOnlyItsOwnKeys) {
  HashRing before({"g1:4318", "g2:4318", "g3:4318"});
  HashRing after({"g1:4318", "g3:4318"});
  int moved = 0;
  for (int i = 0; i < 30000; ++i) {
    const std::string& was = *before.owner(key(i));
    const std::string& now = *after.owner(key(i));
    if (was != "g2:4318") EXPECT_EQ(was, now) << "a key of a replica that stayed moved";
    moved += was != now;
  }
  EXPECT_GT(moved, 30000 / 3 * 0.75);
  EXPECT_LT(moved, 30000 / 3 * 1.25);
}

TEST(HashRing, EmptyRingOwnsNothingAndTheHashIsStable) {
  EXPECT_EQ(HashRing().owner("x"), nullptr);
  // Fixed values: the hash must not change between builds, or agents of two versions would disagree.
  EXPECT_EQ(stable_hash(""), stable_hash(std::string()));
  EXPECT_EQ(stable_hash("100/200"), 0x0ec647860f74959eULL);  // FNV-1a 64 + splitmix64 finaliser
}

}  // namespace
}  // namespace otelbpf::gateway
