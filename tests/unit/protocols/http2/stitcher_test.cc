#include "protocols/http2/stitcher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "protocols/http2/entry.h"
#include "protocols/registry/protocol.h"
#include "tests/unit/protocols/http2/fixtures.h"

namespace otelbpf::l7::http2 {
namespace {

using namespace testing;

constexpr uint64_t kT0 = 1'000'000;
constexpr uint64_t enter(int i) { return kT0 + 100 * static_cast<uint64_t>(i); }
constexpr uint64_t exit_of(int i) { return enter(i) + 10; }

const std::string kPreface(kClientPreface);

// The first request of a grpc-js-like client: most fields literal with incremental indexing.
std::string grpc_request_block(std::string_view path, std::string_view extra = "") {
  return indexed(3) + indexed(6) + lit_plain(4, "", path) + lit_indexed(1, "", "127.0.0.1:50051", true) +
         lit_indexed(31, "", "application/grpc") + lit_indexed(0, "te", "trailers") +
         lit_indexed(58, "", "grpc-node-js/1.12.6", true) + std::string(extra);
}
// A later request on the same connection: the same fields by dynamic index (table: ua 62, te 63, ct 64,
// authority 65).
std::string grpc_request_block_again(std::string_view path) {
  return indexed(3) + indexed(6) + lit_plain(4, "", path) + indexed(65) + indexed(64) + indexed(63) +
         indexed(62);
}
std::string grpc_response_headers() { return indexed(8) + lit_indexed(31, "", "application/grpc+proto"); }
std::string grpc_trailers(int status, std::string_view message = "") {
  std::string b = lit_plain(0, "grpc-status", std::to_string(status));
  if (!message.empty()) b += lit_plain(0, "grpc-message", message);
  return b;
}

std::string client_opening() { return kPreface + settings_frame({{settings::kEnablePush, 0}}); }
std::string server_opening() {
  return settings_frame({{settings::kMaxConcurrentStreams, 100}}) + settings_frame({}, true);
}

void ExpectClean(const StitcherStats& s) {
  EXPECT_EQ(s.parse_errors, 0u);
  EXPECT_EQ(s.resyncs, 0u);
  EXPECT_EQ(s.bytes_skipped, 0u);
  EXPECT_EQ(s.unmatched_responses, 0u);
  EXPECT_EQ(s.truncated_headers, 0u);
}

TEST(Http2Stitcher, GrpcUnaryClientFillsEveryRecordField) {
  Conversation c;
  const std::string open = client_opening();
  c.out(open);             // chunk 0
  c.in(server_opening());  // chunk 1
  const std::string req =
      headers(1, grpc_request_block("/shop.Catalog/GetItem",
                                    lit_plain(0, "traceparent",
                                              "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))) +
      data(1, grpc_message("\x08\x2a"), true);
  c.out(req);  // chunk 2
  EXPECT_TRUE(c.records.empty());
  const std::string resp_head =
      headers(1, grpc_response_headers(), false) + data(1, grpc_message("ok"), false);
  c.in(resp_head);  // chunk 3
  EXPECT_TRUE(c.records.empty());
  const std::string trailers = headers(1, grpc_trailers(0), true);
  c.in(trailers);  // chunk 4
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.protocol, "http2");
  EXPECT_EQ(r.role, Role::kClient);
  EXPECT_EQ(c.stitcher.role(), Role::kClient);
  EXPECT_EQ(r.span_name, "shop.Catalog/GetItem");
  EXPECT_EQ(r.start_ns, enter(2));
  EXPECT_EQ(r.end_ns, exit_of(4));
  EXPECT_EQ(r.req_seq, kEgressSeq0 + open.size());
  EXPECT_EQ(r.resp_seq, kIngressSeq0 + server_opening().size());
  EXPECT_EQ(r.req_bytes, req.size());
  EXPECT_EQ(r.resp_bytes, resp_head.size() + trailers.size());
  EXPECT_EQ(r.req_tid, 11u);
  EXPECT_EQ(r.resp_tid, 22u);
  EXPECT_FALSE(r.error);
  EXPECT_FALSE(r.response_missing);
  EXPECT_EQ(str_attr(r, "http.request.method"), "POST");
  EXPECT_EQ(str_attr(r, "url.path"), "/shop.Catalog/GetItem");
  EXPECT_EQ(str_attr(r, "url.scheme"), "http");
  EXPECT_EQ(str_attr(r, "server.address"), "127.0.0.1");
  EXPECT_EQ(int_attr(r, "server.port"), 50051);
  EXPECT_EQ(str_attr(r, "network.protocol.name"), "http");
  EXPECT_EQ(str_attr(r, "network.protocol.version"), "2");
  EXPECT_EQ(str_attr(r, "user_agent.original"), "grpc-node-js/1.12.6");
  EXPECT_EQ(int_attr(r, "http.response.status_code"), 200);
  EXPECT_EQ(str_attr(r, "rpc.system"), "grpc");
  EXPECT_EQ(str_attr(r, "rpc.service"), "shop.Catalog");
  EXPECT_EQ(str_attr(r, "rpc.method"), "GetItem");
  EXPECT_EQ(int_attr(r, "rpc.grpc.status_code"), 0);
  EXPECT_EQ(int_attr(r, "otelbpf.http2.stream_id"), 1);
  EXPECT_EQ(int_attr(r, "http.request.body.size"), 7);
  EXPECT_FALSE(has_attr(r, "otelbpf.http2.headers_incomplete"));
  ASSERT_TRUE(r.context.has_value());
  EXPECT_EQ(to_hex(r.context->trace_id), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(c.stats().records, 1u);
  ExpectClean(c.stats());
  EXPECT_TRUE(c.stitcher.decoder(Direction::kEgress).known_from_start());
  EXPECT_TRUE(c.stitcher.decoder(Direction::kIngress).known_from_start());
}

TEST(Http2Stitcher, GrpcErrorOnTheServerSideWithDynamicTableReuse) {
  Conversation c;
  c.out(server_opening());  // the server writes its SETTINGS first
  c.in(client_opening());
  c.in(headers(1, grpc_request_block("/shop.Catalog/GetItem")) + data(1, grpc_message("a"), true));
  c.out(headers(1, grpc_response_headers(), false) + data(1, grpc_message("x"), false) +
        headers(1, grpc_trailers(0), true));
  c.in(headers(3, grpc_request_block_again("/shop.Catalog/Remove")) + data(3, grpc_message("b"), true));
  // Trailers-only: status and gRPC status in one block that ends the stream; message percent-encoded.
  c.out(headers(
      3, indexed(8) + lit_indexed(31, "", "application/grpc+proto") + grpc_trailers(5, "item%2042 not found"),
      true));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].role, Role::kServer);
  EXPECT_FALSE(c.records[0].error);
  const L7Record& r = c.records[1];
  EXPECT_EQ(r.span_name, "shop.Catalog/Remove");
  EXPECT_EQ(str_attr(r, "server.address"), "127.0.0.1");  // :authority from the dynamic table
  EXPECT_EQ(str_attr(r, "user_agent.original"), "grpc-node-js/1.12.6");
  EXPECT_EQ(int_attr(r, "rpc.grpc.status_code"), 5);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.status_message, "item 42 not found");
  EXPECT_EQ(str_attr(r, "error.type"), "NOT_FOUND");
  EXPECT_EQ(int_attr(r, "http.response.status_code"), 200);
  ExpectClean(c.stats());
}

TEST(Http2Stitcher, InterleavedStreamsPairByStreamId) {
  Conversation c;
  c.out(client_opening());
  c.in(server_opening());
  const std::string r1 = headers(1, grpc_request_block("/a.S/One")) + data(1, grpc_message("1"), true);
  const std::string r3 = headers(3, grpc_request_block_again("/a.S/Two")) + data(3, grpc_message("3"), true);
  const std::string r5 =
      headers(5, grpc_request_block_again("/a.S/Three")) + data(5, grpc_message("5"), true);
  const uint32_t seq1 = c.egress_seq;
  c.out(r1 + r3 + r5);
  // Responses interleave: 5's headers, 1's headers, 3 trailers-only error, 5 data+trailers, 1 data+trailers.
  const std::string h5 = headers(5, grpc_response_headers(), false);
  const std::string h1 = headers(1, indexed(8) + indexed(62), false);
  const std::string t3 = headers(3, indexed(8) + grpc_trailers(14, "down"), true);
  const uint32_t in0 = c.ingress_seq;
  c.in(h5 + h1 + t3);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "a.S/Two");
  EXPECT_EQ(c.records[0].resp_seq, in0 + h5.size() + h1.size());
  EXPECT_TRUE(c.records[0].error);
  c.in(data(5, grpc_message("five"), false) + headers(5, grpc_trailers(0), true) +
       data(1, grpc_message("one"), false));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "a.S/Three");
  EXPECT_EQ(c.records[1].req_seq, seq1 + r1.size() + r3.size());
  EXPECT_EQ(c.records[1].resp_seq, in0);
  c.in(headers(1, grpc_trailers(0), true));
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[2].span_name, "a.S/One");
  EXPECT_EQ(c.records[2].req_seq, seq1);
  EXPECT_EQ(c.records[2].resp_seq, in0 + h5.size());
  EXPECT_EQ(c.stitcher.open_streams(), 0u);
  ExpectClean(c.stats());
}

