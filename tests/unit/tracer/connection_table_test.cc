// ConnectionTable: connections keyed by process and kernel socket, bounded by LRU and idle eviction (each
// eviction handed to the caller, so the stitcher can be closed and pending requests still leave), a
// reused socket address started over (but not a socket whose port TCP released), and a process's
// connections taken at once when it exits.
#include "tracer/connection_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

namespace otelbpf {
namespace {

otelbpf_event_header event(std::uint32_t pid, std::uint64_t sock_id, std::uint16_t sport, std::uint64_t ts_ns) {
  otelbpf_event_header e{};
  e.pid = pid;
  e.sock.sock_id = sock_id;
  e.sock.family = AF_INET;
  e.sock.protocol = IPPROTO_TCP;
  e.sock.sport = sport;
  e.sock.dport = 80;
  e.ts_enter_ns = ts_ns;
  e.ts_exit_ns = ts_ns + 10;
  std::memcpy(e.comm, "client", 7);
  return e;
}

class ConnectionTableTest : public ::testing::Test {
 protected:
  ConnectionTable table_{3, 1000, [this](Connection& c, std::uint64_t now) { evicted_.push_back({c.key.sock_id, now}); }};
  std::vector<std::pair<std::uint64_t, std::uint64_t>> evicted_;  // sock id, when
  bool created_ = false;
};

TEST_F(ConnectionTableTest, OneConnectionPerProcessAndSocket) {
  auto& a = table_.upsert(event(1, 0xa, 5000, 100), created_);
  EXPECT_TRUE(created_);
  EXPECT_EQ(a.comm, "client");
  EXPECT_EQ(&table_.upsert(event(1, 0xa, 5000, 200), created_), &a);
  EXPECT_FALSE(created_);
  EXPECT_EQ(a.last_seen_ns, 210u);
  table_.upsert(event(2, 0xa, 5000, 300), created_);  // the same socket in another process (fork)
  EXPECT_TRUE(created_);
  EXPECT_EQ(table_.size(), 2u);
}

TEST_F(ConnectionTableTest, TheBoundEvictsTheLeastRecentlyUsedThroughTheHandler) {
  table_.upsert(event(1, 1, 5001, 100), created_);
  table_.upsert(event(1, 2, 5002, 200), created_);
  table_.upsert(event(1, 3, 5003, 300), created_);
  table_.upsert(event(1, 1, 5001, 400), created_);  // socket 1 used again: socket 2 is now the oldest
  table_.upsert(event(1, 4, 5004, 500), created_);
  ASSERT_EQ(evicted_.size(), 1u);
  EXPECT_EQ(evicted_[0].first, 2u);
  EXPECT_EQ(table_.size(), 3u);
  EXPECT_EQ(table_.evictions(), 1u);
  EXPECT_EQ(table_.find({1, 2}), nullptr);
}

TEST_F(ConnectionTableTest, IdleConnectionsLeaveAfterTheIdleTime) {
  table_.upsert(event(1, 1, 5001, 100), created_);
  table_.upsert(event(1, 2, 5002, 900), created_);
  table_.evict_idle(1000);
  EXPECT_TRUE(evicted_.empty());
  table_.evict_idle(1200);  // socket 1 last seen at 110: idle 1090 > 1000
  ASSERT_EQ(evicted_.size(), 1u);
  EXPECT_EQ(evicted_[0], std::make_pair(std::uint64_t{1}, std::uint64_t{1200}));
  EXPECT_NE(table_.find({1, 2}), nullptr);
}

TEST_F(ConnectionTableTest, AReusedSocketAddressStartsOver) {
  auto& first = table_.upsert(event(1, 7, 5001, 100), created_);
  first.role_hint = l7::Role::kClient;
  auto& second = table_.upsert(event(1, 7, 6001, 200), created_);  // another 5-tuple: a new socket (close missed)
  EXPECT_TRUE(created_);
  ASSERT_EQ(evicted_.size(), 1u);
  EXPECT_EQ(second.sock.sport, 6001);
  EXPECT_EQ(second.role_hint, l7::Role::kUnknown);
}

TEST_F(ConnectionTableTest, ASocketWhosePortTcpReleasedIsTheSameConnection) {
  // Both FINs exchanged: tcp_done() zeroes the local port, and a read of data still queued reports 0.
  auto& open = table_.upsert(event(1, 7, 5001, 100), created_);
  open.role_hint = l7::Role::kClient;
  auto& done = table_.upsert(event(1, 7, 0, 200), created_);
  EXPECT_FALSE(created_);
  EXPECT_TRUE(evicted_.empty());
  EXPECT_EQ(&done, &open);
  EXPECT_EQ(done.sock.sport, 5001) << "the connection keeps the port it had";
  EXPECT_EQ(done.role_hint, l7::Role::kClient);
}

TEST_F(ConnectionTableTest, AnExitedProcessLeavesWithAllItsConnections) {
  table_.upsert(event(1, 1, 5001, 100), created_);
  table_.upsert(event(2, 2, 5002, 100), created_);
  table_.upsert(event(1, 3, 5003, 100), created_);
  auto gone = table_.take_all_of(1);
  EXPECT_EQ(gone.size(), 2u);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_TRUE(table_.take_all_of(1).empty());
  EXPECT_TRUE(evicted_.empty()) << "taken, not evicted: the caller closes them";
  EXPECT_NE(table_.take({2, 2}), nullptr);
  EXPECT_EQ(table_.size(), 0u);
}

}  // namespace
}  // namespace otelbpf
