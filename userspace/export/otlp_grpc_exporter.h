#pragma once
// OTLP/gRPC (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc): TraceService/Export over a plaintext or TLS
// channel, status codes classified as the spec says.
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "export/exporter.h"
#include "tls/tls_options.h"

namespace grpc {
class ChannelCredentials;
}

namespace otelbpf {

struct OtlpGrpcExporterOptions {
  std::string endpoint = "localhost:4317";  // host:port (a gRPC target)
  bool gzip = false;
  std::chrono::milliseconds timeout{10000};      // the Export call's deadline
  std::map<std::string, std::string> headers{};  // sent as metadata (keys lowercased, as gRPC requires)
  TlsClientOptions tls{};                        // enabled: TLS with these files (system CAs when no ca_file)
};

class OtlpGrpcExporter final : public SpanExporter {
 public:
  explicit OtlpGrpcExporter(OtlpGrpcExporterOptions options, std::string name = "otlp_grpc",
                            MetricsRegistry& metrics = default_metrics());
  ~OtlpGrpcExporter() override;
  OtlpGrpcExporter(const OtlpGrpcExporter&) = delete;
  OtlpGrpcExporter& operator=(const OtlpGrpcExporter&) = delete;

  const std::string& name() const override { return name_; }
  // OK: ok (partial_success counted as otelbpf_exporter_rejected_spans_total). CANCELLED,
  // DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS: retryable (with
  // google.rpc.RetryInfo's delay when the server sends one). Everything else: permanent.
  ExportOutcome send(const otlp::ExportRequest& request) override;

  std::shared_ptr<grpc::ChannelCredentials> channel_credentials() const;
  struct Client;  // channel and stub (defined in the .cc, keeps gRPC headers out of this one)

 private:
  OtlpGrpcExporterOptions options_;
  std::string name_;
  PartialSuccessHandler partial_success_;
  std::unique_ptr<Client> client_;
};

}  // namespace otelbpf
