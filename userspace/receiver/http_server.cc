#include "receiver/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <algorithm>
#include <atomic>
#include <optional>

#include "common/thread_name.h"
#include "google/rpc/status.pb.h"
#include "model/otlp_json.h"
#include "tls/tls.h"

namespace otelbpf {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kTransport = "http";

bool is_trace_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  return target == "/v1/traces" || target == "/api/v1/otel/trace";
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

// OTLP/HTTP error bodies are a google.rpc.Status in the request's encoding.
std::string status_body(BodyEncoding encoding, int grpc_code, const std::string& message) {
  if (encoding == BodyEncoding::kJson)
    return fmt::format(R"({{"code":{},"message":"{}"}})", grpc_code, json_escape(message));
  google::rpc::Status status;
  status.set_code(grpc_code);
  status.set_message(message);
  return status.SerializeAsString();
}

const char* content_type_of(BodyEncoding encoding) {
  return encoding == BodyEncoding::kJson ? "application/json" : "application/x-protobuf";
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  OtlpIngest& ingest;
  MetricsRegistry& metrics;
  ReadinessCheck ready;
  net::io_context io;
  std::optional<net::ssl::context> tls_context;  // set: connections are HTTPS
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<net::thread_pool> decoders;
  std::atomic<std::size_t> decodes_waiting{0};
  std::atomic<std::size_t> open_connections{0};
  Gauge& connections_gauge;
  Counter& accept_errors;
  // After an accept error (EMFILE and its kin), the next accept waits: it would fail again at once.
  net::steady_timer accept_retry{io};
  std::chrono::milliseconds accept_backoff{0};

  Impl(HttpServerOptions o, OtlpIngest& i, MetricsRegistry& m, ReadinessCheck r)
      : options(std::move(o)),
        ingest(i),
        metrics(m),
        ready(std::move(r)),
        connections_gauge(m.gauge("otelbpf_receiver_open_connections", "Open connections to the HTTP receiver",
                                  {{"transport", "http"}})),
        accept_errors(m.counter("otelbpf_receiver_accept_errors_total",
                                "accept() failures of the HTTP receiver (descriptors exhausted, ...)",
                                {{"transport", "http"}})) {}

  void accept_next();
  void on_accept_error(const boost::system::error_code& ec);
};

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection: beast::tcp_stream for HTTP, TlsStream for HTTPS (the handshake comes first, within the
// body timeout; everything after it is the same code over either stream).
template <typename Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

 public:
  template <typename... StreamArgs>
  explicit HttpSession(HttpServer::Impl& server, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...), timer_(stream_.get_executor()), server_(server) {
    beast::error_code ec;
    auto endpoint = tcp_layer().socket().remote_endpoint(ec);
    if (!ec) peer_ = endpoint.address().to_string();
    server_.connections_gauge.set(static_cast<std::int64_t>(++server_.open_connections));
  }
  ~HttpSession() { server_.connections_gauge.set(static_cast<std::int64_t>(--server_.open_connections)); }
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void start() {
    if constexpr (kTls) {
      arm_timer(server_.options.body_timeout);
      stream_.async_handshake(net::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
        self->timer_.cancel();
        if (ec) {
          // A plaintext request to the HTTPS port, an untrusted or missing client certificate, a scan.
          self->server_.ingest.count_rejection(kTransport, "tls_handshake");
          spdlog::debug("http receiver: TLS handshake with {} failed: {}", self->peer_, ec.message());
          return self->close();
        }
        self->read_header();
      });
    } else {
      read_header();
    }
  }

 private:
  using Request = http::request<http::string_body>;
  using Response = http::response<http::string_body>;

