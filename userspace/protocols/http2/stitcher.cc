#include "protocols/http2/stitcher.h"

#include <algorithm>
#include <array>

#include "common/http_url.h"
#include "protocols/common/text.h"

namespace otelbpf::l7::http2 {
namespace {

constexpr std::array<std::string_view, 9> kKnownMethods = {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS",
                                                           "PATCH",   "POST",   "PUT", "TRACE"};
constexpr size_t kMaxSpanNamePath = 256;

bool is_grpc_content_type(const std::string* ct) {
  return ct != nullptr && istarts_with(*ct, "application/grpc") && !istarts_with(*ct, "application/grpc-web");
}

}  // namespace

std::string grpc_status_name(int64_t code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",       "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",    "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED",
  };
  if (code >= 0 && code < static_cast<int64_t>(std::size(kNames))) return kNames[code];
  return std::to_string(code);
}

L7Record make_record(const StreamExchange& s, Role role) {
  const bool answered = s.response_seen || s.reset || s.trailers_seen;
  L7Record r = record_from_wire("http2", role, s.request_wire, answered ? &s.response_wire : nullptr);

  const HeaderBlock& req = s.request;
  const std::string* method = req.find(":method");
  const std::string* path_field = req.find(":path");
  const std::string* authority = req.find(":authority");
  if (authority == nullptr) authority = req.find("host");
  const std::string* scheme = req.find(":scheme");
  const std::string* grpc_status = s.trailers_seen ? s.trailers.find("grpc-status") : nullptr;
  if (grpc_status == nullptr && s.response_seen) grpc_status = s.response.find("grpc-status");
  const bool grpc = is_grpc_content_type(req.find("content-type")) ||
                    (s.response_seen && is_grpc_content_type(s.response.find("content-type"))) ||
                    grpc_status != nullptr;

  std::string_view path;
  std::string_view query;
  if (path_field != nullptr) {
    path = *path_field;
    if (const size_t q = path.find('?'); q != std::string_view::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
  }

  Attributes& a = r.attributes;
  const bool known_method = method != nullptr && std::find(kKnownMethods.begin(), kKnownMethods.end(),
                                                           *method) != kKnownMethods.end();
  if (method != nullptr) {
    add_text_attribute(a, "http.request.method", known_method ? std::string_view(*method) : "_OTHER");
    if (!known_method) a.emplace_back("http.request.method_original", *method);
  }
  if (!path.empty()) add_text_attribute(a, "url.path", path);
  if (!query.empty()) add_text_attribute(a, "url.query", query);
  if (scheme != nullptr) a.emplace_back("url.scheme", *scheme);
  if (authority != nullptr && !authority->empty()) {
    std::string_view host;
    std::optional<int64_t> port;
    split_authority(*authority, &host, &port);
    if (!host.empty()) add_text_attribute(a, "server.address", host);
    if (port) a.emplace_back("server.port", *port);
  }
  add_text_attribute(a, "network.protocol.name", "http");
  add_text_attribute(a, "network.protocol.version", "2");
  if (const std::string* ua = req.find("user-agent")) a.emplace_back("user_agent.original", *ua);
  if (s.request_body > 0) a.emplace_back("http.request.body.size", static_cast<int64_t>(s.request_body));

  std::optional<int64_t> status;
  if (s.response_seen) {
    if (const std::string* st = s.response.find(":status")) {
      if (const auto v = parse_decimal(*st, 999)) status = static_cast<int64_t>(*v);
    }
  }
  if (status) a.emplace_back("http.response.status_code", *status);
  if (s.response_body > 0) a.emplace_back("http.response.body.size", static_cast<int64_t>(s.response_body));
  a.emplace_back("otelbpf.http2.stream_id", static_cast<int64_t>(s.id));

  std::string_view service;
  std::string_view rpc_method;
  if (grpc) {
    add_text_attribute(a, "rpc.system", "grpc");
    // "/package.Service/Method"
    if (path.size() > 1 && path.front() == '/') {
      const size_t slash = path.rfind('/');
      if (slash > 0) {
        service = path.substr(1, slash - 1);
        rpc_method = path.substr(slash + 1);
      }
    }
    if (!service.empty()) add_text_attribute(a, "rpc.service", service);
    if (!rpc_method.empty()) add_text_attribute(a, "rpc.method", rpc_method);
  }
  std::optional<int64_t> grpc_code;
  if (grpc_status != nullptr) {
    if (const auto v = parse_decimal(*grpc_status, 1000)) grpc_code = static_cast<int64_t>(*v);
  }
  if (grpc_code) a.emplace_back("rpc.grpc.status_code", *grpc_code);

  // Status: a non-OK gRPC status, an HTTP 5xx, or a stream that was reset before it completed.
  if (grpc_code && *grpc_code != 0) {
    r.error = true;
    a.emplace_back("error.type", grpc_status_name(*grpc_code));
    const std::string* msg = s.trailers_seen ? s.trailers.find("grpc-message") : nullptr;
    if (msg == nullptr && s.response_seen) msg = s.response.find("grpc-message");
    // grpc-message is percent-encoded (gRPC over HTTP/2 spec, "Responses").
    r.status_message = msg != nullptr && !msg->empty() ? percent_decode(*msg) : grpc_status_name(*grpc_code);
  } else if (status && *status >= 500) {
    r.error = true;
    a.emplace_back("error.type", std::to_string(*status));
    r.status_message = "HTTP " + std::to_string(*status);
  } else if (s.reset && !(s.reset_code == 0 && s.response_ended)) {
    r.error = true;
    a.emplace_back("error.type", error_code_name(s.reset_code));
    r.status_message = "RST_STREAM " + error_code_name(s.reset_code);
  } else if (s.refused_by_goaway) {
    r.error = true;
    add_text_attribute(a, "error.type", "GOAWAY");
    r.status_message = "stream not processed (GOAWAY)";
  }
  if (s.reset) a.emplace_back("otelbpf.http2.rst_error_code", error_code_name(s.reset_code));

  const bool incomplete = req.incomplete || (s.response_seen && s.response.incomplete) ||
                          (s.trailers_seen && s.trailers.incomplete);
  if (incomplete) a.emplace_back("otelbpf.http2.headers_incomplete", true);
  const bool tentative =
      req.tentative || (s.response_seen && s.response.tentative) || (s.trailers_seen && s.trailers.tentative);
  if (tentative) a.emplace_back("otelbpf.http2.headers_tentative", true);

  if (grpc && !service.empty() && !rpc_method.empty()) {
    r.span_name.assign(service);
    r.span_name.push_back('/');
    r.span_name.append(rpc_method);
  } else {
    r.span_name = known_method ? *method : std::string("HTTP");
    if (!path.empty() && !(method != nullptr && *method == "CONNECT")) {
      r.span_name.push_back(' ');
      r.span_name.append(path.substr(0, kMaxSpanNamePath));
    }
  }
  r.context = extract_trace_context(req.fields);
  return r;
}

Stitcher::Stitcher(const Limits& limits)
    : limits_(limits),
      readers_{FrameReader(Direction::kEgress, *this, stats_, limits_),
               FrameReader(Direction::kIngress, *this, stats_, limits_)},
      decoders_{HpackDecoder(limits.max_dynamic_table_bytes), HpackDecoder(limits.max_dynamic_table_bytes)} {}

void Stitcher::on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) {
  out_ = &out;
  readers_[index(chunk.direction)].feed(chunk);
  out_ = nullptr;
}

