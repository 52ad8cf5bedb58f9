#pragma once
// Real Kafka bytes (size prefix included), recorded once by tests/e2e/node/kafka_capture_fixtures.js:
// kafkajs 2.2.4 producing through tests/e2e/node/kafka_broker_double.js (responses encoded with kafkajs's
// protocol Encoder), plus a Fetch v4 and a Metadata v0 request from kafkajs's request encoders. The raw
// dump is kafkajs_exchange.hex beside this file. Also a driver that feeds a Kafka stitcher the way the
// tracer does: one DataChunk per syscall, both directions on one clock.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/kafka/stitcher.h"

namespace otelbpf::l7::kafka::testing {

inline std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    out.push_back(static_cast<char>(v(hex[i]) << 4 | v(hex[i + 1])));
  }
  return out;
}

// ApiVersions v2 request (correlation id 0, client id "otelbpf-e2e").
inline const std::string kApiVersionsRequest = unhex("000000150012000200000000000b6f74656c6270662d653265");
// its response: Produce 0-3, Fetch 0-4, Metadata 0-4, ApiVersions 0-2.
inline const std::string kApiVersionsResponse =
    unhex("000000260000000000000000000400000000000300010000000400030000000400120000000200000000");
// Metadata v4 request for [orders].
inline const std::string kMetadataRequest =
    unhex("000000220003000400000001000b6f74656c6270662d6532650000000100066f726465727300");
// its response: broker 1 at 127.0.0.1, topic orders with one partition.
inline const std::string kMetadataResponse = unhex(
    "000000680000000100000000000000010000000100093132372e302e302e310000b7f5ffff00146f74656c6270662d746573"
    "742d636c75737465720000000100000001000000066f72646572730000000001000000000000000000010000000100000001"
    "0000000100000001");
// Produce v3 request: acks=-1, orders partition 0, one record batch.
inline const std::string kProduceRequest = unhex(
    "000000860000000300000002000b6f74656c6270662d653265ffffffff000075300000000100066f72646572730000000100"
    "000000000000510000000000000000000000450000000002cd80e1cf000000000000000001a21316c613000001a21316c613"
    "ffffffffffffffff0000000000000000000126000000046b311668656c6c6f206b61666b6100");
// its response: no error, base offset 0.
inline const std::string kProduceResponse = unhex(
    "0000002e000000020000000100066f7264657273000000010000000000000000000000000000ffffffffffffffff00000000");
// Metadata v4 request for [orders, denied-topic].
inline const std::string kMetadataRequest2 = unhex(
    "000000300003000400000003000b6f74656c6270662d6532650000000200066f7264657273000c64656e6965642d746f7069"
    "6300");
// its response.
inline const std::string kMetadataResponse2 = unhex(
    "000000970000000300000000000000010000000100093132372e302e302e310000b7f5ffff00146f74656c6270662d746573"
    "742d636c75737465720000000100000002000000066f72646572730000000001000000000000000000010000000100000001"
    "00000001000000010000000c64656e6965642d746f7069630000000001000000000000000000010000000100000001000000"
    "0100000001");
// Produce v3 request to denied-topic.
inline const std::string kProduceDeniedRequest = unhex(
    "000000830000000300000004000b6f74656c6270662d653265ffffffff0000753000000001000c64656e6965642d746f7069"
    "6300000001000000000000004800000000000000000000003c000000000227d8b5e2000000000000000001a21316c6380000"
    "01a21316c638ffffffffffffffff000000000000000000011400000001086e6f706500");
// its response: error 29 TOPIC_AUTHORIZATION_FAILED.
inline const std::string kProduceDeniedResponse = unhex(
    "000000340000000400000001000c64656e6965642d746f7069630000000100000000001dffffffffffffffffffffffffffff"
    "ffff00000000");
// Fetch v4 request (kafkajs encoder, correlation id 7): orders and denied-topic, partition 0 each.
inline const std::string kFetchRequest = unhex(
    "000000680001000400000007000b6f74656c6270662d653265ffffffff000000640000000100a00000010000000200066f72"
    "646572730000000100000000000000000000000100100000000c64656e6965642d746f706963000000010000000000000000"
    "0000000000100000");
// its response: orders ok, denied-topic error 29.
inline const std::string kFetchResponse = unhex(
    "0000006600000007000000000000000200066f72646572730000000100000000000000000000000000010000000000000001"
    "ffffffff00000000000c64656e6965642d746f7069630000000100000000001d00000000000000010000000000000001ffff"
    "ffff00000000");
// Metadata v0 request (kafkajs encoder, correlation id 8) for [orders].
inline const std::string kMetadataV0Request =
    unhex("000000210003000000000008000b6f74656c6270662d6532650000000100066f7264657273");
// its response.
inline const std::string kMetadataV0Response = unhex(
    "0000004700000008000000010000000100093132372e302e302e310000b7f500000001000000066f72646572730000000100"
    "00000000000000000100000001000000010000000100000001");

constexpr uint32_t kEgressSeq0 = 5000;
constexpr uint32_t kIngressSeq0 = 700000;

struct Conversation {
  explicit Conversation(const Limits& limits = {}) : stitcher(limits) {}

  // One syscall moving `total` bytes (default: all of `bytes`) of which `bytes` were captured.
  const DataChunk& send(Direction d, std::string_view bytes, uint64_t total = 0) {
    DataChunk& c = last;
    c.direction = d;
    c.ts_enter_ns = clock;
    c.ts_exit_ns = clock + 10;
    clock += 100;
    c.tid = d == Direction::kEgress ? 11 : 22;
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

}  // namespace otelbpf::l7::kafka::testing
