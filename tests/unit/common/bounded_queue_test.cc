// The queue between pipeline stages: it never holds more than its bound, refuses (and lets the caller count)
// what does not fit instead of growing, keeps order, and on close lets consumers drain what is left while
// producers and waiting consumers are released at once.
#include "common/bounded_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace otelbpf {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Long enough that "returned before it" means "was woken", short enough for a unit test.
constexpr auto kLongWait = 5s;

TEST(BoundedQueue, HoldsAtMostItsCapacityAndRefusesTheRest) {
  BoundedQueue<int> queue(3);
  EXPECT_EQ(queue.capacity(), 3u);
  int refused = 0;
  for (int i = 0; i < 10; ++i)
    if (!queue.try_push(i)) ++refused;
  EXPECT_EQ(refused, 7);
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_TRUE(queue.full());
  // The first three are kept, in order; nothing refused slipped in.
  for (int expected = 0; expected < 3; ++expected) EXPECT_EQ(queue.pop_for(0ms), expected);
  EXPECT_EQ(queue.pop_for(0ms), std::nullopt);
  EXPECT_FALSE(queue.full());
  // Room made by a pop is usable again.
  EXPECT_TRUE(queue.try_push(42));
  EXPECT_EQ(queue.pop_for(0ms), 42);
}

TEST(BoundedQueue, ZeroCapacityRefusesEverything) {
  BoundedQueue<int> queue(0);
  EXPECT_FALSE(queue.try_push(1));
  EXPECT_FALSE(queue.push_for(1, 10ms));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(BoundedQueue, CarriesMoveOnlyItems) {
  BoundedQueue<std::unique_ptr<int>> queue(2);
  ASSERT_TRUE(queue.try_push(std::make_unique<int>(7)));
  auto item = queue.pop_for(0ms);
  ASSERT_TRUE(item && *item);
  EXPECT_EQ(**item, 7);
}

TEST(BoundedQueue, PopWaitsForItsTimeoutOnAnEmptyQueue) {
  BoundedQueue<int> queue(1);
  const auto start = Clock::now();
  EXPECT_EQ(queue.pop_for(50ms), std::nullopt);
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 45ms);
  EXPECT_LT(waited, kLongWait);
}

TEST(BoundedQueue, PushWaitsForItsTimeoutOnAFullQueue) {
  BoundedQueue<int> queue(1);
  ASSERT_TRUE(queue.try_push(1));
  const auto start = Clock::now();
  EXPECT_FALSE(queue.push_for(2, 50ms));
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 45ms);
  EXPECT_LT(waited, kLongWait);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.pop_for(0ms), 1);
}

TEST(BoundedQueue, WaitingPopReturnsAsSoonAsAnItemArrives) {
  BoundedQueue<int> queue(1);
  auto consumer = std::async(std::launch::async, [&queue] {
    const auto start = Clock::now();
    auto item = queue.pop_for(kLongWait);
    return std::make_pair(item, Clock::now() - start);
  });
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(queue.try_push(5));
  const auto [item, waited] = consumer.get();
  EXPECT_EQ(item, 5);
  EXPECT_LT(waited, kLongWait / 2);
}

TEST(BoundedQueue, WaitingPushGetsTheRoomAPopMakes) {
  BoundedQueue<int> queue(1);
  ASSERT_TRUE(queue.try_push(1));
  auto producer = std::async(std::launch::async, [&queue] {
    const auto start = Clock::now();
    const bool pushed = queue.push_for(2, kLongWait);
    return std::make_pair(pushed, Clock::now() - start);
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(queue.pop_for(0ms), 1);
  const auto [pushed, waited] = producer.get();
  EXPECT_TRUE(pushed);
  EXPECT_LT(waited, kLongWait / 2);
  EXPECT_EQ(queue.pop_for(0ms), 2);
}

TEST(BoundedQueue, CloseRefusesProducersAndLetsConsumersDrain) {
  BoundedQueue<int> queue(4);
  ASSERT_TRUE(queue.try_push(1));
  ASSERT_TRUE(queue.try_push(2));
  queue.close();
  EXPECT_TRUE(queue.closed());
  EXPECT_FALSE(queue.try_push(3));
  // A closed queue refuses at once, even with room and a long deadline.
  const auto start = Clock::now();
  EXPECT_FALSE(queue.push_for(3, kLongWait));
  EXPECT_LT(Clock::now() - start, kLongWait / 2);
  // What was queued before the close is still delivered, in order, then the end is immediate.
  EXPECT_EQ(queue.pop_for(kLongWait), 1);
  EXPECT_EQ(queue.pop_for(kLongWait), 2);
  const auto drained = Clock::now();
  EXPECT_EQ(queue.pop_for(kLongWait), std::nullopt);
  EXPECT_LT(Clock::now() - drained, kLongWait / 2);
}

TEST(BoundedQueue, CloseWakesWaitingConsumersAndProducers) {
  BoundedQueue<int> empty(1);
  BoundedQueue<int> full(1);
  ASSERT_TRUE(full.try_push(1));
  auto consumer = std::async(std::launch::async, [&empty] {
    const auto start = Clock::now();
    auto item = empty.pop_for(kLongWait);
    return std::make_pair(item, Clock::now() - start);
  });
  auto producer = std::async(std::launch::async, [&full] {
    const auto start = Clock::now();
    const bool pushed = full.push_for(2, kLongWait);
    return std::make_pair(pushed, Clock::now() - start);
  });
  std::this_thread::sleep_for(20ms);
  empty.close();
  full.close();
  const auto [item, consumer_waited] = consumer.get();
  EXPECT_EQ(item, std::nullopt);
  EXPECT_LT(consumer_waited, kLongWait / 2);
  const auto [pushed, producer_waited] = producer.get();
  EXPECT_FALSE(pushed);
  EXPECT_LT(producer_waited, kLongWait / 2);
  EXPECT_EQ(full.size(), 1u);
}

TEST(BoundedQueue, ManyProducersAndConsumersDeliverEveryAcceptedItemOnce) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 3;
  constexpr int kPerProducer = 5000;
  BoundedQueue<int> queue(16);
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        // A short deadline, as the pipeline's producers use: some items are refused under pressure.
        if (queue.push_for(p * kPerProducer + i, 1ms))
          ++accepted;
        else
          ++refused;
      }
    });
  std::vector<std::vector<int>> received(kConsumers);
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c)
    consumers.emplace_back([&, c] {
      while (auto item = queue.pop_for(kLongWait)) received[c].push_back(*item);
    });
  for (auto& t : producers) t.join();
  queue.close();
  for (auto& t : consumers) t.join();
  std::vector<int> all;
  for (const auto& part : received) all.insert(all.end(), part.begin(), part.end());
  EXPECT_EQ(accepted + refused, kProducers * kPerProducer);
  // Every accepted item arrives exactly once; a refusal is the only way an item is not delivered.
  ASSERT_EQ(all.size(), static_cast<std::size_t>(accepted.load()));
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  // Each consumer sees each producer's items in the order they were pushed.
  for (const auto& part : received)
    for (int p = 0; p < kProducers; ++p) {
      std::vector<int> from_p;
      for (int v : part)
        if (v / kPerProducer == p) from_p.push_back(v);
      EXPECT_TRUE(std::is_sorted(from_p.begin(), from_p.end()));
    }
}

}  // namespace
}  // namespace otelbpf
