#include "protocols/registry/l7_feed.h"

namespace otelbpf::l7 {

L7Feed::Outcome L7Feed::feed(const InferenceInput& inference, const DataChunk& chunk,
                             std::vector<L7Record>& records, std::uint32_t max_failed_inferences) {
  if (!stitcher_) {
    if (failed_inferences_ >= max_failed_inferences) return Outcome::kIgnored;
    protocol_ = infer_protocol(inference);
    if (protocol_ != Protocol::kUnknown) stitcher_ = make_stitcher(protocol_);
    if (!stitcher_) {
      protocol_ = Protocol::kUnknown;
      return ++failed_inferences_ == max_failed_inferences ? Outcome::kGaveUp : Outcome::kUnknownYet;
    }
  }
  stitcher_->on_chunk(chunk, records);
  return Outcome::kParsed;
}

void L7Feed::close(std::uint64_t ts_ns, std::vector<L7Record>& records, MetricsRegistry& metrics, const char* path) {
  if (!stitcher_) return;
  stitcher_->on_close(ts_ns, records);
  const auto& stats = stitcher_->stats();
  const std::string protocol = to_string(protocol_);
  auto count = [&](const char* event, std::uint64_t n) {
    if (n)
      metrics
          .counter("otelbpf_parser_events_total", "Parser outcomes, by protocol and capture path",
                   {{"protocol", protocol}, {"event", event}, {"path", path}})
          .inc(n);
  };
  count("parse_error", stats.parse_errors);
  count("resync", stats.resyncs);
  count("unmatched_response", stats.unmatched_responses);
  count("truncated_header", stats.truncated_headers);
  count("request_evicted", stats.requests_evicted);
  if (stats.bytes_skipped)
    metrics
        .counter("otelbpf_parser_skipped_bytes_total", "Bytes skipped while resynchronising",
                 {{"protocol", protocol}, {"path", path}})
        .inc(stats.bytes_skipped);
}

void L7Feed::restart(std::uint64_t ts_ns, std::vector<L7Record>& records, MetricsRegistry& metrics,
                     const char* path) {
  close(ts_ns, records, metrics, path);
  stitcher_ = protocol_ != Protocol::kUnknown ? make_stitcher(protocol_) : nullptr;
  if (!stitcher_) protocol_ = Protocol::kUnknown;
  failed_inferences_ = 0;
}

}  // namespace otelbpf::l7
