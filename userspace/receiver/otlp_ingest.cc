#include "receiver/otlp_ingest.h"

#include <arpa/inet.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "model/otlp_wire.h"

#include "model/otlp_json.h"

namespace otelbpf {
namespace {

bool is_all_zero(const std::string& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// The OTLP spec: trace id 16 bytes, span id 8 bytes, neither all zero; a parent id is empty or 8 bytes.
const char* invalid_span_reason(const otlp::Span& span) {
  if (span.trace_id().size() != 16 || is_all_zero(span.trace_id())) return "invalid trace_id";
  if (span.span_id().size() != 8 || is_all_zero(span.span_id())) return "invalid span_id";
  if (!span.parent_span_id().empty() && span.parent_span_id().size() != 8) return "invalid parent_span_id";
  return nullptr;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// What a body decodes into, for the arena's first block and the budget's reservation before decoding:
// a 512-span SDK request decodes into ~5x its protobuf bytes (ids, strings and per-message headers); JSON
// spells the same spans in ~3x the protobuf bytes. An estimate only: the arena grows past it, and the
// batch is charged what its arena holds once decoded.
std::size_t decoded_bytes_estimate(BodyEncoding encoding, std::size_t body_bytes) {
  constexpr std::size_t kMin = 4096;
  const std::size_t estimate = encoding == BodyEncoding::kProtobuf ? body_bytes * 5 : body_bytes * 2;
  return std::max(kMin, estimate);
}

// An arena whose first block holds the estimated decode (one allocation for a typical request), further
// blocks a quarter of that: a request that outgrows the estimate wastes at most a quarter block.
std::unique_ptr<google::protobuf::Arena> decode_arena(std::size_t estimate) {
  google::protobuf::ArenaOptions options;
  options.start_block_size = estimate;
  options.max_block_size = std::max<std::size_t>(estimate / 4, 4096);
  return std::make_unique<google::protobuf::Arena>(options);
}

IngestResult failure(IngestResult::Code code, std::string message) {
  IngestResult result;
  result.code = code;
  result.message = std::move(message);
  return result;
}

}  // namespace

InflateStatus gunzip_bounded(std::string_view compressed, std::size_t limit, std::string& out) {
  z_stream zs{};
  // 16 + MAX_WBITS: gzip wrapper only; concatenated gzip members are handled by the reset loop below.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return InflateStatus::kCorrupt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::array<char, 64 * 1024> chunk{};
  InflateStatus status = InflateStatus::kOk;
  out.clear();
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
    zs.avail_out = static_cast<uInt>(chunk.size());
    int rc = inflate(&zs, Z_NO_FLUSH);
    const std::size_t produced = chunk.size() - zs.avail_out;
    if (out.size() + produced > limit) {
      status = InflateStatus::kTooLarge;
      break;
    }
    out.append(chunk.data(), produced);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);
      continue;
    }
    if (rc != Z_OK) {
      status = InflateStatus::kCorrupt;
      break;
    }
    if (zs.avail_in == 0 && produced == 0) {  // truncated stream
      status = InflateStatus::kCorrupt;
      break;
    }
  }
  inflateEnd(&zs);
  return status;
}

OtlpIngest::OtlpIngest(SpanPipeline& pipeline, IngestLimits limits, MetricsRegistry& metrics)
    : pipeline_(pipeline), limits_(limits), metrics_(metrics) {}

bool OtlpIngest::encoding_for_content_type(std::string_view content_type, BodyEncoding& encoding) {
  std::string type = lower(content_type.substr(0, content_type.find(';')));
  type.erase(std::remove(type.begin(), type.end(), ' '), type.end());
  if (type == "application/x-protobuf" || type == "application/protobuf") {
    encoding = BodyEncoding::kProtobuf;
    return true;
  }
  if (type == "application/json") {
    encoding = BodyEncoding::kJson;
    return true;
  }
  return false;
}

void OtlpIngest::count_rejection(std::string_view transport, std::string_view reason) {
  metrics_
      .counter("otelbpf_receiver_rejected_requests_total", "OTLP requests answered with an error",
               {{"transport", std::string(transport)}, {"reason", std::string(reason)}})
      .inc();
}

