#include "ui/trace_store.h"

#include "spans/sys_span_export.h"

#include <algorithm>
#include <set>

#include "common/hex.h"
#include "model/attributes.h"

namespace otelbpf::ui {
namespace {

std::string value_text(const otlp::AnyValue& v) {
  switch (v.value_case()) {
    case otlp::AnyValue::kStringValue:
      return v.string_value();
    case otlp::AnyValue::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case otlp::AnyValue::kIntValue:
      return std::to_string(v.int_value());
    case otlp::AnyValue::kDoubleValue:
      return std::to_string(v.double_value());
    case otlp::AnyValue::kBytesValue:
      return to_hex(v.bytes_value());
    case otlp::AnyValue::kArrayValue: {
      std::string out = "[";
      for (const auto& item : v.array_value().values()) {
        if (out.size() > 1) out += ", ";
        out += value_text(item);
      }
      return out + "]";
    }
    case otlp::AnyValue::kKvlistValue: {
      std::string out = "{";
      for (const auto& kv : v.kvlist_value().values()) {
        if (out.size() > 1) out += ", ";
        out += kv.key() + "=" + value_text(kv.value());
      }
      return out + "}";
    }
    case otlp::AnyValue::VALUE_NOT_SET:
      break;
  }
  return {};
}

// value_text of the value as the OTLP span carries it (set_exportable_value): strings as
// exportable_attribute_text makes them.
std::string exported_value_text(std::string_view key, const AttributeView& value) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string_view>)
          return exportable_attribute_text(key, x);
        else if constexpr (std::is_same_v<T, bool>)
          return x ? "true" : "false";
        else
          return std::to_string(x);
      },
      value);
}

template <class KeyValues>
std::string find_text(const KeyValues& attributes, std::string_view key) {
  for (const auto& kv : attributes)
    if (kv.key() == key) return value_text(kv.value());
  return {};
}

const char* kind_name(int kind) {
  switch (kind) {
    case otlp::Span::SPAN_KIND_SERVER:
      return "server";
    case otlp::Span::SPAN_KIND_CLIENT:
      return "client";
    case otlp::Span::SPAN_KIND_INTERNAL:
      return "internal";
    case otlp::Span::SPAN_KIND_PRODUCER:
      return "producer";
    case otlp::Span::SPAN_KIND_CONSUMER:
      return "consumer";
    default:
      return "unspecified";
  }
}

// What a stored span costs: its strings' bytes plus the fixed part (an estimate of resident bytes, as the
// memory budget's other figures are).
std::size_t span_bytes(const StoredSpan& s) {
  std::size_t n = sizeof(StoredSpan) + s.span_id.size() + s.parent_span_id.size() + s.name.size() +
                  s.service.size() + s.pod.size() + s.namespace_name.size() + s.process.size() +
                  s.status_message.size();
  for (const auto& [key, value] : s.attributes)
    n += sizeof(std::pair<std::string, std::string>) + key.size() + value.size();
  return n;
}

void add_unique(std::vector<std::string>& values, const std::string& value) {
  if (!value.empty() && std::find(values.begin(), values.end(), value) == values.end())
    values.push_back(value);
}

bool contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

TraceStore::TraceStore(TraceStoreOptions options, MemoryBudget* budget, MetricsRegistry& metrics)
    : options_(options),
      budget_(budget),
      evicted_(metrics.counter("otelbpf_ui_traces_evicted_total",
                               "Traces the trace view forgot to stay within ui.store_mib or ui.max_traces")),
      spans_dropped_(
          metrics.counter("otelbpf_ui_spans_dropped_total",
                          "Spans the trace view did not keep (a trace over ui.max_spans_per_trace)")),
      sampled_out_(
          metrics.counter("otelbpf_ui_spans_sampled_out_total",
                          "Spans of traces the trace view passed over (ui.max_new_traces_per_second)")),
      bytes_gauge_(metrics.gauge("otelbpf_ui_store_bytes", "Bytes held by the trace view's store")) {
  tokens_ = static_cast<double>(options_.max_new_traces_per_second);  // declared before the metrics
}

void TraceStore::add(const otlp::ExportRequest& batch, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  refill(now);
  add_request(batch);
  settle_bytes();
}

void TraceStore::add(const SpanBatch& batch, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  refill(now);
  add_request(batch.request());
  for (const auto& group : batch.sys_groups)
    for (const auto& span : group.spans) {
      // Under load nearly every trace is passed over: only the spans kept are read any further.
      if (!may_keep(sys_span_exported_trace_id(span))) {
        sampled_out_.inc();
        continue;
      }
      add_sys_span(group, span);
    }
  settle_bytes();
}

void TraceStore::refill(std::chrono::steady_clock::time_point now) {
  const double rate = static_cast<double>(options_.max_new_traces_per_second);
  if (refilled_ != std::chrono::steady_clock::time_point{})
    tokens_ = std::min(rate, tokens_ + rate * std::chrono::duration<double>(now - refilled_).count());
  refilled_ = now;
}

