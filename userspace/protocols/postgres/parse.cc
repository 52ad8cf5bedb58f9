#include "protocols/postgres/parse.h"

#include <algorithm>

namespace otelbpf::l7::postgres {
namespace {

constexpr uint64_t kMaxStartupLength = 10000;  // the server's own bound on a start-up packet

uint32_t be32(std::string_view b) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(b[0])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[3]));
}

// The smallest length (length field included) each message type can have; exact where fixed.
struct LengthRule {
  uint32_t min;
  bool exact;
};

LengthRule frontend_rule(char t) {
  switch (t) {
    case 'S':
    case 'H':
    case 'X':
    case 'c':
      return {4, true};
    case 'Q':
      return {5, false};
    case 'E':
      return {9, false};
    case 'D':
    case 'C':
      return {6, false};
    case 'P':
      return {8, false};
    case 'B':
      return {12, false};
    default:
      return {4, false};
  }
}

LengthRule backend_rule(char t) {
  switch (t) {
    case '1':
    case '2':
    case '3':
    case 'n':
    case 'I':
    case 'c':
      return {4, true};
    case 'Z':
      return {5, true};
    case 'K':
      return {12, false};
    case 'R':
      return {8, false};
    case 'S':
      return {6, false};
    case 'C':
    case 'E':
    case 'N':
      return {5, false};
    case 'T':
    case 'D':
      return {6, false};
    default:
      return {4, false};
  }
}

