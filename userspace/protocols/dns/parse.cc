#include "protocols/dns/parse.h"

#include <algorithm>
#include <array>

namespace otelbpf::l7::dns {
namespace {

constexpr size_t kMaxNameWireBytes = 255;  // RFC 1035 §2.3.4
constexpr size_t kMaxLabelBytes = 63;

uint16_t be16(std::string_view b, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[at]) << 8) | static_cast<uint8_t>(b[at + 1]));
}

void append_label(std::string* name, std::string_view label) {
  if (!name->empty()) name->push_back('.');
  for (const char ch : label) {
    const auto c = static_cast<uint8_t>(ch);
    if (c == '.' || c == '\\') {
      name->push_back('\\');
      name->push_back(ch);
    } else if (c <= 0x20 || c >= 0x7f) {  // RFC 4343 §2.1: \DDD for what is not printable
      name->push_back('\\');
      name->push_back(static_cast<char>('0' + c / 100));
      name->push_back(static_cast<char>('0' + c / 10 % 10));
      name->push_back(static_cast<char>('0' + c % 10));
    } else {
      name->push_back(ch);
    }
  }
}

// Classes a question may carry: IN, CH, HS, NONE, ANY (mDNS's unicast-response bit aside).
bool known_class(uint16_t klass) {
  switch (klass & 0x7fff) {
    case 1:
    case 3:
    case 4:
    case 254:
    case 255:
      return true;
    default:
      return false;
  }
}

}  // namespace

ParseState parse_header(std::string_view msg, Header* h) {
  if (msg.size() < kHeaderSize) return ParseState::kNeedsMoreData;
  const auto b2 = static_cast<uint8_t>(msg[2]);
  const auto b3 = static_cast<uint8_t>(msg[3]);
  h->id = be16(msg, 0);
  h->response = (b2 & 0x80) != 0;
  h->opcode = static_cast<uint8_t>((b2 >> 3) & 0x0f);
  h->authoritative = (b2 & 0x04) != 0;
  h->truncated = (b2 & 0x02) != 0;
  h->recursion_desired = (b2 & 0x01) != 0;
  h->recursion_available = (b3 & 0x80) != 0;
  h->z = (b3 & 0x40) != 0;  // 0x20 (AD) and 0x10 (CD) are DNSSEC's (RFC 4035)
  h->rcode = static_cast<uint8_t>(b3 & 0x0f);
  h->qdcount = be16(msg, 4);
  h->ancount = be16(msg, 6);
  h->nscount = be16(msg, 8);
  h->arcount = be16(msg, 10);
  return ParseState::kSuccess;
}

ParseState parse_name(std::string_view msg, size_t* offset, std::string* name) {
  name->clear();
  size_t pos = *offset;
  size_t resume = 0;  // where the caller continues: past the first pointer
  bool jumped = false;
  int jumps = 0;
  size_t wire_bytes = 0;
  while (true) {
    if (pos >= msg.size()) return ParseState::kNeedsMoreData;
    const auto len = static_cast<uint8_t>(msg[pos]);
    if ((len & 0xc0) == 0xc0) {
      if (pos + 1 >= msg.size()) return ParseState::kNeedsMoreData;
      const size_t target = be16(msg, pos) & 0x3fff;
      // Backwards only (RFC 1035 §4.1.4 points at a prior occurrence): with the jump bound, every
      // pointer chain ends.
      if (target >= pos || ++jumps > kMaxPointerJumps) return ParseState::kInvalid;
      if (!jumped) resume = pos + 2;
      jumped = true;
      pos = target;
      continue;
    }
    if ((len & 0xc0) != 0) return ParseState::kInvalid;  // 0x40/0x80: extended label types, obsolete
    wire_bytes += 1 + len;
    if (wire_bytes > kMaxNameWireBytes || len > kMaxLabelBytes) return ParseState::kInvalid;
    if (len == 0) {
      *offset = jumped ? resume : pos + 1;
      return ParseState::kSuccess;
    }
    if (pos + 1 + len > msg.size()) return ParseState::kNeedsMoreData;
    append_label(name, msg.substr(pos + 1, len));
    pos += 1 + len;
  }
}

