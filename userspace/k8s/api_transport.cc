#include "k8s/api_transport.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <variant>

#include "common/http_url.h"
#include "k8s/kube_client.h"

namespace otelbpf::k8s {
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// The API server's URL: common/http_url.h, with the path kept as a proxy's prefix (no trailing '/').
struct ApiUrl {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string base_path;
};

ApiUrl parse_api_url(const std::string& url) {
  HttpUrl parsed;
  std::string error;
  if (!parse_http_url(url, parsed, error)) throw std::invalid_argument("kubernetes.api_url: " + error);
  ApiUrl out;
  out.tls = parsed.tls;
  out.host = std::move(parsed.host);
  out.port = std::move(parsed.port);
  out.base_path = parsed.target.substr(0, parsed.target.find('?'));
  while (out.base_path.ends_with('/')) out.base_path.pop_back();
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

ssl::context make_tls_context(const KubeClientOptions& options) {
  ssl::context tls(ssl::context::tls_client);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (options.insecure_skip_tls_verify) {
    tls.set_verify_mode(ssl::verify_none);
    return tls;
  }
  tls.set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  if (options.ca_file.empty()) {
    tls.set_default_verify_paths(ec);
  } else {
    tls.load_verify_file(options.ca_file, ec);
  }
  if (ec)
    throw std::invalid_argument(
        fmt::format("kubernetes: cannot load CA '{}': {}", options.ca_file, ec.message()));
  return tls;
}

// One connection to the API server (plain or TLS).
struct Connection {
  std::variant<std::monostate, beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  beast::tcp_stream& tcp() {
    if (auto* plain = std::get_if<beast::tcp_stream>(&stream)) return *plain;
    return beast::get_lowest_layer(std::get<beast::ssl_stream<beast::tcp_stream>>(stream));
  }
  template <class F>
  auto visit(F&& f) {
    if (auto* plain = std::get_if<beast::tcp_stream>(&stream)) return f(*plain);
    return f(std::get<beast::ssl_stream<beast::tcp_stream>>(stream));
  }
};

}  // namespace

struct ApiTransport::Impl {
  const KubeClientOptions& options;
  ErrorSink on_error;
  ApiUrl url;
  net::io_context io;
  std::optional<ssl::context> tls;
  std::atomic<bool> stopping{false};
  std::mutex sleep_mutex;
  std::condition_variable sleep_cv;
  std::string token;
  Clock::time_point token_read_at{};
  bool token_warned = false;
  // The open watch stream, if any.
  std::optional<Connection> stream;
  std::optional<http::response_parser<http::buffer_body>> stream_parser;
  std::string stream_error;

  Impl(const KubeClientOptions& o, ErrorSink sink)
      : options(o), on_error(std::move(sink)), url(parse_api_url(o.api_url)) {
    if (url.tls) tls.emplace(make_tls_context(o));
  }

  const std::string& bearer_token(bool force) {
    if (options.token_file.empty()) return token;
    const auto now = Clock::now();
    if (!force && !token.empty() && now - token_read_at < options.token_reread) return token;
    std::ifstream in(options.token_file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && text.empty()) {
      if (!token_warned) spdlog::warn("kubernetes: cannot read token file {}", options.token_file);
      token_warned = true;
    } else {
      token = trim(std::move(text));
      token_warned = false;
    }
    token_read_at = now;
    return token;
  }

  // Runs the I/O until `done` is set; false when stop() interrupted it (through io_context::stop()).
  bool run_until(const bool& done) {
    io.restart();
    if (stopping) return false;
    while (!done)
      if (io.run_one() == 0) break;
    return done && !stopping;
  }

