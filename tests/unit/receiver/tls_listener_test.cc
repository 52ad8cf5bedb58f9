// The receivers with TLS, against clients of another make where one exists (Beast/OpenSSL for HTTPS, gRPC's
// own TLS for gRPC): a trusted client is served; without its certificate (mutual TLS), with an untrusted
// one, or in plaintext it is refused, and the HTTP refusals are counted. Certificates are made by openssl
// for each run.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "receiver/grpc_server.h"
#include "receiver/http_server.h"

namespace otelbpf {
namespace {
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
namespace fs = std::filesystem;

// A CA, a server certificate for 127.0.0.1, a client certificate it signed, and one from another CA.
class TestPki {
 public:
  TestPki() : dir_(fs::temp_directory_path() / ("otelbpf-tls-test-" + std::to_string(::getpid()))) {
    fs::create_directories(dir_);
    const std::string script = R"(set -e
cd ")" + dir_.string() + R"("
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > server.ext
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem
openssl req -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.csr -subj /CN=stranger
openssl x509 -req -in stranger.csr -CA other.pem -CAkey other.key -CAcreateserial -days 2 -out stranger.pem
)";
    const std::string command = "bash -c '" + escape(script) + "' > " + (dir_ / "openssl.log").string() + " 2>&1";
    ok_ = std::system(command.c_str()) == 0;
  }
  ~TestPki() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::string read(const char* name) const {
    std::ifstream in(dir_ / name);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }
  fs::path dir_;
  bool ok_ = false;
};

otlp::ExportRequest one_span() {
  otlp::ExportRequest request;
  auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, '\x11'));
  span->set_span_id(std::string(8, '\x22'));
  span->set_name("over-tls");
  return request;
}

class TlsListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!pki_.ok()) GTEST_SKIP() << "openssl could not make test certificates (scripts/install-deps)";
  }
  double rejected(const std::string& reason) {
    return metrics_.value("otelbpf_receiver_rejected_requests_total", {{"transport", "http"}, {"reason", reason}});
  }

  // GET /healthz over TLS with the given client certificate ("" = none); the status, or 0 when the
  // handshake or the exchange failed.
  unsigned https_get(std::uint16_t port, const std::string& cert, const std::string& key) {
    net::io_context io;
    ssl::context context(ssl::context::tls_client);
    context.load_verify_file(pki_.path("ca.pem"));
    context.set_verify_mode(ssl::verify_peer);
    if (!cert.empty()) {
      context.use_certificate_chain_file(cert);
      context.use_private_key_file(key, ssl::context::pem);
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, context);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    beast::error_code ec;
    beast::get_lowest_layer(stream).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (!ec) stream.handshake(ssl::stream_base::client, ec);
    if (ec) return 0;
    http::request<http::empty_body> req(http::verb::get, "/healthz", 11);
    req.set(http::field::host, "127.0.0.1");
    http::write(stream, req, ec);
    if (ec) return 0;
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    // TLS 1.3 reports a refused client certificate after the handshake: on this read.
    http::read(stream, buffer, res, ec);
    return ec ? 0 : res.result_int();
  }

  TestPki pki_;
  MetricsRegistry metrics_;
  SpanPipeline pipeline_{SpanPipelineOptions{64, 100}, metrics_};
  OtlpIngest ingest_{pipeline_, IngestLimits{64 * 1024, 1024 * 1024}, metrics_};
};

TEST_F(TlsListenerTest, HttpsWithClientCertificatesServesOnlyTrustedClients) {
  HttpServerOptions options;
  options.listen_address = "127.0.0.1";
  options.port = 0;
  options.tls = {pki_.path("server.pem"), pki_.path("server.key"), pki_.path("ca.pem")};
  HttpServer server(options, ingest_, metrics_, nullptr);
  server.start();
  const auto port = server.bound_port();

  EXPECT_EQ(https_get(port, pki_.path("client.pem"), pki_.path("client.key")), 200u);
  EXPECT_EQ(https_get(port, "", ""), 0u) << "served a client without a certificate";
  EXPECT_EQ(https_get(port, pki_.path("stranger.pem"), pki_.path("stranger.key")), 0u)
      << "served a client whose certificate another CA signed";

  // Plaintext HTTP to the TLS port is not answered.
  net::io_context io;
  beast::tcp_stream plain(io);
  plain.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  plain.expires_after(std::chrono::seconds(5));
  http::request<http::empty_body> req(http::verb::get, "/healthz", 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(plain, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(plain, buffer, res, ec);
  EXPECT_TRUE(ec) << "plaintext was answered " << res.result_int();

  // Three refusals, counted (the server counts after its side of the handshake ends).
  for (int i = 0; i < 100 && rejected("tls_handshake") < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(rejected("tls_handshake"), 3);
  server.stop();
}

TEST_F(TlsListenerTest, BadTlsFilesFailTheStartNamingTheFile) {
  HttpServerOptions options;
  options.listen_address = "127.0.0.1";
  options.port = 0;
  options.tls = {pki_.path("server.pem"), "/nonexistent/server.key", ""};
  HttpServer server(options, ingest_, metrics_, nullptr);
  try {
    server.start();
    ADD_FAILURE() << "started with a missing key";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/server.key"), std::string::npos) << e.what();
  }
}

TEST_F(TlsListenerTest, GrpcWithClientCertificatesServesOnlyTrustedClients) {
  GrpcServerOptions options{"127.0.0.1:0", 1 << 20};
  options.tls = {pki_.path("server.pem"), pki_.path("server.key"), pki_.path("ca.pem")};
  GrpcServer server(options, ingest_);
  server.start();
  const std::string target = "127.0.0.1:" + std::to_string(server.bound_port());
  const auto call = [&](std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = opentelemetry::proto::collector::trace::v1::TraceService::NewStub(
        grpc::CreateChannel(target, credentials));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    otlp::ExportResponse response;
    return stub->Export(&context, one_span(), &response);
  };
  grpc::SslCredentialsOptions trusted;
  trusted.pem_root_certs = pki_.read("ca.pem");
  trusted.pem_cert_chain = pki_.read("client.pem");
  trusted.pem_private_key = pki_.read("client.key");
  auto status = call(grpc::SslCredentials(trusted));
  EXPECT_TRUE(status.ok()) << status.error_message();
  auto batch = pipeline_.next(std::chrono::milliseconds(500));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->span_count(), 1u);

  grpc::SslCredentialsOptions no_certificate;
  no_certificate.pem_root_certs = pki_.read("ca.pem");
  EXPECT_FALSE(call(grpc::SslCredentials(no_certificate)).ok());
  grpc::SslCredentialsOptions stranger = trusted;
  stranger.pem_cert_chain = pki_.read("stranger.pem");
  stranger.pem_private_key = pki_.read("stranger.key");
  EXPECT_FALSE(call(grpc::SslCredentials(stranger)).ok());
  EXPECT_FALSE(call(grpc::InsecureChannelCredentials()).ok());
  EXPECT_FALSE(pipeline_.next(std::chrono::milliseconds(10)));  // nothing refused reached the pipeline
  server.stop();
}

}  // namespace
}  // namespace otelbpf