// The same conversation split into two syscalls at every offset of each direction gives the same records.
TEST(Http2Stitcher, SplitAtEveryOffset) {
  const std::string out = client_opening() + headers(1, grpc_request_block("/a.S/One")) +
                          data(1, grpc_message("1"), true) +
                          headers(3, grpc_request_block_again("/a.S/Two")) + data(3, grpc_message("2"), true);
  const std::string in = server_opening() + headers(3, grpc_response_headers(), false) +
                         headers(1, indexed(8) + indexed(62), false) + data(1, grpc_message("x"), false) +
                         headers(1, grpc_trailers(0), true) + headers(3, grpc_trailers(7, "no"), true);
  for (size_t cut = 0; cut <= std::max(out.size(), in.size()); ++cut) {
    Conversation c;
    const size_t co = std::min(cut, out.size());
    const size_t ci = std::min(cut, in.size());
    if (co > 0) c.out(std::string_view(out).substr(0, co));
    if (co < out.size()) c.out(std::string_view(out).substr(co));
    if (ci > 0) c.in(std::string_view(in).substr(0, ci));
    if (ci < in.size()) c.in(std::string_view(in).substr(ci));
    ASSERT_EQ(c.records.size(), 2u) << cut;
    EXPECT_EQ(c.records[0].span_name, "a.S/One") << cut;
    EXPECT_EQ(c.records[0].req_seq, kEgressSeq0 + client_opening().size()) << cut;
    EXPECT_EQ(c.records[1].span_name, "a.S/Two") << cut;
    EXPECT_EQ(int_attr(c.records[1], "rpc.grpc.status_code"), 7) << cut;
    EXPECT_EQ(c.records[1].resp_seq, kIngressSeq0 + server_opening().size()) << cut;
    ExpectClean(c.stats());
  }
}

