#pragma once
// Transport-independent OTLP ingest: decoding (protobuf, JSON, gzip), validation, admission to the
// pipeline, and the counters behind every answer. The HTTP and gRPC doors both go through here so they
// answer alike (docs/design.md, OTLP ingest).
#include <cstdint>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.h"
#include "model/span_batch.h"
#include "pipeline/span_pipeline.h"

namespace otelbpf {

struct IngestLimits {
  std::size_t max_body_bytes = 16u << 20;          // as received on the wire
  std::size_t max_decompressed_bytes = 64u << 20;  // after gzip
  // A request with more spans than the pipeline holds could never be admitted: 413 before decoding (a
  // 16 MB body of empty spans decodes into ~3 GB).
  std::size_t max_spans_per_request = static_cast<std::size_t>(-1);
};

enum class BodyEncoding { kProtobuf, kJson };

struct IngestResult {
  enum class Code { kOk, kBadRequest, kTooLarge, kUnsupportedMediaType, kBusy, kShuttingDown };
  Code code = Code::kOk;
  std::string message;              // why, for the error answer
  std::int64_t rejected_spans = 0;  // partial_success
  std::string partial_message;
};

// Inflates a gzip body, refusing to produce more than `limit` bytes (gzip bombs).
enum class InflateStatus { kOk, kTooLarge, kCorrupt };
InflateStatus gunzip_bounded(std::string_view compressed, std::size_t limit, std::string& out);

class OtlpIngest {
 public:
  OtlpIngest(SpanPipeline& pipeline, IngestLimits limits, MetricsRegistry& metrics = default_metrics());

  const IngestLimits& limits() const { return limits_; }
  // Senders that are other otelbpf agents: their batches are marked from_peer_agent, and only then does the
  // assembler believe the otelbpf.* source and link attributes of their spans.
  // Addresses ("10.0.0.5") or networks ("10.0.0.0/8", "fd00::/8") whose batches may claim sys/net sources.
  // Throws std::invalid_argument on an entry that is neither.
  void trust_peer_agents(const std::vector<std::string>& entries);

  // Maps a Content-Type to an encoding; false for anything else (-> 415).
  static bool encoding_for_content_type(std::string_view content_type, BodyEncoding& encoding);

  // The HTTP path: body as received, with its Content-Encoding.
  IngestResult ingest_body(BodyEncoding encoding, std::string_view content_encoding, std::string_view body,
                           const std::string& peer_address, std::string_view transport);

  // The gRPC path: validate, drop invalid spans (partial success), admit.
  IngestResult ingest_request(otlp::ExportRequest request, const std::string& peer_address,
                              std::string_view transport);

  // Counts a rejection that happened before a body could be decoded (timeouts, limits, media type).
  void count_rejection(std::string_view transport, std::string_view reason);

 private:
  // The end of both paths: validate, drop invalid spans (partial success), admit the batch.
  IngestResult admit(SpanBatch batch, const std::string& peer_address, std::string_view transport);
  SpanPipeline& pipeline_;
  IngestLimits limits_;
  struct TrustedNetwork {
    int family = 0;                 // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> address{};
    int prefix_bits = 0;
  };
  bool trusted_peer(std::string_view sender) const;
  std::vector<TrustedNetwork> peer_agents_;
  MetricsRegistry& metrics_;
};

}  // namespace otelbpf
