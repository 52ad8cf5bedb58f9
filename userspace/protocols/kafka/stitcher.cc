#include "protocols/kafka/stitcher.h"

#include <algorithm>
#include <string>

namespace otelbpf::l7::kafka {
namespace {

int32_t be32(std::string_view b) {
  return static_cast<int32_t>((static_cast<uint32_t>(static_cast<uint8_t>(b[0])) << 24) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 16) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(b[2])) << 8) |
                              static_cast<uint32_t>(static_cast<uint8_t>(b[3])));
}

// A request start on a connection whose protocol is already known: header sanity without the exactness
// inference asks for (the chunk may carry several requests or be cut by the capture).
bool request_starts(std::string_view bytes) { return looks_like_request(bytes, /*lenient=*/true); }

}  // namespace

L7Record make_record(const Request& request, const Response* response, Role role) {
  const bool no_response_expected = request.api_key == kProduce && request.acks == 0;
  L7Record r = record_from_wire("kafka", role, request.wire, response != nullptr ? &response->wire : nullptr);
  if (response == nullptr && no_response_expected) r.response_missing = false;  // acks=0: none was due

  Attributes& a = r.attributes;
  const std::string op = operation_name(request.api_key);
  add_text_attribute(a, "messaging.system", "kafka");
  a.emplace_back("messaging.operation.name", op);
  if (request.api_key == kProduce) add_text_attribute(a, "messaging.operation.type", "send");
  if (request.api_key == kFetch) add_text_attribute(a, "messaging.operation.type", "receive");
  // Metadata names its topics in the response when the request asked for all of them.
  const std::vector<std::string>& topics =
      request.topics.empty() && response != nullptr ? response->topics : request.topics;
  if (!topics.empty()) {
    a.emplace_back("messaging.destination.name", topics.front());
    std::string all;
    for (const std::string& t : topics) {
      if (!all.empty()) all.push_back(',');
      all += t;
    }
    a.emplace_back("otelbpf.kafka.topics", all);
  }
  if (request.partition_count >= 0) a.emplace_back("otelbpf.kafka.partition_count", request.partition_count);
  if (request.has_client_id && !request.client_id.empty())
    a.emplace_back("messaging.client.id", request.client_id);
  a.emplace_back("otelbpf.kafka.api_key", static_cast<int64_t>(request.api_key));
  a.emplace_back("otelbpf.kafka.api_version", static_cast<int64_t>(request.api_version));
  a.emplace_back("otelbpf.kafka.correlation_id", static_cast<int64_t>(request.correlation_id));
  if (request.api_key == kProduce && request.acks >= -1)
    a.emplace_back("otelbpf.kafka.acks", static_cast<int64_t>(request.acks));
  add_text_attribute(a, "network.protocol.name", "kafka");
  if (response != nullptr && response->body_parsed) {
    a.emplace_back("otelbpf.kafka.error_code", static_cast<int64_t>(response->error_code));
    if (response->error_code != 0) {
      const std::string name = error_name(response->error_code);
      r.error = true;
      a.emplace_back("error.type", name);
      r.status_message = "Kafka " + name;
    }
  }
  if (request.body_truncated || (response != nullptr && response->body_truncated)) {
    a.emplace_back("otelbpf.l7.truncated", true);
  }
  // Messaging span names: "{operation} {destination}".
  r.span_name = op;
  if (!topics.empty()) r.span_name += " " + topics.front();
  return r;
}

Stitcher::Stitcher(const Limits& limits)
    : limits_(limits),
      egress_(
          stats_, limits_, [this](std::string_view b) { return starts_message(Direction::kEgress, b); },
          [this](std::string_view b) { return starts_unprefixed(Direction::kEgress, b); }),
      ingress_(
          stats_, limits_, [this](std::string_view b) { return starts_message(Direction::kIngress, b); },
          [this](std::string_view b) { return starts_unprefixed(Direction::kIngress, b); }) {}

bool Stitcher::starts_unprefixed(Direction dir, std::string_view bytes) {
  // Only requests: a response without its size is a correlation id and little else.
  const Direction request_dir = role_ == Role::kClient ? Direction::kEgress : Direction::kIngress;
  if (role_ != Role::kUnknown && dir != request_dir) return false;
  if (!looks_like_unprefixed_request(bytes, /*kafka_port=*/true)) return false;
  if (role_ == Role::kUnknown) role_ = dir == Direction::kEgress ? Role::kClient : Role::kServer;
  return true;
}

bool Stitcher::starts_message(Direction dir, std::string_view bytes) {
  if (role_ == Role::kUnknown) {
    // The first request seen says which side this process is; until then nothing can be read.
    if (!request_starts(bytes)) return false;
    role_ = dir == Direction::kEgress ? Role::kClient : Role::kServer;
    return true;
  }
  const Direction request_dir = role_ == Role::kClient ? Direction::kEgress : Direction::kIngress;
  return dir == request_dir ? request_starts(bytes) : response_starts(bytes);
}