void Stitcher::on_close(uint64_t ts_ns, std::vector<L7Record>& out) {
  out_ = &out;
  for (const auto& [id, s] : streams_) emit(s, ts_ns);
  streams_.clear();
  out_ = nullptr;
}

void Stitcher::set_client_direction(Direction dir) {
  if (client_dir_) return;
  client_dir_ = dir;
  role_ = dir == Direction::kEgress ? Role::kClient : Role::kServer;
}

void Stitcher::on_preface(Direction dir, const WireExtent&) {
  set_client_direction(dir);
  // The preface is the connection's first byte from the client: its encoder's table is known from empty.
  decoders_[index(dir)].set_known_from_start(true);
}

void Stitcher::on_framing_lost(Direction dir, bool garbage) {
  PendingBlock& pb = blocks_[index(dir)];
  if (pb.active) {
    pb.cut = true;
    finish_block(dir);
  }
  // Garbage: nothing is known any more. Uncaptured frames: most often DATA (writers put large payloads
  // and many small frames in one writev, and the probe copies its first buffers only), so the table is
  // kept as tentative until a stream shows that a header block was among them.
  if (garbage) {
    decoders_[index(dir)].lose_table();
  } else {
    decoders_[index(dir)].mark_tentative();
  }
}

void Stitcher::header_block_went_missing(Direction dir) {
  if (decoders_[index(dir)].has_tentative()) decoders_[index(dir)].lose_table();
}

