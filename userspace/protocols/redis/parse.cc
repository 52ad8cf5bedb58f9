#include "protocols/redis/parse.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "protocols/common/text.h"

namespace otelbpf::l7::redis {
namespace {

// The commands of Redis 7.0 (COMMAND LIST), sorted bytewise for binary search.
constexpr std::string_view kCommands[] = {
    "ACL",
    "APPEND",
    "ASKING",
    "AUTH",
    "BGREWRITEAOF",
    "BGSAVE",
    "BITCOUNT",
    "BITFIELD",
    "BITFIELD_RO",
    "BITOP",
    "BITPOS",
    "BLMOVE",
    "BLMPOP",
    "BLPOP",
    "BRPOP",
    "BRPOPLPUSH",
    "BZMPOP",
    "BZPOPMAX",
    "BZPOPMIN",
    "CLIENT",
    "CLUSTER",
    "COMMAND",
    "CONFIG",
    "COPY",
    "DBSIZE",
    "DEBUG",
    "DECR",
    "DECRBY",
    "DEL",
    "DISCARD",
    "DUMP",
    "ECHO",
    "EVAL",
    "EVALSHA",
    "EVALSHA_RO",
    "EVAL_RO",
    "EXEC",
    "EXISTS",
    "EXPIRE",
    "EXPIREAT",
    "EXPIRETIME",
    "FAILOVER",
    "FCALL",
    "FCALL_RO",
    "FLUSHALL",
    "FLUSHDB",
    "FUNCTION",
    "GEOADD",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEORADIUS",
    "GEORADIUSBYMEMBER",
    "GEORADIUSBYMEMBER_RO",
    "GEORADIUS_RO",
    "GEOSEARCH",
    "GEOSEARCHSTORE",
    "GET",
    "GETBIT",
    "GETDEL",
    "GETEX",
    "GETRANGE",
    "GETSET",
    "HDEL",
    "HELLO",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HMSET",
    "HRANDFIELD",
    "HSCAN",
    "HSET",
    "HSETNX",
    "HSTRLEN",
    "HVALS",
    "INCR",
    "INCRBY",
    "INCRBYFLOAT",
    "INFO",
    "KEYS",
    "LASTSAVE",
    "LATENCY",
    "LCS",
    "LINDEX",
    "LINSERT",
    "LLEN",
    "LMOVE",
    "LMPOP",
    "LOLWUT",
    "LPOP",
    "LPOS",
    "LPUSH",
    "LPUSHX",
    "LRANGE",
    "LREM",
    "LSET",
    "LTRIM",
    "MEMORY",
    "MGET",
    "MIGRATE",
    "MODULE",
    "MONITOR",
    "MOVE",
    "MSET",
    "MSETNX",
    "MULTI",
    "OBJECT",
    "PERSIST",
    "PEXPIRE",
    "PEXPIREAT",
    "PEXPIRETIME",
    "PFADD",
    "PFCOUNT",
    "PFDEBUG",
    "PFMERGE",
    "PFSELFTEST",
    "PING",
    "PSETEX",
    "PSUBSCRIBE",
    "PSYNC",
    "PTTL",
    "PUBLISH",
    "PUBSUB",
    "PUNSUBSCRIBE",
    "QUIT",
    "RANDOMKEY",
    "READONLY",
    "READWRITE",
    "RENAME",
    "RENAMENX",
    "REPLCONF",
    "REPLICAOF",
    "RESET",
    "RESTORE",
    "RESTORE-ASKING",
    "ROLE",
    "RPOP",
    "RPOPLPUSH",
    "RPUSH",
    "RPUSHX",
    "SADD",
    "SAVE",
    "SCAN",
    "SCARD",
    "SCRIPT",
    "SDIFF",
    "SDIFFSTORE",
    "SELECT",
    "SET",
    "SETBIT",
    "SETEX",
    "SETNX",
    "SETRANGE",
    "SHUTDOWN",
    "SINTER",
    "SINTERCARD",
    "SINTERSTORE",
    "SISMEMBER",
    "SLAVEOF",
    "SLOWLOG",
    "SMEMBERS",
    "SMISMEMBER",
    "SMOVE",
    "SORT",
    "SORT_RO",
    "SPOP",
    "SPUBLISH",
    "SRANDMEMBER",
    "SREM",
    "SSCAN",
    "SSUBSCRIBE",
    "STRLEN",
    "SUBSCRIBE",
    "SUBSTR",
    "SUNION",
    "SUNIONSTORE",
    "SUNSUBSCRIBE",
    "SWAPDB",
    "SYNC",
    "TIME",
    "TOUCH",
    "TTL",
    "TYPE",
    "UNLINK",
    "UNSUBSCRIBE",
    "UNWATCH",
    "WAIT",
    "WATCH",
    "XACK",
    "XADD",
    "XAUTOCLAIM",
    "XCLAIM",
    "XDEL",
    "XGROUP",
    "XINFO",
    "XLEN",
    "XPENDING",
    "XRANGE",
    "XREAD",
    "XREADGROUP",
    "XREVRANGE",
    "XSETID",
    "XTRIM",
    "ZADD",
    "ZCARD",
    "ZCOUNT",
    "ZDIFF",
    "ZDIFFSTORE",
    "ZINCRBY",
    "ZINTER",
    "ZINTERCARD",
    "ZINTERSTORE",
    "ZLEXCOUNT",
    "ZMPOP",
    "ZMSCORE",
    "ZPOPMAX",
    "ZPOPMIN",
    "ZRANDMEMBER",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANGESTORE",
    "ZRANK",
    "ZREM",
    "ZREMRANGEBYLEX",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYSCORE",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
    "ZUNION",
    "ZUNIONSTORE",
};

constexpr size_t kMaxCommandName = 32;

bool is_upper_alpha(char c) { return c >= 'A' && c <= 'Z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return u;
}

// A signed decimal as RESP writes counts and lengths ("-1" for null); nullopt when malformed.
std::optional<int64_t> parse_count(std::string_view s) {
  bool neg = false;
  if (!s.empty() && s.front() == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  const auto v = parse_decimal(s, uint64_t{1} << 40);
  if (!v) return std::nullopt;
  if (neg) return *v == 1 ? std::optional<int64_t>(-1) : std::nullopt;
  return static_cast<int64_t>(*v);
}

// Prefix match of `buf` against "*N\r\n$L\r\n": kSuccess with the command's offset and length when the
// header is complete.
ParseState parse_array_head(std::string_view buf, size_t* cmd_off, uint64_t* cmd_len) {
  if (buf.empty()) return ParseState::kNeedsMoreData;
  if (buf[0] != '*') return ParseState::kInvalid;
  size_t i = 1;
  size_t digits = 0;
  while (i < buf.size() && is_digit(buf[i]) && digits < 8) ++i, ++digits;
  if (i == buf.size()) return ParseState::kNeedsMoreData;
  if (digits == 0 || buf[1] == '0' || buf[i] != '\r') return ParseState::kInvalid;
  if (++i == buf.size()) return ParseState::kNeedsMoreData;
  if (buf[i] != '\n') return ParseState::kInvalid;
  if (++i == buf.size()) return ParseState::kNeedsMoreData;
  if (buf[i] != '$') return ParseState::kInvalid;
  const size_t len_start = ++i;
  digits = 0;
  while (i < buf.size() && is_digit(buf[i]) && digits < 3) ++i, ++digits;
  if (i == buf.size()) return ParseState::kNeedsMoreData;
  if (digits == 0 || buf[i] != '\r') return ParseState::kInvalid;
  const uint64_t len = *parse_decimal(buf.substr(len_start, i - len_start));
  if (len == 0 || len > kMaxCommandName) return ParseState::kInvalid;
  if (++i == buf.size()) return ParseState::kNeedsMoreData;
  if (buf[i] != '\n') return ParseState::kInvalid;
  *cmd_off = i + 1;
  *cmd_len = len;
  return ParseState::kSuccess;
}

// Whether `prefix` could begin a known command name (case-insensitive).
bool is_command_prefix(std::string_view prefix) {
  const std::string u = upper(prefix);
  const auto it = std::lower_bound(std::begin(kCommands), std::end(kCommands), std::string_view(u));
  return it != std::end(kCommands) && it->substr(0, u.size()) == u;
}

// Collects the first message a parser delivers.
struct FirstMessage final : StreamParser::Listener {
  void on_message(Direction, Message&& m) override {
    if (!got) {
      msg = std::move(m);
      got = true;
    }
  }
  Message msg;
  bool got = false;
};

}  // namespace

bool is_resp_type(char c) { return std::string_view("+-:$*_,#!=(%~|>").find(c) != std::string_view::npos; }

bool is_known_command(std::string_view name) {
  if (name.empty() || name.size() > kMaxCommandName) return false;
  const std::string u = upper(name);
  if (std::binary_search(std::begin(kCommands), std::end(kCommands), std::string_view(u))) return true;
  // Module commands: MODULE.COMMAND (JSON.SET, FT.SEARCH, BF.ADD ...).
  const size_t dot = u.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == u.size()) return false;
  return std::all_of(u.begin(), u.end(), [](char c) { return is_upper_alpha(c) || c == '.' || c == '_'; });
}

ParseState parse_request_start(std::string_view buf, bool allow_inline) {
  if (buf.empty()) return ParseState::kNeedsMoreData;
  if (buf[0] == '*') {
    size_t off = 0;
    uint64_t len = 0;
    const ParseState s = parse_array_head(buf, &off, &len);
    if (s != ParseState::kSuccess) return s;
    const std::string_view name = buf.substr(off, len);
    if (name.size() < len)
      return is_command_prefix(name) || name.find('.') != std::string_view::npos ? ParseState::kNeedsMoreData
                                                                                 : ParseState::kInvalid;
    return is_known_command(name) ? ParseState::kSuccess : ParseState::kInvalid;
  }
  if (!allow_inline) return ParseState::kInvalid;
  size_t i = 0;
  while (i < buf.size() && i <= kMaxCommandName && buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n') ++i;
  if (i == buf.size())
    return is_command_prefix(buf.substr(0, i)) ? ParseState::kNeedsMoreData : ParseState::kInvalid;
  if (buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n') return ParseState::kInvalid;
  return is_known_command(buf.substr(0, i)) ? ParseState::kSuccess : ParseState::kInvalid;
}

ParseState parse_reply_start(std::string_view buf) {
  if (buf.empty()) return ParseState::kNeedsMoreData;
  const char t = buf[0];
  if (!is_resp_type(t)) return ParseState::kInvalid;
  const size_t nl = buf.find('\n');
  const bool complete = nl != std::string_view::npos;
  std::string_view line = buf.substr(1, complete ? nl - 1 : std::string_view::npos);
  if (complete) {
    if (line.empty() || line.back() != '\r') return ParseState::kInvalid;
    line.remove_suffix(1);
  } else {
    if (line.size() > 4096) return ParseState::kInvalid;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  if (line.find('\r') != std::string_view::npos) return ParseState::kInvalid;
  if (t == '+' || t == '-' || t == ',') {
    for (char c : line)
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return ParseState::kInvalid;
  } else if (t == '#') {
    if (line.size() > 1 || (line.size() == 1 && line[0] != 't' && line[0] != 'f'))
      return ParseState::kInvalid;
    if (complete && line.empty()) return ParseState::kInvalid;
  } else if (t == '_') {
    if (!line.empty()) return ParseState::kInvalid;
  } else {
    for (size_t i = 0; i < line.size(); ++i)
      if (!is_digit(line[i]) && !(i == 0 && line[i] == '-')) return ParseState::kInvalid;
    if (complete && (line.empty() || line == "-")) return ParseState::kInvalid;
  }
  return complete ? ParseState::kSuccess : ParseState::kNeedsMoreData;
}

ParseState parse_message(std::string_view buf, bool request, Message* msg, size_t* consumed,
                         const Limits& limits) {
  FirstMessage first;
  StitcherStats stats;
  StreamParser p(Direction::kEgress, first, stats, limits);
  p.set_request_side(request);
  DataChunk c;
  c.total_bytes = buf.size();
  c.captured = buf;
  p.feed(c);
  if (first.got && !first.msg.framing_lost) {
    *msg = std::move(first.msg);
    *consumed = msg->wire.bytes;
    return ParseState::kSuccess;
  }
  return stats.parse_errors > 0 || first.got ? ParseState::kInvalid : ParseState::kNeedsMoreData;
}

StreamParser::StreamParser(Direction dir, Listener& listener, StitcherStats& stats, const Limits& limits)
    : FramerLoop(stats), dir_(dir), listener_(listener), limits_(limits) {}

bool StreamParser::starts_message(std::string_view captured) const {
  if (request_side_) return parse_request_start(captured, true) != ParseState::kInvalid;
  return parse_reply_start(captured) != ParseState::kInvalid;
}

FramerMode StreamParser::mode() const {
  if (state_ == State::kAwaitStart) return FramerMode::kAwaitStart;
  if (state_ == State::kLost) return FramerMode::kAbsorb;
  return FramerMode::kParse;
}

Start StreamParser::try_start(const DataChunk& /*chunk*/, std::string_view captured, uint64_t /*total*/) {
  if (captured.empty() || !starts_message(captured)) return StartVerdict::kSkip;
  state_ = State::kIdle;
  return StartVerdict::kBegin;
}

bool StreamParser::absorb(const DataChunk& chunk, std::string_view /*captured*/, uint64_t total) {
  // A reply whose framing was lost takes every chunk until the client sends again (end_lost_message).
  cur_.wire.bytes += total;
  cur_.wire.end_ns = chunk.ts_exit_ns;
  return true;
}

uint64_t StreamParser::skip_uncaptured(uint64_t n) {
  if (state_ != State::kBulk) return 0;
  // Skip the uncaptured part of the bulk string (body and CRLF) by count.
  const uint64_t take = std::min(n, bulk_len_ + 2 - bulk_pos_);
  bulk_pos_ += take;
  cur_.wire.bytes += take;
  cur_.truncated = true;
  if (bulk_pos_ == bulk_len_ + 2) value_done();
  return take;
}

size_t StreamParser::step(std::string_view data, size_t offset) {
  switch (state_) {
    case State::kIdle:
      if (request_side_ && (data[0] == '\r' || data[0] == '\n')) {
        // Empty inline lines between commands are ignored by the server (redis-cli --pipe sends one
        // before its closing ECHO).
        size_t n = 0;
        while (n < data.size() && (data[n] == '\r' || data[n] == '\n')) ++n;
        return n;
      }
      begin_message(offset);
      if (data[0] == '*' || (!request_side_ && is_resp_type(data[0]))) {
        state_ = State::kLine;
        return 0;
      }
      if (request_side_ && std::isalpha(static_cast<unsigned char>(data[0]))) {
        cur_.inline_command = true;
        state_ = State::kLine;
        return 0;
      }
      lose_sync(offset, chunk_->total_bytes - offset, true);
      return data.size();
    case State::kLine: {
      const size_t n = step_line(data);
      if (n == std::string_view::npos) {
        lose_sync(offset, chunk_->total_bytes - offset, true);
        return data.size();
      }
      return n;
    }
    case State::kBulk: {
      const size_t n = step_bulk(data);
      if (n == std::string_view::npos) {
        lose_sync(offset, chunk_->total_bytes - offset, true);
        return data.size();
      }
      return n;
    }
    case State::kAwaitStart:
    case State::kLost:
      break;
  }
  return data.size();
}

void StreamParser::begin_message(size_t offset) {
  cur_ = Message{};
  cur_.wire.start_ns = chunk_->ts_enter_ns;
  cur_.wire.end_ns = chunk_->ts_exit_ns;
  cur_.wire.seq = chunk_->tcp_seq + static_cast<uint32_t>(offset);
  cur_.wire.tid = chunk_->tid;
  in_message_ = true;
  element_kept_ = false;
  stack_.clear();
  line_.clear();
}

// Returns the bytes consumed, or npos when the line is malformed or too long.
size_t StreamParser::step_line(std::string_view data) {
  const size_t nl = data.find('\n');
  const size_t take = nl == std::string_view::npos ? data.size() : nl + 1;
  if (line_.size() + take > limits_.max_line_bytes) return std::string_view::npos;
  line_.append(data.substr(0, take));
  cur_.wire.bytes += take;
  if (nl == std::string_view::npos) return take;
  if (!process_line()) {
    cur_.wire.bytes -= take;
    return std::string_view::npos;
  }
  return take;
}

size_t StreamParser::step_bulk(std::string_view data) {
  const uint64_t left = bulk_len_ + 2 - bulk_pos_;
  const size_t take = static_cast<size_t>(std::min<uint64_t>(left, data.size()));
  if (bulk_pos_ < bulk_len_ && bulk_target_ != kNoTarget) {
    std::string& target =
        bulk_target_ == kTextTarget ? cur_.text : cur_.args[static_cast<size_t>(bulk_target_)];
    const uint64_t body = std::min<uint64_t>(take, bulk_len_ - bulk_pos_);
    const size_t room = limits_.max_arg_bytes > target.size() ? limits_.max_arg_bytes - target.size() : 0;
    target.append(data.substr(0, static_cast<size_t>(std::min<uint64_t>(body, room))));
  }
  for (size_t i = 0; i < take; ++i) {
    const uint64_t at = bulk_pos_ + i;
    if (at < bulk_len_) {
      i += static_cast<size_t>(bulk_len_ - at) - 1;  // jump to the CRLF
      continue;
    }
    if (data[i] != (at == bulk_len_ ? '\r' : '\n')) return std::string_view::npos;
  }
  bulk_pos_ += take;
  cur_.wire.bytes += take;
  if (bulk_pos_ == bulk_len_ + 2) value_done();
  return take;
}

bool StreamParser::process_inline(std::string_view line) {
  // Inline commands: arguments split on spaces, "double" and 'single' quotes group (as redis-cli does).
  cur_.type = RespType::kArray;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) break;
    std::string arg;
    if (line[i] == '"' || line[i] == '\'') {
      const char q = line[i++];
      while (i < line.size() && line[i] != q) {
        if (q == '"' && line[i] == '\\' && i + 1 < line.size()) ++i;
        arg.push_back(line[i++]);
      }
      if (i == line.size()) return false;  // unbalanced quotes: Redis rejects the line too
      ++i;
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') arg.push_back(line[i++]);
    }
    ++cur_.arg_count;
    if (cur_.args.size() < limits_.max_args) cur_.args.push_back(arg.substr(0, limits_.max_arg_bytes));
  }
  if (cur_.args.empty()) return false;
  deliver();
  return true;
}

bool StreamParser::process_line() {
  std::string_view line(line_);
  line.remove_suffix(1);  // \n
  if (cur_.inline_command && top_value()) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool ok = process_inline(line);
    line_.clear();
    return ok;
  }
  if (line.empty() || line.back() != '\r') return false;
  line.remove_suffix(1);
  if (line.empty()) return false;
  const char t = line[0];
  const std::string_view body = line.substr(1);
  if (!is_resp_type(t)) return false;
  // Requests are arrays of bulk strings; anything else there is not a command.
  if (request_side_ && !(t == '*' && top_value()) && t != '$') return false;
  const bool value = top_value();
  const bool element = top_element();
  if (value) cur_.type = static_cast<RespType>(t);
  line_.clear();
  switch (t) {
    case '*':
    case '%':
    case '~':
    case '>':
    case '|': {
      const auto n = parse_count(body);
      if (!n) return false;
      if (*n < 0) {
        if (t != '*') return false;
        if (value) cur_.null = true;
        value_done();
        return true;
      }
      const uint64_t count =
          (t == '%' || t == '|') ? 2 * static_cast<uint64_t>(*n) : static_cast<uint64_t>(*n);
      if (value && t == '|') cur_.type = RespType::kArray;  // the annotated value follows
      if (count == 0) {
        if (t == '|') return true;
        value_done();
        return true;
      }
      if (stack_.size() >= limits_.max_depth) return false;
      stack_.push_back(Frame{count, t == '|'});
      return true;
    }
    case '$':
    case '=':
    case '!': {
      const auto n = parse_count(body);
      if (!n) return false;
      if (*n < 0) {
        if (t != '$') return false;
        if (value) cur_.null = true;
        value_done();
        return true;
      }
      bulk_len_ = static_cast<uint64_t>(*n);
      bulk_pos_ = 0;
      bulk_target_ = kNoTarget;
      if (value) {
        bulk_target_ = kTextTarget;
      } else if (element && cur_.args.size() < limits_.max_args) {
        cur_.args.emplace_back();
        element_kept_ = true;
        bulk_target_ = static_cast<int>(cur_.args.size() - 1);
      }
      state_ = State::kBulk;
      return true;
    }
    case '_':
      if (!body.empty()) return false;
      if (value) cur_.null = true;
      value_done();
      return true;
    default:  // + - : , # (
      if (t == ':' || t == '(') {
        const std::string_view digits = !body.empty() && body[0] == '-' ? body.substr(1) : body;
        if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) return false;
      }
      if (t == '#' && body != "t" && body != "f") return false;
      if (value) cur_.text.assign(body.substr(0, limits_.max_arg_bytes));
      if (element && cur_.args.size() < limits_.max_args) {
        cur_.args.emplace_back(body.substr(0, limits_.max_arg_bytes));
        element_kept_ = true;
      }
      value_done();
      return true;
  }
}