TEST(Http2Stitcher, ByteBySyscallStillPairs) {
  const std::string out =
      client_opening() +
      headers(1, indexed(2) + indexed(6) + lit_plain(4, "", "/x") + lit_indexed(1, "", "h.test"), true);
  const std::string in = server_opening() + headers(1, indexed(8), false) + data(1, "hello", true);
  Conversation c;
  for (char ch : out) c.out(std::string(1, ch));
  for (char ch : in) c.in(std::string(1, ch));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "GET /x");
  EXPECT_EQ(int_attr(c.records[0], "http.response.body.size"), 5);
  ExpectClean(c.stats());
}

TEST(Http2Stitcher, ContinuationAndPadding) {
  Conversation c;
  c.out(client_opening());
  const std::string block =
      indexed(3) + indexed(7) + lit_plain(4, "", "/upload?id=7") + lit_indexed(1, "", "files.local:8443");
  // HEADERS: padded, with priority, without END_HEADERS; the block continues in two CONTINUATIONs.
  std::string payload;
  payload.push_back(3);                                  // pad length
  payload += u32(0) + std::string(1, '\x10');            // stream dependency + weight
  payload += block.substr(0, 4) + std::string(3, '\0');  // fragment + padding
  c.out(frame(FrameType::kHeaders, flags::kPadded | flags::kPriority, 1, payload) +
        frame(FrameType::kContinuation, 0, 1, block.substr(4, 5)));
  c.out(frame(FrameType::kContinuation, flags::kEndHeaders, 1, block.substr(9)));
  // Padded DATA: 2 bytes of padding after 4 of data.
  c.out(frame(FrameType::kData, flags::kPadded | flags::kEndStream, 1,
              std::string("\x02"
                          "abcd\0\0",
                          7)));
  c.in(settings_frame() + headers(1, indexed(14), false) + data(1, "", true));
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.span_name, "POST /upload");
  EXPECT_EQ(str_attr(r, "url.query"), "id=7");
  EXPECT_EQ(str_attr(r, "url.scheme"), "https");
  EXPECT_EQ(str_attr(r, "server.address"), "files.local");
  EXPECT_EQ(int_attr(r, "server.port"), 8443);
  EXPECT_EQ(int_attr(r, "http.request.body.size"), 4);
  EXPECT_EQ(int_attr(r, "http.response.status_code"), 500);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.status_message, "HTTP 500");
  EXPECT_FALSE(has_attr(r, "rpc.system"));
  ExpectClean(c.stats());
}