bool Stitcher::response_starts(std::string_view bytes) const {
  if (bytes.size() < 8) return false;
  const int32_t size = be32(bytes);
  if (size < 4 || static_cast<uint32_t>(size) > limits_.max_message_bytes) return false;
  const int32_t id = be32(bytes.substr(4));
  return std::any_of(pending_.begin(), pending_.end(),
                     [id](const Request& r) { return r.correlation_id == id; });
}

void Stitcher::on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) {
  out_ = &out;
  const Direction dir = chunk.direction;
  (dir == Direction::kEgress ? egress_ : ingress_)
      .feed(chunk, [this, dir](std::string_view kept, bool cut, const WireExtent& w) {
        on_message(dir, kept, cut, w);
      });
  out_ = nullptr;
}

void Stitcher::on_message(Direction dir, std::string_view kept, bool cut, const WireExtent& wire) {
  const Direction request_dir = role_ == Role::kClient ? Direction::kEgress : Direction::kIngress;
  if (dir == request_dir) {
    on_request(kept, cut, wire);
  } else {
    on_response(kept, cut, wire);
  }
}

void Stitcher::on_request(std::string_view kept, bool cut, const WireExtent& wire) {
  Request req;
  const ParseState s = parse_request(kept, &req, limits_);
  if (s == ParseState::kInvalid || (s == ParseState::kNeedsMoreData && req.api_key < 0) ||
      max_known_version(req.api_key) < 0) {
    ++stats_.parse_errors;
    return;
  }
  if (s == ParseState::kNeedsMoreData && !cut) ++stats_.parse_errors;  // the size said more than the body has
  if (req.body_truncated && cut) ++stats_.truncated_headers;
  req.wire = wire;
  if (req.api_key == kProduce && req.acks == 0) {
    emit(req, nullptr, 0);
    return;
  }
  pending_.push_back(std::move(req));
  if (pending_.size() > limits_.max_pending_requests) {
    ++stats_.requests_evicted;
    emit(pending_.front(), nullptr, pending_.front().wire.end_ns);
    pending_.pop_front();
  }
}

void Stitcher::on_response(std::string_view kept, bool cut, const WireExtent& wire) {
  if (kept.size() < 4) {
    ++stats_.unmatched_responses;
    return;
  }
  const int32_t id = be32(kept);
  const auto it = std::find_if(pending_.begin(), pending_.end(),
                               [id](const Request& r) { return r.correlation_id == id; });
  if (it == pending_.end() || wire.end_ns < it->wire.start_ns) {
    ++stats_.unmatched_responses;
    return;
  }
  // In-order answers: requests before the matched one will not be answered any more.
  while (pending_.begin() != it) {
    emit(pending_.front(), nullptr, wire.start_ns);
    pending_.pop_front();
  }
  Response resp;
  const ParseState s = parse_response(kept, it->api_key, it->api_version, &resp, limits_);
  if (s == ParseState::kInvalid) {
    ++stats_.parse_errors;
    resp.body_parsed = false;
  } else if (s == ParseState::kNeedsMoreData && cut) {
    resp.body_truncated = true;
  }
  resp.wire = wire;
  emit(pending_.front(), &resp, 0);
  pending_.pop_front();
}

void Stitcher::on_close(uint64_t ts_ns, std::vector<L7Record>& out) {
  out_ = &out;
  if (role_ != Role::kUnknown) {
    const Direction request_dir = role_ == Role::kClient ? Direction::kEgress : Direction::kIngress;
    Framer& requests = request_dir == Direction::kEgress ? egress_ : ingress_;
    Framer& responses = request_dir == Direction::kEgress ? ingress_ : egress_;
    requests.finish(
        [this](std::string_view kept, bool cut, const WireExtent& w) { on_request(kept, cut, w); });
    responses.finish(
        [this](std::string_view kept, bool cut, const WireExtent& w) { on_response(kept, cut, w); });
  }
  for (const Request& r : pending_) emit(r, nullptr, ts_ns);
  pending_.clear();
  out_ = nullptr;
}

void Stitcher::emit(const Request& req, const Response* resp, uint64_t missing_end_ns) {
  L7Record r = make_record(req, resp, role_);
  if (resp == nullptr) r.end_ns = std::max(missing_end_ns, req.wire.end_ns);
  r.end_ns = std::max(r.end_ns, r.start_ns);
  ++stats_.records;
  if (out_ != nullptr) out_->push_back(std::move(r));
}

}  // namespace otelbpf::l7::kafka