void StreamParser::value_done() {
  state_ = State::kLine;
  while (true) {
    if (stack_.empty()) {
      deliver();
      return;
    }
    // Every top-level element is counted; those that are no string (nested aggregates, nulls) are kept
    // as empty arguments so that positions hold.
    if (top_element()) {
      ++cur_.arg_count;
      if (!element_kept_ && cur_.args.size() < limits_.max_args) cur_.args.emplace_back();
    }
    element_kept_ = false;
    Frame& top = stack_.back();
    if (--top.remaining > 0) return;
    const bool attribute = top.attribute;
    stack_.pop_back();
    if (attribute) return;  // metadata done; the value it annotates follows
  }
}

void StreamParser::deliver() {
  cur_.wire.end_ns = chunk_ != nullptr ? chunk_->ts_exit_ns : cur_.wire.end_ns;
  in_message_ = false;
  state_ = State::kIdle;
  stack_.clear();
  line_.clear();
  listener_.on_message(dir_, std::move(cur_));
  cur_ = Message{};
}

void StreamParser::lose_sync(size_t offset, uint64_t rest, bool parse_error) {
  if (parse_error) ++stats_.parse_errors;
  ++stats_.resyncs;
  const uint64_t unread = rest;
  if (request_side_) {
    // A client writes a command in one syscall: the cut one ends with it.
    if (in_message_ && !cur_.args.empty()) {
      cur_.wire.bytes += unread;
      cur_.truncated = true;
      cur_.framing_lost = true;
      deliver();
    } else {
      stats_.bytes_skipped += unread + (in_message_ ? cur_.wire.bytes : 0);
    }
    in_message_ = false;
    state_ = State::kAwaitStart;
    return;
  }
  // A reply: what follows belongs to it (or to the replies after it) until the client sends again.
  if (!in_message_) {
    begin_message(offset);
  } else if (top_value() && line_.size() > 1 && is_resp_type(line_[0])) {
    // The first line itself was cut (a long error message): keep what was captured of it.
    cur_.type = static_cast<RespType>(line_[0]);
    cur_.text.assign(std::string_view(line_).substr(1, limits_.max_arg_bytes));
  }
  cur_.wire.bytes += unread;
  cur_.wire.end_ns = chunk_->ts_exit_ns;
  cur_.truncated = true;
  cur_.framing_lost = true;
  line_.clear();
  stack_.clear();
  state_ = State::kLost;
}

void StreamParser::end_lost_message() {
  if (state_ != State::kLost) return;
  in_message_ = true;
  const DataChunk* saved = chunk_;
  chunk_ = nullptr;
  deliver();
  chunk_ = saved;
  state_ = State::kAwaitStart;
}

void StreamParser::finish() {
  if (state_ == State::kLost) {
    end_lost_message();
    return;
  }
  if (in_message_ && (!cur_.args.empty() || !request_side_)) {
    cur_.truncated = true;
    cur_.framing_lost = true;
    deliver();
  }
  in_message_ = false;
  state_ = State::kIdle;
}

}  // namespace otelbpf::l7::redis