TEST(Http2Stitcher, ResetStreamEndsAsError) {
  Conversation c;
  c.out(client_opening());
  c.in(server_opening());
  c.out(headers(1, grpc_request_block("/a.S/Slow")) + data(1, grpc_message("1"), true));
  c.out(rst(1, 8));  // the client cancels
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].error);
  EXPECT_EQ(str_attr(c.records[0], "error.type"), "CANCEL");
  EXPECT_EQ(c.records[0].status_message, "RST_STREAM CANCEL");
  EXPECT_EQ(c.stitcher.open_streams(), 0u);
  // A complete response followed by RST_STREAM NO_ERROR (the server did not need the request body) is fine.
  c.out(headers(3, grpc_request_block_again("/a.S/Up")));
  c.in(headers(3, indexed(8), false) + data(3, "", true) + rst(3, 0));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_FALSE(c.records[1].error);
}

TEST(Http2Stitcher, GoawayRefusesStreamsAboveLastStreamId) {
  Conversation c;
  c.out(client_opening());
  c.out(headers(1, grpc_request_block("/a.S/A")) + data(1, "", true));
  c.out(headers(3, grpc_request_block_again("/a.S/B")) + data(3, "", true));
  c.in(settings_frame() + frame(FrameType::kGoaway, 0, 0, u32(1) + u32(0)));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "a.S/B");
  EXPECT_TRUE(c.records[0].error);
  EXPECT_EQ(c.stitcher.open_streams(), 1u);
  c.close();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_TRUE(c.records[1].response_missing);
}

TEST(Http2Stitcher, MidConnectionCaptureMarksIncompleteHeadersAndKeepsTheSpan) {
  Conversation c;
  // No preface, no SETTINGS: the dynamic tables are unknown. The request refers to entries 62..65.
  c.out(headers(7, indexed(3) + indexed(6) + lit_plain(4, "", "/shop.Catalog/List") + indexed(65) +
                       indexed(64) + indexed(63) + indexed(62)) +
        data(7, grpc_message("q"), true));
  EXPECT_EQ(c.stitcher.role(), Role::kClient);
  c.in(headers(7, indexed(8) + indexed(70), false) + data(7, grpc_message("r"), false) +
       headers(7, lit_plain(0, "grpc-status", "0"), true));
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.span_name,
            "shop.Catalog/List");  // gRPC recognised by grpc-status although content-type was unknown
  EXPECT_TRUE(bool_attr(r, "otelbpf.http2.headers_incomplete"));
  EXPECT_EQ(int_attr(r, "rpc.grpc.status_code"), 0);
  EXPECT_EQ(int_attr(r, "http.response.status_code"), 200);
  EXPECT_EQ(c.stitcher.incomplete_header_blocks(), 2u);
  EXPECT_EQ(c.stats().truncated_headers, 2u);
  EXPECT_FALSE(c.stitcher.decoder(Direction::kEgress).known_from_start());
  // A response to a request this capture never saw is counted, not paired.
  c.in(headers(5, indexed(8), true));
  EXPECT_EQ(c.stats().unmatched_responses, 1u);
  EXPECT_EQ(c.records.size(), 1u);
}

