#include "assembler/trace_assembler.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

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

// The source a span already names (an upstream otelbpf agent's sys or net span), if any.
std::optional<SpanSource> source_of(const otlp::Span& span) {
  for (const auto& kv : span.attributes())
    if (kv.key() == kSpanSourceAttribute) {
      const auto& v = kv.value().string_value();
      if (v == "sys") return SpanSource::kSys;
      if (v == "net") return SpanSource::kNet;
      if (v == "app") return SpanSource::kApp;
    }
  return std::nullopt;
}

// Path order of capture points (requirements §3.4): client pod, client node, tunnel, server node, server pod.
int path_rank(const std::string& tap_side) {
  static const std::pair<const char*, int> kOrder[] = {{"client-pod-nic", 0},  {"client-node-nic", 1},
                                                       {"tunnel", 2},          {"loopback", 2},
                                                       {"server-node-nic", 3}, {"server-pod-nic", 4}};
  for (const auto& [side, rank] : kOrder)
    if (tap_side == side) return rank;
  return 2;
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
  metrics_
      .counter("otelbpf_assembler_links_total", "Links the trace assembler made, by rule", {{"rule", rule}})
      .inc();
}

void TraceAssembler::add(SpanBatch batch, Clock::time_point now) {
  const std::string source = to_string(batch.source);
  std::size_t spans = 0;
  for (auto& rs : *batch.request.mutable_resource_spans())
    for (auto& ss : *rs.mutable_scope_spans())
      for (auto& span : *ss.mutable_spans()) {
        // A span that already names its source was made by another otelbpf agent that exports to this one
        // (a gateway assembling several nodes' sys and net spans); it keeps that source.
        if (!(batch.source == SpanSource::kApp && source_of(span)))
          set_span_attribute(span, kSpanSourceAttribute, source);
        ++spans;
      }
  metrics_
      .counter("otelbpf_assembler_spans_total", "Spans that entered the trace assembler",
               {{"source", source}})
      .inc(spans);
  index(batch, now);
  pending_.push_back({std::move(batch), now, spans});
  buffered_spans_ += spans;
  while (buffered_spans_ > options_.max_buffered_spans && !pending_.empty()) {
    metrics_
        .counter("otelbpf_assembler_early_spans_total", "Spans that left before their link window ended",
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
        f.source = source_of(span).value_or(batch.source);
        f.kind = span.kind();
        f.start_ns = span.start_time_unix_nano();
        f.end_ns = span.end_time_unix_nano();
        const auto* pid = find_attribute(span.attributes(), "process.pid");
        f.pid = pid ? int_of(pid) : resource_pid;
        f.service = service;
        f.seen = now;
        f.operation = span.name().substr(0, span.name().find(' '));
        std::transform(f.operation.begin(), f.operation.end(), f.operation.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (f.source != SpanSource::kApp) {
          const auto req_seq = int_of(find_attribute(span.attributes(), "otelbpf.tcp.req_seq"));
          const auto resp_seq = int_of(find_attribute(span.attributes(), "otelbpf.tcp.resp_seq"));
          if (req_seq != 0 && resp_seq != 0)
            f.tcp_key = std::to_string(req_seq) + "/" + std::to_string(resp_seq);
        }
        if (f.source == SpanSource::kNet && !f.tcp_key.empty()) {
          f.path_rank = path_rank(string_of(find_attribute(span.attributes(), "otelbpf.tap.side")));
          net_by_tcp_[f.tcp_key].push_back(f.span_id);
        } else if (f.source == SpanSource::kSys) {
          f.has_context = find_attribute(span.attributes(), "otelbpf.trace_context.source") != nullptr;
          f.syscall_trace_id = string_of(find_attribute(span.attributes(), "otelbpf.syscall_trace_id"));
          if (f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.tcp_key.empty())
            sys_client_by_tcp_[f.tcp_key] = f.span_id;
          if (f.kind == otlp::Span::SPAN_KIND_SERVER) {
            sys_servers_by_pid_[f.pid].push_back(f.span_id);
            if (!f.syscall_trace_id.empty())
              sys_server_by_thread_link_[std::to_string(f.pid) + "/" + f.syscall_trace_id] = f.span_id;
            if (f.has_context) sys_servers_by_header_[f.trace_id + f.parent_span_id].push_back(f.span_id);
          }
        } else if (f.source == SpanSource::kApp) {
          app_spans_by_trace_[f.trace_id].push_back(f.span_id);
          if (f.kind == otlp::Span::SPAN_KIND_SERVER && f.parent_span_id.empty())
            app_roots_by_trace_[f.trace_id] = f.span_id;
        }
        fact_order_.push_back(f.span_id);
        facts_[f.span_id] = std::move(f);
      }
  }
}

const TraceAssembler::SpanFacts* TraceAssembler::facts_of(const std::string& span_id) const {
  auto it = facts_.find(span_id);
  return it == facts_.end() ? nullptr : &it->second;
}

const TraceAssembler::SpanFacts* TraceAssembler::thread_linked_server(const SpanFacts& client) const {
  if (client.syscall_trace_id.empty()) return nullptr;
  auto s = sys_server_by_thread_link_.find(std::to_string(client.pid) + "/" + client.syscall_trace_id);
  return s == sys_server_by_thread_link_.end() ? nullptr : facts_of(s->second);
}

// The sys SERVER span that read the header an app SERVER span was made from: several may have read the
// same header (a proxy forwards it), so prefer the same process, else the innermost one enclosing the span.
const TraceAssembler::SpanFacts* TraceAssembler::sys_server_for_app_server(const SpanFacts& app) const {
  auto it = sys_servers_by_header_.find(app.trace_id + app.parent_span_id);
  if (it == sys_servers_by_header_.end()) return nullptr;
  const SpanFacts* best = nullptr;
  for (const auto& id : it->second) {
    const auto* s = facts_of(id);
    if (!s) continue;
    if (app.pid != 0 && s->pid == app.pid) return s;
    if (s->start_ns <= app.start_ns && s->end_ns >= app.end_ns && (!best || s->start_ns > best->start_ns))
      best = s;
  }
  return app.pid != 0 ? nullptr : best;
}

// The innermost app span of the calling process that encloses an outbound call. The process is known by
// process.pid when the SDK reports it, else by the service of the app SERVER span under the same sys SERVER.
const TraceAssembler::SpanFacts* TraceAssembler::innermost_app_span(const SpanFacts& server,
                                                                    const SpanFacts& call) const {
  // App spans are indexed by the trace they came with: the header's (the sys SERVER span's own), which a
  // trace join may since have moved.
  std::vector<std::string> app_ids;
  for (const auto& trace : {server.trace_id, final_trace(server.span_id, 0)})
    if (auto it = app_spans_by_trace_.find(trace); it != app_spans_by_trace_.end())
      app_ids.insert(app_ids.end(), it->second.begin(), it->second.end());
  std::string service;
  for (const auto& id : app_ids) {
    const auto* app = facts_of(id);
    if (app && app->kind == otlp::Span::SPAN_KIND_SERVER && app->pid == 0 &&
        sys_server_for_app_server(*app) == &server)
      service = app->service;
  }
  // The SDK's clock reads and the kernel's differ by a fraction of a millisecond, which matters for short
  // calls: an app span qualifies when it covers most of the call, not only when it strictly encloses it.
  const std::uint64_t call_ns = call.end_ns > call.start_ns ? call.end_ns - call.start_ns : 0;
  constexpr std::uint64_t kClockSlackNs = 1'000'000;
  const SpanFacts* best = nullptr;
  const SpanFacts* same_operation = nullptr;
  std::uint64_t same_operation_distance = 0;
  for (const auto& id : app_ids) {
    const auto* app = facts_of(id);
    if (!app) continue;
    const bool same_process =
        app->pid != 0 ? app->pid == call.pid : (!service.empty() && app->service == service);
    if (!same_process) continue;
    const std::uint64_t overlap_start = std::max(app->start_ns, call.start_ns);
    const std::uint64_t overlap_end = std::min(app->end_ns, call.end_ns);
    const std::uint64_t overlap = overlap_end > overlap_start ? overlap_end - overlap_start : 0;
    // An app CLIENT span for the same operation (the SDK's view of this very call) is the parent when its
    // time touches the call at all; the SDK's and the kernel's clocks differ too much to rank short calls.
    if (app->kind == otlp::Span::SPAN_KIND_CLIENT && !call.operation.empty() &&
        app->operation == call.operation && app->start_ns <= call.end_ns + kClockSlackNs &&
        call.start_ns <= app->end_ns + kClockSlackNs) {
      const std::uint64_t distance =
          app->start_ns > call.start_ns ? app->start_ns - call.start_ns : call.start_ns - app->start_ns;
      if (!same_operation || distance < same_operation_distance) {
        same_operation = app;
        same_operation_distance = distance;
      }
    }
    if (call_ns == 0 ? (app->start_ns > call.start_ns || app->end_ns < call.end_ns) : overlap * 2 < call_ns)
      continue;
    // Otherwise the innermost span (latest start, then shortest) that covers most of the call.
    if (!best || app->start_ns > best->start_ns ||
        (app->start_ns == best->start_ns && app->end_ns < best->end_ns)) {
      best = app;
    }
  }
  return same_operation ? same_operation : best;
}

// The sys SERVER span of the same process whose time encloses an app SERVER span that came without a
// parent: the request arrived without trace context, so the SDK started a trace of its own.
const TraceAssembler::SpanFacts* TraceAssembler::sys_server_enclosing(const SpanFacts& app) const {
  if (app.pid == 0) return nullptr;
  auto it = sys_servers_by_pid_.find(app.pid);
  if (it == sys_servers_by_pid_.end()) return nullptr;
  constexpr std::uint64_t kClockSlackNs = 1'000'000;
  const SpanFacts* best = nullptr;
  for (const auto& id : it->second) {
    const auto* s = facts_of(id);
    // The SDK starts its span after the request was read and may end it after the answer was written
    // (Node ends it on 'finish'), so the app span must start inside the sys span, not end inside it.
    if (!s || s->start_ns > app.start_ns + kClockSlackNs || app.start_ns > s->end_ns + kClockSlackNs)
      continue;
    if (!best || s->start_ns > best->start_ns) best = s;
  }
  return best;
}

std::string TraceAssembler::final_trace(const std::string& span_id, int depth) const {
  const auto* f = facts_of(span_id);
  if (!f) return {};
  return resolve(*f, depth + 1).trace_id;
}

std::vector<const TraceAssembler::SpanFacts*> TraceAssembler::net_path(const std::string& tcp_key) const {
  std::vector<const SpanFacts*> path;
  if (auto it = net_by_tcp_.find(tcp_key); it != net_by_tcp_.end())
    for (const auto& id : it->second)
      if (const auto* f = facts_of(id)) path.push_back(f);
  std::sort(path.begin(), path.end(), [](const SpanFacts* a, const SpanFacts* b) {
    return a->path_rank != b->path_rank ? a->path_rank < b->path_rank : a->start_ns < b->start_ns;
  });
  return path;
}

TraceAssembler::Resolution TraceAssembler::resolve(const SpanFacts& f, int depth) const {
  if (auto frozen = frozen_.find(f.span_id); frozen != frozen_.end()) return frozen->second;
  Resolution r{f.trace_id, f.parent_span_id, nullptr};
  // Chains are short (client -> server -> thread-linked client ...); the bound only guards against cycles.
  if (depth > 16) return r;
  if (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_SERVER) {
    // §3.4: the client end of the same TCP exchange is the parent, whatever the addresses say; the net
    // spans seen on the way sit in between, so the server end goes under the last of them.
    if (!f.tcp_key.empty()) {
      const auto path = net_path(f.tcp_key);
      auto c = sys_client_by_tcp_.find(f.tcp_key);
      if (!path.empty()) {
        r.parent_span_id = path.back()->span_id;
        r.trace_id = c != sys_client_by_tcp_.end() ? final_trace(c->second, depth) : f.trace_id;
        r.rule = "tcp_sys_server_under_net_span";
      } else if (c != sys_client_by_tcp_.end() && c->second != f.span_id) {
        r.parent_span_id = c->second;
        r.trace_id = final_trace(c->second, depth);
        r.rule = "tcp_sys_server_under_sys_client";
      }
    }
    // §3.2 otherwise: the header's span id, as built.
  } else if (f.source == SpanSource::kNet && !f.tcp_key.empty()) {
    // §3.4: net spans chain from the client end, capture point by capture point, in path order.
    const auto path = net_path(f.tcp_key);
    const auto client = sys_client_by_tcp_.find(f.tcp_key);
    const bool has_client = client != sys_client_by_tcp_.end();
    const auto self = std::find(path.begin(), path.end(), &f);
    if (self != path.end() && self != path.begin()) {
      r.parent_span_id = (*std::prev(self))->span_id;
      r.rule = "tcp_net_span_under_net_span";
    } else if (has_client) {
      r.parent_span_id = client->second;
      r.rule = "tcp_net_span_under_sys_client";
    }
    if (has_client) {
      r.trace_id = final_trace(client->second, depth);
    } else if (!path.empty()) {
      r.trace_id = path.front()->trace_id;  // no client end seen: the path's first capture names the trace
      if (!r.rule && r.trace_id != f.trace_id) r.rule = "tcp_net_path";
    }
  } else if (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT) {
    const SpanFacts* server = thread_linked_server(f);
    if (f.has_context) {
      // A proxy forwards the header it read: then the call belongs under the request it is serving.
      if (server && server->has_context && server->trace_id == f.trace_id &&
          server->parent_span_id == f.parent_span_id) {
        r.parent_span_id = server->span_id;
        r.trace_id = final_trace(server->span_id, depth);
        r.rule = "proxy_sys_client_under_sys_server";
      }
    } else if (server) {
      // §3.3: no context of its own: the inbound request of the same thread.
      r.trace_id = final_trace(server->span_id, depth);
      if (const auto* app = innermost_app_span(*server, f)) {
        r.parent_span_id = app->span_id;
        r.rule = "thread_under_app_span";
      } else {
        r.parent_span_id = server->span_id;
        r.rule = "thread_under_sys_server";
      }
    }
  } else if (f.source == SpanSource::kApp && f.kind == otlp::Span::SPAN_KIND_SERVER &&
             options_.reparent_app_server_spans) {
    // §3.2: the SDK's SERVER span made from a header goes under the sys SERVER span that read it.
    if (const auto* server = sys_server_for_app_server(f)) {
      r.parent_span_id = server->span_id;
      r.trace_id = final_trace(server->span_id, depth);
      r.rule = "app_server_under_sys_server";
    } else if (f.parent_span_id.empty()) {
      if (const auto* server = sys_server_enclosing(f)) {
        r.parent_span_id = server->span_id;
        r.trace_id = final_trace(server->span_id, depth);
        r.rule = "app_root_under_sys_server";
      }
    }
  }
  // A trace whose root app SERVER span moved under a sys SERVER span moves with it: every other span of
  // that trace (the SDK's children, the calls carrying its context) joins the same trace.
  if (auto root = app_roots_by_trace_.find(r.trace_id);
      root != app_roots_by_trace_.end() && root->second != f.span_id)
    if (const auto* root_facts = facts_of(root->second)) {
      const Resolution moved = resolve(*root_facts, depth + 1);
      if (moved.rule && moved.trace_id != r.trace_id) {
        r.trace_id = moved.trace_id;
        if (!r.rule) r.rule = "trace_joined";
      }
    }
  return r;
}

void TraceAssembler::link(SpanBatch& batch) {
  for (auto& rs : *batch.request.mutable_resource_spans())
    for (auto& ss : *rs.mutable_scope_spans())
      for (auto& span : *ss.mutable_spans()) {
        auto it = facts_.find(span.span_id());
        if (it == facts_.end()) continue;
        SpanFacts& f = it->second;
        const Resolution r = resolve(f, 0);
        frozen_[f.span_id] = r;
        f.emitted = true;
        if (!r.rule) {
          if (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.has_context)
            metrics_
                .counter("otelbpf_assembler_unlinked_spans_total", "sys CLIENT spans that found no parent",
                         {{"source", "sys"}})
                .inc();
          continue;
        }
        if (f.source == SpanSource::kApp)
          set_span_attribute(span, "otelbpf.original_parent_span_id", hex(span.parent_span_id()));
        span.set_trace_id(r.trace_id.empty() ? span.trace_id() : r.trace_id);
        span.set_parent_span_id(r.parent_span_id);
        count_link(r.rule);
      }
}

void TraceAssembler::emit(Pending& pending) {
  link(pending.batch);
  buffered_spans_ -= pending.spans;
  sink_(std::make_shared<SpanBatch>(std::move(pending.batch)));
}

void TraceAssembler::forget_old_facts(Clock::time_point now) {
  // Facts outlive their spans by two windows, so a late partner still finds an emitted span's ids.
  // They are bounded in number too (four times the buffered spans): at high span rates three windows of
  // facts would otherwise outgrow the buffer they serve.
  const auto horizon = now - 3 * options_.link_window;
  const std::size_t max_facts = 4 * options_.max_buffered_spans;
  while (!fact_order_.empty()) {
    auto it = facts_.find(fact_order_.front());
    if (it != facts_.end()) {
      const bool old = it->second.seen < horizon || facts_.size() > max_facts;
      if (!old || !it->second.emitted) break;  // oldest first: a fact still waiting keeps the rest
      facts_.erase(it);
    }
    fact_order_.pop_front();
  }
  // The indexes only point at facts (a dangling id resolves to nothing), so sweeping them once a window
  // is enough to bound their memory.
  if (now - last_forget_ < options_.link_window) return;
  last_forget_ = now;
  auto gone = [&](const std::string& id) { return !facts_.contains(id); };
  std::erase_if(frozen_, [&](const auto& kv) { return gone(kv.first); });
  std::erase_if(sys_client_by_tcp_, [&](const auto& kv) { return gone(kv.second); });
  for (auto it = net_by_tcp_.begin(); it != net_by_tcp_.end();) {
    std::erase_if(it->second, gone);
    it = it->second.empty() ? net_by_tcp_.erase(it) : std::next(it);
  }
  std::erase_if(sys_server_by_thread_link_, [&](const auto& kv) { return gone(kv.second); });
  std::erase_if(app_roots_by_trace_, [&](const auto& kv) { return gone(kv.second); });
  for (auto it = sys_servers_by_pid_.begin(); it != sys_servers_by_pid_.end();) {
    std::erase_if(it->second, gone);
    it = it->second.empty() ? sys_servers_by_pid_.erase(it) : std::next(it);
  }
  for (auto* index : {&sys_servers_by_header_, &app_spans_by_trace_})
    for (auto it = index->begin(); it != index->end();) {
      std::erase_if(it->second, gone);
      it = it->second.empty() ? index->erase(it) : std::next(it);
    }
}

void TraceAssembler::poll(Clock::time_point now) {
  while (!pending_.empty() && now - pending_.front().arrived >= options_.link_window) {
    emit(pending_.front());
    pending_.pop_front();
  }
  forget_old_facts(now);
  metrics_.gauge("otelbpf_assembler_buffered_spans", "Spans waiting in the link window")
      .set(static_cast<std::int64_t>(buffered_spans_));
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
