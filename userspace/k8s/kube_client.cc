#include "k8s/kube_client.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <random>
#include <stdexcept>
#include <variant>

#include "k8s/pod_json.h"
#include "common/http_url.h"

namespace otelbpf::k8s {
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kMaxListPageBytes = 512ull << 20;
constexpr std::size_t kMaxWatchLineBytes = 64u << 20;
constexpr std::size_t kMaxErrorBodyBytes = 64u << 10;

// The API server's URL: common/http_url.h, with the path kept as a proxy's prefix (no trailing '/').
struct ApiUrl {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string base_path;
};

bool parse_api_url(const std::string& url, ApiUrl& out, std::string& error) {
  HttpUrl parsed;
  if (!parse_http_url(url, parsed, error)) {
    error = "kubernetes.api_url: " + error;
    return false;
  }
  out.tls = parsed.tls;
  out.host = std::move(parsed.host);
  out.port = std::move(parsed.port);
  out.base_path = parsed.target.substr(0, parsed.target.find('?'));
  while (out.base_path.ends_with('/')) out.base_path.pop_back();
  return true;
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

std::string env_or(const std::map<std::string, std::string>& env, const char* name,
                   std::string fallback = {}) {
  auto it = env.find(name);
  return it == env.end() || it->second.empty() ? fallback : it->second;
}

// How one LIST or WATCH ended.
enum class Outcome {
  kOk,            // LIST complete / WATCH ended by the server (timeoutSeconds)
  kGone,          // 410: the resourceVersion (or continue token) is too old
  kDisconnected,  // the connection broke in the middle of a watch
  kFailed,        // connect, TLS, HTTP or decoding error
  kStopped,       // stop() was called
};

}  // namespace

std::chrono::milliseconds backoff_delay(std::uint32_t attempt, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds max, double random01) {
  const auto cap = std::max<std::int64_t>(1, max.count());
  std::int64_t delay = std::max<std::int64_t>(1, initial.count());
  for (std::uint32_t i = 0; i < attempt && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  const double half = static_cast<double>(delay) / 2.0;
  return std::chrono::milliseconds(static_cast<std::int64_t>(half + half * std::clamp(random01, 0.0, 1.0)));
}

std::optional<KubeClientOptions> in_cluster_options(const std::map<std::string, std::string>& environment) {
  const auto host = env_or(environment, "KUBERNETES_SERVICE_HOST");
  if (host.empty()) return std::nullopt;
  const auto port = env_or(environment, "KUBERNETES_SERVICE_PORT", "443");
  KubeClientOptions options;
  options.api_url = host.find(':') != std::string::npos ? fmt::format("https://[{}]:{}", host, port)
                                                        : fmt::format("https://{}:{}", host, port);
  options.token_file = std::string(kServiceAccountDir) + "/token";
  options.ca_file = std::string(kServiceAccountDir) + "/ca.crt";
  return options;
}

KubernetesMode parse_kubernetes_mode(const std::string& text) {
  if (text == "auto") return KubernetesMode::kAuto;
  if (text == "on") return KubernetesMode::kOn;
  if (text == "off") return KubernetesMode::kOff;
  throw std::invalid_argument("kubernetes.mode must be auto, on or off, not '" + text + "'");
}

std::optional<KubeClientOptions> resolve_kube_client_options(
    KubernetesMode mode, KubeClientOptions configured,
    const std::map<std::string, std::string>& environment) {
  if (mode == KubernetesMode::kOff) return std::nullopt;
  if (configured.api_url.empty()) {
    auto cluster = in_cluster_options(environment);
    if (!cluster) {
      if (mode == KubernetesMode::kOn)
        throw std::runtime_error(
            "kubernetes.mode is on but kubernetes.api_url is empty and KUBERNETES_SERVICE_HOST is not set");
      return std::nullopt;
    }
    configured.api_url = cluster->api_url;
    if (configured.token_file.empty()) configured.token_file = cluster->token_file;
    if (configured.ca_file.empty()) configured.ca_file = cluster->ca_file;
  }
  return configured;
}

std::string resolve_node_name(const std::string& configured,
                              const std::map<std::string, std::string>& environment) {
  if (!configured.empty()) return configured;
  if (auto node = env_or(environment, "NODE_NAME"); !node.empty()) return node;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

std::map<std::string, std::string> kubernetes_environment() {
  std::map<std::string, std::string> env;
  for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "NODE_NAME"})
    if (const char* value = std::getenv(name)) env[name] = value;
  return env;
}

struct KubeClient::Impl {
  KubeClientOptions& options;
  PodCache& cache;
  ApiUrl url;
  net::io_context io;
  std::optional<ssl::context> tls;
  std::atomic<bool> stopping{false};
  std::mutex sleep_mutex;
  std::condition_variable sleep_cv;
  std::string token;
  Clock::time_point token_read_at{};
  bool token_warned = false;
  PodJsonDecoder decoder;
  std::mt19937_64 rng{std::random_device{}()};
  std::string resource_version;
  Clock::time_point listed_at{};
  std::string last_error;

