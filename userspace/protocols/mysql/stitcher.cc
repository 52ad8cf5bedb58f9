#include "protocols/mysql/stitcher.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>

#include "protocols/common/obfuscate.h"
#include "protocols/mysql/sql.h"

namespace otelbpf::l7::mysql {
namespace {

constexpr size_t kMaxOperation = 64;
constexpr size_t kMaxCollection = 128;
constexpr size_t kMaxErrorMessage = 1024;
constexpr uint16_t kProgressReportCode = 0xFFFF;

uint32_t le32(std::string_view s) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(s[i])) << (8 * i);
  return v;
}

// At most `max` bytes, cut on a UTF-8 boundary, with invalid bytes replaced: attribute values are
// UTF-8 strings in OTLP, and statement text may be cut by the capture anywhere.
std::string utf8_bounded(std::string_view s, size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = n > 0 && i + n <= s.size();
    for (size_t k = 1; valid && k < n; ++k) valid = (static_cast<uint8_t>(s[i + k]) & 0xC0) == 0x80;
    if (!valid) n = 1;
    if (out.size() + n > max) break;
    if (valid)
      out.append(s.substr(i, n));
    else
      out += '?';
    i += n;
  }
  return out;
}

bool has_response(uint8_t command) {
  return command != kComQuit && command != kComStmtClose && command != kComStmtSendLongData;
}

}  // namespace

std::string next_transaction_id() {
  static const uint32_t prefix = std::random_device{}();
  static std::atomic<uint64_t> counter{0};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%llu", prefix, static_cast<unsigned long long>(++counter));
  return buf;
}

L7Record make_record(const Request& req, const Response* resp, Role role, bool missing,
                     const Limits& limits) {
  L7Record r = record_from_wire("mysql", role, req.wire, resp != nullptr ? &resp->wire : nullptr);
  r.response_missing = missing;  // a partial response (connection lost mid-result) is still missing

  Attributes& a = r.attributes;
  add_text_attribute(a, "db.system.name", "mysql");
  add_text_attribute(a, "db.system", "mysql");
  const char* cmd_name = command_name(req.command);
  const std::string command = cmd_name ? cmd_name : "UNKNOWN";
  a.emplace_back("otelbpf.mysql.command", "COM_" + command);

  const bool statement = req.command == kComQuery || req.command == kComStmtPrepare ||
                         (req.command == kComStmtExecute && !req.text.empty());
  std::string operation;
  std::string collection;
  if (statement) {
    operation = utf8_bounded(sql_operation(req.text), kMaxOperation);
    collection = utf8_bounded(sql_collection(req.text, operation), kMaxCollection);
    a.emplace_back("db.query.text",
                   utf8_bounded(obfuscate_sql(req.text, SqlDialect::kMysql), limits.max_query_text));
  }
  if (req.command == kComStmtPrepare) {
    operation = "PREPARE";
    collection.clear();
  } else if (operation.empty()) {
    operation = req.command == kComStmtExecute ? "EXECUTE" : command;
  }
  a.emplace_back("db.operation.name", operation);
  if (!collection.empty()) a.emplace_back("db.collection.name", collection);
  if (!req.db_namespace.empty())
    a.emplace_back("db.namespace", utf8_bounded(req.db_namespace, kMaxCollection));
  if (req.has_statement_id) a.emplace_back("otelbpf.db.statement_id", static_cast<int64_t>(req.statement_id));
  if (!req.transaction_id.empty()) a.emplace_back("otelbpf.db.transaction_id", req.transaction_id);

  bool truncated = req.text_cut;
  if (resp != nullptr) {
    truncated = truncated || resp->truncated;
    if (resp->prepare_ok) {
      a.emplace_back("otelbpf.db.statement_id", static_cast<int64_t>(resp->prepare.statement_id));
      a.emplace_back("otelbpf.db.params", static_cast<int64_t>(resp->prepare.num_params));
    }
    if (resp->ok) {
      a.emplace_back("otelbpf.db.affected_rows", static_cast<int64_t>(resp->ok_packet.affected_rows));
      if (resp->ok_packet.last_insert_id != 0)
        a.emplace_back("otelbpf.db.last_insert_id", static_cast<int64_t>(resp->ok_packet.last_insert_id));
    }
    // A result set cut by the capture was counted only in part: no row count rather than a wrong one.
    if (resp->result_set && !resp->truncated)
      a.emplace_back("db.response.returned_rows", static_cast<int64_t>(resp->rows));
    if (resp->error) {
      const std::string code = std::to_string(resp->err.code);
      a.emplace_back("db.response.status_code", code);
      a.emplace_back("error.type", code);
      if (!resp->err.sqlstate.empty())
        a.emplace_back("otelbpf.db.sqlstate", utf8_bounded(resp->err.sqlstate, 5));
      r.error = true;
      r.status_message = utf8_bounded(resp->err.message, kMaxErrorMessage);
      if (r.status_message.empty()) r.status_message = "MySQL error " + code;
    }
  }
  if (truncated) a.emplace_back("otelbpf.l7.truncated", true);

  r.span_name = operation;
  if (!collection.empty()) r.span_name += " " + collection;
  return r;
}

