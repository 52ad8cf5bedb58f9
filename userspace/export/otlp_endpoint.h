#pragma once
// Where an OTLP exporter sends, from config or else from the OpenTelemetry environment variables
// (https://opentelemetry.io/docs/specs/otel/protocol/exporter/): signal-specific variables win over the
// generic ones, and explicit config wins over both.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/http_url.h"
#include "tls/tls_options.h"

namespace otelbpf {

enum class OtlpProtocol { kHttpProtobuf, kGrpc };

// Returns the value of an environment variable, or nullopt when unset. Tests inject their own.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> process_env(const std::string& name);

// The export.otlp_http / export.otlp_grpc config section, with "unset" made explicit.
struct OtlpExporterConfig {
  std::string endpoint{};                            // "" = from the environment
  std::string compression{};                         // "gzip" | "none" | "" (= from the environment)
  std::optional<std::chrono::milliseconds> timeout;  // nullopt = from the environment, else 10 s
  std::map<std::string, std::string> headers{};      // merged over the environment's headers
  // Files "" = from the environment. `tls.enabled` matters for gRPC endpoints without a scheme only (an
  // https:// or http:// endpoint says itself whether it is TLS).
  TlsClientOptions tls{};
};

struct OtlpExporterSettings {
  // HTTP: a full URL ("http://host:4318/v1/traces"). gRPC: "host:port" for grpc::CreateChannel.
  std::string endpoint{};
  bool gzip = false;
  std::chrono::milliseconds timeout{10000};
  std::map<std::string, std::string> headers{};
  TlsClientOptions tls{};  // tls.enabled: the connection is TLS
};

// The endpoint alone. Config value first (used as-is, except that gRPC drops an http:// scheme); else
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as-is; else OTEL_EXPORTER_OTLP_ENDPOINT, plus "/v1/traces" for HTTP;
// else the spec's defaults http://localhost:4318/v1/traces and localhost:4317.
std::string resolve_otlp_endpoint(const std::string& config_value, OtlpProtocol protocol,
                                  const EnvLookup& env = process_env);

// Everything: endpoint as above; compression from config, else OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
// else OTEL_EXPORTER_OTLP_COMPRESSION; timeout likewise from *_TIMEOUT (milliseconds); headers from
// OTEL_EXPORTER_OTLP_HEADERS, then *_TRACES_HEADERS, then config (later wins per key).
// TLS: on for https:// endpoints; for a gRPC endpoint without a scheme, on when config says so, when
// OTEL_EXPORTER_OTLP_[TRACES_]INSECURE is "false", or when a CA or client certificate is configured (the
// spec's default for a schemeless gRPC endpoint is TLS; ours is plaintext, since the embedded default
// sends to a collector on the node). Files from config, else OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE,
// _CLIENT_CERTIFICATE and _CLIENT_KEY. An http:// endpoint with TLS files configured is an error.
// Throws std::invalid_argument naming the variable when a value cannot be used (unknown compression,
// a timeout that is not a number, a header entry without '=').
OtlpExporterSettings resolve_otlp_settings(const OtlpExporterConfig& config, OtlpProtocol protocol,
                                           const EnvLookup& env = process_env);

// "k1=v1,k2=v2" (W3C Baggage-like: entries trimmed, values percent-decoded). Throws std::invalid_argument.
std::map<std::string, std::string> parse_otlp_headers(std::string_view text);

// An OTLP/HTTP endpoint URL taken apart (common/http_url.h), with the spec's /v1/traces as the target when
// the URL has no path. Returns false and fills `error` otherwise.
bool parse_otlp_http_url(std::string_view url, HttpUrl& out, std::string& error);

}  // namespace otelbpf
