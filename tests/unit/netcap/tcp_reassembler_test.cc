#include "netcap/tcp_reassembler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace otelbpf::netcap {
namespace {

struct Collected {
  std::vector<std::uint32_t> seqs;
  std::string bytes;
  TcpReassembler::Deliver sink() {
    return [this](const TcpReassembler::Segment& s) {
      seqs.push_back(s.seq);
      bytes.append(s.captured);
    };
  }
};

TcpReassembler::Segment seg(std::uint32_t seq, std::string_view bytes) {
  return {seq, static_cast<std::uint32_t>(bytes.size()), 0, bytes};
}

TEST(TcpReassembler, InOrderPassesThrough) {
  TcpReassembler r;
  Collected c;
  r.on_syn(99);
  r.add(seg(100, "abc"), c.sink());
  r.add(seg(103, "def"), c.sink());
  EXPECT_EQ(c.bytes, "abcdef");
  EXPECT_EQ(r.retransmissions(), 0u);
}

TEST(TcpReassembler, DuplicatesAreCountedAndDropped) {
  TcpReassembler r;
  Collected c;
  r.add(seg(100, "abc"), c.sink());
  r.add(seg(100, "abc"), c.sink());
  r.add(seg(101, "bcdef"), c.sink());  // overlaps: only "def" is new
  EXPECT_EQ(c.bytes, "abcdef");
  EXPECT_EQ(c.seqs, (std::vector<std::uint32_t>{100, 103}));
  EXPECT_EQ(r.retransmissions(), 2u);
}

TEST(TcpReassembler, EarlySegmentsWaitForTheHole) {
  TcpReassembler r;
  Collected c;
  r.on_syn(99);
  r.add(seg(106, "ghi"), c.sink());
  r.add(seg(103, "def"), c.sink());
  EXPECT_EQ(c.bytes, "");
  EXPECT_EQ(r.buffered(), 2u);
  r.add(seg(100, "abc"), c.sink());
  EXPECT_EQ(c.bytes, "abcdefghi");
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(TcpReassembler, AHoleThatNeverFillsIsSkippedAtTheBound) {
  TcpReassembler r(2);
  Collected c;
  r.on_syn(99);
  r.add(seg(100, "a"), c.sink());
  r.add(seg(110, "k"), c.sink());
  r.add(seg(111, "l"), c.sink());
  EXPECT_EQ(c.bytes, "a");
  r.add(seg(112, "m"), c.sink());  // third held segment: over the bound
  EXPECT_EQ(c.bytes, "aklm");
  EXPECT_EQ(r.gaps(), 1u);
  r.add(seg(113, "n"), c.sink());
  EXPECT_EQ(c.bytes, "aklmn");
}

TEST(TcpReassembler, SequenceNumbersWrap) {
  TcpReassembler r;
  Collected c;
  r.on_syn(0xfffffffe);
  r.add(seg(0xffffffff, "ab"), c.sink());
  r.add(seg(1, "cd"), c.sink());
  r.add(seg(0xffffffff, "ab"), c.sink());
  EXPECT_EQ(c.bytes, "abcd");
  EXPECT_EQ(r.retransmissions(), 1u);
}

TEST(TcpReassembler, UncapturedBytesStillAdvanceTheStream) {
  TcpReassembler r;
  Collected c;
  r.add({100, 1000, 0, "abc"}, c.sink());  // 1000 bytes on the wire, 3 captured
  r.add({1100, 3, 0, "xyz"}, c.sink());
  EXPECT_EQ(c.seqs, (std::vector<std::uint32_t>{100, 1100}));
  r.add({600, 700, 0, "abc"}, c.sink());  // overlapping retransmission with its capture cut off
  EXPECT_EQ(r.retransmissions(), 1u);
}

}  // namespace
}  // namespace otelbpf::netcap
