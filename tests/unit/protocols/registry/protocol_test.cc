#include "protocols/registry/protocol.h"

#include <gtest/gtest.h>

namespace otelbpf::l7 {
namespace {

TEST(InferProtocol, RecognisesHttp1RequestsAndResponsesInEitherDirection) {
  EXPECT_EQ(infer_protocol("GET / HTTP/1.1\r\n", Direction::kEgress), Protocol::kHttp1);
  EXPECT_EQ(infer_protocol("POST /x HTTP/1.1\r\n", Direction::kIngress), Protocol::kHttp1);
  EXPECT_EQ(infer_protocol("HTTP/1.1 200 OK\r\n", Direction::kIngress), Protocol::kHttp1);
  EXPECT_EQ(infer_protocol("HTTP/1.0 404 Not Found\r\n", Direction::kEgress), Protocol::kHttp1);
}

// Each registered protocol's own signature picks it, in the registry's order (strict matchers first).
TEST(InferProtocol, EachRegisteredProtocolIsRecognisedByItsSignature) {
  EXPECT_EQ(infer_protocol("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Direction::kEgress), Protocol::kHttp2);
  EXPECT_EQ(infer_protocol("*1\r\n$4\r\nPING\r\n", Direction::kEgress), Protocol::kRedis);
  // COM_QUERY "SELECT 1": length 9, sequence 0, command 0x03.
  EXPECT_EQ(infer_protocol(std::string_view("\x09\x00\x00\x00\x03SELECT 1", 13), Direction::kEgress),
            Protocol::kMysql);
  // PostgreSQL StartupMessage, protocol 3.0, user=app.
  EXPECT_EQ(infer_protocol(std::string_view("\x00\x00\x00\x13\x00\x03\x00\x00user\x00app\x00\x00", 19),
                           Direction::kEgress),
            Protocol::kPostgres);
  for (Protocol p : {Protocol::kHttp1, Protocol::kHttp2, Protocol::kMysql, Protocol::kPostgres, Protocol::kRedis,
                     Protocol::kDns, Protocol::kKafka}) {
    EXPECT_NE(make_stitcher(p), nullptr) << to_string(p);
    EXPECT_STRNE(to_string(p), "unknown");
  }
}

TEST(InferProtocol, RejectsOtherProtocolsAndPrefixesTooShortToTell) {
  EXPECT_EQ(infer_protocol(std::string_view("\x16\x03\x01\x02\x00", 5), Direction::kEgress),
            Protocol::kUnknown);
  EXPECT_EQ(infer_protocol("GE", Direction::kEgress), Protocol::kUnknown);
  EXPECT_EQ(infer_protocol("", Direction::kEgress), Protocol::kUnknown);
  EXPECT_EQ(infer_protocol("get / HTTP/1.1\r\n", Direction::kEgress), Protocol::kUnknown);
}

TEST(MakeStitcher, GivesAStitcherPerKnownProtocol) {
  EXPECT_NE(make_stitcher(Protocol::kHttp1), nullptr);
  EXPECT_EQ(make_stitcher(Protocol::kUnknown), nullptr);
  EXPECT_STREQ(to_string(Protocol::kHttp1), "http1");
}

TEST(MakeStitcher, StitcherWorksThroughTheGenericInterface) {
  auto s = make_stitcher(Protocol::kHttp1);
  std::vector<L7Record> out;
  const std::string req = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  s->on_chunk(DataChunk{Direction::kIngress, 10, 20, 1, 100, req.size(), req}, out);
  s->on_chunk(DataChunk{Direction::kEgress, 30, 40, 1, 500, resp.size(), resp}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].role, Role::kServer);
  EXPECT_EQ(s->role(), Role::kServer);
  EXPECT_EQ(s->stats().records, 1u);
  EXPECT_EQ(out[0].protocol, "http1");
}

TEST(StitcherStats, Accumulates) {
  StitcherStats a{1, 2, 3, 4, 5, 6, 7};
  StitcherStats b{10, 20, 30, 40, 50, 60, 70};
  a += b;
  EXPECT_EQ(a.records, 11u);
  EXPECT_EQ(a.requests_evicted, 77u);
}

}  // namespace
}  // namespace otelbpf::l7
