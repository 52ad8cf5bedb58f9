// The OTLP/HTTP receiver served for real on an ephemeral loopback port, fed good and bad requests over
// real sockets: every answer is the one docs/design.md (OTLP ingest) specifies, every rejection is counted, and the
// server keeps serving other clients meanwhile.
#include "receiver/http_server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sys/resource.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "model/otlp_json.h"
#include "receiver/grpc_server.h"

namespace otelbpf {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

otlp::ExportRequest make_request(int spans, int bad_trace_ids = 0) {
  otlp::ExportRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("receiver-test");
  auto* ss = rs->add_scope_spans();
  for (int i = 0; i < spans + bad_trace_ids; ++i) {
    auto* span = ss->add_spans();
    span->set_trace_id(i < spans ? std::string(16, '\x11') : std::string(5, '\x11'));
    span->set_span_id(std::string(7, '\x22') + static_cast<char>(i + 1));
    span->set_name("span-" + std::to_string(i));
  }
  return request;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// One request and its answer on an open connection.
http::response<http::string_body> exchange(beast::tcp_stream& stream, http::verb verb, const std::string& target,
                                           const std::string& body, const std::string& content_type,
                                           const std::string& encoding = "") {
  http::request<http::string_body> req(verb, target, 11);
  req.set(http::field::host, "localhost");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  if (!encoding.empty()) req.set(http::field::content_encoding, encoding);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  stream.expires_after(std::chrono::seconds(5));
  http::read(stream, buffer, res);
  return res;
}

class ReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.listen_address = "127.0.0.1";
    options.port = 0;
    options.body_timeout = std::chrono::milliseconds(400);
    server_ = std::make_unique<HttpServer>(options, ingest_, metrics_, [this](std::string& reason) {
      if (pipeline_.fill_ratio() < 0.9) return true;
      reason = "pipeline full";
      return false;
    });
    server_->start();
    port_ = server_->bound_port();
  }

  http::response<http::string_body> send(http::verb verb, const std::string& target, const std::string& body,
                                         const std::string& content_type, const std::string& encoding = "") {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    return exchange(stream, verb, target, body, content_type, encoding);
  }

  double rejected(const std::string& reason) {
    return metrics_.value("otelbpf_receiver_rejected_requests_total",
                          {{"transport", "http"}, {"reason", reason}});
  }

  MetricsRegistry metrics_;
  SpanPipeline pipeline_{SpanPipelineOptions{64, 100}, metrics_};
  OtlpIngest ingest_{pipeline_, IngestLimits{64 * 1024, 1024 * 1024}, metrics_};
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
};

TEST_F(ReceiverTest, AcceptsProtobufOnBothPaths) {
  for (const char* path : {"/v1/traces", "/api/v1/otel/trace"}) {
    auto res = send(http::verb::post, path, make_request(3).SerializeAsString(), "application/x-protobuf");
    EXPECT_EQ(res.result(), http::status::ok) << path;
    EXPECT_EQ(res[http::field::content_type], "application/x-protobuf");
    otlp::ExportResponse response;
    ASSERT_TRUE(response.ParseFromString(res.body()));
    EXPECT_FALSE(response.has_partial_success());
  }
  auto batch = pipeline_.next(std::chrono::milliseconds(100));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->span_count(), 3u);
  EXPECT_EQ(batch->peer_address, "127.0.0.1");
  EXPECT_EQ(batch->request().resource_spans(0).resource().attributes(0).value().string_value(),
            "receiver-test");
  EXPECT_EQ(metrics_.value("otelbpf_receiver_spans_total", {{"transport", "http"}}), 6);
}

TEST_F(ReceiverTest, AcceptsJsonAndAnswersInJson) {
  const std::string json =
      R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C",
    "spanId":"EEE19B7EC3C1B174","name":"json","kind":2,"startTimeUnixNano":"1544712660000000000"}]}]}]})";
  auto res = send(http::verb::post, "/v1/traces", json, "application/json");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  auto batch = pipeline_.next(std::chrono::milliseconds(100));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->request().resource_spans(0).scope_spans(0).spans(0).start_time_unix_nano(),
            1544712660000000000u);
}

