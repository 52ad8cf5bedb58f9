#include "protocols/http/parse.h"

#include <algorithm>
#include <array>

#include "common/heap_bytes.h"
#include "protocols/common/text.h"

namespace otelbpf::l7::http {
namespace {

// Methods that may start a request. Recognising only known methods keeps a resynchronising parser from
// taking body bytes for a request line.
constexpr std::array<std::string_view, 19> kMethods = {
    "GET",       "POST",  "PUT",  "DELETE", "HEAD", "OPTIONS", "PATCH",  "CONNECT", "TRACE", "PROPFIND",
    "PROPPATCH", "MKCOL", "COPY", "MOVE",   "LOCK", "UNLOCK",  "REPORT", "SEARCH",  "PURGE",
};

// tchar (RFC 9110 §5.6.2) by table: every byte of every field name is tested.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool is_tchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "HTTP/1.0" or "HTTP/1.1".
bool parse_version(std::string_view v, int* minor) {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1." || (v[7] != '0' && v[7] != '1')) return false;
  *minor = v[7] - '0';
  return true;
}

bool parse_request_line(std::string_view line, Message* msg) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = trim_ows(line.substr(sp1 + 1, sp2 - sp1 - 1));
  if (!is_token(method) || target.empty()) return false;
  if (!parse_version(line.substr(sp2 + 1), &msg->minor_version)) return false;
  msg->method.assign(method);
  msg->target.assign(target);
  return true;
}

bool parse_status_code(std::string_view line, Message* msg) {
  if (line.size() < 12 || line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10]) ||
      !is_digit(line[11])) {
    return false;
  }
  if (!parse_version(line.substr(0, 8), &msg->minor_version)) return false;
  msg->status_code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  return msg->status_code >= 100;
}

bool parse_status_line(std::string_view line, Message* msg) {
  if (!parse_status_code(line, msg)) return false;
  if (line.size() > 12) {
    if (line[12] != ' ') return false;
    msg->reason.assign(trim_ows(line.substr(13)));
  }
  return true;
}

// What the field lines before this one left, for obsolete line folding.
struct FieldLines {
  bool any = false;        // a field line came before
  bool last_kept = false;  // ... and it was stored
};

