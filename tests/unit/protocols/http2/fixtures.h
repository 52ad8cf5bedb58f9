#pragma once
// Byte builders for HTTP/2 tests (frames, a small HPACK encoder) and a driver that feeds a stitcher the
// way the tracer does: one DataChunk per syscall, both directions on one clock, TCP sequence numbers
// advancing by total bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/http2/hpack.h"
#include "protocols/http2/stitcher.h"
#include "tests/unit/protocols/common/conversation.h"

namespace otelbpf::l7::http2::testing {

constexpr uint32_t kEgressSeq0 = 1000;
constexpr uint32_t kIngressSeq0 = 900000;

// "8286 8441" -> bytes (spaces and '|'-comments of RFC hex dumps ignored).
inline std::string unhex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

inline std::string frame(FrameType type, uint8_t flag_bits, uint32_t stream, std::string_view payload) {
  std::string f;
  const auto len = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(len >> 16));
  f.push_back(static_cast<char>(len >> 8));
  f.push_back(static_cast<char>(len));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flag_bits));
  f.push_back(static_cast<char>((stream >> 24) & 0x7f));
  f.push_back(static_cast<char>(stream >> 16));
  f.push_back(static_cast<char>(stream >> 8));
  f.push_back(static_cast<char>(stream));
  f.append(payload);
  return f;
}

inline std::string settings_frame(std::vector<std::pair<uint16_t, uint32_t>> params = {}, bool ack = false) {
  std::string p;
  for (const auto& [id, v] : params) {
    p.push_back(static_cast<char>(id >> 8));
    p.push_back(static_cast<char>(id));
    for (int s = 24; s >= 0; s -= 8) p.push_back(static_cast<char>(v >> s));
  }
  return frame(FrameType::kSettings, ack ? flags::kAck : 0, 0, p);
}

inline std::string u32(uint32_t v) {
  std::string s;
  for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>(v >> sh));
  return s;
}

// HPACK encoder pieces (RFC 7541 §5, §6).
inline std::string hpack_int(uint64_t v, int prefix_bits, uint8_t first_byte_flags) {
  std::string out;
  const uint64_t max = (1u << prefix_bits) - 1;
  if (v < max) {
    out.push_back(static_cast<char>(first_byte_flags | v));
    return out;
  }
  out.push_back(static_cast<char>(first_byte_flags | max));
  v -= max;
  while (v >= 128) {
    out.push_back(static_cast<char>((v % 128) | 0x80));
    v /= 128;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

inline std::string huffman_encode(std::string_view s) {
  std::string out;
  uint64_t acc = 0;
  int bits = 0;
  for (char c : s) {
    const HuffmanCode code = huffman_code(static_cast<uint8_t>(c));
    acc = (acc << code.bits) | code.code;
    bits += code.bits;
    while (bits >= 8) {
      out.push_back(static_cast<char>(acc >> (bits - 8)));
      bits -= 8;
    }
  }
  if (bits > 0) out.push_back(static_cast<char>((acc << (8 - bits)) | ((1u << (8 - bits)) - 1)));
  return out;
}

inline std::string hpack_str(std::string_view s, bool huffman = false) {
  if (huffman) {
    const std::string h = huffman_encode(s);
    return hpack_int(h.size(), 7, 0x80) + h;
  }
  return hpack_int(s.size(), 7, 0x00) + std::string(s);
}

inline std::string indexed(uint64_t index) { return hpack_int(index, 7, 0x80); }
// Literal with incremental indexing: name by index (name_index > 0) or literal name.
inline std::string lit_indexed(uint64_t name_index, std::string_view name, std::string_view value,
                               bool huffman = false) {
  std::string out = hpack_int(name_index, 6, 0x40);
  if (name_index == 0) out += hpack_str(name, huffman);
  return out + hpack_str(value, huffman);
}
inline std::string lit_plain(uint64_t name_index, std::string_view name, std::string_view value,
                             bool never_indexed = false, bool huffman = false) {
  std::string out = hpack_int(name_index, 4, never_indexed ? 0x10 : 0x00);
  if (name_index == 0) out += hpack_str(name, huffman);
  return out + hpack_str(value, huffman);
}
inline std::string size_update(uint64_t size) { return hpack_int(size, 5, 0x20); }

inline std::string headers(uint32_t stream, std::string_view block, bool end_stream = false,
                           bool end_headers = true) {
  return frame(
      FrameType::kHeaders,
      static_cast<uint8_t>((end_stream ? flags::kEndStream : 0) | (end_headers ? flags::kEndHeaders : 0)),
      stream, block);
}
inline std::string data(uint32_t stream, std::string_view payload, bool end_stream) {
  return frame(FrameType::kData, end_stream ? flags::kEndStream : 0, stream, payload);
}
inline std::string rst(uint32_t stream, uint32_t code) {
  return frame(FrameType::kRstStream, 0, stream, u32(code));
}

// A gRPC length-prefixed message (uncompressed).
inline std::string grpc_message(std::string_view body) {
  std::string m(1, '\0');
  m += u32(static_cast<uint32_t>(body.size()));
  return m + std::string(body);
}

using Conversation = l7::testing::BasicConversation<Stitcher, Limits, kEgressSeq0, kIngressSeq0>;

inline std::string str_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v)
                                                                 : std::string("<none>");
}
inline int64_t int_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : -1;
}
inline bool bool_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<bool>(*v) && std::get<bool>(*v);
}
inline bool has_attr(const L7Record& r, std::string_view key) { return find_attribute(r, key) != nullptr; }

}  // namespace otelbpf::l7::http2::testing