TEST_F(ReceiverTest, TruncatedProtobufIs400WithStatus) {
  std::string body = make_request(5).SerializeAsString();
  body.resize(body.size() - 7);
  auto res = send(http::verb::post, "/v1/traces", body, "application/x-protobuf");
  EXPECT_EQ(res.result(), http::status::bad_request);
  google::rpc::Status status;
  ASSERT_TRUE(status.ParseFromString(res.body()));
  EXPECT_EQ(status.code(), 3);
  EXPECT_NE(status.message().find("protobuf"), std::string::npos);
  EXPECT_EQ(rejected("undecodable"), 1);
}

TEST_F(ReceiverTest, WrongContentTypeIs415) {
  auto res = send(http::verb::post, "/v1/traces", "hello", "text/plain");
  EXPECT_EQ(res.result(), http::status::unsupported_media_type);
  EXPECT_EQ(rejected("unsupported_media_type"), 1);
}

TEST_F(ReceiverTest, InvalidJsonIs400InJson) {
  auto res = send(http::verb::post, "/api/v1/otel/trace", "{\"resourceSpans\": [", "application/json");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_NE(res.body().find("\"code\":3"), std::string::npos) << res.body();
  EXPECT_EQ(rejected("undecodable"), 1);
}

TEST_F(ReceiverTest, JsonIdOfWrongLengthIs400) {
  const std::string json =
      R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd","spanId":"EEE19B7EC3C1B174"}]}]}]})";
  auto res = send(http::verb::post, "/v1/traces", json, "application/json");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(rejected("undecodable"), 1);
}

TEST_F(ReceiverTest, ProtobufIdsOfWrongLengthArePartialSuccess) {
  auto res =
      send(http::verb::post, "/v1/traces", make_request(2, 3).SerializeAsString(), "application/x-protobuf");
  EXPECT_EQ(res.result(), http::status::ok);
  otlp::ExportResponse response;
  ASSERT_TRUE(response.ParseFromString(res.body()));
  EXPECT_EQ(response.partial_success().rejected_spans(), 3);
  EXPECT_NE(response.partial_success().error_message().find("trace_id"), std::string::npos);
  auto batch = pipeline_.next(std::chrono::milliseconds(100));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->span_count(), 2u);
  EXPECT_EQ(metrics_.value("otelbpf_receiver_rejected_spans_total",
                           {{"transport", "http"}, {"reason", "invalid_id"}}),
            3);
}

TEST_F(ReceiverTest, GzipBodyIsInflated) {
  auto res = send(http::verb::post, "/v1/traces", gzip(make_request(4).SerializeAsString()),
                  "application/x-protobuf", "gzip");
  EXPECT_EQ(res.result(), http::status::ok);
  auto batch = pipeline_.next(std::chrono::milliseconds(100));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->span_count(), 4u);
}

TEST_F(ReceiverTest, GzipBombIs413) {
  const std::string bomb = gzip(std::string(50u << 20, '\0'));  // 50 MiB of zeros in ~50 KiB
  ASSERT_LT(bomb.size(), 64u * 1024);
  auto res = send(http::verb::post, "/v1/traces", bomb, "application/x-protobuf", "gzip");
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_EQ(rejected("too_large_decompressed"), 1);
}

TEST_F(ReceiverTest, CorruptGzipIs400) {
  auto res = send(http::verb::post, "/v1/traces", "\x1f\x8b garbage", "application/x-protobuf", "gzip");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(rejected("bad_gzip"), 1);
}

TEST_F(ReceiverTest, OversizedBodyIs413) {
  auto res = send(http::verb::post, "/v1/traces", std::string(100 * 1024, 'x'), "application/x-protobuf");
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_EQ(rejected("too_large"), 1);
}