// One field line.
bool add_field_line(std::string_view line, Message* msg, size_t max_headers,
                    bool (*keep_header)(std::string_view), FieldLines* fields) {
  if (line.front() == ' ' || line.front() == '\t') {
    // obs-fold (RFC 9112 §5.2): a continuation of the previous field value.
    if (!fields->any) return false;
    if (fields->last_kept) {
      std::string& v = msg->headers.back().second;
      v.push_back(' ');
      v.append(trim_ows(line));
    }
    return true;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return false;  // includes whitespace before the colon, which RFC 9112 forbids
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (iequals(name, "content-length")) {
    // A list of identical values is tolerated; differing values are a smuggling attempt or a broken peer.
    std::string_view rest = value;
    while (true) {
      const size_t comma = rest.find(',');
      const auto n = parse_decimal(trim_ows(rest.substr(0, comma)), uint64_t{1} << 62);
      if (!n) return false;
      if (msg->has_content_length && msg->content_length != *n) return false;
      msg->has_content_length = true;
      msg->content_length = *n;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  } else if (iequals(name, "transfer-encoding")) {
    msg->has_transfer_encoding = true;
    const size_t comma = value.rfind(',');
    const std::string_view last = trim_ows(comma == std::string_view::npos ? value : value.substr(comma + 1));
    msg->chunked = iequals(last, "chunked");
  }
  fields->any = true;
  fields->last_kept = msg->headers.size() < max_headers && (!keep_header || keep_header(name));
  if (fields->last_kept) msg->headers.emplace_back(std::string(name), std::string(value));
  return true;
}

// Next line of `block` from *pos, without its CRLF or LF; false when no complete line is left.
bool next_line(std::string_view block, size_t* pos, std::string_view* line) {
  const size_t nl = block.find('\n', *pos);
  if (nl == std::string_view::npos) return false;
  std::string_view l = block.substr(*pos, nl - *pos);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  *line = l;
  *pos = nl + 1;
  return true;
}

}  // namespace

size_t retained_bytes(const Message& m) {
  size_t n = sizeof(Message) + string_heap_bytes(m.method) + string_heap_bytes(m.target) +
             string_heap_bytes(m.reason) + m.headers.capacity() * sizeof(HeaderList::value_type);
  for (const auto& [name, value] : m.headers) n += string_heap_bytes(name) + string_heap_bytes(value);
  return n;
}

void Message::reset() {
  // The scalars in one assignment, the buffers cleared in place. (This was a move of the four buffers out,
  // `*this = Message{}` and a move back: 5 % of bench_tracer's keep-alive HTTP benchmark.)
  static_cast<MessageScalars&>(*this) = MessageScalars{};
  method.clear();
  target.clear();
  reason.clear();
  headers.clear();
}

const std::string* Message::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

ParseState parse_message_start(std::string_view buf, MessageKind* kind) {
  if (buf.empty()) return ParseState::kNeedsMoreData;
  bool maybe = false;
  {
    // Status line: "HTTP/1." [01] SP [1-5] DIGIT DIGIT.
    static constexpr std::string_view kPattern = "HTTP/1.v Sdd";
    const size_t n = std::min(buf.size(), kPattern.size());
    bool ok = true;
    for (size_t i = 0; i < n && ok; ++i) {
      const char p = kPattern[i];
      const char c = buf[i];
      if (p == 'v') {
        ok = c == '0' || c == '1';
      } else if (p == 'S') {
        ok = c >= '1' && c <= '5';
      } else if (p == 'd') {
        ok = is_digit(c);
      } else {
        ok = c == p;
      }
    }
    if (ok) {
      if (n == kPattern.size()) {
        *kind = MessageKind::kResponse;
        return ParseState::kSuccess;
      }
      maybe = true;
    }
  }
  for (std::string_view m : kMethods) {
    const size_t n = std::min(buf.size(), m.size());
    if (buf.substr(0, n) != m.substr(0, n)) continue;
    if (buf.size() <= m.size()) {
      maybe = true;
      continue;
    }
    if (buf[m.size()] == ' ') {
      *kind = MessageKind::kRequest;
      return ParseState::kSuccess;
    }
  }
  return maybe ? ParseState::kNeedsMoreData : ParseState::kInvalid;
}

size_t find_header_end(std::string_view buf, size_t from) {
  size_t i = buf.find('\n', from);
  while (i != std::string_view::npos) {
    if (i + 1 < buf.size() && buf[i + 1] == '\n') return i + 2;
    if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
    i = buf.find('\n', i + 1);
  }
  return std::string_view::npos;
}

ParseState parse_header_block(std::string_view block, MessageKind kind, Message* msg, size_t max_headers,
                              bool (*keep_header)(std::string_view)) {
  size_t pos = 0;
  std::string_view line;
  if (!next_line(block, &pos, &line)) return ParseState::kNeedsMoreData;
  msg->kind = kind;
  const bool start_ok = kind == MessageKind::kRequest    ? parse_request_line(line, msg)
                        : kind == MessageKind::kResponse ? parse_status_line(line, msg)
                                                         : false;
  if (!start_ok) return ParseState::kInvalid;
  FieldLines fields;
  while (next_line(block, &pos, &line)) {
    if (line.empty()) return ParseState::kSuccess;
    if (!add_field_line(line, msg, max_headers, keep_header, &fields)) return ParseState::kInvalid;
  }
  return ParseState::kNeedsMoreData;
}

void parse_truncated_header(std::string_view partial, MessageKind kind, Message* msg, size_t max_headers,
                            bool (*keep_header)(std::string_view)) {
  msg->kind = kind;
  size_t pos = 0;
  std::string_view first;
  const bool first_complete = next_line(partial, &pos, &first);
  if (!first_complete) {
    first = partial;
    if (!first.empty() && first.back() == '\r') first.remove_suffix(1);
  }
  if (kind == MessageKind::kRequest) {
    if (!first_complete || !parse_request_line(first, msg)) {
      // The request line itself was cut (a long URL): keep the method and as much of the target as came.
      const size_t sp = first.find(' ');
      msg->method.assign(first.substr(0, sp));
      if (sp != std::string_view::npos) {
        std::string_view target = first.substr(sp + 1);
        target = target.substr(0, target.find(" HTTP/"));
        msg->target.assign(trim_ows(target));
      }
    }
  } else if (kind == MessageKind::kResponse) {
    if (!first_complete || !parse_status_line(first, msg)) parse_status_code(first, msg);
  }
  if (!first_complete) return;
  std::string_view line;
  FieldLines fields;
  while (next_line(partial, &pos, &line) && !line.empty()) {
    // A malformed line in a cut header is skipped: what is there is still worth recording.
    add_field_line(line, msg, max_headers, keep_header, &fields);
  }
}

ParseState decide_framing(Message* msg, std::string_view request_method) {
  if (msg->kind == MessageKind::kRequest) {
    if (msg->has_transfer_encoding) {
      // RFC 9112 §6.3: a request whose final coding is not chunked has no determinable length.
      if (!msg->chunked) return ParseState::kInvalid;
      msg->framing = BodyFraming::kChunked;
    } else if (msg->has_content_length && msg->content_length > 0) {
      msg->framing = BodyFraming::kContentLength;
    } else {
      msg->framing = BodyFraming::kNone;
    }
    return ParseState::kSuccess;
  }
  const int code = msg->status_code;
  if (code == 101 || (request_method == "CONNECT" && code >= 200 && code < 300)) {
    msg->framing = BodyFraming::kTunnel;
  } else if (code < 200 || code == 204 || code == 304 || request_method == "HEAD") {
    msg->framing = BodyFraming::kNone;
  } else if (msg->has_transfer_encoding) {
    msg->framing = msg->chunked ? BodyFraming::kChunked : BodyFraming::kUntilClose;
  } else if (msg->has_content_length) {
    msg->framing = msg->content_length > 0 ? BodyFraming::kContentLength : BodyFraming::kNone;
  } else {
    msg->framing = BodyFraming::kUntilClose;
  }
  return ParseState::kSuccess;
}

ParseState parse_chunk_size_line(std::string_view line, uint64_t* size) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
    if (i == 15) return ParseState::kInvalid;  // no chunk is 2^60 bytes; refuse to overflow
    v = v * 16 + static_cast<uint64_t>(hex_value(line[i]));
  }
  if (i == 0) return ParseState::kInvalid;
  const std::string_view rest = trim_ows(line.substr(i));
  if (!rest.empty() && rest.front() != ';') return ParseState::kInvalid;
  *size = v;
  return ParseState::kSuccess;
}

