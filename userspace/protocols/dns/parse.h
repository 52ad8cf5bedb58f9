#pragma once
// DNS bytes -> messages. The free functions parse one unit of a buffer that starts at a message's header
// (compression pointers are offsets from there) and say whether it is complete (ParseState). TcpFramer
// cuts one direction of a TCP connection into messages by their 2-byte length prefix, counting what the
// capture did not keep; over UDP every chunk is one datagram, so one message.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/framer.h"
#include "protocols/common/record.h"
#include "protocols/common/stream.h"
#include "protocols/dns/types.h"

namespace otelbpf::l7::dns {

ParseState parse_header(std::string_view msg, Header* h);

// A (possibly compressed) domain name at *offset; on success *offset is just past it (past the first
// pointer, if any). Pointers must point backwards and at most kMaxPointerJumps are followed, so a loop
// of pointers ends as kInvalid. kNeedsMoreData when the name runs past the end of `msg`.
constexpr int kMaxPointerJumps = 32;
ParseState parse_name(std::string_view msg, size_t* offset, std::string* name);

ParseState parse_question(std::string_view msg, size_t* offset, Question* q);

// Passes over one resource record (owner name, type, class, TTL, RDLENGTH, RDATA).
ParseState skip_resource_record(std::string_view msg, size_t* offset);

// Header and the first max_questions questions. kNeedsMoreData (with capture_truncated set and the
// questions parsed so far kept) when `msg` ends inside them; kInvalid for a malformed header or name.
ParseState parse_message(std::string_view msg, Message* m, size_t max_questions = Limits{}.max_questions);

// Every section parses and the last record ends exactly at msg.size(): the strong signature that lets a
// message on a port other than 53 be taken for DNS.
bool parses_exactly(std::string_view msg);

// Header sanity. Loose: what a real message of any opcode may carry (resynchronising a known
// connection). Strict: a standard query (opcode 0) or its response as resolvers send them (inference).
bool sane_header(const Header& h, bool strict);

// Mnemonics: "A", "AAAA", ... ("TYPE65280" for unknown ones, RFC 3597); "NOERROR", "NXDOMAIN", ...;
// "QUERY", "NOTIFY", ...; "IN", "CH", ... ("CLASS7").
std::string type_name(uint16_t type);
std::string rcode_name(uint8_t rcode);
std::string opcode_name(uint8_t opcode);
std::string class_name(uint16_t klass);

// Which transport a connection's first chunk came over (UDP chunks are whole datagrams starting with a
// header; TCP chunks start with a length prefix). kUnknown when the chunk is neither.
Transport detect_transport(const DataChunk& chunk);

// One direction of a TCP connection: [length:2][message] repeated (RFC 1035 §4.2.2).
class TcpFramer : public FramerLoop<TcpFramer> {
 public:
  TcpFramer(StitcherStats& stats, const Limits& limits);

  void feed(const DataChunk& chunk, std::vector<Message>& out);
  // The connection closed: a message cut by the close is emitted as far as it was seen.
  void finish(std::vector<Message>& out);

 private:
  friend class FramerLoop<TcpFramer>;
  enum class State : uint8_t {
    kAwaitStart,  // before the first message, or after framing was lost: wait for a chunk that starts one
    kLength,      // reading the 2-byte length prefix
    kBody,        // reading the message (kept up to max_kept_message_bytes, the rest counted)
  };

  // The chunk loop's hooks (protocols/common/framer.h).
  FramerMode mode() const {
    return state_ == State::kAwaitStart ? FramerMode::kAwaitStart : FramerMode::kParse;
  }
  Start try_start(const DataChunk& chunk, std::string_view captured, uint64_t total);
  size_t step(std::string_view rest, uint64_t pos);
  uint64_t skip_uncaptured(uint64_t n);
  // The next length prefix was not captured: the following boundaries are unknown.
  void lost_in_gap(uint64_t /*pos*/, uint64_t rest) { lose_sync(rest); }

  // try_start_held's hooks: a length prefix alone, or one followed by a whole header, can be judged.
  static bool too_short_to_judge(size_t bytes) { return bytes < kHeaderSize + 2 && bytes != 2; }
  static bool starts_message(std::string_view captured);
  bool frame_unprefixed(const DataChunk& chunk, std::string_view captured, uint64_t total);
  void begin_at_start();
  void begin_message(const DataChunk& chunk, uint64_t pos);
  void complete_message();
  void lose_sync(uint64_t skipped);

  Limits limits_;
  std::vector<Message>* out_ = nullptr;  // where the feed being run puts whole messages
  State state_ = State::kAwaitStart;
  uint8_t length_bytes_ = 0;  // of the prefix seen so far
  uint16_t length_ = 0;
  uint64_t remaining_ = 0;
  bool body_gap_ = false;  // some of the message's bytes were not captured
  std::string body_;
  Message cur_;
  HeldChunk held_;  // kAwaitStart: a chunk too short to judge, until the next one says
};

}  // namespace otelbpf::l7::dns
