#include "export/otlp_http_exporter.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <optional>
#include <stdexcept>

#include "export/otlp_endpoint.h"
#include "google/rpc/status.pb.h"
#include "tls/tls.h"

namespace otelbpf {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string gzip_compress(const std::string& data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  return out;
}

// Answers are small; a bound keeps a misbehaving endpoint from making us inflate a bomb.
std::optional<std::string> gzip_decompress(const std::string& data, std::size_t limit) {
  z_stream zs{};
  if (inflateInit2(&zs, 32 + MAX_WBITS) != Z_OK) return std::nullopt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk, sizeof(chunk) - zs.avail_out);
    if (out.size() > limit) rc = Z_MEM_ERROR;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

bool is_retryable_status(unsigned status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// Retry-After is either delay-seconds or an HTTP-date; only the first is worth parsing for an agent.
std::chrono::milliseconds parse_retry_after(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  unsigned long seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size()) return std::chrono::milliseconds(0);
  return std::chrono::seconds(std::min<unsigned long>(seconds, 24 * 3600));
}

}  // namespace

struct OtlpHttpExporter::Connection {
  HttpUrl url;
  std::string host_header;
  net::io_context io;
  std::optional<ssl::context> tls;  // set for https:// endpoints
  // One of the two is open while connected: the plain stream, or the TLS stream that owns it.
  std::optional<beast::tcp_stream> stream;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream;
  beast::flat_buffer buffer;

  bool connected() const { return stream.has_value() || tls_stream.has_value(); }
  beast::tcp_stream& tcp() { return tls_stream ? beast::get_lowest_layer(*tls_stream) : *stream; }
  // Calls f with whichever stream is open (Beast's HTTP operations are templates over the stream).
  template <typename F>
  auto with_stream(F&& f) {
    return tls_stream ? f(*tls_stream) : f(*stream);
  }

  void close() {
    if (connected()) {
      // No TLS close_notify: the peer learns of the close from the TCP FIN, and an exporter giving up on
      // a connection must not wait on it.
      beast::error_code ignored;
      tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
      tcp().socket().close(ignored);
    }
    tls_stream.reset();
    stream.reset();
    buffer.clear();
  }

  // Runs the io_context until what `start` began has completed; tcp_stream's expiry bounds it.
  template <typename Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = net::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  beast::error_code connect(Clock::time_point deadline) {
    // The resolver has no expiry of its own: a timer cancels it.
    tcp::resolver resolver(io);
    net::steady_timer timer(io);
    timer.expires_at(deadline);
    timer.async_wait([&resolver](beast::error_code ec) {
      if (!ec) resolver.cancel();
    });
    beast::error_code result = net::error::would_block;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(url.host, url.port, [&](beast::error_code ec, tcp::resolver::results_type found) {
      timer.cancel();
      result = ec;
      endpoints = std::move(found);
    });
    io.restart();
    io.run();
    if (result) return result == net::error::operation_aborted ? beast::error::timeout : result;

    stream.emplace(io);
    stream->expires_at(deadline);
    auto ec = run([&](auto handler) { stream->async_connect(endpoints, std::move(handler)); });
    if (!ec && tls) ec = handshake();
    if (ec) close();
    return ec;
  }

  // The TLS stream takes over the connected TCP stream: SNI, the server's name checked against its
  // certificate (unless verification is off), then the handshake within the same deadline.
  beast::error_code handshake() {
    tls_stream.emplace(std::move(*stream), *tls);
    stream.reset();
    beast::error_code address_ec;
    net::ip::make_address(url.host, address_ec);
    if (address_ec && !SSL_set_tlsext_host_name(tls_stream->native_handle(), url.host.c_str()))
      return beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category());
    tls_stream->set_verify_callback(ssl::host_name_verification(url.host));
    return run(
        [&](auto handler) { tls_stream->async_handshake(ssl::stream_base::client, std::move(handler)); });
  }
};

OtlpHttpExporter::OtlpHttpExporter(OtlpHttpExporterOptions options, std::string name,
                                   MetricsRegistry& metrics)
    : options_(std::move(options)),
      name_(std::move(name)),
      partial_success_(metrics, name_),
      connection_(std::make_unique<Connection>()) {
  std::string error;
  if (!parse_otlp_http_url(options_.endpoint, connection_->url, error))
    throw std::invalid_argument("exporter " + name_ + ": " + error);
  const auto& url = connection_->url;
  bool ipv6 = url.host.find(':') != std::string::npos;
  const bool default_port = url.port == (url.tls ? "443" : "80");
  connection_->host_header = (ipv6 ? "[" + url.host + "]" : url.host) + (default_port ? "" : ":" + url.port);
  if (url.tls) {
    try {
      connection_->tls.emplace(make_tls_client_context(options_.tls, "exporter " + name_));
    } catch (const std::runtime_error& e) {
      throw std::invalid_argument(e.what());
    }
    if (options_.tls.insecure_skip_verify)
      spdlog::warn("exporter {}: TLS without verifying the server's certificate (insecure_skip_verify)",
                   name_);
  } else if (!options_.tls.ca_file.empty() || !options_.tls.cert_file.empty()) {
    throw std::invalid_argument(
        "exporter " + name_ + ": TLS files are configured but the endpoint is http://: " + options_.endpoint);
  }
}

