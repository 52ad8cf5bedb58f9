// The memory budget: admission only within the limit, charges that follow what they account for, and
// release when the holder dies.
#include "common/memory_budget.h"

#include <gtest/gtest.h>

namespace otelbpf {
namespace {

TEST(MemoryBudget, AdmitsOnlyWhatFitsAndReleasesWhenTheHolderDies) {
  MetricsRegistry metrics;
  MemoryBudget budget(1000, metrics);
  {
    ASSERT_TRUE(budget.try_charge(600));
    MemoryCharge first(&budget, 600);
    EXPECT_FALSE(budget.try_charge(500)) << "600 + 500 > 1000";
    EXPECT_EQ(metrics.value("otelbpf_memory_refused_batches_total"), 1);
    ASSERT_TRUE(budget.try_charge(400));
    MemoryCharge second(&budget, 400);
    EXPECT_EQ(budget.held(), 1000u);
    EXPECT_EQ(metrics.value("otelbpf_memory_held_bytes"), 1000);
    MemoryCharge moved = std::move(first);  // the charge follows the object, once
    EXPECT_EQ(budget.held(), 1000u);
  }
  EXPECT_EQ(budget.held(), 0u);
}

TEST(MemoryBudget, TransfersMoveBytesBetweenHoldersAndAdjustsFollowATable) {
  MemoryBudget budget(10'000);
  auto input = MemoryCharge::take(&budget, 3000);
  MemoryCharge output;
  input.transfer(output, 1200);  // spans moved from one batch to another
  EXPECT_EQ(input.bytes(), 1800u);
  EXPECT_EQ(output.bytes(), 1200u);
  EXPECT_EQ(budget.held(), 3000u) << "a transfer is no new memory";
  input.transfer(output, 5000);  // never more than it holds
  EXPECT_EQ(input.bytes(), 0u);
  EXPECT_EQ(output.bytes(), 3000u);
  MemoryCharge table;
  table.adjust(&budget, 4000);  // a table grew: charged whatever the level
  table.adjust(&budget, 500);
  EXPECT_EQ(budget.held(), 3500u);
  output.reset();
  table.reset();
  EXPECT_EQ(budget.held(), 0u);
  MemoryCharge unaccounted;
  unaccounted.adjust(nullptr, 1'000'000);
  EXPECT_EQ(unaccounted.bytes(), 0u);
}

}  // namespace
}  // namespace otelbpf