ParseState parse_question(std::string_view msg, size_t* offset, Question* q) {
  size_t pos = *offset;
  const ParseState s = parse_name(msg, &pos, &q->name);
  if (s != ParseState::kSuccess) return s;
  if (pos + 4 > msg.size()) return ParseState::kNeedsMoreData;
  q->type = be16(msg, pos);
  q->klass = be16(msg, pos + 2);
  *offset = pos + 4;
  return ParseState::kSuccess;
}

ParseState skip_resource_record(std::string_view msg, size_t* offset) {
  size_t pos = *offset;
  std::string owner;
  const ParseState s = parse_name(msg, &pos, &owner);
  if (s != ParseState::kSuccess) return s;
  if (pos + 10 > msg.size()) return ParseState::kNeedsMoreData;
  const size_t rdlength = be16(msg, pos + 8);
  pos += 10;
  if (pos + rdlength > msg.size()) return ParseState::kNeedsMoreData;
  *offset = pos + rdlength;
  return ParseState::kSuccess;
}

ParseState parse_message(std::string_view msg, Message* m, size_t max_questions) {
  m->questions.clear();
  m->capture_truncated = false;
  if (parse_header(msg, &m->header) != ParseState::kSuccess) {
    m->capture_truncated = true;
    return ParseState::kNeedsMoreData;
  }
  size_t pos = kHeaderSize;
  const size_t n = std::min<size_t>(m->header.qdcount, max_questions);
  for (size_t i = 0; i < n; ++i) {
    Question q;
    const ParseState s = parse_question(msg, &pos, &q);
    if (s == ParseState::kNeedsMoreData) {
      m->capture_truncated = true;
      // Keep what the cut left of the first question's name: better than nothing in a span.
      if (i == 0 && !q.name.empty()) m->questions.push_back(std::move(q));
      return s;
    }
    if (s != ParseState::kSuccess) return s;
    m->questions.push_back(std::move(q));
  }
  return ParseState::kSuccess;
}

bool parses_exactly(std::string_view msg) {
  Header h;
  if (parse_header(msg, &h) != ParseState::kSuccess) return false;
  size_t pos = kHeaderSize;
  for (uint32_t i = 0; i < h.qdcount; ++i) {
    Question q;
    if (parse_question(msg, &pos, &q) != ParseState::kSuccess || !known_class(q.klass)) return false;
  }
  // Each record takes at least 11 bytes, so the loop ends within msg.size() / 11 rounds.
  const uint32_t records = uint32_t{h.ancount} + h.nscount + h.arcount;
  for (uint32_t i = 0; i < records; ++i) {
    if (skip_resource_record(msg, &pos) != ParseState::kSuccess) return false;
  }
  return pos == msg.size();
}

bool sane_header(const Header& h, bool strict) {
  if (h.z || h.qdcount > 4) return false;
  if (strict) {
    if (h.opcode != 0 || h.qdcount == 0) return false;
  } else if (h.opcode == 3 || h.opcode > 6) {  // unassigned opcodes
    return false;
  }
  if (!h.response) {
    if (h.rcode != 0) return false;
    if (strict && (h.authoritative || h.truncated || h.recursion_available || h.ancount != 0 ||
                   h.nscount != 0 || h.arcount > 2)) {
      return false;
    }
    return true;
  }
  return h.rcode <= 10;
}

