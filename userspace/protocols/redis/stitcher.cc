#include "protocols/redis/stitcher.h"

#include <algorithm>

#include "protocols/common/obfuscate.h"
#include "protocols/common/text.h"

namespace otelbpf::l7::redis {
namespace {

constexpr size_t kMaxOperationName = 32;

std::string upper(std::string_view s) {
  std::string u(s.substr(0, kMaxOperationName));
  for (char& c : u) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return u;
}

std::string lower(std::string_view s) {
  std::string u(s.substr(0, kMaxOperationName));
  for (char& c : u) c = ascii_lower(c);
  return u;
}

// The pub/sub kinds that confirm a subscription command, by the command they confirm.
bool confirms(std::string_view kind, std::string_view command) {
  return kind == lower(command) &&
         (command == "SUBSCRIBE" || command == "PSUBSCRIBE" || command == "SSUBSCRIBE" ||
          command == "UNSUBSCRIBE" || command == "PUNSUBSCRIBE" || command == "SUNSUBSCRIBE");
}

bool is_pubsub_kind(std::string_view kind) {
  return kind == "message" || kind == "pmessage" || kind == "smessage" || kind == "subscribe" ||
         kind == "psubscribe" || kind == "ssubscribe" || kind == "unsubscribe" || kind == "punsubscribe" ||
         kind == "sunsubscribe";
}

}  // namespace

L7Record make_record(const Message& request, const Message* reply, Role role,
                    const std::optional<std::string>& db_namespace) {
  L7Record r = record_from_wire("redis", role, request.wire, reply != nullptr ? &reply->wire : nullptr);
  const std::string op = request.args.empty() ? std::string("UNKNOWN") : upper(request.args[0]);
  r.span_name = op;
  Attributes& a = r.attributes;
  add_text_attribute(a, "db.system.name", "redis");
  add_text_attribute(a, "db.system", "redis");
  a.emplace_back("db.operation.name", op);
  if (!request.args.empty()) a.emplace_back("db.query.text", obfuscate_redis(request.args));
  if (db_namespace) a.emplace_back("db.namespace", *db_namespace);
  if (request.arg_count > 1)
    a.emplace_back("otelbpf.redis.args", static_cast<int64_t>(request.arg_count - 1));
  if (reply != nullptr && reply->is_error()) {
    r.error = true;
    r.status_message = reply->text;
    // The error prefix (ERR, WRONGTYPE, NOSCRIPT...) is Redis' error code.
    std::string_view prefix(reply->text);
    prefix = prefix.substr(0, prefix.find(' '));
    if (!prefix.empty() && prefix.size() <= kMaxOperationName) {
      add_text_attribute(a, "db.response.status_code", prefix);
      add_text_attribute(a, "error.type", prefix);
    } else {
      add_text_attribute(a, "error.type", "_OTHER");
    }
  }
  if (request.truncated || (reply != nullptr && reply->truncated))
    a.emplace_back("otelbpf.l7.truncated", true);
  return r;
}

Stitcher::Stitcher(const Limits& limits)
    : limits_(limits),
      egress_(Direction::kEgress, *this, stats_, limits_),
      ingress_(Direction::kIngress, *this, stats_, limits_) {}

bool Stitcher::decide_role(const DataChunk& chunk) {
  const std::string_view data = chunk.captured.substr(0, chunk.total_bytes);
  Direction req;
  if (parse_request_start(data, true) == ParseState::kSuccess) {
    req = chunk.direction;
  } else if (parse_reply_start(data) == ParseState::kSuccess) {
    req = opposite(chunk.direction);
  } else {
    return false;
  }
  request_dir_ = req;
  role_ = req == Direction::kEgress ? Role::kClient : Role::kServer;
  parser(req).set_request_side(true);
  parser(opposite(req)).set_request_side(false);
  return true;
}

void Stitcher::on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) {
  if (role_ == Role::kUnknown && !decide_role(chunk)) {
    stats_.bytes_skipped += chunk.total_bytes;
    return;
  }
  out_ = &out;
  // The client sending again means it has read all it wanted of a reply whose framing was lost.
  if (chunk.direction == request_dir_) parser(opposite(request_dir_)).end_lost_message();
  parser(chunk.direction).feed(chunk);
  out_ = nullptr;
}

void Stitcher::on_close(uint64_t ts_ns, std::vector<L7Record>& out) {
  out_ = &out;
  if (role_ != Role::kUnknown) {
    parser(request_dir_).finish();
    parser(opposite(request_dir_)).finish();
  }
  for (const Pending& p : pending_) emit(p, nullptr, ts_ns);
  pending_.clear();
  out_ = nullptr;
}

void Stitcher::on_message(Direction dir, Message&& msg) {
  if (dir != request_dir_) {
    on_reply(std::move(msg));
    return;
  }
  Pending p;
  p.command = msg.args.empty() ? std::string() : upper(msg.args[0]);
  if (p.command == "SUBSCRIBE" || p.command == "PSUBSCRIBE" || p.command == "SSUBSCRIBE") pubsub_ = true;
  p.request = std::move(msg);
  pending_.push_back(std::move(p));
  if (pending_.size() > limits_.max_pending_requests) {
    ++stats_.requests_evicted;
    emit(pending_.front(), nullptr, pending_.front().request.wire.end_ns);
    pending_.pop_front();
  }
}

void Stitcher::on_reply(Message&& reply) {
  if (reply.framing_lost) {
    // The rest of the reply stream was not seen: it answered the oldest command and, since the client
    // waited for it before sending again, every other command pending now.
    if (pending_.empty()) {
      ++stats_.unmatched_responses;
      return;
    }
    emit(pending_.front(), &reply, 0);
    pending_.pop_front();
    for (const Pending& p : pending_) {
      L7Record r = make_record(p.request, nullptr, role_, namespace_);
      r.end_ns = std::max(reply.wire.end_ns, r.start_ns);
      r.attributes.emplace_back("otelbpf.l7.truncated", true);
      ++stats_.records;
      if (out_ != nullptr) out_->push_back(std::move(r));
    }
    pending_.clear();
    return;
  }
  const bool push =
      reply.type == RespType::kPush || (pubsub_ && reply.type == RespType::kArray && !reply.args.empty() &&
                                        is_pubsub_kind(lower(reply.args[0])));
  if (push) {
    const std::string kind = reply.args.empty() ? std::string() : lower(reply.args[0]);
    if (pending_.empty() || !confirms(kind, pending_.front().command)) return;  // not an answer
    if ((kind == "unsubscribe" || kind == "punsubscribe" || kind == "sunsubscribe") &&
        reply.args.size() > 2 && reply.args[2] == "0") {
      pubsub_ = false;
    }
  }
  // A reply whose bytes had all arrived before the command was sent cannot answer it.
  if (pending_.empty() || reply.wire.end_ns < pending_.front().request.wire.start_ns) {
    ++stats_.unmatched_responses;
    return;
  }
  const Pending& p = pending_.front();
  if (p.command == "SELECT" && !reply.is_error() && p.request.args.size() > 1) namespace_ = p.request.args[1];
  emit(p, &reply, 0);
  pending_.pop_front();
}

void Stitcher::emit(const Pending& p, const Message* reply, uint64_t missing_end_ns) {
  L7Record r = make_record(p.request, reply, role_, namespace_);
  if (reply == nullptr) r.end_ns = std::max(missing_end_ns, p.request.wire.end_ns);
  r.end_ns = std::max(r.end_ns, r.start_ns);
  ++stats_.records;
  if (out_ != nullptr) out_->push_back(std::move(r));
}

}  // namespace otelbpf::l7::redis