  ApiOutcome connect(Connection& conn) {
    tcp::resolver resolver(io);
    bool done = false;
    beast::error_code ec;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(url.host, url.port, [&](beast::error_code e, tcp::resolver::results_type r) {
      ec = e;
      endpoints = std::move(r);
      done = true;
    });
    if (!run_until(done)) return ApiOutcome::kStopped;
    if (ec) {
      on_error("connect", fmt::format("cannot resolve {}: {}", url.host, ec.message()));
      return ApiOutcome::kFailed;
    }
    if (url.tls) {
      conn.stream.emplace<beast::ssl_stream<beast::tcp_stream>>(io, *tls);
    } else {
      conn.stream.emplace<beast::tcp_stream>(io);
    }
    auto& tcp = conn.tcp();
    tcp.expires_after(options.connect_timeout);
    done = false;
    tcp.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!run_until(done)) return ApiOutcome::kStopped;
    if (ec) {
      on_error("connect", fmt::format("cannot connect to {}:{}: {}", url.host, url.port, ec.message()));
      return ApiOutcome::kFailed;
    }
    if (!url.tls) return ApiOutcome::kOk;
    auto& stream = std::get<beast::ssl_stream<beast::tcp_stream>>(conn.stream);
    beast::error_code not_ip;
    net::ip::make_address(url.host, not_ip);
    // SNI is for names only (RFC 6066); the certificate check covers both names and IP SANs.
    if (not_ip) SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
    if (!options.insecure_skip_tls_verify) stream.set_verify_callback(ssl::host_name_verification(url.host));
    tcp.expires_after(options.connect_timeout);
    done = false;
    stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!run_until(done)) return ApiOutcome::kStopped;
    if (ec) {
      on_error("tls", fmt::format("TLS handshake with {} failed: {}", url.host, ec.message()));
      return ApiOutcome::kFailed;
    }
    return ApiOutcome::kOk;
  }

  ApiOutcome send(Connection& conn, const std::string& target) {
    http::request<http::empty_body> req{http::verb::get, url.base_path + target, 11};
    req.set(http::field::host, url.host);
    req.set(http::field::user_agent, "otelbpf-agent/" OTELBPF_VERSION);
    req.set(http::field::accept, "application/json");
    if (const auto& t = bearer_token(false); !t.empty()) req.set(http::field::authorization, "Bearer " + t);
    conn.tcp().expires_after(options.request_timeout);
    bool done = false;
    beast::error_code ec;
    conn.visit([&](auto& s) {
      http::async_write(s, req, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    if (!run_until(done)) return ApiOutcome::kStopped;
    if (ec) {
      on_error("write", fmt::format("sending {} failed: {}", target, ec.message()));
      return ApiOutcome::kFailed;
    }
    return ApiOutcome::kOk;
  }

  // Runs one read of the answer to `target` (`start(stream, handler)` begins it) to its end.
  template <class StartRead>
  ApiOutcome read_answer(Connection& conn, const std::string& target, StartRead start) {
    conn.tcp().expires_after(options.request_timeout);
    bool done = false;
    beast::error_code ec;
    conn.visit([&](auto& stream) {
      start(stream, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    if (!run_until(done)) return ApiOutcome::kStopped;
    if (ec) {
      on_error("read", fmt::format("reading the answer to {} failed: {}", target, ec.message()));
      return ApiOutcome::kFailed;
    }
    return ApiOutcome::kOk;
  }

  ApiOutcome request(Connection& conn, const std::string& target) {
    if (const ApiOutcome o = connect(conn); o != ApiOutcome::kOk) return o;
    return send(conn, target);
  }
};

ApiTransport::ApiTransport(const KubeClientOptions& options, ErrorSink on_error)
    : impl_(std::make_unique<Impl>(options, std::move(on_error))) {}

ApiTransport::~ApiTransport() = default;

void ApiTransport::stop() {
  impl_->stopping = true;
  impl_->io.stop();
  { std::lock_guard lock(impl_->sleep_mutex); }
  impl_->sleep_cv.notify_all();
}

bool ApiTransport::stopping() const { return impl_->stopping.load(); }

bool ApiTransport::sleep_for(std::chrono::milliseconds delay) {
  std::unique_lock lock(impl_->sleep_mutex);
  return !impl_->sleep_cv.wait_for(lock, delay, [this] { return impl_->stopping.load(); });
}

void ApiTransport::token_refused() { impl_->bearer_token(true); }

ApiOutcome ApiTransport::get(const std::string& target, std::uint64_t body_limit, unsigned& status,
                             std::string& body) {
  Impl& i = *impl_;
  Connection conn;
  if (const ApiOutcome o = i.request(conn, target); o != ApiOutcome::kOk) return o;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  const ApiOutcome read = i.read_answer(conn, target, [&](auto& stream, auto handler) {
    http::async_read(stream, conn.buffer, parser, std::move(handler));
  });
  if (read != ApiOutcome::kOk) return read;
  status = parser.get().result_int();
  body = std::move(parser.get().body());
  return ApiOutcome::kOk;
}

ApiOutcome ApiTransport::open_stream(const std::string& target, unsigned& status) {
  Impl& i = *impl_;
  i.stream_parser.reset();
  Connection& conn = i.stream.emplace();
  if (const ApiOutcome o = i.request(conn, target); o != ApiOutcome::kOk) return o;
  auto& parser = i.stream_parser.emplace();
  parser.body_limit(boost::none);
  const ApiOutcome read = i.read_answer(conn, target, [&](auto& stream, auto handler) {
    http::async_read_header(stream, conn.buffer, parser, std::move(handler));
  });
  if (read != ApiOutcome::kOk) return read;
  status = parser.get().result_int();
  return ApiOutcome::kOk;
}

ApiOutcome ApiTransport::read_stream(std::string& out, std::chrono::milliseconds idle) {
  Impl& i = *impl_;
  auto& parser = *i.stream_parser;
  Connection& conn = *i.stream;
  char chunk[16384];
  parser.get().body().data = chunk;
  parser.get().body().size = sizeof chunk;
  conn.tcp().expires_after(idle);
  bool done = false;
  beast::error_code ec;
  conn.visit([&](auto& s) {
    http::async_read_some(s, conn.buffer, parser, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
  });
  if (!i.run_until(done)) return ApiOutcome::kStopped;
  out.append(chunk, sizeof chunk - parser.get().body().size);
  if (ec && ec != http::error::need_buffer) {
    i.stream_error = ec.message();
    return ApiOutcome::kDisconnected;
  }
  return ApiOutcome::kOk;
}

bool ApiTransport::stream_done() const { return !impl_->stream_parser || impl_->stream_parser->is_done(); }

const std::string& ApiTransport::stream_error() const { return impl_->stream_error; }

}  // namespace otelbpf::k8s
