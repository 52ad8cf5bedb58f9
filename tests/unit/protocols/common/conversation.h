#pragma once
// Drives a protocol stitcher the way the tracer does: one DataChunk per syscall, both directions on one
// clock, TCP sequence numbers advancing by total bytes. Shared by the protocols' fixtures.
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7::testing {

template <typename StitcherT, typename LimitsT, uint32_t kEgressSeq0, uint32_t kIngressSeq0>
struct BasicConversation {
  explicit BasicConversation(const LimitsT& limits = {}) : stitcher(limits) {}

  // One syscall moving `total` bytes (default: all of `bytes`) of which `bytes` were captured.
  const DataChunk& send(Direction d, std::string_view bytes, uint64_t total = 0, uint32_t tid = 0) {
    DataChunk& c = last;
    c.direction = d;
    c.ts_enter_ns = clock;
    c.ts_exit_ns = clock + 10;
    clock += 100;
    c.tid = tid != 0 ? tid : (d == Direction::kEgress ? 11 : 22);
    uint32_t& seq = d == Direction::kEgress ? egress_seq : ingress_seq;
    c.tcp_seq = seq;
    c.total_bytes = total != 0 ? total : bytes.size();
    c.captured = bytes;
    seq += static_cast<uint32_t>(c.total_bytes);
    stitcher.on_chunk(c, records);
    return c;
  }
  const DataChunk& out(std::string_view bytes, uint64_t total = 0) {
    return send(Direction::kEgress, bytes, total);
  }
  const DataChunk& in(std::string_view bytes, uint64_t total = 0) {
    return send(Direction::kIngress, bytes, total);
  }
  void close() { stitcher.on_close(clock, records); }

  const StitcherStats& stats() const { return stitcher.stats(); }

  StitcherT stitcher;
  std::vector<L7Record> records;
  DataChunk last;
  uint64_t clock = 1'000'000;
  uint32_t egress_seq = kEgressSeq0;
  uint32_t ingress_seq = kIngressSeq0;
};

}  // namespace otelbpf::l7::testing
