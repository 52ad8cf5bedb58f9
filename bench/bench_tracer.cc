// The syscall tracer's userspace half (SyscallEventProcessor) fed with synthetic kernel events shaped
// like the probes' (otelbpf_event_header + captured payload): how many events and sys spans per second one
// ring-buffer consumer thread can process, i.e. the event rate beyond which the ring buffer fills and the
// probes drop. The sink counts spans and frees the batch (that free is on the consumer thread here, in the
// agent it happens downstream: the figures are a little conservative). The tracer's batches hold compact
// sys spans that the assembler turns into OTLP as they leave; KeepAlive/<n>/otlp:1 does that export in the
// sink too, for the cost of the whole path from event to OTLP span on one core. LoopbackThroughAssembler
// feeds the batches of a client and a server on one node (wrk -> nginx) to the trace assembler as the agent
// does: the tracer and the assembler on one core, the assembler's share reported apart.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "assembler/trace_assembler.h"
#include "model/otlp_json.h"
#include "spans/sys_span_export.h"
#include "tracer/syscall_event_processor.h"

namespace otelbpf {
namespace {

std::uint64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// What a browser-ish client or an SDK-instrumented upstream sends, and what a JSON API answers.
std::vector<std::string> make_requests() {
  std::vector<std::string> out;
  const std::string body = R"({"sku":"A-1842","qty":2})";
  const char* paths[] = {"/api/cart", "/api/orders/1842?expand=items", "/api/checkout", "/static/app.js",
                         "/healthz"};
  for (int i = 0; i < 16; ++i) {
    char traceparent[64];
    std::snprintf(traceparent, sizeof traceparent, "00-%016x%016x-%016x-01", 0x0af76519u + i,
                  0x16cd43ddu * (i + 1), 0xb7ad6b71u + i);
    out.push_back(std::string(i % 3 == 0 ? "POST " : "GET ") + paths[i % 5] +
                  " HTTP/1.1\r\nHost: checkout.shop.svc.cluster.local:8080\r\n"
                  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0\r\n"
                  "Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
                  "traceparent: " +
                  traceparent + "\r\n" +
                  (i % 3 == 0 ? "Content-Type: application/json\r\nContent-Length: " +
                                    std::to_string(body.size()) + "\r\n\r\n" + body
                              : std::string("\r\n")));
  }
  return out;
}

std::vector<std::string> make_responses() {
  std::vector<std::string> out;
  const std::string body =
      R"({"id":1842,"status":"confirmed","items":[{"sku":"A-1842","qty":2}],"total":"39.80"})";
  for (int status : {200, 200, 200, 201, 404, 503}) {
    out.push_back("HTTP/1.1 " + std::to_string(status) + (status < 300 ? " OK" : " Error") +
                  "\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                  "Content-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\nConnection: keep-alive\r\n\r\n" + body);
  }
  return out;
}

// One socket as the probes describe it, with its per-direction TCP sequence numbers.
struct SyntheticConnection {
  otelbpf_event_header base{};
  std::uint32_t egress_seq = 1000, ingress_seq = 900000;

  SyntheticConnection(std::uint32_t pid, std::uint64_t sock_id, std::uint16_t lport, std::uint32_t peer,
                      std::uint16_t rport) {
    base.pid = pid;
    base.tid = pid;
    base.fd = 10 + static_cast<std::uint32_t>(sock_id % 1000);
    base.cgroup_id = 4242;
    base.sock.sock_id = sock_id;
    base.sock.family = AF_INET;
    base.sock.protocol = IPPROTO_TCP;
    inet_pton(AF_INET, "10.42.3.17", base.sock.saddr);
    std::memcpy(base.sock.daddr, &peer, 4);
    base.sock.sport = lport;
    base.sock.dport = rport;
    std::strncpy(base.comm, "checkout", sizeof base.comm);
  }
  otelbpf_event_header open(std::uint32_t type, std::uint64_t ts) const {
    auto h = base;
    h.type = type;
    h.syscall = type == OTELBPF_EV_ACCEPT ? OTELBPF_SYS_ACCEPT4 : OTELBPF_SYS_CONNECT;
    h.ts_enter_ns = ts;
    h.ts_exit_ns = ts + 2000;
    return h;
  }
  otelbpf_event_header close(std::uint64_t ts) const {
    auto h = open(OTELBPF_EV_CLOSE, ts);
    h.syscall = OTELBPF_SYS_CLOSE;
    return h;
  }
  otelbpf_event_header data(std::uint8_t dir, std::uint32_t tid, std::uint64_t ts, std::size_t len) {
    auto h = base;
    h.type = OTELBPF_EV_DATA;
    h.tid = tid;
    h.direction = dir;
    h.syscall = dir == OTELBPF_DIR_INGRESS ? OTELBPF_SYS_RECVFROM : OTELBPF_SYS_WRITEV;
    h.ts_enter_ns = ts;
    h.ts_exit_ns = ts + 3000;
    auto& seq = dir == OTELBPF_DIR_INGRESS ? ingress_seq : egress_seq;
    h.tcp_seq = seq;
    seq += static_cast<std::uint32_t>(len);
    h.ret = static_cast<std::int64_t>(len);
    h.payload_len = static_cast<std::uint32_t>(len);
    return h;
  }
};

struct Harness {
  MetricsRegistry metrics;
  std::uint64_t spans = 0;
  std::uint64_t events = 0;
  std::uint64_t setup_events = 0;  // accepts/connects before the timed loop, not counted in the rates
  SyscallEventProcessor processor;
  std::vector<std::string> requests = make_requests();
  std::vector<std::string> responses = make_responses();
  std::uint64_t ts = monotonic_now_ns();
  const std::uint32_t pid = static_cast<std::uint32_t>(getpid());  // a real /proc/<pid>/exe

  bool export_spans = false;  // the sink makes the OTLP spans of the batch (the assembler's part)
  std::function<void(SpanBatch)> sink;  // where batches go after counting (else freed)
  explicit Harness(std::size_t max_connections = 65536)
      : processor(
            options(max_connections),
            [this](SpanBatch batch) {
              if (export_spans) export_sys_groups(batch);
              spans += batch.span_count();
              if (sink) sink(std::move(batch));
            },
            metrics) {}
  static SyscallEventProcessorOptions options(std::size_t max_connections) {
    SyscallEventProcessorOptions o;
    o.max_connections = max_connections;
    o.host_name = "node-7";
    return o;
  }
  void send(const otelbpf_event_header& h, std::span<const std::uint8_t> payload = {}) {
    processor.on_event(h, payload);
    ++events;
  }
  // The agent ticks on a timer; a tick per few thousand events is about right at these rates.
  void maybe_tick() {
    if ((events & 4095) < 4) processor.tick();
  }
  std::uint64_t next_ts(std::uint64_t step_ns = 20'000) { return ts += step_ns; }
  void report(benchmark::State& state) {
    processor.close_all();
    const auto timed = static_cast<double>(events - setup_events);
    state.counters["events_per_s"] = benchmark::Counter(timed, benchmark::Counter::kIsRate);
    state.counters["spans_per_s"] =
        benchmark::Counter(static_cast<double>(spans), benchmark::Counter::kIsRate);
    state.counters["events_per_span"] = spans ? timed / static_cast<double>(spans) : 0;
  }
};

std::uint32_t peer_ip(std::uint64_t i) { return htonl(0x0a2a0000u | static_cast<std::uint32_t>(i & 0xffff)); }

// An HTTP server on keep-alive connections: per request, the request read (ingress) and the response
// written (egress), round-robin over range(0) accepted connections. 1 sys SERVER span per 2 events.
void BM_HttpServerKeepAlive(benchmark::State& state) {
  Harness h;
  h.export_spans = state.range(1) != 0;
  std::vector<SyntheticConnection> conns;
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (std::uint64_t i = 0; i < n; ++i) {
    conns.emplace_back(h.pid, 0xffff880000000000ull + i * 0x800, 8080, peer_ip(i),
                       static_cast<std::uint16_t>(30000 + i));
    h.send(conns.back().open(OTELBPF_EV_ACCEPT, h.next_ts()));
  }
  h.setup_events = h.events;
  std::uint64_t i = 0;
  for (auto _ : state) {
    auto& c = conns[i % n];
    const auto& req = h.requests[i % h.requests.size()];
    const auto& resp = h.responses[i % h.responses.size()];
    const std::uint32_t tid = h.pid + 1 + static_cast<std::uint32_t>(i % 8);
    h.send(c.data(OTELBPF_DIR_INGRESS, tid, h.next_ts(), req.size()), bytes(req));
    h.send(c.data(OTELBPF_DIR_EGRESS, tid, h.next_ts(), resp.size()), bytes(resp));
    h.maybe_tick();
    ++i;
  }
  h.report(state);
}
BENCHMARK(BM_HttpServerKeepAlive)
    ->ArgsProduct({{64, 4096}, {0, 1}})
    ->ArgNames({"", "otlp"})
    ->Unit(benchmark::kNanosecond);

// A connection per request (no keep-alive): accept, request, response, close. 1 span per 4 events.
void BM_HttpServerConnectionPerRequest(benchmark::State& state) {
  Harness h;
  h.setup_events = h.events;
  std::uint64_t i = 0;
  for (auto _ : state) {
    SyntheticConnection c(h.pid, 0xffff990000000000ull + i * 0x800, 8080, peer_ip(i),
                          static_cast<std::uint16_t>(30000 + i % 30000));
    const auto& req = h.requests[i % h.requests.size()];
    const auto& resp = h.responses[i % h.responses.size()];
    h.send(c.open(OTELBPF_EV_ACCEPT, h.next_ts()));
    h.send(c.data(OTELBPF_DIR_INGRESS, h.pid, h.next_ts(), req.size()), bytes(req));
    h.send(c.data(OTELBPF_DIR_EGRESS, h.pid, h.next_ts(), resp.size()), bytes(resp));
    h.send(c.close(h.next_ts()));
    h.maybe_tick();
    ++i;
  }
  h.report(state);
}
BENCHMARK(BM_HttpServerConnectionPerRequest)->Unit(benchmark::kNanosecond);

// A service in the middle: it reads a request, calls an upstream over a pooled keep-alive client
// connection on the same thread, then answers (thread link §3.3). 2 spans (SERVER + CLIENT) per 4 events.
void BM_HttpServerWithUpstreamCall(benchmark::State& state) {
  Harness h;
  const std::uint64_t n = static_cast<std::uint64_t>(state.range(0));
  std::vector<SyntheticConnection> inbound, upstream;
  for (std::uint64_t i = 0; i < n; ++i) {
    inbound.emplace_back(h.pid, 0xffff770000000000ull + i * 0x800, 8080, peer_ip(i),
                         static_cast<std::uint16_t>(30000 + i));
    h.send(inbound.back().open(OTELBPF_EV_ACCEPT, h.next_ts()));
    upstream.emplace_back(h.pid, 0xffff660000000000ull + i * 0x800, static_cast<std::uint16_t>(40000 + i),
                          peer_ip(0x8000 + i % 16), 9090);
    h.send(upstream.back().open(OTELBPF_EV_CONNECT, h.next_ts()));
  }
  h.setup_events = h.events;
  std::uint64_t i = 0;
  for (auto _ : state) {
    auto& in = inbound[i % n];
    auto& up = upstream[i % n];
    const auto& req = h.requests[i % h.requests.size()];
    const auto& call = h.requests[(i + 7) % h.requests.size()];
    const auto& call_resp = h.responses[0];
    const auto& resp = h.responses[i % h.responses.size()];
    const std::uint32_t tid = h.pid + 1 + static_cast<std::uint32_t>(i % 8);
    h.send(in.data(OTELBPF_DIR_INGRESS, tid, h.next_ts(), req.size()), bytes(req));
    h.send(up.data(OTELBPF_DIR_EGRESS, tid, h.next_ts(), call.size()), bytes(call));
    h.send(up.data(OTELBPF_DIR_INGRESS, tid, h.next_ts(), call_resp.size()), bytes(call_resp));
    h.send(in.data(OTELBPF_DIR_EGRESS, tid, h.next_ts(), resp.size()), bytes(resp));
    h.maybe_tick();
    ++i;
  }
  h.report(state);
}
BENCHMARK(BM_HttpServerWithUpstreamCall)->Arg(256)->Unit(benchmark::kNanosecond);

// wrk -> nginx on one node: a client process and a server process on range(0) keep-alive loopback
// connections, both traced (4 events and 2 sys spans per request: the client's write and read, the
// server's read and write, with matching TCP sequence numbers). The tracer's batches go to a trace
// assembler as in the agent (compact output, 5 s link window, polled every 50 ms of wall time); the
// assembler's sink counts and frees. The rates are of the whole path; assembler_ns_per_span is the time
// spent in the assembler's add and poll per sys span. With a second argument of 1 the sink also writes each
// batch as OTLP/JSON, as the default file exporter does (json_ns_per_span).
void BM_LoopbackThroughAssembler(benchmark::State& state) {
  MetricsRegistry assembler_metrics;
  std::uint64_t assembled = 0;
  AssemblerOptions options;
  options.compact_sys_output = true;
  const bool write_json = state.range(1) != 0;
  std::string json;
  std::chrono::nanoseconds in_json{0};
  TraceAssembler assembler(
      options,
      [&](std::shared_ptr<const SpanBatch> batch) {
        assembled += batch->span_count();
        if (!write_json) return;
        const auto t0 = std::chrono::steady_clock::now();
        const SpanBatch* one[] = {batch.get()};
        encode_otlp_json_into(one, json);
        benchmark::DoNotOptimize(json.data());
        in_json += std::chrono::steady_clock::now() - t0;
      },
      assembler_metrics);
  std::chrono::nanoseconds in_assembler{0};
  auto timed = [&](auto&& work) {
    const auto t0 = std::chrono::steady_clock::now();
    work(t0);
    in_assembler += std::chrono::steady_clock::now() - t0;
  };
  Harness h;
  auto last_poll = std::chrono::steady_clock::now();
  h.sink = [&](SpanBatch batch) { timed([&](auto now) { assembler.add(std::move(batch), now); }); };
  const std::uint32_t client_pid = static_cast<std::uint32_t>(getppid());  // both real /proc entries
  const std::uint32_t server_pid = h.pid;
  const std::uint32_t loopback = htonl(INADDR_LOOPBACK);
  std::vector<SyntheticConnection> clients, servers;
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto port = static_cast<std::uint16_t>(40000 + i);
    clients.emplace_back(client_pid, 0xffff440000000000ull + i * 0x800, port, loopback, 8080);
    servers.emplace_back(server_pid, 0xffff330000000000ull + i * 0x800, 8080, loopback, port);
    auto& c = clients.back();
    auto& srv = servers.back();
    inet_pton(AF_INET, "127.0.0.1", c.base.sock.saddr);
    inet_pton(AF_INET, "127.0.0.1", srv.base.sock.saddr);
    std::strncpy(c.base.comm, "wrk", sizeof c.base.comm);
    std::strncpy(srv.base.comm, "nginx", sizeof srv.base.comm);
    srv.ingress_seq = c.egress_seq = 1000 + static_cast<std::uint32_t>(i) * 7919;
    srv.egress_seq = c.ingress_seq = 900000 + static_cast<std::uint32_t>(i) * 104729;
    h.send(c.open(OTELBPF_EV_CONNECT, h.next_ts()));
    h.send(srv.open(OTELBPF_EV_ACCEPT, h.next_ts()));
  }
  const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
  const std::string response =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
  h.setup_events = h.events;
  std::uint64_t i = 0;
  for (auto _ : state) {
    auto& c = clients[i % n];
    auto& srv = servers[i % n];
    const std::uint32_t client_tid = client_pid + static_cast<std::uint32_t>(i % 2);
    h.send(c.data(OTELBPF_DIR_EGRESS, client_tid, h.next_ts(2000), request.size()), bytes(request));
    h.send(srv.data(OTELBPF_DIR_INGRESS, server_pid, h.next_ts(2000), request.size()), bytes(request));
    h.send(srv.data(OTELBPF_DIR_EGRESS, server_pid, h.next_ts(2000), response.size()), bytes(response));
    h.send(c.data(OTELBPF_DIR_INGRESS, client_tid, h.next_ts(2000), response.size()), bytes(response));
    h.maybe_tick();
    if ((i & 1023) == 0 && std::chrono::steady_clock::now() - last_poll >= std::chrono::milliseconds(50))
      timed([&](auto now) {
        assembler.poll(now);
        last_poll = now;
      });
    ++i;
  }
  h.report(state);
  state.counters["assembled_spans"] = static_cast<double>(assembled);
  // The JSON is written from inside the assembler's emit: its time is taken out of the assembler's.
  state.counters["assembler_ns_per_span"] =
      h.spans ? static_cast<double>((in_assembler - in_json).count()) / static_cast<double>(h.spans) : 0;
  if (write_json)
    state.counters["json_ns_per_span"] =
        assembled ? static_cast<double>(in_json.count()) / static_cast<double>(assembled) : 0;
}
BENCHMARK(BM_LoopbackThroughAssembler)
    ->Args({32, 0})
    ->Args({32, 1})
    ->Unit(benchmark::kNanosecond)
    ->UseRealTime();

// The file exporter's part alone: sets of 512 compact sys spans as the tracer makes them (the
// KeepAlive requests and responses: trace context, user agent, status codes) written as OTLP/JSON, over
// and over into a kept line buffer as FileExporter does. Pure CPU on fixed input, so its ns per span
// compares encoder changes where the end-to-end benchmarks' noise (a few %) would hide them.
// The argument is how many sets of 512 spans the loop cycles through: with 1 they stay in the CPU's
// caches; with 128 (~100 MB) every set is read from memory, as the file exporter reads spans the tracer
// made on another CPU up to a link window earlier.
void BM_EncodeSysSpansJson(benchmark::State& state) {
  Harness h;
  std::vector<SpanBatch> batches;
  h.sink = [&](SpanBatch batch) { batches.push_back(std::move(batch)); };
  const auto set_count = static_cast<std::size_t>(state.range(0));
  std::vector<std::pair<std::size_t, std::size_t>> ranges;  // each set's batches: [first, last)
  std::size_t spans = 0;
  for (std::size_t set = 0; set < set_count; ++set) {
    SyntheticConnection c(h.pid, 0xffff990000000000ull + set * 0x800, 8080, peer_ip(7 + set),
                          static_cast<std::uint16_t>(30007 + set));
    h.send(c.open(OTELBPF_EV_ACCEPT, h.next_ts()));
    const std::size_t first = batches.size();
    for (std::size_t i = 0; i < 512; ++i) {
      const auto& req = h.requests[i % h.requests.size()];
      const auto& resp = h.responses[i % h.responses.size()];
      h.send(c.data(OTELBPF_DIR_INGRESS, h.pid, h.next_ts(), req.size()), bytes(req));
      h.send(c.data(OTELBPF_DIR_EGRESS, h.pid, h.next_ts(), resp.size()), bytes(resp));
    }
    h.processor.tick();
    ranges.emplace_back(first, batches.size());
    for (std::size_t b = first; b < batches.size(); ++b) spans += batches[b].span_count();
  }
  if (spans == 0) {
    state.SkipWithError("the tracer made no spans");
    return;
  }
  // Pointers only once every batch is made (the vector moves its batches as it grows).
  std::vector<std::vector<const SpanBatch*>> sets;
  for (const auto& [first, last] : ranges) {
    auto& parts = sets.emplace_back();
    for (std::size_t b = first; b < last; ++b) parts.push_back(&batches[b]);
  }
  JsonLineBuffer line;
  std::size_t next = 0, encoded = 0, bytes_written = 0;
  for (auto _ : state) {
    const auto& parts = sets[next];
    next = (next + 1) % sets.size();
    encode_otlp_json_into(parts, line);
    benchmark::DoNotOptimize(line.view().data());
    for (const auto* b : parts) encoded += b->span_count();
    bytes_written += line.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(encoded));
  state.counters["json_bytes_per_span"] =
      encoded ? static_cast<double>(bytes_written) / static_cast<double>(encoded) : 0;
  state.counters["ns_per_span"] = benchmark::Counter(
      static_cast<double>(encoded), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EncodeSysSpansJson)->Arg(1)->Arg(128)->Unit(benchmark::kMicrosecond);

// Traffic no parser recognises (TLS records): the cost of events that never become spans.
void BM_UnrecognisedTraffic(benchmark::State& state) {
  Harness h;
  const std::uint64_t n = 1024;
  std::vector<SyntheticConnection> conns;
  for (std::uint64_t i = 0; i < n; ++i) {
    conns.emplace_back(h.pid, 0xffff550000000000ull + i * 0x800, 443, peer_ip(i),
                       static_cast<std::uint16_t>(30000 + i));
    h.send(conns.back().open(OTELBPF_EV_ACCEPT, h.next_ts()));
  }
  std::string record(512, '\x5a');
  record[0] = 0x17, record[1] = 0x03, record[2] = 0x03;  // TLS application data
  h.setup_events = h.events;
  std::uint64_t i = 0;
  for (auto _ : state) {
    auto& c = conns[i % n];
    h.send(c.data(i & 1 ? OTELBPF_DIR_EGRESS : OTELBPF_DIR_INGRESS, h.pid, h.next_ts(), record.size()),
           bytes(record));
    h.maybe_tick();
    ++i;
  }
  h.report(state);
}
BENCHMARK(BM_UnrecognisedTraffic)->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace otelbpf

BENCHMARK_MAIN();