// ---------------------------------------------------------------------------------------------------------

StreamParser::StreamParser(Direction dir, Listener& listener, StitcherStats& stats, const Limits& limits)
    : FramerLoop(stats), dir_(dir), listener_(listener), limits_(limits) {}

bool StreamParser::accept(MessageKind k) {
  if (kind_ == MessageKind::kUnknown) listener_.on_kind_detected(dir_, k);
  return kind_ == k;
}

bool StreamParser::starts_message(std::string_view captured) {
  MessageKind k = MessageKind::kUnknown;
  return parse_message_start(captured, &k) == ParseState::kSuccess && accept(k);
}

FramerMode StreamParser::mode() const {
  switch (state_) {
    case State::kTunnel:
      return FramerMode::kStopped;
    case State::kLostFraming:
      return FramerMode::kAbsorb;
    case State::kAwaitStart:
      return FramerMode::kAwaitStart;
    default:
      return FramerMode::kParse;
  }
}

bool StreamParser::absorb(const DataChunk& /*chunk*/, std::string_view captured, uint64_t total) {
  if (starts_message(captured)) {
    complete_message();  // the lost message ended with the previous chunk
    return false;
  }
  add_body(total);
  // With chunked framing lost, a fully captured chunk ending in the last-chunk marker ends the body.
  if (cur_->framing == BodyFraming::kChunked && captured.size() == total && captured.ends_with("0\r\n\r\n")) {
    complete_message();
  }
  return true;
}