void TraceStore::add_request(const otlp::ExportRequest& batch) {
  for (const auto& resource_spans : batch.resource_spans())
    for (const auto& scope_spans : resource_spans.scope_spans())
      for (const auto& span : scope_spans.spans()) add_span(resource_spans.resource(), span);
}

void TraceStore::settle_bytes() {
  evict_to_bounds();
  charge_.adjust(budget_, bytes_);
  bytes_gauge_.set(static_cast<std::int64_t>(bytes_));
}

bool TraceStore::may_keep(std::string_view raw_trace_id) {
  // std::hash of a string_view equals that of the std::string with the same bytes (add_span's key).
  const auto key = std::hash<std::string_view>{}(raw_trace_id);
  if (was_passed_over(key)) return false;
  if (tokens_ >= 1 || kept_.contains(key)) return true;
  take_new_trace(key);  // passed over: remembered as add_span would
  return false;
}

bool TraceStore::take_new_trace(std::size_t trace_hash) {
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return true;
  }
  passed_over_slot(trace_hash) = trace_hash;
  return false;
}

TraceStore::Entry* TraceStore::entry_for(std::string_view raw_trace_id) {
  // The raw id's hash (a collision among the traces remembered only passes over one more trace).
  const auto key = std::hash<std::string_view>{}(raw_trace_id);
  if (was_passed_over(key)) {
    sampled_out_.inc();
    return nullptr;
  }
  std::string trace_id = to_hex(raw_trace_id);
  if (!traces_.contains(trace_id) && !take_new_trace(key)) {
    sampled_out_.inc();
    return nullptr;
  }
  auto [it, inserted] = traces_.try_emplace(trace_id);
  Entry& entry = it->second;
  if (inserted) {
    entry.raw_id_hash = key;
    kept_.insert(key);
    entry.trace.trace_id = trace_id;
    entry.position = order_.insert(order_.end(), std::move(trace_id));
  } else {
    order_.splice(order_.end(), order_, entry.position);  // most recently updated last
  }
  if (entry.trace.spans.size() >= options_.max_spans_per_trace) {
    spans_dropped_.inc();
    return nullptr;
  }
  return &entry;
}

void TraceStore::add_span(const otlp::Resource& resource, const otlp::Span& span) {
  Entry* entry = entry_for(span.trace_id());
  if (!entry) return;
  StoredSpan s;
  s.span_id = to_hex(span.span_id());
  s.parent_span_id = to_hex(span.parent_span_id());
  s.name = span.name();
  s.kind = kind_name(span.kind());
  s.start_ns = span.start_time_unix_nano();
  s.end_ns = std::max(span.end_time_unix_nano(), span.start_time_unix_nano());
  s.source = find_text(span.attributes(), attr::kSpanSource);
  if (s.source.empty()) s.source = "app";
  const auto span_text = [&](std::string_view key) { return find_text(span.attributes(), key); };
  set_resource_fields(s, resource.attributes(), span_text);
  s.error = span.status().code() == otlp::Status::STATUS_CODE_ERROR;
  s.status_message = span.status().message();
  s.attributes.reserve(static_cast<std::size_t>(span.attributes_size() + resource.attributes_size()));
  for (const auto& kv : span.attributes()) s.attributes.emplace_back(kv.key(), value_text(kv.value()));
  add_resource_attributes(s, resource.attributes());
  store(*entry, std::move(s));
}

// What add_span stores of the span this compact span is exported as (export_sys_span), read from its
// fields: the OTLP form of a span, ~25 attributes as protobuf objects, was most of the view's thread.
void TraceStore::add_sys_span(const SysSpanGroup& group, const SysSpan& span) {
  Entry* entry = entry_for(sys_span_exported_trace_id(span));
  if (!entry) return;
  StoredSpan s;
  s.span_id = to_hex(sys_span_id(span));
  s.parent_span_id = to_hex(sys_span_exported_parent_id(span));
  s.name = sys_span_name(span);
  s.kind = kind_name(sys_span_kind(span));
  s.start_ns = sys_span_start_unix_ns(span);
  s.end_ns = std::max(sys_span_end_unix_ns(span), s.start_ns);
  const auto& resource = group.resource.attributes();
  s.attributes.reserve(28 + span.record.attributes.size() + static_cast<std::size_t>(resource.size()));
  for_each_sys_attribute(group, span, [&](std::string_view key, const AttributeView& value) {
    s.attributes.emplace_back(std::string(key), exported_value_text(key, value));
    return true;
  });
  const auto span_text = [&](std::string_view key) {
    for (const auto& [name, text] : s.attributes)
      if (name == key) return text;
    return std::string();
  };
  s.source = span_text(attr::kSpanSource);
  if (s.source.empty()) s.source = "app";
  set_resource_fields(s, resource, span_text);
  s.error = span.record.error;
  if (s.error) s.status_message = exportable_status_message(span.record);
  add_resource_attributes(s, resource);
  store(*entry, std::move(s));
}

