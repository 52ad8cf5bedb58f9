#include "protocols/http2/parse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/protocols/http2/fixtures.h"

namespace otelbpf::l7::http2 {
namespace {

using namespace testing;

struct Recorder : FrameReader::Listener {
  std::vector<Frame> frames;
  int prefaces = 0;
  int lost = 0;
  void on_preface(Direction, const WireExtent&) override { ++prefaces; }
  void on_frame(Direction, const Frame& f) override { frames.push_back(f); }
  void on_framing_lost(Direction, bool) override { ++lost; }
};

TEST(Http2Parse, FrameHeaderFields) {
  FrameHeader h;
  const std::string f = frame(FrameType::kHeaders, flags::kEndHeaders | flags::kEndStream, 0x7fffffff, "abc");
  ASSERT_EQ(parse_frame_header(f, &h), ParseState::kSuccess);
  EXPECT_EQ(h.length, 3u);
  EXPECT_EQ(h.frame_type(), FrameType::kHeaders);
  EXPECT_TRUE(h.has(flags::kEndHeaders));
  EXPECT_EQ(h.stream_id, 0x7fffffffu);
  EXPECT_FALSE(h.reserved_bit);
  EXPECT_EQ(parse_frame_header(f.substr(0, 8), &h), ParseState::kNeedsMoreData);
  EXPECT_STREQ(to_string(FrameType::kWindowUpdate), "WINDOW_UPDATE");
  EXPECT_EQ(error_code_name(8), "CANCEL");
  EXPECT_EQ(error_code_name(99), "UNKNOWN_ERROR_99");
}

TEST(Http2Parse, Preface) {
  EXPECT_EQ(parse_preface(kClientPreface), ParseState::kSuccess);
  EXPECT_EQ(parse_preface("PRI * HTTP/2"), ParseState::kNeedsMoreData);
  EXPECT_EQ(parse_preface("PRI * HTTP/1.1"), ParseState::kInvalid);
  EXPECT_EQ(parse_preface(""), ParseState::kNeedsMoreData);
}

TEST(Http2Parse, PlausibilityRules) {
  auto plausible = [](const std::string& f) {
    FrameHeader h;
    parse_frame_header(f, &h);
    return plausible_frame_header(h, kDefaultMaxFrameSize);
  };
  EXPECT_TRUE(plausible(settings_frame({{1, 4096}})));
  EXPECT_FALSE(plausible(frame(FrameType::kSettings, 0, 1, "")));                  // stream 0 only
  EXPECT_FALSE(plausible(frame(FrameType::kSettings, 0, 0, "12345")));             // multiple of 6
  EXPECT_FALSE(plausible(frame(FrameType::kSettings, flags::kAck, 0, "123456")));  // ACK is empty
  EXPECT_FALSE(plausible(frame(FrameType::kHeaders, flags::kEndHeaders, 0, "x")));
  EXPECT_FALSE(plausible(frame(FrameType::kHeaders, 0x40, 1, "x")));  // undefined flag
  EXPECT_FALSE(plausible(frame(FrameType::kPing, 0, 0, "1234567")));
  EXPECT_TRUE(plausible(frame(FrameType::kPing, flags::kAck, 0, "12345678")));
  EXPECT_FALSE(plausible(frame(FrameType::kPushPromise, flags::kEndHeaders, 2, u32(4))));  // odd streams only
  EXPECT_FALSE(plausible(frame(FrameType::kRstStream, 0, 1, "123")));
  EXPECT_FALSE(plausible(frame(FrameType::kPriority, 0, 1, "1234")));
  EXPECT_FALSE(plausible(frame(static_cast<FrameType>(0x0a), 0, 0, "")));
  EXPECT_TRUE(plausible(frame(FrameType::kWindowUpdate, 0, 0, u32(100))));
  std::string big = frame(FrameType::kData, 0, 1, "");
  big[0] = 0x01;  // 65536 + length: above the default maximum frame size
  EXPECT_FALSE(plausible(big));
}

TEST(Http2Parse, PayloadFragments) {
  FrameHeader h;
  std::string_view frag;
  std::string payload = std::string("\x02", 1) + u32(0) +
                        "\x05"
                        "abc" +
                        std::string(2, '\0');
  std::string f = frame(FrameType::kHeaders, flags::kPadded | flags::kPriority, 1, payload);
  parse_frame_header(f, &h);
  ASSERT_EQ(frame_payload_fragment(h, payload, &frag), ParseState::kSuccess);
  EXPECT_EQ(frag, "abc");
  // Padding longer than the payload.
  payload = std::string("\x09", 1) + "abc";
  f = frame(FrameType::kData, flags::kPadded, 1, payload);
  parse_frame_header(f, &h);
  EXPECT_EQ(frame_payload_fragment(h, payload, &frag), ParseState::kInvalid);
  uint32_t promised = 0;
  payload = u32(6) + "hb";
  f = frame(FrameType::kPushPromise, flags::kEndHeaders, 1, payload);
  parse_frame_header(f, &h);
  ASSERT_EQ(frame_payload_fragment(h, payload, &frag, &promised), ParseState::kSuccess);
  EXPECT_EQ(promised, 6u);
  EXPECT_EQ(frag, "hb");
  std::vector<std::pair<uint16_t, uint32_t>> params;
  ASSERT_EQ(parse_settings(settings_frame({{4, 65535}, {5, 32768}}).substr(9), &params), ParseState::kSuccess);
  EXPECT_EQ(params, (std::vector<std::pair<uint16_t, uint32_t>>{{4, 65535}, {5, 32768}}));
  uint32_t last = 0, code = 0;
  ASSERT_EQ(parse_goaway(u32(0x80000007) + u32(2) + "debug", &last, &code), ParseState::kSuccess);
  EXPECT_EQ(last, 7u);
  EXPECT_EQ(code, 2u);
}

TEST(Http2Parse, ReaderSplitsAtEveryOffsetWithSeqAndTimes) {
  const std::string bytes = std::string(kClientPreface) + settings_frame({{2, 0}}) +
                            headers(1, "\x82\x86\x84", true) +
                            frame(FrameType::kWindowUpdate, 0, 0, u32(1000)) + data(3, "hello", true);
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    Recorder rec;
    StitcherStats stats;
    FrameReader reader(Direction::kEgress, rec, stats, Limits{});
    DataChunk a{Direction::kEgress, 100, 110, 1, 5000, cut, std::string_view(bytes).substr(0, cut)};
    DataChunk b{Direction::kEgress,
                200,
                210,
                2,
                static_cast<uint32_t>(5000 + cut),
                bytes.size() - cut,
                std::string_view(bytes).substr(cut)};
    if (cut > 0) reader.feed(a);
    if (cut < bytes.size()) reader.feed(b);
    EXPECT_EQ(rec.prefaces, 1) << cut;
    ASSERT_EQ(rec.frames.size(), 4u) << cut;
    EXPECT_EQ(rec.lost, 0);
    const Frame& h = rec.frames[1];
    EXPECT_EQ(h.header.frame_type(), FrameType::kHeaders);
    EXPECT_EQ(h.payload, "\x82\x86\x84");
    EXPECT_EQ(h.wire.seq, 5000u + kClientPreface.size() + 15);
    EXPECT_EQ(h.wire.bytes, 12u);
    const size_t h_start = kClientPreface.size() + 15;
    EXPECT_EQ(h.wire.start_ns, h_start < cut ? 100u : 200u) << cut;
    EXPECT_EQ(h.wire.end_ns, h_start + 12 <= cut ? 110u : 210u) << cut;
    EXPECT_EQ(rec.frames[3].header.frame_type(), FrameType::kData);
    EXPECT_EQ(stats.resyncs, 0u);
  }
}

TEST(Http2Parse, ReaderSkipsUncapturedPayloadAndResyncsInsideAChunk) {
  Recorder rec;
  StitcherStats stats;
  FrameReader reader(Direction::kIngress, rec, stats, Limits{});
  const std::string big = data(1, std::string(5000, 'x'), false);
  DataChunk c{Direction::kIngress, 1, 2, 1, 0, big.size(), std::string_view(big).substr(0, 100)};
  reader.feed(c);
  ASSERT_EQ(rec.frames.size(), 1u);
  EXPECT_TRUE(rec.frames[0].payload_complete);  // DATA keeps its first byte (the pad length) only
  EXPECT_EQ(rec.frames[0].wire.bytes, big.size());
  // Garbage, then two frames inside the same chunk: the reader finds them.
  const std::string junk = "\x01\x02garbage!";
  const std::string good = headers(1, "\x88", false) + data(1, "ok", true);
  const std::string bytes = junk + good;
  DataChunk g{Direction::kIngress, 3, 4, 1, 0, bytes.size(), bytes};
  reader.feed(g);
  EXPECT_EQ(stats.resyncs, 1u);
  EXPECT_EQ(rec.lost, 1);
  ASSERT_EQ(rec.frames.size(), 1u);  // lost at the junk: the rest of this chunk is skipped
  reader.feed(g);                    // in lost state, the scan finds the frame run after the junk
  ASSERT_EQ(rec.frames.size(), 3u);
  EXPECT_EQ(rec.frames[1].header.frame_type(), FrameType::kHeaders);
  EXPECT_EQ(stats.bytes_skipped, bytes.size() + junk.size());
}

}  // namespace
}  // namespace otelbpf::l7::http2
