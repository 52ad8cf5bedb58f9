#pragma once
// The trace view's store (docs/design.md, Trace view): the most recent assembled traces, after pod
// attribution, bounded in bytes and in number of traces. It keeps what the view shows of each span (ids,
// name, times, source, service, pod, process, status, attributes as text), not the protobuf, and charges
// its bytes to the agent's memory budget. The traces updated longest ago leave first. Thread-safe: the
// output stage adds while the UI listener reads. Nothing here is on the exporters' path.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_set.h>

#include "common/memory_budget.h"
#include "common/metrics.h"
#include "model/span_batch.h"

namespace otelbpf::ui {

struct StoredSpan {
  std::string span_id;         // hex
  std::string parent_span_id;  // hex, "" for a root
  std::string name;
  std::string kind;    // "server", "client", "internal", "producer", "consumer", "unspecified"
  std::string source;  // otelbpf.span.source: "app", "sys" or "net"
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  std::string service;         // service.name
  std::string pod;             // k8s.pod.name
  std::string namespace_name;  // k8s.namespace.name
  std::string process;         // process.executable.name and process.pid, as far as known
  bool error = false;
  std::string status_message;
  // The span's attributes, then its resource's (prefixed "resource."), values as text.
  std::vector<std::pair<std::string, std::string>> attributes;
};

struct StoredTrace {
  std::string trace_id;  // hex
  std::vector<StoredSpan> spans;
};

struct TraceSummary {
  std::string trace_id;
  std::string root_name;  // the earliest span without a parent in the trace (else the earliest span)
  std::vector<std::string> services;
  std::vector<std::string> pods;
  std::vector<std::string> namespaces;
  std::uint64_t start_ns = 0;
  std::uint64_t duration_ns = 0;
  std::size_t spans = 0;
  std::size_t app_spans = 0;
  std::size_t sys_spans = 0;
  std::size_t net_spans = 0;
  std::size_t errors = 0;
};

struct TraceFilter {
  std::string service;         // one of the trace's services ("" = any)
  std::string pod;             // one of its pods
  std::string namespace_name;  // one of its namespaces
  std::uint64_t min_duration_ns = 0;
  std::size_t limit = 100;
};

struct TraceStoreOptions {
  std::size_t max_bytes = 16u << 20;
  std::size_t max_traces = 5000;
  std::size_t max_spans_per_trace = 2000;  // beyond, a trace's further spans are counted, not kept
  // New traces taken per second (a token bucket): under load the view keeps a sample of whole traces
  // instead of turning its store over many times a second at the cost of CPU the node needs. The spans of
  // a trace it took are always taken; those of a trace it passed over never are.
  std::size_t max_new_traces_per_second = 200;
};

class TraceStore {
 public:
  explicit TraceStore(TraceStoreOptions options, MemoryBudget* budget = nullptr,
                      MetricsRegistry& metrics = default_metrics());

  void add(const otlp::ExportRequest& batch,
           std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  // OTLP and compact sys spans alike (a compact span is made OTLP only if its trace is kept).
  void add(const SpanBatch& batch,
           std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

  // Newest first (by last update).
  std::vector<TraceSummary> list(const TraceFilter& filter) const;
  std::optional<StoredTrace> get(std::string_view trace_id_hex) const;

  std::size_t bytes() const;
  std::size_t trace_count() const;

 private:
  struct Entry {
    StoredTrace trace;
    std::size_t bytes = 0;
    std::list<std::string>::iterator position;  // in order_
    std::size_t raw_id_hash = 0;                // its key in kept_
  };

  void refill(std::chrono::steady_clock::time_point now);
  void add_request(const otlp::ExportRequest& batch);
  void settle_bytes();
  using ResourceAttributes = google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>;
  // The trace's entry for one more span, or nullptr when the span is not kept (a trace passed over, or
  // one at max_spans_per_trace; counted).
  Entry* entry_for(std::string_view raw_trace_id);
  void add_span(const otlp::Resource& resource, const otlp::Span& span);
  void add_sys_span(const SysSpanGroup& group, const SysSpan& span);
  // service, pod, namespace and process: from the resource, else from the span (span_text(key)).
  template <class SpanText>
  static void set_resource_fields(StoredSpan& s, const ResourceAttributes& ra, const SpanText& span_text);
  static void add_resource_attributes(StoredSpan& s, const ResourceAttributes& ra);
  void store(Entry& entry, StoredSpan s);
  // Whether a span of this trace (raw id) would be kept: add_span's test, without making its span.
  bool may_keep(std::string_view raw_trace_id);
  bool take_new_trace(std::size_t trace_hash);
  void evict_to_bounds();
  TraceSummary summarize(const StoredTrace& trace) const;

  const TraceStoreOptions options_;
  MemoryBudget* const budget_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> traces_;
  std::list<std::string> order_;  // trace ids, least recently updated first
  std::size_t bytes_ = 0;
  // The new-trace token bucket, and the traces it passed over lately (their later spans are passed over too).
  double tokens_ = 0;
  std::chrono::steady_clock::time_point refilled_{};
  // By the hash of the raw trace id: under load nearly every span belongs to a trace passed over, and
  // this answers for it without formatting the id as hex. A direct-mapped table: a slot holds the latest
  // trace passed over whose hash falls there, so a trace is remembered until a few ten thousand newer ones
  // were passed over. (A set with an order list of the last 20,000 was an insert, a push and an erase per
  // trace, with the set's rehashes: ~1.5 % of the agent under tracing load.)
  static constexpr std::size_t kPassedOverSlots = std::size_t{1} << 15;
  std::vector<std::size_t> passed_over_ = std::vector<std::size_t>(kPassedOverSlots);
  std::size_t& passed_over_slot(std::size_t trace_hash) {
    return passed_over_[trace_hash & (kPassedOverSlots - 1)];
  }
  bool was_passed_over(std::size_t trace_hash) {
    return trace_hash != 0 && passed_over_slot(trace_hash) == trace_hash;
  }
  // The same hashes of the traces kept (traces_): may_keep's test for a trace kept, without formatting
  // its id as hex for traces_ (with passed_over_ a node set, that test was 4 % of the agent under load).
  absl::flat_hash_set<std::size_t> kept_;
  MemoryCharge charge_;
  Counter& evicted_;
  Counter& spans_dropped_;
  Counter& sampled_out_;
  Gauge& bytes_gauge_;
};

}  // namespace otelbpf::ui
