// libFuzzer target for the OTLP ingest path as the receivers run it: a protobuf (or gzip'd protobuf, or
// JSON) body of any shape through OtlpIngest::ingest_body into a bounded pipeline. Structure-aware half the
// time: the input is read as a recipe that builds an ExportTraceServiceRequest (resources, scopes, spans,
// ids of every length, attributes nested to any depth, events, links), so the fuzzer spends its time past
// the protobuf parser; otherwise the raw bytes are the body. The wire-level span counter must agree with
// the decoder on every body the decoder accepts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "model/otlp_wire.h"
#include "pipeline/span_pipeline.h"
#include "receiver/otlp_ingest.h"

using namespace otelbpf;

namespace {

void fill_value(FuzzedDataProvider& in, otlp::AnyValue& v, int depth) {
  switch (in.ConsumeIntegralInRange<int>(0, depth > 3 ? 4 : 6)) {
    case 0: v.set_string_value(in.ConsumeRandomLengthString(64)); break;
    case 1: v.set_int_value(in.ConsumeIntegral<int64_t>()); break;
    case 2: v.set_double_value(in.ConsumeFloatingPoint<double>()); break;
    case 3: v.set_bool_value(in.ConsumeBool()); break;
    case 4: v.set_bytes_value(in.ConsumeRandomLengthString(32)); break;
    case 5:
      for (int i = in.ConsumeIntegralInRange<int>(0, 3); i > 0; --i) fill_value(in, *v.mutable_array_value()->add_values(), depth + 1);
      break;
    default:
      for (int i = in.ConsumeIntegralInRange<int>(0, 3); i > 0; --i) {
        auto* kv = v.mutable_kvlist_value()->add_values();
        kv->set_key(in.ConsumeRandomLengthString(16));
        fill_value(in, *kv->mutable_value(), depth + 1);
      }
  }
}

template <typename Attributes>
void fill_attributes(FuzzedDataProvider& in, Attributes& attributes) {
  for (int i = in.ConsumeIntegralInRange<int>(0, 4); i > 0; --i) {
    auto* kv = attributes.Add();
    // Keys the agent reads, and others.
    static const char* kKeys[] = {"process.pid", "otelbpf.span.source", "otelbpf.tcp.req_seq", "url.query",
                                  "k8s.pod.ip", "service.name", "net.peer.ip", "http.target"};
    kv->set_key(in.ConsumeBool() ? kKeys[in.ConsumeIntegralInRange<int>(0, 7)] : in.ConsumeRandomLengthString(16));
    fill_value(in, *kv->mutable_value(), 0);
  }
}

std::string built_body(FuzzedDataProvider& in) {
  otlp::ExportRequest request;
  for (int r = in.ConsumeIntegralInRange<int>(0, 3); r > 0; --r) {
    auto* rs = request.add_resource_spans();
    fill_attributes(in, *rs->mutable_resource()->mutable_attributes());
    for (int s = in.ConsumeIntegralInRange<int>(0, 2); s > 0; --s) {
      auto* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name(in.ConsumeRandomLengthString(16));
      for (int n = in.ConsumeIntegralInRange<int>(0, 8); n > 0; --n) {
        auto* span = ss->add_spans();
        span->set_trace_id(in.ConsumeBytesAsString(in.ConsumeBool() ? 16 : in.ConsumeIntegralInRange<size_t>(0, 20)));
        span->set_span_id(in.ConsumeBytesAsString(in.ConsumeBool() ? 8 : in.ConsumeIntegralInRange<size_t>(0, 12)));
        if (in.ConsumeBool()) span->set_parent_span_id(in.ConsumeBytesAsString(8));
        span->set_name(in.ConsumeRandomLengthString(32));
        span->set_kind(static_cast<otlp::Span::SpanKind>(in.ConsumeIntegralInRange<int>(0, 6)));
        span->set_start_time_unix_nano(in.ConsumeIntegral<uint64_t>());
        span->set_end_time_unix_nano(in.ConsumeIntegral<uint64_t>());
        fill_attributes(in, *span->mutable_attributes());
        if (in.ConsumeBool()) fill_attributes(in, *span->add_events()->mutable_attributes());
        if (in.ConsumeBool()) span->add_links()->set_trace_id(in.ConsumeBytesAsString(16));
      }
    }
  }
  return request.SerializeAsString();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MetricsRegistry metrics;
  static MemoryBudget budget(64u << 20, metrics);
  SpanPipeline pipeline(SpanPipelineOptions{64, 4096, &budget}, metrics);
  OtlpIngest ingest(pipeline, IngestLimits{1u << 20, 4u << 20, 4096}, metrics);
  FuzzedDataProvider in(data, size);
  const int mode = in.ConsumeIntegralInRange<int>(0, 3);
  const std::string body = mode == 0 ? built_body(in) : in.ConsumeRemainingBytesAsString();
  const auto encoding = mode == 2 ? BodyEncoding::kJson : BodyEncoding::kProtobuf;
  const auto result = ingest.ingest_body(encoding, mode == 3 ? "gzip" : "", body, "10.0.0.1", "fuzz");
  if (encoding == BodyEncoding::kProtobuf && mode != 3 && result.code == IngestResult::Code::kOk) {
    otlp::ExportRequest decoded;
    if (decoded.ParseFromString(body)) {
      const auto wire = count_spans_on_wire(body);
      if (!wire.well_formed || wire.spans != count_spans(decoded)) __builtin_trap();
    }
  }
  while (auto batch = pipeline.next(std::chrono::milliseconds(0))) {
  }
  return 0;
}
