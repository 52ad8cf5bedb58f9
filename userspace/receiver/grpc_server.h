#pragma once
// OTLP/gRPC receiver (TraceService/Export, default :4317): the second door into the same pipeline.
#include <memory>
#include <string>

#include "receiver/otlp_ingest.h"
#include "tls/tls_options.h"

namespace otelbpf {

struct GrpcServerOptions {
  std::string listen = "0.0.0.0:4317";
  std::size_t max_message_bytes = 16u << 20;
  // gRPC's own resource quota: the memory its buffers may take and the threads its synchronous service
  // may use (each in-flight Export holds one), and the concurrent streams one connection may open. Beyond
  // them a caller gets RESOURCE_EXHAUSTED instead of the agent growing.
  std::size_t quota_memory_bytes = 64u << 20;
  int max_threads = 8;
  int max_concurrent_streams = 16;
  TlsServerOptions tls{};  // a certificate makes the listener TLS; a client CA, mutual TLS
};

class GrpcServer {
 public:
  GrpcServer(GrpcServerOptions options, OtlpIngest& ingest);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Throws std::runtime_error when the address cannot be bound.
  void start();
  void stop();
  int bound_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace otelbpf
