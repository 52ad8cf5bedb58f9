#pragma once
// PostgreSQL wire protocol 3.0 messages and the bounds of the parser. Every message after start-up is a
// type byte and an int32 length (itself included); the start-up phase messages (StartupMessage,
// SSLRequest, GSSENCRequest, CancelRequest) have no type byte, and the server answers SSLRequest and
// GSSENCRequest with one bare byte.
#include <cstdint>
#include <string>

#include "protocols/common/stream.h"

namespace otelbpf::l7::postgres {

// Codes of the untyped start-up phase messages (the int32 after the length).
constexpr uint32_t kProtocolV3 = 0x00030000;  // StartupMessage, protocol 3.0 (minor versions follow)
constexpr uint32_t kSslRequestCode = 80877103;
constexpr uint32_t kGssEncRequestCode = 80877104;
constexpr uint32_t kCancelRequestCode = 80877102;

// Which end wrote the message: the client (frontend) or the server (backend).
enum class Side : uint8_t { kFrontend, kBackend };

struct Message {
  char type = 0;            // the type byte; 0 for an untyped start-up phase message
  uint32_t code = 0;        // untyped messages: the protocol version or request code
  bool ssl_answer = false;  // the server's one-byte answer ('S', 'N' or 'G') to SSLRequest/GSSENCRequest
  uint64_t length = 0;      // body bytes by the header (the length field excluded)
  std::string body;         // the body as captured, at most Limits::max_body_bytes
  WireExtent wire;
  // The capture cut the body: `body` holds only its start.
  bool truncated = false;
  // Framing was lost: not a message but the bytes passed over (see StreamParser).
  bool framing_lost = false;
};

struct Limits {
  size_t max_body_bytes = 8 * 1024;         // kept of a message body (queries are cut here)
  uint64_t max_message_bytes = 1ull << 30;  // PostgreSQL's own limit; more is a framing error
  size_t max_pending = 64;                  // requests awaiting ReadyForQuery; the oldest is evicted beyond
  size_t max_statements = 256;              // prepared statements and portals remembered per connection
  size_t max_tags = 16;                     // CommandComplete tags kept per request
};

}  // namespace otelbpf::l7::postgres