Start StreamParser::try_start(const DataChunk& /*chunk*/, std::string_view captured, uint64_t /*total*/) {
  // Mid-connection (agent started late, or framing lost): only a chunk that starts a message of the
  // direction's kind is a safe place to begin; a prefix too short to tell is given the benefit of the
  // doubt and checked as it grows.
  MessageKind k = MessageKind::kUnknown;
  const ParseState s = captured.empty() ? ParseState::kInvalid : parse_message_start(captured, &k);
  if (s == ParseState::kInvalid || (s == ParseState::kSuccess && !accept(k))) return StartVerdict::kSkip;
  state_ = State::kHeader;
  return StartVerdict::kBegin;
}

size_t StreamParser::step(std::string_view data, uint64_t pos) {
  switch (state_) {
    case State::kHeader:
      return step_header(data, pos);
    case State::kBody:
    case State::kChunkData:
      return take_body(data.size());
    case State::kChunkSize:
      return step_chunk_size(data);
    case State::kChunkDataEnd:
      return step_chunk_data_end(data);
    case State::kTrailer:
      return step_trailer(data);
    case State::kUntilClose:
    case State::kLostFraming:
      add_body(data.size());
      return data.size();
    case State::kAwaitStart:
    case State::kTunnel:
      break;
  }
  return data.size();
}

void StreamParser::begin_message(uint64_t pos) {
  if (spare_ && spare_.use_count() == 1) {
    cur_ = std::move(spare_);
    cur_->reset();
  } else {
    cur_ = std::make_shared<Message>();
  }
  cur_->kind = kind_;
  cur_->wire.start_ns = chunk_->ts_enter_ns;
  cur_->wire.end_ns = chunk_->ts_exit_ns;
  cur_->wire.tid = chunk_->tid;
  cur_->wire.seq = chunk_->tcp_seq + static_cast<uint32_t>(pos);  // wraps like TCP sequence numbers
  start_checked_ = false;
}

size_t StreamParser::step_header(std::string_view data, uint64_t pos) {
  if (header_buf_.empty()) {
    // RFC 9112 §2.2: empty lines before a request line are ignored (some clients send CRLF after a body).
    size_t n = 0;
    while (n < data.size() && (data[n] == '\r' || data[n] == '\n')) ++n;
    if (n > 0) return n;
    begin_message(pos);
  }
  const size_t old = header_buf_.size();
  const size_t take = std::min(data.size(), limits_.max_header_bytes - old);
  header_buf_.append(data.data(), take);
  cur_->wire.end_ns = chunk_->ts_exit_ns;
  if (!start_checked_) {
    MessageKind k = MessageKind::kUnknown;
    const ParseState s = parse_message_start(header_buf_, &k);
    if (s == ParseState::kInvalid || (s == ParseState::kSuccess && !accept(k))) {
      lose_sync(old, true);
      return 0;
    }
    start_checked_ = s == ParseState::kSuccess;
  }
  const size_t end = find_header_end(header_buf_, old >= 3 ? old - 3 : 0);
  if (end == std::string_view::npos) {
    if (header_buf_.size() >= limits_.max_header_bytes) {
      lose_sync(old, true);  // header too large
      return 0;
    }
    return take;
  }
  if (!start_checked_ || !header_done(end)) {
    lose_sync(old, true);
    return 0;
  }
  return end - old;
}

