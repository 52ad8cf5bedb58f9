// The gRPC receiver's own limits (issue 13 item 4), seen from outside: the per-connection stream limit is
// what the server advertises in its HTTP/2 SETTINGS (read off the wire with a raw socket, not through
// gRPC's client, which would hide it by queueing), and a message over the size limit is refused with
// RESOURCE_EXHAUSTED before it reaches the pipeline.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "receiver/grpc_server.h"

namespace otelbpf {
namespace {

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool read_exact(int fd, std::uint8_t* out, std::size_t n) {
  for (std::size_t got = 0; got < n;) {
    const ssize_t r = ::read(fd, out + got, n - got);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

// Connects with HTTP/2 prior knowledge and returns SETTINGS_MAX_CONCURRENT_STREAMS from the server's
// first SETTINGS frame (RFC 9113 §6.5), nullopt when the server does not send it.
std::optional<std::uint32_t> advertised_max_concurrent_streams(int port) {
  Socket s(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return std::nullopt;
  const std::string preface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\x04\0\0\0\0\0", 9);
  if (::write(s.get(), preface.data(), preface.size()) != static_cast<ssize_t>(preface.size())) return std::nullopt;
  for (int frames = 0; frames < 8; ++frames) {
    std::uint8_t header[9];
    if (!read_exact(s.get(), header, sizeof header)) return std::nullopt;
    const std::uint32_t length = (header[0] << 16) | (header[1] << 8) | header[2];
    std::string payload(length, '\0');
    if (!read_exact(s.get(), reinterpret_cast<std::uint8_t*>(payload.data()), length)) return std::nullopt;
    const bool settings = header[3] == 0x4, ack = header[4] & 0x1;
    if (!settings || ack) continue;
    for (std::size_t i = 0; i + 6 <= payload.size(); i += 6) {
      const auto* p = reinterpret_cast<const std::uint8_t*>(payload.data() + i);
      const std::uint16_t id = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
      const std::uint32_t value = (std::uint32_t{p[2]} << 24) | (p[3] << 16) | (p[4] << 8) | p[5];
      if (id == 0x3) return value;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

class GrpcLimitsTest : public ::testing::Test {
 protected:
  MetricsRegistry metrics_;
  SpanPipeline pipeline_{SpanPipelineOptions{64, 100000}, metrics_};
  OtlpIngest ingest_{pipeline_, IngestLimits{64 << 20, 64 << 20}, metrics_};
};

TEST_F(GrpcLimitsTest, EachConnectionIsToldItsStreamLimit) {
  GrpcServerOptions options{"127.0.0.1:0", 1 << 20};
  options.max_concurrent_streams = 3;
  GrpcServer server(options, ingest_);
  server.start();
  EXPECT_EQ(advertised_max_concurrent_streams(server.bound_port()), 3u);
  server.stop();
}

TEST_F(GrpcLimitsTest, AMessageOverTheLimitIsRefusedBeforeTheSpansAreTaken) {
  GrpcServerOptions options{"127.0.0.1:0", 64 << 10};
  GrpcServer server(options, ingest_);
  server.start();
  auto stub = opentelemetry::proto::collector::trace::v1::TraceService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server.bound_port()), grpc::InsecureChannelCredentials()));
  otlp::ExportRequest request;
  auto* spans = request.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < 2000; ++i) {
    auto* span = spans->add_spans();
    span->set_trace_id(std::string(16, '\x11'));
    span->set_span_id(std::string(8, static_cast<char>(i % 250 + 1)));
    span->set_name("a span name long enough to make the message large " + std::to_string(i));
  }
  ASSERT_GT(request.ByteSizeLong(), 64u << 10);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  otlp::ExportResponse response;
  EXPECT_EQ(stub->Export(&context, request, &response).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_FALSE(pipeline_.next(std::chrono::milliseconds(10)));
  server.stop();
}

}  // namespace
}  // namespace otelbpf
