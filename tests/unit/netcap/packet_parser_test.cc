// The userspace twin of the tc program's parser over the scapy fixtures: every tunnel kind, VLANs,
// IPv6, control segments, and truncated or garbage frames (counted as unparsable, never a crash).
#include <gtest/gtest.h>

#include <random>

#include "netcap/packet_parser.h"
#include "pcap_fixtures.h"

namespace otelbpf::netcap {
namespace {

using testing::compare_event;
using testing::fixture_path;
using testing::read_lines;
using testing::read_pcap;

TEST(PacketParser, EveryFixtureCaseMatchesItsExpectation) {
  const auto frames = read_pcap(fixture_path("packets.pcap"));
  const auto lines = read_lines(fixture_path("packets.txt"));
  ASSERT_EQ(frames.size(), lines.size());
  ASSERT_GE(frames.size(), 30u);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE(lines[i].name);
    FrameContext ctx;
    ctx.ifindex = 7;
    ctx.direction = OTELBPF_TC_EGRESS;
    ParsedPacket parsed;
    const auto outcome = parse_frame(frames[i], ctx, parsed);
    EXPECT_STREQ(to_string(outcome), lines[i].word.c_str());
    if (outcome != ParseOutcome::kEmit) continue;
    EXPECT_EQ(compare_event(parsed.event, lines[i]), "");
    EXPECT_EQ(parsed.event.ifindex, 7u);
    EXPECT_EQ(parsed.event.direction, OTELBPF_TC_EGRESS);
    EXPECT_EQ(parsed.payload.size(), parsed.event.captured_len);
    const std::string payload(reinterpret_cast<const char*>(parsed.payload.data()), parsed.payload.size());
    if (parsed.event.protocol == 17)  // every DNS case carries query id 0x1234 first
      EXPECT_EQ(payload.substr(0, 2), "\x12\x34");
    else if (payload.size() >= 3 && lines[i].name != "big_payload" && lines[i].name != "small_payload_padded")
      EXPECT_EQ(payload.substr(0, 3), "GET");
  }
}

TEST(PacketParser, CaptureSizeBoundsTheCopiedBytes) {
  const auto frames = read_pcap(fixture_path("packets.pcap"));
  const auto lines = read_lines(fixture_path("packets.txt"));
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (lines[i].name != "big_payload") continue;
    for (std::uint32_t cap : {0u, 1u, 64u, 1024u, 4096u}) {
      FrameContext ctx;
      ctx.payload_capture_bytes = cap;
      ParsedPacket parsed;
      ASSERT_EQ(parse_frame(frames[i], ctx, parsed), ParseOutcome::kEmit);
      EXPECT_EQ(parsed.event.payload_len, 1400u);
      EXPECT_EQ(parsed.event.captured_len, std::min<std::uint32_t>({cap, 1400u, OTELBPF_PKT_MAX_PAYLOAD}));
    }
  }
}

// Every prefix of every fixture: a cut frame is either still a well-formed shorter packet or refused,
// and nothing is ever read or reported beyond the bytes there are.
TEST(PacketParser, EveryTruncationIsHandled) {
  std::size_t unparsable = 0;
  for (const auto& frame : read_pcap(fixture_path("packets.pcap"))) {
    for (std::size_t n = 0; n < frame.size(); ++n) {
      std::vector<std::uint8_t> cut(frame.begin(), frame.begin() + static_cast<long>(n));
      ParsedPacket parsed;
      const auto outcome = parse_frame(cut, FrameContext{}, parsed);
      if (outcome == ParseOutcome::kUnparsable) ++unparsable;
      if (outcome == ParseOutcome::kEmit) {
        EXPECT_LE(parsed.event.captured_len, parsed.event.payload_len);
        EXPECT_LE(parsed.payload.data() + parsed.payload.size(), cut.data() + cut.size());
      }
    }
  }
  EXPECT_GT(unparsable, 100u);
}

TEST(PacketParser, RandomGarbageNeverCrashes) {
  std::mt19937 rng(42);
  std::size_t outcomes[4] = {};
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> frame(rng() % 200);
    for (auto& b : frame) b = static_cast<std::uint8_t>(rng());
    // Bias towards IP EtherTypes so the deeper parsers get exercised too.
    if (frame.size() > 14 && (i & 1)) {
      frame[12] = (i & 2) ? 0x08 : 0x86;
      frame[13] = (i & 2) ? 0x00 : 0xDD;
      frame[14] = (i & 2) ? 0x45 : 0x60;
    }
    ParsedPacket parsed;
    const auto outcome = parse_frame(frame, FrameContext{}, parsed);
    ++outcomes[static_cast<int>(outcome)];
    if (outcome == ParseOutcome::kEmit) EXPECT_LE(parsed.event.captured_len, frame.size());
  }
  EXPECT_GT(outcomes[static_cast<int>(ParseOutcome::kUnparsable)], 1000u);
}

TEST(PacketParser, L3DevicesStartAtTheIpHeader) {
  const auto frames = read_pcap(fixture_path("packets.pcap"));
  const auto lines = read_lines(fixture_path("packets.txt"));
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (lines[i].name != "plain_ipv4" && lines[i].name != "plain_ipv6") continue;
    std::vector<std::uint8_t> l3(frames[i].begin() + 14, frames[i].end());
    FrameContext ctx;
    ctx.l3 = true;
    ctx.l3_protocol = lines[i].name == "plain_ipv4" ? 0x0800 : 0x86DD;
    ParsedPacket parsed;
    ASSERT_EQ(parse_frame(l3, ctx, parsed), ParseOutcome::kEmit);
    EXPECT_EQ(compare_event(parsed.event, lines[i]), "");
  }
}

}  // namespace
}  // namespace otelbpf::netcap