IngestResult OtlpIngest::ingest_body(BodyEncoding encoding, std::string_view content_encoding,
                                     std::string_view body, const std::string& peer_address,
                                     std::string_view transport) {
  IngestResult result;
  if (body.size() > limits_.max_body_bytes) {
    count_rejection(transport, "too_large");
    return failure(IngestResult::Code::kTooLarge,
                   "body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
  }
  std::string inflated;
  const std::string coding = lower(content_encoding);
  if (coding == "gzip") {
    switch (gunzip_bounded(body, limits_.max_decompressed_bytes, inflated)) {
      case InflateStatus::kOk:
        body = inflated;
        break;
      case InflateStatus::kTooLarge:
        count_rejection(transport, "too_large_decompressed");
        return failure(
            IngestResult::Code::kTooLarge,
            "decompressed body exceeds " + std::to_string(limits_.max_decompressed_bytes) + " bytes");
      case InflateStatus::kCorrupt:
        count_rejection(transport, "bad_gzip");
        return failure(IngestResult::Code::kBadRequest, "body is not valid gzip");
    }
  } else if (!coding.empty() && coding != "identity") {
    count_rejection(transport, "unsupported_encoding");
    return failure(IngestResult::Code::kUnsupportedMediaType, "unsupported Content-Encoding: " + coding);
  }

  auto too_many_spans = [&](std::size_t spans) {
    count_rejection(transport, "too_many_spans");
    return failure(IngestResult::Code::kTooLarge,
                   "the request holds " + std::to_string(spans) + " spans, more than " +
                       std::to_string(limits_.max_spans_per_request) + " in one request");
  };
  if (encoding == BodyEncoding::kProtobuf) {
    if (const auto count = count_spans_on_wire(body);
        count.well_formed && count.spans > limits_.max_spans_per_request)
      return too_many_spans(count.spans);
  }
  // The decode's bytes are taken from the budget before decoding: a request the budget cannot hold is
  // refused (429 / UNAVAILABLE, the sender retries) without allocating them.
  const std::size_t estimate = decoded_bytes_estimate(encoding, body.size());
  MemoryBudget* budget = pipeline_.memory_budget();
  auto reserved = MemoryCharge::try_take(budget, estimate);
  if (!reserved) {
    count_rejection(transport, "memory_budget");
    return failure(IngestResult::Code::kBusy, "memory budget is full, retry later");
  }
  SpanBatch batch(decode_arena(estimate));
  if (encoding == BodyEncoding::kProtobuf) {
    if (!batch.request().ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      count_rejection(transport, "undecodable");
      return failure(IngestResult::Code::kBadRequest,
                     "body is not a valid ExportTraceServiceRequest protobuf");
    }
  } else {
    JsonDecodeError error;
    if (!decode_otlp_json(body, batch.request(), error, limits_.max_spans_per_request)) {
      if (error.too_many_spans) {
        count_rejection(transport, "too_many_spans");
        return failure(IngestResult::Code::kTooLarge, error.message);
      }
      count_rejection(transport, "undecodable");
      return failure(IngestResult::Code::kBadRequest, "invalid OTLP/JSON: " + error.message);
    }
  }
  // From the estimate to what the arena holds.
  if (budget) reserved->adjust(budget, approx_resident_bytes(batch));
  batch.charge = std::move(*reserved);
  return admit(std::move(batch), peer_address, transport);
}

IngestResult OtlpIngest::ingest_request(otlp::ExportRequest request, const std::string& peer_address,
                                        std::string_view transport) {
  SpanBatch batch;
  batch.request() = std::move(request);
  return admit(std::move(batch), peer_address, transport);
}

IngestResult OtlpIngest::admit(SpanBatch batch, const std::string& peer_address, std::string_view transport) {
  IngestResult result;
  otlp::ExportRequest& request = batch.request();
  std::size_t accepted = 0;
  std::string first_reason;
  for (auto& rs : *request.mutable_resource_spans()) {
    for (auto& ss : *rs.mutable_scope_spans()) {
      auto* spans = ss.mutable_spans();
      auto keep = std::stable_partition(spans->begin(), spans->end(), [&](const otlp::Span& span) {
        const char* reason = invalid_span_reason(span);
        if (reason && first_reason.empty()) first_reason = reason;
        return reason == nullptr;
      });
      const int rejected = static_cast<int>(spans->end() - keep);
      if (rejected > 0) spans->DeleteSubrange(static_cast<int>(keep - spans->begin()), rejected);
      result.rejected_spans += rejected;
      accepted += static_cast<std::size_t>(spans->size());
    }
  }
  const std::string t(transport);
  if (result.rejected_spans > 0) {
    metrics_
        .counter("otelbpf_receiver_rejected_spans_total", "Spans refused by the receiver",
                 {{"transport", t}, {"reason", "invalid_id"}})
        .inc(static_cast<std::uint64_t>(result.rejected_spans));
    result.partial_message = std::to_string(result.rejected_spans) + " span(s) rejected: " + first_reason;
  }
  if (accepted > 0) {
    batch.source = SpanSource::kApp;
    batch.peer_address = peer_address;
    batch.from_peer_agent = trusted_peer(peer_address);
    switch (pipeline_.submit(std::move(batch))) {
      case SpanPipeline::Admission::kAccepted:
        break;
      case SpanPipeline::Admission::kFull:
        count_rejection(transport, "pipeline_full");
        return failure(IngestResult::Code::kBusy, "pipeline is full, retry later");
      case SpanPipeline::Admission::kClosed:
        count_rejection(transport, "shutting_down");
        return failure(IngestResult::Code::kShuttingDown, "agent is shutting down");
    }
  }
  metrics_.counter("otelbpf_receiver_spans_total", "Spans accepted by the receiver", {{"transport", t}})
      .inc(accepted);
  metrics_.counter("otelbpf_receiver_requests_total", "OTLP export requests accepted", {{"transport", t}})
      .inc();
  return result;
}

void OtlpIngest::trust_peer_agents(const std::vector<std::string>& entries) {
  std::vector<TrustedNetwork> parsed;
  for (const auto& entry : entries) {
    const auto slash = entry.find('/');
    const std::string address = entry.substr(0, slash);
    TrustedNetwork net;
    if (inet_pton(AF_INET, address.c_str(), net.address.data()) == 1) {
      net.family = AF_INET;
      net.prefix_bits = 32;
    } else if (inet_pton(AF_INET6, address.c_str(), net.address.data()) == 1) {
      net.family = AF_INET6;
      net.prefix_bits = 128;
    } else {
      throw std::invalid_argument("receiver.peer_agents: not an address or network: " + entry);
    }
    if (slash != std::string::npos) {
      char* end = nullptr;
      const long bits = std::strtol(entry.c_str() + slash + 1, &end, 10);
      if (*end != '\0' || end == entry.c_str() + slash + 1 || bits < 0 || bits > net.prefix_bits)
        throw std::invalid_argument("receiver.peer_agents: bad prefix length: " + entry);
      net.prefix_bits = static_cast<int>(bits);
    }
    parsed.push_back(net);
  }
  peer_agents_ = std::move(parsed);
}

bool OtlpIngest::trusted_peer(std::string_view sender) const {
  if (peer_agents_.empty()) return false;
  if (sender.starts_with("::ffff:")) sender.remove_prefix(7);  // a dual-stack socket's IPv4 peer
  std::array<std::uint8_t, 16> address{};
  const std::string text(sender);
  int family = AF_INET;
  if (inet_pton(AF_INET, text.c_str(), address.data()) != 1) {
    family = AF_INET6;
    if (inet_pton(AF_INET6, text.c_str(), address.data()) != 1) return false;
  }
  for (const auto& net : peer_agents_) {
    if (net.family != family) continue;
    const int whole = net.prefix_bits / 8, rest = net.prefix_bits % 8;
    if (std::memcmp(address.data(), net.address.data(), static_cast<std::size_t>(whole)) != 0) continue;
    if (rest) {
      const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
      if ((address[whole] & mask) != (net.address[whole] & mask)) continue;
    }
    return true;
  }
  return false;
}

}  // namespace otelbpf