  // One deadline timer per phase; expiry cancels the socket's pending read so the handler can answer.
  void arm_timer(std::chrono::milliseconds timeout) {
    timed_out_ = false;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->tcp_layer().socket().cancel(ignored);
    });
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.ingest.limits().max_body_bytes);
    arm_timer(server_.options.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    timer_.cancel();
    if (ec) {
      // Beast checks Content-Length against the body limit while parsing the header.
      if (ec == http::error::body_limit) {
        server_.ingest.count_rejection(kTransport, "too_large");
        return reply_and_close(http::status::payload_too_large, "text/plain",
                               "body exceeds the configured limit\n");
      }
      if (ec == http::error::header_limit) {
        server_.ingest.count_rejection(kTransport, "header_too_large");
        return reply_and_close(http::status::request_header_fields_too_large, "text/plain",
                               "header too large\n");
      }
      // A TLS peer that closes without close_notify ends its stream "truncated": an end like any other.
      if (ec != http::error::end_of_stream && !timed_out_ && ec != net::error::operation_aborted &&
          ec != net::error::connection_reset && ec != net::ssl::error::stream_truncated) {
        server_.ingest.count_rejection(kTransport, "bad_http");
        return reply_and_close(http::status::bad_request, "text/plain", "malformed HTTP request\n");
      }
      return close();
    }
    const auto& req = parser_->get();
    const std::string_view target(req.target().data(), req.target().size());
    if (is_trace_path(target)) {
      // The 405 waits for the body (within the same size and time limits as any body): left in the stream,
      // it would be parsed as this connection's next request.
      if (req.method() != http::verb::post) return read_body();
      const auto content_type = req[http::field::content_type];
      if (!OtlpIngest::encoding_for_content_type({content_type.data(), content_type.size()}, encoding_)) {
        server_.ingest.count_rejection(kTransport, "unsupported_media_type");
        // The body was not read: the connection cannot be reused.
        return reply_and_close(http::status::unsupported_media_type, "text/plain",
                               "Content-Type must be application/x-protobuf or application/json\n");
      }
      if (auto length = parser_->content_length();
          length && *length > server_.ingest.limits().max_body_bytes) {
        server_.ingest.count_rejection(kTransport, "too_large");
        return reply_and_close(http::status::payload_too_large, content_type_of(encoding_),
                               status_body(encoding_, 8, "body exceeds the configured limit"));
      }
      return read_body();
    }
    // Non-OTLP endpoints carry no body worth reading; read whatever is there within the limits.
    return read_body();
  }

  void read_body() {
    arm_timer(server_.options.body_timeout);
    // Beast reads at most the read buffer's free capacity per receive: left at the size the header
    // needed, a 275 KB body took ~530 receives of ~512 bytes (and an executor round trip each).
    buffer_.reserve(kBodyReadChunk);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    timer_.cancel();
    if (timed_out_) {
      server_.ingest.count_rejection(kTransport, "body_timeout");
      return reply_and_close(http::status::request_timeout, "text/plain",
                             "request body not received in time\n");
    }
    if (ec == http::error::body_limit) {
      server_.ingest.count_rejection(kTransport, "too_large");
      return reply_and_close(http::status::payload_too_large, content_type_of(encoding_),
                             status_body(encoding_, 8, "body exceeds the configured limit"));
    }
    if (ec) {
      if (ec != http::error::end_of_stream && ec != net::error::connection_reset &&
          ec != net::ssl::error::stream_truncated)
        server_.ingest.count_rejection(kTransport, "bad_http");
      return close();
    }
    // The body is in: the read buffer goes back to what it still holds (a pipelined request's bytes), so
    // that an idle connection does not keep kBodyReadChunk.
    buffer_.shrink_to_fit();
    handle(parser_->release());
  }

  void handle(Request req) {
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    if (is_trace_path(path)) {
      if (req.method() != http::verb::post) return reply_method_not_allowed("POST");
      return handle_export(std::move(req));
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return reply_method_not_allowed("GET, HEAD");
    if (path == "/metrics")
      return reply(http::status::ok, "text/plain; version=0.0.4", server_.metrics.render_prometheus());
    if (path == "/healthz") return reply(http::status::ok, "text/plain", "ok\n");
    if (path == "/readyz") {
      std::string reason;
      if (!server_.ready || server_.ready(reason)) return reply(http::status::ok, "text/plain", "ready\n");
      return reply(http::status::service_unavailable, "text/plain", reason + "\n");
    }
    return reply_simple(http::status::not_found, "not found\n");
  }

  void handle_export(Request req) {
    // Off the I/O threads: decode on the decoders, answer back on this connection's strand.
    const std::size_t max_waiting = 4 * static_cast<std::size_t>(std::max(1, server_.options.decode_threads));
    if (server_.decodes_waiting.fetch_add(1) >= max_waiting) {
      server_.decodes_waiting.fetch_sub(1);
      server_.ingest.count_rejection(kTransport, "decoders_busy");
      return reply(http::status::too_many_requests, content_type_of(encoding_),
                   status_body(encoding_, 14, "every decoder is busy"), true);
    }
    auto request = std::make_shared<Request>(std::move(req));
    net::post(*server_.decoders, [self = shared_from_this(), request] {
      const auto coding = (*request)[http::field::content_encoding];
      auto result = std::make_shared<IngestResult>(self->server_.ingest.ingest_body(
          self->encoding_, {coding.data(), coding.size()}, request->body(), self->peer_, kTransport));
      self->server_.decodes_waiting.fetch_sub(1);
      net::post(self->stream_.get_executor(), [self, result] { self->answer_export(*result); });
    });
  }

  void answer_export(const IngestResult& result) {
    using Code = IngestResult::Code;
    switch (result.code) {
      case Code::kOk: {
        otlp::ExportResponse response;
        if (result.rejected_spans > 0) {
          response.mutable_partial_success()->set_rejected_spans(result.rejected_spans);
          response.mutable_partial_success()->set_error_message(result.partial_message);
        }
        return reply(
            http::status::ok, content_type_of(encoding_),
            encoding_ == BodyEncoding::kJson ? encode_otlp_json(response) : response.SerializeAsString());
      }
      case Code::kBadRequest:
        return reply(http::status::bad_request, content_type_of(encoding_),
                     status_body(encoding_, 3, result.message));
      case Code::kTooLarge:
        return reply(http::status::payload_too_large, content_type_of(encoding_),
                     status_body(encoding_, 8, result.message));
      case Code::kUnsupportedMediaType:
        return reply(http::status::unsupported_media_type, "text/plain", result.message + "\n");
      case Code::kBusy:
        return reply(http::status::too_many_requests, content_type_of(encoding_),
                     status_body(encoding_, 14, result.message), true);
      case Code::kShuttingDown:
        return reply(http::status::service_unavailable, content_type_of(encoding_),
                     status_body(encoding_, 14, result.message), true);
    }
  }

  void reply_simple(http::status status, std::string body) { reply(status, "text/plain", std::move(body)); }

  // RFC 9110: a 405 names the methods the resource does support.
  void reply_method_not_allowed(const char* allowed) {
    reply(http::status::method_not_allowed, "text/plain", fmt::format("use {}\n", allowed), false, allowed);
  }

  void reply_and_close(http::status status, const char* type, std::string body) {
    keep_alive_ = false;
    reply(status, type, std::move(body));
  }

  void reply(http::status status, const char* content_type, std::string body, bool retry_after = false,
             const char* allow = nullptr) {
    auto response = std::make_shared<Response>(status, version_ ? version_ : 11);
    response->set(http::field::server, "otelbpf-agent");
    response->set(http::field::content_type, content_type);
    if (retry_after)
      response->set(http::field::retry_after, std::to_string(server_.options.retry_after.count()));
    if (allow) response->set(http::field::allow, allow);
    response->body() = std::move(body);
    response->keep_alive(keep_alive_);
    response->prepare_payload();
    tcp_layer().expires_after(std::chrono::seconds(10));
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
                        self->tcp_layer().expires_never();
                        if (ec || !self->keep_alive_) return self->close();
                        self->read_header();
                      });
  }

  // The TCP connection under the stream (the stream itself for plain HTTP).
  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }

  void close() {
    // No TLS close_notify: the client learns of the close from the FIN, and a session must not wait on
    // a client that may never read.
    beast::error_code ec;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp_layer().socket().close(ec);
  }

  Stream stream_;
  net::steady_timer timer_;
  HttpServer::Impl& server_;
  // Bytes one receive may bring of a body (the read buffer's capacity while a body is read).
  static constexpr std::size_t kBodyReadChunk = 64 * 1024;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string peer_;
  BodyEncoding encoding_ = BodyEncoding::kProtobuf;
  bool timed_out_ = false;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::accept_next() {
  acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      return on_accept_error(ec);
    }
    accept_backoff = std::chrono::milliseconds(0);
    if (open_connections.load() >= options.max_connections) {
      // Closed before a byte is read: the peer sees a reset or EOF and may retry elsewhere or later.
      ingest.count_rejection(kTransport, "connection_limit");
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      if (tls_context)
        std::make_shared<HttpSession<TlsStream>>(*this, std::move(socket), *tls_context)->start();
      else
        std::make_shared<HttpSession<beast::tcp_stream>>(*this, std::move(socket))->start();
    }
    if (acceptor.is_open()) accept_next();
  });
}

