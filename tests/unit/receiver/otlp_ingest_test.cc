// Ingest refuses what the pipeline could never hold before it allocates for it: a 16 MB body can hold
// millions of empty spans, which decode into hundreds of times the body in memory.
#include "receiver/otlp_ingest.h"

#include <gtest/gtest.h>

#include "model/otlp_json.h"
#include "model/otlp_wire.h"

namespace otelbpf {
namespace {

// A body of `spans` empty spans in one scope, written as the wire format spells it (the hostile request).
std::string empty_spans_body(std::size_t spans) {
  auto varint = [](std::size_t n) {
    std::string out;
    do {
      out += static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>= 7;
    } while (n);
    return out;
  };
  std::string span_list;
  for (std::size_t i = 0; i < spans; ++i) span_list += std::string("\x12\x00", 2);
  const std::string scope = "\x12" + varint(span_list.size()) + span_list;
  return "\x0a" + varint(scope.size()) + scope;
}

otlp::ExportRequest valid_request(int spans) {
  otlp::ExportRequest request;
  auto* ss = request.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    s->set_trace_id(std::string(16, '\x01'));
    s->set_span_id(std::string(7, '\x01') + static_cast<char>(i + 1));
    s->set_name("op");
  }
  request.add_resource_spans()->add_scope_spans()->add_spans()->CopyFrom(ss->spans(0));
  return request;
}

TEST(OtlpWire, CountsSpansWithoutDecoding) {
  EXPECT_EQ(count_spans_on_wire(empty_spans_body(1000)).spans, 1000u);
  const auto request = valid_request(5);
  const auto count = count_spans_on_wire(request.SerializeAsString());
  EXPECT_TRUE(count.well_formed);
  EXPECT_EQ(count.spans, 6u);
  EXPECT_FALSE(count_spans_on_wire("\x0a\x05\x12").well_formed) << "a length beyond the body";
  EXPECT_FALSE(count_spans_on_wire("\x0b").well_formed) << "a group that never ends";
  EXPECT_TRUE(count_spans_on_wire("").well_formed);
  // Groups are unknown fields protobuf skips (found by otlp_ingest_fuzz): counted past, nested included.
  const std::string with_group = empty_spans_body(3) + std::string("\x13\x08\x01\x1b\x1c\x14", 6);
  otlp::ExportRequest decoded;
  ASSERT_TRUE(decoded.ParseFromString(with_group));
  const auto grouped = count_spans_on_wire(with_group);
  EXPECT_TRUE(grouped.well_formed);
  EXPECT_EQ(grouped.spans, count_spans(decoded));
  EXPECT_FALSE(count_spans_on_wire(std::string("\x13\x1c", 2)).well_formed) << "an end-group of another field";
}

TEST(OtlpIngest, AGroupInTheBodyDoesNotGetPastTheSpanBound) {
  MetricsRegistry metrics;
  SpanPipeline pipeline(SpanPipelineOptions{64, 1000}, metrics);
  OtlpIngest ingest(pipeline, IngestLimits{16u << 20, 64u << 20, 1000}, metrics);
  const auto body = empty_spans_body(2'000'000) + std::string("\x13\x14", 2);
  EXPECT_EQ(ingest.ingest_body(BodyEncoding::kProtobuf, "", body, "10.0.0.1", "http").code,
            IngestResult::Code::kTooLarge);
}

TEST(OtlpIngest, ARequestTheMemoryBudgetCannotHoldIsRefusedBeforeDecoding) {
  MetricsRegistry metrics;
  MemoryBudget budget(256 * 1024, metrics);
  SpanPipeline pipeline(SpanPipelineOptions{64, 100000, &budget}, metrics);
  OtlpIngest ingest(pipeline, IngestLimits{}, metrics);
  // 2,000 spans: ~60 KB on the wire, whose decode (~5x) does not fit 256 KiB.
  const auto body = valid_request(2000).SerializeAsString();
  const auto refused = ingest.ingest_body(BodyEncoding::kProtobuf, "", body, "10.0.0.1", "http");
  EXPECT_EQ(refused.code, IngestResult::Code::kBusy);
  EXPECT_EQ(metrics.value("otelbpf_receiver_rejected_requests_total",
                          {{"transport", "http"}, {"reason", "memory_budget"}}),
            1);
  EXPECT_EQ(budget.held(), 0u) << "nothing stays charged for a refused request";
  EXPECT_EQ(pipeline.queued_spans(), 0u);

  // A request that fits is decoded into its batch's arena, which is what the batch is charged.
  const auto small = valid_request(20).SerializeAsString();
  ASSERT_EQ(ingest.ingest_body(BodyEncoding::kProtobuf, "", small, "10.0.0.1", "http").code,
            IngestResult::Code::kOk);
  auto batch = pipeline.next(std::chrono::milliseconds(0));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->span_count(), 21u);
  EXPECT_GT(batch->arena_bytes(), small.size());
  EXPECT_EQ(batch->charge.bytes(), batch->arena_bytes());
  EXPECT_EQ(budget.held(), batch->arena_bytes());
  batch.reset();
  EXPECT_EQ(budget.held(), 0u);
}

