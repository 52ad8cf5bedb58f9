#include "protocols/dns/stitcher.h"

#include <gtest/gtest.h>

#include "protocols/dns/entry.h"
#include "tests/unit/protocols/dns/fixtures.h"

namespace otelbpf::l7::dns {
namespace {

using testing::Conversation;
using testing::has_attr;
using testing::int_attr;
using testing::str_attr;

TEST(DnsStitcher, UdpClientQueryAndAnswer) {
  Conversation c(false);
  c.out(testing::kUdpQueryA);
  c.in(testing::kUdpResponseA);
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.protocol, "dns");
  EXPECT_EQ(r.role, Role::kClient);
  EXPECT_EQ(r.span_name, "A example.test");
  EXPECT_EQ(str_attr(r, "dns.question.name"), "example.test");
  EXPECT_EQ(str_attr(r, "otelbpf.dns.question.type"), "A");
  EXPECT_EQ(str_attr(r, "otelbpf.dns.rcode"), "NOERROR");
  EXPECT_EQ(int_attr(r, "otelbpf.dns.answer_count"), 1);
  EXPECT_EQ(int_attr(r, "otelbpf.dns.id"), 0x714a);
  EXPECT_FALSE(r.error);
  EXPECT_FALSE(r.response_missing);
  EXPECT_FALSE(has_attr(r, "otelbpf.l7.truncated"));
  EXPECT_EQ(r.req_bytes, testing::kUdpQueryA.size());
  EXPECT_EQ(r.resp_bytes, testing::kUdpResponseA.size());
  EXPECT_EQ(r.req_seq, 0u);
  EXPECT_EQ(r.start_ns, 1'000'000u);
  EXPECT_EQ(r.end_ns, 1'000'110u);
  EXPECT_EQ(c.stitcher.transport(), Transport::kUdp);
}

TEST(DnsStitcher, UdpServerRole) {
  Conversation c(false);
  c.in(testing::kUdpQueryNx);
  c.out(testing::kUdpResponseNx);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].role, Role::kServer);
  EXPECT_EQ(str_attr(c.records[0], "otelbpf.dns.rcode"), "NXDOMAIN");
  EXPECT_EQ(int_attr(c.records[0], "otelbpf.dns.answer_count"), 0);
  EXPECT_FALSE(c.records[0].error);  // NXDOMAIN is an answer
}

TEST(DnsStitcher, RefusedAndServfailAreErrors) {
  Conversation c(false);
  c.out(testing::kUdpQueryRefused);
  c.in(testing::kUdpResponseRefused);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].error);
  EXPECT_EQ(str_attr(c.records[0], "error.type"), "REFUSED");
  EXPECT_EQ(c.records[0].status_message, "DNS REFUSED");
  EXPECT_EQ(c.records[0].span_name, "AAAA other.test");

  std::string servfail = testing::kUdpResponseNx;
  servfail[3] = static_cast<char>((servfail[3] & 0xf0) | 2);
  Conversation s(false);
  s.out(testing::kUdpQueryNx);
  s.in(servfail);
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_TRUE(s.records[0].error);
  EXPECT_EQ(str_attr(s.records[0], "error.type"), "SERVFAIL");
}

TEST(DnsStitcher, UdpMatchesByIdNotOrder) {
  Conversation c(false);
  c.out(testing::kUdpQueryA);
  c.out(testing::kUdpQueryNx);
  c.out(testing::kUdpQueryRefused);
  c.in(testing::kUdpResponseRefused);
  c.in(testing::kUdpResponseA);
  c.in(testing::kUdpResponseNx);
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[0].span_name, "AAAA other.test");
  EXPECT_EQ(str_attr(c.records[0], "otelbpf.dns.rcode"), "REFUSED");
  EXPECT_EQ(c.records[1].span_name, "A example.test");
  EXPECT_EQ(str_attr(c.records[1], "otelbpf.dns.rcode"), "NOERROR");
  EXPECT_EQ(c.records[2].span_name, "A nx.test");
  EXPECT_EQ(str_attr(c.records[2], "otelbpf.dns.rcode"), "NXDOMAIN");
  EXPECT_EQ(c.stats().unmatched_responses, 0u);
}

TEST(DnsStitcher, UnansweredQueryIsMissingAtCloseOrTimeout) {
  Conversation c(false);
  c.out(testing::kUdpQueryA);
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(c.records[0].end_ns, c.clock);
  EXPECT_FALSE(has_attr(c.records[0], "otelbpf.dns.rcode"));

  Limits limits;
  limits.query_timeout_ns = 1000;
  Conversation t(false, limits);
  t.out(testing::kUdpQueryA);
  t.clock += 5000;
  t.out(testing::kUdpQueryNx);
  ASSERT_EQ(t.records.size(), 1u);
  EXPECT_TRUE(t.records[0].response_missing);
  EXPECT_EQ(t.records[0].span_name, "A example.test");
  EXPECT_EQ(t.records[0].end_ns, 1'000'010u + 1000);
  t.in(testing::kUdpResponseA);  // too late: its query was given up
  t.in(testing::kUdpResponseNx);
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.stats().unmatched_responses, 1u);
}

