// OtlpHttpExporter against a real HTTP/1.1 server (Boost.Beast, loopback, ephemeral port) that decodes what
// it receives: protobuf bodies, gzip, custom headers and keep-alive reuse, and every class of answer the
// OTLP/HTTP spec defines (ok, partial success, retryable with Retry-After, permanent, network failures).
#include "export/otlp_http_exporter.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <mutex>
#include <thread>

#include "export/export_worker.h"
#include "export_test_support.h"
#include "google/rpc/status.pb.h"

namespace otelbpf {
namespace {
using namespace std::chrono_literals;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using testing::make_request;
using testing::span_numbers;

struct Reply {
  unsigned status = 200;
  std::string body{};
  std::string content_type = "application/x-protobuf";
  std::map<std::string, std::string> headers{};
  std::chrono::milliseconds delay{0};
  bool close_after = false;  // close the connection after answering, without saying so
};

struct Received {
  std::string target;
  std::map<std::string, std::string> headers;  // lowercase names
  otlp::ExportRequest request;
  bool decoded = false;
};

// Answers scripted replies in order (200 with an empty body once the script is used up).
class FakeOtlpHttpServer {
 public:
  FakeOtlpHttpServer() : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~FakeOtlpHttpServer() {
    stopping_ = true;
    {  // wake the blocking accept, then the blocking reads
      net::io_context io;
      tcp::socket wake(io);
      beast::error_code ec;
      wake.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    }
    accept_thread_.join();
    {
      std::lock_guard lock(mutex_);
      for (auto& socket : sockets_) {
        beast::error_code ec;
        socket->shutdown(tcp::socket::shutdown_both, ec);
      }
    }
    for (auto& t : connection_threads_) t.join();
  }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/v1/traces") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void script(std::vector<Reply> replies) {
    std::lock_guard lock(mutex_);
    for (auto& r : replies) script_.push_back(std::move(r));
  }
  std::vector<Received> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }
  int connections() {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io_);
      beast::error_code ec;
      acceptor_.accept(*socket, ec);
      if (stopping_ || ec) return;
      std::lock_guard lock(mutex_);
      ++connections_;
      sockets_.push_back(socket);
      connection_threads_.emplace_back([this, socket] { serve(*socket); });
    }
  }

  void serve(tcp::socket& socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      Received got;
      got.target = std::string(req.target());
      for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        got.headers[name] = std::string(field.value());
      }
      std::string body = req.body();
      if (auto it = got.headers.find("content-encoding"); it != got.headers.end() && it->second == "gzip")
        body = testing::gunzip(body);
      got.decoded = got.request.ParseFromString(body);
      Reply reply;
      {
        std::lock_guard lock(mutex_);
        received_.push_back(std::move(got));
        if (!script_.empty()) {
          reply = std::move(script_.front());
          script_.pop_front();
        }
      }
      if (reply.delay > 0ms) std::this_thread::sleep_for(reply.delay);
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      res.set(http::field::content_type, reply.content_type);
      for (const auto& [k, v] : reply.headers) res.set(k, v);
      res.body() = reply.body;
      res.keep_alive(true);
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || reply.close_after) {
        socket.shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
    }
  }

  net::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::deque<Reply> script_;
  std::vector<Received> received_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> connection_threads_;
  int connections_ = 0;
};

std::string rpc_status_body(const std::string& message) {
  google::rpc::Status status;
  status.set_code(3);
  status.set_message(message);
  return status.SerializeAsString();
}

class OtlpHttpExporterTest : public ::testing::Test {
 protected:
  std::unique_ptr<OtlpHttpExporter> exporter(OtlpHttpExporterOptions options = {}) {
    if (options.endpoint == OtlpHttpExporterOptions{}.endpoint) options.endpoint = server_.url();
    return std::make_unique<OtlpHttpExporter>(options, "otlp_http", metrics_);
  }
  FakeOtlpHttpServer server_;
  MetricsRegistry metrics_;
};