template <class SpanText>
void TraceStore::set_resource_fields(StoredSpan& s, const ResourceAttributes& ra, const SpanText& span_text) {
  s.service = find_text(ra, "service.name");
  s.pod = find_text(ra, "k8s.pod.name");
  if (s.pod.empty()) s.pod = span_text("k8s.pod.name");
  s.namespace_name = find_text(ra, "k8s.namespace.name");
  if (s.namespace_name.empty()) s.namespace_name = span_text("k8s.namespace.name");
  std::string executable = find_text(ra, "process.executable.name");
  if (executable.empty()) executable = span_text("process.executable.name");
  std::string pid = find_text(ra, attr::kProcessPid);
  if (pid.empty()) pid = span_text(attr::kProcessPid);
  s.process =
      pid.empty() ? executable : (executable.empty() ? "pid " + pid : executable + " (pid " + pid + ")");
}

void TraceStore::add_resource_attributes(StoredSpan& s, const ResourceAttributes& ra) {
  for (const auto& kv : ra) s.attributes.emplace_back("resource." + kv.key(), value_text(kv.value()));
}

void TraceStore::store(Entry& entry, StoredSpan s) {
  // The assembler may hand over a span again (a late link moves it): the newer copy replaces the older.
  auto& spans = entry.trace.spans;
  const std::size_t added = span_bytes(s);
  auto same =
      std::find_if(spans.begin(), spans.end(), [&](const StoredSpan& o) { return o.span_id == s.span_id; });
  if (same != spans.end()) {
    const std::size_t old = span_bytes(*same);
    *same = std::move(s);
    entry.bytes = entry.bytes - old + added;
    bytes_ = bytes_ - old + added;
    return;
  }
  spans.push_back(std::move(s));
  entry.bytes += added;
  bytes_ += added;
}

void TraceStore::evict_to_bounds() {
  while (!order_.empty() && (bytes_ > options_.max_bytes || traces_.size() > options_.max_traces)) {
    auto it = traces_.find(order_.front());
    bytes_ -= it->second.bytes;
    kept_.erase(it->second.raw_id_hash);
    traces_.erase(it);
    order_.pop_front();
    evicted_.inc();
  }
}

TraceSummary TraceStore::summarize(const StoredTrace& trace) const {
  TraceSummary summary;
  summary.trace_id = trace.trace_id;
  summary.spans = trace.spans.size();
  std::set<std::string> span_ids;
  for (const auto& s : trace.spans) span_ids.insert(s.span_id);
  std::uint64_t start = UINT64_MAX;
  std::uint64_t end = 0;
  const StoredSpan* root = nullptr;
  for (const auto& s : trace.spans) {
    start = std::min(start, s.start_ns);
    end = std::max(end, s.end_ns);
    const bool is_root = s.parent_span_id.empty() || !span_ids.contains(s.parent_span_id);
    if (is_root && (!root || s.start_ns < root->start_ns)) root = &s;
    add_unique(summary.services, s.service);
    add_unique(summary.pods, s.pod);
    add_unique(summary.namespaces, s.namespace_name);
    if (s.source == "sys") {
      ++summary.sys_spans;
    } else if (s.source == "net") {
      ++summary.net_spans;
    } else {
      ++summary.app_spans;
    }
    if (s.error) ++summary.errors;
  }
  if (root) summary.root_name = root->name;
  summary.start_ns = trace.spans.empty() ? 0 : start;
  summary.duration_ns = trace.spans.empty() ? 0 : end - start;
  return summary;
}

std::vector<TraceSummary> TraceStore::list(const TraceFilter& filter) const {
  std::lock_guard lock(mutex_);
  std::vector<TraceSummary> out;
  for (auto it = order_.rbegin(); it != order_.rend() && out.size() < filter.limit; ++it) {
    TraceSummary summary = summarize(traces_.at(*it).trace);
    if (!filter.service.empty() && !contains(summary.services, filter.service)) continue;
    if (!filter.pod.empty() && !contains(summary.pods, filter.pod)) continue;
    if (!filter.namespace_name.empty() && !contains(summary.namespaces, filter.namespace_name)) continue;
    if (summary.duration_ns < filter.min_duration_ns) continue;
    out.push_back(std::move(summary));
  }
  return out;
}

std::optional<StoredTrace> TraceStore::get(std::string_view trace_id_hex) const {
  std::lock_guard lock(mutex_);
  auto it = traces_.find(std::string(trace_id_hex));
  if (it == traces_.end()) return std::nullopt;
  return it->second.trace;
}

std::size_t TraceStore::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::size_t TraceStore::trace_count() const {
  std::lock_guard lock(mutex_);
  return traces_.size();
}

}  // namespace otelbpf::ui
