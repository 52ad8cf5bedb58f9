#pragma once
// The agent's HTTP listener (default :38086): OTLP/HTTP on /v1/traces and /api/v1/otel/trace (the path
// DeepFlow's otel-collector configs use), plus /metrics, /healthz and /readyz.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "receiver/otlp_ingest.h"
#include "tls/tls_options.h"

namespace otelbpf {

struct HttpServerOptions {
  std::string listen_address = "0.0.0.0";
  std::uint16_t port = 38086;
  int threads = 2;
  std::chrono::milliseconds body_timeout{10000};   // a body must arrive within this after its header
  std::chrono::milliseconds idle_timeout{120000};  // keep-alive connections idle longer are closed
  std::size_t max_header_bytes = 64 * 1024;
  std::chrono::seconds retry_after{1};  // what 429/503 answers ask senders to wait
  // Open connections at most; beyond, a new connection is closed at once and counted. Any pod can reach
  // a hostNetwork agent: without a cap, idle connections alone can take every descriptor.
  std::size_t max_connections = 1024;
  // OTLP bodies are decoded on their own threads, so that /healthz, /readyz and /metrics answer on the I/O
  // threads whatever the decoders are doing (a liveness probe must not fail behind a heavy body). Bodies
  // waiting for a decoder beyond 4 per thread are answered 429.
  int decode_threads = 2;
  // A certificate makes the listener HTTPS (the handshake must finish within body_timeout); a client CA,
  // mutual TLS.
  TlsServerOptions tls{};
};

// /readyz: returns true when ready, else false with the reason.
using ReadinessCheck = std::function<bool(std::string& reason)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, OtlpIngest& ingest, MetricsRegistry& metrics, ReadinessCheck ready);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; throws std::runtime_error with the reason when the port cannot be bound.
  void start();
  // Stops accepting and closes connections.
  void stop();
  std::uint16_t bound_port() const;

  // The listener's state, shared with its connection sessions (defined in the .cc).
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace otelbpf
