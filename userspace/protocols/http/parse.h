#pragma once
// HTTP/1.x bytes -> messages. The free functions parse one unit of a complete buffer and say whether it
// is complete (ParseState); StreamParser drives them over one direction of a connection, chunk by chunk,
// counting body bytes that the capture did not keep and recovering when framing is lost.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "protocols/common/framer.h"
#include "protocols/common/record.h"
#include "protocols/common/stream.h"
#include "protocols/http/types.h"

namespace otelbpf::l7::http {

// Does `buf` (captured bytes that should start a message) begin a request line with a known method or
// an "HTTP/1.x NNN" status line? kNeedsMoreData when buf is a proper prefix of one.
ParseState parse_message_start(std::string_view buf, MessageKind* kind);

// Offset just past the empty line that ends the header block (CRLF or bare LF), or npos. Searching starts
// at `from` (bytes before it were searched already; pass the old size minus 3 when appending).
size_t find_header_end(std::string_view buf, size_t from = 0);

// Parses a complete header block (start line through the empty line) of the given kind into msg: start
// line, fields (at most max_headers kept), Content-Length and Transfer-Encoding.
ParseState parse_header_block(std::string_view block, MessageKind kind, Message* msg,
                              size_t max_headers = Limits{}.max_headers,
                              bool (*keep_header)(std::string_view) = nullptr);

// Best effort on a header block cut short by the capture: the start line (or as much of it as is there)
// and the complete field lines before the cut.
void parse_truncated_header(std::string_view partial, MessageKind kind, Message* msg,
                            size_t max_headers = Limits{}.max_headers,
                            bool (*keep_header)(std::string_view) = nullptr);

// Sets msg->framing from its header; `request_method` is the method of the request a response answers
// ("" when unknown). kInvalid for a request whose Transfer-Encoding does not end in chunked.
ParseState decide_framing(Message* msg, std::string_view request_method);

// A chunk-size line without its line ending: hex size, optional whitespace and ;extensions.
ParseState parse_chunk_size_line(std::string_view line, uint64_t* size);

// One direction of one connection.
class StreamParser : public FramerLoop<StreamParser> {
 public:
  // The most a parser keeps of its last message for reuse (retained_bytes): an idle connection must not
  // pin a large message's buffers, since the memory budget charges a connection a fixed estimate.
  static constexpr size_t kMaxSpareBytes = 1024;
  class Listener {
   public:
    virtual ~Listener() = default;
    // The first message start seen on either direction says which side is the client.
    virtual void on_kind_detected(Direction dir, MessageKind kind) = 0;
    // Method of the request the next response answers; HEAD and CONNECT responses are framed apart.
    virtual std::string_view request_method_for_response() = 0;
    // The header was parsed (or cut by the capture); the body follows.
    virtual void on_header(Direction dir, const std::shared_ptr<Message>& msg) = 0;
    // The last byte of the message was seen (or the connection closed under it).
    virtual void on_complete(Direction dir, const std::shared_ptr<Message>& msg) = 0;
  };

  StreamParser(Direction dir, Listener& listener, StitcherStats& stats, const Limits& limits);

  // The connection closed: messages that end at close (and any open one) are completed.
  void finish();

  MessageKind kind() const { return kind_; }
  void set_kind(MessageKind kind) { kind_ = kind; }
  // What follows is not HTTP/1 any more (101 Switching Protocols, CONNECT tunnel): ignore it.
  void enter_tunnel();
  // When the current message's framing was lost, end it now (the peer has moved on) and wait for a
  // message start.
  void end_lost_message();
  bool framing_lost() const { return state_ == State::kLostFraming; }

 private:
  friend class FramerLoop<StreamParser>;
  enum class State : uint8_t {
    kAwaitStart,    // before the first message, or after framing was lost: wait for a chunk that starts one
    kHeader,        // accumulating a header block
    kBody,          // Content-Length body
    kChunkSize,     // chunk-size line
    kChunkData,     // chunk data
    kChunkDataEnd,  // CRLF after chunk data
    kTrailer,       // trailer fields after the last chunk
    kUntilClose,    // body delimited by close
    kLostFraming,   // the current message's end is unknown: absorb chunks until one starts a message
    kTunnel,        // not HTTP/1 any more
  };

  // The chunk loop's hooks (protocols/common/framer.h).
  FramerMode mode() const;
  Start try_start(const DataChunk& chunk, std::string_view captured, uint64_t total);
  bool absorb(const DataChunk& chunk, std::string_view captured, uint64_t total);
  size_t step(std::string_view data, uint64_t pos);
  uint64_t skip_uncaptured(uint64_t n);
  void lost_in_gap(uint64_t pos, uint64_t rest);
  size_t step_header(std::string_view data, uint64_t pos);
  size_t step_chunk_size(std::string_view data);
  size_t step_chunk_data_end(std::string_view data);
  size_t step_trailer(std::string_view data);
  bool accept(MessageKind k);
  bool starts_message(std::string_view captured);
  void begin_message(uint64_t pos);
  bool header_done(size_t header_len);
  void header_cut(bool at_close);
  size_t take_body(uint64_t n);
  void add_body(uint64_t n);
  void complete_message();
  void lose_sync(uint64_t extra_skipped, bool parse_error);

  Direction dir_;
  Listener& listener_;
  Limits limits_;
  MessageKind kind_ = MessageKind::kUnknown;
  State state_ = State::kAwaitStart;
  std::shared_ptr<Message> cur_;
  // The last completed message: the next one reuses it (Message::reset) once the stitcher has let go of
  // it, i.e. this is its only owner. A make_shared and the header list's growth per message were a fifth
  // of the tracer's allocations under keep-alive load (bench_tracer HttpServerKeepAlive). Kept only while
  // it holds at most kMaxSpareBytes.
  std::shared_ptr<Message> spare_;
  std::string header_buf_;
  bool start_checked_ = false;
  std::string line_buf_;
  uint64_t remaining_ = 0;  // body or chunk bytes still to come
  bool got_cr_ = false;
};

}  // namespace otelbpf::l7::http
