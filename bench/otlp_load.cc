// otlp-load: OTLP/HTTP protobuf load generator for the agent's receiver. Each connection is a thread with
// a keep-alive Boost.Beast sync client that resends a pre-serialised request (re-salted ids, so the agent
// never sees the same trace or span id twice) as fast as the agent answers, counts 200s, and backs off on
// 429/503 for Retry-After (capped by --max-backoff-ms: a bench wants pressure, not politeness).
//
//   otlp-load --port 38086 [--path /v1/traces] [--connections 4] [--duration 15] [--warmup 1]
//             [--spans 512] [--max-backoff-ms 50]
// The last line is machine readable: RESULT key=value ...
#include <sys/resource.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "otlp_requests.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "38086";
  std::string path = "/v1/traces";
  int connections = 4;
  double duration_s = 15;
  double warmup_s = 1;
  int spans = 512;
  int max_backoff_ms = 50;
  std::size_t attribute_bytes = 0;  // > 0: every span also carries one string attribute this long
};

struct ConnectionStats {
  std::uint64_t ok_requests = 0, ok_spans = 0;          // whole run, warm-up included
  std::uint64_t window_requests = 0, window_spans = 0;  // measured window only
  std::uint64_t busy = 0, errors = 0, reconnects = 0;
  std::vector<std::uint32_t> latency_us;  // 200 answers in the measured window
  std::string first_error;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "otlp-load: %s\nusage: otlp-load --port N [--host H] [--path P] [--connections N] [--duration S]\n"
      "                 [--warmup S] [--spans N] [--max-backoff-ms MS] [--attribute-bytes N]\n",
      why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--host")
      o.host = value();
    else if (a == "--port")
      o.port = value();
    else if (a == "--path")
      o.path = value();
    else if (a == "--connections")
      o.connections = std::stoi(value());
    else if (a == "--duration")
      o.duration_s = std::stod(value());
    else if (a == "--warmup")
      o.warmup_s = std::stod(value());
    else if (a == "--spans")
      o.spans = std::stoi(value());
    else if (a == "--max-backoff-ms")
      o.max_backoff_ms = std::stoi(value());
    else if (a == "--attribute-bytes")
      o.attribute_bytes = std::stoul(value());
    else if (a == "-h" || a == "--help")
      usage("OTLP/HTTP protobuf load generator");
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.connections < 1 || o.spans < 1 || o.duration_s <= 0)
    usage("connections, spans and duration must be positive");
  return o;
}