// Text that a SQL statement could start with: printable, no NUL, a keyword, parenthesis or comment first.
bool looks_like_sql(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) ++i;
  if (i == text.size()) return false;
  const char first = text[i];
  const bool ok_first = (first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z') || first == '(' ||
                        first == '/' || first == '-';
  if (!ok_first) return false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

}  // namespace

bool is_frontend_type(char t) { return std::string_view("QPBDESHCXFpdcf").find(t) != std::string_view::npos; }
bool is_backend_type(char t) {
  return std::string_view("RSKZTDCIEN123nstAGHWdcVv").find(t) != std::string_view::npos;
}

ParseState parse_header(std::string_view buf, Side side, const Limits& limits, size_t* header_len,
                        uint64_t* body_len) {
  if (buf.empty()) return ParseState::kNeedsMoreData;
  if (side == Side::kFrontend && buf[0] == 0) {
    if (buf.size() >= 2 && buf[1] != 0) return ParseState::kInvalid;  // start-up packets are < 64 KiB
    if (buf.size() < 8) return ParseState::kNeedsMoreData;
    const uint32_t len = be32(buf);
    const uint32_t code = be32(buf.substr(4));
    const bool ok = ((code == kSslRequestCode || code == kGssEncRequestCode) && len == 8) ||
                    (code == kCancelRequestCode && len == 16) ||
                    ((code >> 16) == 3 && len >= 8 && len <= kMaxStartupLength);
    if (!ok) return ParseState::kInvalid;
    *header_len = 8;
    *body_len = len - 8;
    return ParseState::kSuccess;
  }
  const char t = buf[0];
  if (side == Side::kFrontend ? !is_frontend_type(t) : !is_backend_type(t)) return ParseState::kInvalid;
  if (buf.size() < 5) return ParseState::kNeedsMoreData;
  const uint32_t len = be32(buf.substr(1));
  const LengthRule rule = side == Side::kFrontend ? frontend_rule(t) : backend_rule(t);
  if (len < rule.min || (rule.exact && len != rule.min) || len > limits.max_message_bytes)
    return ParseState::kInvalid;
  *header_len = 5;
  *body_len = len - 4;
  return ParseState::kSuccess;
}

std::string_view read_c_string(std::string_view body, size_t* consumed) {
  const size_t nul = body.find('\0');
  if (consumed != nullptr) *consumed = nul == std::string_view::npos ? body.size() : nul + 1;
  return body.substr(0, nul);
}

bool looks_like_frontend_start(std::string_view buf, bool allow_partial) {
  size_t hlen = 0;
  uint64_t blen = 0;
  if (parse_header(buf, Side::kFrontend, Limits{}, &hlen, &blen) != ParseState::kSuccess) return false;
  if (buf[0] == 0) return true;
  const std::string_view body = buf.substr(hlen, blen);
  const bool whole = body.size() == blen;
  if (!whole && !allow_partial) return false;
  if (buf[0] == 'Q') {
    if (whole && (body.empty() || body.back() != '\0')) return false;
    const std::string_view text = whole ? body.substr(0, body.size() - 1) : body;
    if (text.find('\0') != std::string_view::npos) return false;
    return (whole || text.size() >= 4) && looks_like_sql(text);
  }
  if (buf[0] == 'P') {
    size_t used = 0;
    const std::string_view name = read_c_string(body, &used);
    if (used > name.size() + 1 || used == body.size()) return false;
    for (char c : name)
      if (static_cast<unsigned char>(c) < 0x20) return false;
    size_t qused = 0;
    const std::string_view query = read_c_string(body.substr(used), &qused);
    if (!looks_like_sql(query)) return false;
    if (!whole) return query.size() >= 4;
    const size_t rest = body.size() - used - qused;
    if (qused == query.size() || rest < 2) return false;
    const size_t nparams =
        (static_cast<uint8_t>(body[used + qused]) << 8) | static_cast<uint8_t>(body[used + qused + 1]);
    return rest == 2 + 4 * nparams;
  }
  return false;
}

StartupParams parse_startup_params(std::string_view body) {
  StartupParams p;
  while (!body.empty() && body[0] != '\0') {
    size_t used = 0;
    const std::string_view key = read_c_string(body, &used);
    body.remove_prefix(used);
    const std::string_view value = read_c_string(body, &used);
    body.remove_prefix(used);
    if (key == "user")
      p.user.assign(value);
    else if (key == "database")
      p.database.assign(value);
    else if (key == "application_name")
      p.application_name.assign(value);
  }
  if (p.database.empty()) p.database = p.user;  // the server's default
  return p;
}

bool parse_parse(std::string_view body, std::string* statement, std::string* query) {
  size_t used = 0;
  const std::string_view name = read_c_string(body, &used);
  if (used == name.size()) return false;  // the name itself was cut
  statement->assign(name);
  query->assign(read_c_string(body.substr(used)));
  return true;
}

bool parse_bind(std::string_view body, std::string* portal, std::string* statement) {
  size_t used = 0;
  const std::string_view p = read_c_string(body, &used);
  if (used == p.size()) return false;
  size_t used2 = 0;
  const std::string_view s = read_c_string(body.substr(used), &used2);
  if (used2 == s.size()) return false;
  portal->assign(p);
  statement->assign(s);
  return true;
}

ErrorFields parse_error_fields(std::string_view body) {
  ErrorFields f;
  std::string localised;
  while (!body.empty() && body[0] != '\0') {
    const char code = body[0];
    size_t used = 0;
    const std::string_view value = read_c_string(body.substr(1), &used);
    body.remove_prefix(1 + used);
    switch (code) {
      case 'V':
        f.severity.assign(value);
        break;
      case 'S':
        localised.assign(value);
        break;
      case 'C':
        f.code.assign(value);
        break;
      case 'M':
        f.message.assign(value);
        break;
      default:
        break;
    }
  }
  if (f.severity.empty()) f.severity = localised;
  return f;
}

StreamParser::StreamParser(Side side, Listener& listener, StitcherStats& stats, const Limits& limits)
    : FramerLoop(stats), side_(side), listener_(listener), limits_(limits) {}

FramerMode StreamParser::mode() const {
  switch (state_) {
    case State::kEncrypted:
      return FramerMode::kStopped;
    case State::kLost:
      return FramerMode::kAbsorb;
    case State::kAwaitStart:
      return FramerMode::kAwaitStart;
    case State::kHeader:
    case State::kBody:
      break;
  }
  return FramerMode::kParse;
}

Start StreamParser::try_start(const DataChunk& /*chunk*/, std::string_view captured, uint64_t /*total*/) {
  size_t header_len = 0;
  uint64_t body_len = 0;
  if (captured.empty() ||
      parse_header(captured, side_, limits_, &header_len, &body_len) == ParseState::kInvalid)
    return StartVerdict::kSkip;
  state_ = State::kHeader;
  return StartVerdict::kBegin;
}

bool StreamParser::absorb(const DataChunk& chunk, std::string_view /*captured*/, uint64_t total) {
  // Responses whose framing was lost take every chunk until the frontend moves on (end_lost_message).
  cur_.wire.bytes += total;
  cur_.wire.end_ns = chunk.ts_exit_ns;
  return true;
}

uint64_t StreamParser::skip_uncaptured(uint64_t n) {
  if (state_ != State::kBody) return 0;
  // Skip the uncaptured part of the body by count.
  const uint64_t take = std::min(n, body_left_);
  body_left_ -= take;
  cur_.wire.bytes += take;
  cur_.truncated = true;
  if (body_left_ == 0) complete();
  return take;
}

size_t StreamParser::step(std::string_view data, size_t offset) {
  if (state_ == State::kBody) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(body_left_, data.size()));
    const size_t room = limits_.max_body_bytes - std::min(limits_.max_body_bytes, cur_.body.size());
    cur_.body.append(data.substr(0, std::min(take, room)));
    if (take > room) cur_.truncated = true;
    body_left_ -= take;
    cur_.wire.bytes += take;
    if (body_left_ == 0) complete();
    return take;
  }
  if (header_.empty()) {
    cur_ = Message{};
    cur_.wire.start_ns = chunk_->ts_enter_ns;
    cur_.wire.end_ns = chunk_->ts_exit_ns;
    cur_.wire.seq = chunk_->tcp_seq + static_cast<uint32_t>(offset);
    cur_.wire.tid = chunk_->tid;
    if (side_ == Side::kBackend && expect_ssl_answer_) {
      expect_ssl_answer_ = false;
      cur_.type = data[0];
      cur_.ssl_answer = true;
      cur_.wire.bytes = 1;
      complete();
      return 1;
    }
  }
  const size_t need = side_ == Side::kFrontend && (header_.empty() ? data[0] : header_[0]) == 0 ? 8 : 5;
  const size_t take = std::min(need - header_.size(), data.size());
  const std::string candidate = header_ + std::string(data.substr(0, take));
  size_t hlen = 0;
  uint64_t blen = 0;
  const ParseState s = parse_header(candidate, side_, limits_, &hlen, &blen);
  if (s == ParseState::kInvalid) {
    lose_sync(offset, chunk_->total_bytes - offset, true);
    return data.size();
  }
  header_ = candidate;
  cur_.wire.bytes += take;
  if (s == ParseState::kNeedsMoreData) return take;
  cur_.type = header_[0];
  if (cur_.type == 0) cur_.code = be32(std::string_view(header_).substr(4));
  cur_.length = blen;
  header_.clear();
  body_left_ = blen;
  state_ = State::kBody;
  if (blen == 0) complete();
  return take;
}