Stitcher::Stitcher(const Limits& limits)
    : limits_(limits),
      egress_(Direction::kEgress, *this, stats_, limits_),
      ingress_(Direction::kIngress, *this, stats_, limits_) {}

void Stitcher::on_chunk(const DataChunk& c, std::vector<L7Record>& out) {
  if (phase_ == Phase::kOff) return;
  if (phase_ == Phase::kUnknown) {
    // A first message split over tiny chunks (packet path, byte-wise writes) is put together until its
    // first bytes tell who is who.
    const bool whole = c.captured.size() == c.total_bytes;
    if (!probe_.empty() && (c.direction != probe_chunk_.direction || !whole ||
                            probe_.size() + c.captured.size() > kMaxProbeBytes)) {
      stats_.bytes_skipped += probe_.size();
      probe_.clear();
    }
    if (probe_.empty()) probe_chunk_ = c;
    probe_.append(c.captured);
    const ParseState s = detect_role(probe_, c.direction);
    if (s != ParseState::kSuccess) {
      if (s == ParseState::kInvalid || !whole) {
        stats_.bytes_skipped += std::max<uint64_t>(c.total_bytes, probe_.size());
        probe_.clear();
      }
      return;
    }
    DataChunk merged = probe_chunk_;
    merged.captured = probe_;
    merged.total_bytes = probe_.size() + (c.total_bytes - c.captured.size());
    merged.ts_exit_ns = c.ts_exit_ns;
    feed(merged, out);
    probe_.clear();
    return;
  }
  feed(c, out);
}

void Stitcher::feed(const DataChunk& c, std::vector<L7Record>& out) {
  const uint64_t total = std::max<uint64_t>(c.total_bytes, c.captured.size());
  out_ = &out;
  // A response whose framing was lost goes on until the next command: its bytes are still its own.
  PacketReader& rd = reader(c.direction);
  if (c.direction != client_dir_ && rd.lost() && !pending_.empty() && pending_.front().response.started &&
      rstate_ == ResponseState::kUntilNextCommand) {
    Response& resp = pending_.front().response;
    resp.wire.bytes += total;
    resp.wire.end_ns = std::max(resp.wire.end_ns, c.ts_exit_ns);
  }
  rd.feed(c);
  out_ = nullptr;
}

void Stitcher::on_close(uint64_t ts_ns, std::vector<L7Record>& out) {
  out_ = &out;
  while (!pending_.empty()) {
    Exchange& front = pending_.front();
    if (front.response.started && rstate_ != ResponseState::kUntilNextCommand)
      front.response.truncated = true;
    finish_front(!front.response.started, ts_ns);
  }
  out_ = nullptr;
}