TEST_F(OtlpHttpExporterTest, PostsProtobufWithHeadersOverOneKeptAliveConnection) {
  auto client = exporter({.endpoint = server_.url("/custom/traces"),
                          .headers = {{"Authorization", "Bearer t0ken"}, {"x-tenant", "team-a"}}});
  const auto first = make_request(0, 3);
  const auto second = make_request(3, 2);
  auto outcome = client->send(first);
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kOk) << outcome.reason;
  EXPECT_EQ(client->send(second).kind, ExportOutcome::Kind::kOk);

  auto got = server_.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].target, "/custom/traces");
  EXPECT_EQ(got[0].headers["content-type"], "application/x-protobuf");
  EXPECT_EQ(got[0].headers["authorization"], "Bearer t0ken");
  EXPECT_EQ(got[0].headers["x-tenant"], "team-a");
  EXPECT_EQ(got[0].headers.count("content-encoding"), 0u);
  ASSERT_TRUE(got[0].decoded);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got[0].request, first));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got[1].request, second));
  EXPECT_EQ(server_.connections(), 1);
}

TEST_F(OtlpHttpExporterTest, GzipBodyDecodes) {
  auto client = exporter({.gzip = true});
  const auto request = make_request(0, 50);
  EXPECT_EQ(client->send(request).kind, ExportOutcome::Kind::kOk);
  auto got = server_.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].headers["content-encoding"], "gzip");
  EXPECT_LT(std::stoul(got[0].headers["content-length"]), request.ByteSizeLong());
  ASSERT_TRUE(got[0].decoded);
  EXPECT_EQ(span_numbers(got[0].request), testing::range(0, 50));
}

TEST_F(OtlpHttpExporterTest, OverloadAnswersAreRetryableWithRetryAfter) {
  server_.script({{.status = 503, .headers = {{"Retry-After", "2"}}},
                  {.status = 429},
                  {.status = 502, .headers = {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}},
                  {.status = 504},
                  {.status = 200}});
  auto client = exporter();
  auto outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable);
  EXPECT_EQ(outcome.retry_after, 2000ms);
  EXPECT_NE(outcome.reason.find("503"), std::string::npos) << outcome.reason;
  outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable);
  EXPECT_EQ(outcome.retry_after, 0ms);
  outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable);
  EXPECT_EQ(outcome.retry_after, 0ms);  // HTTP-dates are not honoured
  EXPECT_EQ(client->send(make_request(0, 1)).kind, ExportOutcome::Kind::kRetryable);
  EXPECT_EQ(client->send(make_request(0, 1)).kind, ExportOutcome::Kind::kOk);
}

TEST_F(OtlpHttpExporterTest, OtherErrorsArePermanentWithTheServersMessage) {
  server_.script({{.status = 400, .body = rpc_status_body("span 3 has no trace id")},
                  {.status = 404, .body = "no such path", .content_type = "text/plain"},
                  {.status = 500}});
  auto client = exporter();
  auto outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kPermanent);
  EXPECT_NE(outcome.reason.find("HTTP 400"), std::string::npos) << outcome.reason;
  EXPECT_NE(outcome.reason.find("span 3 has no trace id"), std::string::npos) << outcome.reason;
  outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kPermanent);
  EXPECT_NE(outcome.reason.find("no such path"), std::string::npos) << outcome.reason;
  EXPECT_EQ(client->send(make_request(0, 1)).kind, ExportOutcome::Kind::kPermanent);
}

TEST_F(OtlpHttpExporterTest, PayloadTooLargeSaysSoSoTheWorkerCanSplit) {
  server_.script({{.status = 413, .body = "request entity too large", .content_type = "text/plain"}});
  auto client = exporter();
  auto outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kTooLarge);
  EXPECT_NE(outcome.reason.find("HTTP 413"), std::string::npos) << outcome.reason;
}

TEST_F(OtlpHttpExporterTest, PartialSuccessIsOkAndCountsRejectedSpans) {
  otlp::ExportResponse response;
  response.mutable_partial_success()->set_rejected_spans(2);
  response.mutable_partial_success()->set_error_message("2 spans too old");
  server_.script({{.status = 200, .body = response.SerializeAsString()}});
  auto client = exporter();
  auto outcome = client->send(make_request(0, 5));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kOk);
  EXPECT_NE(outcome.reason.find("2 spans too old"), std::string::npos) << outcome.reason;
  EXPECT_EQ(metrics_.value("otelbpf_exporter_rejected_spans_total", {{"exporter", "otlp_http"}}), 2);
}

