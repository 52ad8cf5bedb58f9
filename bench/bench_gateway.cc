// A gateway replica's work (docs/gateway.md, Sizing): node agents send it, per cross-node call, the
// server end's subtree (sys SERVER span and the server node's net spans) and copies of the client end (sys
// CLIENT span and the client node's net spans), in batches from several agents. These benchmarks measure
//   - BM_AssembleCalls: calls assembled per second on one core (add both halves, link, emit), and
//   - BM_BufferedCall: the memory one call holds while it waits for its other half (heap bytes allocated
//     per buffered call, from glibc's mallinfo2).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <string>
#include <vector>

#include "assembler/trace_assembler.h"
#include "common/memory_budget.h"
#include "model/attributes.h"

namespace otelbpf {
namespace {

std::string bytes_of(std::uint64_t v, std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>((v >> (8 * (i % 8))) ^ (i * 131));
  return out;
}

void attribute(otlp::Span& s, const char* key, const std::string& value) {
  auto* kv = s.add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}
void attribute(otlp::Span& s, const char* key, std::int64_t value) {
  auto* kv = s.add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_int_value(value);
}

// One span as a node agent sends it: its source, sequence numbers, and the attributes sys/net spans carry.
otlp::Span span(std::uint64_t call, int part, int kind, const char* source, const char* tap_side) {
  otlp::Span s;
  s.set_trace_id(bytes_of(call * 8 + part + 1, 16));
  s.set_span_id(bytes_of(call * 8 + part + 1, 8));
  s.set_kind(static_cast<otlp::Span::SpanKind>(kind));
  s.set_name("GET /api/orders/{id}");
  const std::uint64_t t0 = 1'700'000'000'000'000'000ull + call * 1000;
  s.set_start_time_unix_nano(t0 + part * 10);
  s.set_end_time_unix_nano(t0 + 900 - part * 10);
  attribute(s, attr::kSpanSource, std::string(source));
  attribute(s, attr::kReqSeq, static_cast<std::int64_t>(call * 2 + 1));
  attribute(s, attr::kRespSeq, static_cast<std::int64_t>(call * 2 + 2));
  attribute(s, "http.request.method", std::string("GET"));
  attribute(s, "url.path", "/api/orders/" + std::to_string(call));
  attribute(s, "network.peer.address", std::string("10.244.2.21"));
  attribute(s, "network.peer.port", std::int64_t{8080});
  if (tap_side) attribute(s, attr::kTapSide, std::string(tap_side));
  return s;
}

// The two halves of `calls` calls starting at `first`, as two node agents' batches.
std::pair<SpanBatch, SpanBatch> halves(std::uint64_t first, std::size_t calls) {
  SpanBatch client_node, server_node;
  for (SpanBatch* b : {&client_node, &server_node}) {
    b->source = SpanSource::kApp;
    b->from_peer_agent = true;
    auto* rs = b->request().add_resource_spans();
    auto* kv = rs->mutable_resource()->add_attributes();
    kv->set_key("service.name");
    kv->mutable_value()->set_string_value(b == &client_node ? "curl" : "nginx");
    rs->add_scope_spans();
  }
  auto* client_spans = client_node.request().mutable_resource_spans(0)->mutable_scope_spans(0);
  auto* server_spans = server_node.request().mutable_resource_spans(0)->mutable_scope_spans(0);
  constexpr int kClient = otlp::Span::SPAN_KIND_CLIENT, kServer = otlp::Span::SPAN_KIND_SERVER;
  for (std::uint64_t c = first; c < first + calls; ++c) {
    const std::string key = std::to_string(c * 2 + 1) + "/" + std::to_string(c * 2 + 2);
    for (auto s : {span(c, 0, kClient, "sys", nullptr), span(c, 1, kClient, "net", "client-pod-nic"),
                   span(c, 2, kClient, "net", "client-node-nic")}) {
      attribute(s, attr::kGatewayReference, key);
      *client_spans->add_spans() = std::move(s);
    }
    for (auto s : {span(c, 3, kClient, "net", "server-node-nic"), span(c, 4, kClient, "net", "server-pod-nic"),
                   span(c, 5, kServer, "sys", nullptr)}) {
      attribute(s, attr::kGatewayKey, key);
      *server_spans->add_spans() = std::move(s);
    }
  }
  return {std::move(client_node), std::move(server_node)};
}

AssemblerOptions gateway_options(MemoryBudget* memory) {
  AssemblerOptions options;
  options.link_window = std::chrono::milliseconds(5000);
  options.max_buffered_spans = 2'000'000;
  options.memory = memory;
  return options;
}

void BM_AssembleCalls(benchmark::State& state) {
  const std::size_t calls_per_batch = static_cast<std::size_t>(state.range(0));
  std::size_t emitted = 0;
  TraceAssembler assembler(gateway_options(nullptr), [&](std::shared_ptr<SpanBatch> b) {
    emitted += static_cast<std::size_t>(b->span_count());
  });
  assembler.set_expect_sys_spans(true);
  std::uint64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto [client_node, server_node] = halves(next, calls_per_batch);
    next += calls_per_batch;
    state.ResumeTiming();
    assembler.add(std::move(client_node));
    assembler.add(std::move(server_node));
    assembler.flush();  // both halves in: link and emit (a replica emits a complete call at once)
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(next), benchmark::Counter::kIsRate);
  state.counters["spans_emitted_per_call"] = next ? static_cast<double>(emitted) / next : 0;
}
BENCHMARK(BM_AssembleCalls)->Arg(100)->Unit(benchmark::kMicrosecond);

void BM_BufferedCall(benchmark::State& state) {
  const std::size_t calls = static_cast<std::size_t>(state.range(0));
  MetricsRegistry metrics;
  for (auto _ : state) {
    state.PauseTiming();
    MemoryBudget budget(std::size_t{4} << 30, metrics);
    auto assembler = std::make_unique<TraceAssembler>(gateway_options(&budget), [](std::shared_ptr<SpanBatch>) {});
    assembler->set_expect_sys_spans(true);
    std::vector<std::pair<SpanBatch, SpanBatch>> batches;
    for (std::uint64_t c = 0; c < calls; c += 100) batches.push_back(halves(c, 100));
    const std::size_t heap_before = mallinfo2().uordblks;
    state.ResumeTiming();
    // Only the client ends arrive: every call waits for its server end.
    for (auto& [client_node, server_node] : batches) assembler->add(std::move(client_node));
    for (auto& [client_node, server_node] : batches) assembler->add(std::move(server_node));
    state.PauseTiming();
    const std::size_t heap_after = mallinfo2().uordblks;
    state.counters["heap_bytes_per_call"] = static_cast<double>(heap_after - heap_before) / calls;
    batches.clear();
    assembler.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_BufferedCall)->Arg(20000)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace otelbpf

BENCHMARK_MAIN();