ParseState Stitcher::detect_role(std::string_view first_bytes, Direction dir) {
  uint8_t command = 0;
  const ParseState greeting = parse_greeting_start(first_bytes);
  const ParseState cmd = parse_command_start(first_bytes, &command);
  if (greeting == ParseState::kSuccess) {
    client_dir_ = opposite(dir);
    phase_ = Phase::kHandshake;
  } else if (cmd == ParseState::kSuccess) {
    client_dir_ = dir;
    phase_ = Phase::kCommand;
  } else if (looks_like_response_start(first_bytes)) {
    client_dir_ = opposite(dir);
    phase_ = Phase::kCommand;
  } else {
    const bool more = greeting == ParseState::kNeedsMoreData || cmd == ParseState::kNeedsMoreData;
    return more ? ParseState::kNeedsMoreData : ParseState::kInvalid;
  }
  role_ = client_dir_ == Direction::kEgress ? Role::kClient : Role::kServer;
  return ParseState::kSuccess;
}

void Stitcher::disable() {
  phase_ = Phase::kOff;
  egress_.disable();
  ingress_.disable();
  pending_.clear();
}

void Stitcher::on_packet(Direction dir, Packet& p) {
  if (dir == client_dir_)
    on_client_packet(p);
  else
    on_server_packet(p);
}

void Stitcher::on_framing_lost(Direction dir, uint64_t skipped_bytes, uint64_t ts_ns) {
  if (dir == client_dir_) {
    if (!pending_.empty()) pending_.back().request.wire.bytes += skipped_bytes;
    return;
  }
  if (!pending_.empty() && pending_.front().response.started) {
    Response& r = pending_.front().response;
    r.truncated = true;
    r.wire.bytes += skipped_bytes;
    r.wire.end_ns = std::max(r.wire.end_ns, ts_ns);
    rstate_ = ResponseState::kUntilNextCommand;
  }
}

bool Stitcher::can_resync(Direction dir, std::string_view first_bytes) {
  if (dir == client_dir_) {
    uint8_t command = 0;
    if (parse_command_start(first_bytes, &command) != ParseState::kSuccess) return false;
    phase_ = Phase::kCommand;  // framing lost during the handshake: the commands have begun
    return true;
  }
  // A response begins with the first server chunk after its command was written.
  return !pending_.empty() && !pending_.front().response.started;
}

void Stitcher::on_client_packet(Packet& p) {
  if (phase_ == Phase::kHandshake) return on_handshake_client_packet(p);
  if (phase_ != Phase::kCommand) return;
  if (p.seq != 0) {
    // The exchange goes on: LOCAL INFILE contents, COM_CHANGE_USER auth data.
    if (!pending_.empty()) pending_.back().request.wire.bytes += p.wire.bytes;
    return;
  }
  begin_command(p);
}

void Stitcher::on_handshake_client_packet(const Packet& p) {
  if (handshake_response_seen_) return;  // auth switch / more-data answers
  handshake_response_seen_ = true;
  HandshakeResponse hr;
  const ParseState s = parse_handshake_response(p.payload, &hr);
  if (s == ParseState::kInvalid) {
    ++stats_.parse_errors;
    return;
  }
  if (p.payload.size() < 4) return;
  // TLS or compression from here on: the bytes are not classic packets any more.
  if (hr.ssl_request || (hr.capabilities & kClientCompress)) return disable();
  // The client asks only for what the greeting offered, so its flags are the ones in effect.
  deprecate_eof_ = (hr.capabilities & kClientDeprecateEof) ? Tristate::kYes : Tristate::kNo;
  query_attributes_ = (hr.capabilities & kClientQueryAttributes) != 0;
  if (s == ParseState::kSuccess && !hr.database.empty()) namespace_ = hr.database;
}

void Stitcher::on_handshake_server_packet(const Packet& p) {
  if (p.payload.empty()) return;
  const auto b = static_cast<uint8_t>(p.payload[0]);
  if (!handshake_response_seen_) return;  // the greeting
  // 0xFE auth switch and 0x01 more data go on; OK or ERR ends the connection phase.
  if (b == 0x00 || b == 0xFF) phase_ = Phase::kCommand;
}

