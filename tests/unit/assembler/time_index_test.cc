// The assembler's per-key time index answers "which spans of this key had started by t" without visiting
// the key's whole history: a busy single-process server must not make every SDK span scan every sys span
// of that process (issue 13 item 8).
#include "assembler/time_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace otelbpf {
namespace {

TEST(TimeIndex, VisitsOnlyWhatStartedInTheWindowBeforeTNewestFirst) {
  TimeIndex<int> index;
  constexpr std::uint64_t kSecond = 1'000'000'000ull;
  // 100k requests of one process, one every 10 ms over 1000 s.
  for (std::uint64_t i = 0; i < 100'000; ++i) index.insert(7, i * kSecond / 100, i);
  std::vector<std::uint64_t> visited;
  index.started_before(7, 500 * kSecond, [&](std::uint64_t span) { visited.push_back(span); });
  ASSERT_FALSE(visited.empty());
  EXPECT_EQ(visited.front(), 50000u) << "the latest start at or before t comes first";
  EXPECT_LE(visited.size(), static_cast<std::size_t>(TimeIndex<int>::kMaxVisited));
  visited.clear();
  index.started_before(8, 500 * kSecond, [&](std::uint64_t span) { visited.push_back(span); });
  EXPECT_TRUE(visited.empty());
  // Spans that started more than the longest span before t are not candidates.
  TimeIndex<int> sparse;
  constexpr std::uint64_t kOld = 1, kRecent = 2, kTwin = 3;
  sparse.insert(1, 0, kOld);
  sparse.insert(1, 100 * kSecond, kRecent);
  sparse.started_before(1, 100 * kSecond, [&](std::uint64_t span) { visited.push_back(span); });
  EXPECT_EQ(visited, std::vector<std::uint64_t>{kRecent});
  // erase takes out exactly the entry insert made: not another id at the same start, not a wrong start.
  sparse.insert(1, 100 * kSecond, kTwin);
  sparse.erase(1, 99 * kSecond, kRecent);
  sparse.erase(1, 100 * kSecond, kRecent);
  visited.clear();
  sparse.started_before(1, 100 * kSecond, [&](std::uint64_t span) { visited.push_back(span); });
  EXPECT_EQ(visited, std::vector<std::uint64_t>{kTwin});
  EXPECT_EQ(sparse.size(), 2u);
  sparse.erase(1, 100 * kSecond, kTwin);
  sparse.erase(1, 0, kOld);
  EXPECT_EQ(sparse.size(), 0u);
}

TEST(TimeIndex, OutOfOrderStartsAndLeavesKeepTheOrderAndTheSizeBounded) {
  TimeIndex<int> index;
  // Starts that arrive a little out of order (two threads' flushes interleaved) are visited in start
  // order all the same.
  for (std::uint64_t t : {10, 30, 20, 40, 25, 5}) index.insert(1, t, 1000 + t);
  std::vector<std::uint64_t> visited;
  index.started_before(1, 35, [&](std::uint64_t span) { visited.push_back(span); });
  EXPECT_EQ(visited, (std::vector<std::uint64_t>{1030, 1025, 1020, 1010, 1005}));
  // One entry that stays (a fact kept as a sample) while 100k later ones come and go, most not in
  // order: the index holds what is live, not every entry behind the one that stayed.
  TimeIndex<int> busy;
  constexpr std::uint64_t kKept = 0;
  busy.insert(2, 0, kKept);
  for (std::uint64_t i = 1; i <= 100'000; ++i) {
    busy.insert(2, i, i);
    if (i % 2 == 0) {  // the pair leaves newest first
      busy.erase(2, i, i);
      busy.erase(2, i - 1, i - 1);
    }
  }
  EXPECT_EQ(busy.size(), 1u);
  visited.clear();
  busy.started_before(2, 200'000, [&](std::uint64_t span) { visited.push_back(span); });
  EXPECT_EQ(visited, std::vector<std::uint64_t>{kKept});
  busy.erase(2, 0, kKept);
  EXPECT_EQ(busy.size(), 0u);
}

}  // namespace
}  // namespace otelbpf
