#pragma once
// OTLP/gRPC receiver (TraceService/Export, default :4317): the second door into the same pipeline.
#include <memory>
#include <string>

#include "receiver/otlp_ingest.h"

namespace otelbpf {

struct GrpcServerOptions {
  std::string listen = "0.0.0.0:4317";
  std::size_t max_message_bytes = 16u << 20;
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