TEST(DnsStitcher, RetransmissionKeepsFirstSend) {
  Conversation c(false);
  c.out(testing::kUdpQueryA);
  c.out(testing::kUdpQueryA);
  c.in(testing::kUdpResponseA);
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].start_ns, 1'000'000u);
  EXPECT_EQ(int_attr(c.records[0], "otelbpf.dns.retransmissions"), 1);
}

TEST(DnsStitcher, UnmatchedResponseAndPendingBound) {
  Conversation c(false);
  c.out(testing::kUdpQueryA);
  c.in(testing::kUdpResponseNx);
  EXPECT_TRUE(c.records.empty());
  EXPECT_EQ(c.stats().unmatched_responses, 1u);

  Limits limits;
  limits.max_pending_queries = 2;
  Conversation b(false, limits);
  b.out(testing::kUdpQueryA);
  b.out(testing::kUdpQueryNx);
  b.out(testing::kUdpQueryRefused);
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_TRUE(b.records[0].response_missing);
  EXPECT_EQ(b.records[0].span_name, "A example.test");
  EXPECT_EQ(b.stats().requests_evicted, 1u);
}

TEST(DnsStitcher, UdpCaptureCutKeepsHeader) {
  Conversation c(false);
  c.out(testing::kUdpQueryA);
  c.in(std::string_view(testing::kUdpResponseA).substr(0, 20), testing::kUdpResponseA.size());
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(str_attr(c.records[0], "otelbpf.dns.rcode"), "NOERROR");
  EXPECT_EQ(int_attr(c.records[0], "otelbpf.dns.answer_count"), 1);
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[0].resp_bytes, testing::kUdpResponseA.size());
}

TEST(DnsStitcher, UdpGarbageIsCounted) {
  Conversation c(false);
  c.out(std::string(3, 'x'));
  c.out(testing::kUdpQueryA);
  c.in(std::string(40, '\xff'));
  c.in(testing::kUdpResponseA);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_GE(c.stats().parse_errors, 1u);
}

TEST(DnsStitcher, TcpSingleExchangeWithSeqs) {
  Conversation c(true);
  c.out(testing::kTcpQueryAaaa);
  c.in(testing::kTcpResponseAaaa);
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.span_name, "AAAA example.test");
  EXPECT_EQ(r.req_seq, testing::kEgressSeq0);
  EXPECT_EQ(r.resp_seq, testing::kIngressSeq0);
  EXPECT_EQ(r.req_bytes, testing::kTcpQueryAaaa.size());
  EXPECT_EQ(r.resp_bytes, testing::kTcpResponseAaaa.size());
  EXPECT_TRUE(r.error);
  EXPECT_EQ(c.stitcher.transport(), Transport::kTcp);
}

TEST(DnsStitcher, TcpSplitAtEveryOffset) {
  for (const auto* pair : {&testing::kTcpQuery1, &testing::kTcpQuery2}) {
    const std::string& q = *pair;
    const std::string& resp = pair == &testing::kTcpQuery1 ? testing::kTcpResponse1 : testing::kTcpResponse2;
    for (size_t cut = 1; cut < q.size(); ++cut) {
      Conversation c(true);
      c.out(std::string_view(q).substr(0, cut));
      c.out(std::string_view(q).substr(cut));
      const size_t rcut = cut % resp.size();
      if (rcut > 0) c.in(std::string_view(resp).substr(0, rcut));
      c.in(std::string_view(resp).substr(rcut));
      ASSERT_EQ(c.records.size(), 1u) << cut;
      EXPECT_EQ(str_attr(c.records[0], "otelbpf.dns.rcode"), "NOERROR");
      EXPECT_EQ(c.records[0].req_seq, testing::kEgressSeq0);
      EXPECT_EQ(c.records[0].resp_seq, testing::kIngressSeq0);
      EXPECT_EQ(c.records[0].req_bytes, q.size());
      EXPECT_EQ(c.records[0].resp_bytes, resp.size());
      EXPECT_EQ(c.stats().parse_errors, 0u);
    }
  }
}

TEST(DnsStitcher, TcpPipelinedAndAnsweredOutOfOrder) {
  Conversation c(true);
  c.out(testing::kTcpQuery1 + testing::kTcpQuery2);
  c.in(testing::kTcpResponse2 + testing::kTcpResponse1);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].span_name, "A www.example.test");
  EXPECT_EQ(c.records[0].req_seq, testing::kEgressSeq0 + testing::kTcpQuery1.size());
  EXPECT_EQ(c.records[0].resp_seq, testing::kIngressSeq0);
  EXPECT_EQ(c.records[1].span_name, "A example.test");
  EXPECT_EQ(c.records[1].req_seq, testing::kEgressSeq0);
  EXPECT_EQ(c.records[1].resp_seq, testing::kIngressSeq0 + testing::kTcpResponse2.size());
}

