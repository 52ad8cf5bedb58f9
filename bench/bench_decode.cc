// The ceiling OTLP ingest is measured against: decoding the exact request otlp-load sends (512 spans),
// with nothing else around it. Also the other per-span costs on the ingest path that are pure CPU: the
// file exporter's OTLP/JSON encoding, and JSON decoding for senders that use it.
// items_per_second is spans per second.
#include <benchmark/benchmark.h>
#include <google/protobuf/arena.h>

#include <map>

#include "model/otlp_json.h"
#include "otlp_requests.h"

namespace otelbpf::bench {
namespace {

struct Fixture {
  ExportRequest request;
  std::string protobuf;
  std::string json;
  int spans;
};

const Fixture& fixture(int spans) {
  static std::map<int, Fixture> cache;
  auto [it, inserted] = cache.try_emplace(spans);
  if (inserted) {
    RequestShape shape;
    shape.spans = spans;
    it->second.request = make_request(shape);
    it->second.protobuf = it->second.request.SerializeAsString();
    it->second.json = encode_otlp_json(it->second.request);
    it->second.spans = spans;
  }
  return it->second;
}

void set_rates(benchmark::State& state, const Fixture& f, std::size_t bytes) {
  state.SetItemsProcessed(state.iterations() * f.spans);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.counters["request_bytes"] = static_cast<double>(bytes);
}

// What the receiver does per body: a fresh message, ParseFromArray, then the message is handed on.
void BM_DecodeProtobuf(benchmark::State& state) {
  const auto& f = fixture(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    ExportRequest request;
    if (!request.ParseFromString(f.protobuf)) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(request);
  }
  set_rates(state, f, f.protobuf.size());
}
BENCHMARK(BM_DecodeProtobuf)->Arg(512)->Unit(benchmark::kMicrosecond);

// The same decode into an arena: what allocation costs in the line above.
void BM_DecodeProtobufArena(benchmark::State& state) {
  const auto& f = fixture(static_cast<int>(state.range(0)));
  google::protobuf::ArenaOptions options;
  options.start_block_size = 1 << 20;
  options.max_block_size = 4 << 20;
  for (auto _ : state) {
    google::protobuf::Arena arena(options);
    auto* request = google::protobuf::Arena::CreateMessage<ExportRequest>(&arena);
    if (!request->ParseFromString(f.protobuf)) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(request);
  }
  set_rates(state, f, f.protobuf.size());
}
BENCHMARK(BM_DecodeProtobufArena)->Arg(512)->Unit(benchmark::kMicrosecond);

// The file exporter's per-batch work: one OTLP/JSON line.
void BM_EncodeOtlpJson(benchmark::State& state) {
  const auto& f = fixture(static_cast<int>(state.range(0)));
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto line = encode_otlp_json(f.request);
    bytes = line.size();
    benchmark::DoNotOptimize(line);
  }
  set_rates(state, f, bytes);
}
BENCHMARK(BM_EncodeOtlpJson)->Arg(512)->Unit(benchmark::kMicrosecond);

// As the file exporter does it: into one buffer kept from line to line.
void BM_EncodeOtlpJsonIntoKeptBuffer(benchmark::State& state) {
  const auto& f = fixture(static_cast<int>(state.range(0)));
  const ExportRequest* parts[] = {&f.request};
  std::string line;
  for (auto _ : state) {
    encode_otlp_json_into(parts, line);
    benchmark::DoNotOptimize(line);
  }
  set_rates(state, f, line.size());
}
BENCHMARK(BM_EncodeOtlpJsonIntoKeptBuffer)->Arg(512)->Unit(benchmark::kMicrosecond);

// OTLP/HTTP JSON senders: the receiver's other decode path.
void BM_DecodeOtlpJson(benchmark::State& state) {
  const auto& f = fixture(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    ExportRequest request;
    JsonDecodeError error;
    if (!decode_otlp_json(f.json, request, error)) state.SkipWithError(error.message.c_str());
    benchmark::DoNotOptimize(request);
  }
  set_rates(state, f, f.json.size());
}
BENCHMARK(BM_DecodeOtlpJson)->Arg(512)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace otelbpf::bench

BENCHMARK_MAIN();