void StreamParser::complete() {
  if (chunk_ != nullptr) cur_.wire.end_ns = chunk_->ts_exit_ns;
  state_ = State::kHeader;
  header_.clear();
  Message m = std::move(cur_);
  cur_ = Message{};
  listener_.on_message(side_, std::move(m));
}

void StreamParser::lose_sync(size_t offset, uint64_t rest, bool parse_error) {
  if (parse_error) ++stats_.parse_errors;
  ++stats_.resyncs;
  const uint64_t partial = header_.size();
  header_.clear();
  Message lost;
  lost.framing_lost = true;
  lost.truncated = true;
  lost.wire.start_ns = chunk_->ts_enter_ns;
  lost.wire.end_ns = chunk_->ts_exit_ns;
  lost.wire.seq = chunk_->tcp_seq + static_cast<uint32_t>(offset) - static_cast<uint32_t>(partial);
  lost.wire.tid = chunk_->tid;
  lost.wire.bytes = rest + partial;
  cur_ = Message{};
  if (side_ == Side::kFrontend) {
    // Whole frontend messages went by unseen: the stitcher closes the request they belonged to.
    stats_.bytes_skipped += lost.wire.bytes;
    state_ = State::kAwaitStart;
    listener_.on_message(side_, std::move(lost));
    return;
  }
  // Responses: what follows belongs to the request being answered until the frontend moves on.
  cur_ = std::move(lost);
  state_ = State::kLost;
}

void StreamParser::end_lost_message() {
  if (state_ != State::kLost) return;
  state_ = State::kAwaitStart;
  Message m = std::move(cur_);
  cur_ = Message{};
  listener_.on_message(side_, std::move(m));
}

void StreamParser::finish() {
  if (state_ == State::kLost) {
    end_lost_message();
  } else if (state_ == State::kBody) {
    cur_.truncated = true;
    complete();
  }
  header_.clear();
  if (state_ != State::kEncrypted) state_ = State::kHeader;
}

}  // namespace otelbpf::l7::postgres
