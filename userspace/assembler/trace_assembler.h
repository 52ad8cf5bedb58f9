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

// Receives assembled batches; the exporters' fan-out in the agent. The batch is not yet shared, so the sink
// may still change it (pod attribution) before handing it on as shared_ptr<const SpanBatch>.
using AssembledBatchSink = std::function<void(std::shared_ptr<SpanBatch>)>;

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

  TraceAssembler(AssemblerOptions options, AssembledBatchSink sink,
                 MetricsRegistry& metrics = default_metrics());

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
    std::string tcp_key;    // "req_seq/resp_seq" of a sys or net span
    int path_rank = 0;      // net spans: position of the capture point on the path (client pod NIC first)
    std::string operation;  // first word of the name, upper-cased ("SELECT", "GET", "INCR")
    Clock::time_point seen;
    // Once a span has left, its links are frozen so that later children agree with what was exported.
    bool emitted = false;
  };
  // Where the rules put a span: its trace, its parent, and which rule decided.
  struct Resolution {
    std::string trace_id;
    std::string parent_span_id;
    const char* rule = nullptr;  // nullptr: unchanged
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
  Resolution resolve(const SpanFacts& span, int depth) const;
  std::string final_trace(const std::string& span_id, int depth) const;
  const SpanFacts* facts_of(const std::string& span_id) const;
  const SpanFacts* thread_linked_server(const SpanFacts& client) const;
  // The net spans of an exchange in path order (client pod NIC ... server pod NIC).
  std::vector<const SpanFacts*> net_path(const std::string& tcp_key) const;
  const SpanFacts* sys_server_for_app_server(const SpanFacts& app) const;
  const SpanFacts* sys_server_enclosing(const SpanFacts& app) const;
  const SpanFacts* innermost_app_span(const SpanFacts& server, const SpanFacts& call) const;
  void count_link(const char* rule);

  AssemblerOptions options_;
  AssembledBatchSink sink_;
  MetricsRegistry& metrics_;
  std::deque<Pending> pending_;
  std::size_t buffered_spans_ = 0;

  std::unordered_map<std::string, SpanFacts> facts_;    // by span id
  std::deque<std::string> fact_order_;                  // span ids in arrival order, for forgetting
  std::unordered_map<std::string, Resolution> frozen_;  // resolutions of emitted spans
  // sys CLIENT spans by TCP sequence numbers (§3.4), sys SERVER spans by process + syscall trace id (§3.3),
  // sys SERVER spans by trace id + the header's span id (§3.2), app span ids by trace.
  std::unordered_map<std::string, std::string> sys_client_by_tcp_;
  // net spans of one TCP exchange (one per capture point), by TCP sequence numbers.
  std::unordered_map<std::string, std::vector<std::string>> net_by_tcp_;
  std::unordered_map<std::string, std::string> sys_server_by_thread_link_;
  std::unordered_map<std::string, std::vector<std::string>> sys_servers_by_header_;
  std::unordered_map<std::string, std::vector<std::string>> app_spans_by_trace_;
  // Root app SERVER spans (no parent) by trace, and sys SERVER spans by process (§3.2 without a header).
  std::unordered_map<std::string, std::string> app_roots_by_trace_;
  std::unordered_map<std::int64_t, std::vector<std::string>> sys_servers_by_pid_;
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
