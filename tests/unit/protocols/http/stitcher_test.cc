#include "protocols/http/stitcher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/unit/protocols/http/fixtures.h"

namespace otelbpf::l7::http {
namespace {

using testing::Conversation;
using testing::has_attr;
using testing::int_attr;
using testing::kEgressSeq0;
using testing::kIngressSeq0;
using testing::str_attr;

constexpr uint64_t kT0 = 1'000'000;  // Conversation's clock: chunk i enters at kT0 + 100*i, exits 10 later
constexpr uint64_t enter(int i) { return kT0 + 100 * static_cast<uint64_t>(i); }
constexpr uint64_t exit_of(int i) { return enter(i) + 10; }

void ExpectClean(const StitcherStats& s) {
  EXPECT_EQ(s.parse_errors, 0u);
  EXPECT_EQ(s.resyncs, 0u);
  EXPECT_EQ(s.bytes_skipped, 0u);
  EXPECT_EQ(s.unmatched_responses, 0u);
  EXPECT_EQ(s.truncated_headers, 0u);
}

TEST(HttpStitcher, ServerExchangeFillsEveryRecordField) {
  Conversation c;
  const std::string req =
      "GET /users/42?verbose=1 HTTP/1.1\r\nHost: api.local:8080\r\nUser-Agent: curl/8.0\r\nAccept: "
      "*/*\r\n\r\n";
  const std::string resp_head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  c.send(Direction::kIngress, req, 0, 77);       // chunk 0: the process read the request
  c.send(Direction::kEgress, resp_head, 0, 78);  // chunk 1
  EXPECT_TRUE(c.records.empty());
  c.send(Direction::kEgress, "hello", 0, 79);  // chunk 2 carries the last byte
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.protocol, "http1");
  EXPECT_EQ(r.role, Role::kServer);
  EXPECT_EQ(r.span_name, "GET /users/42");
  EXPECT_EQ(r.start_ns, enter(0));
  EXPECT_EQ(r.end_ns, exit_of(2));
  EXPECT_EQ(r.req_seq, kIngressSeq0);
  EXPECT_EQ(r.resp_seq, kEgressSeq0);
  EXPECT_EQ(r.req_bytes, req.size());
  EXPECT_EQ(r.resp_bytes, resp_head.size() + 5);
  EXPECT_EQ(r.req_tid, 77u);
  EXPECT_EQ(r.resp_tid, 78u);
  EXPECT_FALSE(r.error);
  EXPECT_FALSE(r.response_missing);
  EXPECT_FALSE(r.context.has_value());
  EXPECT_EQ(str_attr(r, "http.request.method"), "GET");
  EXPECT_EQ(str_attr(r, "url.path"), "/users/42");
  EXPECT_EQ(str_attr(r, "url.query"), "verbose=1");
  EXPECT_EQ(str_attr(r, "server.address"), "api.local");
  EXPECT_EQ(int_attr(r, "server.port"), 8080);
  EXPECT_EQ(str_attr(r, "user_agent.original"), "curl/8.0");
  EXPECT_EQ(str_attr(r, "network.protocol.name"), "http");
  EXPECT_EQ(str_attr(r, "network.protocol.version"), "1.1");
  EXPECT_EQ(int_attr(r, "http.response.status_code"), 200);
  EXPECT_EQ(int_attr(r, "http.response.body.size"), 5);
  EXPECT_FALSE(has_attr(r, "http.request.body.size"));
  EXPECT_FALSE(has_attr(r, "otelbpf.l7.truncated"));
  EXPECT_EQ(c.stats().records, 1u);
  ExpectClean(c.stats());
}

TEST(HttpStitcher, ClientRoleWhenTheProcessWroteTheRequest) {
  Conversation c;
  c.out("DELETE /items/9 HTTP/1.1\r\nHost: [::1]:9000\r\n\r\n");
  c.in("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.role, Role::kClient);
  EXPECT_EQ(c.stitcher.role(), Role::kClient);
  EXPECT_EQ(r.req_seq, kEgressSeq0);
  EXPECT_EQ(r.resp_seq, kIngressSeq0);
  EXPECT_EQ(str_attr(r, "server.address"), "::1");
  EXPECT_EQ(int_attr(r, "server.port"), 9000);
  EXPECT_FALSE(r.error);  // 4xx is not a failure of the call (docs/design.md, Span sources: 5xx)
  EXPECT_EQ(r.end_ns, exit_of(1));
}

// A POST with a Content-Length body answered by a chunked response with extensions and trailers, then a
// second exchange on the same keep-alive connection.
const std::string kPost = "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
const std::string kChunkedResp =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n";
const std::string kGet = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
const std::string kNoContent = "HTTP/1.1 204 No Content\r\n\r\n";

void ExpectKeepAlivePair(const Conversation& c, const std::string& where) {
  ASSERT_EQ(c.records.size(), 2u) << where;
  const L7Record& a = c.records[0];
  EXPECT_EQ(a.span_name, "POST /submit") << where;
  EXPECT_EQ(a.req_bytes, kPost.size()) << where;
  EXPECT_EQ(a.resp_bytes, kChunkedResp.size()) << where;
  EXPECT_EQ(int_attr(a, "http.request.body.size"), 11) << where;
  EXPECT_EQ(int_attr(a, "http.response.status_code"), 200) << where;
  EXPECT_EQ(a.req_seq, kIngressSeq0) << where;
  EXPECT_EQ(a.resp_seq, kEgressSeq0) << where;
  EXPECT_EQ(a.start_ns, enter(0)) << where;
  const L7Record& b = c.records[1];
  EXPECT_EQ(b.span_name, "GET /next") << where;
  EXPECT_EQ(b.req_seq, kIngressSeq0 + kPost.size()) << where;
  EXPECT_EQ(b.resp_seq, kEgressSeq0 + kChunkedResp.size()) << where;
  EXPECT_EQ(int_attr(b, "http.response.status_code"), 204) << where;
  ExpectClean(c.stats());
}

TEST(HttpStitcher, RequestSplitAtEveryByteOffset) {
  for (size_t i = 1; i < kPost.size(); ++i) {
    Conversation c;
    c.in(kPost.substr(0, i));
    c.in(kPost.substr(i));
    c.out(kChunkedResp);
    c.in(kGet);
    c.out(kNoContent);
    ExpectKeepAlivePair(c, "split request at " + std::to_string(i));
    EXPECT_EQ(c.records[0].end_ns, exit_of(2));
  }
}

TEST(HttpStitcher, ChunkedResponseSplitAtEveryByteOffset) {
  for (size_t i = 1; i < kChunkedResp.size(); ++i) {
    Conversation c;
    c.in(kPost);
    c.out(kChunkedResp.substr(0, i));
    EXPECT_TRUE(c.records.empty()) << i;
    c.out(kChunkedResp.substr(i));
    c.in(kGet);
    c.out(kNoContent);
    ExpectKeepAlivePair(c, "split response at " + std::to_string(i));
    EXPECT_EQ(c.records[0].end_ns, exit_of(2));
  }
}

TEST(HttpStitcher, ByteAtATime) {
  Conversation c;
  for (char ch : kPost) c.in(std::string(1, ch));
  for (char ch : kChunkedResp) c.out(std::string(1, ch));
  c.in(kGet);
  c.out(kNoContent);
  ExpectKeepAlivePair(c, "byte at a time");
  EXPECT_EQ(c.records[0].end_ns, exit_of(static_cast<int>(kPost.size() + kChunkedResp.size()) - 1));
}

TEST(HttpStitcher, PipelinedRequestsAreAnsweredInOrderIncludingHead) {
  Conversation c;
  const std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string b = "HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string cc = "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string ra = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  // HEAD: Content-Length describes the GET body that is not sent.
  const std::string rb = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  const std::string rc = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  c.in(a + b + cc);
  c.out(ra + rb + rc);
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[0].span_name, "GET /a");
  EXPECT_EQ(c.records[1].span_name, "HEAD /b");
  EXPECT_EQ(c.records[2].span_name, "POST /c");
  EXPECT_EQ(c.records[0].req_seq, kIngressSeq0);
  EXPECT_EQ(c.records[1].req_seq, kIngressSeq0 + a.size());
  EXPECT_EQ(c.records[2].req_seq, kIngressSeq0 + a.size() + b.size());
  EXPECT_EQ(c.records[1].resp_seq, kEgressSeq0 + ra.size());
  EXPECT_EQ(c.records[2].resp_seq, kEgressSeq0 + ra.size() + rb.size());
  EXPECT_EQ(c.records[1].resp_bytes, rb.size());
  EXPECT_EQ(c.records[2].req_bytes, cc.size());
  EXPECT_EQ(int_attr(c.records[2], "http.response.status_code"), 201);
  for (const auto& r : c.records) {
    EXPECT_EQ(r.start_ns, enter(0));
    EXPECT_EQ(r.end_ns, exit_of(1));
  }
  ExpectClean(c.stats());
}

// A keep-alive connection's parser reuses the message objects of the previous exchange (Message::reset):
// nothing of the first exchange (headers, trace context, reason, body, version) may show in the second.
TEST(HttpStitcher, KeepAliveExchangesShareNothing) {
  Conversation c;
  c.in(
      "POST /first?q=1 HTTP/1.0\r\nHost: a.example:81\r\nUser-Agent: agent-with-a-long-name/1.0\r\n"
      "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: k=v\r\n"
      "Content-Length: 3\r\n\r\nabc");
  c.out("HTTP/1.1 503 Service Unavailable Right Now\r\nContent-Length: 4\r\n\r\nbusy");
  c.in("GET /second HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  const L7Record& first = c.records[0];
  EXPECT_EQ(first.span_name, "POST /first");
  EXPECT_EQ(str_attr(first, "server.address"), "a.example");
  EXPECT_EQ(str_attr(first, "user_agent.original"), "agent-with-a-long-name/1.0");
  EXPECT_EQ(str_attr(first, "network.protocol.version"), "1.0");
  EXPECT_TRUE(first.context.has_value());
  EXPECT_EQ(first.status_message, "HTTP 503 Service Unavailable Right Now");
  const L7Record& second = c.records[1];
  EXPECT_EQ(second.span_name, "GET /second");
  EXPECT_EQ(str_attr(second, "url.path"), "/second");
  EXPECT_FALSE(has_attr(second, "url.query"));
  EXPECT_FALSE(has_attr(second, "server.address"));
  EXPECT_FALSE(has_attr(second, "user_agent.original"));
  EXPECT_FALSE(has_attr(second, "http.request.body.size"));
  EXPECT_FALSE(has_attr(second, "http.response.body.size"));
  EXPECT_EQ(str_attr(second, "network.protocol.version"), "1.1");
  EXPECT_EQ(int_attr(second, "http.response.status_code"), 200);
  EXPECT_FALSE(second.context.has_value());
  EXPECT_FALSE(second.error);
  EXPECT_TRUE(second.status_message.empty());
  ExpectClean(c.stats());
}

TEST(HttpStitcher, PipelinedResponsesSpreadOverSeveralWrites) {
  Conversation c;
  c.in("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
  c.out("cdHTTP/1.1 500 Oops\r\nContent-Len");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].end_ns, exit_of(2));
  c.out("gth: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET /2");
  EXPECT_EQ(c.records[1].end_ns, exit_of(3));
  EXPECT_TRUE(c.records[1].error);
  ExpectClean(c.stats());
}

TEST(HttpStitcher, ExpectContinueInterimResponseDoesNotEndTheExchange) {
  Conversation c;
  const std::string head =
      "PUT /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final_resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  c.out(head);
  c.in(interim);
  EXPECT_TRUE(c.records.empty());
  c.out("data");
  c.in(final_resp);
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.role, Role::kClient);
  EXPECT_EQ(r.start_ns, enter(0));
  EXPECT_EQ(r.end_ns, exit_of(3));
  EXPECT_EQ(r.req_bytes, head.size() + 4);
  EXPECT_EQ(r.resp_seq, kIngressSeq0);  // the response side began with the interim response
  EXPECT_EQ(r.resp_bytes, interim.size() + final_resp.size());
  EXPECT_EQ(int_attr(r, "http.response.status_code"), 200);
  ExpectClean(c.stats());
}