TEST(OtlpIngest, AJsonRequestIsDecodedIntoAnArenaToo) {
  MetricsRegistry metrics;
  MemoryBudget budget(64u << 20, metrics);
  SpanPipeline pipeline(SpanPipelineOptions{64, 100000, &budget}, metrics);
  OtlpIngest ingest(pipeline, IngestLimits{}, metrics);
  const auto json = encode_otlp_json(valid_request(3));
  ASSERT_EQ(ingest.ingest_body(BodyEncoding::kJson, "", json, "10.0.0.1", "http").code,
            IngestResult::Code::kOk);
  auto batch = pipeline.next(std::chrono::milliseconds(0));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->span_count(), 4u);
  EXPECT_GT(batch->arena_bytes(), 0u);
  EXPECT_EQ(batch->request().resource_spans(0).scope_spans(0).spans(2).name(), "op");
}

TEST(OtlpIngest, TooManySpansForThePipelineIs413BeforeDecoding) {
  MetricsRegistry metrics;
  SpanPipeline pipeline(SpanPipelineOptions{64, 1000}, metrics);
  OtlpIngest ingest(pipeline, IngestLimits{16u << 20, 64u << 20, 1000}, metrics);
  auto result = ingest.ingest_body(BodyEncoding::kProtobuf, "", empty_spans_body(2'000'000), "10.0.0.1", "http");
  EXPECT_EQ(result.code, IngestResult::Code::kTooLarge);
  EXPECT_NE(result.message.find("2000000 spans"), std::string::npos) << result.message;
  EXPECT_EQ(metrics.value("otelbpf_receiver_rejected_requests_total",
                          {{"transport", "http"}, {"reason", "too_many_spans"}}),
            1);
  // The same in OTLP/JSON.
  std::string json = R"({"resourceSpans":[{"scopeSpans":[{"spans":[)";
  for (int i = 0; i < 1001; ++i) json += i ? ",{}" : "{}";
  json += "]}]}]}";
  result = ingest.ingest_body(BodyEncoding::kJson, "", json, "10.0.0.1", "http");
  EXPECT_EQ(result.code, IngestResult::Code::kTooLarge);
  // Within the bound, requests pass as before.
  result = ingest.ingest_body(BodyEncoding::kProtobuf, "", valid_request(5).SerializeAsString(), "10.0.0.1", "http");
  EXPECT_EQ(result.code, IngestResult::Code::kOk);
  EXPECT_EQ(pipeline.next(std::chrono::milliseconds(10))->span_count(), 6u);
}

TEST(OtlpIngest, OnlyConfiguredPeerAgentsMayClaimSysAndNetSources) {
  MetricsRegistry metrics;
  SpanPipeline pipeline(SpanPipelineOptions{64, 1000}, metrics);
  OtlpIngest ingest(pipeline, IngestLimits{}, metrics);
  ingest.trust_peer_agents({"192.168.100.2"});
  const auto body = valid_request(1).SerializeAsString();
  ASSERT_EQ(ingest.ingest_body(BodyEncoding::kProtobuf, "", body, "192.168.100.2", "http").code,
            IngestResult::Code::kOk);
  ASSERT_EQ(ingest.ingest_body(BodyEncoding::kProtobuf, "", body, "::ffff:192.168.100.2", "http").code,
            IngestResult::Code::kOk);
  ASSERT_EQ(ingest.ingest_body(BodyEncoding::kProtobuf, "", body, "10.0.0.9", "http").code,
            IngestResult::Code::kOk);
  EXPECT_TRUE(pipeline.next(std::chrono::milliseconds(10))->from_peer_agent);
  EXPECT_TRUE(pipeline.next(std::chrono::milliseconds(10))->from_peer_agent);
  EXPECT_FALSE(pipeline.next(std::chrono::milliseconds(10))->from_peer_agent);
}

}  // namespace
}  // namespace otelbpf

namespace otelbpf {
namespace {

TEST(PeerAgentTrust, AddressesAndNetworksOfBothFamilies) {
  MetricsRegistry metrics;
  SpanPipeline pipeline(SpanPipelineOptions{64, 1000}, metrics);
  OtlpIngest ingest(pipeline, IngestLimits{16u << 20, 64u << 20, 1000}, metrics);
  ingest.trust_peer_agents({"192.168.77.0/24", "10.1.2.3", "fd00:1::/32"});
  auto from = [&](const char* sender) {
    otlp::ExportRequest request;
    auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
    span->set_trace_id(std::string(16, '\x01'));
    span->set_span_id(std::string(8, '\x02'));
    ingest.ingest_request(std::move(request), sender, "http");
    auto batch = pipeline.next(std::chrono::milliseconds(100));
    return batch && batch->from_peer_agent;
  };
  EXPECT_TRUE(from("192.168.77.3"));
  EXPECT_TRUE(from("::ffff:192.168.77.200"));
  EXPECT_FALSE(from("192.168.78.3"));
  EXPECT_TRUE(from("10.1.2.3"));
  EXPECT_FALSE(from("10.1.2.4"));
  EXPECT_TRUE(from("fd00:1:abcd::7"));
  EXPECT_FALSE(from("fd00:2::7"));
  EXPECT_THROW(ingest.trust_peer_agents({"not-an-address"}), std::invalid_argument);
  EXPECT_THROW(ingest.trust_peer_agents({"10.0.0.0/33"}), std::invalid_argument);
}

}  // namespace
}  // namespace otelbpf
