#include "protocols/http/stitcher.h"

#include <algorithm>
#include <array>
#include <string>

#include "protocols/common/text.h"

namespace otelbpf::l7::http {
namespace {

// Methods semantic conventions name; anything else is reported as _OTHER (bounded cardinality).
constexpr std::array<std::string_view, 9> kKnownMethods = {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS",
                                                           "PATCH",   "POST",   "PUT", "TRACE"};
constexpr size_t kMaxSpanNamePath = 256;

struct Target {
  std::string_view scheme;
  std::string_view authority;
  std::string_view path;
  std::string_view query;
};

Target split_target(std::string_view target, bool connect) {
  Target t;
  if (connect) {  // authority-form: host:port
    t.authority = target;
    return t;
  }
  std::string_view rest = target;
  if (const size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  if (!rest.empty() && rest.front() != '/' && rest != "*") {
    // absolute-form (proxies): scheme://authority/path?query
    const size_t sep = rest.find("://");
    if (sep != std::string_view::npos) {
      t.scheme = rest.substr(0, sep);
      rest.remove_prefix(sep + 3);
      const size_t end = std::min(rest.find('/'), rest.find('?'));
      t.authority = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    }
  }
  const size_t q = rest.find('?');
  t.path = rest.substr(0, q);
  if (q != std::string_view::npos) t.query = rest.substr(q + 1);
  if (t.path.empty() && !t.authority.empty()) t.path = "/";
  return t;
}


}  // namespace

L7Record make_record(const Message& request, const Message* response, Role role) {
  L7Record r;
  make_record(r, request, response, role);
  return r;
}

void make_record(L7Record& r, const Message& request, const Message* response, Role role) {
  start_record(r, "http1", role, request.wire, response != nullptr ? &response->wire : nullptr);

  Attributes& a = r.attributes;
  // At most ~14 attributes: one allocation instead of a growth series per record (a hot path under load).
  a.reserve(16);
  const bool known =
      std::find(kKnownMethods.begin(), kKnownMethods.end(), request.method) != kKnownMethods.end();
  add_text_attribute(a, "http.request.method", known ? std::string_view(request.method) : "_OTHER");
  if (!known) add_text_attribute(a, "http.request.method_original", request.method);

  const bool connect = request.method == "CONNECT";
  const Target t = split_target(request.target, connect);
  if (!t.path.empty()) add_text_attribute(a, "url.path", t.path);
  if (!t.query.empty()) add_text_attribute(a, "url.query", t.query);
  if (!t.scheme.empty()) add_text_attribute(a, "url.scheme", t.scheme);

  std::string_view authority = t.authority;
  if (authority.empty()) {
    if (const std::string* host = request.header("host")) authority = *host;
  }
  if (!authority.empty()) {
    std::string_view host;
    std::optional<int64_t> port;
    split_authority(authority, &host, &port);
    if (!host.empty()) add_text_attribute(a, "server.address", host);
    if (port) a.emplace_back("server.port", *port);
  }
  add_text_attribute(a, "network.protocol.name", "http");
  add_text_attribute(a, "network.protocol.version", request.minor_version == 0 ? "1.0" : "1.1");
  if (const std::string* ua = request.header("user-agent")) add_text_attribute(a, "user_agent.original", *ua);
  if (request.body_bytes > 0)
    a.emplace_back("http.request.body.size", static_cast<int64_t>(request.body_bytes));

  if (response != nullptr && response->status_code > 0) {
    a.emplace_back("http.response.status_code", static_cast<int64_t>(response->status_code));
    if (response->body_bytes > 0) {
      a.emplace_back("http.response.body.size", static_cast<int64_t>(response->body_bytes));
    }
    // docs/design.md, Span sources: 5xx is an error for both roles (4xx is the client's own doing, not a failure here).
    if (response->status_code >= 500) {
      r.error = true;
      a.emplace_back("error.type", std::to_string(response->status_code));
      r.status_message = "HTTP " + std::to_string(response->status_code);
      if (!response->reason.empty()) r.status_message += " " + response->reason;
    }
  }
  const bool truncated = request.header_truncated || request.framing_lost ||
                         (response != nullptr && (response->header_truncated || response->framing_lost));
  if (truncated) a.emplace_back("otelbpf.l7.truncated", true);

  const std::string_view name_method = known ? std::string_view(request.method) : std::string_view("HTTP");
  r.span_name.assign(name_method);
  if (!connect && !t.path.empty()) {
    r.span_name.push_back(' ');
    r.span_name.append(t.path.substr(0, kMaxSpanNamePath));
  }
  r.context = extract_trace_context(request.headers);
}

namespace {

// The fields emit() reads: Host, User-Agent and the trace context's. The first letter tells most other
// fields apart (Accept*, Connection, Content-*, Cookie, Date...) without a comparison.
bool stitcher_reads_header(std::string_view name) {
  if (name.empty()) return false;
  switch (ascii_lower(name.front())) {
    case 'h':
      return iequals(name, "host");
    case 'u':
      return iequals(name, "user-agent") || is_trace_context_header(name);
    case 't':
    case 'b':
    case 's':
    case 'x':
      return is_trace_context_header(name);
    default:
      return false;
  }
}

Limits keeping_read_headers(Limits limits) {
  limits.keep_header = &stitcher_reads_header;
  return limits;
}

}  // namespace

Stitcher::Stitcher(const Limits& limits)
    : limits_(keeping_read_headers(limits)),
      egress_(Direction::kEgress, *this, stats_, limits_),
      ingress_(Direction::kIngress, *this, stats_, limits_) {}

void Stitcher::on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) {
  out_ = &out;
  parser(chunk.direction).feed(chunk);
  out_ = nullptr;
}

void Stitcher::on_close(uint64_t ts_ns, std::vector<L7Record>& out) {
  out_ = &out;
  // Requests first, so a request cut by the close is pending before the response side finishes.
  StreamParser& req = request_parser();
  StreamParser& resp = &req == &egress_ ? ingress_ : egress_;
  req.finish();
  resp.finish();
  if (answering_) {
    emit(*answering_, ts_ns);
    answering_.reset();
  }
  for (const Exchange& ex : pending_) emit(ex, ts_ns);
  pending_.clear();
  out_ = nullptr;
}

StreamParser& Stitcher::request_parser() {
  return ingress_.kind() == MessageKind::kRequest ? ingress_ : egress_;
}

void Stitcher::on_kind_detected(Direction dir, MessageKind kind) {
  const Direction req_dir = kind == MessageKind::kRequest ? dir : opposite(dir);
  parser(req_dir).set_kind(MessageKind::kRequest);
  parser(opposite(req_dir)).set_kind(MessageKind::kResponse);
  role_ = req_dir == Direction::kEgress ? Role::kClient : Role::kServer;
}

std::string_view Stitcher::request_method_for_response() {
  return pending_.empty() ? std::string_view() : std::string_view(pending_.front().request->method);
}

void Stitcher::on_header(Direction dir, const std::shared_ptr<Message>& msg) {
  if (msg->kind == MessageKind::kRequest) {
    // Without pipelining, a new request means the client has the whole previous response: one whose
    // framing was lost to the capture ends here rather than at the next response or at close.
    if (pending_.empty() && answering_) parser(opposite(dir)).end_lost_message();
    pending_.push_back(Exchange{msg, nullptr, false, {}});
    if (pending_.size() > limits_.max_pending_requests) {
      ++stats_.requests_evicted;
      emit(pending_.front(), pending_.front().request->wire.end_ns);
      pending_.pop_front();
    }
    return;
  }
  const bool interim =
      msg->status_code >= 100 && msg->status_code < 200 && msg->framing != BodyFraming::kTunnel;
  // A response whose bytes had all arrived before the request was sent cannot answer it (a header cut
  // by the capture is only announced later). Entry times are not compared: a blocked read may be
  // entered before the request is written.
  if (pending_.empty() || msg->wire.end_ns < pending_.front().request->wire.start_ns) {
    ++stats_.unmatched_responses;
    return;
  }
  if (interim) {
    Exchange& ex = pending_.front();
    if (!ex.response_started) {
      ex.response_started = true;
      ex.interim = msg->wire;
      ex.interim.bytes = 0;  // added when the interim response completes
    }
    return;
  }
  if (answering_) emit(*answering_, 0);  // not reached: a parser completes one message before the next
  answering_ = std::move(pending_.front());
  pending_.pop_front();
  answering_->response = msg;
}

void Stitcher::on_complete(Direction dir, const std::shared_ptr<Message>& msg) {
  if (msg->kind != MessageKind::kResponse) return;
  if (answering_ && answering_->response == msg) {
    emit(*answering_, 0);
    answering_.reset();
  } else if (!pending_.empty() && pending_.front().response_started && msg->status_code < 200 &&
             msg->framing != BodyFraming::kTunnel) {
    pending_.front().interim.bytes += msg->wire.bytes;
  }
  if (msg->framing == BodyFraming::kTunnel) {
    egress_.enter_tunnel();
    ingress_.enter_tunnel();
  }
}

void Stitcher::emit(const Exchange& ex, uint64_t missing_end_ns) {
  ++stats_.records;
  if (out_ == nullptr) return;
  L7Record& r = out_->emplace_back();
  make_record(r, *ex.request, ex.response.get(), role_);
  if (ex.response_started) {
    r.resp_seq = ex.interim.seq;
    r.resp_tid = ex.interim.tid;
    r.resp_bytes += ex.interim.bytes;
  }
  if (!ex.response) r.end_ns = std::max(missing_end_ns, ex.request->wire.end_ns);
  r.end_ns = std::max(r.end_ns, r.start_ns);  // spans never end before they start, whatever the clocks say
}

}  // namespace otelbpf::l7::http
