// The one feed both capture paths use: inference until a protocol answers or the bound is spent (counted
// once), then the stitcher; on close the pending request leaves and the parser's outcomes are counted
// under the capture path.
#include "protocols/registry/l7_feed.h"

#include <gtest/gtest.h>

namespace otelbpf::l7 {
namespace {

DataChunk chunk_of(std::string_view bytes, Direction direction, std::uint64_t ts) {
  DataChunk chunk;
  chunk.direction = direction;
  chunk.ts_enter_ns = chunk.ts_exit_ns = ts;
  chunk.total_bytes = bytes.size();
  chunk.captured = bytes;
  return chunk;
}

InferenceInput inference_of(std::string_view bytes, Direction direction) {
  InferenceInput input;
  input.first_bytes = bytes;
  input.direction = direction;
  return input;
}

TEST(L7Feed, GivesUpOnceAfterTheBoundAndThenIgnoresTheConnection) {
  L7Feed feed;
  std::vector<L7Record> records;
  const std::string_view noise = "\x01\x02 not a protocol";
  EXPECT_EQ(feed.feed(inference_of(noise, Direction::kEgress), chunk_of(noise, Direction::kEgress, 1), records, 3),
            L7Feed::Outcome::kUnknownYet);
  EXPECT_EQ(feed.feed(inference_of(noise, Direction::kEgress), chunk_of(noise, Direction::kEgress, 2), records, 3),
            L7Feed::Outcome::kUnknownYet);
  EXPECT_EQ(feed.feed(inference_of(noise, Direction::kEgress), chunk_of(noise, Direction::kEgress, 3), records, 3),
            L7Feed::Outcome::kGaveUp);
  // Even a clean HTTP request is not looked at any more.
  const std::string_view request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(feed.feed(inference_of(request, Direction::kEgress), chunk_of(request, Direction::kEgress, 4), records, 3),
            L7Feed::Outcome::kIgnored);
  EXPECT_FALSE(feed.parsing());
  EXPECT_TRUE(records.empty());
}

TEST(L7Feed, ParsesAfterInferenceAndCountsOutcomesUnderItsPathOnClose) {
  L7Feed feed;
  MetricsRegistry metrics;
  std::vector<L7Record> records;
  const std::string_view request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string_view response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const std::string_view orphan = "HTTP/1.1 204 No Content\r\n\r\n";
  const std::string_view pending = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(feed.feed(inference_of(request, Direction::kEgress), chunk_of(request, Direction::kEgress, 10), records, 16),
            L7Feed::Outcome::kParsed);
  EXPECT_EQ(feed.protocol(), Protocol::kHttp1);
  feed.feed(inference_of(response, Direction::kIngress), chunk_of(response, Direction::kIngress, 20), records, 16);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(feed.role(), Role::kClient);
  feed.feed(inference_of(orphan, Direction::kIngress), chunk_of(orphan, Direction::kIngress, 30), records, 16);
  feed.feed(inference_of(pending, Direction::kEgress), chunk_of(pending, Direction::kEgress, 40), records, 16);
  feed.close(50, records, metrics, "net");
  EXPECT_EQ(records.size(), 2u) << "the request still pending leaves at close";
  EXPECT_EQ(metrics.value("otelbpf_parser_events_total",
                          {{"protocol", "http1"}, {"event", "unmatched_response"}, {"path", "net"}}),
            1);
}

}  // namespace
}  // namespace otelbpf::l7
