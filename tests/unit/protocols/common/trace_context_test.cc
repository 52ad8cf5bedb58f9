#include "protocols/common/trace_context.h"

#include <gtest/gtest.h>

namespace otelbpf::l7 {
namespace {

constexpr const char* kTp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
// sample=1, traceId "a1b2.c3.16", segment "seg-1", spanIndex 3, service, instance, endpoint, peer.
constexpr const char* kSw8 = "1-YTFiMi5jMy4xNg==-c2VnLTE=-3-c3Zj-aW5zdA==-L2Vw-MTAuMC4wLjE6ODA=";

TEST(Traceparent, ValidHeader) {
  const auto c = parse_traceparent(kTp);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->source, TraceContext::Source::kW3C);
  EXPECT_EQ(to_hex(c->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(to_hex(c->span_id), "00f067aa0ba902b7");
  EXPECT_EQ(c->flags, 1);
  EXPECT_TRUE(c->sampled());
  EXPECT_TRUE(c->ids_valid);
  EXPECT_FALSE(c->parent_span_id);
  EXPECT_TRUE(parse_traceparent(std::string(" \t") + kTp + " "));  // optional whitespace around the value
  const auto unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled);
  EXPECT_FALSE(unsampled->sampled());
}

TEST(Traceparent, FutureVersionMayCarryMoreFields) {
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  EXPECT_TRUE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra"));
}

TEST(Traceparent, RejectsMalformedValues) {
  const char* bad[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        // no flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-00",  // version 00 has no more fields
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // version ff is invalid
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",     // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     // zero span id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",     // uppercase
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",     // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e47-3600f067aa0ba902b7-01",     // dashes in the wrong place
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
  };
  for (const char* b : bad) EXPECT_FALSE(parse_traceparent(b)) << b;
}

TEST(B3Single, FullAndShortForms) {
  auto c = parse_b3_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->source, TraceContext::Source::kB3);
  EXPECT_EQ(to_hex(c->trace_id), "80f198ee56343ba864fe8b2a57d3eff7");
  EXPECT_EQ(to_hex(c->span_id), "e457b5a2e4d86bd1");
  ASSERT_TRUE(c->parent_span_id);
  EXPECT_EQ(to_hex(*c->parent_span_id), "05e3ac9a4f6e3b90");
  EXPECT_TRUE(c->sampled());

  c = parse_b3_single("64fe8b2a57d3eff7-e457b5a2e4d86bd1");  // 64-bit trace id, sampling deferred
  ASSERT_TRUE(c);
  EXPECT_EQ(to_hex(c->trace_id), "000000000000000064fe8b2a57d3eff7");
  EXPECT_FALSE(c->sampled());

  c = parse_b3_single("64FE8B2A57D3EFF7-E457B5A2E4D86BD1-d");  // debug implies sampled; case-blind
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->sampled());
  EXPECT_TRUE(parse_b3_single("64fe8b2a57d3eff7-e457b5a2e4d86bd1-0"));
}

TEST(B3Single, RejectsSamplingOnlyAndMalformed) {
  const char* bad[] = {
      "1",
      "0",
      "d",
      "",
      "64fe8b2a57d3eff-e457b5a2e4d86bd1",         // 15 hex digits
      "64fe8b2a57d3eff7-e457b5a2e4d86bd",         // short span id
      "64fe8b2a57d3eff7-e457b5a2e4d86bd1-x",      // bad sampling state
      "64fe8b2a57d3eff7-e457b5a2e4d86bd1-1-abc",  // bad parent
      "0000000000000000-e457b5a2e4d86bd1-1",      // zero trace id
      "64fe8b2a57d3eff7-0000000000000000",        // zero span id
      "64fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90-x",
  };
  for (const char* b : bad) EXPECT_FALSE(parse_b3_single(b)) << b;
}

