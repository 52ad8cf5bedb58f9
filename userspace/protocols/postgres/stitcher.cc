#include "protocols/postgres/stitcher.h"

#include <algorithm>
#include <cstdio>

#include "protocols/common/obfuscate.h"
#include "protocols/common/text.h"

namespace otelbpf::l7::postgres {
namespace {

constexpr size_t kMaxOperationName = 64;

bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// "INSERT 0 1" -> "INSERT", "SELECT 3" -> "SELECT", "CREATE TABLE" -> "CREATE TABLE".
std::string operation_of_tag(std::string_view tag) {
  while (!tag.empty()) {
    const size_t sp = tag.rfind(' ');
    const std::string_view last = sp == std::string_view::npos ? tag : tag.substr(sp + 1);
    if (!parse_decimal(last) || sp == std::string_view::npos) break;
    tag = tag.substr(0, sp);
  }
  return std::string(tag.substr(0, kMaxOperationName));
}

// The row count a tag reports (its last number), if any.
std::optional<uint64_t> rows_of_tag(std::string_view tag) {
  const size_t sp = tag.rfind(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  return parse_decimal(tag.substr(sp + 1));
}

// The first keyword of a statement, upper-cased, past whitespace, comments and parentheses.
std::string operation_of_sql(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(') {
      ++i;
    } else if (sql.substr(i, 2) == "--") {
      const size_t nl = sql.find('\n', i);
      i = nl == std::string_view::npos ? sql.size() : nl + 1;
    } else if (sql.substr(i, 2) == "/*") {
      const size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
    } else {
      break;
    }
  }
  std::string op;
  while (i < sql.size() && is_alpha(sql[i]) && op.size() < kMaxOperationName) {
    op.push_back(static_cast<char>(sql[i] >= 'a' ? sql[i] - 'a' + 'A' : sql[i]));
    ++i;
  }
  return op;
}

const char* transaction_state_name(char status) {
  switch (status) {
    case 'I':
      return "idle";
    case 'T':
      return "in_transaction";
    case 'E':
      return "failed";
    default:
      return nullptr;
  }
}

bool in_block(char status) { return status == 'T' || status == 'E'; }

}  // namespace

L7Record make_record(const Exchange& ex, Role role, const std::string& database) {
  L7Record r = record_from_wire("postgresql", role, ex.request, ex.response_started ? &ex.response : nullptr);
  // A batch without Execute prepares, describes or closes; one whose Execute the capture lost still has
  // the text of its Parse.
  const bool no_execute = ex.kind == Exchange::Kind::kExtended && ex.executes == 0;
  const std::string& sql = no_execute ? ex.parsed_query : ex.query;
  std::string op;
  if (ex.kind == Exchange::Kind::kFunctionCall) {
    op = "FUNCTION CALL";
  } else if (!ex.tags.empty()) {
    op = operation_of_tag(ex.tags.front());
  } else if (no_execute && !ex.truncated) {
    op = !ex.parsed_query.empty() ? "PREPARE" : ex.closes > 0 ? "CLOSE" : "DESCRIBE";
  } else {
    op = operation_of_sql(sql);
  }
  r.span_name = op.empty() ? std::string("postgresql") : op;
  Attributes& a = r.attributes;
  add_text_attribute(a, "db.system.name", "postgresql");
  add_text_attribute(a, "db.system", "postgresql");
  if (!op.empty()) a.emplace_back("db.operation.name", op);
  if (!sql.empty()) a.emplace_back("db.query.text", obfuscate_sql(sql, SqlDialect::kPostgres));
  if (!database.empty()) a.emplace_back("db.namespace", database);
  if (ex.tag_count > 1)
    a.emplace_back("db.operation.batch.size", static_cast<int64_t>(ex.tag_count));
  else if (ex.executes > 1)
    a.emplace_back("db.operation.batch.size", static_cast<int64_t>(ex.executes));
  if (!ex.tags.empty()) {
    const std::string& tag = ex.tags.back();
    const std::string tag_op = operation_of_tag(tag);
    if (const auto rows = rows_of_tag(tag)) {
      if (tag_op == "SELECT" || tag_op == "FETCH" || tag_op == "MOVE") {
        a.emplace_back("db.response.returned_rows", static_cast<int64_t>(*rows));
      } else {
        a.emplace_back("otelbpf.db.affected_rows", static_cast<int64_t>(*rows));
      }
    }
  }
  if (ex.error) {
    r.error = true;
    r.status_message = ex.error_fields.message;
    if (!ex.error_fields.code.empty()) {
      a.emplace_back("db.response.status_code", ex.error_fields.code);
      a.emplace_back("error.type", ex.error_fields.code);
    } else {
      add_text_attribute(a, "error.type", "_OTHER");
    }
    if (!ex.error_fields.severity.empty())
      a.emplace_back("otelbpf.db.error_severity", ex.error_fields.severity);
  }
  if (const char* state = transaction_state_name(ex.transaction_status))
    add_text_attribute(a, "otelbpf.db.transaction_state", state);
  if (ex.truncated) a.emplace_back("otelbpf.l7.truncated", true);
  return r;
}

Stitcher::Stitcher(const Limits& limits)
    : limits_(limits),
      frontend_(Side::kFrontend, *this, stats_, limits_),
      backend_(Side::kBackend, *this, stats_, limits_) {}

bool Stitcher::decide_role(const DataChunk& chunk) {
  if (!looks_like_frontend_start(chunk.captured.substr(0, chunk.total_bytes), true)) return false;
  frontend_dir_ = chunk.direction;
  role_ = chunk.direction == Direction::kEgress ? Role::kClient : Role::kServer;
  return true;
}

void Stitcher::on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) {
  if (role_ == Role::kUnknown && !decide_role(chunk)) {
    stats_.bytes_skipped += chunk.total_bytes;
    return;
  }
  out_ = &out;
  parser(chunk.direction).feed(chunk);
  out_ = nullptr;
}

