#include "export/otlp_endpoint.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace otelbpf {
namespace {

constexpr std::string_view kTracesPath = "/v1/traces";

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<std::string> non_empty(const EnvLookup& env, const std::string& name) {
  auto value = env(name);
  if (value && trim(*value).empty()) return std::nullopt;
  return value;
}

enum class Scheme { kNone, kHttp, kHttps };

Scheme scheme_of(std::string_view endpoint) {
  endpoint = trim(endpoint);
  if (endpoint.starts_with("https://")) return Scheme::kHttps;
  if (endpoint.starts_with("http://")) return Scheme::kHttp;
  return Scheme::kNone;
}

// gRPC targets are host:port; the OTel variables carry URLs ("http://collector:4317", "https://...").
std::string grpc_target(const std::string& endpoint, const char* source) {
  std::string_view rest = trim(endpoint);
  if (rest.starts_with("https://")) rest.remove_prefix(8);
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  if (rest.empty()) throw std::invalid_argument(std::string(source) + ": no host in " + endpoint);
  return std::string(rest);
}

// The endpoint as configured or found in the environment, before it becomes a gRPC target (which loses
// its scheme).
std::string raw_endpoint(const std::string& config_value, const EnvLookup& env) {
  if (!trim(config_value).empty()) return config_value;
  for (const char* name : {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"})
    if (auto value = non_empty(env, name)) return *value;
  return {};
}

std::string first_of(const std::string& config_value, const EnvLookup& env, const char* traces_name,
                     const char* generic_name) {
  if (!config_value.empty()) return config_value;
  for (const char* name : {traces_name, generic_name})
    if (auto value = non_empty(env, name)) return std::string(trim(*value));
  return {};
}

TlsClientOptions resolve_tls(const OtlpExporterConfig& config, OtlpProtocol protocol, const EnvLookup& env) {
  TlsClientOptions tls = config.tls;
  tls.ca_file = first_of(config.tls.ca_file, env, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                         "OTEL_EXPORTER_OTLP_CERTIFICATE");
  tls.cert_file = first_of(config.tls.cert_file, env, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                           "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE");
  tls.key_file = first_of(config.tls.key_file, env, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                          "OTEL_EXPORTER_OTLP_CLIENT_KEY");
  const bool files = !tls.ca_file.empty() || !tls.cert_file.empty();
  const std::string endpoint = raw_endpoint(config.endpoint, env);
  switch (scheme_of(endpoint)) {
    case Scheme::kHttps:
      tls.enabled = true;
      break;
    case Scheme::kHttp:
      tls.enabled = false;
      break;
    case Scheme::kNone:
      if (protocol == OtlpProtocol::kGrpc) {
        const std::string insecure =
            first_of("", env, "OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE");
        tls.enabled = config.tls.enabled || files || insecure == "false";
      }
      break;
  }
  // Certificates configured for a plaintext endpoint are a mistake that would send in clear what the
  // operator meant to protect.
  if (!tls.enabled && files && scheme_of(endpoint) == Scheme::kHttp)
    throw std::invalid_argument("TLS files are configured but the endpoint is http:// (use https://): " +
                                endpoint);
  return tls;
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (!value) return std::nullopt;
  return std::string(value);
}

std::string resolve_otlp_endpoint(const std::string& config_value, OtlpProtocol protocol,
                                  const EnvLookup& env) {
  const bool grpc = protocol == OtlpProtocol::kGrpc;
  if (!trim(config_value).empty())
    return grpc ? grpc_target(config_value, "export.otlp_grpc.endpoint") : std::string(trim(config_value));
  if (auto traces = non_empty(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    return grpc ? grpc_target(*traces, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") : std::string(trim(*traces));
  if (auto base = non_empty(env, "OTEL_EXPORTER_OTLP_ENDPOINT")) {
    if (grpc) return grpc_target(*base, "OTEL_EXPORTER_OTLP_ENDPOINT");
    std::string url(trim(*base));
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url + std::string(kTracesPath);
  }
  return grpc ? "localhost:4317" : "http://localhost:4318/v1/traces";
}

std::map<std::string, std::string> parse_otlp_headers(std::string_view text) {
  std::map<std::string, std::string> headers;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view entry = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (entry.empty()) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || trim(entry.substr(0, eq)).empty())
      throw std::invalid_argument("header entry without key=value: " + std::string(entry));
    headers[percent_decode(trim(entry.substr(0, eq)))] = percent_decode(trim(entry.substr(eq + 1)));
  }
  return headers;
}

OtlpExporterSettings resolve_otlp_settings(const OtlpExporterConfig& config, OtlpProtocol protocol,
                                           const EnvLookup& env) {
  OtlpExporterSettings settings;
  settings.endpoint = resolve_otlp_endpoint(config.endpoint, protocol, env);
  settings.tls = resolve_tls(config, protocol, env);

  std::string compression = config.compression;
  std::string compression_source = "compression";
  for (const char* name : {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"}) {
    if (!compression.empty()) break;
    if (auto value = non_empty(env, name)) {
      compression = std::string(trim(*value));
      compression_source = name;
    }
  }
  if (compression == "gzip") {
    settings.gzip = true;
  } else if (!compression.empty() && compression != "none") {
    throw std::invalid_argument(compression_source + ": unknown compression \"" + compression +
                                "\" (gzip or none)");
  }

  if (config.timeout) {
    settings.timeout = *config.timeout;
  } else {
    for (const char* name : {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"}) {
      auto value = non_empty(env, name);
      if (!value) continue;
      std::string_view text = trim(*value);
      long long ms = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
      if (ec != std::errc() || end != text.data() + text.size() || ms <= 0)
        throw std::invalid_argument(std::string(name) + ": not a positive number of milliseconds: " + *value);
      settings.timeout = std::chrono::milliseconds(ms);
      break;
    }
  }

  for (const char* name : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    auto value = non_empty(env, name);
    if (!value) continue;
    try {
      for (auto& [key, val] : parse_otlp_headers(*value)) settings.headers[key] = val;
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(name) + ": " + e.what());
    }
  }
  for (const auto& [key, val] : config.headers) settings.headers[key] = val;
  return settings;
}

bool parse_otlp_http_url(std::string_view url, HttpUrl& out, std::string& error) {
  if (!parse_http_url(url, out, error)) return false;
  if (out.target.empty() || out.target.starts_with('?')) out.target = std::string(kTracesPath) + out.target;
  return true;
}

}  // namespace otelbpf
