// libFuzzer target for the trace assembler: a fuzzed sequence of span batches from every source (app, sys,
// net, and peers claiming sources), whose spans carry the link attributes the rules read (TCP sequence
// numbers, syscall trace ids, pids and namespaced pids, peer addresses, methods and targets, statements)
// drawn from small pools so that partners, duplicates, cycles and ambiguities are common; interleaved with
// polls on a fake clock and a final flush. Every span that goes in must come out exactly once.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "assembler/trace_assembler.h"

using namespace otelbpf;

namespace {

void set_attr(otlp::Span& s, const std::string& key, const std::string& value) { set_span_attribute(s, key, value); }

std::string pick_id(FuzzedDataProvider& in, std::size_t length) {
  // Ids from a pool of 8: the same span id twice, parents that exist, parents that are the span itself.
  return std::string(length - 1, 'i') + static_cast<char>('0' + in.ConsumeIntegralInRange<int>(0, 7));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  MetricsRegistry metrics;
  MemoryBudget budget(8u << 20, metrics);
  AssemblerOptions options;
  options.link_window = std::chrono::milliseconds(100 * in.ConsumeIntegralInRange<int>(1, 20));
  options.max_buffered_spans = in.ConsumeIntegralInRange<std::size_t>(1, 64);
  options.max_link_wait = std::chrono::milliseconds(options.link_window.count() * 3);
  options.assumed_app_lag = options.link_window;
  options.expect_net_spans = in.ConsumeBool();
  options.memory = in.ConsumeBool() ? &budget : nullptr;
  std::map<std::string, int> emitted;
  std::size_t admitted = 0;
  TraceAssembler assembler(options, [&](std::shared_ptr<SpanBatch> b) {
    for (const auto& rs : b->request().resource_spans())
      for (const auto& ss : rs.scope_spans())
        for (const auto& s : ss.spans()) ++emitted[s.span_id()];
  }, metrics);
  auto now = TraceAssembler::Clock::time_point{} + std::chrono::hours(1);
  const std::uint64_t t0 = 1'700'000'000'000'000'000ull;
  while (in.remaining_bytes() > 0) {
    if (in.ConsumeIntegralInRange<int>(0, 4) == 0) {
      now += std::chrono::milliseconds(in.ConsumeIntegralInRange<int>(0, 5000));
      assembler.poll(now);
      continue;
    }
    SpanBatch batch;
    batch.source = static_cast<SpanSource>(in.ConsumeIntegralInRange<int>(0, 2));
    batch.from_peer_agent = in.ConsumeBool();
    batch.peer_address = "10.0.0." + std::to_string(in.ConsumeIntegralInRange<int>(1, 3));
    auto* rs = batch.request().add_resource_spans();
    auto* kv = rs->mutable_resource()->add_attributes();
    kv->set_key("process.pid");
    kv->mutable_value()->set_string_value(std::to_string(in.ConsumeIntegralInRange<int>(1, 4)));
    if (in.ConsumeBool()) {
      auto* ns = rs->mutable_resource()->add_attributes();
      ns->set_key("otelbpf.process.ns_pid");
      ns->mutable_value()->set_string_value(std::to_string(in.ConsumeIntegralInRange<int>(1, 2)));
    }
    auto* ss = rs->add_scope_spans();
    for (int n = in.ConsumeIntegralInRange<int>(1, 6); n > 0; --n) {
      auto* s = ss->add_spans();
      s->set_trace_id(pick_id(in, 16));
      s->set_span_id(pick_id(in, 8) + std::to_string(admitted + static_cast<std::size_t>(n)));  // mostly unique
      if (in.ConsumeBool()) s->set_span_id(pick_id(in, 8));                                   // or a duplicate
      if (in.ConsumeBool()) s->set_parent_span_id(pick_id(in, 8));
      s->set_kind(static_cast<otlp::Span::SpanKind>(in.ConsumeIntegralInRange<int>(0, 5)));
      const std::uint64_t start = t0 + in.ConsumeIntegralInRange<std::uint64_t>(0, 10'000'000'000ull);
      s->set_start_time_unix_nano(start);
      s->set_end_time_unix_nano(start + in.ConsumeIntegralInRange<std::uint64_t>(0, 50'000'000));
      if (in.ConsumeBool()) set_attr(*s, "otelbpf.tcp.req_seq", std::to_string(in.ConsumeIntegralInRange<int>(1, 3)));
      if (in.ConsumeBool()) set_attr(*s, "otelbpf.tcp.resp_seq", std::to_string(in.ConsumeIntegralInRange<int>(1, 3)));
      if (in.ConsumeBool()) set_attr(*s, "otelbpf.syscall_trace_id", std::to_string(in.ConsumeIntegralInRange<int>(1, 3)));
      if (in.ConsumeBool()) set_attr(*s, "otelbpf.span.source", in.PickValueInArray({"app", "sys", "net", "bogus"}));
      if (in.ConsumeBool()) set_attr(*s, "otelbpf.trace_context.source", "w3c");
      if (in.ConsumeBool()) set_attr(*s, "http.method", in.PickValueInArray({"GET", "POST"}));
      if (in.ConsumeBool()) set_attr(*s, "http.target", in.PickValueInArray({"/a", "/b?q=1", ""}));
      if (in.ConsumeBool()) set_attr(*s, "net.peer.ip", in.PickValueInArray({"10.0.0.7", "::ffff:10.0.0.7", "bad"}));
      if (in.ConsumeBool()) set_attr(*s, "net.peer.port", std::to_string(in.ConsumeIntegralInRange<int>(40000, 40002)));
      if (in.ConsumeBool()) set_attr(*s, "db.statement", in.PickValueInArray({"SELECT 1", "select  1;", "SET x 1"}));
      if (in.ConsumeBool()) set_attr(*s, "thread.id", std::to_string(in.ConsumeIntegralInRange<int>(1, 2)));
      if (in.ConsumeBool()) set_attr(*s, "otelbpf.tap.side", in.PickValueInArray({"client-pod-nic", "tunnel", "?"}));
      ++admitted;
    }
    assembler.add(std::move(batch), now);
  }
  assembler.flush();
  std::size_t out = 0;
  for (const auto& [id, count] : emitted) out += static_cast<std::size_t>(count);
  if (out != admitted) __builtin_trap();  // nothing lost, nothing doubled
  return 0;
}
