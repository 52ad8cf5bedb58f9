#include "export/otlp_grpc_exporter.h"

#include <fmt/format.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "tls/tls.h"

namespace otelbpf {
namespace {
using TraceService = opentelemetry::proto::collector::trace::v1::TraceService;

const char* code_name(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  auto index = static_cast<std::size_t>(code);
  return index < std::size(kNames) ? kNames[index] : "UNKNOWN_CODE";
}

bool is_retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    // The spec retries RESOURCE_EXHAUSTED only when the server sends RetryInfo; an agent that drops on a
    // collector's momentary memory limit loses more than it saves, so it is retried (with backoff) always.
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

// google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }, found among the details of the
// google.rpc.Status the server put in the trailers. Decoded by hand: error_details.proto is not compiled in.
std::chrono::milliseconds retry_delay(const grpc::Status& status) {
  const std::string& details = status.error_details();
  if (details.empty()) return std::chrono::milliseconds(0);
  google::rpc::Status rpc_status;
  if (!rpc_status.ParseFromString(details)) return std::chrono::milliseconds(0);
  for (const auto& any : rpc_status.details()) {
    if (!any.type_url().ends_with("/google.rpc.RetryInfo")) continue;
    const std::string& value = any.value();
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(value.data()),
                                              static_cast<int>(value.size()));
    while (std::uint32_t tag = in.ReadTag()) {
      if (tag == ((1u << 3) | 2u)) {  // field 1, length-delimited
        std::string bytes;
        std::uint32_t length = 0;
        google::protobuf::Duration delay;
        if (!in.ReadVarint32(&length) || !in.ReadString(&bytes, static_cast<int>(length)) ||
            !delay.ParseFromString(bytes))
          break;
        auto ms = delay.seconds() * 1000 + delay.nanos() / 1000000;
        return std::chrono::milliseconds(std::clamp<std::int64_t>(ms, 0, 24 * 3600 * 1000));
      }
      if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) break;
    }
  }
  return std::chrono::milliseconds(0);
}

}  // namespace

struct OtlpGrpcExporter::Client {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<TraceService::Stub> stub;
};

OtlpGrpcExporter::OtlpGrpcExporter(OtlpGrpcExporterOptions options, std::string name,
                                   MetricsRegistry& metrics)
    : options_(std::move(options)),
      name_(std::move(name)),
      partial_success_(metrics, name_),
      client_(std::make_unique<Client>()) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  // Without this a channel that failed to connect waits up to its reconnect backoff (up to 120 s) before
  // trying again, while our own backoff is much shorter.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  client_->channel = grpc::CreateCustomChannel(options_.endpoint, channel_credentials(), args);
  client_->stub = TraceService::NewStub(client_->channel);
}

OtlpGrpcExporter::~OtlpGrpcExporter() = default;

std::shared_ptr<grpc::ChannelCredentials> OtlpGrpcExporter::channel_credentials() const {
  const auto& tls = options_.tls;
  if (!tls.enabled) return grpc::InsecureChannelCredentials();
  const std::string what = "exporter " + name_;
  // gRPC checks the server's certificate and name itself; skipping that has no stable C++ API here, and a
  // CA file is the right answer for a private collector anyway.
  if (tls.insecure_skip_verify)
    throw std::invalid_argument(what + ": insecure_skip_verify is not supported for gRPC; give tls.ca_file");
  if (tls.cert_file.empty() != tls.key_file.empty())
    throw std::invalid_argument(what + ": a client certificate needs both cert_file and key_file");
  grpc::SslCredentialsOptions ssl;
  try {
    if (!tls.ca_file.empty()) ssl.pem_root_certs = read_pem_file(tls.ca_file, what + " CA file");
    if (!tls.cert_file.empty()) {
      ssl.pem_cert_chain = read_pem_file(tls.cert_file, what + " certificate");
      ssl.pem_private_key = read_pem_file(tls.key_file, what + " key");
    }
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument(e.what());
  }
  return grpc::SslCredentials(ssl);  // empty roots: gRPC's (the system's) CAs
}

ExportOutcome OtlpGrpcExporter::send(const otlp::ExportRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
  if (options_.gzip) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  for (const auto& [key, value] : options_.headers) {
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    context.AddMetadata(lower, value);
  }
  otlp::ExportResponse response;
  grpc::Status status = client_->stub->Export(&context, request, &response);
  if (status.ok()) return partial_success_.outcome(response, options_.endpoint);
  std::string reason = fmt::format("gRPC {} from {}: {}", code_name(status.error_code()), options_.endpoint,
                                   status.error_message());
  // A message over the server's (or our channel's) size limit fails the same way every time: gRPC says
  // RESOURCE_EXHAUSTED "... larger than max ...". Smaller requests pass.
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
      status.error_message().find("larger than max") != std::string::npos)
    return ExportOutcome::too_large(std::move(reason));
  if (is_retryable(status.error_code()))
    return ExportOutcome::retryable(std::move(reason), retry_delay(status));
  return ExportOutcome::permanent(std::move(reason));
}

}  // namespace otelbpf
