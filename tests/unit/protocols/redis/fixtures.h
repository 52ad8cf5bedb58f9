#pragma once
// Drives a Redis stitcher the way the tracer does: one DataChunk per syscall, both directions on one
// clock, TCP sequence numbers advancing by total bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/redis/stitcher.h"

namespace otelbpf::l7::redis::testing {

constexpr uint32_t kEgressSeq0 = 5000;
constexpr uint32_t kIngressSeq0 = 700000;

struct Conversation {
  explicit Conversation(const Limits& limits = {}) : stitcher(limits) {}

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

  Stitcher stitcher;
  std::vector<L7Record> records;
  DataChunk last;
  uint64_t clock = 1'000'000;
  uint32_t egress_seq = kEgressSeq0;
  uint32_t ingress_seq = kIngressSeq0;
};

// RESP encoding of a command.
inline std::string Command(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

inline std::string str_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v)
                                                                 : std::string("<none>");
}

inline int64_t int_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : -1;
}

inline bool has_attr(const L7Record& r, std::string_view key) { return find_attribute(r, key) != nullptr; }

}  // namespace otelbpf::l7::redis::testing
