#pragma once
// What every exporter (file, OTLP/HTTP, OTLP/gRPC) is to the export stage: a named sink that sends one
// ExportRequest and says whether it went through, may go through later, or never will. Queueing,
// batching, retry and spooling are not the exporter's business: ExportWorker gives every exporter the same.
#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/metrics.h"
#include "model/span_batch.h"

namespace otelbpf {

struct ExportOutcome {
  // kTooLarge: the endpoint refuses a request of this size (HTTP 413, gRPC RESOURCE_EXHAUSTED "larger than
  // max"); smaller requests with the same spans may pass.
  enum class Kind { kOk, kRetryable, kPermanent, kTooLarge } kind = Kind::kOk;
  std::string reason;
  // The endpoint's own "come back later" (HTTP Retry-After, gRPC RetryInfo); 0 = none given.
  std::chrono::milliseconds retry_after{0};

  static ExportOutcome ok(std::string note = {}) { return {Kind::kOk, std::move(note), {}}; }
  static ExportOutcome retryable(std::string reason, std::chrono::milliseconds retry_after = {}) {
    return {Kind::kRetryable, std::move(reason), retry_after};
  }
  static ExportOutcome permanent(std::string reason) { return {Kind::kPermanent, std::move(reason), {}}; }
  static ExportOutcome too_large(std::string reason) { return {Kind::kTooLarge, std::move(reason), {}}; }
};

const char* to_string(ExportOutcome::Kind kind);

// Splits a request into two with about half the spans each, keeping each span's resource and scope.
std::pair<otlp::ExportRequest, otlp::ExportRequest> split_request(const otlp::ExportRequest& request);

// What both OTLP exporters do with an answer's partial_success: rejected spans are counted on
// otelbpf_exporter_rejected_spans_total{exporter} and logged; the request went through either way.
class PartialSuccessHandler {
 public:
  PartialSuccessHandler(MetricsRegistry& metrics, std::string exporter);
  ExportOutcome outcome(const otlp::ExportResponse& answer, std::string_view endpoint);

 private:
  Counter& rejected_spans_;
  std::string exporter_;
};

class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // Stable and unique per agent: it labels the metrics and names the exporter's spool subdirectory.
  virtual const std::string& name() const = 0;
  // Called from one thread at a time (the exporter's worker); may block up to the exporter's own timeout.
  virtual ExportOutcome send(const otlp::ExportRequest& request) = 0;
  // Several requests sent as the one request merging them would make. The default merges them into a
  // copy; exporters that can encode them one after the other override it and save the copy (a deep copy
  // of every span was a fifth of the export thread's time).
  virtual ExportOutcome send_parts(std::span<const otlp::ExportRequest* const> parts);
  // Whether a request's serialized size matters to where it goes (an OTLP receiver's message limit). When
  // it does not (a file), the worker does not size requests: a walk over every span (4% of the agent's
  // time under OTLP ingest).
  virtual bool limits_request_bytes() const { return true; }
  // Whether send_batches takes the tracer's compact sys spans (model/sys_span.h) as they are (the file
  // exporter writes their JSON from them). Every other exporter is given their OTLP form by its worker.
  virtual bool takes_compact_spans() const { return false; }
  // Several batches sent as the one request merging them would make. The default sends their OTLP
  // requests (send_parts).
  virtual ExportOutcome send_batches(std::span<const SpanBatch* const> batches);
};

}  // namespace otelbpf