bool StreamParser::header_done(size_t header_len) {
  Message& m = *cur_;
  m.kind = kind_;
  if (parse_header_block(std::string_view(header_buf_).substr(0, header_len), kind_, &m, limits_.max_headers,
                         limits_.keep_header) != ParseState::kSuccess) {
    return false;
  }
  const std::string_view method =
      kind_ == MessageKind::kResponse ? listener_.request_method_for_response() : std::string_view();
  if (decide_framing(&m, method) != ParseState::kSuccess) return false;
  m.header_bytes = header_len;
  m.wire.bytes = header_len;
  header_buf_.clear();
  start_checked_ = false;
  listener_.on_header(dir_, cur_);
  switch (m.framing) {
    case BodyFraming::kNone:
    case BodyFraming::kTunnel:
      complete_message();
      break;
    case BodyFraming::kContentLength:
      remaining_ = m.content_length;
      state_ = State::kBody;
      break;
    case BodyFraming::kChunked:
      line_buf_.clear();
      state_ = State::kChunkSize;
      break;
    case BodyFraming::kUntilClose:
      state_ = State::kUntilClose;
      break;
  }
  return true;
}

void StreamParser::header_cut(bool at_close) {
  ++stats_.truncated_headers;
  if (!at_close) ++stats_.resyncs;
  Message& m = *cur_;
  parse_truncated_header(header_buf_, kind_, &m, limits_.max_headers, limits_.keep_header);
  m.header_truncated = true;
  m.framing_lost = true;
  // Only used by the lost-framing heuristics: the real framing depends on fields that were not captured.
  m.framing = m.chunked ? BodyFraming::kChunked : BodyFraming::kUntilClose;
  m.header_bytes = header_buf_.size();
  m.wire.bytes = header_buf_.size();
  header_buf_.clear();
  start_checked_ = false;
  state_ = State::kLostFraming;
  listener_.on_header(dir_, cur_);
}

size_t StreamParser::step_chunk_size(std::string_view data) {
  const size_t nl = data.find('\n');
  const size_t take = nl == std::string_view::npos ? data.size() : nl + 1;
  if (line_buf_.size() + take > limits_.max_chunk_line_bytes) {
    lose_sync(0, true);
    return 0;
  }
  line_buf_.append(data.data(), take);
  if (nl == std::string_view::npos) {
    add_body(take);
    return take;
  }
  std::string_view line(line_buf_);
  line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  uint64_t size = 0;
  if (parse_chunk_size_line(line, &size) != ParseState::kSuccess) {
    lose_sync(0, true);
    return 0;
  }
  add_body(take);
  line_buf_.clear();
  if (size == 0) {
    state_ = State::kTrailer;
  } else {
    remaining_ = size;
    state_ = State::kChunkData;
  }
  return take;
}

size_t StreamParser::step_chunk_data_end(std::string_view data) {
  const char ch = data.front();
  if (ch == '\r' && !got_cr_) {
    got_cr_ = true;
    add_body(1);
    return 1;
  }
  if (ch == '\n') {
    add_body(1);
    line_buf_.clear();
    state_ = State::kChunkSize;
    return 1;
  }
  lose_sync(0, true);
  return 0;
}

size_t StreamParser::step_trailer(std::string_view data) {
  const size_t nl = data.find('\n');
  const size_t take = nl == std::string_view::npos ? data.size() : nl + 1;
  if (line_buf_.size() + take > limits_.max_header_bytes) {
    lose_sync(0, true);
    return 0;
  }
  line_buf_.append(data.data(), take);
  add_body(take);
  if (nl == std::string_view::npos) return take;
  const bool empty_line = line_buf_ == "\n" || line_buf_ == "\r\n";
  line_buf_.clear();
  if (empty_line) complete_message();
  return take;
}