TEST(DnsStitcher, TcpKeepOpenSequence) {
  Conversation c(true);
  c.out(testing::kTcpQuery1);
  c.in(testing::kTcpResponse1);
  c.out(testing::kTcpQuery2.substr(0, 2));  // length prefix written on its own
  c.out(testing::kTcpQuery2.substr(2));
  c.in(testing::kTcpResponse2);
  c.close();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "A www.example.test");
  EXPECT_EQ(c.records[1].req_seq, testing::kEgressSeq0 + testing::kTcpQuery1.size());
}

TEST(DnsStitcher, TcpCaptureCutInsideMessageStaysInSync) {
  Conversation c(true);
  c.out(testing::kTcpQuery1);
  // Only the first 20 bytes of the response were captured; its length still frames it.
  c.in(std::string_view(testing::kTcpResponse1).substr(0, 20), testing::kTcpResponse1.size());
  c.out(testing::kTcpQuery2);
  c.in(testing::kTcpResponse2);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(str_attr(c.records[0], "otelbpf.dns.rcode"), "NOERROR");
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[0].resp_bytes, testing::kTcpResponse1.size());
  EXPECT_FALSE(has_attr(c.records[1], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.stats().resyncs, 0u);
}

TEST(DnsStitcher, TcpLostLengthResyncsAtNextMessage) {
  Conversation c(true);
  // Two responses in one read, of which only the first 20 bytes were captured: the first is framed by its
  // length, but the second length prefix is unknown, so the rest is skipped and the parser waits for a
  // chunk that starts a message.
  c.out(testing::kTcpQuery1 + testing::kTcpQuery2);
  const std::string both = testing::kTcpResponse1 + testing::kTcpResponse2;
  c.in(std::string_view(both).substr(0, 20), both.size());
  c.out(testing::kTcpQueryAaaa);
  c.in(testing::kTcpResponseAaaa);
  c.close();
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_EQ(c.stats().bytes_skipped, testing::kTcpResponse2.size());
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[0].span_name, "A example.test");
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[1].span_name, "AAAA example.test");
  EXPECT_FALSE(c.records[1].response_missing);
  EXPECT_EQ(c.records[2].span_name, "A www.example.test");
  EXPECT_TRUE(c.records[2].response_missing);
}

TEST(DnsStitcher, TcpHeaderNotCapturedIsSkipped) {
  Conversation c(true);
  c.out(testing::kTcpQuery1);
  // Only 10 bytes of the first response were captured: not enough to tell where a message starts.
  c.in(std::string_view(testing::kTcpResponse1).substr(0, 10), testing::kTcpResponse1.size());
  c.out(testing::kTcpQuery2);
  c.in(testing::kTcpResponse2);
  c.close();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].span_name, "A www.example.test");
  EXPECT_EQ(c.records[1].span_name, "A example.test");
  EXPECT_TRUE(c.records[1].response_missing);
  EXPECT_EQ(c.stats().bytes_skipped, testing::kTcpResponse1.size());
}

TEST(DnsStitcher, TcpGarbageNeverCrashes) {
  Conversation c(true);
  std::string junk;
  for (int i = 0; i < 600; ++i) junk.push_back(static_cast<char>(i * 37 + 11));
  for (size_t i = 0; i < junk.size(); i += 50) c.out(std::string_view(junk).substr(i, 50));
  c.in(junk);
  c.close();
  EXPECT_EQ(c.records.size(), c.stats().records);
}

}  // namespace
}  // namespace otelbpf::l7::dns

namespace otelbpf::l7::dns {
namespace {

TEST(DnsStitcher, TcpServerReadingTheLengthByteByByte) {
  // dnsmasq reads the length prefix one byte at a time: the tracer's inference fails on those bytes and
  // the stitcher first sees the message alone.
  const std::string_view q = testing::kTcpQuery1;
  InferenceInput in;
  in.first_bytes = q.substr(2);
  in.local_port = 48253;
  in.remote_port = 40000;
  EXPECT_TRUE(looks_like_message_start(in));
  Conversation c(true);
  c.ingress_seq += 2;  // the two reads of one byte each went to the failed inference
  c.in(q.substr(2));
  c.out(testing::kTcpResponse1);
  c.in(q.substr(0, 1));  // the next query: byte, byte, message
  c.in(q.substr(1, 1));
  c.in(q.substr(2));
  c.out(testing::kTcpResponse1);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].role, Role::kServer);
  EXPECT_EQ(c.records[0].req_seq, testing::kIngressSeq0);  // where the length prefix was
  EXPECT_EQ(c.records[0].req_bytes, q.size());
  EXPECT_EQ(c.records[1].req_seq, testing::kIngressSeq0 + q.size());
  EXPECT_EQ(c.records[1].req_bytes, q.size());
  EXPECT_EQ(str_attr(c.records[1], "otelbpf.dns.rcode"), "NOERROR");
}

}  // namespace
}  // namespace otelbpf::l7::dns