void Stitcher::on_close(uint64_t ts_ns, std::vector<L7Record>& out) {
  out_ = &out;
  if (role_ != Role::kUnknown) {
    frontend_.finish();
    backend_.finish();
  }
  if (open_) push(std::move(*open_));
  open_.reset();
  for (Exchange& ex : pending_) emit(ex, !ex.response_started, ts_ns);
  pending_.clear();
  out_ = nullptr;
}

void Stitcher::on_message(Side side, Message&& msg) {
  if (side == Side::kFrontend)
    on_frontend(std::move(msg));
  else
    on_backend(std::move(msg));
}

Exchange& Stitcher::open_batch(const Message& msg) {
  if (!open_) {
    // A new request: a response stream whose framing was lost ends here.
    backend_.end_lost_message();
    open_.emplace();
    open_->kind = Exchange::Kind::kExtended;
    open_->request = msg.wire;
    open_->request.bytes = 0;
  }
  open_->request.bytes += msg.wire.bytes;
  open_->request.end_ns = msg.wire.end_ns;
  if (msg.truncated) open_->truncated = true;
  return *open_;
}

void Stitcher::push(Exchange&& ex) {
  pending_.push_back(std::move(ex));
  if (pending_.size() > limits_.max_pending) {
    ++stats_.requests_evicted;
    emit(pending_.front(), true, pending_.front().request.end_ns);
    pending_.pop_front();
  }
}

void Stitcher::remember(std::map<std::string, std::string>& m, const std::string& key, std::string value) {
  if (m.size() >= limits_.max_statements && m.find(key) == m.end()) m.erase(m.begin());
  m[key] = std::move(value);
}

