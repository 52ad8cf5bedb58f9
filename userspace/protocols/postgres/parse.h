#pragma once
// PostgreSQL bytes -> messages. The free functions check or decode one message of a buffer; StreamParser
// frames one direction of a connection chunk by chunk, skipping body bytes the capture did not keep by
// count, and recovering when a message header falls into uncaptured bytes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/framer.h"
#include "protocols/common/record.h"
#include "protocols/common/stream.h"
#include "protocols/postgres/types.h"

namespace otelbpf::l7::postgres {

// Is `type` a message type this side sends?
bool is_frontend_type(char type);
bool is_backend_type(char type);

// Checks a message header at the start of `buf`: a typed header (5 bytes) of the given side, or, for the
// frontend, an untyped start-up phase header (8 bytes). On kSuccess *header_len and *body_len are set.
ParseState parse_header(std::string_view buf, Side side, const Limits& limits, size_t* header_len,
                        uint64_t* body_len);

// A strong signature of a frontend conversation start: a start-up phase message, or a whole Query or
// Parse message whose text looks like SQL. `allow_partial`: a Query/Parse cut by the capture also counts
// (used with the PostgreSQL port as a tie-breaker).
bool looks_like_frontend_start(std::string_view buf, bool allow_partial);

// Body decoders (bodies may be cut by the capture: fields are read as far as they go).
struct StartupParams {
  std::string user;
  std::string database;
  std::string application_name;
};
StartupParams parse_startup_params(std::string_view body);
// Parse: statement name and query. Bind: portal and statement. Execute/Describe/Close: a name.
bool parse_parse(std::string_view body, std::string* statement, std::string* query);
bool parse_bind(std::string_view body, std::string* portal, std::string* statement);
// A NUL-terminated string at the start of `body` (or all of it when cut before the NUL).
std::string_view read_c_string(std::string_view body, size_t* consumed = nullptr);

// ErrorResponse / NoticeResponse fields.
struct ErrorFields {
  std::string severity;  // 'V' (not localised) or else 'S'
  std::string code;      // 'C': SQLSTATE
  std::string message;   // 'M'
};
ErrorFields parse_error_fields(std::string_view body);

// One direction of one connection.
class StreamParser : public FramerLoop<StreamParser> {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // A whole message, or (framing_lost) the bytes passed over after framing was lost.
    virtual void on_message(Side side, Message&& msg) = 0;
  };

  StreamParser(Side side, Listener& listener, StitcherStats& stats, const Limits& limits);

  // The connection closed: a lost stretch still open is delivered.
  void finish();
  // Backend: the frontend moved on, so a lost stretch of responses ends here.
  void end_lost_message();
  // Backend: the next byte is the bare answer to SSLRequest/GSSENCRequest.
  void expect_ssl_answer() { expect_ssl_answer_ = true; }
  // TLS or GSSAPI encryption follows: nothing more can be parsed.
  void set_encrypted() { state_ = State::kEncrypted; }
  bool lost() const { return state_ == State::kLost; }

 private:
  friend class FramerLoop<StreamParser>;
  enum class State : uint8_t {
    kHeader,      // at or inside a message header
    kBody,        // inside a body, consumed by count
    kAwaitStart,  // framing lost: the next chunk must start with a valid header
    kLost,        // backend framing lost: absorbing chunks until the frontend moves on
    kEncrypted,   // after SSL/GSS negotiation succeeded
  };

  // The chunk loop's hooks (protocols/common/framer.h).
  FramerMode mode() const;
  Start try_start(const DataChunk& chunk, std::string_view captured, uint64_t total);
  bool absorb(const DataChunk& chunk, std::string_view captured, uint64_t total);
  size_t step(std::string_view data, size_t offset);
  uint64_t skip_uncaptured(uint64_t n);
  void lost_in_gap(uint64_t pos, uint64_t rest) { lose_sync(static_cast<size_t>(pos), rest, false); }
  // lose_sync already took the rest of the chunk (into the lost responses, or counted it as skipped).
  void left_unparsed(uint64_t /*rest*/) {}
  void complete();
  void lose_sync(size_t offset, uint64_t rest, bool parse_error);

  Side side_;
  Listener& listener_;
  Limits limits_;
  State state_ = State::kHeader;
  bool expect_ssl_answer_ = false;
  std::string header_;  // header bytes gathered so far
  Message cur_;
  uint64_t body_left_ = 0;
};

}  // namespace otelbpf::l7::postgres
