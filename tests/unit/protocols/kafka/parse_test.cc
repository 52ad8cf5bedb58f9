#include "protocols/kafka/parse.h"

#include <gtest/gtest.h>

#include "protocols/kafka/entry.h"
#include "protocols/registry/protocol.h"
#include "tests/unit/protocols/kafka/fixtures.h"

namespace otelbpf::l7::kafka {
namespace {

using namespace testing;

std::string_view body_of(const std::string& framed) { return std::string_view(framed).substr(4); }

TEST(KafkaParse, RequestHeaders) {
  Request r;
  size_t body = 0;
  ASSERT_EQ(parse_request_header(body_of(kApiVersionsRequest), &r, &body), ParseState::kSuccess);
  EXPECT_EQ(r.api_key, kApiVersions);
  EXPECT_EQ(r.api_version, 2);
  EXPECT_EQ(r.correlation_id, 0);
  EXPECT_EQ(r.client_id, "otelbpf-e2e");
  EXPECT_EQ(body, kApiVersionsRequest.size() - 4);
  ASSERT_EQ(parse_request_header(body_of(kProduceDeniedRequest), &r, &body), ParseState::kSuccess);
  EXPECT_EQ(r.api_key, kProduce);
  EXPECT_EQ(r.api_version, 3);
  EXPECT_EQ(r.correlation_id, 4);
}

TEST(KafkaParse, ProduceFetchMetadataRequests) {
  Request p;
  ASSERT_EQ(parse_request(body_of(kProduceRequest), &p), ParseState::kSuccess);
  EXPECT_EQ(p.topics, std::vector<std::string>{"orders"});
  EXPECT_EQ(p.partition_count, 1);
  EXPECT_EQ(p.acks, -1);
  EXPECT_FALSE(p.body_truncated);
  Request f;
  ASSERT_EQ(parse_request(body_of(kFetchRequest), &f), ParseState::kSuccess);
  EXPECT_EQ(f.api_version, 4);
  EXPECT_EQ(f.topics, (std::vector<std::string>{"orders", "denied-topic"}));
  EXPECT_EQ(f.partition_count, 2);
  Request m;
  ASSERT_EQ(parse_request(body_of(kMetadataRequest2), &m), ParseState::kSuccess);
  EXPECT_EQ(m.topics, (std::vector<std::string>{"orders", "denied-topic"}));
  Request m0;
  ASSERT_EQ(parse_request(body_of(kMetadataV0Request), &m0), ParseState::kSuccess);
  EXPECT_EQ(m0.api_version, 0);
  EXPECT_EQ(m0.topics, std::vector<std::string>{"orders"});
  Request a;
  ASSERT_EQ(parse_request(body_of(kApiVersionsRequest), &a), ParseState::kSuccess);
  EXPECT_TRUE(a.topics.empty());
}

TEST(KafkaParse, Responses) {
  Response r;
  ASSERT_EQ(parse_response(body_of(kProduceResponse), kProduce, 3, &r), ParseState::kSuccess);
  EXPECT_EQ(r.correlation_id, 2);
  EXPECT_EQ(r.error_code, 0);
  EXPECT_TRUE(r.body_parsed);
  Response d;
  ASSERT_EQ(parse_response(body_of(kProduceDeniedResponse), kProduce, 3, &d), ParseState::kSuccess);
  EXPECT_EQ(d.error_code, 29);
  EXPECT_EQ(error_name(d.error_code), "TOPIC_AUTHORIZATION_FAILED");
  Response f;
  ASSERT_EQ(parse_response(body_of(kFetchResponse), kFetch, 4, &f), ParseState::kSuccess);
  EXPECT_EQ(f.correlation_id, 7);
  EXPECT_EQ(f.error_code, 29);
  Response m;
  ASSERT_EQ(parse_response(body_of(kMetadataResponse2), kMetadata, 4, &m), ParseState::kSuccess);
  EXPECT_EQ(m.topics, (std::vector<std::string>{"orders", "denied-topic"}));
  EXPECT_EQ(m.error_code, 0);
  Response m0;
  ASSERT_EQ(parse_response(body_of(kMetadataV0Response), kMetadata, 0, &m0), ParseState::kSuccess);
  EXPECT_EQ(m0.topics, std::vector<std::string>{"orders"});
  Response a;
  ASSERT_EQ(parse_response(body_of(kApiVersionsResponse), kApiVersions, 2, &a), ParseState::kSuccess);
  EXPECT_EQ(a.error_code, 0);
}

TEST(KafkaParse, EveryPrefixNeedsMoreDataNeverInvalid) {
  const std::vector<std::pair<const std::string*, std::pair<int16_t, int16_t>>> responses = {
      {&kApiVersionsResponse, {kApiVersions, 2}},
      {&kMetadataResponse, {kMetadata, 4}},
      {&kProduceResponse, {kProduce, 3}},
      {&kProduceDeniedResponse, {kProduce, 3}},
      {&kFetchResponse, {kFetch, 4}},
      {&kMetadataV0Response, {kMetadata, 0}}};
  for (const auto& [msg, kv] : responses) {
    for (size_t cut = 0; cut < msg->size() - 4; ++cut) {
      Response r;
      const ParseState s = parse_response(body_of(*msg).substr(0, cut), kv.first, kv.second, &r);
      // ApiVersions is read only as far as its error code; the others to their last field.
      if (kv.first == kApiVersions && cut >= 6) {
        EXPECT_EQ(s, ParseState::kSuccess) << cut;
      } else {
        EXPECT_EQ(s, ParseState::kNeedsMoreData) << cut;
      }
    }
  }
  for (const std::string* msg :
       {&kApiVersionsRequest, &kMetadataRequest, &kProduceRequest, &kFetchRequest, &kMetadataV0Request}) {
    for (size_t cut = 0; cut < msg->size() - 4; ++cut) {
      Request r;
      EXPECT_NE(parse_request(body_of(*msg).substr(0, cut), &r), ParseState::kInvalid) << cut;
    }
  }
}

// kafkajs speaks no flexible version, so these follow the protocol spec (KIP-482) byte by byte: request
// header v2 (tagged fields after the client id), compact strings and arrays (uvarint length + 1).
TEST(KafkaParse, FlexibleVersions) {
  // Metadata v12: topics [{topic_id, name "orders", tags}], allow_auto_topic_creation, include_topic_ops.
  std::string meta("\x00\x03\x00\x0c\x00\x00\x00\x2a\x00\x02id\x00", 13);
  meta += std::string("\x02", 1) + std::string(16, '\0') + std::string("\x07orders\x00", 8) +
          std::string("\x01\x00\x00", 3);
  Request m;
  ASSERT_EQ(parse_request(meta, &m), ParseState::kSuccess);
  EXPECT_EQ(m.api_version, 12);
  EXPECT_EQ(m.correlation_id, 42);
  EXPECT_EQ(m.client_id, "id");
  EXPECT_EQ(m.topics, std::vector<std::string>{"orders"});
  EXPECT_TRUE(is_flexible(kMetadata, 12));
  EXPECT_FALSE(is_flexible(kMetadata, 8));

  // Produce v9: header with one tagged field (tag 0, 2 bytes), null transactional id, acks 1, timeout,
  // topics [{"t1", partitions [{0, records (3 bytes), tags}], tags}], tags.
  std::string produce(
      "\x00\x00\x00\x09\x00\x00\x00\x05\x00\x01"
      "c"
      "\x01\x00\x02zz",
      16);
  produce += std::string("\x00\x00\x01\x00\x00\x75\x30\x02\x03t1\x02\x00\x00\x00\x00\x04rec\x00\x00\x00", 23);
  Request p;
  ASSERT_EQ(parse_request(produce, &p), ParseState::kSuccess);
  EXPECT_EQ(p.acks, 1);
  EXPECT_EQ(p.topics, std::vector<std::string>{"t1"});
  EXPECT_EQ(p.partition_count, 1);

  // Produce v9 response: header v1 (correlation id, empty tags), responses [{"t1", [{0, error 3, base,
  // append time, log start, record_errors [], error_message null, tags}], tags}], throttle, tags.
  std::string resp("\x00\x00\x00\x05\x00\x02\x03t1\x02\x00\x00\x00\x00\x00\x03", 16);
  resp += std::string(24, '\xff') + std::string("\x01\x00\x00\x00\x00\x00\x00\x00\x00", 9);
  Response r;
  ASSERT_EQ(parse_response(resp, kProduce, 9, &r), ParseState::kSuccess);
  EXPECT_EQ(r.correlation_id, 5);
  EXPECT_EQ(r.error_code, 3);

  // ApiVersions v3 answers with header v0 (no tagged fields after the correlation id).
  std::string av("\x00\x00\x00\x01\x00\x23", 6);
  Response a;
  ASSERT_NE(parse_response(av, kApiVersions, 3, &a), ParseState::kInvalid);
  EXPECT_EQ(a.error_code, 35);
}

InferenceInput tcp(std::string_view b, uint16_t remote = 40001, Direction d = Direction::kEgress) {
  InferenceInput in;
  in.first_bytes = b;
  in.direction = d;
  in.local_port = 50000;
  in.remote_port = remote;
  return in;
}

TEST(KafkaInference, RequestsYesResponsesAndOthersNo) {
  for (const std::string* req : {&kApiVersionsRequest, &kMetadataRequest, &kProduceRequest, &kFetchRequest,
                                 &kMetadataV0Request, &kProduceDeniedRequest}) {
    EXPECT_TRUE(looks_like_message_start(tcp(*req)));
    EXPECT_EQ(infer_protocol(tcp(*req)), Protocol::kKafka);
  }
  for (const std::string* resp :
       {&kApiVersionsResponse, &kMetadataResponse, &kProduceResponse, &kFetchResponse}) {
    EXPECT_FALSE(looks_like_message_start(tcp(*resp)));
  }
  // A Produce cut by the capture: the topic name read from the body is enough; a cut ApiVersions is not,
  // except on the Kafka port.
  EXPECT_TRUE(looks_like_message_start(tcp(std::string_view(kProduceRequest).substr(0, 60))));
  EXPECT_FALSE(looks_like_message_start(tcp(std::string_view(kApiVersionsRequest).substr(0, 20))));
  EXPECT_TRUE(looks_like_message_start(tcp(std::string_view(kApiVersionsRequest).substr(0, 20), kKafkaPort)));
  // Not Kafka: HTTP, a PostgreSQL startup message, zeros, UDP.
  EXPECT_FALSE(looks_like_message_start(tcp("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
  const std::string pg("\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00shop\x00\x00", 41);
  EXPECT_FALSE(looks_like_message_start(tcp(pg)));
  EXPECT_FALSE(looks_like_message_start(tcp(std::string(40, '\0'))));
  InferenceInput udp = tcp(kApiVersionsRequest);
  udp.udp = true;
  EXPECT_FALSE(looks_like_message_start(udp));
}

TEST(KafkaParse, Names) {
  EXPECT_EQ(operation_name(kProduce), "produce");
  EXPECT_EQ(operation_name(kFindCoordinator), "find_coordinator");
  EXPECT_EQ(operation_name(kApiVersions), "api_versions");
  EXPECT_EQ(operation_name(500), "api_500");
  EXPECT_EQ(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
  EXPECT_EQ(error_name(9999), "ERROR_9999");
  EXPECT_EQ(max_known_version(-3), -1);
}

}  // namespace
}  // namespace otelbpf::l7::kafka
