#pragma once
// DNS messages (RFC 1035 §4) as far as a span needs them: the header and the question section. Answers
// are counted (ANCOUNT), not decoded.
#include <cstdint>
#include <string>
#include <vector>

#include "protocols/common/stream.h"

namespace otelbpf::l7::dns {

constexpr size_t kHeaderSize = 12;
constexpr uint16_t kDnsPort = 53;

struct Header {
  uint16_t id = 0;
  bool response = false;  // QR
  uint8_t opcode = 0;
  bool authoritative = false;  // AA
  bool truncated = false;      // TC: the answer did not fit (UDP) and should be retried over TCP
  bool recursion_desired = false;
  bool recursion_available = false;
  bool z = false;  // reserved, zero in every sane message
  uint8_t rcode = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;
};

struct Question {
  std::string name;  // presentation form without the trailing dot ("" for the root)
  uint16_t type = 0;
  uint16_t klass = 0;
};

// How the connection carries messages: one datagram each, or a 2-byte length prefix on a stream
// (RFC 1035 §4.2.2, RFC 7766).
enum class Transport : uint8_t { kUnknown, kUdp, kTcp };

struct Message {
  Header header;
  std::vector<Question> questions;  // at most Limits::max_questions
  // The capture (or the message itself) ended inside the questions: they are as far as parsed.
  bool capture_truncated = false;
  WireExtent wire;
};

struct Limits {
  size_t max_questions = 4;
  size_t max_pending_queries = 256;      // per connection (per peer for UDP); the oldest is evicted beyond
  size_t max_kept_message_bytes = 1024;  // TCP: bytes of one message kept for parsing (header, questions)
  // A query left unanswered this long (chunk clock) is given up: emitted as response_missing. Resolvers
  // retry after a few seconds; an answer later than this is counted as unmatched.
  uint64_t query_timeout_ns = 10'000'000'000ull;
};

}  // namespace otelbpf::l7::dns