TEST(Http2Stitcher, MidConnectionServerSideLearnsRoleFromStatus) {
  Conversation c;
  c.out(headers(9, indexed(8) + indexed(80), false));  // a response whose request we never saw
  EXPECT_EQ(c.stitcher.role(), Role::kServer);
  c.in(headers(11, indexed(3) + lit_plain(4, "", "/p.S/M") + indexed(66)));
  c.in(data(11, grpc_message(""), true));
  c.out(headers(11, indexed(8), false) + headers(11, lit_plain(0, "grpc-status", "0"), true));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].role, Role::kServer);
  EXPECT_EQ(c.records[0].span_name, "p.S/M");
}

TEST(Http2Stitcher, DataCutByTheCaptureIsSkippedByLength) {
  Conversation c;
  c.out(client_opening());
  c.in(server_opening());
  c.out(headers(1, grpc_request_block("/a.S/Big")));
  // A 16000-byte DATA frame: the syscall moved header + 16000 bytes, the capture kept 1024.
  const std::string big = data(1, std::string(16000, 'z'), true);
  c.out(std::string_view(big).substr(0, 1024), big.size());
  c.in(headers(1, grpc_response_headers(), false) + headers(1, grpc_trailers(0), true));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(int_attr(c.records[0], "http.request.body.size"), 16000);
  EXPECT_EQ(c.stats().resyncs, 0u);
  EXPECT_EQ(c.stats().bytes_skipped, 0u);
}

TEST(Http2Stitcher, LostFrameHeaderResyncsAtTheNextSyscall) {
  Conversation c;
  c.out(client_opening());
  c.in(server_opening());
  c.out(headers(1, grpc_request_block("/a.S/One")) + data(1, "", true));
  // One syscall: response headers, a DATA frame that runs past the capture, then trailers never captured.
  const std::string head = headers(1, grpc_response_headers(), false);
  const std::string payload = data(1, std::string(3000, 'd'), false) + headers(1, grpc_trailers(0), true);
  c.in(head + payload.substr(0, 100), head.size() + payload.size() + 500 /* and more */);
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_GT(c.stats().bytes_skipped, 0u);
  EXPECT_FALSE(c.stitcher.decoder(Direction::kIngress).known_from_start());
  // The next request and its response: the response side resynchronises at its syscall's first frame.
  c.out(headers(3, grpc_request_block_again("/a.S/Two")) + data(3, "", true));
  c.in(headers(3, indexed(8), false) + headers(3, grpc_trailers(0), true));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "a.S/Two");
  c.close();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "a.S/One");  // its end was lost with the trailers
  EXPECT_FALSE(c.records[1].response_missing);
}

// A writev whose later buffers the probe did not copy: whole frames went by unseen. When they were DATA
// the table is still right; fields that rely on older entries are decoded and flagged tentative.
TEST(Http2Stitcher, UncapturedDataFramesKeepATentativeTable) {
  Conversation c;
  c.out(client_opening());
  c.in(server_opening());
  c.out(headers(1, grpc_request_block("/a.S/One")) + data(1, grpc_message("1"), true) +
        headers(3, grpc_request_block_again("/a.S/Two")) + data(3, grpc_message("2"), true));
  // Stream 1's response header and trailers (inserting grpc-status at 62) are captured, stream 3's header
  // too; stream 3's DATA frame is not.
  const std::string seen = headers(1, grpc_response_headers(), false) + data(1, grpc_message("a"), false) +
                           headers(1, lit_indexed(0, "grpc-status", "0"), true) +
                           headers(3, indexed(8) + indexed(63), false);
  const std::string unseen = data(3, grpc_message("bb"), false);
  c.in(seen, seen.size() + unseen.size());  // one syscall; its tail was not captured
  ASSERT_EQ(c.records.size(), 1u);
  c.in(headers(3, indexed(62), true));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(int_attr(c.records[1], "rpc.grpc.status_code"), 0);
  EXPECT_TRUE(bool_attr(c.records[1], "otelbpf.http2.headers_tentative"));
  EXPECT_FALSE(has_attr(c.records[1], "otelbpf.http2.headers_incomplete"));
  EXPECT_EQ(c.stats().resyncs, 1u);
}

