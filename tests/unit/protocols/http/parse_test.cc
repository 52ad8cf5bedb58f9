#include "protocols/http/parse.h"

#include "protocols/common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace otelbpf::l7::http {
namespace {

TEST(parse_message_start, RequestAndStatusLines) {
  MessageKind k = MessageKind::kUnknown;
  EXPECT_EQ(parse_message_start("GET / HTTP/1.1\r\n", &k), ParseState::kSuccess);
  EXPECT_EQ(k, MessageKind::kRequest);
  EXPECT_EQ(parse_message_start("HEAD /x HTTP/1.1\r\n", &k), ParseState::kSuccess);
  EXPECT_EQ(k, MessageKind::kRequest);
  EXPECT_EQ(parse_message_start("PROPFIND /dav HTTP/1.1\r\n", &k), ParseState::kSuccess);
  EXPECT_EQ(parse_message_start("HTTP/1.1 200 OK\r\n", &k), ParseState::kSuccess);
  EXPECT_EQ(k, MessageKind::kResponse);
  EXPECT_EQ(parse_message_start("HTTP/1.0 503", &k), ParseState::kSuccess);
  EXPECT_EQ(k, MessageKind::kResponse);
}

TEST(parse_message_start, EveryProperPrefixNeedsMoreData) {
  MessageKind k = MessageKind::kUnknown;
  for (std::string_view full : {"DELETE ", "HTTP/1.1 204", "OPTIONS ", "HEAD "}) {
    for (size_t n = 1; n < full.size(); ++n) {
      EXPECT_EQ(parse_message_start(full.substr(0, n), &k), ParseState::kNeedsMoreData) << full.substr(0, n);
    }
  }
}

TEST(parse_message_start, RejectsWhatCannotStartAMessage) {
  MessageKind k = MessageKind::kUnknown;
  for (std::string_view s : {"PRI * HTTP/2.0", "GETX / HTTP/1.1", "get / HTTP/1.1", "HTTP/2 200",
                             "HTTP/1.1 700", "HTTP/1.1 2x0", " GET /", "{\"a\":1}", "\r\nGET / HTTP/1.1"}) {
    EXPECT_EQ(parse_message_start(s, &k), ParseState::kInvalid) << s;
  }
}

TEST(find_header_end, CrlfAndBareLf) {
  EXPECT_EQ(find_header_end("GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), 24u);
  EXPECT_EQ(find_header_end("GET / HTTP/1.1\nA: b\n\nbody"), 21u);
  EXPECT_EQ(find_header_end("GET / HTTP/1.1\r\nA: b\r\n"), std::string_view::npos);
  EXPECT_EQ(find_header_end("GET / HTTP/1.1\r\nA: b\r\n\r"), std::string_view::npos);
}

TEST(parse_header_block, RequestFieldsInOrderWithOriginalCase) {
  Message m;
  ASSERT_EQ(parse_header_block("POST /api/v1/items?id=3 HTTP/1.1\r\n"
                             "Host: example.com:8080\r\n"
                             "Content-Type:application/json\r\n"
                             "X-Folded: first\r\n"
                             "  second\r\n"
                             "Content-Length:  12 \r\n\r\n",
                             MessageKind::kRequest, &m),
            ParseState::kSuccess);
  EXPECT_EQ(m.method, "POST");
  EXPECT_EQ(m.target, "/api/v1/items?id=3");
  EXPECT_EQ(m.minor_version, 1);
  ASSERT_EQ(m.headers.size(), 4u);
  EXPECT_EQ(m.headers[0].first, "Host");
  EXPECT_EQ(*m.header("content-type"), "application/json");
  EXPECT_EQ(*m.header("X-FOLDED"), "first second");
  EXPECT_TRUE(m.has_content_length);
  EXPECT_EQ(m.content_length, 12u);
  EXPECT_EQ(m.header("absent"), nullptr);
}

// What a parser may keep of its last message for reuse (StreamParser::kMaxSpareBytes) is measured by
// retained_bytes: a plain keep-alive request fits, one with a long target does not, and reset() keeps the
// buffers (so the measure), not the content.
TEST(retained_bytes, CountsTheBuffersAMessageHolds) {
  Message small;
  ASSERT_EQ(parse_header_block("GET / HTTP/1.1\r\nHost: h\r\n"
                               "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
                               MessageKind::kRequest, &small),
            ParseState::kSuccess);
  EXPECT_GT(retained_bytes(small), sizeof(Message));
  EXPECT_LE(retained_bytes(small), StreamParser::kMaxSpareBytes);

  Message large;
  const std::string target = "/" + std::string(4000, 'a');
  ASSERT_EQ(parse_header_block("GET " + target + " HTTP/1.1\r\n\r\n", MessageKind::kRequest, &large),
            ParseState::kSuccess);
  EXPECT_GT(retained_bytes(large), StreamParser::kMaxSpareBytes);

  const std::size_t before = retained_bytes(large);
  large.reset();
  EXPECT_TRUE(large.target.empty());
  EXPECT_TRUE(large.headers.empty());
  EXPECT_EQ(large.status_code, 0);
  EXPECT_EQ(retained_bytes(large), before);  // the target's buffer is kept for the next message
}

TEST(parse_header_block, StatusLineWithAndWithoutReason) {
  Message a;
  ASSERT_EQ(parse_header_block("HTTP/1.0 404 Not Found\r\n\r\n", MessageKind::kResponse, &a),
            ParseState::kSuccess);
  EXPECT_EQ(a.status_code, 404);
  EXPECT_EQ(a.reason, "Not Found");
  EXPECT_EQ(a.minor_version, 0);
  Message b;
  ASSERT_EQ(parse_header_block("HTTP/1.1 200\nServer: x\n\n", MessageKind::kResponse, &b),
            ParseState::kSuccess);
  EXPECT_EQ(b.status_code, 200);
  EXPECT_EQ(b.reason, "");
}

TEST(parse_header_block, MalformedBlocksAreInvalid) {
  const char* bad[] = {
      "GET /\r\n\r\n",                                                      // no version
      "GET / HTTP/2.0\r\n\r\n",                                             // not HTTP/1
      "GET  HTTP/1.1\r\n\r\n",                                              // empty target
      "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",                              // space in field name
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",                                 // space before colon
      "GET / HTTP/1.1\r\nNoColon\r\n\r\n",                                  // not a field
      "GET / HTTP/1.1\r\n folded-first\r\n\r\n",                            // fold with nothing to fold into
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",  // conflicting lengths
      "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
  };
  for (const char* b : bad) {
    Message m;
    EXPECT_EQ(parse_header_block(b, MessageKind::kRequest, &m), ParseState::kInvalid) << b;
  }
  Message m;
  EXPECT_EQ(parse_header_block("HTTP/1.1 20 OK\r\n\r\n", MessageKind::kResponse, &m), ParseState::kInvalid);
}

TEST(parse_header_block, IdenticalContentLengthListIsAccepted) {
  Message m;
  ASSERT_EQ(parse_header_block("POST / HTTP/1.1\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n",
                             MessageKind::kRequest, &m),
            ParseState::kSuccess);
  EXPECT_EQ(m.content_length, 7u);
}

TEST(parse_header_block, FieldsBeyondTheLimitStillFrameTheMessage) {
  std::string block = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 10; ++i) block += "X-" + std::to_string(i) + ": v\r\n";
  block += "Transfer-Encoding: gzip, chunked\r\n\r\n";
  Message m;
  ASSERT_EQ(parse_header_block(block, MessageKind::kResponse, &m, 4), ParseState::kSuccess);
  EXPECT_EQ(m.headers.size(), 4u);
  EXPECT_TRUE(m.chunked);
}

TEST(parse_header_block, OnlyTheFieldsAskedForAreKeptWhileFramingReadsThemAll) {
  Message m;
  auto only_host = [](std::string_view name) { return iequals(name, "host"); };
  ASSERT_EQ(
      parse_header_block("POST / HTTP/1.1\r\nAccept: */*\r\n  folded\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
                         MessageKind::kRequest, &m, Limits{}.max_headers, only_host),
      ParseState::kSuccess);
  ASSERT_EQ(m.headers.size(), 1u);
  EXPECT_EQ(*m.header("host"), "a");
  EXPECT_EQ(m.content_length, 3u);
  Message fold_first;
  EXPECT_EQ(parse_header_block("GET / HTTP/1.1\r\n folded-first\r\n\r\n", MessageKind::kRequest, &fold_first,
                               Limits{}.max_headers, only_host),
            ParseState::kInvalid);
}

TEST(parse_header_block, IncompleteBlockNeedsMoreData) {
  Message m;
  EXPECT_EQ(parse_header_block("GET / HTTP/1.1\r\nHost: a\r\n", MessageKind::kRequest, &m),
            ParseState::kNeedsMoreData);
}

Message Response(int code, std::string_view extra_fields = "") {
  Message m;
  std::string block = "HTTP/1.1 " + std::to_string(code) + " X\r\n" + std::string(extra_fields) + "\r\n";
  EXPECT_EQ(parse_header_block(block, MessageKind::kResponse, &m), ParseState::kSuccess) << block;
  return m;
}

BodyFraming ResponseFraming(int code, std::string_view fields, std::string_view method = "GET") {
  Message m = Response(code, fields);
  EXPECT_EQ(decide_framing(&m, method), ParseState::kSuccess);
  return m.framing;
}

TEST(decide_framing, ResponsesPerRfc9112) {
  EXPECT_EQ(ResponseFraming(200, "Content-Length: 10\r\n"), BodyFraming::kContentLength);
  EXPECT_EQ(ResponseFraming(200, "Content-Length: 0\r\n"), BodyFraming::kNone);
  EXPECT_EQ(ResponseFraming(200, "Content-Length: 10\r\n", "HEAD"), BodyFraming::kNone);
  EXPECT_EQ(ResponseFraming(200, "Transfer-Encoding: chunked\r\n", "HEAD"), BodyFraming::kNone);
  EXPECT_EQ(ResponseFraming(204, "Content-Length: 10\r\n"), BodyFraming::kNone);
  EXPECT_EQ(ResponseFraming(304, "Content-Length: 10\r\n"), BodyFraming::kNone);
  EXPECT_EQ(ResponseFraming(100, ""), BodyFraming::kNone);
  EXPECT_EQ(ResponseFraming(103, "Link: </a.css>\r\n"), BodyFraming::kNone);
  EXPECT_EQ(ResponseFraming(101, "Upgrade: websocket\r\n"), BodyFraming::kTunnel);
  EXPECT_EQ(ResponseFraming(200, "", "CONNECT"), BodyFraming::kTunnel);
  EXPECT_EQ(ResponseFraming(407, "Content-Length: 3\r\n", "CONNECT"), BodyFraming::kContentLength);
  EXPECT_EQ(ResponseFraming(200, "Transfer-Encoding: chunked\r\nContent-Length: 10\r\n"),
            BodyFraming::kChunked);
  EXPECT_EQ(ResponseFraming(200, "Transfer-Encoding: gzip\r\n"), BodyFraming::kUntilClose);
  EXPECT_EQ(ResponseFraming(200, ""), BodyFraming::kUntilClose);
}

TEST(decide_framing, Requests) {
  auto framing = [](std::string_view block) {
    Message m;
    EXPECT_EQ(parse_header_block(block, MessageKind::kRequest, &m), ParseState::kSuccess);
    const ParseState s = decide_framing(&m, "");
    return s == ParseState::kSuccess ? static_cast<int>(m.framing) : -1;
  };
  EXPECT_EQ(framing("GET / HTTP/1.1\r\n\r\n"), static_cast<int>(BodyFraming::kNone));
  EXPECT_EQ(framing("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"),
            static_cast<int>(BodyFraming::kContentLength));
  EXPECT_EQ(framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            static_cast<int>(BodyFraming::kChunked));
  EXPECT_EQ(framing("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), -1);
}

TEST(parse_chunk_size_line, HexWithExtensions) {
  uint64_t n = 0;
  EXPECT_EQ(parse_chunk_size_line("1a", &n), ParseState::kSuccess);
  EXPECT_EQ(n, 26u);
  EXPECT_EQ(parse_chunk_size_line("FF;name=value", &n), ParseState::kSuccess);
  EXPECT_EQ(n, 255u);
  EXPECT_EQ(parse_chunk_size_line("0 ; last", &n), ParseState::kSuccess);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(parse_chunk_size_line("", &n), ParseState::kInvalid);
  EXPECT_EQ(parse_chunk_size_line("zz", &n), ParseState::kInvalid);
  EXPECT_EQ(parse_chunk_size_line("12 34", &n), ParseState::kInvalid);
  EXPECT_EQ(parse_chunk_size_line("1000000000000000", &n), ParseState::kInvalid);
}

TEST(parse_truncated_header, CutInsideTheRequestLine) {
  Message m;
  parse_truncated_header("GET /very/long/path?with=a&query", MessageKind::kRequest, &m);
  EXPECT_EQ(m.method, "GET");
  EXPECT_EQ(m.target, "/very/long/path?with=a&query");
}

TEST(parse_truncated_header, CutInsideTheFieldsKeepsCompleteLines) {
  Message m;
  parse_truncated_header("GET /p HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8\r\nCookie: aaaa",
                       MessageKind::kRequest, &m);
  EXPECT_EQ(m.target, "/p");
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(*m.header("user-agent"), "curl/8");
  Message r;
  parse_truncated_header("HTTP/1.1 502 Bad Gat", MessageKind::kResponse, &r);
  EXPECT_EQ(r.status_code, 502);
}

}  // namespace
}  // namespace otelbpf::l7::http