void run_connection(const Options& o, int index, const std::string& serialised,
                    const otelbpf::bench::IdOffsets& ids, Clock::time_point window_start,
                    Clock::time_point deadline, ConnectionStats& stats) {
  asio::io_context io;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(o.host, o.port);
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  http::request<http::string_body> req{http::verb::post, o.path, 11};
  req.set(http::field::host, o.host + ":" + o.port);
  req.set(http::field::content_type, "application/x-protobuf");
  req.set(http::field::user_agent, "otelbpf-otlp-load");
  req.keep_alive(true);
  req.body() = serialised;
  req.prepare_payload();
  // Salts are unique per connection and per send: the connection index in the top byte.
  std::uint32_t salt = 0, sequence = 0;

  while (Clock::now() < deadline) {
    try {
      if (!stream) {
        stream = std::make_unique<beast::tcp_stream>(io);
        stream->connect(endpoints);
        stream->socket().set_option(tcp::no_delay(true));
        buffer.clear();
      }
      const std::uint32_t next = (static_cast<std::uint32_t>(index + 1) << 24) | (++sequence & 0xffffff);
      otelbpf::bench::salt_ids(req.body(), ids, salt ^ next);
      salt = next;

      const auto sent_at = Clock::now();
      http::write(*stream, req);
      http::response<http::string_body> res;
      http::read(*stream, buffer, res);
      const auto done_at = Clock::now();
      const unsigned status = res.result_int();
      if (status == 200) {
        ++stats.ok_requests;
        stats.ok_spans += static_cast<std::uint64_t>(o.spans);
        if (done_at >= window_start && done_at < deadline) {
          ++stats.window_requests;
          stats.window_spans += static_cast<std::uint64_t>(o.spans);
          stats.latency_us.push_back(static_cast<std::uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(done_at - sent_at).count()));
        }
      } else if (status == 429 || status == 503) {
        ++stats.busy;
        int wait_ms = o.max_backoff_ms;
        if (auto it = res.find(http::field::retry_after); it != res.end())
          wait_ms = std::min(wait_ms, std::atoi(std::string(it->value()).c_str()) * 1000);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::max(wait_ms, 1)));
      } else {
        ++stats.errors;
        if (stats.first_error.empty())
          stats.first_error = "HTTP " + std::to_string(status) + ": " + res.body().substr(0, 200);
      }
      if (!res.keep_alive()) {
        stream.reset();
        ++stats.reconnects;
      }
    } catch (const std::exception& e) {
      ++stats.errors;
      if (stats.first_error.empty()) stats.first_error = e.what();
      stream.reset();
      ++stats.reconnects;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (stream) {
    beast::error_code ec;
    stream->socket().shutdown(tcp::socket::shutdown_both, ec);
  }
}

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  otelbpf::bench::RequestShape shape;
  shape.spans = o.spans;
  auto request = otelbpf::bench::make_request(shape);
  // Hostile or careless senders: a payload, a stack trace or a SQL text of this size in every span.
  if (o.attribute_bytes)
    for (auto& rs : *request.mutable_resource_spans())
      for (auto& ss : *rs.mutable_scope_spans())
        for (auto& span : *ss.mutable_spans()) {
          auto* kv = span.add_attributes();
          kv->set_key("app.payload");
          kv->mutable_value()->set_string_value(std::string(o.attribute_bytes, 'p'));
        }
  const std::string serialised = request.SerializeAsString();
  const auto ids = otelbpf::bench::find_id_offsets(request, serialised);
  std::printf(
      "otlp-load: %d connections to %s:%s%s, %d spans/request (%zu bytes), warm-up %.1fs, measure %.1fs\n",
      o.connections, o.host.c_str(), o.port.c_str(), o.path.c_str(), o.spans, serialised.size(), o.warmup_s,
      o.duration_s);
  std::fflush(stdout);

  const auto start = Clock::now();
  const auto window_start =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s));
  const auto deadline =
      window_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  std::vector<ConnectionStats> stats(static_cast<std::size_t>(o.connections));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.connections; ++i)
    threads.emplace_back(run_connection, std::cref(o), i, std::cref(serialised), std::cref(ids), window_start,
                         deadline, std::ref(stats[static_cast<std::size_t>(i)]));
  for (auto& t : threads) t.join();
  // The generator's own CPU: on a small machine it competes with the agent for the same cores.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();

  ConnectionStats total;
  for (auto& s : stats) {
    total.ok_requests += s.ok_requests;
    total.ok_spans += s.ok_spans;
    total.window_requests += s.window_requests;
    total.window_spans += s.window_spans;
    total.busy += s.busy;
    total.errors += s.errors;
    total.reconnects += s.reconnects;
    total.latency_us.insert(total.latency_us.end(), s.latency_us.begin(), s.latency_us.end());
    if (total.first_error.empty()) total.first_error = s.first_error;
  }
  const double spans_per_s = static_cast<double>(total.window_spans) / o.duration_s;
  const double p50 = percentile(total.latency_us, 0.50), p99 = percentile(total.latency_us, 0.99);
  std::printf(
      "accepted: %llu requests, %llu spans (whole run); busy (429/503): %llu; errors: %llu; reconnects: "
      "%llu\n",
      static_cast<unsigned long long>(total.ok_requests), static_cast<unsigned long long>(total.ok_spans),
      static_cast<unsigned long long>(total.busy), static_cast<unsigned long long>(total.errors),
      static_cast<unsigned long long>(total.reconnects));
  if (!total.first_error.empty()) std::printf("first error: %s\n", total.first_error.c_str());
  std::printf("measured: %.0f spans/s, %.1f requests/s, latency p50 %.2f ms p99 %.2f ms\n", spans_per_s,
              static_cast<double>(total.window_requests) / o.duration_s, p50, p99);
  std::printf(
      "RESULT spans_per_s=%.0f requests_per_s=%.1f ok_requests=%llu ok_spans=%llu busy=%llu errors=%llu "
      "p50_ms=%.3f p99_ms=%.3f request_bytes=%zu cpu_cores=%.2f\n",
      spans_per_s, static_cast<double>(total.window_requests) / o.duration_s,
      static_cast<unsigned long long>(total.ok_requests), static_cast<unsigned long long>(total.ok_spans),
      static_cast<unsigned long long>(total.busy), static_cast<unsigned long long>(total.errors), p50, p99,
      serialised.size(), cpu_s / wall_s);
  return total.ok_requests > 0 ? 0 : 1;
}