TEST(Http2Stitcher, StreamEvidenceRevealsALostHeaderBlock) {
  Conversation c;
  c.out(client_opening());
  c.in(server_opening());
  c.out(headers(1, grpc_request_block("/a.S/One")) + data(1, grpc_message("1"), true));
  c.in(headers(1, grpc_response_headers(), false) + data(1, grpc_message("a"), false) +
       headers(1, lit_indexed(0, "grpc-status", "0"), true));
  c.out(headers(3, grpc_request_block_again("/a.S/Two")) + data(3, grpc_message("2"), true));
  // Stream 3's response HEADERS is lost in a gap; then its DATA arrives: the table is known to be wrong.
  c.in("", 40);
  c.in(data(3, grpc_message("b"), false) + headers(3, indexed(63), true));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_FALSE(has_attr(c.records[1], "rpc.grpc.status_code"));
  EXPECT_TRUE(bool_attr(c.records[1], "otelbpf.http2.headers_incomplete"));
  EXPECT_FALSE(c.stitcher.decoder(Direction::kIngress).has_tentative());
  // The client side: a skipped stream id is a request HEADERS lost in a gap.
  c.out("", 60);
  EXPECT_TRUE(c.stitcher.decoder(Direction::kEgress).has_tentative());
  c.out(headers(7, grpc_request_block_again("/a.S/Three")) + data(7, "", true));
  EXPECT_FALSE(c.stitcher.decoder(Direction::kEgress).has_tentative());
  c.close();
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_TRUE(bool_attr(c.records[2], "otelbpf.http2.headers_incomplete"));
}

TEST(Http2Stitcher, HeaderBlockCutByTheCaptureIsDecodedAsFarAsCaptured) {
  Conversation c;
  c.out(client_opening());
  c.in(server_opening());
  const std::string block = indexed(3) + indexed(6) + lit_plain(4, "", "/a.S/Cut") +
                            lit_indexed(0, "x-big", std::string(2000, 'v'));
  const std::string f = headers(1, block, false);
  c.out(std::string_view(f).substr(0, 600), f.size());
  c.out(data(1, "", true));
  c.in(headers(1, indexed(8), false) + headers(1, grpc_trailers(0), true));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(str_attr(c.records[0], "url.path"), "/a.S/Cut");
  EXPECT_TRUE(bool_attr(c.records[0], "otelbpf.http2.headers_incomplete"));
  EXPECT_FALSE(c.stitcher.decoder(Direction::kEgress).known_from_start());
  EXPECT_EQ(c.stats().resyncs, 0u);
}

TEST(Http2Stitcher, PushPromiseOpensAServerStream) {
  Conversation c;
  c.out(client_opening());
  c.out(headers(1, indexed(2) + indexed(6) + indexed(4) + lit_indexed(1, "", "push.local"), true));
  c.in(settings_frame() + frame(FrameType::kPushPromise, flags::kEndHeaders, 1,
                                u32(2) + indexed(2) + indexed(6) + lit_plain(4, "", "/style.css") +
                                    lit_indexed(1, "", "push.local")));
  c.in(headers(1, indexed(8), false) + data(1, "<html>", true));
  c.in(headers(2, indexed(8), false) + data(2, "body{}", true));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].span_name, "GET /");
  EXPECT_EQ(c.records[1].span_name, "GET /style.css");
  EXPECT_EQ(str_attr(c.records[1], "server.address"), "push.local");
  ExpectClean(c.stats());
}

