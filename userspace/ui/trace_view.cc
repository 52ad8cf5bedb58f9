#include "ui/trace_view.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <map>
#include <stdexcept>

#include "common/http_url.h"

namespace otelbpf::ui {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

extern const char* const kIndexHtml;  // generated from userspace/ui/assets/index.html

namespace {

// ---- JSON ----

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);  // the spans' text is valid UTF-8 already (spans/ and the receiver)
        }
    }
  }
  out += '"';
}

// `"key":"value"`, after a comma unless it opens its object.
void append_string_field(std::string& out, std::string_view key, std::string_view value, bool first = false) {
  if (!first) out += ',';
  out += '"';
  out += key;
  out += "\":";
  append_json_string(out, value);
}

void append_string_list(std::string& out, const std::vector<std::string>& values) {
  out += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, values[i]);
  }
  out += ']';
}

// ---- HTTP ----

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (!pair.empty())
      out[percent_decode(pair.substr(0, eq), true)] =
          eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::uint64_t number_or(const std::map<std::string, std::string>& query, const char* key,
                        std::uint64_t fallback) {
  auto it = query.find(key);
  if (it == query.end() || it->second.empty()) return fallback;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || end != it->second.data() + it->second.size())
    throw std::invalid_argument(fmt::format("{} must be a non-negative integer", key));
  return value;
}

struct Answer {
  http::status status = http::status::ok;
  std::string content_type = "application/json";
  std::string body;
};

Answer route(TraceStore& store, http::verb method, std::string_view target) {
  if (method != http::verb::get && method != http::verb::head)
    return {http::status::method_not_allowed, "text/plain", "only GET\n"};
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);
  if (path == "/" || path == "/index.html") return {http::status::ok, "text/html; charset=utf-8", kIndexHtml};
  if (path == "/api/traces") {
    const auto q = parse_query(query);
    TraceFilter filter;
    try {
      filter.min_duration_ns = number_or(q, "min_duration_ms", 0) * 1000000;
      filter.limit = static_cast<std::size_t>(std::clamp<std::uint64_t>(number_or(q, "limit", 100), 1, 1000));
    } catch (const std::invalid_argument& e) {
      return {http::status::bad_request, "application/json", fmt::format("{{\"error\":\"{}\"}}", e.what())};
    }
    if (auto it = q.find("service"); it != q.end()) filter.service = it->second;
    if (auto it = q.find("pod"); it != q.end()) filter.pod = it->second;
    if (auto it = q.find("namespace"); it != q.end()) filter.namespace_name = it->second;
    return {http::status::ok, "application/json", traces_json(store.list(filter))};
  }
  if (path.starts_with("/api/traces/")) {
    const std::string_view id = path.substr(std::string_view("/api/traces/").size());
    if (auto trace = store.get(id)) return {http::status::ok, "application/json", trace_json(*trace)};
    return {http::status::not_found, "application/json", "{\"error\":\"no such trace in the view's store\"}"};
  }
  return {http::status::not_found, "text/plain", "not found\n"};
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, TraceStore& store) : stream_(std::move(socket)), store_(store) {}

  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    const auto target = request_.target();
    Answer answer = route(store_, request_.method(), std::string_view(target.data(), target.size()));
    response_ = {};
    response_.version(request_.version());
    response_.result(answer.status);
    response_.set(http::field::server, "otelbpf-agent/" OTELBPF_VERSION);
    response_.set(http::field::content_type, answer.content_type);
    response_.set(http::field::cache_control, "no-store");
    // The page and its API only: nothing loads from elsewhere, and no other site may frame or read it.
    response_.set("Content-Security-Policy",
                  "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'; "
                  "frame-ancestors 'none'");
    response_.set("X-Content-Type-Options", "nosniff");
    response_.keep_alive(request_.keep_alive());
    if (request_.method() != http::verb::head) response_.body() = std::move(answer.body);
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code e, std::size_t) {
      if (!e && self->response_.keep_alive()) {
        self->read();
      } else {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      }
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  http::response<http::string_body> response_;
  TraceStore& store_;
};

}  // namespace

std::string_view index_html() { return kIndexHtml; }