void Stitcher::on_frontend(Message&& msg) {
  if (msg.framing_lost) {
    // Frontend messages went by unseen: the batch they belonged to ends here, without its Sync.
    if (open_) {
      open_->truncated = true;
      open_->request.bytes += msg.wire.bytes;
      open_->closed = true;
      push(std::move(*open_));
      open_.reset();
    }
    return;
  }
  switch (msg.type) {
    case 0:  // start-up phase
      if (msg.code == kSslRequestCode || msg.code == kGssEncRequestCode) {
        backend_.expect_ssl_answer();
      } else if ((msg.code >> 16) == 3) {
        database_ = parse_startup_params(msg.body).database;
        startup_ = true;
      }
      return;
    case 'Q': {
      if (open_) push(std::move(*open_)), open_.reset();
      backend_.end_lost_message();
      Exchange ex;
      ex.kind = Exchange::Kind::kSimpleQuery;
      ex.request = msg.wire;
      ex.query.assign(read_c_string(msg.body));
      ex.truncated = msg.truncated;
      ex.closed = true;
      push(std::move(ex));
      return;
    }
    case 'F': {
      if (open_) push(std::move(*open_)), open_.reset();
      backend_.end_lost_message();
      Exchange ex;
      ex.kind = Exchange::Kind::kFunctionCall;
      ex.request = msg.wire;
      ex.closed = true;
      push(std::move(ex));
      return;
    }
    case 'P': {
      Exchange& ex = open_batch(msg);
      std::string name, query;
      if (parse_parse(msg.body, &name, &query)) {
        ex.parsed_query = query;
        remember(statements_, name, std::move(query));
      }
      return;
    }
    case 'B': {
      open_batch(msg);
      std::string portal, statement;
      if (parse_bind(msg.body, &portal, &statement)) {
        const auto it = statements_.find(statement);
        if (it != statements_.end())
          remember(portals_, portal, it->second);
        else
          portals_.erase(portal);  // a statement prepared before we looked
      }
      return;
    }
    case 'E': {
      Exchange& ex = open_batch(msg);
      const std::string portal(read_c_string(msg.body));
      if (ex.executes++ == 0) {
        const auto it = portals_.find(portal);
        if (it != portals_.end()) ex.query = it->second;
      }
      return;
    }
    case 'C':  // Close: forget the statement or portal
      ++open_batch(msg).closes;
      if (!msg.body.empty()) {
        const std::string name(read_c_string(std::string_view(msg.body).substr(1)));
        if (msg.body[0] == 'S') statements_.erase(name);
        if (msg.body[0] == 'P') portals_.erase(name);
      }
      return;
    case 'D':
      ++open_batch(msg).describes;
      return;
    case 'H':
      open_batch(msg);
      return;
    case 'S': {
      Exchange& ex = open_batch(msg);
      ex.closed = true;
      push(std::move(ex));
      open_.reset();
      return;
    }
    case 'd':
    case 'c':
    case 'f': {  // COPY FROM STDIN data belongs to the request that started the COPY
      Exchange* ex = open_ ? &*open_ : (pending_.empty() ? nullptr : &pending_.back());
      if (ex != nullptr) ex->request.bytes += msg.wire.bytes;
      return;
    }
    default:  // 'X' Terminate, 'p' authentication answers
      return;
  }
}