TEST(Http2Stitcher, StreamBoundEvictsTheOldest) {
  Limits limits;
  limits.max_streams = 4;
  Conversation c(limits);
  c.out(client_opening());
  for (uint32_t id = 1; id <= 11; id += 2) c.out(headers(id, indexed(2) + indexed(6) + indexed(4), true));
  EXPECT_EQ(c.stats().requests_evicted, 2u);
  EXPECT_EQ(c.stitcher.open_streams(), 4u);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(int_attr(c.records[0], "otelbpf.http2.stream_id"), 1);
}

TEST(Http2Stitcher, GarbageNeverCrashesAndResyncs) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    Conversation c;
    for (int i = 0; i < 20; ++i) {
      std::string junk(rng() % 200, '\0');
      for (char& ch : junk) ch = static_cast<char>(rng());
      c.send(rng() % 2 ? Direction::kEgress : Direction::kIngress, junk,
             junk.size() + (rng() % 3 ? 0 : rng() % 5000));
    }
    c.close();
    EXPECT_EQ(c.records.size(), c.stats().records);
  }
  // After garbage, a syscall that starts with frames is followed again.
  Conversation c;
  c.out("this is not http2 at all, not even close");
  c.in("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
  EXPECT_EQ(c.stats().resyncs, 2u);
  c.out(headers(1, indexed(2) + indexed(6) + lit_plain(4, "", "/again"), true));
  c.in(headers(1, indexed(8), true));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "GET /again");
}

TEST(Http2Stitcher, CloseEmitsOpenStreams) {
  Conversation c;
  c.out(client_opening());
  c.out(headers(1, grpc_request_block("/a.S/Stream")) + data(1, "", true));
  c.in(settings_frame() + headers(1, grpc_response_headers(), false) + data(1, grpc_message("a"), false));
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_FALSE(c.records[0].response_missing);
  EXPECT_EQ(c.records[0].span_name, "a.S/Stream");
}

TEST(Http2Entry, InfersPrefaceServerSettingsAndMidConnectionHeaders) {
  auto infer = [](std::string_view bytes, Direction d = Direction::kEgress) {
    return infer_protocol(bytes, d);
  };
  EXPECT_EQ(infer(client_opening()), Protocol::kHttp2);
  EXPECT_EQ(infer(kPreface.substr(0, 16)), Protocol::kHttp2);
  EXPECT_EQ(infer(settings_frame({{3, 100}, {4, 65535}, {6, 65536}})), Protocol::kHttp2);
  EXPECT_EQ(infer(settings_frame()), Protocol::kHttp2);
  EXPECT_EQ(infer(headers(3, indexed(3) + indexed(6) + lit_plain(4, "", "/a.S/M") + indexed(70)) +
                  data(3, "x", true)),
            Protocol::kHttp2);
  EXPECT_EQ(infer(headers(3, indexed(8) + indexed(70), false)), Protocol::kHttp2);
  EXPECT_EQ(to_string(Protocol::kHttp2), std::string("http2"));
  // Not HTTP/2: HTTP/1, a SETTINGS ACK, a HEADERS frame that decodes to nothing known, even streams, junk.
  EXPECT_NE(infer("GET / HTTP/1.1\r\n\r\n"), Protocol::kHttp2);
  EXPECT_NE(infer(settings_frame({}, true)), Protocol::kHttp2);
  EXPECT_NE(infer(settings_frame({{0x99, 1}})), Protocol::kHttp2);
  EXPECT_NE(infer(headers(3, indexed(70) + indexed(71), false)), Protocol::kHttp2);
  EXPECT_NE(infer(headers(2, indexed(8), false)), Protocol::kHttp2);
  EXPECT_NE(infer(headers(3, indexed(8) + indexed(70), false) + "\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
            Protocol::kHttp2);
  EXPECT_NE(infer(std::string("\x00\x00\x00\x04\x00\x00\x00\x00", 8)), Protocol::kHttp2);
  InferenceInput udp;
  udp.first_bytes = kPreface;
  udp.udp = true;
  EXPECT_FALSE(looks_like_message_start(udp));
}

}  // namespace
}  // namespace otelbpf::l7::http2
