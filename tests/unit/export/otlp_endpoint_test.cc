// Endpoint, headers, compression and timeout resolution from config and the OTel environment variables,
// and the http:// URL parsing the HTTP exporter relies on.
#include "export/otlp_endpoint.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace otelbpf {
namespace {
using namespace std::chrono_literals;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(OtlpEndpointTest, HttpEndpointPrecedence) {
  const auto http = OtlpProtocol::kHttpProtobuf;
  auto both = env_of({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom"},
                      {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"}});
  EXPECT_EQ(resolve_otlp_endpoint("http://config:9/x", http, both), "http://config:9/x");
  EXPECT_EQ(resolve_otlp_endpoint("", http, both), "http://traces:4318/custom");  // as-is, no /v1/traces
  EXPECT_EQ(resolve_otlp_endpoint("", http, env_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"}})),
            "http://base:4318/v1/traces");
  EXPECT_EQ(
      resolve_otlp_endpoint("", http, env_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318/otlp/"}})),
      "http://base:4318/otlp/v1/traces");
  EXPECT_EQ(resolve_otlp_endpoint("", http, env_of({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", " "}})),
            "http://localhost:4318/v1/traces");
  EXPECT_EQ(resolve_otlp_endpoint("", http, env_of({})), "http://localhost:4318/v1/traces");
}

TEST(OtlpEndpointTest, GrpcEndpointIsAHostPortTarget) {
  const auto grpc = OtlpProtocol::kGrpc;
  EXPECT_EQ(resolve_otlp_endpoint("collector:4317", grpc, env_of({})), "collector:4317");
  EXPECT_EQ(resolve_otlp_endpoint("", grpc, env_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4317"}})),
            "base:4317");
  EXPECT_EQ(
      resolve_otlp_endpoint("", grpc, env_of({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4317/"}})),
      "t:4317");
  EXPECT_EQ(resolve_otlp_endpoint("", grpc, env_of({})), "localhost:4317");
  EXPECT_EQ(resolve_otlp_endpoint("https://secure:4317", grpc, env_of({})), "secure:4317");
}

// Whether a connection is TLS: the scheme says it; a schemeless gRPC endpoint is plaintext unless config,
// OTEL_EXPORTER_OTLP_INSECURE=false or a configured certificate asks for TLS. Files come from config, else
// the spec's variables (signal-specific first).
TEST(OtlpEndpointTest, TlsFollowsTheSchemeAndTheSpecsVariables) {
  const auto grpc = OtlpProtocol::kGrpc;
  const auto http = OtlpProtocol::kHttpProtobuf;
  EXPECT_TRUE(resolve_otlp_settings({.endpoint = "https://c:4318"}, http, env_of({})).tls.enabled);
  EXPECT_FALSE(resolve_otlp_settings({.endpoint = "http://c:4318"}, http, env_of({})).tls.enabled);
  EXPECT_TRUE(resolve_otlp_settings({.endpoint = "https://c:4317"}, grpc, env_of({})).tls.enabled);
  EXPECT_FALSE(resolve_otlp_settings({.endpoint = "http://c:4317"}, grpc, env_of({})).tls.enabled);
  EXPECT_FALSE(resolve_otlp_settings({.endpoint = "c:4317"}, grpc, env_of({})).tls.enabled);
  EXPECT_TRUE(resolve_otlp_settings({.endpoint = "c:4317"}, grpc,
                                    env_of({{"OTEL_EXPORTER_OTLP_INSECURE", "false"}}))
                  .tls.enabled);
  OtlpExporterConfig enabled{.endpoint = "c:4317"};
  enabled.tls.enabled = true;
  EXPECT_TRUE(resolve_otlp_settings(enabled, grpc, env_of({})).tls.enabled);

  auto env = env_of({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t:4318/v1/traces"},
                     {"OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic/ca.pem"},
                     {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/traces/ca.pem"},
                     {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/c/client.pem"},
                     {"OTEL_EXPORTER_OTLP_CLIENT_KEY", "/c/client.key"}});
  auto settings = resolve_otlp_settings({}, http, env);
  EXPECT_TRUE(settings.tls.enabled);
  EXPECT_EQ(settings.tls.ca_file, "/traces/ca.pem");
  EXPECT_EQ(settings.tls.cert_file, "/c/client.pem");
  EXPECT_EQ(settings.tls.key_file, "/c/client.key");
  OtlpExporterConfig own;
  own.tls.ca_file = "/config/ca.pem";
  EXPECT_EQ(resolve_otlp_settings(own, http, env).tls.ca_file, "/config/ca.pem");
  // A schemeless gRPC endpoint with a CA configured means TLS; an http:// one with a CA is a mistake.
  EXPECT_TRUE(resolve_otlp_settings({.endpoint = "c:4317"}, grpc,
                                    env_of({{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"}}))
                  .tls.enabled);
  EXPECT_THROW(resolve_otlp_settings({.endpoint = "http://c:4318"}, http,
                                     env_of({{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"}})),
               std::invalid_argument);
}

TEST(OtlpEndpointTest, SettingsFromEnvironmentAndConfig) {
  auto env = env_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"},
                     {"OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret%20value, x-tenant = t1 ,,"},
                     {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=t2"},
                     {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                     {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"}});
  auto settings = resolve_otlp_settings({}, OtlpProtocol::kHttpProtobuf, env);
  EXPECT_EQ(settings.endpoint, "http://base:4318/v1/traces");
  EXPECT_TRUE(settings.gzip);
  EXPECT_EQ(settings.timeout, 2500ms);
  EXPECT_EQ(settings.headers,
            (std::map<std::string, std::string>{{"api-key", "secret value"}, {"x-tenant", "t2"}}));

  OtlpExporterConfig config;
  config.compression = "none";
  config.timeout = 700ms;
  config.headers = {{"x-tenant", "from-config"}};
  settings = resolve_otlp_settings(config, OtlpProtocol::kHttpProtobuf, env);
  EXPECT_FALSE(settings.gzip);
  EXPECT_EQ(settings.timeout, 700ms);
  EXPECT_EQ(settings.headers.at("x-tenant"), "from-config");
  EXPECT_EQ(settings.headers.at("api-key"), "secret value");

  EXPECT_EQ(resolve_otlp_settings({}, OtlpProtocol::kGrpc, env_of({})).timeout, 10000ms);
}

TEST(OtlpEndpointTest, UnusableValuesAreErrorsNamingTheVariable) {
  auto expect_error = [](std::map<std::string, std::string> vars, const std::string& name) {
    try {
      resolve_otlp_settings({}, OtlpProtocol::kHttpProtobuf, env_of(vars));
      ADD_FAILURE() << "no error for " << name;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  expect_error({{"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"}}, "OTEL_EXPORTER_OTLP_COMPRESSION");
  expect_error({{"OTEL_EXPORTER_OTLP_TIMEOUT", "10s"}}, "OTEL_EXPORTER_OTLP_TIMEOUT");
  expect_error({{"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}}, "OTEL_EXPORTER_OTLP_HEADERS");
}

TEST(OtlpEndpointTest, ParsesHttpUrls) {
  HttpUrl url;
  std::string error;
  ASSERT_TRUE(parse_otlp_http_url("http://collector:4318/v1/traces", url, error));
  EXPECT_EQ(url.host, "collector");
  EXPECT_EQ(url.port, "4318");
  EXPECT_EQ(url.target, "/v1/traces");
  ASSERT_TRUE(parse_otlp_http_url("http://collector", url, error));
  EXPECT_EQ(url.port, "80");
  EXPECT_EQ(url.target, "/v1/traces");
  ASSERT_TRUE(parse_otlp_http_url("http://[::1]:9000/api/v1/otel/trace?x=1", url, error));
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, "9000");
  EXPECT_EQ(url.target, "/api/v1/otel/trace?x=1");
  ASSERT_TRUE(parse_otlp_http_url("https://collector", url, error));
  EXPECT_TRUE(url.tls);
  EXPECT_EQ(url.port, "443");
  ASSERT_TRUE(parse_otlp_http_url("https://collector:4318/x", url, error));
  EXPECT_EQ(url.port, "4318");
  EXPECT_EQ(url.target, "/x");
  EXPECT_FALSE(parse_otlp_http_url("ftp://collector:4318", url, error));
  EXPECT_FALSE(parse_otlp_http_url("collector:4318", url, error));
  EXPECT_FALSE(parse_otlp_http_url("http://collector:99999/", url, error));
  EXPECT_FALSE(parse_otlp_http_url("http://:4318/", url, error));
}

}  // namespace
}  // namespace otelbpf
