#include "protocols/mysql/parse.h"

#include <algorithm>

namespace otelbpf::l7::mysql {
namespace {

uint8_t byte_at(std::string_view s, size_t i) { return static_cast<uint8_t>(s[i]); }

uint32_t le(std::string_view s, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(byte_at(s, at + i)) << (8 * i);
  return v;
}

// NUL-terminated string at the front of `p` (consumed with its NUL); false when no NUL.
bool take_cstring(std::string_view& p, std::string_view* out) {
  const size_t nul = p.find('\0');
  if (nul == std::string_view::npos) return false;
  *out = p.substr(0, nul);
  p.remove_prefix(nul + 1);
  return true;
}

bool is_text_byte(uint8_t c) {
  return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r' || c == '\n' || c >= 0x80;
}
bool is_alpha(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Statement text of COM_QUERY / COM_STMT_PREPARE: printable, beginning (after blanks) with a keyword, an
// opening parenthesis or a comment.
ParseState check_statement_text(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) ++i;
  if (i == text.size()) return text.size() >= 64 ? ParseState::kInvalid : ParseState::kNeedsMoreData;
  const uint8_t first = byte_at(text, i);
  if (!is_alpha(first) && first != '(' && first != '/' && first != '-' && first != '#')
    return ParseState::kInvalid;
  const size_t check = std::min<size_t>(text.size(), 64);
  for (size_t k = i; k < check; ++k)
    if (!is_text_byte(byte_at(text, k))) return ParseState::kInvalid;
  return ParseState::kSuccess;
}

bool is_identifier_text(std::string_view s) {
  for (char c : s)
    if (!is_text_byte(static_cast<uint8_t>(c)) || c == '\r' || c == '\n') return false;
  return true;
}

}  // namespace

const char* command_name(uint8_t command) {
  static constexpr const char* kNames[] = {"SLEEP",
                                           "QUIT",
                                           "INIT_DB",
                                           "QUERY",
                                           "FIELD_LIST",
                                           "CREATE_DB",
                                           "DROP_DB",
                                           "REFRESH",
                                           "SHUTDOWN",
                                           "STATISTICS",
                                           "PROCESS_INFO",
                                           "CONNECT",
                                           "PROCESS_KILL",
                                           "DEBUG",
                                           "PING",
                                           "TIME",
                                           "DELAYED_INSERT",
                                           "CHANGE_USER",
                                           "BINLOG_DUMP",
                                           "TABLE_DUMP",
                                           "CONNECT_OUT",
                                           "REGISTER_SLAVE",
                                           "STMT_PREPARE",
                                           "STMT_EXECUTE",
                                           "STMT_SEND_LONG_DATA",
                                           "STMT_CLOSE",
                                           "STMT_RESET",
                                           "SET_OPTION",
                                           "STMT_FETCH",
                                           "DAEMON",
                                           "BINLOG_DUMP_GTID",
                                           "RESET_CONNECTION"};
  return command < std::size(kNames) ? kNames[command] : nullptr;
}

bool parse_lenenc_int(std::string_view& p, uint64_t* value) {
  if (p.empty()) return false;
  const uint8_t b = byte_at(p, 0);
  size_t n = 0;
  if (b < 0xFB) {
    *value = b;
    p.remove_prefix(1);
    return true;
  }
  if (b == 0xFC)
    n = 2;
  else if (b == 0xFD)
    n = 3;
  else if (b == 0xFE)
    n = 8;
  else
    return false;  // 0xFB is NULL in rows, 0xFF an error
  if (p.size() < 1 + n) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(byte_at(p, 1 + i)) << (8 * i);
  *value = v;
  p.remove_prefix(1 + n);
  return true;
}

ParseState parse_packet_header(std::string_view buf, uint32_t* length, uint8_t* seq) {
  if (buf.size() < kPacketHeaderSize) return ParseState::kNeedsMoreData;
  *length = le(buf, 0, 3);
  *seq = byte_at(buf, 3);
  return ParseState::kSuccess;
}

ParseState parse_greeting(std::string_view p, Greeting* out) {
  if (p.empty()) return ParseState::kNeedsMoreData;
  if (byte_at(p, 0) != 0x0a) return ParseState::kInvalid;
  p.remove_prefix(1);
  std::string_view version;
  if (!take_cstring(p, &version)) return p.size() > 64 ? ParseState::kInvalid : ParseState::kNeedsMoreData;
  if (version.empty() || version.size() > 64 || !is_identifier_text(version)) return ParseState::kInvalid;
  out->server_version.assign(version);
  // connection id (4), auth-plugin-data part 1 (8), filler (1), capabilities low (2)
  if (p.size() < 15) return ParseState::kNeedsMoreData;
  out->connection_id = le(p, 0, 4);
  out->capabilities = le(p, 13, 2);
  // character set (1), status (2), capabilities high (2)
  if (p.size() >= 20) out->capabilities |= le(p, 18, 2) << 16;
  return ParseState::kSuccess;
}

ParseState parse_handshake_response(std::string_view p, HandshakeResponse* out) {
  if (p.size() < 4) return ParseState::kNeedsMoreData;
  out->capabilities = le(p, 0, 4);
  if (!(out->capabilities & kClientProtocol41)) return ParseState::kInvalid;  // 3.x servers: not supported
  // capabilities (4), max packet (4), charset (1), filler (23)
  if (p.size() < 32) return ParseState::kNeedsMoreData;
  if (p.size() == 32) {
    out->ssl_request = (out->capabilities & kClientSsl) != 0;
    return out->ssl_request ? ParseState::kSuccess : ParseState::kNeedsMoreData;
  }
  p.remove_prefix(32);
  std::string_view user;
  if (!take_cstring(p, &user)) return ParseState::kNeedsMoreData;
  out->user.assign(user);
  uint64_t auth_len = 0;
  if (out->capabilities & kClientPluginAuthLenencData) {
    if (!parse_lenenc_int(p, &auth_len)) return ParseState::kNeedsMoreData;
  } else if (out->capabilities & kClientSecureConnection) {
    if (p.empty()) return ParseState::kNeedsMoreData;
    auth_len = byte_at(p, 0);
    p.remove_prefix(1);
  } else {
    std::string_view auth;
    if (!take_cstring(p, &auth)) return ParseState::kNeedsMoreData;
  }
  if (p.size() < auth_len) return ParseState::kNeedsMoreData;
  p.remove_prefix(auth_len);
  if (out->capabilities & kClientConnectWithDb) {
    std::string_view db;
    if (!take_cstring(p, &db)) return ParseState::kNeedsMoreData;
    out->database.assign(db);
  }
  return ParseState::kSuccess;
}

ParseState parse_ok(std::string_view p, OkPacket* out) {
  if (p.empty()) return ParseState::kNeedsMoreData;
  if (byte_at(p, 0) != 0x00 && byte_at(p, 0) != 0xFE) return ParseState::kInvalid;
  p.remove_prefix(1);
  if (!parse_lenenc_int(p, &out->affected_rows) || !parse_lenenc_int(p, &out->last_insert_id))
    return ParseState::kNeedsMoreData;
  if (p.size() < 4) return ParseState::kNeedsMoreData;
  out->status = static_cast<uint16_t>(le(p, 0, 2));
  out->warnings = static_cast<uint16_t>(le(p, 2, 2));
  return ParseState::kSuccess;
}

ParseState parse_err(std::string_view p, ErrPacket* out) {
  if (p.empty()) return ParseState::kNeedsMoreData;
  if (byte_at(p, 0) != 0xFF) return ParseState::kInvalid;
  if (p.size() < 3) return ParseState::kNeedsMoreData;
  out->code = static_cast<uint16_t>(le(p, 1, 2));
  p.remove_prefix(3);
  if (!p.empty() && p[0] == '#') {
    if (p.size() < 6) return ParseState::kNeedsMoreData;
    out->sqlstate.assign(p.substr(1, 5));
    p.remove_prefix(6);
  }
  out->message.assign(p);
  return ParseState::kSuccess;
}

ParseState parse_eof(std::string_view p, uint64_t length, EofPacket* out) {
  if (!is_terminator(p, length)) return p.empty() ? ParseState::kNeedsMoreData : ParseState::kInvalid;
  if (p.size() >= 5) {
    out->warnings = static_cast<uint16_t>(le(p, 1, 2));
    out->status = static_cast<uint16_t>(le(p, 3, 2));
  }
  return ParseState::kSuccess;
}

ParseState parse_prepare_ok(std::string_view p, PrepareOk* out) {
  if (p.empty()) return ParseState::kNeedsMoreData;
  if (byte_at(p, 0) != 0x00) return ParseState::kInvalid;
  if (p.size() < 9) return ParseState::kNeedsMoreData;
  out->statement_id = le(p, 1, 4);
  out->num_columns = static_cast<uint16_t>(le(p, 5, 2));
  out->num_params = static_cast<uint16_t>(le(p, 7, 2));
  if (p.size() >= 12) out->warnings = static_cast<uint16_t>(le(p, 10, 2));
  return ParseState::kSuccess;
}

ParseState parse_command_start(std::string_view buf, uint8_t* command) {
  if (buf.size() >= 3 && le(buf, 0, 3) == 0) return ParseState::kInvalid;
  if (buf.size() >= 4 && byte_at(buf, 3) != 0) return ParseState::kInvalid;
  if (buf.size() < 5) return ParseState::kNeedsMoreData;
  const uint32_t len = le(buf, 0, 3);
  const uint8_t cmd = byte_at(buf, 4);
  *command = cmd;
  const std::string_view body = buf.substr(5);  // captured payload after the command byte
  // A fixed-size command must be whole, and nothing but another command may follow it in the chunk.
  auto fixed = [&](uint32_t size) {
    if (len != size) return ParseState::kInvalid;
    if (buf.size() < kPacketHeaderSize + size) return ParseState::kNeedsMoreData;
    if (buf.size() == kPacketHeaderSize + size) return ParseState::kSuccess;
    uint8_t next = 0;
    return parse_command_start(buf.substr(kPacketHeaderSize + size), &next) == ParseState::kSuccess
               ? ParseState::kSuccess
               : ParseState::kInvalid;
  };
  switch (cmd) {
    case kComQuit:
    case kComPing:
    case kComStatistics:
    case kComResetConnection:
    case kComDebug:
      return fixed(1);
    case kComStmtClose:
    case kComStmtReset:
    case kComProcessKill:
      return fixed(5);
    case kComStmtFetch:
      return fixed(9);
    case kComSetOption: {
      const ParseState s = fixed(3);
      if (s != ParseState::kSuccess) return s;
      return (byte_at(buf, 5) <= 1 && byte_at(buf, 6) == 0) ? s : ParseState::kInvalid;
    }
    case kComInitDb:
    case kComCreateDb:
    case kComDropDb: {
      if (len < 2 || len > 256 + 1) return ParseState::kInvalid;
      const std::string_view name = body.substr(0, len - 1);
      if (!is_identifier_text(name)) return ParseState::kInvalid;
      return name.size() == len - 1 ? ParseState::kSuccess : ParseState::kNeedsMoreData;
    }
    case kComQuery:
    case kComStmtPrepare: {
      if (len < 2) return ParseState::kInvalid;
      std::string_view text = body.substr(0, len - 1);
      // CLIENT_QUERY_ATTRIBUTES (MySQL 8): parameter count 0 and parameter set count 1 precede the text.
      if (cmd == kComQuery && text.size() >= 2 && text[0] == '\0' && text[1] == '\1') text.remove_prefix(2);
      return check_statement_text(text);
    }
    case kComStmtExecute: {
      if (len < 10) return ParseState::kInvalid;
      if (buf.size() < 14) return ParseState::kNeedsMoreData;
      // flags: cursor type bits and MariaDB's PARAMETER_COUNT_AVAILABLE; iteration count is always 1.
      if (byte_at(buf, 9) > 0x0f || le(buf, 10, 4) != 1) return ParseState::kInvalid;
      return ParseState::kSuccess;
    }
    default:
      return ParseState::kInvalid;
  }
}

ParseState parse_greeting_start(std::string_view buf) {
  if (buf.size() >= 4 && byte_at(buf, 3) != 0) return ParseState::kInvalid;
  if (buf.size() >= 5 && byte_at(buf, 4) != 0x0a) return ParseState::kInvalid;
  if (buf.size() >= 6 && !(buf[5] >= '0' && buf[5] <= '9')) return ParseState::kInvalid;
  if (buf.size() < 6) return ParseState::kNeedsMoreData;
  const uint32_t len = le(buf, 0, 3);
  if (len < 20 || len > 1024) return ParseState::kInvalid;
  Greeting g;
  const ParseState s = parse_greeting(buf.substr(4, len), &g);
  // The greeting is short and written at once; a capture that holds its version but not its tail is fine.
  if (s == ParseState::kNeedsMoreData && !g.server_version.empty()) return ParseState::kSuccess;
  return s;
}

bool looks_like_response_start(std::string_view buf) {
  if (buf.size() < 5 || byte_at(buf, 3) != 1) return false;
  const uint32_t len = le(buf, 0, 3);
  const uint8_t first = byte_at(buf, 4);
  if (first == 0x00) return len >= 7 && len < kMaxPacketPayload;
  if (first == 0xFF) return len >= 3 && len < 1024;
  return len == 1 && first >= 1 && first <= 250;
}

// ---- PacketReader ----

PacketReader::PacketReader(Direction dir, Listener& listener, StitcherStats& stats, const Limits& limits)
    : FramerLoop(stats), dir_(dir), listener_(listener), limits_(limits) {}

void PacketReader::reset_packet() {
  cur_ = Packet{};
  header_len_ = 0;
  physical_len_ = 0;
  remaining_ = 0;
  continuing_ = false;
}

void PacketReader::lose_sync() {
  if (state_ == State::kDisabled || state_ == State::kLost) return;
  // A packet whose header was read is handed over as far as it went: a big command continued over
  // several 16 MiB packets is still a command, with its text cut.
  const bool partial = state_ == State::kPayload || continuing_;
  Packet p = std::move(cur_);
  reset_packet();
  state_ = State::kLost;
  ++stats_.resyncs;
  if (partial) {
    p.cut_off = true;
    p.payload_cut = true;
    p.wire.end_ns = chunk_ != nullptr ? chunk_->ts_exit_ns : p.wire.start_ns;
    listener_.on_packet(dir_, p);
  }
  listener_.on_framing_lost(dir_, 0, chunk_ != nullptr ? chunk_->ts_exit_ns : 0);
}

FramerMode PacketReader::mode() const {
  switch (state_) {
    case State::kDisabled:
      return FramerMode::kStopped;
    case State::kLost:
      return FramerMode::kAwaitStart;
    case State::kHeader:
    case State::kPayload:
      break;
  }
  return FramerMode::kParse;
}

Start PacketReader::try_start(const DataChunk& /*chunk*/, std::string_view captured, uint64_t /*total*/) {
  if (captured.empty() || !listener_.can_resync(dir_, captured)) return StartVerdict::kSkip;
  state_ = State::kHeader;
  return StartVerdict::kBegin;
}

size_t PacketReader::step(std::string_view data, uint64_t pos) {
  if (state_ == State::kHeader) {
    if (header_len_ == 0 && !continuing_) {
      cur_ = Packet{};
      cur_.wire.start_ns = chunk_->ts_enter_ns;
      cur_.wire.seq = chunk_->tcp_seq + static_cast<uint32_t>(pos);
      cur_.wire.tid = chunk_->tid;
      cur_.at_chunk_start = pos == 0;
    }
    const size_t n = std::min(data.size(), kPacketHeaderSize - header_len_);
    std::copy_n(data.data(), n, header_ + header_len_);
    header_len_ += n;
    if (header_len_ < kPacketHeaderSize) return n;
    const std::string_view h(header_, kPacketHeaderSize);
    physical_len_ = le(h, 0, 3);
    if (!continuing_) cur_.seq = byte_at(h, 3);
    cur_.last_seq = byte_at(h, 3);
    header_len_ = 0;
    cur_.wire.bytes += kPacketHeaderSize;
    cur_.length += physical_len_;
    remaining_ = physical_len_;
    state_ = State::kPayload;
    if (remaining_ == 0) finish_physical(pos + n, chunk_bytes());
    return n;
  }
  // kPayload
  const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), remaining_));
  const size_t keep =
      std::min(n, limits_.max_payload_keep - std::min(limits_.max_payload_keep, cur_.payload.size()));
  // Bytes after a capture gap inside the payload are not contiguous with what was kept: stop keeping.
  if (!cur_.payload_cut) cur_.payload.append(data.data(), keep);
  if (keep < n) cur_.payload_cut = true;
  remaining_ -= n;
  cur_.wire.bytes += n;
  if (remaining_ == 0) finish_physical(pos + n, chunk_bytes());
  return n;
}

uint64_t PacketReader::skip_uncaptured(uint64_t n) {
  if (state_ != State::kPayload) return 0;
  const uint64_t k = std::min(n, remaining_);
  remaining_ -= k;
  cur_.wire.bytes += k;
  if (k > 0) cur_.payload_cut = true;
  if (remaining_ == 0) finish_physical(chunk_bytes() - (n - k), chunk_bytes());
  return k;
}

void PacketReader::lost_in_gap(uint64_t /*pos*/, uint64_t rest) {
  // A packet header lies in the bytes the capture did not keep.
  lose_sync();
  stats_.bytes_skipped += rest;
  listener_.on_framing_lost(dir_, rest, chunk_->ts_exit_ns);
}

void PacketReader::finish_physical(uint64_t end_pos, uint64_t total) {
  state_ = State::kHeader;
  if (physical_len_ == kMaxPacketPayload) {
    continuing_ = true;  // the payload goes on in the next physical packet
    return;
  }
  continuing_ = false;
  cur_.wire.end_ns = chunk_->ts_exit_ns;
  cur_.ends_chunk = end_pos >= total;
  Packet p = std::move(cur_);
  cur_ = Packet{};
  listener_.on_packet(dir_, p);
}

}  // namespace otelbpf::l7::mysql