TEST(B3Multi, HeadersAnyCase) {
  const HeaderList h = {{"X-B3-TraceId", "463ac35c9f6413ad"},
                        {"X-B3-SpanId", "a2fb4a1d1a96d312"},
                        {"X-B3-ParentSpanId", "0020000000000001"},
                        {"x-b3-sampled", "1"}};
  const auto c = extract_trace_context(h);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->source, TraceContext::Source::kB3Multi);
  EXPECT_EQ(to_hex(c->trace_id), "0000000000000000463ac35c9f6413ad");
  EXPECT_EQ(to_hex(c->span_id), "a2fb4a1d1a96d312");
  EXPECT_EQ(to_hex(*c->parent_span_id), "0020000000000001");
  EXPECT_TRUE(c->sampled());

  const HeaderList debug = {{"X-B3-TRACEID", "463ac35c9f6413ad48485a3953bb6124"},
                            {"X-B3-SPANID", "a2fb4a1d1a96d312"},
                            {"X-B3-Flags", "1"}};
  const auto d = extract_trace_context(debug);
  ASSERT_TRUE(d);
  EXPECT_EQ(to_hex(d->trace_id), "463ac35c9f6413ad48485a3953bb6124");
  EXPECT_TRUE(d->sampled());
}

TEST(B3Multi, NeedsBothIdsOfTheRightLength) {
  EXPECT_FALSE(extract_trace_context({{"X-B3-TraceId", "463ac35c9f6413ad"}}));
  EXPECT_FALSE(
      extract_trace_context({{"X-B3-TraceId", "463ac35c9f6413a"}, {"X-B3-SpanId", "a2fb4a1d1a96d312"}}));
  EXPECT_FALSE(extract_trace_context({{"X-B3-TraceId", "463ac35c9f6413ad"}, {"X-B3-SpanId", "a2fb4a1d"}}));
}

TEST(UberTraceId, VariableLengthHexIsLeftPadded) {
  auto c = parse_uber_trace_id("abc:1f:0:1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->source, TraceContext::Source::kJaeger);
  EXPECT_EQ(to_hex(c->trace_id), "00000000000000000000000000000abc");
  EXPECT_EQ(to_hex(c->span_id), "000000000000001f");
  EXPECT_FALSE(c->parent_span_id);  // 0: root span
  EXPECT_TRUE(c->sampled());

  c = parse_uber_trace_id("4bf92f3577b34da6a3ce929d0e0e4736%3A00f067aa0ba902b7%3a53995c3f42cd8ad8%3A0");
  ASSERT_TRUE(c);  // URL-encoded colons
  EXPECT_EQ(to_hex(c->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(to_hex(*c->parent_span_id), "53995c3f42cd8ad8");
  EXPECT_FALSE(c->sampled());

  c = parse_uber_trace_id("abc:1f:0:2");  // debug
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->sampled());
}

TEST(UberTraceId, RejectsMalformed) {
  const char* bad[] = {
      "abc:1f:0",                                  // three fields
      "abc:1f:0:1:9",                              // five fields
      "0:1f:0:1",                                  // zero trace id
      "abc:0:0:1",                                 // zero span id
      "4bf92f3577b34da6a3ce929d0e0e47361:1f:0:1",  // 33 hex digits
      "abc:1ffffffffffffffff:0:1",                 // 17 hex digits
      "xyz:1f:0:1",
      "abc:1f:0:",
      "abc::0:1",
  };
  for (const char* b : bad) EXPECT_FALSE(parse_uber_trace_id(b)) << b;
}

TEST(Sw8, HashesSkyWalkingIdsDeterministically) {
  const auto a = parse_sw8(kSw8);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->source, TraceContext::Source::kSkyWalking);
  EXPECT_TRUE(a->sampled());
  EXPECT_TRUE(a->ids_valid);
  const auto b = parse_sw8(kSw8);
  EXPECT_EQ(a->trace_id, b->trace_id);
  EXPECT_EQ(a->span_id, b->span_id);
  // Another span of the same segment: same trace, different span.
  const auto other = parse_sw8("0-YTFiMi5jMy4xNg==-c2VnLTE=-4-c3Zj-aW5zdA==-L2Vw-MTAuMC4wLjE6ODA=");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->trace_id, a->trace_id);
  EXPECT_NE(other->span_id, a->span_id);
  EXPECT_FALSE(other->sampled());
}