void Stitcher::begin_command(const Packet& p) {
  if (p.payload.empty()) {
    ++stats_.parse_errors;
    return;
  }
  // A new command means the client has the previous answer whole (no pipelining in the classic protocol).
  if (!pending_.empty() && pending_.front().response.started) {
    if (rstate_ != ResponseState::kUntilNextCommand) pending_.front().response.truncated = true;
    finish_front(false, 0);
  }
  Request req;
  req.command = static_cast<uint8_t>(p.payload[0]);
  req.wire = p.wire;
  req.last_seq = p.last_seq;
  req.db_namespace = namespace_;
  std::string_view body = std::string_view(p.payload).substr(1);
  switch (req.command) {
    case kComQuery:
      // CLIENT_QUERY_ATTRIBUTES without attributes: parameter count 0, parameter set count 1.
      if (body.size() >= 2 && body[0] == '\0' && body[1] == '\1') body.remove_prefix(2);
      req.text.assign(body);
      req.text_cut = p.payload_cut;
      req.schema = sql_use_database(req.text);
      if (!req.schema.empty()) req.db_namespace = req.schema;
      apply_transaction(req);
      break;
    case kComStmtPrepare:
      req.text.assign(body);
      req.text_cut = p.payload_cut;
      break;
    case kComStmtExecute:
    case kComStmtClose:
    case kComStmtReset:
    case kComStmtFetch:
    case kComStmtSendLongData:
      if (body.size() >= 4) {
        req.has_statement_id = true;
        req.statement_id = le32(body);
      }
      if (req.command == kComStmtExecute && req.has_statement_id) {
        if (auto it = statements_.find(req.statement_id); it != statements_.end()) req.text = it->second;
        apply_transaction(req);
      }
      if (req.command == kComStmtClose && req.has_statement_id) statements_.erase(req.statement_id);
      break;
    case kComInitDb:
      req.schema.assign(body);
      req.db_namespace = req.schema;
      break;
    default:
      break;
  }
  if (!has_response(req.command)) {
    Exchange ex{std::move(req), {}};
    emit(ex, false, false, ex.request.wire.end_ns);
    if (ex.request.command == kComQuit) phase_ = Phase::kOff;
    return;
  }
  if (pending_.empty()) {
    rstate_ = ResponseState::kFirst;
    remaining_ = 0;
  }
  pending_.push_back(Exchange{std::move(req), {}});
  if (pending_.size() > limits_.max_pending_requests) {
    ++stats_.requests_evicted;
    finish_front(true, pending_.front().request.wire.end_ns);
  }
}

void Stitcher::apply_transaction(Request& req) {
  switch (sql_transaction_effect(req.text)) {
    case TxnEffect::kBegin:  // an open transaction is committed implicitly
      transaction_id_ = next_transaction_id();
      req.transaction_id = transaction_id_;
      break;
    case TxnEffect::kEnd:
      req.transaction_id = std::move(transaction_id_);
      transaction_id_.clear();
      break;
    case TxnEffect::kAutocommitOff:
      autocommit_off_ = true;
      if (transaction_id_.empty()) transaction_id_ = next_transaction_id();
      req.transaction_id = transaction_id_;
      break;
    case TxnEffect::kAutocommitOn:  // commits what is open
      autocommit_off_ = false;
      req.transaction_id = std::move(transaction_id_);
      transaction_id_.clear();
      break;
    case TxnEffect::kNone:
      if (transaction_id_.empty() && autocommit_off_) transaction_id_ = next_transaction_id();
      req.transaction_id = transaction_id_;
      break;
  }
}

void Stitcher::on_server_packet(Packet& p) {
  if (phase_ == Phase::kHandshake) return on_handshake_server_packet(p);
  if (phase_ != Phase::kCommand) return;
  if (pending_.empty()) {
    if (p.at_chunk_start) ++stats_.unmatched_responses;
    return;
  }
  Exchange& ex = pending_.front();
  Response& r = ex.response;
  if (!r.started) {
    // Bytes that had all arrived before the command was written cannot answer it.
    if (p.wire.end_ns < ex.request.wire.start_ns) {
      if (p.at_chunk_start) ++stats_.unmatched_responses;
      return;
    }
    r.started = true;
    r.wire = p.wire;
    r.wire.bytes = 0;
    rstate_ = ResponseState::kFirst;
  }
  r.wire.bytes += p.wire.bytes;
  r.wire.end_ns = std::max(r.wire.end_ns, p.wire.end_ns);
  if (advance_response(ex, p)) finish_front(false, 0);
}

