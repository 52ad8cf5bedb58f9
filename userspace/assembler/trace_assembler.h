#pragma once
// The trace assembler stage (requirements §3). Batches wait here for a bounded time (the link window) so
// that the partners of a span (the sys CLIENT span of the caller, the app span made from the same header,
// the inbound request of the same thread) can arrive; then links are applied and the batch moves on to the
// exporters. Nothing is dropped for lack of a link, and what leaves early because of a bound is counted.
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/metrics.h"
#include "model/span_batch.h"
#include "pipeline/span_pipeline.h"

namespace otelbpf {

// Receives assembled batches; the exporters' fan-out in the agent.
using AssembledBatchSink = std::function<void(std::shared_ptr<const SpanBatch>)>;

inline constexpr const char* kSpanSourceAttribute = "otelbpf.span.source";

struct AssemblerOptions {
  std::chrono::milliseconds link_window{5000};
  std::size_t max_buffered_spans = 200000;
  // Rule §3.2: the app SERVER span made from a header is re-parented under the sys SERVER span that read
  // it (the original parent is kept in otelbpf.original_parent_span_id).
  bool reparent_app_server_spans = true;
};

class TraceAssembler {
 public:
  using Clock = std::chrono::steady_clock;

  TraceAssembler(AssemblerOptions options, AssembledBatchSink sink, MetricsRegistry& metrics = default_metrics());

  void add(SpanBatch batch, Clock::time_point now = Clock::now());
  // Emits the batches whose window has passed.
  void poll(Clock::time_point now = Clock::now());
  // Emits everything still waiting (shutdown).
  void flush();

  std::size_t buffered_spans() const { return buffered_spans_; }

 private:
  // What the linking rules need to know of a span, kept a while after the span itself has left.
  struct SpanFacts {
    std::string trace_id;
    std::string span_id;
    std::string parent_span_id;
    SpanSource source = SpanSource::kApp;
    int kind = 0;
    std::uint64_t start_ns = 0;
    std::uint64_t end_ns = 0;
    std::int64_t pid = 0;
    std::string service;
    bool has_context = false;  // sys span whose ids came from the request's trace context
    std::string syscall_trace_id;
    Clock::time_point seen;
  };
  struct Pending {
    SpanBatch batch;
    Clock::time_point arrived;
    std::size_t spans;
  };

  void index(const SpanBatch& batch, Clock::time_point now);
  void link(SpanBatch& batch);
  void emit(Pending& pending);
  void forget_old_facts(Clock::time_point now);
  const SpanFacts* innermost_app_span(const std::string& trace_id, std::int64_t pid, const std::string& service,
                                      std::uint64_t start_ns, std::uint64_t end_ns) const;
  void count_link(const char* rule);

  AssemblerOptions options_;
  AssembledBatchSink sink_;
  MetricsRegistry& metrics_;
  std::deque<Pending> pending_;
  std::size_t buffered_spans_ = 0;

  std::unordered_map<std::string, SpanFacts> facts_;  // by span id
  // sys CLIENT spans carrying context, by trace id + the header's span id (their parent).
  std::unordered_map<std::string, std::string> sys_client_by_header_;
  // sys SERVER spans carrying context, by trace id + the header's span id.
  std::unordered_map<std::string, std::string> sys_server_by_header_;
  // sys SERVER spans by process + syscall trace id (thread links).
  std::unordered_map<std::string, std::string> sys_server_by_thread_link_;
  // app SERVER span re-parented under each sys SERVER span: its service names the process's app spans.
  std::unordered_map<std::string, std::string> app_service_of_sys_server_;
  // app span ids by trace.
  std::unordered_map<std::string, std::vector<std::string>> app_spans_by_trace_;
  Clock::time_point last_forget_{};
};

// Runs the assembler on its own thread, fed by the pipeline; stops when the pipeline is closed and drained.
class AssemblerStage {
 public:
  AssemblerStage(SpanPipeline& pipeline, TraceAssembler& assembler);
  ~AssemblerStage();
  AssemblerStage(const AssemblerStage&) = delete;
  AssemblerStage& operator=(const AssemblerStage&) = delete;

  // Blocks until the pipeline is drained and everything is emitted (call after SpanPipeline::close()).
  void join();

 private:
  void run();
  SpanPipeline& pipeline_;
  TraceAssembler& assembler_;
  std::thread thread_;
};

// Sets a string attribute on a span, replacing an existing one with the same key.
void set_span_attribute(otlp::Span& span, const std::string& key, const std::string& value);
// The attribute's value, or nullptr.
const otlp::AnyValue* find_attribute(const google::protobuf::RepeatedPtrField<otlp::KeyValue>& attributes,
                                     std::string_view key);

}  // namespace otelbpf
