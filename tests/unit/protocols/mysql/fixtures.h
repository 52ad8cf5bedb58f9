#pragma once
// MySQL byte fixtures (packets built the way servers and clients lay them out) and a driver that feeds a
// stitcher the way the tracer does: one DataChunk per syscall, both directions on one clock, TCP sequence
// numbers advancing by total bytes.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/mysql/stitcher.h"

namespace otelbpf::l7::mysql::testing {

constexpr uint32_t kEgressSeq0 = 1000;
constexpr uint32_t kIngressSeq0 = 900000;

inline std::string le_bytes(uint64_t v, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

inline std::string lenenc(uint64_t v) {
  if (v < 251) return std::string(1, static_cast<char>(v));
  if (v < (1u << 16)) return "\xfc" + le_bytes(v, 2);
  if (v < (1u << 24)) return "\xfd" + le_bytes(v, 3);
  return "\xfe" + le_bytes(v, 8);
}

inline std::string lenenc_str(std::string_view s) { return lenenc(s.size()) + std::string(s); }

inline std::string packet(uint8_t seq, std::string_view payload) {
  return le_bytes(payload.size(), 3) + static_cast<char>(seq) + std::string(payload);
}

constexpr uint32_t kClientCaps = kClientProtocol41 | kClientSecureConnection | kClientPluginAuth |
                                 kClientPluginAuthLenencData | kClientConnectWithDb;

inline std::string greeting(uint32_t caps = 0xffffffff & ~(kClientSsl | kClientCompress)) {
  std::string p = "\x0a";
  p += std::string("5.5.5-10.11.6-MariaDB-0+deb12u1") + '\0';
  p += le_bytes(42, 4);             // connection id
  p += "abcdefgh";                  // auth plugin data part 1
  p += '\0';                        // filler
  p += le_bytes(caps & 0xffff, 2);  // capabilities low
  p += '\x2d';                      // charset
  p += le_bytes(2, 2);              // status
  p += le_bytes(caps >> 16, 2);     // capabilities high
  p += '\x15';                      // auth plugin data length
  p += std::string(10, '\0');       // reserved
  p += std::string("ijklmnopqrst") + '\0';
  p += std::string("mysql_native_password") + '\0';
  return packet(0, p);
}

inline std::string handshake_response(uint32_t caps, std::string_view db = "shop", uint8_t seq = 1) {
  std::string p = le_bytes(caps, 4) + le_bytes(16 << 20, 4) + '\x2d' + std::string(23, '\0');
  p += std::string("root") + '\0';
  p += lenenc_str(std::string(20, 'x'));
  if (caps & kClientConnectWithDb) p += std::string(db) + '\0';
  if (caps & kClientPluginAuth) p += std::string("mysql_native_password") + '\0';
  return packet(seq, p);
}

inline std::string ssl_request(uint32_t caps) {
  return packet(1, le_bytes(caps | kClientSsl, 4) + le_bytes(16 << 20, 4) + '\x2d' + std::string(23, '\0'));
}

inline std::string command(uint8_t cmd, std::string_view body = {}) {
  return packet(0, std::string(1, static_cast<char>(cmd)) + std::string(body));
}
inline std::string query(std::string_view sql) { return command(kComQuery, sql); }
inline std::string prepare(std::string_view sql) { return command(kComStmtPrepare, sql); }
inline std::string execute(uint32_t id, std::string_view params = "") {
  return command(kComStmtExecute, le_bytes(id, 4) + '\0' + le_bytes(1, 4) + std::string(params));
}
inline std::string stmt_close(uint32_t id) { return command(kComStmtClose, le_bytes(id, 4)); }
inline std::string ping() { return command(kComPing); }
inline std::string quit() { return command(kComQuit); }
inline std::string init_db(std::string_view db) { return command(kComInitDb, db); }

inline std::string ok_payload(uint64_t affected = 0, uint64_t last_id = 0,
                              uint16_t status = kStatusAutocommit, uint8_t header = 0x00) {
  return std::string(1, static_cast<char>(header)) + lenenc(affected) + lenenc(last_id) +
         le_bytes(status, 2) + le_bytes(0, 2);
}
inline std::string ok(uint8_t seq = 1, uint64_t affected = 0, uint64_t last_id = 0,
                      uint16_t status = kStatusAutocommit) {
  return packet(seq, ok_payload(affected, last_id, status));
}
inline std::string err(uint8_t seq, uint16_t code, std::string_view state, std::string_view msg) {
  return packet(seq, "\xff" + le_bytes(code, 2) + "#" + std::string(state) + std::string(msg));
}
inline std::string eof(uint8_t seq, uint16_t status = kStatusAutocommit) {
  return packet(seq, "\xfe" + le_bytes(0, 2) + le_bytes(status, 2));
}
inline std::string column_def(uint8_t seq, std::string_view name) {
  std::string p = lenenc_str("def") + lenenc_str("shop") + lenenc_str("t") + lenenc_str("t") +
                  lenenc_str(name) + lenenc_str(name) + '\x0c' + le_bytes(0x21, 2) + le_bytes(255, 4) +
                  '\xfd' + le_bytes(0, 2) + '\0' + le_bytes(0, 2);
  return packet(seq, p);
}
inline std::string text_row(uint8_t seq, std::initializer_list<std::string_view> values) {
  std::string p;
  for (auto v : values) p += lenenc_str(v);
  return packet(seq, p);
}

// A text result set answering a command with sequence id 0: column count, definitions, [EOF], rows,
// EOF (or the OK packet with header 0xFE that CLIENT_DEPRECATE_EOF puts in its place).
inline std::string result_set(size_t columns, size_t rows, bool deprecate_eof,
                              uint16_t final_status = kStatusAutocommit, uint8_t first_seq = 1) {
  uint8_t seq = first_seq;
  std::string s = packet(seq++, lenenc(columns));
  for (size_t c = 0; c < columns; ++c) s += column_def(seq++, "c" + std::to_string(c));
  if (!deprecate_eof) s += eof(seq++);
  for (size_t r = 0; r < rows; ++r) {
    std::string p;
    for (size_t c = 0; c < columns; ++c) p += lenenc_str(std::to_string(r * 10 + c));
    s += packet(seq++, p);
  }
  s += deprecate_eof ? packet(seq++, ok_payload(0, 0, final_status, 0xFE)) : eof(seq++, final_status);
  return s;
}

// COM_STMT_PREPARE's answer: PREPARE_OK, parameter definitions, column definitions, each block followed
// by an EOF unless CLIENT_DEPRECATE_EOF.
inline std::string prepare_ok(uint32_t id, uint16_t columns, uint16_t params, bool deprecate_eof) {
  uint8_t seq = 1;
  std::string s = packet(
      seq++, '\0' + le_bytes(id, 4) + le_bytes(columns, 2) + le_bytes(params, 2) + '\0' + le_bytes(0, 2));
  for (uint16_t i = 0; i < params; ++i) s += column_def(seq++, "?");
  if (params > 0 && !deprecate_eof) s += eof(seq++);
  for (uint16_t i = 0; i < columns; ++i) s += column_def(seq++, "c" + std::to_string(i));
  if (columns > 0 && !deprecate_eof) s += eof(seq++);
  return s;
}

// Binary-protocol result set (COM_STMT_EXECUTE): rows start with a 0x00 header and a NULL bitmap.
inline std::string binary_result_set(size_t rows, bool deprecate_eof) {
  uint8_t seq = 1;
  std::string s = packet(seq++, lenenc(1)) + column_def(seq++, "id");
  if (!deprecate_eof) s += eof(seq++);
  for (size_t r = 0; r < rows; ++r) s += packet(seq++, std::string("\0\0", 2) + le_bytes(r, 4));
  s += deprecate_eof ? packet(seq++, ok_payload(0, 0, kStatusAutocommit, 0xFE)) : eof(seq++);
  return s;
}

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

  // The client's side of a connection's start (the process wrote the commands).
  void client_handshake(uint32_t caps = kClientCaps, std::string_view db = "shop") {
    in(greeting());
    out(handshake_response(caps, db));
    in(ok(2));
  }

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

}  // namespace otelbpf::l7::mysql::testing