bool Stitcher::after_terminator(Exchange& ex, std::string_view payload, uint64_t length) {
  uint16_t status = 0;
  if (is_classic_eof(payload, length)) {
    EofPacket eof;
    if (parse_eof(payload, length, &eof) == ParseState::kSuccess) status = eof.status;
  } else {
    OkPacket ok;
    if (parse_ok(payload, &ok) == ParseState::kSuccess) status = ok.status;
  }
  if (status & kStatusMoreResultsExist) {
    rstate_ = ResponseState::kFirst;
    return false;
  }
  return true;
}

// After the parameter definitions of a PREPARE_OK answer: its column definitions, or the end.
bool Stitcher::prepare_columns(Exchange& ex) {
  if (ex.response.prepare.num_columns == 0) return true;
  remaining_ = ex.response.prepare.num_columns;
  rstate_ = ResponseState::kPrepareColumns;
  return false;
}

// Whether an EOF follows a block of definitions: unless CLIENT_DEPRECATE_EOF. When that is unknown
// (connection picked up mid-way), the last block ending the server's write ends the answer.
bool Stitcher::eof_follows(const Packet& last_def, bool last_block) const {
  if (deprecate_eof_ == Tristate::kYes) return false;
  if (deprecate_eof_ == Tristate::kNo) return true;
  return !(last_block && last_def.ends_chunk);
}

bool Stitcher::advance_response(Exchange& ex, const Packet& p) {
  if (p.payload.empty()) {
    if (p.length > 0) {  // not captured at all: its meaning is unknown
      ex.response.truncated = true;
      rstate_ = ResponseState::kUntilNextCommand;
    }
    return false;
  }
  switch (rstate_) {
    case ResponseState::kFirst:
      return first_response_packet(ex, p);
    case ResponseState::kColumnDefs:
    case ResponseState::kMaybeColumnsEof:
    case ResponseState::kRows:
      return result_set_packet(ex, p);
    case ResponseState::kPrepareParams:
    case ResponseState::kPrepareColumns:
    case ResponseState::kMaybeParamsEof:
    case ResponseState::kMaybePrepareEof:
      return prepare_response_packet(ex, p);
    case ResponseState::kDefsUntilEof:
    case ResponseState::kAuth:
      return other_response_packet(ex.response, p);
    case ResponseState::kUntilNextCommand:
      return false;
  }
  return false;
}

bool Stitcher::first_response_packet(Exchange& ex, const Packet& p) {
  Response& r = ex.response;
  const std::string_view pl = p.payload;
  const auto b = static_cast<uint8_t>(pl[0]);
  if (b == 0xFF) {
    ErrPacket e;
    if (parse_err(pl, &e) == ParseState::kInvalid) ++stats_.parse_errors;
    if (e.code == kProgressReportCode) return false;  // MariaDB progress report: the answer follows
    r.err = std::move(e);
    r.error = true;
    return true;
  }
  if (const std::optional<bool> done = first_packet_for_command(ex, p)) return *done;
  if (b == 0x00) {
    OkPacket ok;
    if (parse_ok(pl, &ok) != ParseState::kSuccess) ++stats_.parse_errors;
    r.ok = true;
    r.ok_packet.affected_rows += ok.affected_rows;
    if (ok.last_insert_id != 0) r.ok_packet.last_insert_id = ok.last_insert_id;
    r.ok_packet.status = ok.status;
    return (ok.status & kStatusMoreResultsExist) == 0;
  }
  if (is_terminator(pl, p.length)) return after_terminator(ex, pl, p.length);  // EOF answer (old servers)
  if (b == 0xFB && ex.request.command == kComQuery) return false;  // LOCAL INFILE: the file, then OK or ERR
  return result_set_header(r, ex.request.command, pl);
}

