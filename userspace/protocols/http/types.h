#pragma once
// HTTP/1.x frames (one per message) and the bounds of the parser.
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocols/common/stream.h"
#include "protocols/common/trace_context.h"

namespace otelbpf::l7::http {

enum class MessageKind : uint8_t { kUnknown, kRequest, kResponse };

// How the end of a message body is found (RFC 9112 §6.3).
enum class BodyFraming : uint8_t {
  kNone,           // no body: GET without length, HEAD responses, 1xx, 204, 304
  kContentLength,  // skip content_length bytes, by count (they may not have been captured)
  kChunked,        // Transfer-Encoding: chunked
  kUntilClose,     // response without length: the body ends when the connection closes
  kTunnel,         // 101 Switching Protocols or CONNECT 2xx: what follows is not HTTP/1
};

// A message's scalars, apart so that Message::reset can set them back in one assignment while the strings
// and the header list keep their buffers. Every member of Message that is not a buffer belongs here.
struct MessageScalars {
  MessageKind kind = MessageKind::kUnknown;
  int minor_version = 1;  // HTTP/1.<minor>
  int status_code = 0;    // status line

  // Framing inputs, read from every field line (also those beyond max_headers).
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool has_transfer_encoding = false;
  bool chunked = false;  // the last transfer coding is chunked
  BodyFraming framing = BodyFraming::kNone;

  WireExtent wire;            // wire.bytes = header_bytes + body_bytes
  uint64_t header_bytes = 0;  // start line + fields + empty line
  uint64_t body_bytes = 0;    // everything after: chunk framing and trailers included, uncaptured too

  // The capture ended inside the header: only what came before the cut was parsed.
  bool header_truncated = false;
  // The body's framing was lost (header cut, or a chunk-size line not captured): the message was ended
  // at the next message start or at close, not by its own framing.
  bool framing_lost = false;
  bool complete = false;
};

struct Message : MessageScalars {
  // Request line.
  std::string method;
  std::string target;  // request-target as sent: origin-form, absolute-form, authority-form or "*"
  // Status line (status_code is with the scalars).
  std::string reason;

  HeaderList headers;  // at most Limits::max_headers, in wire order

  // First value of a header (case-insensitive name), or nullptr.
  const std::string* header(std::string_view name) const;

  // Back to a new message, keeping the room its strings and header list had: the parser reuses a message
  // the stitcher has let go of, so a keep-alive connection's messages cost no allocation for these. (A
  // buffer member added above must be cleared there too.)
  void reset();
};

// Bytes a message holds: the object and its strings' and header list's heap buffers.
size_t retained_bytes(const Message& m);

struct Limits {
  size_t max_header_bytes = 16 * 1024;  // per message, per direction; more is an error and a resync
  size_t max_headers = 128;             // further fields are not kept (framing still honours them)
  // Which fields are kept (nullptr: all). The stitcher keeps only those it reads: every other field would
  // cost two strings per message for nothing (framing still reads every field).
  bool (*keep_header)(std::string_view name) = nullptr;
  size_t max_chunk_line_bytes = 1024;   // chunk-size line with extensions
  size_t max_pending_requests = 64;     // requests awaiting a response; the oldest is evicted beyond
};

}  // namespace otelbpf::l7::http
