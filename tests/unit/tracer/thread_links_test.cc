// ThreadLinks, the thread rule's memory (docs/design.md, Linking, rule 3): the id a thread carries between
// reading a request and writing its answer, looked up by time because spans are made after the syscalls.
#include "tracer/thread_links.h"

#include <gtest/gtest.h>

namespace otelbpf {
namespace {

TEST(ThreadLinksTest, AThreadCarriesItsRequestsIdUntilItAnswers) {
  ThreadLinks links;
  const auto id = links.begin_request(10, 11, 1000);
  EXPECT_NE(id, 0u);
  EXPECT_EQ(links.id_at(10, 11, 999), 0u) << "before the request was read";
  EXPECT_EQ(links.id_at(10, 11, 1500), id) << "a call made while serving it";
  links.end_request(10, 11, 2000);
  EXPECT_EQ(links.id_at(10, 11, 2000), id);
  EXPECT_EQ(links.id_at(10, 11, 2001), 0u) << "after the answer: not a child";
  EXPECT_EQ(links.id_at(10, 12, 1500), 0u) << "another thread of the process";
  EXPECT_EQ(links.id_at(20, 11, 1500), 0u) << "the same tid in another process";
}

TEST(ThreadLinksTest, LookupsByTimeFindEarlierRequestsOfTheSameThread) {
  ThreadLinks links;
  const auto first = links.begin_request(1, 1, 100);
  const auto second = links.begin_request(1, 1, 300);  // a keep-alive's next request; no answer seen
  EXPECT_NE(first, second);
  EXPECT_EQ(links.id_at(1, 1, 200), first) << "records are completed late: the time picks the request";
  EXPECT_EQ(links.id_at(1, 1, 400), second);
  links.end_request(1, 1, 50);  // an answer stamped before the open request began changes nothing
  EXPECT_EQ(links.id_at(1, 1, 400), second);
}

TEST(ThreadLinksTest, TheBoundForgetsTheThreadsIdleLongest) {
  ThreadLinks links(4);
  for (std::uint32_t tid = 1; tid <= 4; ++tid) links.begin_request(1, tid, tid * 1000);
  EXPECT_EQ(links.threads(), 4u);
  const auto fresh = links.begin_request(1, 99, 10000);
  EXPECT_LE(links.threads(), 4u);
  EXPECT_EQ(links.id_at(1, 99, 10000), fresh);
  EXPECT_EQ(links.id_at(1, 1, 1500), 0u) << "the oldest thread was forgotten";
}

}  // namespace
}  // namespace otelbpf