std::string type_name(uint16_t type) {
  switch (type) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case 13:
      return "HINFO";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 33:
      return "SRV";
    case 35:
      return "NAPTR";
    case 39:
      return "DNAME";
    case 41:
      return "OPT";
    case 43:
      return "DS";
    case 46:
      return "RRSIG";
    case 47:
      return "NSEC";
    case 48:
      return "DNSKEY";
    case 50:
      return "NSEC3";
    case 52:
      return "TLSA";
    case 64:
      return "SVCB";
    case 65:
      return "HTTPS";
    case 99:
      return "SPF";
    case 251:
      return "IXFR";
    case 252:
      return "AXFR";
    case 255:
      return "ANY";
    case 256:
      return "URI";
    case 257:
      return "CAA";
    default:
      return "TYPE" + std::to_string(type);
  }
}

std::string rcode_name(uint8_t rcode) {
  static constexpr std::array<const char*, 11> kNames = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                         "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                                         "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode < kNames.size()) return kNames[rcode];
  return "RCODE" + std::to_string(rcode);
}

std::string opcode_name(uint8_t opcode) {
  switch (opcode) {
    case 0:
      return "QUERY";
    case 1:
      return "IQUERY";
    case 2:
      return "STATUS";
    case 4:
      return "NOTIFY";
    case 5:
      return "UPDATE";
    case 6:
      return "DSO";
    default:
      return "OPCODE" + std::to_string(opcode);
  }
}

std::string class_name(uint16_t klass) {
  switch (klass) {
    case 1:
      return "IN";
    case 3:
      return "CH";
    case 4:
      return "HS";
    case 254:
      return "NONE";
    case 255:
      return "ANY";
    default:
      return "CLASS" + std::to_string(klass);
  }
}

Transport detect_transport(const DataChunk& chunk) {
  // The tracer reads a TCP sequence number for every TCP chunk; UDP has none.
  if (chunk.tcp_seq != 0) return Transport::kTcp;
  const std::string_view b = chunk.captured;
  Header h;
  const bool udp = chunk.total_bytes >= kHeaderSize && parse_header(b, &h) == ParseState::kSuccess &&
                   sane_header(h, false);
  bool tcp = false;
  if (b.size() >= 2 && be16(b, 0) >= kHeaderSize) {
    Header h2;
    // A length prefix written on its own, or a length followed by a sane header.
    tcp = (b.size() == 2 && chunk.total_bytes == 2) ||
          (parse_header(b.substr(2), &h2) == ParseState::kSuccess && sane_header(h2, false));
  }
  if (udp && tcp) {
    // Both readings are sane (rare: the id would have to look like a length): the length that matches
    // the chunk decides.
    return static_cast<uint64_t>(be16(b, 0)) + 2 == chunk.total_bytes ? Transport::kTcp : Transport::kUdp;
  }
  if (udp) return Transport::kUdp;
  if (tcp) return Transport::kTcp;
  return Transport::kUnknown;
}

TcpFramer::TcpFramer(StitcherStats& stats, const Limits& limits) : FramerLoop(stats), limits_(limits) {}

bool TcpFramer::starts_message(std::string_view captured) {
  if (captured.size() < 2 || be16(captured, 0) < kHeaderSize) return false;
  if (captured.size() == 2) return true;
  Header h;
  return parse_header(captured.substr(2), &h) == ParseState::kSuccess && sane_header(h, false);
}

void TcpFramer::begin_message(const DataChunk& chunk, uint64_t pos) {
  cur_ = Message{};
  cur_.wire.start_ns = chunk.ts_enter_ns;
  cur_.wire.end_ns = chunk.ts_exit_ns;
  cur_.wire.tid = chunk.tid;
  cur_.wire.seq = chunk.tcp_seq + static_cast<uint32_t>(pos);  // wraps like TCP sequence numbers
  body_.clear();
  body_gap_ = false;
  length_bytes_ = 0;
  length_ = 0;
}

void TcpFramer::feed(const DataChunk& chunk, std::vector<Message>& out) {
  out_ = &out;
  FramerLoop::feed(chunk);
  out_ = nullptr;
}

Start TcpFramer::try_start(const DataChunk& chunk, std::string_view captured, uint64_t total) {
  return try_start_held(held_, chunk, captured, total);
}