TEST_F(ReceiverTest, SlowClientGets408WhileOthersAreServed) {
  net::io_context io;
  tcp::socket slow(io);
  slow.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  const std::string head =
      "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: "
      "1000\r\n\r\n"
      "only-a-few-bytes";
  net::write(slow, net::buffer(head));
  // Another client is served while the slow one stalls.
  auto res =
      send(http::verb::post, "/v1/traces", make_request(1).SerializeAsString(), "application/x-protobuf");
  EXPECT_EQ(res.result(), http::status::ok);
  beast::flat_buffer buffer;
  http::response<http::string_body> slow_res;
  beast::error_code ec;
  http::read(slow, buffer, slow_res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(slow_res.result(), http::status::request_timeout);
  EXPECT_EQ(rejected("body_timeout"), 1);
}

TEST_F(ReceiverTest, FullPipelineIs429WithRetryAfter) {
  // The pipeline holds 100 spans; fill it, then the next request must be pushed back, not lost.
  auto first =
      send(http::verb::post, "/v1/traces", make_request(100).SerializeAsString(), "application/x-protobuf");
  EXPECT_EQ(first.result(), http::status::ok);
  auto res =
      send(http::verb::post, "/v1/traces", make_request(1).SerializeAsString(), "application/x-protobuf");
  EXPECT_EQ(res.result(), http::status::too_many_requests);
  EXPECT_EQ(res[http::field::retry_after], "1");
  EXPECT_EQ(rejected("pipeline_full"), 1);
  auto ready = send(http::verb::get, "/readyz", "", "");
  EXPECT_EQ(ready.result(), http::status::service_unavailable);
  ASSERT_TRUE(pipeline_.next(std::chrono::milliseconds(100)));
  EXPECT_EQ(send(http::verb::get, "/readyz", "", "").result(), http::status::ok);
}

TEST_F(ReceiverTest, OperatingEndpoints) {
  send(http::verb::post, "/v1/traces", make_request(2).SerializeAsString(), "application/x-protobuf");
  auto metrics = send(http::verb::get, "/metrics", "", "");
  EXPECT_EQ(metrics.result(), http::status::ok);
  EXPECT_NE(metrics.body().find("otelbpf_receiver_spans_total{transport=\"http\"} 2"), std::string::npos)
      << metrics.body();
  EXPECT_EQ(send(http::verb::get, "/healthz", "", "").result(), http::status::ok);
  EXPECT_EQ(send(http::verb::get, "/nope", "", "").result(), http::status::not_found);
  EXPECT_EQ(send(http::verb::get, "/v1/traces", "", "").result(), http::status::method_not_allowed);
}

// A request with the wrong method on the trace path must have its body consumed before the 405: a body that
// stayed in the stream would be parsed as the connection's next request (one client could make the
// receiver answer, or ingest, a request that no header of the connection announced).
TEST_F(ReceiverTest, WrongMethodOnTracePathDoesNotTurnItsBodyIntoTheNextRequest) {
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const char* method : {"PUT", "GET", "DELETE"}) {
    SCOPED_TRACE(method);
    net::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    const std::string requests =
        std::string(method) + " /v1/traces HTTP/1.1\r\nHost: x\r\n" +
        "Content-Type: application/x-protobuf\r\nContent-Length: " + std::to_string(smuggled.size()) +
        "\r\n\r\n" + smuggled + "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
    net::write(socket, net::buffer(requests));
    beast::flat_buffer buffer;
    http::response<http::string_body> refused;
    http::read(socket, buffer, refused);
    EXPECT_EQ(refused.result(), http::status::method_not_allowed);
    EXPECT_EQ(refused[http::field::allow], "POST");
    // The next answer on the connection is the one to the request that followed, not to the body.
    http::response<http::string_body> next;
    beast::error_code ec;
    http::read(socket, buffer, next, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(next.result(), http::status::ok);
    EXPECT_EQ(next.body(), "ready\n");
  }
  // Nothing that was refused reached the pipeline.
  EXPECT_FALSE(pipeline_.next(std::chrono::milliseconds(10)));
}

TEST_F(ReceiverTest, GrpcExportAndBackPressure) {
  GrpcServer grpc_server(GrpcServerOptions{"127.0.0.1:0", 1 << 20}, ingest_);
  grpc_server.start();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_server.bound_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = opentelemetry::proto::collector::trace::v1::TraceService::NewStub(channel);
  {
    grpc::ClientContext ctx;
    otlp::ExportResponse response;
    auto status = stub->Export(&ctx, make_request(3, 1), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.partial_success().rejected_spans(), 1);
  }
  {
    grpc::ClientContext ctx;
    otlp::ExportResponse response;
    auto status = stub->Export(&ctx, make_request(100), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  auto batch = pipeline_.next(std::chrono::milliseconds(100));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->span_count(), 3u);
  EXPECT_EQ(batch->peer_address, "127.0.0.1");
}

}  // namespace
}  // namespace otelbpf