uint64_t StreamParser::skip_uncaptured(uint64_t n) {
  // The capture kept only the start of this chunk: n bytes are known by count alone.
  switch (state_) {
    case State::kHeader:
      // A message starts somewhere in bytes we cannot see (lost_in_gap), or its header was cut.
      if (header_buf_.empty() || !start_checked_) return 0;
      header_cut(false);
      add_body(n);
      return n;
    case State::kBody:
    case State::kChunkData:
      return take_body(n);
    case State::kChunkDataEnd: {
      // Assume the CRLF is there; the next chunk-size line is what we cannot skip.
      const uint64_t want = got_cr_ ? 1 : 2;
      const uint64_t k = std::min(n, want);
      add_body(k);
      if (k == want) {
        line_buf_.clear();
        state_ = State::kChunkSize;
      } else {
        got_cr_ = true;
      }
      return k;
    }
    case State::kChunkSize:
    case State::kTrailer:
      // The body goes on, but where it ends is in the bytes we cannot see.
      cur_->framing_lost = true;
      ++stats_.resyncs;
      line_buf_.clear();
      state_ = State::kLostFraming;
      add_body(n);
      return n;
    case State::kUntilClose:
      add_body(n);
      return n;
    case State::kAwaitStart:
    case State::kLostFraming:
    case State::kTunnel:
      break;
  }
  return 0;
}

void StreamParser::lost_in_gap(uint64_t /*pos*/, uint64_t rest) {
  lose_sync(header_buf_.size(), false);
  stats_.bytes_skipped += rest;
}

// Up to n bytes of a Content-Length body or of a chunk's data, captured or not.
size_t StreamParser::take_body(uint64_t n) {
  const auto taken = static_cast<size_t>(std::min(n, remaining_));
  remaining_ -= taken;
  add_body(taken);
  if (remaining_ == 0) {
    if (state_ == State::kBody) {
      complete_message();
    } else {
      state_ = State::kChunkDataEnd;
      got_cr_ = false;
    }
  }
  return taken;
}

void StreamParser::add_body(uint64_t n) {
  cur_->body_bytes += n;
  cur_->wire.bytes += n;
  cur_->wire.end_ns = chunk_->ts_exit_ns;
}

void StreamParser::complete_message() {
  std::shared_ptr<Message> msg = std::move(cur_);
  msg->complete = true;
  state_ = msg->framing == BodyFraming::kTunnel ? State::kTunnel : State::kHeader;
  remaining_ = 0;
  line_buf_.clear();
  listener_.on_complete(dir_, msg);
  if (retained_bytes(*msg) <= kMaxSpareBytes)
    spare_ = std::move(msg);
  else
    spare_.reset();
}

void StreamParser::lose_sync(uint64_t extra_skipped, bool parse_error) {
  if (parse_error) ++stats_.parse_errors;
  ++stats_.resyncs;
  stats_.bytes_skipped += extra_skipped;
  // A message already announced to the stitcher is finished, not dropped: its request/response pair
  // still deserves a record, flagged as framing lost.
  if (cur_ && cur_->header_bytes > 0) {
    cur_->framing_lost = true;
    complete_message();
  }
  cur_.reset();
  header_buf_.clear();
  line_buf_.clear();
  start_checked_ = false;
  remaining_ = 0;
  if (state_ != State::kTunnel) state_ = State::kAwaitStart;
}

void StreamParser::end_lost_message() {
  if (state_ != State::kLostFraming) return;
  complete_message();
  state_ = State::kAwaitStart;
}

void StreamParser::enter_tunnel() {
  cur_.reset();
  header_buf_.clear();
  line_buf_.clear();
  state_ = State::kTunnel;
}

void StreamParser::finish() {
  switch (state_) {
    case State::kHeader:
      if (!header_buf_.empty()) {
        if (start_checked_) {
          header_cut(true);
          complete_message();
        } else {
          stats_.bytes_skipped += header_buf_.size();
        }
      }
      break;
    case State::kUntilClose:
    case State::kLostFraming:
      complete_message();
      break;
    case State::kBody:
    case State::kChunkSize:
    case State::kChunkData:
    case State::kChunkDataEnd:
    case State::kTrailer:
      cur_->framing_lost = true;  // cut by the close
      complete_message();
      break;
    case State::kAwaitStart:
    case State::kTunnel:
      break;
  }
  cur_.reset();
  header_buf_.clear();
  state_ = State::kTunnel;
}

}  // namespace otelbpf::l7::http