bool TcpFramer::frame_unprefixed(const DataChunk& chunk, std::string_view captured, uint64_t total) {
  // A server that reads the length prefix on its own (dnsmasq reads it byte by byte) shows the message
  // alone: the two bytes before it were its length.
  if (!parses_exactly(captured)) return false;
  begin_message(chunk, 0);
  cur_.wire.seq = chunk.tcp_seq - 2;
  cur_.wire.bytes = total + 2;
  body_.assign(captured.substr(0, limits_.max_kept_message_bytes));
  complete_message();
  return true;
}

void TcpFramer::begin_at_start() {
  state_ = State::kLength;
  length_bytes_ = 0;
}

size_t TcpFramer::step(std::string_view rest, uint64_t pos) {
  cur_.wire.end_ns = chunk_->ts_exit_ns;
  if (state_ == State::kLength) {
    if (length_bytes_ == 0) begin_message(*chunk_, pos);
    length_ = static_cast<uint16_t>((length_ << 8) | static_cast<uint8_t>(rest[0]));
    cur_.wire.bytes += 1;
    if (++length_bytes_ < 2) return 1;
    if (length_ < kHeaderSize) {
      ++stats_.parse_errors;
      lose_sync(0);  // the chunk loop counts the rest of the chunk as skipped
      return 1;
    }
    remaining_ = length_;
    state_ = State::kBody;
    return 1;
  }
  // kBody
  const size_t n = static_cast<size_t>(std::min<uint64_t>(rest.size(), remaining_));
  const size_t keep =
      std::min(n, limits_.max_kept_message_bytes - std::min(body_.size(), limits_.max_kept_message_bytes));
  if (!body_gap_) body_.append(rest.data(), keep);
  remaining_ -= n;
  cur_.wire.bytes += n;
  if (remaining_ == 0) complete_message();
  return n;
}

uint64_t TcpFramer::skip_uncaptured(uint64_t n) {
  if (state_ != State::kBody) return 0;
  cur_.wire.end_ns = chunk_->ts_exit_ns;
  const uint64_t k = std::min(n, remaining_);
  body_gap_ = true;
  remaining_ -= k;
  cur_.wire.bytes += k;
  if (remaining_ == 0) complete_message();
  return k;
}

void TcpFramer::complete_message() {
  const ParseState s = parse_message(body_, &cur_, limits_.max_questions);
  state_ = State::kLength;
  length_bytes_ = 0;
  if (s == ParseState::kInvalid || (s == ParseState::kSuccess && !sane_header(cur_.header, false))) {
    // The length prefix framed something that is not DNS: the framing cannot be trusted any more.
    ++stats_.parse_errors;
    lose_sync(0);
    return;
  }
  if (s == ParseState::kNeedsMoreData) {
    if (body_.size() < kHeaderSize) {
      stats_.bytes_skipped += cur_.wire.bytes;  // not even the header was captured: nothing to report
      return;
    }
    ++stats_.truncated_headers;
  }
  out_->push_back(std::move(cur_));
  cur_ = Message{};
  body_.clear();
}

void TcpFramer::lose_sync(uint64_t skipped) {
  ++stats_.resyncs;
  stats_.bytes_skipped += skipped;
  state_ = State::kAwaitStart;
  length_bytes_ = 0;
  remaining_ = 0;
  body_.clear();
  cur_ = Message{};
}

void TcpFramer::finish(std::vector<Message>& out) {
  if (state_ == State::kBody && body_.size() >= kHeaderSize) {
    Message m = cur_;
    if (parse_message(body_, &m, limits_.max_questions) != ParseState::kInvalid &&
        sane_header(m.header, false)) {
      m.capture_truncated = true;
      ++stats_.truncated_headers;
      out.push_back(std::move(m));
    }
  }
  state_ = State::kAwaitStart;
  body_.clear();
  drop_held(held_);
}

}  // namespace otelbpf::l7::dns