void HttpServer::Impl::on_accept_error(const boost::system::error_code& ec) {
  // Out of descriptors (EMFILE, ENFILE) or kernel memory: accepting again at once fails again at once and
  // spins a core. Wait, doubling from 50 ms to 1 s, and log the first failure and every 100th.
  accept_errors.inc();
  if (accept_errors.value() == 1 || accept_errors.value() % 100 == 0)
    spdlog::warn("http receiver: accept failed ({} times so far): {}; retrying in {} ms", accept_errors.value(),
                 ec.message(), std::max<std::int64_t>(50, accept_backoff.count() * 2));
  accept_backoff = std::clamp(accept_backoff * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
  accept_retry.expires_after(accept_backoff);
  accept_retry.async_wait([this](const boost::system::error_code& wait_ec) {
    if (!wait_ec && acceptor.is_open()) accept_next();
  });
}

HttpServer::HttpServer(HttpServerOptions options, OtlpIngest& ingest, MetricsRegistry& metrics,
                       ReadinessCheck ready)
    : impl_(std::make_unique<Impl>(std::move(options), ingest, metrics, std::move(ready))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  auto& i = *impl_;
  beast::error_code ec;
  const auto address = net::ip::make_address(i.options.listen_address, ec);
  if (ec) throw std::runtime_error("http receiver: bad listen address '" + i.options.listen_address + "'");
  const tcp::endpoint endpoint(address, i.options.port);
  i.acceptor.open(endpoint.protocol(), ec);
  if (!ec) i.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(endpoint, ec);
  if (!ec) i.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(fmt::format("http receiver: cannot listen on {}:{}: {}",
                                         i.options.listen_address, i.options.port, ec.message()));
  if (i.options.tls.enabled()) i.tls_context.emplace(make_tls_server_context(i.options.tls, "receiver.http.tls"));
  i.work.emplace(i.io.get_executor());
  i.decoders.emplace(static_cast<std::size_t>(std::max(1, i.options.decode_threads)));
  i.accept_next();
  for (int t = 0; t < std::max(1, i.options.threads); ++t)
    i.threads.emplace_back([&i] {
      name_this_thread("otb-http");
      i.io.run();
    });
  spdlog::info(
      "http receiver listening on {}:{} (/v1/traces, /api/v1/otel/trace, /metrics, /healthz, /readyz){}",
      i.options.listen_address, bound_port(),
      !i.tls_context ? "" : i.options.tls.client_ca_file.empty() ? " with TLS" : " with mutual TLS");
}

void HttpServer::stop() {
  if (!impl_) return;
  auto& i = *impl_;
  net::post(i.io, [&i] {
    beast::error_code ec;
    i.acceptor.close(ec);
    i.accept_retry.cancel();
  });
  // Decoders first: what they finish posts its answer to the I/O threads, which are still running.
  if (i.decoders) {
    i.decoders->join();
    i.decoders.reset();
  }
  i.work.reset();
  i.io.stop();
  for (auto& t : i.threads)
    if (t.joinable()) t.join();
  i.threads.clear();
}

std::uint16_t HttpServer::bound_port() const {
  beast::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

}  // namespace otelbpf
