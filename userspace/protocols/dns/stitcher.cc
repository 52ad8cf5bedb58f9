#include "protocols/dns/stitcher.h"

#include <algorithm>
#include <string>

#include "protocols/common/text.h"

namespace otelbpf::l7::dns {
namespace {

constexpr size_t kMaxSpanNameQuestion = 256;

// Failures of the server or of the exchange; NXDOMAIN (and NODATA) are answers, not errors.
bool is_error_rcode(uint8_t rcode) {
  return rcode == 1 /*FORMERR*/ || rcode == 2 /*SERVFAIL*/ || rcode == 4 /*NOTIMP*/ || rcode == 5 /*REFUSED*/;
}

bool same_question(const Message& query, const Message& response) {
  // A response whose question was not captured whole (or a FORMERR without one) is matched by id alone.
  if (query.questions.empty() || response.questions.empty() || query.capture_truncated ||
      response.capture_truncated) {
    return true;
  }
  const Question& a = query.questions.front();
  const Question& b = response.questions.front();
  // Names compare case-insensitively (RFC 4343); 0x20-randomising resolvers rely on the echo.
  return a.type == b.type && iequals(a.name, b.name);
}

}  // namespace

L7Record make_record(const Message& query, const Message* response, Role role) {
  L7Record r = record_from_wire("dns", role, query.wire, response != nullptr ? &response->wire : nullptr);

  Attributes& a = r.attributes;
  const Header& h = query.header;
  const Question* q = query.questions.empty() ? nullptr : &query.questions.front();
  if (q == nullptr && response != nullptr && !response->questions.empty()) q = &response->questions.front();
  const std::string type = q != nullptr ? type_name(q->type) : std::string();
  if (q != nullptr) {
    a.emplace_back("dns.question.name", q->name.empty() ? std::string(".") : q->name);
    a.emplace_back("otelbpf.dns.question.type", type);
    if (q->klass != 1) a.emplace_back("otelbpf.dns.question.class", class_name(q->klass));
  }
  add_text_attribute(a, "network.protocol.name", "dns");
  a.emplace_back("otelbpf.dns.id", static_cast<int64_t>(h.id));
  if (h.opcode != 0) a.emplace_back("otelbpf.dns.opcode", opcode_name(h.opcode));
  if (response != nullptr) {
    const Header& rh = response->header;
    const std::string rcode = rcode_name(rh.rcode);
    a.emplace_back("otelbpf.dns.rcode", rcode);
    a.emplace_back("otelbpf.dns.answer_count", static_cast<int64_t>(rh.ancount));
    if (rh.truncated) a.emplace_back("otelbpf.dns.tc", true);
    if (is_error_rcode(rh.rcode)) {
      r.error = true;
      a.emplace_back("error.type", rcode);
      r.status_message = "DNS " + rcode;
    }
  }
  if (query.capture_truncated || (response != nullptr && response->capture_truncated)) {
    a.emplace_back("otelbpf.l7.truncated", true);
  }

  // "A example.test"; other opcodes by name ("NOTIFY example.test", "UPDATE example.test").
  r.span_name = h.opcode == 0 && q != nullptr ? type : opcode_name(h.opcode);
  if (q != nullptr) {
    r.span_name.push_back(' ');
    r.span_name.append(q->name.empty() ? std::string_view(".")
                                       : std::string_view(q->name).substr(0, kMaxSpanNameQuestion));
  }
  return r;
}

Stitcher::Stitcher(const Limits& limits)
    : limits_(limits), egress_(stats_, limits_), ingress_(stats_, limits_) {}

void Stitcher::on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) {
  if (transport_ == Transport::kUnknown) {
    transport_ = detect_transport(chunk);
    if (transport_ == Transport::kUnknown) {
      stats_.bytes_skipped += chunk.total_bytes;
      return;
    }
  }
  expire(chunk.ts_enter_ns, out);
  if (transport_ == Transport::kTcp) {
    messages_.clear();
    (chunk.direction == Direction::kEgress ? egress_ : ingress_).feed(chunk, messages_);
    for (Message& m : messages_) on_message(chunk.direction, std::move(m), out);
    messages_.clear();
    return;
  }
  // UDP: one datagram, one message; what the capture cut off is counted in wire.bytes only.
  Message m;
  const std::string_view known =
      chunk.captured.substr(0, std::min<uint64_t>(chunk.captured.size(), chunk.total_bytes));
  const ParseState s = parse_message(known, &m, limits_.max_questions);
  if (s == ParseState::kInvalid || known.size() < kHeaderSize || !sane_header(m.header, false)) {
    ++stats_.parse_errors;
    stats_.bytes_skipped += chunk.total_bytes;
    return;
  }
  if (s == ParseState::kNeedsMoreData) ++stats_.truncated_headers;
  m.wire.start_ns = chunk.ts_enter_ns;
  m.wire.end_ns = chunk.ts_exit_ns;
  m.wire.tid = chunk.tid;
  m.wire.seq = chunk.tcp_seq;
  m.wire.bytes = chunk.total_bytes;
  on_message(chunk.direction, std::move(m), out);
}