// The commands whose first answer packet is not the generic OK / EOF / result set; nullopt for the rest.
std::optional<bool> Stitcher::first_packet_for_command(Exchange& ex, const Packet& p) {
  Response& r = ex.response;
  const std::string_view pl = p.payload;
  const auto b = static_cast<uint8_t>(pl[0]);
  switch (ex.request.command) {
    case kComStatistics:
      return true;
    case kComStmtPrepare:
      if (b == 0x00 && parse_prepare_ok(pl, &r.prepare) == ParseState::kSuccess) {
        r.prepare_ok = true;
        if (statements_.size() >= limits_.max_statements && !statements_.count(r.prepare.statement_id))
          statements_.erase(statements_.begin());
        statements_[r.prepare.statement_id] = ex.request.text;
        if (r.prepare.num_params > 0) {
          remaining_ = r.prepare.num_params;
          rstate_ = ResponseState::kPrepareParams;
          return false;
        }
        return prepare_columns(ex);
      }
      ++stats_.parse_errors;
      rstate_ = ResponseState::kUntilNextCommand;
      return false;
    case kComChangeUser:
      if (b == 0x00) {
        r.ok = parse_ok(pl, &r.ok_packet) == ParseState::kSuccess;
        return true;
      }
      rstate_ = ResponseState::kAuth;
      return false;
    case kComFieldList:
      if (is_terminator(pl, p.length)) return true;
      rstate_ = ResponseState::kDefsUntilEof;
      return false;
    case kComStmtFetch:
      if (is_terminator(pl, p.length)) return after_terminator(ex, pl, p.length);
      r.result_set = true;
      ++r.rows;
      rstate_ = ResponseState::kRows;
      return false;
    default:
      return std::nullopt;
  }
}

// A result set's first packet: its column count (and, with MARIADB_CLIENT_CACHE_METADATA, whether the
// column definitions follow).
bool Stitcher::result_set_header(Response& r, uint8_t command, std::string_view payload) {
  uint64_t columns = 0;
  std::string_view q = payload;
  if (command == kComQuery || command == kComStmtExecute) {
    if (parse_lenenc_int(q, &columns) && columns > 0 &&
        (q.empty() || (q.size() == 1 && (q[0] == 0 || q[0] == 1)))) {
      r.result_set = true;
      r.columns = columns;
      remaining_ = columns;
      rstate_ = ResponseState::kColumnDefs;
      if (q.size() == 1 && q[0] == 0) {
        remaining_ = 0;
        rstate_ = deprecate_eof_ == Tristate::kYes ? ResponseState::kRows : ResponseState::kMaybeColumnsEof;
      }
      return false;
    }
    ++stats_.parse_errors;
  }
  rstate_ = ResponseState::kUntilNextCommand;  // an answer of a shape not followed here
  return false;
}

bool Stitcher::result_set_packet(Exchange& ex, const Packet& p) {
  Response& r = ex.response;
  const std::string_view pl = p.payload;
  switch (rstate_) {
    case ResponseState::kColumnDefs:
      if (--remaining_ == 0)
        rstate_ = deprecate_eof_ == Tristate::kYes ? ResponseState::kRows : ResponseState::kMaybeColumnsEof;
      return false;
    case ResponseState::kMaybeColumnsEof:
      if (is_classic_eof(pl, p.length)) {
        if (deprecate_eof_ == Tristate::kUnknown) deprecate_eof_ = Tristate::kNo;
        EofPacket eof;
        parse_eof(pl, p.length, &eof);
        rstate_ = ResponseState::kRows;
        // A cursor was opened (COM_STMT_EXECUTE with a cursor flag): rows come with COM_STMT_FETCH.
        return (eof.status & kStatusCursorExists) != 0;
      }
      if (deprecate_eof_ == Tristate::kUnknown) deprecate_eof_ = Tristate::kYes;
      rstate_ = ResponseState::kRows;
      break;  // the packet is the first row
    default:
      break;
  }
  if (static_cast<uint8_t>(pl[0]) ==
      0xFF) {  // an error while the rows were produced (a row never starts with 0xFF)
    parse_err(pl, &r.err);
    r.error = true;
    return true;
  }
  if (is_terminator(pl, p.length)) return after_terminator(ex, pl, p.length);
  ++r.rows;
  return false;
}

