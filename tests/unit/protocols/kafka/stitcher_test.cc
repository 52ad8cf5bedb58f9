#include "protocols/kafka/stitcher.h"

#include <gtest/gtest.h>

#include "protocols/kafka/entry.h"
#include "tests/unit/protocols/kafka/fixtures.h"

namespace otelbpf::l7::kafka {
namespace {

using namespace testing;

const std::vector<std::pair<const std::string*, const std::string*>> kExchange = {
    {&kApiVersionsRequest, &kApiVersionsResponse},
    {&kMetadataRequest, &kMetadataResponse},
    {&kProduceRequest, &kProduceResponse},
    {&kMetadataRequest2, &kMetadataResponse2},
    {&kProduceDeniedRequest, &kProduceDeniedResponse},
    {&kFetchRequest, &kFetchResponse},
    {&kMetadataV0Request, &kMetadataV0Response}};

void check_exchange(const std::vector<L7Record>& records) {
  ASSERT_EQ(records.size(), kExchange.size());
  EXPECT_EQ(records[0].span_name, "api_versions");
  EXPECT_EQ(records[1].span_name, "metadata orders");
  EXPECT_EQ(records[2].span_name, "produce orders");
  EXPECT_EQ(records[3].span_name, "metadata orders");
  EXPECT_EQ(records[4].span_name, "produce denied-topic");
  EXPECT_EQ(records[5].span_name, "fetch orders");
  EXPECT_EQ(records[6].span_name, "metadata orders");
  const L7Record& produce = records[2];
  EXPECT_EQ(produce.protocol, "kafka");
  EXPECT_EQ(str_attr(produce, "messaging.system"), "kafka");
  EXPECT_EQ(str_attr(produce, "messaging.operation.name"), "produce");
  EXPECT_EQ(str_attr(produce, "messaging.operation.type"), "send");
  EXPECT_EQ(str_attr(produce, "messaging.destination.name"), "orders");
  EXPECT_EQ(str_attr(produce, "messaging.client.id"), "otelbpf-e2e");
  EXPECT_EQ(int_attr(produce, "otelbpf.kafka.api_key"), 0);
  EXPECT_EQ(int_attr(produce, "otelbpf.kafka.api_version"), 3);
  EXPECT_EQ(int_attr(produce, "otelbpf.kafka.correlation_id"), 2);
  EXPECT_EQ(int_attr(produce, "otelbpf.kafka.partition_count"), 1);
  EXPECT_EQ(int_attr(produce, "otelbpf.kafka.error_code"), 0);
  EXPECT_FALSE(produce.error);
  EXPECT_FALSE(produce.response_missing);
  EXPECT_EQ(produce.req_bytes, kProduceRequest.size());
  EXPECT_EQ(produce.resp_bytes, kProduceResponse.size());
  const L7Record& denied = records[4];
  EXPECT_TRUE(denied.error);
  EXPECT_EQ(str_attr(denied, "error.type"), "TOPIC_AUTHORIZATION_FAILED");
  EXPECT_EQ(int_attr(denied, "otelbpf.kafka.error_code"), 29);
  EXPECT_EQ(denied.status_message, "Kafka TOPIC_AUTHORIZATION_FAILED");
  EXPECT_EQ(str_attr(records[3], "otelbpf.kafka.topics"), "orders,denied-topic");
  EXPECT_EQ(str_attr(records[5], "otelbpf.kafka.topics"), "orders,denied-topic");
  EXPECT_EQ(str_attr(records[5], "error.type"), "TOPIC_AUTHORIZATION_FAILED");
  EXPECT_EQ(str_attr(records[5], "messaging.operation.type"), "receive");
}

TEST(KafkaStitcher, KafkajsExchange) {
  Conversation c;
  for (const auto& [req, resp] : kExchange) {
    c.out(*req);
    c.in(*resp);
  }
  c.close();
  check_exchange(c.records);
  EXPECT_EQ(c.records[0].role, Role::kClient);
  EXPECT_EQ(c.records[0].req_seq, kEgressSeq0);
  EXPECT_EQ(c.records[0].resp_seq, kIngressSeq0);
  EXPECT_EQ(c.records[1].req_seq, kEgressSeq0 + kApiVersionsRequest.size());
  EXPECT_EQ(c.stats().parse_errors, 0u);
  EXPECT_EQ(c.stats().unmatched_responses, 0u);
}

TEST(KafkaStitcher, ServerSide) {
  Conversation c;
  for (const auto& [req, resp] : kExchange) {
    c.in(*req);
    c.out(*resp);
  }
  check_exchange(c.records);
  EXPECT_EQ(c.records[2].role, Role::kServer);
}

TEST(KafkaStitcher, SplitAtEveryOffset) {
  std::string requests, responses;
  for (const auto& [req, resp] : kExchange) {
    requests += *req;
    responses += *resp;
  }
  for (size_t cut = 1; cut < requests.size(); cut += 3) {
    Conversation c;
    c.out(std::string_view(requests).substr(0, cut));
    c.out(std::string_view(requests).substr(cut));
    const size_t rcut = cut % responses.size();
    if (rcut > 0) c.in(std::string_view(responses).substr(0, rcut));
    c.in(std::string_view(responses).substr(rcut));
    c.close();
    check_exchange(c.records);
    EXPECT_EQ(c.stats().parse_errors, 0u) << cut;
  }
}

TEST(KafkaStitcher, EveryMessageSplitAtEveryOffset) {
  for (const auto& [req, resp] : kExchange) {
    for (size_t cut = 1; cut < req->size(); ++cut) {
      Conversation c;
      c.out(std::string_view(*req).substr(0, cut));
      c.out(std::string_view(*req).substr(cut));
      const size_t rcut = cut % resp->size();
      if (rcut > 0) c.in(std::string_view(*resp).substr(0, rcut));
      c.in(std::string_view(*resp).substr(rcut));
      ASSERT_EQ(c.records.size(), 1u) << cut;
      EXPECT_FALSE(c.records[0].response_missing);
      EXPECT_EQ(c.records[0].req_bytes, req->size());
      EXPECT_EQ(c.records[0].resp_bytes, resp->size());
    }
  }
}

TEST(KafkaStitcher, CaptureCutProduceKeepsTopicAndStaysInSync) {
  Conversation c;
  c.out(kApiVersionsRequest);
  c.in(kApiVersionsResponse);
  c.out(std::string_view(kProduceRequest).substr(0, 60), kProduceRequest.size());
  c.in(kProduceResponse);
  c.out(kFetchRequest);
  c.in(std::string_view(kFetchResponse).substr(0, 30), kFetchResponse.size());
  c.out(kMetadataV0Request);
  c.in(kMetadataV0Response);
  ASSERT_EQ(c.records.size(), 4u);
  EXPECT_EQ(c.records[1].span_name, "produce orders");
  EXPECT_TRUE(has_attr(c.records[1], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[1].req_bytes, kProduceRequest.size());
  EXPECT_EQ(c.records[2].span_name, "fetch orders");
  EXPECT_TRUE(has_attr(c.records[2], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[3].span_name, "metadata orders");
  EXPECT_FALSE(has_attr(c.records[3], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.stats().resyncs, 0u);
}

TEST(KafkaStitcher, LostResponseIsMissingAndResync) {
  Conversation c;
  c.out(kMetadataRequest);
  c.out(kProduceRequest);
  // Both responses arrive in one read of which 3 bytes were captured: no message start can be seen.
  const std::string both = kMetadataResponse + kProduceResponse;
  c.in(std::string_view(both).substr(0, 3), both.size());
  c.out(kFetchRequest);
  c.in(kFetchResponse);  // resync: correlation id 7 is pending
  c.close();
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_TRUE(c.records[1].response_missing);
  EXPECT_EQ(c.records[2].span_name, "fetch orders");
  EXPECT_FALSE(c.records[2].response_missing);
  EXPECT_EQ(c.stats().bytes_skipped, both.size());
}

TEST(KafkaStitcher, AcksZeroHasNoResponse) {
  std::string produce = kProduceRequest;
  // acks sits after the header (4 + 10 + 11 bytes of client id) and the null transactional id (2 bytes).
  const size_t acks_at = 4 + 10 + 11 + 2;
  ASSERT_EQ(produce.substr(acks_at, 2), std::string("\xff\xff", 2));
  produce[acks_at] = 0;
  produce[acks_at + 1] = 0;
  Conversation c;
  c.out(produce);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_FALSE(c.records[0].response_missing);
  EXPECT_EQ(int_attr(c.records[0], "otelbpf.kafka.acks"), 0);
  c.close();
  EXPECT_EQ(c.records.size(), 1u);
}

TEST(KafkaStitcher, PendingBoundAndUnmatched) {
  Limits limits;
  limits.max_pending_requests = 2;
  Conversation c(limits);
  c.out(kApiVersionsRequest);
  c.out(kMetadataRequest);
  c.out(kProduceRequest);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(c.stats().requests_evicted, 1u);
  c.in(kFetchResponse);  // correlation id 7 was never asked: skipped while waiting for a known id
  EXPECT_EQ(c.records.size(), 1u);
  c.in(kMetadataResponse);
  c.in(kProduceResponse);
  EXPECT_EQ(c.records.size(), 3u);
}

TEST(KafkaStitcher, GarbageNeverCrashes) {
  Conversation c;
  std::string junk;
  for (int i = 0; i < 700; ++i) junk.push_back(static_cast<char>(i * 53 + 7));
  c.out(kApiVersionsRequest);
  for (size_t i = 0; i < junk.size(); i += 64) c.out(std::string_view(junk).substr(i, 64));
  c.in(junk);
  c.close();
  EXPECT_EQ(c.records.size(), c.stats().records);
}

}  // namespace
}  // namespace otelbpf::l7::kafka

namespace otelbpf::l7::kafka {
namespace {

TEST(KafkaStitcher, BrokerReadingTheSizeOnItsOwn) {
  // Kafka's network layer reads the 4-byte size, then the request: inference fails on the size and the
  // stitcher first sees a request without it.
  const std::string_view req = kProduceRequest;
  InferenceInput in;
  in.first_bytes = req.substr(4);
  in.local_port = 19092;
  in.remote_port = 50000;
  in.direction = Direction::kIngress;
  EXPECT_TRUE(looks_like_message_start(in));
  Conversation c;
  c.ingress_seq += 4;
  c.in(req.substr(4));
  c.out(kProduceResponse);
  c.in(std::string_view(kFetchRequest).substr(0, 4));
  c.in(std::string_view(kFetchRequest).substr(4));
  c.out(kFetchResponse);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].role, Role::kServer);
  EXPECT_EQ(c.records[0].span_name, "produce orders");
  EXPECT_EQ(c.records[0].req_seq, kIngressSeq0);
  EXPECT_EQ(c.records[0].req_bytes, req.size());
  EXPECT_EQ(c.records[1].span_name, "fetch orders");
  EXPECT_EQ(c.records[1].req_seq, kIngressSeq0 + req.size());
}

}  // namespace
}  // namespace otelbpf::l7::kafka
