#include "assembler/trace_assembler.h"

#include <fmt/format.h>

#include <algorithm>

namespace otelbpf {
namespace {

std::string hex(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) fmt::format_to(std::back_inserter(out), "{:02x}", c);
  return out;
}

std::string string_of(const otlp::AnyValue* v) {
  if (!v) return {};
  if (v->has_string_value()) return v->string_value();
  if (v->has_int_value()) return std::to_string(v->int_value());
  return {};
}

std::int64_t int_of(const otlp::AnyValue* v) {
  if (!v) return 0;
  if (v->has_int_value()) return v->int_value();
  if (v->has_string_value()) return std::strtoll(v->string_value().c_str(), nullptr, 10);
  return 0;
}

}  // namespace

const otlp::AnyValue* find_attribute(const google::protobuf::RepeatedPtrField<otlp::KeyValue>& attributes,
                                     std::string_view key) {
  for (const auto& kv : attributes)
    if (kv.key() == key) return &kv.value();
  return nullptr;
}

void set_span_attribute(otlp::Span& span, const std::string& key, const std::string& value) {
  for (auto& kv : *span.mutable_attributes()) {
    if (kv.key() == key) {
      kv.mutable_value()->set_string_value(value);
      return;
    }
  }
  auto* kv = span.add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

TraceAssembler::TraceAssembler(AssemblerOptions options, AssembledBatchSink sink, MetricsRegistry& metrics)
    : options_(options), sink_(std::move(sink)), metrics_(metrics) {}

void TraceAssembler::count_link(const char* rule) {
  metrics_.counter("otelbpf_assembler_links_total", "Links the trace assembler made, by rule", {{"rule", rule}}).inc();
}

void TraceAssembler::add(SpanBatch batch, Clock::time_point now) {
  const std::string source = to_string(batch.source);
  std::size_t spans = 0;
  for (auto& rs : *batch.request.mutable_resource_spans())
    for (auto& ss : *rs.mutable_scope_spans())
      for (auto& span : *ss.mutable_spans()) {
        set_span_attribute(span, kSpanSourceAttribute, source);
        ++spans;
      }
  metrics_.counter("otelbpf_assembler_spans_total", "Spans that entered the trace assembler", {{"source", source}})
      .inc(spans);
  index(batch, now);
  pending_.push_back({std::move(batch), now, spans});
  buffered_spans_ += spans;
  while (buffered_spans_ > options_.max_buffered_spans && !pending_.empty()) {
    metrics_.counter("otelbpf_assembler_early_spans_total", "Spans that left before their link window ended",
                     {{"reason", "memory_bound"}})
        .inc(pending_.front().spans);
    emit(pending_.front());
    pending_.pop_front();
  }
}

void TraceAssembler::index(const SpanBatch& batch, Clock::time_point now) {
  for (const auto& rs : batch.request.resource_spans()) {
    const auto& resource_attributes = rs.resource().attributes();
    const std::string service = string_of(find_attribute(resource_attributes, "service.name"));
    const std::int64_t resource_pid = int_of(find_attribute(resource_attributes, "process.pid"));
    for (const auto& ss : rs.scope_spans())
      for (const auto& span : ss.spans()) {
        SpanFacts f;
        f.trace_id = span.trace_id();
        f.span_id = span.span_id();
        f.parent_span_id = span.parent_span_id();
        f.source = batch.source;
        f.kind = span.kind();
        f.start_ns = span.start_time_unix_nano();
        f.end_ns = span.end_time_unix_nano();
        const auto* pid = find_attribute(span.attributes(), "process.pid");
        f.pid = pid ? int_of(pid) : resource_pid;
        f.service = service;
        f.seen = now;
        if (batch.source == SpanSource::kSys) {
          f.has_context = find_attribute(span.attributes(), "otelbpf.trace_context.source") != nullptr;
          f.syscall_trace_id = string_of(find_attribute(span.attributes(), "otelbpf.syscall_trace_id"));
          const std::string header_key = f.trace_id + f.parent_span_id;
          if (f.has_context && f.kind == otlp::Span::SPAN_KIND_CLIENT) sys_client_by_header_[header_key] = f.span_id;
          if (f.has_context && f.kind == otlp::Span::SPAN_KIND_SERVER) sys_server_by_header_[header_key] = f.span_id;
          if (f.kind == otlp::Span::SPAN_KIND_SERVER && !f.syscall_trace_id.empty())
            sys_server_by_thread_link_[std::to_string(f.pid) + "/" + f.syscall_trace_id] = f.span_id;
        } else if (batch.source == SpanSource::kApp) {
          app_spans_by_trace_[f.trace_id].push_back(f.span_id);
        }
        facts_[f.span_id] = std::move(f);
      }
  }
}

const TraceAssembler::SpanFacts* TraceAssembler::innermost_app_span(const std::string& trace_id, std::int64_t pid,
                                                                    const std::string& service,
                                                                    std::uint64_t start_ns,
                                                                    std::uint64_t end_ns) const {
  auto it = app_spans_by_trace_.find(trace_id);
  if (it == app_spans_by_trace_.end()) return nullptr;
  const SpanFacts* best = nullptr;
  for (const auto& id : it->second) {
    auto f = facts_.find(id);
    if (f == facts_.end()) continue;
    const auto& app = f->second;
    const bool same_process = (app.pid != 0 && app.pid == pid) || (app.pid == 0 && !service.empty() && app.service == service);
    if (!same_process || app.start_ns > start_ns || app.end_ns < end_ns) continue;
    // Innermost: the latest start among the spans that enclose the call.
    if (!best || app.start_ns > best->start_ns || (app.start_ns == best->start_ns && app.end_ns < best->end_ns))
      best = &app;
  }
  return best;
}

void TraceAssembler::link(SpanBatch& batch) {
  for (auto& rs : *batch.request.mutable_resource_spans())
    for (auto& ss : *rs.mutable_scope_spans())
      for (auto& span : *ss.mutable_spans()) {
        const auto facts_it = facts_.find(span.span_id());
        if (facts_it == facts_.end()) continue;
        const SpanFacts& f = facts_it->second;
        const std::string header_key = span.trace_id() + span.parent_span_id();
        if (batch.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_SERVER && f.has_context) {
          // §3.2: the server end joins under the client end this node saw with the same header.
          if (auto c = sys_client_by_header_.find(header_key); c != sys_client_by_header_.end()) {
            span.set_parent_span_id(c->second);
            count_link("sys_server_under_sys_client");
          }
        } else if (batch.source == SpanSource::kApp && f.kind == otlp::Span::SPAN_KIND_SERVER &&
                   options_.reparent_app_server_spans) {
          // §3.2: the SDK's SERVER span made from the header the sys SERVER span read goes under it.
          if (auto s = sys_server_by_header_.find(header_key); s != sys_server_by_header_.end()) {
            set_span_attribute(span, "otelbpf.original_parent_span_id", hex(span.parent_span_id()));
            span.set_parent_span_id(s->second);
            app_service_of_sys_server_[s->second] = f.service;
            count_link("app_server_under_sys_server");
          }
        } else if (batch.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.has_context) {
          // §3.3: an outbound call without context of its own joins the inbound request of its thread.
          auto s = f.syscall_trace_id.empty()
                       ? sys_server_by_thread_link_.end()
                       : sys_server_by_thread_link_.find(std::to_string(f.pid) + "/" + f.syscall_trace_id);
          if (s == sys_server_by_thread_link_.end()) {
            metrics_.counter("otelbpf_assembler_unlinked_spans_total", "sys CLIENT spans that found no parent", {{"source", "sys"}}).inc();
            continue;
          }
          const auto server = facts_.find(s->second);
          if (server == facts_.end()) continue;
          span.set_trace_id(server->second.trace_id);
          const auto service = app_service_of_sys_server_.find(s->second);
          const SpanFacts* app = innermost_app_span(server->second.trace_id, f.pid,
                                                    service == app_service_of_sys_server_.end() ? "" : service->second,
                                                    f.start_ns, f.end_ns);
          if (app) {
            span.set_parent_span_id(app->span_id);
            count_link("thread_under_app_span");
          } else {
            span.set_parent_span_id(server->second.span_id);
            count_link("thread_under_sys_server");
          }
        }
      }
}

void TraceAssembler::emit(Pending& pending) {
  link(pending.batch);
  buffered_spans_ -= pending.spans;
  sink_(std::make_shared<const SpanBatch>(std::move(pending.batch)));
}

void TraceAssembler::forget_old_facts(Clock::time_point now) {
  // Facts outlive their spans by two windows, so a late partner still finds an emitted span's ids.
  const auto horizon = now - 3 * options_.link_window;
  if (now - last_forget_ < options_.link_window) return;
  last_forget_ = now;
  std::erase_if(facts_, [&](const auto& kv) { return kv.second.seen < horizon; });
  auto gone = [&](const std::string& id) { return !facts_.contains(id); };
  std::erase_if(sys_client_by_header_, [&](const auto& kv) { return gone(kv.second); });
  std::erase_if(sys_server_by_header_, [&](const auto& kv) { return gone(kv.second); });
  std::erase_if(sys_server_by_thread_link_, [&](const auto& kv) { return gone(kv.second); });
  std::erase_if(app_service_of_sys_server_, [&](const auto& kv) { return gone(kv.first); });
  for (auto it = app_spans_by_trace_.begin(); it != app_spans_by_trace_.end();) {
    std::erase_if(it->second, gone);
    it = it->second.empty() ? app_spans_by_trace_.erase(it) : std::next(it);
  }
}

void TraceAssembler::poll(Clock::time_point now) {
  while (!pending_.empty() && now - pending_.front().arrived >= options_.link_window) {
    emit(pending_.front());
    pending_.pop_front();
  }
  forget_old_facts(now);
  metrics_.gauge("otelbpf_assembler_buffered_spans", "Spans waiting in the link window").set(static_cast<std::int64_t>(buffered_spans_));
}

void TraceAssembler::flush() {
  while (!pending_.empty()) {
    emit(pending_.front());
    pending_.pop_front();
  }
}

AssemblerStage::AssemblerStage(SpanPipeline& pipeline, TraceAssembler& assembler)
    : pipeline_(pipeline), assembler_(assembler), thread_([this] { run(); }) {}

AssemblerStage::~AssemblerStage() {
  pipeline_.close();
  join();
}

void AssemblerStage::join() {
  if (thread_.joinable()) thread_.join();
}

void AssemblerStage::run() {
  for (;;) {
    auto batch = pipeline_.next(std::chrono::milliseconds(100));
    if (batch) assembler_.add(std::move(*batch));
    assembler_.poll();
    if (!batch && pipeline_.closed()) break;
  }
  assembler_.flush();
}

}  // namespace otelbpf