TEST(HttpStitcher, EarlyHintsAndContinueInOneRead) {
  Conversation c;
  c.out("GET / HTTP/1.1\r\n\r\n");
  c.in("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(int_attr(c.records[0], "http.response.status_code"), 200);
  EXPECT_EQ(c.records[0].resp_seq, kIngressSeq0);
  ExpectClean(c.stats());
}

TEST(HttpStitcher, NoBodyFor204And304WhateverContentLengthSays) {
  Conversation c;
  c.in("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n");
  c.out(
      "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: "
      "7\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(int_attr(c.records[0], "http.response.status_code"), 204);
  EXPECT_EQ(int_attr(c.records[1], "http.response.status_code"), 304);
  ExpectClean(c.stats());
}

TEST(HttpStitcher, ResponseWithoutLengthEndsAtClose) {
  Conversation c;
  c.out("GET /stream HTTP/1.0\r\n\r\n");
  const std::string head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\npart1";
  c.in(head);
  c.in("part2");
  EXPECT_TRUE(c.records.empty());
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_FALSE(r.response_missing);
  EXPECT_EQ(r.resp_bytes, head.size() + 5);
  EXPECT_EQ(r.end_ns, exit_of(2));
  EXPECT_EQ(str_attr(r, "network.protocol.version"), "1.0");
  EXPECT_FALSE(has_attr(r, "otelbpf.l7.truncated"));
  ExpectClean(c.stats());
}

TEST(HttpStitcher, UncapturedBodyBytesAreSkippedByCount) {
  Conversation c;
  const std::string head = "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 10000\r\n\r\n";
  // The kernel kept the first 100 bytes of each read.
  c.in(head + std::string(100 - head.size(), 'x'), head.size() + 4000);
  c.in(std::string(100, 'x'), 4000);
  c.in(std::string(100, 'x'), 2000);
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  c.in("GET /next HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].req_bytes, head.size() + 10000);
  EXPECT_EQ(int_attr(c.records[0], "http.request.body.size"), 10000);
  EXPECT_FALSE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[1].span_name, "GET /next");
  EXPECT_EQ(c.records[1].req_seq, kIngressSeq0 + head.size() + 10000);
  ExpectClean(c.stats());
}

TEST(HttpStitcher, UncapturedChunkDataIsSkippedByCount) {
  Conversation c;
  c.out("GET /c HTTP/1.1\r\n\r\n");
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n";
  const std::string chunk = std::string(4096, 'z') + "\r\n";
  // The chunk's data is cut at 20 bytes; its CRLF is uncaptured too; the last chunk arrives whole.
  c.in(head + chunk.substr(0, 20), head.size() + chunk.size());
  c.in("0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].resp_bytes, head.size() + chunk.size() + 5);
  EXPECT_FALSE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  ExpectClean(c.stats());
}

TEST(HttpStitcher, MessageStartingInUncapturedBytesIsCountedAndMissed) {
  Conversation c;
  const std::string ra = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'a');
  const std::string rb = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  c.in("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
  c.out((ra + rb).substr(0, 64), ra.size() + rb.size());
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "GET /a");
  EXPECT_EQ(c.records[0].resp_bytes, ra.size());
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_EQ(c.stats().bytes_skipped, rb.size());
  // The next response is picked up at its write boundary.
  c.in("GET /c HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  // FIFO matching pairs it with /b, whose response was lost; /c stays pending until close.
  EXPECT_EQ(c.records[1].span_name, "GET /b");
  c.close();
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_TRUE(c.records[2].response_missing);
}

TEST(HttpStitcher, RequestHeaderCutByCaptureIsRecordedAndParsingResumes) {
  Conversation c;
  const std::string req =
      "GET /api/orders?id=7 HTTP/1.1\r\nHost: shop\r\nUser-Agent: ua/1\r\nCookie: " + std::string(5000, 'c') +
      "\r\n\r\n";
  c.in(req.substr(0, 200), req.size());
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.span_name, "GET /api/orders");
  EXPECT_EQ(str_attr(r, "user_agent.original"), "ua/1");
  EXPECT_EQ(str_attr(r, "server.address"), "shop");
  EXPECT_EQ(r.req_bytes, req.size());
  EXPECT_TRUE(std::get<bool>(*find_attribute(r, "otelbpf.l7.truncated")));
  EXPECT_EQ(c.stats().truncated_headers, 1u);
  EXPECT_EQ(c.stats().resyncs, 1u);
  c.in("GET /after HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET /after");
  EXPECT_FALSE(has_attr(c.records[1], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.stats().parse_errors, 0u);
}

TEST(HttpStitcher, RequestLineCutByCaptureKeepsThePartialPath) {
  Conversation c;
  const std::string req = "GET /" + std::string(300, 'p') + " HTTP/1.1\r\n\r\n";
  c.out(req.substr(0, 40), req.size());
  c.in("HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "GET /" + std::string(35, 'p'));
  EXPECT_EQ(int_attr(c.records[0], "http.response.status_code"), 414);
}

TEST(HttpStitcher, ResponseHeaderCutByCaptureEndsWhenTheNextRequestIsSent) {
  Conversation c;
  c.out("GET / HTTP/1.1\r\n\r\n");
  const std::string resp = "HTTP/1.1 500 Internal Server Error\r\nSet-Cookie: " + std::string(6000, 's') +
                           "\r\nContent-Length: 3\r\n\r\nbad";
  c.in(resp.substr(0, 100), resp.size());
  EXPECT_TRUE(c.records.empty());  // its end is unknown until the peer moves on
  c.out("GET /2 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(int_attr(r, "http.response.status_code"), 500);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.status_message, "HTTP 500 Internal Server Error");
  EXPECT_EQ(r.end_ns, exit_of(1));
  EXPECT_EQ(r.resp_bytes, resp.size());
  EXPECT_TRUE(has_attr(r, "otelbpf.l7.truncated"));
  c.in("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET /2");
  EXPECT_FALSE(has_attr(c.records[1], "otelbpf.l7.truncated"));
}

TEST(HttpStitcher, LostChunkFramingEndsAtTheLastChunkMarker) {
  Conversation c;
  c.out("GET /chunky HTTP/1.1\r\n\r\n");
  const std::string part1 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" +
                            std::string(4096, 'z') + "\r\n8\r\nyyyyyyyy\r\n";
  const std::string part2 = "4\r\nzzzz\r\n0\r\n\r\n";
  c.in(part1.substr(0, 100), part1.size());  // the "8" chunk-size line is not captured
  EXPECT_TRUE(c.records.empty());
  c.in(part2);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].resp_bytes, part1.size() + part2.size());
  EXPECT_EQ(c.records[0].end_ns, exit_of(2));
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.stats().resyncs, 1u);
}

TEST(HttpStitcher, LostChunkFramingEndsAtClose) {
  Conversation c;
  c.out("GET /chunky HTTP/1.1\r\n\r\n");
  const std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" +
                           std::string(4096, 'z') + "\r\n0\r\n\r\n";
  c.in(resp.substr(0, 128), resp.size());
  EXPECT_TRUE(c.records.empty());
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_FALSE(c.records[0].response_missing);
  EXPECT_EQ(c.records[0].resp_bytes, resp.size());
  EXPECT_EQ(c.records[0].end_ns, exit_of(1));
}

TEST(HttpStitcher, MidConnectionStartSkipsToTheNextMessageBoundary) {
  Conversation c;
  const std::string old_req_tail = "ody\":\"of a request sent before the agent started\"}";
  const std::string old_resp_tail = "tail of an old response body";
  c.in(old_req_tail);
  c.out(old_resp_tail);
  c.in("GET /fresh HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "GET /fresh");
  EXPECT_EQ(c.records[0].role, Role::kServer);
  EXPECT_EQ(c.stats().bytes_skipped, old_req_tail.size() + old_resp_tail.size());
  EXPECT_EQ(c.stats().parse_errors, 0u);
}

TEST(HttpStitcher, MidConnectionResponseFirstIsCountedUnmatched) {
  Conversation c;
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  c.in("GET /x HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].role, Role::kServer);
  EXPECT_EQ(c.records[0].resp_seq, kEgressSeq0 + 41);
  EXPECT_EQ(c.stats().unmatched_responses, 1u);
  EXPECT_EQ(c.stats().parse_errors, 0u);
}

TEST(HttpStitcher, ResponseBytesFromBeforeTheRequestDoNotAnswerIt) {
  Conversation c;
  c.out("GET /first HTTP/1.1\r\n\r\n");
  c.in("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  c.in("HTTP/1.1 200 OK\r\nX-Cut-Hea");  // stray bytes, announced only when the close ends them
  c.out("GET /second HTTP/1.1\r\n\r\n");
  c.close();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET /second");
  EXPECT_TRUE(c.records[1].response_missing);
  EXPECT_EQ(c.stats().unmatched_responses, 1u);
}

TEST(HttpStitcher, BlockedReadEnteredBeforeTheRequestWasWrittenStillAnswersIt) {
  Stitcher s;
  std::vector<L7Record> out;
  const std::string req = "GET / HTTP/1.1\r\n\r\n";
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  s.on_chunk(DataChunk{Direction::kEgress, 100, 110, 1, 0, req.size(), req}, out);
  s.on_chunk(DataChunk{Direction::kIngress, 50, 200, 2, 0, resp.size(), resp}, out);  // read() since t=50
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].start_ns, 100u);
  EXPECT_EQ(out[0].end_ns, 200u);
}

TEST(HttpStitcher, GarbageAfterAMessageIsAParseErrorAndResyncs) {
  Conversation c;
  const std::string garbage = "\x01\x02 this is not http \xff\xfe";
  c.in("GET / HTTP/1.1\r\n\r\n" + garbage);
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  c.in("GET /ok HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET /ok");
  EXPECT_EQ(c.stats().parse_errors, 1u);
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_EQ(c.stats().bytes_skipped, garbage.size());
}

TEST(HttpStitcher, BadChunkSizeFinishesTheResponseAndResyncs) {
  Conversation c;
  c.out("GET / HTTP/1.1\r\n\r\n");
  c.in("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.stats().parse_errors, 1u);
}

TEST(HttpStitcher, OversizedHeaderIsAnErrorAndResyncs) {
  Limits limits;
  limits.max_header_bytes = 256;
  Conversation c(limits);
  const std::string big = "GET /big HTTP/1.1\r\nX-Pad: " + std::string(1000, 'p') + "\r\n\r\n";
  for (size_t i = 0; i < big.size(); i += 100) c.in(big.substr(i, 100));
  EXPECT_EQ(c.stats().parse_errors, 1u);
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_EQ(c.stats().bytes_skipped, big.size());
  c.in("GET /small HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "GET /small");
}

TEST(HttpStitcher, RandomGarbageNeverCrashesAndIsAllSkipped) {
  std::mt19937 rng(12345);
  Conversation c;
  uint64_t fed = 0;
  for (int i = 0; i < 500; ++i) {
    std::string bytes(1 + rng() % 300, '\0');
    for (char& ch : bytes) ch = static_cast<char>(rng() % 256);
    bytes[0] = static_cast<char>(0x80 | (rng() % 128));  // never a letter, so never a message start
    const uint64_t total = bytes.size() + (rng() % 2 == 0 ? 0 : rng() % 5000);
    c.send(rng() % 2 == 0 ? Direction::kEgress : Direction::kIngress, bytes, total);
    fed += total;
  }
  c.close();
  EXPECT_TRUE(c.records.empty());
  EXPECT_EQ(c.stats().bytes_skipped, fed);
  EXPECT_EQ(c.stitcher.role(), Role::kUnknown);
}

TEST(HttpStitcher, RandomSplitsAndCutsOfValidTrafficNeverCrash) {
  // Valid traffic, cut at random points and with random capture truncation: the records may be wrong
  // but the stitcher must stay within its bounds and never emit more records than requests.
  const std::string reqs = kPost + kGet + "HEAD /h HTTP/1.1\r\n\r\n" + kPost;
  const std::string resps = kChunkedResp + kNoContent + "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" +
                            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  std::mt19937 rng(777);
  for (int iter = 0; iter < 2000; ++iter) {
    Conversation c;
    size_t qi = 0, si = 0;
    while (qi < reqs.size() || si < resps.size()) {
      const bool req_side = si >= resps.size() || (qi < reqs.size() && rng() % 2 == 0);
      const std::string& s = req_side ? reqs : resps;
      size_t& at = req_side ? qi : si;
      const size_t n = std::min<size_t>(s.size() - at, 1 + rng() % 60);
      const size_t kept = rng() % 4 == 0 ? rng() % (n + 1) : n;
      c.send(req_side ? Direction::kIngress : Direction::kEgress, std::string_view(s).substr(at, kept), n);
      at += n;
    }
    c.close();
    EXPECT_LE(c.records.size(), 4u);
    for (const auto& r : c.records) EXPECT_LE(r.start_ns, r.end_ns);
  }
}

TEST(HttpStitcher, PendingRequestsAreEmittedAsMissingAtClose) {
  Conversation c;
  c.out("GET /1 HTTP/1.1\r\n\r\n");
  c.out("POST /2 HTTP/1.1\r\nContent-Length: 4\r\n\r\nab");  // body cut by the close
  c.close();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_TRUE(c.records[1].response_missing);
  EXPECT_EQ(c.records[0].end_ns, enter(2));  // the close time
  EXPECT_FALSE(has_attr(c.records[0], "http.response.status_code"));
  EXPECT_EQ(c.stats().records, 2u);
}

TEST(HttpStitcher, OldestPendingRequestIsEvictedBeyondTheBound) {
  Limits limits;
  limits.max_pending_requests = 2;
  Conversation c(limits);
  c.out("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "GET /1");
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(c.records[0].end_ns, exit_of(0));
  EXPECT_EQ(c.stats().requests_evicted, 1u);
  c.in("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET /2");
}

TEST(HttpStitcher, ServerErrorsAreErrorsForBothRoles) {
  for (Direction req_dir : {Direction::kEgress, Direction::kIngress}) {
    Conversation c;
    c.send(req_dir, "GET /x HTTP/1.1\r\n\r\n");
    c.send(opposite(req_dir), "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(c.records.size(), 1u);
    EXPECT_TRUE(c.records[0].error);
    EXPECT_EQ(c.records[0].status_message, "HTTP 503 Service Unavailable");
    EXPECT_EQ(str_attr(c.records[0], "error.type"), "503");
  }
}

TEST(HttpStitcher, TraceContextComesFromTheRequest) {
  Conversation c;
  c.in(
      "GET / HTTP/1.1\r\nTraceParent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
      "tracestate: k=v\r\nX-Request-Id: abc-123\r\n\r\n");
  c.out(
      "HTTP/1.1 200 OK\r\ntraceparent: 00-11111111111111111111111111111111-2222222222222222-01\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  ASSERT_TRUE(c.records[0].context.has_value());
  const TraceContext& t = *c.records[0].context;
  EXPECT_EQ(t.source, TraceContext::Source::kW3C);
  EXPECT_EQ(to_hex(t.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t.tracestate, "k=v");
  EXPECT_EQ(t.request_id, "abc-123");
}

// The stitcher keeps only the fields it reads (Limits::keep_header): every kind of trace context still
// gets through, among fields it drops, in any case, next to a folded field it drops.
TEST(HttpStitcher, EveryTraceContextKindSurvivesTheFieldFilter) {
  const std::string kTrace = "4bf92f3577b34da6a3ce929d0e0e4736", kSpan = "00f067aa0ba902b7";
  const std::pair<std::string, TraceContext::Source> kinds[] = {
      {"B3: " + kTrace + "-" + kSpan + "-1", TraceContext::Source::kB3},
      {"X-B3-TraceId: " + kTrace + "\r\nAccept: */*\r\nX-B3-SpanId: " + kSpan + "\r\nX-B3-Sampled: 1",
       TraceContext::Source::kB3Multi},
      {"Uber-Trace-Id: " + kTrace + ":" + kSpan + ":0:1", TraceContext::Source::kJaeger},
  };
  for (const auto& [fields, source] : kinds) {
    SCOPED_TRACE(fields);
    Conversation c;
    c.in("GET /a HTTP/1.1\r\nAccept-Language: en\r\n  folded-into-a-dropped-field\r\nHost: shop\r\n" +
         fields + "\r\nCookie: s=1\r\nUSER-AGENT: k6/0.5\r\n\r\n");
    c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ExpectClean(c.stats());
    ASSERT_EQ(c.records.size(), 1u);
    ASSERT_TRUE(c.records[0].context.has_value());
    EXPECT_EQ(c.records[0].context->source, source);
    EXPECT_EQ(to_hex(c.records[0].context->trace_id), kTrace);
    EXPECT_EQ(str_attr(c.records[0], "server.address"), "shop");
    EXPECT_EQ(str_attr(c.records[0], "user_agent.original"), "k6/0.5");
  }
}

TEST(HttpStitcher, UpgradeEndsHttpOnTheConnection) {
  Conversation c;
  c.in("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  c.out(std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", 63));
  c.in("\x81\x85\x01\x02\x03\x04GET / HTTP/1.1");
  c.out("HTTP/1.1 200 OK but this is websocket payload");
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(int_attr(c.records[0], "http.response.status_code"), 101);
  ExpectClean(c.stats());
}

TEST(HttpStitcher, ConnectTunnel) {
  Conversation c;
  c.out("CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n");
  c.in("HTTP/1.1 200 Connection Established\r\n\r\n");
  c.out(std::string("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8));
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "CONNECT");
  EXPECT_EQ(str_attr(c.records[0], "server.address"), "db.internal");
  EXPECT_EQ(int_attr(c.records[0], "server.port"), 5432);
  EXPECT_FALSE(has_attr(c.records[0], "url.path"));
  ExpectClean(c.stats());
}

TEST(HttpStitcher, AbsoluteFormTargetAndOtherMethods) {
  Conversation c;
  c.out("GET http://user@proxy.example:3128/a/b?x=1#frag HTTP/1.1\r\nHost: ignored\r\n\r\n");
  c.in("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  c.out("PURGE /cache/item HTTP/1.1\r\n\r\n");
  c.in("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  c.out("OPTIONS * HTTP/1.1\r\n\r\n");
  c.in("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 3u);
  const L7Record& a = c.records[0];
  EXPECT_EQ(a.span_name, "GET /a/b");
  EXPECT_EQ(str_attr(a, "url.path"), "/a/b");
  EXPECT_EQ(str_attr(a, "url.query"), "x=1");
  EXPECT_EQ(str_attr(a, "url.scheme"), "http");
  EXPECT_EQ(str_attr(a, "server.address"), "proxy.example");
  EXPECT_EQ(int_attr(a, "server.port"), 3128);
  EXPECT_EQ(str_attr(c.records[1], "http.request.method"), "_OTHER");
  EXPECT_EQ(str_attr(c.records[1], "http.request.method_original"), "PURGE");
  EXPECT_EQ(c.records[1].span_name, "HTTP /cache/item");
  EXPECT_EQ(c.records[2].span_name, "OPTIONS *");
  ExpectClean(c.stats());
}

TEST(HttpStitcher, BareLfAndLeadingEmptyLinesAreTolerated) {
  Conversation c;
  c.in("POST /a HTTP/1.1\nContent-Length: 2\n\nhi\r\n");  // stray CRLF after the body
  c.out("HTTP/1.1 200 OK\nContent-Length: 0\n\n");
  c.in("GET /b HTTP/1.1\n\n");
  c.out("HTTP/1.1 200 OK\nContent-Length: 0\n\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET /b");
  ExpectClean(c.stats());
}

TEST(HttpStitcher, EmptyChunksAreIgnored) {
  Conversation c;
  c.in("");
  c.in("GET / HTTP/1.1\r\n\r\n");
  c.out("");
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  ExpectClean(c.stats());
}

TEST(HttpStitcher, TcpSequenceNumbersWrap) {
  Conversation c;
  c.ingress_seq = 0xfffffff0u;
  const std::string a = "GET /a HTTP/1.1\r\n\r\n";
  c.in(a + "GET /b HTTP/1.1\r\n\r\n");
  c.out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].req_seq, static_cast<uint32_t>(0xfffffff0u + a.size()));
}

}  // namespace
}  // namespace otelbpf::l7::http