void Stitcher::on_backend(Message&& msg) {
  if (msg.ssl_answer) {
    if (msg.type == 'S' || msg.type == 'G') {  // TLS or GSSAPI from here on: opaque
      frontend_.set_encrypted();
      backend_.set_encrypted();
    }
    return;
  }
  Exchange* ex = !pending_.empty() ? &pending_.front() : (open_ ? &*open_ : nullptr);
  // Responses that had all arrived before the request was sent cannot answer it.
  if (ex != nullptr && !ex->response_started && msg.wire.end_ns < ex->request.start_ns) ex = nullptr;
  const bool to_open_batch = ex != nullptr && open_ && ex == &*open_;
  if (msg.framing_lost) {
    // The rest of the responses went by unseen. They answered the oldest request and, since the client
    // waited for them before sending again, every other request pending now.
    if (ex == nullptr || to_open_batch) {
      if (ex == nullptr) ++stats_.unmatched_responses;
      return;
    }
    transaction_status_ = 0;  // not seen
    while (!pending_.empty()) {
      Exchange& p = pending_.front();
      if (!p.response_started) {
        p.response_started = true;
        p.response = msg.wire;
        p.response.bytes = 0;
      }
      if (&p == ex) p.response.bytes += msg.wire.bytes;
      p.response.end_ns = std::max(p.response.end_ns, msg.wire.end_ns);
      p.truncated = true;
      emit(p, false, 0);
      pending_.pop_front();
    }
    return;
  }
  if (ex == nullptr) {
    if (msg.type == 'Z') {
      if (!startup_) ++stats_.unmatched_responses;
      startup_ = false;
      transaction_status_ = msg.body.empty() ? 0 : msg.body[0];
    }
    return;  // start-up phase (R, S, K), or asynchronous notices
  }
  if (!ex->response_started) {
    ex->response_started = true;
    ex->response = msg.wire;
    ex->response.bytes = 0;
  }
  ex->response.bytes += msg.wire.bytes;
  ex->response.end_ns = msg.wire.end_ns;
  if (msg.truncated && msg.type != 'D') ex->truncated = true;
  switch (msg.type) {
    case 'C':
      if (ex->tags.size() < limits_.max_tags) ex->tags.emplace_back(read_c_string(msg.body));
      ++ex->tag_count;
      break;
    case 'D':
      ++ex->data_rows;
      break;
    case 'E':
      if (!ex->error) {
        ex->error = true;
        ex->error_fields = parse_error_fields(msg.body);
      }
      break;
    case 'Z':
      if (to_open_batch) break;  // cannot happen: ReadyForQuery answers a Sync or a Query
      ex->transaction_status = msg.body.empty() ? 0 : msg.body[0];
      startup_ = false;
      emit(*ex, false, 0);
      transaction_status_ = ex->transaction_status;
      pending_.pop_front();
      break;
    default:
      break;
  }
}

void Stitcher::emit(Exchange& ex, bool response_missing, uint64_t end_ns) {
  // A batch that was only a Sync (drivers send one to recover from errors) is no request of its own.
  if (ex.kind == Exchange::Kind::kExtended && ex.executes == 0 && ex.parsed_query.empty() && ex.closes == 0 &&
      ex.describes == 0 && !ex.error && ex.tags.empty() && !ex.truncated) {
    transaction_status_ = ex.transaction_status != 0 ? ex.transaction_status : transaction_status_;
    return;
  }
  L7Record r = make_record(ex, role_, database_);
  if (response_missing) {
    r.response_missing = true;
    r.end_ns = std::max(end_ns, ex.request.end_ns);
  }
  r.end_ns = std::max(r.end_ns, r.start_ns);
  // Transaction blocks: the statement that leaves the idle state opens one; every statement until the
  // one that returns to idle shares its id. The id is the opening request's TCP sequence number, which
  // both ends of the connection see alike.
  const char before = transaction_status_;
  const char after = ex.transaction_status;
  if (in_block(after) && !in_block(before) && transaction_id_.empty()) {
    char id[32];
    if (ex.request.seq != 0)
      std::snprintf(id, sizeof id, "%08x", ex.request.seq);
    else
      std::snprintf(id, sizeof id, "t%llx", static_cast<unsigned long long>(ex.request.start_ns));
    transaction_id_ = id;
  }
  if (!transaction_id_.empty() && (in_block(before) || in_block(after)))
    r.attributes.emplace_back("otelbpf.db.transaction_id", transaction_id_);
  if (after == 'I' || (after == 0 && !in_block(before))) transaction_id_.clear();
  ++stats_.records;
  if (out_ != nullptr) out_->push_back(std::move(r));
}

}  // namespace otelbpf::l7::postgres
