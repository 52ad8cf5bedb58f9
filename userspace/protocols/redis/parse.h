#pragma once
// RESP bytes -> messages. The free functions look at the start of a buffer (inference, resynchronising)
// or parse one message of a complete buffer; StreamParser drives the same state machine over one direction
// of a connection, chunk by chunk, skipping bulk-string bytes that the capture did not keep by count and
// recovering when a type line falls into uncaptured bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/framer.h"
#include "protocols/common/record.h"
#include "protocols/common/stream.h"
#include "protocols/redis/types.h"

namespace otelbpf::l7::redis {

// A command name Redis (or a module: NAME.SUB) knows, in any case.
bool is_known_command(std::string_view name);

// Does `buf` begin a command? "*N\r\n$L\r\n<known command>" (kNeedsMoreData while a proper prefix of
// that), or, when `allow_inline`, an inline command line: a known command followed by a space or CRLF.
ParseState parse_request_start(std::string_view buf, bool allow_inline);
// Does `buf` begin a reply: a RESP type byte and a well-formed first line?
ParseState parse_reply_start(std::string_view buf);

// One message at the start of a complete buffer (no capture gaps). `request`: inline commands allowed.
// On kSuccess, *consumed is the message's length.
ParseState parse_message(std::string_view buf, bool request, Message* msg, size_t* consumed,
                         const Limits& limits = {});

// One direction of one connection.
class StreamParser : public FramerLoop<StreamParser> {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // A whole message (or one whose framing was lost: see Message::framing_lost).
    virtual void on_message(Direction dir, Message&& msg) = 0;
  };

  StreamParser(Direction dir, Listener& listener, StitcherStats& stats, const Limits& limits);

  // Requests may be inline commands; a request whose framing is lost ends with its syscall, a reply's
  // stays open until end_lost_message (the client moved on) or finish.
  void set_request_side(bool request) { request_side_ = request; }
  bool request_side() const { return request_side_; }

  // The connection closed: a message still open is delivered as truncated.
  void finish();
  // The peer sent its next request: a reply whose framing was lost ends here.
  void end_lost_message();
  bool lost() const { return state_ == State::kLost; }

 private:
  friend class FramerLoop<StreamParser>;
  enum class State : uint8_t {
    kIdle,        // at a message boundary
    kLine,        // reading a type line (or an inline command)
    kBulk,        // skipping through a bulk string's body and CRLF by count
    kAwaitStart,  // framing lost: the next chunk must start a message
    kLost,        // framing lost inside a reply: absorbing chunks until the next request
  };
  struct Frame {
    uint64_t remaining = 0;  // elements still to come
    bool attribute = false;  // RESP3 attribute: metadata that precedes the value it annotates
  };

  // The chunk loop's hooks (protocols/common/framer.h).
  FramerMode mode() const;
  Start try_start(const DataChunk& chunk, std::string_view captured, uint64_t total);
  bool absorb(const DataChunk& chunk, std::string_view captured, uint64_t total);
  size_t step(std::string_view data, size_t offset);
  uint64_t skip_uncaptured(uint64_t n);
  void lost_in_gap(uint64_t pos, uint64_t rest) { lose_sync(pos, rest, false); }
  // lose_sync already took the rest of the chunk (into the lost reply, or counted it as skipped).
  void left_unparsed(uint64_t /*rest*/) {}
  size_t step_line(std::string_view data);
  size_t step_bulk(std::string_view data);
  bool process_line();
  bool process_inline(std::string_view line);
  void value_done();
  void deliver();
  void begin_message(size_t offset);
  bool top_value() const { return stack_.empty(); }
  bool top_element() const { return stack_.size() == 1 && !stack_[0].attribute; }
  // Framing is lost at `offset` of the current chunk with `rest` wire bytes (captured or not) after it.
  void lose_sync(size_t offset, uint64_t rest, bool parse_error);
  bool starts_message(std::string_view captured) const;

  Direction dir_;
  Listener& listener_;
  Limits limits_;
  bool request_side_ = false;
  State state_ = State::kIdle;
  bool in_message_ = false;
  Message cur_;
  std::string line_;
  std::vector<Frame> stack_;
  uint64_t bulk_len_ = 0;
  uint64_t bulk_pos_ = 0;  // bytes of the bulk body + CRLF consumed
  // Where kept bulk bytes go: kNoTarget, kTextTarget (the reply's text) or an index into cur_.args.
  static constexpr int kNoTarget = -2;
  static constexpr int kTextTarget = -1;
  int bulk_target_ = kNoTarget;
  bool element_kept_ = false;  // the element being read was stored in cur_.args
};

}  // namespace otelbpf::l7::redis
