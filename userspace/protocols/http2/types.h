#pragma once
// HTTP/2 frames (RFC 9113 §4, §6), the per-stream exchange the stitcher assembles, and the bounds of the
// parser. gRPC is HTTP/2 with content-type application/grpc: same frames, extra attributes.
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/common/stream.h"
#include "protocols/common/trace_context.h"

namespace otelbpf::l7::http2 {

// What a client sends before anything else (RFC 9113 §3.4).
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr size_t kFrameHeaderSize = 9;
inline constexpr uint32_t kDefaultMaxFrameSize = 16384;  // SETTINGS_MAX_FRAME_SIZE initial value
inline constexpr uint32_t kMaxFrameSizeLimit = (1u << 24) - 1;

enum class FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};
const char* to_string(FrameType t);
inline constexpr uint8_t kMaxKnownFrameType = 0x9;

namespace flags {
inline constexpr uint8_t kEndStream = 0x01;   // DATA, HEADERS
inline constexpr uint8_t kAck = 0x01;         // SETTINGS, PING
inline constexpr uint8_t kEndHeaders = 0x04;  // HEADERS, PUSH_PROMISE, CONTINUATION
inline constexpr uint8_t kPadded = 0x08;      // DATA, HEADERS, PUSH_PROMISE
inline constexpr uint8_t kPriority = 0x20;    // HEADERS
}  // namespace flags

namespace settings {
inline constexpr uint16_t kHeaderTableSize = 0x1;
inline constexpr uint16_t kEnablePush = 0x2;
inline constexpr uint16_t kMaxConcurrentStreams = 0x3;
inline constexpr uint16_t kInitialWindowSize = 0x4;
inline constexpr uint16_t kMaxFrameSize = 0x5;
inline constexpr uint16_t kMaxHeaderListSize = 0x6;
}  // namespace settings

struct FrameHeader {
  uint32_t length = 0;  // payload length (24 bits)
  uint8_t type = 0;     // a FrameType, or an extension type
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // reserved bit cleared
  bool reserved_bit = false;

  FrameType frame_type() const { return static_cast<FrameType>(type); }
  bool has(uint8_t f) const { return (flags & f) != 0; }
};

// RST_STREAM / GOAWAY error codes (RFC 9113 §7) by name, "UNKNOWN_ERROR_<n>" otherwise.
std::string error_code_name(uint32_t code);

// A header block (HEADERS or PUSH_PROMISE plus CONTINUATIONs) as decoded.
struct HeaderBlock {
  HeaderList fields;  // in wire order, bounded by Limits::max_header_list_bytes / max_headers
  // The block referenced dynamic-table entries this parser does not know (capture started mid-connection,
  // or an earlier block was lost), or part of the block was not captured: fields may be missing.
  bool incomplete = false;
  bool decode_error = false;  // HPACK said COMPRESSION_ERROR (the table is now unknown)
  // Some fields came from dynamic-table entries inserted before a capture gap: right unless the gap
  // held a header block (see HpackDecoder::mark_tentative).
  bool tentative = false;

  // First value of a field (case-insensitive name), or nullptr.
  const std::string* find(std::string_view name) const;
};

struct Limits {
  size_t max_streams = 256;                    // open streams tracked per connection; the oldest is evicted
  size_t max_header_block_bytes = 64 * 1024;   // HEADERS + CONTINUATION fragments buffered per block
  size_t max_header_list_bytes = 16 * 1024;    // decoded name+value bytes kept per block
  size_t max_headers = 128;                    // fields kept per block (HPACK still processes the rest)
  size_t max_dynamic_table_bytes = 64 * 1024;  // cap on the HPACK table size an encoder may announce
  uint32_t resync_max_frame_size = kDefaultMaxFrameSize;  // what a frame header may claim while resyncing
};

}  // namespace otelbpf::l7::http2