void Stitcher::on_frame(Direction dir, const Frame& frame) {
  const size_t d = index(dir);
  const FrameHeader& h = frame.header;
  if (!first_frame_seen_[d]) {
    first_frame_seen_[d] = true;
    // A server's first frame is its SETTINGS (RFC 9113 §3.4): seeing it means we saw the connection open.
    if (!readers_[d].saw_preface() && h.frame_type() == FrameType::kSettings && !h.has(flags::kAck))
      decoders_[d].set_known_from_start(true);
  }
  PendingBlock& pb = blocks_[d];
  if (pb.active && (h.frame_type() != FrameType::kContinuation || h.stream_id != pb.stream_id)) {
    // RFC 9113 §6.10: nothing may interleave with a header block. The rest of the block is lost.
    ++stats_.parse_errors;
    pb.cut = true;
    finish_block(dir);
    decoders_[d].lose_table();
  }
  if (h.type > kMaxKnownFrameType) return;  // extension frames carry nothing we report
  switch (h.frame_type()) {
    case FrameType::kHeaders:
    case FrameType::kPushPromise:
      start_block(dir, frame);
      return;
    case FrameType::kContinuation:
      if (pb.active) continue_block(dir, frame);
      return;  // the rest of a block that began before the capture: its table effects are unknown anyway
    case FrameType::kData:
      on_data(dir, frame);
      return;
    case FrameType::kRstStream:
      on_rst(dir, frame);
      return;
    case FrameType::kGoaway:
      on_goaway(dir, frame);
      return;
    case FrameType::kSettings:
      on_settings(dir, frame);
      return;
    case FrameType::kPriority:
    case FrameType::kPing:
    case FrameType::kWindowUpdate:
      return;
  }
}

void Stitcher::on_settings(Direction dir, const Frame& frame) {
  if (frame.header.has(flags::kAck) || !frame.payload_complete) return;
  std::vector<std::pair<uint16_t, uint32_t>> params;
  if (parse_settings(frame.payload, &params) != ParseState::kSuccess) return;
  for (const auto& [id, value] : params) {
    // The sender tells its peer how large a frame it may send back: the other direction's bound.
    if (id == settings::kMaxFrameSize && value >= kDefaultMaxFrameSize && value <= kMaxFrameSizeLimit)
      readers_[index(opposite(dir))].set_max_frame_size(value);
  }
}

void Stitcher::start_block(Direction dir, const Frame& frame) {
  PendingBlock& pb = blocks_[index(dir)];
  pb = PendingBlock{};
  pb.active = true;
  pb.type = frame.header.frame_type();
  pb.stream_id = frame.header.stream_id;
  pb.end_stream = pb.type == FrameType::kHeaders && frame.header.has(flags::kEndStream);
  pb.wire = frame.wire;
  std::string_view fragment;
  const ParseState s = frame_payload_fragment(frame.header, frame.payload, &fragment, &pb.promised_id);
  if (s == ParseState::kInvalid) ++stats_.parse_errors;
  if (s != ParseState::kSuccess || !frame.payload_complete) pb.cut = true;
  if (s == ParseState::kSuccess) pb.fragments.assign(fragment);
  if (frame.header.has(flags::kEndHeaders)) finish_block(dir);
}

void Stitcher::continue_block(Direction dir, const Frame& frame) {
  PendingBlock& pb = blocks_[index(dir)];
  pb.wire.end_ns = frame.wire.end_ns;
  pb.wire.bytes += frame.wire.bytes;
  if (!frame.payload_complete) pb.cut = true;
  if (pb.fragments.size() + frame.payload.size() > limits_.max_header_block_bytes) {
    pb.cut = true;
  } else if (!pb.cut) {
    pb.fragments.append(frame.payload);
  }
  if (frame.header.has(flags::kEndHeaders)) finish_block(dir);
}