std::string traces_json(const std::vector<TraceSummary>& traces) {
  std::string out = "{\"traces\":[";
  for (std::size_t i = 0; i < traces.size(); ++i) {
    const TraceSummary& t = traces[i];
    if (i) out += ',';
    out += "{";
    append_string_field(out, "traceId", t.trace_id, true);
    append_string_field(out, "rootName", t.root_name);
    out += ",\"services\":";
    append_string_list(out, t.services);
    out += ",\"pods\":";
    append_string_list(out, t.pods);
    out += ",\"namespaces\":";
    append_string_list(out, t.namespaces);
    out += fmt::format(
        ",\"startUnixNano\":\"{}\",\"durationNs\":{},\"spans\":{},\"appSpans\":{},\"sysSpans\":{},"
        "\"netSpans\":{},"
        "\"errors\":{}}}",
        t.start_ns, t.duration_ns, t.spans, t.app_spans, t.sys_spans, t.net_spans, t.errors);
  }
  return out + "]}";
}

std::string trace_json(const StoredTrace& trace) {
  std::string out = "{\"traceId\":";
  append_json_string(out, trace.trace_id);
  out += ",\"spans\":[";
  for (std::size_t i = 0; i < trace.spans.size(); ++i) {
    const StoredSpan& s = trace.spans[i];
    if (i) out += ',';
    out += "{";
    append_string_field(out, "spanId", s.span_id, true);
    append_string_field(out, "parentSpanId", s.parent_span_id);
    append_string_field(out, "name", s.name);
    append_string_field(out, "kind", s.kind);
    append_string_field(out, "source", s.source);
    out += fmt::format(",\"startUnixNano\":\"{}\",\"endUnixNano\":\"{}\"", s.start_ns, s.end_ns);
    append_string_field(out, "service", s.service);
    append_string_field(out, "pod", s.pod);
    append_string_field(out, "namespace", s.namespace_name);
    append_string_field(out, "process", s.process);
    out += fmt::format(",\"error\":{}", s.error ? "true" : "false");
    append_string_field(out, "statusMessage", s.status_message);
    out += ",\"attributes\":[";
    for (std::size_t a = 0; a < s.attributes.size(); ++a) {
      if (a) out += ',';
      out += '[';
      append_json_string(out, s.attributes[a].first);
      out += ',';
      append_json_string(out, s.attributes[a].second);
      out += ']';
    }
    out += "]}";
  }
  return out + "]}";
}

struct TraceView::Server {
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  TraceStore& store;

  explicit Server(TraceStore& s) : store(s) {}

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), store)->read();
      accept();
    });
  }
};

TraceView::TraceView(TraceViewOptions options, MemoryBudget* budget, MetricsRegistry& metrics)
    : options_(std::move(options)),
      store_(options_.store, budget, metrics),
      queue_drops_(metrics.counter(
          "otelbpf_ui_batches_dropped_total",
          "Batches the trace view skipped because its queue was full (exporters unaffected)")) {
  feeder_ = std::thread([this] { feed_loop(); });
}

TraceView::~TraceView() {
  stop();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (feeder_.joinable()) feeder_.join();
}

void TraceView::start() {
  server_ = std::make_unique<Server>(store_);
  beast::error_code ec;
  const auto address = net::ip::make_address(options_.listen_address, ec);
  if (ec) throw std::runtime_error(fmt::format("ui.listen '{}': {}", options_.listen_address, ec.message()));
  const tcp::endpoint endpoint(address, options_.port);
  auto& acceptor = server_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    server_.reset();
    throw std::runtime_error(fmt::format("trace view: cannot listen on {}:{}: {}", options_.listen_address,
                                         options_.port, ec.message()));
  }
  server_->accept();
  server_->thread = std::thread([s = server_.get()] { s->io.run(); });
  listening_ = true;
  spdlog::info("trace view listening on http://{}:{}/", options_.listen_address, bound_port());
}

void TraceView::stop() {
  listening_ = false;
  if (!server_) return;
  server_->io.stop();
  if (server_->thread.joinable()) server_->thread.join();
  server_.reset();
}

std::uint16_t TraceView::bound_port() const {
  if (!server_) return 0;
  beast::error_code ec;
  return server_->acceptor.local_endpoint(ec).port();
}

void TraceView::offer(std::shared_ptr<const SpanBatch> batch) {
  if (!listening_) return;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.max_queued_batches) {
      queue_drops_.inc();
      return;
    }
    queue_.push_back(std::move(batch));
  }
  changed_.notify_all();
}

void TraceView::drain() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return queue_.empty() && in_flight_ == 0; });
}

void TraceView::feed_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto batch = std::move(queue_.front());
    queue_.pop_front();
    ++in_flight_;
    lock.unlock();
    store_.add(*batch);
    batch.reset();
    lock.lock();
    --in_flight_;
    changed_.notify_all();
  }
}

}  // namespace otelbpf::ui