TEST_F(OtlpHttpExporterTest, ConnectionRefusedIsRetryable) {
  std::uint16_t closed_port = 0;
  {
    net::io_context io;
    tcp::acceptor probe(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    closed_port = probe.local_endpoint().port();
  }
  auto client = exporter({.endpoint = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1/traces"});
  auto outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable);
  EXPECT_NE(outcome.reason.find("connect"), std::string::npos) << outcome.reason;
}

TEST_F(OtlpHttpExporterTest, SlowAnswerTimesOutAsRetryableAndTheNextSendReconnects) {
  server_.script({{.status = 200, .delay = 400ms}, {.status = 200}});
  auto client = exporter({.timeout = 150ms});
  auto started = std::chrono::steady_clock::now();
  auto outcome = client->send(make_request(0, 1));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable);
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 380ms);
  EXPECT_EQ(client->send(make_request(0, 1)).kind, ExportOutcome::Kind::kOk);
  EXPECT_EQ(server_.connections(), 2);
}

TEST_F(OtlpHttpExporterTest, ConnectionTheServerDroppedIsReplacedTransparently) {
  server_.script({{.status = 200, .close_after = true}, {.status = 200}});
  auto client = exporter();
  EXPECT_EQ(client->send(make_request(0, 1)).kind, ExportOutcome::Kind::kOk);
  std::this_thread::sleep_for(20ms);
  auto outcome = client->send(make_request(1, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kOk) << outcome.reason;
  EXPECT_EQ(server_.received().size(), 2u);
  EXPECT_EQ(server_.connections(), 2);
}

TEST_F(OtlpHttpExporterTest, RejectsNonHttpEndpoints) {
  EXPECT_THROW(OtlpHttpExporter({.endpoint = "collector:4318"}, "x", metrics_), std::invalid_argument);
  EXPECT_THROW(OtlpHttpExporter({.endpoint = "ftp://collector:4318"}, "x", metrics_), std::invalid_argument);
}

// TLS files are checked when the exporter is built, named by what they are, not at the first handshake.
TEST_F(OtlpHttpExporterTest, TlsFilesAreCheckedAtStart) {
  OtlpHttpExporterOptions options{.endpoint = "https://collector:4318"};
  EXPECT_NO_THROW(OtlpHttpExporter(options, "x", metrics_));  // the system's CAs
  options.tls.ca_file = "/nonexistent/ca.pem";
  try {
    OtlpHttpExporter exporter(options, "x", metrics_);
    ADD_FAILURE() << "a missing CA file was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ca.pem"), std::string::npos) << e.what();
  }
  // Certificates for a plaintext endpoint would protect nothing: refused.
  OtlpHttpExporterOptions plain{.endpoint = "http://collector:4318"};
  plain.tls.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  EXPECT_THROW(OtlpHttpExporter(plain, "x", metrics_), std::invalid_argument);
}

TEST_F(OtlpHttpExporterTest, WorkerRetriesThrough503UntilDelivered) {
  server_.script({{.status = 503, .headers = {{"Retry-After", "0"}}}, {.status = 503}, {.status = 200}});
  ExportWorkerOptions options;
  options.initial_backoff = 5ms;
  options.max_batch_delay = 5ms;
  ExportWorker worker(exporter(), options, metrics_);
  ASSERT_TRUE(worker.enqueue(testing::make_batch(0, 4)));
  for (int i = 0;
       i < 300 && metrics_.value("otelbpf_exporter_sent_spans_total", {{"exporter", "otlp_http"}}) < 4; ++i)
    std::this_thread::sleep_for(10ms);
  worker.shutdown(1s);
  EXPECT_EQ(metrics_.value("otelbpf_exporter_sent_spans_total", {{"exporter", "otlp_http"}}), 4);
  EXPECT_EQ(metrics_.value("otelbpf_exporter_failed_attempts_total", {{"exporter", "otlp_http"}}), 2);
  auto got = server_.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(span_numbers(got[2].request), testing::range(0, 4));
}

}  // namespace
}  // namespace otelbpf
