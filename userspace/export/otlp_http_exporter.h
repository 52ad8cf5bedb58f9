#pragma once
// OTLP/HTTP with binary protobuf bodies (https://opentelemetry.io/docs/specs/otlp/#otlphttp): one POST per
// ExportRequest over a kept-alive connection, answers classified as the spec says.
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "export/exporter.h"
#include "tls/tls_options.h"

namespace otelbpf {

struct OtlpHttpExporterOptions {
  std::string endpoint = "http://localhost:4318/v1/traces";  // http:// or https://; no path = /v1/traces
  bool gzip = false;
  std::chrono::milliseconds timeout{10000};  // the whole exchange: resolve, connect, write, read
  std::map<std::string, std::string> headers{};
  std::size_t max_response_bytes = 4u << 20;
  TlsClientOptions tls{};  // used for https:// endpoints (enabled follows the scheme)
};

class OtlpHttpExporter final : public SpanExporter {
 public:
  // Throws std::invalid_argument when the endpoint is not a usable http:// URL.
  explicit OtlpHttpExporter(OtlpHttpExporterOptions options, std::string name = "otlp_http",
                            MetricsRegistry& metrics = default_metrics());
  ~OtlpHttpExporter() override;
  OtlpHttpExporter(const OtlpHttpExporter&) = delete;
  OtlpHttpExporter& operator=(const OtlpHttpExporter&) = delete;

  const std::string& name() const override { return name_; }
  // 2xx: ok (partial_success rejections are logged and counted as otelbpf_exporter_rejected_spans_total);
  // 429/502/503/504: retryable with Retry-After (seconds); other statuses: permanent; network errors and
  // timeouts: retryable.
  ExportOutcome send(const otlp::ExportRequest& request) override;
  // Protobuf's wire format merges concatenated messages: the parts' bytes one after the other are the
  // merged request.
  ExportOutcome send_parts(std::span<const otlp::ExportRequest* const> parts) override;

  struct Connection;  // the Beast client state (defined in the .cc)

 private:
  OtlpHttpExporterOptions options_;
  std::string name_;
  PartialSuccessHandler partial_success_;
  std::unique_ptr<Connection> connection_;

  ExportOutcome send_body(std::string request_body);
};

}  // namespace otelbpf