void Stitcher::on_message(Direction dir, Message&& m, std::vector<L7Record>& out) {
  if (role_ == Role::kUnknown) {
    const bool client = (dir == Direction::kEgress) != m.header.response;
    role_ = client ? Role::kClient : Role::kServer;
  }
  const Direction query_dir = role_ == Role::kClient ? Direction::kEgress : Direction::kIngress;
  if (!m.header.response) {
    if (dir != query_dir) {
      // A query the other way round (a UDP socket both asking and answering): not this socket's role.
      ++stats_.parse_errors;
      return;
    }
    for (Pending& p : pending_) {
      if (p.query.header.id == m.header.id && same_question(p.query, m) &&
          p.query.questions.size() == m.questions.size()) {
        ++p.retransmissions;  // the resolver's retry: the exchange's time runs from the first send
        return;
      }
    }
    pending_.push_back(Pending{std::move(m), dir, 0});
    if (pending_.size() > limits_.max_pending_queries) {
      ++stats_.requests_evicted;
      emit(pending_.front(), nullptr, pending_.front().query.wire.end_ns, out);
      pending_.pop_front();
    }
    return;
  }
  if (dir == query_dir) {
    ++stats_.unmatched_responses;
    return;
  }
  // A response whose bytes had all arrived before the query was sent cannot answer it (entry times are
  // not compared: a blocked recvfrom is entered before the query is written).
  const auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) {
    return p.query.header.id == m.header.id && same_question(p.query, m) &&
           m.wire.end_ns >= p.query.wire.start_ns;
  });
  if (it == pending_.end()) {
    ++stats_.unmatched_responses;
    return;
  }
  emit(*it, &m, 0, out);
  pending_.erase(it);
}

void Stitcher::expire(uint64_t now_ns, std::vector<L7Record>& out) {
  while (!pending_.empty() && pending_.front().query.wire.end_ns + limits_.query_timeout_ns < now_ns) {
    emit(pending_.front(), nullptr, pending_.front().query.wire.end_ns + limits_.query_timeout_ns, out);
    pending_.pop_front();
  }
}

void Stitcher::on_close(uint64_t ts_ns, std::vector<L7Record>& out) {
  if (transport_ == Transport::kTcp) {
    for (TcpFramer* f : {&egress_, &ingress_}) {
      messages_.clear();
      f->finish(messages_);
      for (Message& m : messages_)
        on_message(f == &egress_ ? Direction::kEgress : Direction::kIngress, std::move(m), out);
    }
    messages_.clear();
  }
  for (const Pending& p : pending_) emit(p, nullptr, ts_ns, out);
  pending_.clear();
}

void Stitcher::emit(const Pending& p, const Message* response, uint64_t missing_end_ns,
                    std::vector<L7Record>& out) {
  L7Record r = make_record(p.query, response, role_);
  if (p.retransmissions > 0)
    r.attributes.emplace_back("otelbpf.dns.retransmissions", static_cast<int64_t>(p.retransmissions));
  if (response == nullptr) r.end_ns = std::max(missing_end_ns, p.query.wire.end_ns);
  r.end_ns = std::max(r.end_ns, r.start_ns);
  ++stats_.records;
  out.push_back(std::move(r));
}

}  // namespace otelbpf::l7::dns
