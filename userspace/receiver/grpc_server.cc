#include "receiver/grpc_server.h"

#include <algorithm>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "tls/tls.h"

namespace otelbpf {
namespace {

using opentelemetry::proto::collector::trace::v1::TraceService;

// gRPC peers look like "ipv4:10.0.0.5:43210" or "ipv6:[::1]:43210"; pod attribution wants the address.
std::string peer_address(const std::string& peer) {
  std::string s = peer;
  if (auto colon = s.find(':');
      colon != std::string::npos && (s.rfind("ipv4", 0) == 0 || s.rfind("ipv6", 0) == 0))
    s = s.substr(colon + 1);
  if (!s.empty() && s.front() == '[') return s.substr(1, s.find(']') - 1);
  if (auto colon = s.rfind(':'); colon != std::string::npos) s = s.substr(0, colon);
  return s;
}

class TraceServiceImpl final : public TraceService::Service {
 public:
  explicit TraceServiceImpl(OtlpIngest& ingest) : ingest_(ingest) {}

  grpc::Status Export(grpc::ServerContext* context, const otlp::ExportRequest* request,
                      otlp::ExportResponse* response) override {
    auto result = ingest_.ingest_request(*request, peer_address(context->peer()), "grpc");
    using Code = IngestResult::Code;
    switch (result.code) {
      case Code::kOk:
        if (result.rejected_spans > 0) {
          response->mutable_partial_success()->set_rejected_spans(result.rejected_spans);
          response->mutable_partial_success()->set_error_message(result.partial_message);
        }
        return grpc::Status::OK;
      case Code::kBusy:
      case Code::kShuttingDown:
        // UNAVAILABLE is the OTLP/gRPC code a client retries on.
        return {grpc::StatusCode::UNAVAILABLE, result.message};
      case Code::kTooLarge:
        return {grpc::StatusCode::RESOURCE_EXHAUSTED, result.message};
      default:
        return {grpc::StatusCode::INVALID_ARGUMENT, result.message};
    }
  }

 private:
  OtlpIngest& ingest_;
};

}  // namespace

struct GrpcServer::Impl {
  GrpcServerOptions options;
  TraceServiceImpl service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  Impl(GrpcServerOptions o, OtlpIngest& ingest) : options(std::move(o)), service(ingest) {}
};

GrpcServer::GrpcServer(GrpcServerOptions options, OtlpIngest& ingest)
    : impl_(std::make_unique<Impl>(std::move(options), ingest)) {}

GrpcServer::~GrpcServer() { stop(); }

namespace {

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsServerOptions& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  const std::string what = "receiver.grpc.tls";
  grpc::SslServerCredentialsOptions ssl(
      tls.client_ca_file.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_key_cert_pairs.push_back(
      {read_pem_file(tls.key_file, what + ".key_file"), read_pem_file(tls.cert_file, what + ".cert_file")});
  if (!tls.client_ca_file.empty()) ssl.pem_root_certs = read_pem_file(tls.client_ca_file, what + ".client_ca_file");
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

void GrpcServer::start() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(impl_->options.listen, server_credentials(impl_->options.tls), &impl_->port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(impl_->options.max_message_bytes));
  grpc::ResourceQuota quota("otelbpf-receiver");
  quota.Resize(impl_->options.quota_memory_bytes);
  quota.SetMaxThreads(std::max(2, impl_->options.max_threads));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, std::max(1, impl_->options.max_concurrent_streams));
  builder.RegisterService(&impl_->service);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || impl_->port == 0)
    throw std::runtime_error("grpc receiver: cannot listen on " + impl_->options.listen);
  spdlog::info("grpc receiver listening on {} (port {}){}", impl_->options.listen, impl_->port,
               impl_->options.tls.enabled()
                   ? (impl_->options.tls.client_ca_file.empty() ? " with TLS" : " with mutual TLS")
                   : "");
}

void GrpcServer::stop() {
  if (impl_ && impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    impl_->server.reset();
  }
}

int GrpcServer::bound_port() const { return impl_->port; }

}  // namespace otelbpf