// COM_STMT_PREPARE's answer after its OK: parameter definitions, then column definitions, each block
// followed by an EOF unless the session deprecated it.
bool Stitcher::prepare_response_packet(Exchange& ex, const Packet& p) {
  const std::string_view pl = p.payload;
  switch (rstate_) {
    case ResponseState::kPrepareParams:
      if (--remaining_ > 0) return false;
      if (eof_follows(p, ex.response.prepare.num_columns == 0)) {
        rstate_ = ResponseState::kMaybeParamsEof;
        return false;
      }
      return prepare_columns(ex);
    case ResponseState::kPrepareColumns:
      if (--remaining_ > 0) return false;
      if (eof_follows(p, true)) {
        rstate_ = ResponseState::kMaybePrepareEof;
        return false;
      }
      return true;
    case ResponseState::kMaybeParamsEof:
      if (is_classic_eof(pl, p.length)) {
        if (deprecate_eof_ == Tristate::kUnknown) deprecate_eof_ = Tristate::kNo;
        return prepare_columns(ex);
      }
      if (deprecate_eof_ == Tristate::kUnknown) deprecate_eof_ = Tristate::kYes;
      if (prepare_columns(ex)) return true;
      return advance_response(ex, p);  // it is the first column definition
    case ResponseState::kMaybePrepareEof:
      if (is_classic_eof(pl, p.length)) {
        if (deprecate_eof_ == Tristate::kUnknown) deprecate_eof_ = Tristate::kNo;
      } else if (deprecate_eof_ == Tristate::kUnknown) {
        deprecate_eof_ = Tristate::kYes;
      }
      return true;
    default:
      return false;
  }
}

// COM_FIELD_LIST's definitions up to their EOF, and COM_CHANGE_USER's authentication exchange.
bool Stitcher::other_response_packet(Response& r, const Packet& p) {
  const std::string_view pl = p.payload;
  const auto b = static_cast<uint8_t>(pl[0]);
  if (b == 0xFF) {
    parse_err(pl, &r.err);
    r.error = true;
    return true;
  }
  if (rstate_ == ResponseState::kDefsUntilEof) return is_terminator(pl, p.length);
  if (b == 0x00) {  // kAuth
    r.ok = parse_ok(pl, &r.ok_packet) == ParseState::kSuccess;
    return true;
  }
  return false;
}

void Stitcher::finish_front(bool missing, uint64_t end_ns) {
  Exchange ex = std::move(pending_.front());
  pending_.pop_front();
  rstate_ = ResponseState::kFirst;
  remaining_ = 0;
  if (ex.response.started) {
    if (ex.request.command == kComInitDb && ex.response.ok && !ex.response.error)
      namespace_ = ex.request.schema;
    if (ex.request.command == kComQuery && !ex.request.schema.empty() && ex.response.ok && !ex.response.error)
      namespace_ = ex.request.schema;
  }
  emit(ex, ex.response.started, missing && !ex.response.started, end_ns);
}

void Stitcher::emit(const Exchange& ex, bool with_response, bool missing, uint64_t end_ns) {
  L7Record r = make_record(ex.request, with_response ? &ex.response : nullptr, role_, missing, limits_);
  if (!with_response) r.end_ns = std::max(end_ns, ex.request.wire.end_ns);
  // A command without an answer (COM_QUIT, COM_STMT_CLOSE) has no response sequence number; the one just
  // past the command is the same at both ends, so the client and server spans still pair (the TCP rule,
  // docs/design.md, Linking, wants both).
  if (!with_response && !missing && r.req_seq != 0)
    r.resp_seq = r.req_seq + static_cast<uint32_t>(ex.request.wire.bytes);
  r.end_ns = std::max(r.end_ns, r.start_ns);
  ++stats_.records;
  if (out_ != nullptr) out_->push_back(std::move(r));
}

}  // namespace otelbpf::l7::mysql