void Stitcher::finish_block(Direction dir) {
  PendingBlock& pb = blocks_[index(dir)];
  pb.active = false;
  HpackDecoder& decoder = decoders_[index(dir)];
  // Clients open streams in order, two ids apart: a skipped id is a request HEADERS the capture lost.
  if (pb.type == FrameType::kHeaders && client_dir_ && dir == *client_dir_ && last_client_stream_ != 0 &&
      pb.stream_id > last_client_stream_ + 2 && streams_.find(pb.stream_id) == streams_.end())
    header_block_went_missing(dir);
  HeaderBlock block;
  const ParseState s = decoder.decode(pb.fragments, &block, limits_);
  if (pb.cut) {
    // Decoded as far as captured; what the rest inserted into the table is unknown.
    block.incomplete = true;
    decoder.lose_table();
  } else if (s == ParseState::kInvalid) {
    ++stats_.parse_errors;
  }
  if (block.incomplete) {
    ++incomplete_blocks_;
    ++stats_.truncated_headers;
  }
  on_header_block(dir, pb, std::move(block));
}

StreamExchange* Stitcher::open_stream(uint32_t id, Direction request_dir) {
  if (streams_.size() >= limits_.max_streams) {
    auto oldest = streams_.begin();
    ++stats_.requests_evicted;
    emit(oldest->second, oldest->second.request_wire.end_ns);
    streams_.erase(oldest);
  }
  StreamExchange& s = streams_[id];
  s = StreamExchange{};
  s.id = id;
  s.request_dir = request_dir;
  return &s;
}

void Stitcher::on_header_block(Direction dir, PendingBlock& pb, HeaderBlock block) {
  if (pb.type == FrameType::kPushPromise) {
    // The promised stream's request, sent by the server; its response follows on the promised id.
    if (pb.promised_id == 0) return;
    StreamExchange* s = open_stream(pb.promised_id, dir);
    s->pushed = true;
    s->request = std::move(block);
    s->request_wire = pb.wire;
    s->request_ended = true;
    return;
  }
  auto it = streams_.find(pb.stream_id);
  if (it == streams_.end()) {
    const bool has_method = block.find(":method") != nullptr;
    const bool has_status = block.find(":status") != nullptr;
    if (!client_dir_) {
      if (has_method) set_client_direction(dir);
      if (has_status) set_client_direction(opposite(dir));
    }
    // A new stream from the client, or a response to a request this capture never saw.
    const bool request = client_dir_ && dir == *client_dir_ && !has_status && (pb.stream_id & 1u) == 1u;
    if (!request) {
      ++stats_.unmatched_responses;
      return;
    }
    last_client_stream_ = std::max(last_client_stream_, pb.stream_id);
    StreamExchange* s = open_stream(pb.stream_id, dir);
    s->request = std::move(block);
    s->request_wire = pb.wire;
    s->request_ended = pb.end_stream;
    maybe_emit(pb.stream_id);
    return;
  }
  StreamExchange& s = it->second;
  if (dir == s.request_dir && !s.pushed) {
    // Request trailers: they end the request.
    s.request_wire.end_ns = pb.wire.end_ns;
    s.request_wire.bytes += pb.wire.bytes;
    if (block.incomplete) s.request.incomplete = true;
    s.request_ended = s.request_ended || pb.end_stream;
    maybe_emit(s.id);
    return;
  }
  const bool first_response_bytes = !s.response_seen && !s.trailers_seen && s.response_wire.bytes == 0;
  if (first_response_bytes) {
    s.response_wire = pb.wire;
  } else {
    s.response_wire.end_ns = pb.wire.end_ns;
    s.response_wire.bytes += pb.wire.bytes;
  }
  if (!s.response_seen && block.tentative && block.find(":status") == nullptr) {
    // Trailers where the response header was due: it went by in a capture gap, and so did its insertions.
    block.incomplete = true;
    header_block_went_missing(dir);
  }
  if (!s.response_seen) {
    const std::string* st = block.find(":status");
    const bool interim = st != nullptr && st->size() == 3 && (*st)[0] == '1' && !pb.end_stream;
    if (!interim) {
      s.response = std::move(block);
      s.response_seen = true;
    }
  } else {
    s.trailers = std::move(block);
    s.trailers_seen = true;
  }
  s.response_ended = s.response_ended || pb.end_stream;
  maybe_emit(s.id);
}