  Gauge& pods;
  MetricsRegistry& metrics;

  Impl(KubeClientOptions& o, PodCache& c, MetricsRegistry& m)
      : options(o),
        cache(c),
        pods(m.gauge("otelbpf_k8s_pods", "Pods of this node in the attribution cache")),
        metrics(m) {}

  void count_error(const std::string& reason, const std::string& message) {
    metrics
        .counter("otelbpf_k8s_api_errors_total", "Failed Kubernetes API requests, by reason",
                 {{"reason", reason}})
        .inc();
    last_error = message;
  }
  void count_restart(const char* reason) {
    metrics
        .counter("otelbpf_k8s_watch_restarts_total", "Pod watches started again, by why the last one ended",
                 {{"reason", reason}})
        .inc();
  }

  // Sleeps unless stopped; false when stopping.
  bool sleep_for(std::chrono::milliseconds delay) {
    std::unique_lock lock(sleep_mutex);
    return !sleep_cv.wait_for(lock, delay, [this] { return stopping.load(); });
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

  // Runs the I/O until `done` is set; false when stop() interrupted it. The blocking shape keeps the
  // list/watch logic a straight story; stop() interrupts through io_context::stop().
  bool run_until(const bool& done) {
    io.restart();
    if (stopping) return false;
    while (!done)
      if (io.run_one() == 0) break;
    return done && !stopping;
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

  Outcome connect(Connection& conn) {
    tcp::resolver resolver(io);
    bool done = false;
    beast::error_code ec;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(url.host, url.port, [&](beast::error_code e, tcp::resolver::results_type r) {
      ec = e;
      endpoints = std::move(r);
      done = true;
    });
    if (!run_until(done)) return Outcome::kStopped;
    if (ec) {
      count_error("connect", fmt::format("cannot resolve {}: {}", url.host, ec.message()));
      return Outcome::kFailed;
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
    if (!run_until(done)) return Outcome::kStopped;
    if (ec) {
      count_error("connect", fmt::format("cannot connect to {}:{}: {}", url.host, url.port, ec.message()));
      return Outcome::kFailed;
    }
    if (url.tls) {
      auto& stream = std::get<beast::ssl_stream<beast::tcp_stream>>(conn.stream);
      beast::error_code not_ip;
      net::ip::make_address(url.host, not_ip);
      const bool is_ip = !not_ip;
      // SNI is for names only (RFC 6066); the certificate check covers both names and IP SANs.
      if (!is_ip) SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
      if (!options.insecure_skip_tls_verify)
        stream.set_verify_callback(ssl::host_name_verification(url.host));
      tcp.expires_after(options.connect_timeout);
      done = false;
      stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
        ec = e;
        done = true;
      });
      if (!run_until(done)) return Outcome::kStopped;
      if (ec) {
        count_error("tls", fmt::format("TLS handshake with {} failed: {}", url.host, ec.message()));
        return Outcome::kFailed;
      }
    }
    return Outcome::kOk;
  }

  Outcome send(Connection& conn, const std::string& target) {
    http::request<http::empty_body> req{http::verb::get, url.base_path + target, 11};
    req.set(http::field::host, url.host);
    req.set(http::field::user_agent, "otelbpf-agent/" OTELBPF_VERSION);
    req.set(http::field::accept, "application/json");
    if (const auto& t = bearer_token(false); !t.empty()) req.set(http::field::authorization, "Bearer " + t);
    conn.tcp().expires_after(options.request_timeout);
    bool done = false;
    beast::error_code ec;
    conn.visit([&](auto& stream) {
      http::async_write(stream, req, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    if (!run_until(done)) return Outcome::kStopped;
    if (ec) {
      count_error("write", fmt::format("sending {} failed: {}", target, ec.message()));
      return Outcome::kFailed;
    }
    return Outcome::kOk;
  }

  std::string pods_target(const std::string& extra) const {
    std::string target = "/api/v1/pods?";
    if (!options.node_name.empty())
      target += "fieldSelector=" + url_encode("spec.nodeName=" + options.node_name) + "&";
    return target + extra;
  }

  // A non-200 answer: 410 is the expected "too old"; 401/403 name RBAC or token trouble.
  Outcome http_failure(unsigned status, const std::string& body, const char* what) {
    if (status == 410) return Outcome::kGone;
    if (status == 401) bearer_token(true);
    count_error(fmt::format("http_{}", status),
                fmt::format("{} answered HTTP {}: {}", what, status, body.substr(0, 512)));
    return Outcome::kFailed;
  }

  Outcome list() {
    std::vector<PodInfo> pods_listed;
    std::string continue_token;
    PodListPage page;
    do {
      Connection conn;
      if (auto o = connect(conn); o != Outcome::kOk) return o;
      std::string query = fmt::format("limit={}", options.page_size);
      if (!continue_token.empty()) query += "&continue=" + url_encode(continue_token);
      if (auto o = send(conn, pods_target(query)); o != Outcome::kOk) return o;
      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxListPageBytes);
      conn.tcp().expires_after(options.request_timeout);
      bool done = false;
      beast::error_code ec;
      conn.visit([&](auto& stream) {
        http::async_read(stream, conn.buffer, parser, [&](beast::error_code e, std::size_t) {
          ec = e;
          done = true;
        });
      });
      if (!run_until(done)) return Outcome::kStopped;
      if (ec) {
        count_error("read", fmt::format("reading the pod list failed: {}", ec.message()));
        return Outcome::kFailed;
      }
      const auto& res = parser.get();
      // An expired continue token is a 410 too: the list starts over from its first page.
      if (res.result_int() != 200) return http_failure(res.result_int(), res.body(), "pod LIST");
      std::string error;
      if (!decoder.decode_pod_list(res.body(), page, error)) {
        count_error("decode", error);
        return Outcome::kFailed;
      }
      for (auto& p : page.items) pods_listed.push_back(std::move(p));
      continue_token = page.continue_token;
    } while (!continue_token.empty());
    const auto count = pods_listed.size();
    cache.replace_all(std::move(pods_listed));
    pods.set(static_cast<std::int64_t>(cache.size()));
    resource_version = page.resource_version;
    listed_at = Clock::now();
    spdlog::info("kubernetes: {} pods on node {} (resourceVersion {})", count,
                 options.node_name.empty() ? "<all>" : options.node_name, resource_version);
    return Outcome::kOk;
  }

  // Applies one WatchEvent line; returns kOk to go on reading.
  Outcome apply(std::string_view line, std::size_t& events) {
    WatchEvent event;
    std::string error;
    if (!decoder.decode_watch_event(line, event, error)) {
      count_error("decode", error);
      return Outcome::kFailed;
    }
    switch (event.type) {
      case WatchEventType::kAdded:
      case WatchEventType::kModified:
        cache.upsert(event.pod);
        break;
      case WatchEventType::kDeleted:
        cache.remove(event.pod.uid);
        break;
      case WatchEventType::kBookmark:
        break;
      case WatchEventType::kError:
        if (event.status_code == 410) return Outcome::kGone;
        count_error("watch_error", fmt::format("watch ERROR event: code {} {}: {}", event.status_code,
                                               event.status_reason, event.status_message));
        return Outcome::kFailed;
    }
    if (!event.pod.resource_version.empty()) resource_version = event.pod.resource_version;
    pods.set(static_cast<std::int64_t>(cache.size()));
    ++events;
    return Outcome::kOk;
  }

  Outcome watch(std::chrono::seconds timeout, std::size_t& events) {
    Connection conn;
    if (auto o = connect(conn); o != Outcome::kOk) return o;
    const auto query = fmt::format("watch=1&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={}",
                                   url_encode(resource_version), timeout.count());
    if (auto o = send(conn, pods_target(query)); o != Outcome::kOk) return o;

    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    // Bookmarks arrive about once a minute and the server ends the watch at timeoutSeconds: silence well
    // past that is a dead connection.
    const auto idle =
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout) + std::chrono::seconds(60);
    bool done = false;
    beast::error_code ec;
    conn.tcp().expires_after(options.request_timeout);
    conn.visit([&](auto& stream) {
      http::async_read_header(stream, conn.buffer, parser, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    if (!run_until(done)) return Outcome::kStopped;
    if (ec) {
      count_error("read", fmt::format("reading the watch answer failed: {}", ec.message()));
      return Outcome::kFailed;
    }
    const unsigned status = parser.get().result_int();
    std::string pending;
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      conn.tcp().expires_after(status == 200 ? idle : options.request_timeout);
      done = false;
      conn.visit([&](auto& stream) {
        http::async_read_some(stream, conn.buffer, parser, [&](beast::error_code e, std::size_t) {
          ec = e;
          done = true;
        });
      });
      if (!run_until(done)) return Outcome::kStopped;
      if (ec == http::error::need_buffer) ec = {};
      pending.append(chunk, sizeof chunk - parser.get().body().size);
      if (status != 200) {
        if (pending.size() > kMaxErrorBodyBytes || ec) break;
        continue;
      }
      // Events are newline-delimited JSON; chunk boundaries fall anywhere.
      std::size_t start = 0;
      for (auto newline = pending.find('\n'); newline != std::string::npos;
           newline = pending.find('\n', start)) {
        const std::string_view line(pending.data() + start, newline - start);
        start = newline + 1;
        if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
        if (auto o = apply(line, events); o != Outcome::kOk) return o;
      }
      pending.erase(0, start);
      if (pending.size() > kMaxWatchLineBytes) {
        count_error("decode", "watch event longer than 64 MiB");
        return Outcome::kFailed;
      }
      if (ec) {
        count_error("read", fmt::format("watch connection lost: {}", ec.message()));
        return Outcome::kDisconnected;
      }
    }
    if (status != 200) return http_failure(status, pending, "pod WATCH");
    // A last event without its newline (the stream ended right after it).
    if (pending.find_first_not_of(" \r\t\n") != std::string::npos)
      if (auto o = apply(pending, events); o != Outcome::kOk) return o;
    return Outcome::kOk;
  }
};

KubeClient::KubeClient(KubeClientOptions options, PodCache& cache, MetricsRegistry& metrics)
    : options_(std::move(options)), cache_(cache), metrics_(metrics) {
  impl_ = std::make_unique<Impl>(options_, cache_, metrics_);
  std::string error;
  if (!parse_api_url(options_.api_url, impl_->url, error)) throw std::invalid_argument(error);
  if (impl_->url.tls) {
    auto& tls = impl_->tls.emplace(ssl::context::tls_client);
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (options_.insecure_skip_tls_verify) {
      tls.set_verify_mode(ssl::verify_none);
    } else {
      tls.set_verify_mode(ssl::verify_peer);
      beast::error_code ec;
      if (options_.ca_file.empty()) {
        tls.set_default_verify_paths(ec);
      } else {
        tls.load_verify_file(options_.ca_file, ec);
      }
      if (ec)
        throw std::invalid_argument(
            fmt::format("kubernetes: cannot load CA '{}': {}", options_.ca_file, ec.message()));
    }
  }
  metrics_.gauge("otelbpf_k8s_pods", "Pods of this node in the attribution cache").set(0);
}

KubeClient::~KubeClient() { stop(); }

void KubeClient::start() {
  if (thread_.joinable()) return;
  spdlog::info("kubernetes: watching pods of node {} at {}",
               options_.node_name.empty() ? "<all>" : options_.node_name, options_.api_url);
  thread_ = std::thread([this] { run(); });
}

void KubeClient::stop() {
  if (!impl_) return;
  impl_->stopping = true;
  impl_->io.stop();
  { std::lock_guard lock(impl_->sleep_mutex); }
  impl_->sleep_cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool KubeClient::wait_synced(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return synced_.load(); });
}

void KubeClient::run() {
  auto& i = *impl_;
  std::uint32_t attempt = 0;
  bool need_list = true;
  auto back_off = [&](const char* what) {
    const auto delay = backoff_delay(attempt, options_.initial_backoff, options_.max_backoff,
                                     std::uniform_real_distribution<double>(0.0, 1.0)(i.rng));
    ++attempt;
    spdlog::warn("kubernetes: {} ({}); attribution uses the cached pods, retrying in {} ms", what,
                 i.last_error, delay.count());
    return i.sleep_for(delay);
  };
  while (!i.stopping) {
    if (need_list) {
      const auto outcome = i.list();
      if (outcome == Outcome::kStopped) break;
      if (outcome == Outcome::kGone) {
        // An expired continue token: start the list again from its first page, after a breath.
        i.count_restart("gone");
        if (!i.sleep_for(options_.initial_backoff)) break;
        continue;
      }
      if (outcome != Outcome::kOk) {
        if (!back_off("pod LIST failed")) break;
        continue;
      }
      need_list = false;
      attempt = 0;
      {
        std::lock_guard lock(mutex_);
        synced_ = true;
      }
      changed_.notify_all();
    }
    auto timeout = options_.watch_timeout;
    if (options_.resync.count() > 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::seconds>(i.listed_at + options_.resync - Clock::now());
      timeout = std::clamp(left, std::chrono::seconds(1), timeout);
    }
    std::size_t events = 0;
    const auto outcome = i.watch(timeout, events);
    if (events > 0) attempt = 0;
    switch (outcome) {
      case Outcome::kStopped:
        return;
      case Outcome::kGone:
        spdlog::info("kubernetes: watch resourceVersion {} expired (410 Gone); listing again",
                     i.resource_version);
        i.count_restart("gone");
        need_list = true;
        break;
      case Outcome::kOk:
        if (options_.resync.count() > 0 && Clock::now() >= i.listed_at + options_.resync) {
          i.count_restart("resync");
          need_list = true;
        } else {
          i.count_restart("closed");
        }
        break;
      case Outcome::kDisconnected:
        i.count_restart("disconnected");
        if (!back_off("pod watch disconnected")) return;
        break;
      case Outcome::kFailed:
        i.count_restart("error");
        if (!back_off("pod WATCH failed")) return;
        break;
    }
  }
}

}  // namespace otelbpf::k8s