TEST(Sw8, HexTraceIdIsKept) {
  const auto c = parse_sw8(
      "1-NGJmOTJmMzU3N2IzNGRhNmEzY2U5MjlkMGUwZTQ3MzY=-c2VnLTE=-0-c3Zj-aW5zdA==-L2Vw-MTAuMC4wLjE6ODA=");
  ASSERT_TRUE(c);
  EXPECT_EQ(to_hex(c->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(Sw8, RejectsMalformed) {
  const char* bad[] = {
      "1-YTFiMi5jMy4xNg==-c2VnLTE=-3-c3Zj-aW5zdA==-L2Vw",                   // seven fields
      "2-YTFiMi5jMy4xNg==-c2VnLTE=-3-c3Zj-aW5zdA==-L2Vw-MTAuMC4wLjE6ODA=",  // bad sample flag
      "1-YTFi!i5jMy4xNg==-c2VnLTE=-3-c3Zj-aW5zdA==-L2Vw-MTAuMC4wLjE6ODA=",  // bad base64
      "1--c2VnLTE=-3-c3Zj-aW5zdA==-L2Vw-MTAuMC4wLjE6ODA=",                  // empty trace id
      "1-YTFiMi5jMy4xNg==-c2VnLTE=-x-c3Zj-aW5zdA==-L2Vw-MTAuMC4wLjE6ODA=",  // bad span index
  };
  for (const char* b : bad) EXPECT_FALSE(parse_sw8(b)) << b;
}

TEST(ExtractTraceContext, PrecedenceTraceparentB3B3MultiUberSw8) {
  const HeaderList sw8 = {{"sw8", kSw8}};
  const HeaderList uber = {{"uber-trace-id", "abc:1f:0:1"}};
  const HeaderList multi = {{"X-B3-TraceId", "463ac35c9f6413ad"}, {"X-B3-SpanId", "a2fb4a1d1a96d312"}};
  const HeaderList b3 = {{"b3", "64fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}};
  const HeaderList w3c = {{"traceparent", kTp}};
  // Weakest first; each step adds a stronger kind, placed last so wire order is not what decides.
  const std::pair<const HeaderList*, TraceContext::Source> steps[] = {
      {&sw8, TraceContext::Source::kSkyWalking},
      {&uber, TraceContext::Source::kJaeger},
      {&multi, TraceContext::Source::kB3Multi},
      {&b3, TraceContext::Source::kB3},
      {&w3c, TraceContext::Source::kW3C}};
  HeaderList h;
  for (const auto& [add, expected] : steps) {
    h.insert(h.end(), add->begin(), add->end());
    const auto c = extract_trace_context(h);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->source, expected) << to_string(expected);
  }
}

TEST(ExtractTraceContext, InvalidStrongerHeaderFallsThrough) {
  const auto c =
      extract_trace_context({{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
                             {"tracestate", "ignored=1"},
                             {"b3", "64fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->source, TraceContext::Source::kB3);
  EXPECT_EQ(c->tracestate, "");
}

TEST(ExtractTraceContext, TracestateHeadersAreJoined) {
  const auto c = extract_trace_context(
      {{"TraceParent", kTp}, {"tracestate", "a=1, b=2"}, {"Host", "h"}, {"TRACESTATE", " c=3 "}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->tracestate, "a=1, b=2,c=3");
}

TEST(ExtractTraceContext, RequestIdIsAWeakLink) {
  const auto only = extract_trace_context({{"X-Request-ID", " 7f3c-11 "}});
  ASSERT_TRUE(only);
  EXPECT_EQ(only->source, TraceContext::Source::kRequestIdOnly);
  EXPECT_FALSE(only->ids_valid);
  EXPECT_EQ(only->request_id, "7f3c-11");
  EXPECT_EQ(to_hex(only->trace_id), std::string(32, '0'));

  const auto both = extract_trace_context({{"x-request-id", "r1"}, {"traceparent", kTp}});
  ASSERT_TRUE(both);
  EXPECT_EQ(both->source, TraceContext::Source::kW3C);
  EXPECT_EQ(both->request_id, "r1");
}

TEST(ExtractTraceContext, NothingUsable) {
  EXPECT_FALSE(extract_trace_context({}));
  EXPECT_FALSE(extract_trace_context({{"Host", "h"}, {"x-request-id", ""}, {"b3", "1"}}));
}

}  // namespace
}  // namespace otelbpf::l7