void Stitcher::on_data(Direction dir, const Frame& frame) {
  auto it = streams_.find(frame.header.stream_id);
  if (it == streams_.end()) {
    // DATA on a stream the client opened unseen: its HEADERS was lost.
    if (client_dir_ && dir == *client_dir_ && frame.header.stream_id > last_client_stream_ &&
        (frame.header.stream_id & 1u) == 1u)
      header_block_went_missing(dir);
    return;
  }
  StreamExchange& s = it->second;
  const bool response_side = !(dir == s.request_dir && !s.pushed);
  if (response_side && !s.response_seen && s.response_wire.bytes == 0) header_block_went_missing(dir);
  uint64_t data_len = frame.header.length;
  if (frame.header.has(flags::kPadded) && !frame.payload.empty()) {
    const uint64_t pad = static_cast<uint8_t>(frame.payload[0]) + 1u;
    data_len = data_len >= pad ? data_len - pad : 0;
  }
  const bool end = frame.header.has(flags::kEndStream);
  if (dir == s.request_dir && !s.pushed) {
    s.request_wire.end_ns = frame.wire.end_ns;
    s.request_wire.bytes += frame.wire.bytes;
    s.request_body += data_len;
    s.request_ended = s.request_ended || end;
  } else {
    if (s.response_wire.bytes == 0)
      s.response_wire = WireExtent{frame.wire.start_ns, 0, frame.wire.seq, frame.wire.tid, 0};
    s.response_wire.end_ns = frame.wire.end_ns;
    s.response_wire.bytes += frame.wire.bytes;
    s.response_body += data_len;
    s.response_ended = s.response_ended || end;
  }
  maybe_emit(s.id);
}

void Stitcher::on_rst(Direction dir, const Frame& frame) {
  auto it = streams_.find(frame.header.stream_id);
  if (it == streams_.end()) return;
  StreamExchange& s = it->second;
  uint32_t code = 0;
  if (parse_rst_stream(frame.payload, &code) != ParseState::kSuccess) code = 0;
  s.reset = true;
  s.reset_code = code;
  // The reset is the stream's last event; the side that sent it counts it.
  if (dir == s.request_dir && !s.pushed) {
    s.request_wire.bytes += frame.wire.bytes;
    if (s.response_wire.bytes == 0 && !s.response_seen) {
      s.response_wire.start_ns = frame.wire.start_ns;
      s.response_wire.tid = frame.wire.tid;
    }
  } else {
    if (s.response_wire.bytes == 0)
      s.response_wire = WireExtent{frame.wire.start_ns, 0, frame.wire.seq, frame.wire.tid, 0};
    s.response_wire.bytes += frame.wire.bytes;
  }
  s.response_wire.end_ns = std::max(s.response_wire.end_ns, frame.wire.end_ns);
  const uint32_t id = s.id;
  emit(s, 0);
  streams_.erase(id);
}

void Stitcher::on_goaway(Direction dir, const Frame& frame) {
  uint32_t last = 0;
  uint32_t code = 0;
  if (parse_goaway(frame.payload, &last, &code) != ParseState::kSuccess) return;
  // Streams the GOAWAY's receiver opened above last_stream_id were not processed (RFC 9113 §6.8).
  std::vector<uint32_t> refused;
  for (auto& [id, s] : streams_) {
    if (id > last && s.request_dir == opposite(dir) && !s.pushed) refused.push_back(id);
  }
  for (uint32_t id : refused) {
    StreamExchange& s = streams_[id];
    s.refused_by_goaway = true;
    emit(s, frame.wire.end_ns);
    streams_.erase(id);
  }
}

void Stitcher::maybe_emit(uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (!it->second.request_ended || !it->second.response_ended) return;
  emit(it->second, 0);
  streams_.erase(it);
}

void Stitcher::emit(const StreamExchange& s, uint64_t missing_end_ns) {
  L7Record r = make_record(s, role_);
  if (r.response_missing) r.end_ns = std::max(missing_end_ns, s.request_wire.end_ns);
  r.end_ns = std::max(r.end_ns, r.start_ns);
  ++stats_.records;
  if (out_ != nullptr) out_->push_back(std::move(r));
}

}  // namespace otelbpf::l7::http2