OtlpHttpExporter::~OtlpHttpExporter() { connection_->close(); }

ExportOutcome OtlpHttpExporter::send(const otlp::ExportRequest& request) {
  return send_body(request.SerializeAsString());
}

ExportOutcome OtlpHttpExporter::send_parts(std::span<const otlp::ExportRequest* const> parts) {
  std::string body;
  for (const auto* part : parts) part->AppendToString(&body);
  return send_body(std::move(body));
}

ExportOutcome OtlpHttpExporter::send_body(std::string request_body) {
  auto& conn = *connection_;
  const auto deadline = Clock::now() + options_.timeout;

  http::request<http::string_body> req{http::verb::post, conn.url.target, 11};
  req.set(http::field::host, conn.host_header);
  req.set(http::field::user_agent, "otelbpf/0.1");
  req.set(http::field::content_type, "application/x-protobuf");
  for (const auto& [key, value] : options_.headers) req.set(key, value);
  req.body() = std::move(request_body);
  if (options_.gzip) {
    req.body() = gzip_compress(req.body());
    req.set(http::field::content_encoding, "gzip");
  }
  req.keep_alive(true);
  req.prepare_payload();

  const std::string where =
      (conn.url.tls ? "https://" : "http://") + conn.url.host + ":" + conn.url.port + conn.url.target;
  std::optional<http::response_parser<http::string_body>> parser;
  // A kept-alive connection may have been closed by the server while idle; that is found out only by
  // using it, so one fresh connection is tried before calling it a failure.
  for (int attempt = 0;; ++attempt) {
    const bool reused = conn.connected();
    if (!reused) {
      if (auto ec = conn.connect(deadline))
        return ExportOutcome::retryable("connect " + where + ": " + ec.message());
    }
    conn.tcp().expires_at(deadline);
    auto ec = conn.with_stream([&](auto& stream) {
      return conn.run([&](auto handler) { http::async_write(stream, req, std::move(handler)); });
    });
    if (!ec) {
      parser.emplace();
      parser->body_limit(options_.max_response_bytes);
      ec = conn.with_stream([&](auto& stream) {
        return conn.run(
            [&](auto handler) { http::async_read(stream, conn.buffer, *parser, std::move(handler)); });
      });
    }
    if (!ec) break;
    conn.close();
    if (reused && attempt == 0 && ec != beast::error::timeout) continue;
    return ExportOutcome::retryable("POST " + where + ": " + ec.message());
  }

  auto response = parser->release();
  if (!response.keep_alive()) conn.close();
  const unsigned status = response.result_int();
  std::string body = std::move(response.body());
  if (beast::iequals(response[http::field::content_encoding], "gzip")) {
    auto inflated = gzip_decompress(body, options_.max_response_bytes);
    body = inflated ? std::move(*inflated) : std::string();
  }
  const bool protobuf_body = response[http::field::content_type].starts_with("application/x-protobuf");

  if (status >= 200 && status < 300) {
    otlp::ExportResponse answer;
    if (protobuf_body && !body.empty() && answer.ParseFromString(body))
      return partial_success_.outcome(answer, where);
    return ExportOutcome::ok();
  }

  // The spec's error body is a google.rpc.Status; anything else is shown as (the start of) text.
  std::string message;
  google::rpc::Status rpc_status;
  if (protobuf_body && rpc_status.ParseFromString(body))
    message = rpc_status.message();
  else
    message = body.substr(0, 256);
  std::string reason =
      fmt::format("HTTP {} from {}{}{}", status, where, message.empty() ? "" : ": ", message);
  if (status == 413) return ExportOutcome::too_large(std::move(reason));
  if (is_retryable_status(status)) {
    auto retry_after = response[http::field::retry_after];
    return ExportOutcome::retryable(
        std::move(reason), parse_retry_after(std::string_view(retry_after.data(), retry_after.size())));
  }
  return ExportOutcome::permanent(std::move(reason));
}

}  // namespace otelbpf