namespace otelbpf {
namespace {

// Issue 13 item 4: the receiver's own limits, each with a server of its own settings.
class ReceiverLimitsTest : public ::testing::Test {
 protected:
  void start(HttpServerOptions options) {
    options.listen_address = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, ingest_, metrics_, nullptr);
    server_->start();
    port_ = server_->bound_port();
  }
  tcp::endpoint endpoint() const { return {net::ip::make_address("127.0.0.1"), port_}; }
  http::response<http::string_body> get(beast::tcp_stream& stream, const std::string& target) {
    return exchange(stream, http::verb::get, target, "", "");
  }
  double rejected(const std::string& reason) {
    return metrics_.value("otelbpf_receiver_rejected_requests_total", {{"transport", "http"}, {"reason", reason}});
  }

  MetricsRegistry metrics_;
  SpanPipeline pipeline_{SpanPipelineOptions{4096, 10'000'000}, metrics_};
  OtlpIngest ingest_{pipeline_, IngestLimits{64u << 20, 256u << 20, 10'000'000}, metrics_};
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  net::io_context io_;
};

TEST_F(ReceiverLimitsTest, ConnectionsBeyondTheCapAreClosedAtOnceAndCounted) {
  HttpServerOptions options;
  options.max_connections = 2;
  start(options);
  beast::tcp_stream first(io_), second(io_), third(io_);
  first.connect(endpoint());
  second.connect(endpoint());
  EXPECT_EQ(get(first, "/healthz").result(), http::status::ok);  // both are open and served
  EXPECT_EQ(get(second, "/healthz").result(), http::status::ok);
  third.connect(endpoint());  // the kernel completes the handshake; the receiver closes it unread
  char byte;
  beast::error_code ec;
  third.expires_after(std::chrono::seconds(5));
  third.read_some(net::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_EQ(rejected("connection_limit"), 1);
  EXPECT_EQ(get(first, "/healthz").result(), http::status::ok) << "the open connections keep working";
  EXPECT_EQ(metrics_.value("otelbpf_receiver_open_connections", {{"transport", "http"}}), 2);
}

TEST_F(ReceiverLimitsTest, OutOfDescriptorsTheAcceptLoopBacksOffInsteadOfSpinningAndRecovers) {
  start({});
  // Client sockets made while descriptors remain; then the process has none left for accept().
  std::vector<std::unique_ptr<tcp::socket>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<tcp::socket>(io_));
    clients.back()->open(tcp::v4());
  }
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::size_t open_fds = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++open_fds;
  rlimit tight = saved;
  tight.rlim_cur = open_fds;  // (the directory iterator's own descriptor is closed again by now)
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  for (auto& client : clients) client->connect(endpoint());  // connect needs no new descriptor
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const double errors = metrics_.value("otelbpf_receiver_accept_errors_total", {{"transport", "http"}});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_GE(errors, 1) << "accept() must have failed for want of descriptors";
  EXPECT_LE(errors, 12) << "backing off 50 ms doubling to 1 s makes a handful of tries in 1.2 s, not thousands";
  // With descriptors back, the waiting connections are accepted and served.
  beast::tcp_stream stream(std::move(*clients.front()));
  EXPECT_EQ(get(stream, "/healthz").result(), http::status::ok);
}

TEST_F(ReceiverLimitsTest, HealthzAnswersWhileTheOnlyDecoderIsBusy) {
  HttpServerOptions options;
  options.threads = 1;
  options.decode_threads = 1;
  options.body_timeout = std::chrono::seconds(30);
  start(options);
  // A body that keeps the one decoder busy for a while: 150k spans of OTLP/JSON.
  const std::string body = encode_otlp_json(make_request(150'000));
  std::atomic<int> order{0};
  std::atomic<bool> body_sent{false};
  int export_done = 0, healthz_done = 0;
  http::status export_status{};
  std::thread exporter([&] {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(endpoint());
    http::request<http::string_body> req(http::verb::post, "/v1/traces", 11);
    req.set(http::field::host, "localhost");
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    body_sent = true;
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    stream.expires_after(std::chrono::seconds(60));
    http::read(stream, buffer, res);
    export_status = res.result();
    export_done = ++order;
  });
  // Once the body is in (the decoder then takes over), the liveness probe on the one I/O thread.
  while (!body_sent) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  beast::tcp_stream probe(io_);
  probe.connect(endpoint());
  EXPECT_EQ(get(probe, "/healthz").result(), http::status::ok);
  healthz_done = ++order;
  exporter.join();
  EXPECT_EQ(export_status, http::status::ok);
  EXPECT_LT(healthz_done, export_done) << "/healthz waited for the decoder";
}

}  // namespace
}  // namespace otelbpf
