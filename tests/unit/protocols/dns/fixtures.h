#pragma once
// Real DNS bytes, recorded between dig 9.18 (Debian bookworm) and dnsmasq 2.90 (--address=/example.test/
// 10.1.2.3 --address=/nx.test/, no upstream), and a driver that feeds a DNS stitcher the way the tracer
// does: one DataChunk per syscall, both directions on one clock.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/dns/stitcher.h"

namespace otelbpf::l7::dns::testing {

inline std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    out.push_back(static_cast<char>(v(hex[i]) << 4 | v(hex[i + 1])));
  }
  return out;
}

// UDP: dig example.test A (EDNS cookie) -> NOERROR, 1 answer (owner name compressed: c00c).
inline const std::string kUdpQueryA = unhex(
    "714a01200001000000000001076578616d706c650474657374000001000100002904d000000000000c000a00080a5afaf008b48a"
    "00");
inline const std::string kUdpResponseA = unhex(
    "714a85800001000100000001076578616d706c6504746573740000010001c00c000100010000000000040a01020300002904d000"
    "0000"
    "000000");
// UDP: dig nx.test A -> NXDOMAIN.
inline const std::string kUdpQueryNx =
    unhex("4c8901200001000000000001026e780474657374000001000100002904d000000000000c000a0008950632987b752480");
inline const std::string kUdpResponseNx =
    unhex("4c8981830001000000000001026e780474657374000001000100002904d0000000000000");
// UDP: dig other.test AAAA -> REFUSED (no upstream; extended DNS error 14 in the OPT record).
inline const std::string kUdpQueryRefused = unhex(
    "664701200001000000000001056f74686572047465737400001c000100002904d000000000000c000a0008795e3aa781408931");
inline const std::string kUdpResponseRefused =
    unhex("664781850001000000000001056f74686572047465737400001c000100002904d0000000000006000f0002000e");
// TCP (dig +tcp): example.test AAAA -> REFUSED, with the 2-byte length prefix.
inline const std::string kTcpQueryAaaa = unhex(
    "0035860e01200001000000000001076578616d706c65047465737400001c000100002904d000000000000c000a00081cc6301ef1"
    "d39990");
inline const std::string kTcpResponseAaaa = unhex(
    "002f860e81850001000000000001076578616d706c65047465737400001c000100002904d0000000000006000f0002000e");
// TCP (dig +tcp +keepopen, two queries on one connection): example.test A, www.example.test A.
inline const std::string kTcpQuery1 = unhex(
    "003578a101200001000000000001076578616d706c650474657374000001000100002904d000000000000c000a00083c93c02c6d"
    "3557c1");
inline const std::string kTcpResponse1 = unhex(
    "003978a185800001000100000001076578616d706c6504746573740000010001c00c000100010000000000040a01020300002904"
    "d000"
    "0000000000");
inline const std::string kTcpQuery2 = unhex(
    "0039a95f0120000100000000000103777777076578616d706c650474657374000001000100002904d000000000000c000a00083c"
    "93c0"
    "2c6d3557c1");
inline const std::string kTcpResponse2 = unhex(
    "003da95f8580000100010000000103777777076578616d706c6504746573740000010001c00c000100010000000000040a010203"
    "0000"
    "2904d0000000000000");

constexpr uint32_t kEgressSeq0 = 1000;
constexpr uint32_t kIngressSeq0 = 900000;

struct Conversation {
  explicit Conversation(bool tcp, const Limits& limits = {}) : stitcher(limits), tcp(tcp) {}

  // One syscall moving `total` bytes (default: all of `bytes`) of which `bytes` were captured.
  const DataChunk& send(Direction d, std::string_view bytes, uint64_t total = 0) {
    DataChunk& c = last;
    c.direction = d;
    c.ts_enter_ns = clock;
    c.ts_exit_ns = clock + 10;
    clock += 100;
    c.tid = d == Direction::kEgress ? 11 : 22;
    uint32_t& seq = d == Direction::kEgress ? egress_seq : ingress_seq;
    c.tcp_seq = tcp ? seq : 0;
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
  bool tcp;
  std::vector<L7Record> records;
  DataChunk last;
  uint64_t clock = 1'000'000;
  uint32_t egress_seq = kEgressSeq0;
  uint32_t ingress_seq = kIngressSeq0;
};

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

}  // namespace otelbpf::l7::dns::testing
