// The assembler's bookkeeping: indexing spans as they arrive, holding them while partners may come, and
// emitting them with their links. The rules themselves are in link_rules.cc.
#include "assembler/trace_assembler.h"

#include "spans/sys_span_export.h"

#include "common/hex.h"
#include "common/thread_name.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

namespace otelbpf {
namespace {

std::uint64_t trace_key(std::string_view trace_id) { return absl::Hash<std::string_view>{}(trace_id); }

std::uint64_t thread_key(std::int64_t pid, std::int64_t tid) {
  return (static_cast<std::uint64_t>(pid) << 32) ^ static_cast<std::uint32_t>(tid);
}

// Whether an emitted span is counted in frozen_by_trace_, for otelbpf_assembler_late_spans_total: the
// spans exported under an SDK's trace id, which that trace's root may still move when it comes late. They
// are its SDK's spans, spans carrying its context, and what left provisional under them (follow passes
// the flag down). A span that left with nothing to wait for has a trace id its own tracer or capture
// made, or one whose root had come: no late root can split it. Counting every span was an insert and an
// erase per request in a table as large as the facts.
bool splittable_by_late_root(const SpanFacts& f) {
  return f.frozen && (f.frozen->provisional || f.source == SpanSource::kApp || f.has_context);
}

bool thread_linked_call(const SpanFacts& f) {
  return f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT && f.syscall_trace_id != 0;
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
    : options_(options),
      sink_(std::move(sink)),
      metrics_(metrics),
      unlinked_sys_clients_(metrics.counter("otelbpf_assembler_unlinked_spans_total",
                                            "sys CLIENT spans that found no parent", {{"source", "sys"}})),
      settled_facts_(metrics.counter(
          "otelbpf_assembler_settled_facts_total",
          "Facts forgotten as their span left: both ends in, nothing else could still link to them")),
      facts_beyond_bound_(metrics.counter(
          "otelbpf_assembler_unclaimed_facts_not_kept_total",
          "Facts a server not yet known to run an SDK did not keep for its late spans (beyond 16,384 per "
          "process): such spans of its that come later than its wait find no partner")) {
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  const auto steady = Clock::now().time_since_epoch();
  wall_minus_steady_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(wall - steady).count();
  // Register the series users alert on, so that they read 0 rather than absent.
  metrics_.counter("otelbpf_assembler_late_spans_total",
                   "Spans exported under a trace that an SDK span arriving later moved: the request split");
  for (const char* rule : {"connection", "header", "pid", "app_client", "thread"})
    metrics_.counter(
        "otelbpf_assembler_ambiguous_total",
        "Joins not made because several partners fitted equally (a wrong parent is worse than none)",
        {{"rule", rule}});
}

void TraceAssembler::count_link(const char* rule) {
  // Once per linked span: the registry's lookup (a lock, a label set built and compared) only per rule.
  auto [it, fresh] = links_by_rule_.try_emplace(rule, nullptr);
  if (fresh)
    it->second = &metrics_.counter("otelbpf_assembler_links_total", "Links the trace assembler made, by rule",
                                   {{"rule", rule}});
  it->second->inc();
}

void TraceAssembler::count_ambiguous(const char* rule) {
  metrics_
      .counter("otelbpf_assembler_ambiguous_total",
               "Joins not made because several partners fitted equally (a wrong parent is worse than none)",
               {{"rule", rule}})
      .inc();
}

void TraceAssembler::count_late(std::size_t spans) {
  metrics_
      .counter("otelbpf_assembler_late_spans_total",
               "Spans exported under a trace that an SDK span arriving later moved: the request split")
      .inc(spans);
}

void TraceAssembler::add(SpanBatch batch, Clock::time_point now) {
  now_ = now;
  const std::string source = to_string(batch.source);
  // otelbpf.* source and link attributes are believed only from peers (other otelbpf agents): from anyone
  // else a claimed sys or net source is an ordinary app span, so no sender can forge links.
  const bool trust_claims = batch.source != SpanSource::kApp || batch.from_peer_agent;
  if (batch.source == SpanSource::kApp && !batch.from_peer_agent && !expect_sys_spans_ &&
      now - last_sys_span_ >= 2 * options_.link_window) {
    pass_through(std::move(batch), source);
    return;
  }
  auto pending = std::make_shared<SpanBatch>(std::move(batch));
  Pending entry{pending, now, {}, 0};
  entry.arrived_at_generation = app_generation_;
  for (int g = 0; g < static_cast<int>(pending->sys_groups.size()); ++g)
    for (int i = 0; i < static_cast<int>(pending->sys_groups[g].spans.size()); ++i)
      entry.slots.push_back({g, Pending::kCompact, i});
  auto& resource_spans = *pending->request().mutable_resource_spans();
  for (int r = 0; r < resource_spans.size(); ++r) {
    auto& scope_spans = *resource_spans[r].mutable_scope_spans();
    for (int s = 0; s < scope_spans.size(); ++s) {
      auto& spans = *scope_spans[s].mutable_spans();
      for (int i = 0; i < spans.size(); ++i) {
        if (!(trust_claims && pending->source == SpanSource::kApp && claimed_source(spans[i])))
          set_span_attribute(spans[i], kSpanSourceAttribute, source);
        entry.slots.push_back({r, s, i});
      }
    }
  }
  entry.waiting = entry.slots.size();
  metrics_
      .counter("otelbpf_assembler_spans_total", "Spans that entered the trace assembler",
               {{"source", source}})
      .inc(entry.waiting);
  buffered_spans_ += entry.waiting;
  const auto seq = next_batch_seq_++;
  pending_.emplace(seq, std::move(entry));
  index(*pending, now, seq);
  // Bounds: the span count, and the memory budget, of which the assembler may fill three quarters with
  // what it holds so that admission always has room to take new batches (the oldest leave first; their
  // links are the ones most likely complete).
  constexpr double kHeldShareOfBudget = 0.75;
  std::size_t held = 0;
  if (options_.memory && options_.memory->fill_ratio() > kHeldShareOfBudget) {  // summed only under pressure
    held = facts_charge_.bytes();
    for (const auto& [seq, p] : pending_) held += p.batch->charge.bytes();
  }
  auto over_budget = [&] {
    return options_.memory &&
           static_cast<double>(held) > kHeldShareOfBudget * static_cast<double>(options_.memory->limit());
  };
  while ((buffered_spans_ > options_.max_buffered_spans || over_budget()) && !pending_.empty()) {
    held -= std::min(held, pending_.begin()->second.batch->charge.bytes());
    auto oldest = pending_.begin();
    metrics_
        .counter(
            "otelbpf_assembler_early_spans_total", "Spans that left before their link window ended",
            {{"reason", buffered_spans_ > options_.max_buffered_spans ? "memory_bound" : "memory_budget"}})
        .inc(oldest->second.waiting);
    emit_from(oldest->second, now, EmitMode::kAll);
    pending_.erase(oldest);
  }
}

// An app batch (not from a peer agent) that nothing can link, since no sys span is expected or was seen
// lately: out at once, marked with its source.
void TraceAssembler::pass_through(SpanBatch batch, const std::string& source) {
  std::size_t spans = 0;
  for (auto& rs : *batch.request().mutable_resource_spans())
    for (auto& ss : *rs.mutable_scope_spans())
      for (auto& span : *ss.mutable_spans()) {
        set_span_attribute(span, kSpanSourceAttribute, source);  // a claimed source is not believed from apps
        ++spans;
      }
  metrics_
      .counter("otelbpf_assembler_spans_total", "Spans that entered the trace assembler",
               {{"source", source}})
      .inc(spans);
  metrics_
      .counter("otelbpf_assembler_passed_through_spans_total",
               "App spans passed on at once because no sys span was expected to link them (OTel-only mode)")
      .inc(spans);
  sink_(std::make_shared<SpanBatch>(std::move(batch)));
}

void TraceAssembler::index(const SpanBatch& batch, Clock::time_point now, std::uint64_t batch_seq) {
  const bool trust_claims = batch.source != SpanSource::kApp || batch.from_peer_agent;
  std::vector<const SpanFacts*> app_spans;
  auto take = [&](SpanFacts& f) {
    f.seen = now;
    f.batch = batch_seq;
    if (f.source == SpanSource::kNet) last_net_span_ = now;
    if (f.source == SpanSource::kApp) last_app_span_ = now;
    if (f.source == SpanSource::kSys) {
      last_sys_span_ = now;
      // Nearly every span names the address of the span before it: the set is not searched again for it.
      if (!f.local_address.empty() && f.local_address != last_local_address_ &&
          local_addresses_.size() < kMaxLocalAddresses) {
        local_addresses_.insert(f.local_address);
        last_local_address_ = f.local_address;
      }
    }
    index_span(f);
    if (f.source == SpanSource::kApp) app_spans.push_back(&f);
  };
  for (const auto& group : batch.sys_groups) {
    const auto group_facts = sys_group_facts(group);
    for (const auto& span : group.spans) {
      // Read straight into its node: a fact is ~15 strings, and moving one in was ~4 % of the assembler.
      SpanFacts& f = place_fact(span_key(sys_span_id(span)));
      read_sys_span_facts(f, group_facts, group, span);
      if (wants_request_facts(f)) read_sys_request_facts(f, group, span);
      take(f);
    }
  }
  for (const auto& rs : batch.request().resource_spans())
    for (const auto& ss : rs.scope_spans())
      for (const auto& span : ss.spans()) {
        const auto claimed = trust_claims ? claimed_source(span) : std::nullopt;
        take(place_fact(facts_of_span(span, rs.resource(), claimed.value_or(batch.source))));
      }
  // After the whole batch is indexed, so that partners within it are found.
  for (const auto* app : app_spans) learn_from_app_span(*app, now);
  if (!app_spans.empty()) ++app_generation_;
}

bool TraceAssembler::wants_request_facts(const SpanFacts& f) const {
  if (f.request_facts_read) return false;
  if (options_.peer_spans || options_.gateway_routing) return true;
  if (last_app_span_ != Clock::time_point{} && now_ - last_app_span_ < sdk_horizon_length()) return true;
  // A server not seen before may turn out to run an SDK: app_may_claim says so once it is indexed.
  if (f.kind == otlp::Span::SPAN_KIND_SERVER && !server_pids_first_seen_.contains(f.pid)) return true;
  if (app_may_claim(f)) return true;
  // Its process's samples (keep_as_sample) are the first of each second that leave: those that arrive
  // while the second's are not all taken.
  const auto second = std::chrono::duration_cast<std::chrono::seconds>(now_.time_since_epoch()).count();
  const auto s = sampled_facts_by_pid_.find(f.pid);
  return s == sampled_facts_by_pid_.end() || s->second.second != second ||
         s->second.kept < kSampledFactsPerSecond;
}

void TraceAssembler::add_request_facts(SpanFacts& f, const SysSpanGroup& group, const SysSpan& span) {
  read_sys_request_facts(f, group, span);
  // What index_span and index_for_app_spans put in the indexes by them.
  index_by_call(f);
  if (f.in_app_indexes) index_by_request(f);
}

TraceAssembler::Clock::duration TraceAssembler::sdk_horizon_length() const {
  return std::max<Clock::duration>(3 * options_.link_window, options_.max_link_wait + options_.link_window);
}

void TraceAssembler::mark_pair_complete(SpanFacts& f) {
  if (f.pair_complete || f.emitted) return;
  f.pair_complete = true;
  if (auto p = pending_.find(f.batch); p != pending_.end()) ++p->second.complete;
}

SpanFacts& TraceAssembler::place_fact(std::uint64_t key) {
  fact_order_.push_back(key);
  auto [slot, fresh] = facts_.try_emplace_key(key);
  if (!fresh) {
    // A span id seen again (a sender that reuses ids): the earlier fact's index entries go with it.
    unindex_span(slot->second);
    release_late_fact(slot->second);
    slot->second = SpanFacts{};
  }
  return slot->second;
}

SpanFacts& TraceAssembler::place_fact(SpanFacts&& fact) {
  const std::uint64_t key = span_key(fact.span_id);
  fact_order_.push_back(key);
  // Moved into its node at once (a fact is 15 strings: building it beside and moving it in, through two
  // by-value hand-offs, was 7 % of the assembler); an id already there keeps `fact` unmoved.
  auto [slot, fresh] = facts_.try_emplace_key(key, std::move(fact));
  if (!fresh) {
    unindex_span(slot->second);
    release_late_fact(slot->second);
    slot->second = std::move(fact);
  }
  return slot->second;
}

void TraceAssembler::index_span(SpanFacts& f) {
  const std::string& id = f.span_id;
  const std::uint64_t key = span_key(id);
  if (f.source == SpanSource::kSys && f.has_exchange()) {
    // Both ends of a TCP exchange traced on this node: the pair has what the TCP rule needs.
    auto& mine = f.kind == otlp::Span::SPAN_KIND_SERVER ? sys_server_by_tcp_ : sys_client_by_tcp_;
    auto& other = f.kind == otlp::Span::SPAN_KIND_SERVER ? sys_client_by_tcp_ : sys_server_by_tcp_;
    if (f.kind == otlp::Span::SPAN_KIND_SERVER || f.kind == otlp::Span::SPAN_KIND_CLIENT) {
      mine[f.tcp_hash] = key;
      if (auto partner = other.find(f.tcp_hash); partner != other.end() && partner->second != key)
        if (auto pf = facts_.find_key(partner->second); pf != facts_.end()) {
          mark_pair_complete(f);
          mark_pair_complete(pf->second);
        }
    }
  }
  if (f.source == SpanSource::kNet && f.has_exchange()) {
    net_by_tcp_[f.tcp_hash].push_back(id);
  } else if (f.source == SpanSource::kSys) {
    if (f.kind == otlp::Span::SPAN_KIND_SERVER) {
      server_pids_first_seen_.try_emplace(f.pid, f.seen);
      if (app_may_claim(f)) index_for_app_spans(f);
      if (f.syscall_trace_id != 0)
        sys_server_by_thread_link_[thread_link_key(f.pid, f.syscall_trace_id)] = key;
      if (f.has_context) sys_servers_by_header_[header_key(f.trace_id, f.parent_span_id)].push_back(id);
      // A thread that reads a request on one connection before it answered one on another serves several
      // at once (an event loop), and its thread links cannot be trusted. Requests of one connection on one
      // thread are sequential whatever the clocks say (a response's last write and the next request's read
      // can overlap by the probes' timestamp jitter), so only other connections count.
      if (f.thread_id) {
        auto& latest = thread_latest_request_[thread_key(f.pid, f.thread_id)];
        const auto connection = absl::Hash<std::tuple<std::string_view, std::uint32_t, std::uint32_t>>{}(
            {f.peer_address, f.peer_port, f.local_port});
        if (f.start_ns < latest.end_ns && connection != latest.connection)
          multiplexing_threads_.insert(thread_key(f.pid, f.thread_id));
        if (f.end_ns >= latest.end_ns) latest = {f.end_ns, connection};
      }
    }
  } else if (f.source == SpanSource::kApp) {
    app_spans_by_trace_[f.trace_id.str()].push_back(id);
    if (f.parent_span_id.empty()) {
      traces_with_app_root_.insert(f.trace_id.str());
      if (f.kind == otlp::Span::SPAN_KIND_SERVER) app_roots_by_trace_[f.trace_id.str()] = id;
    }
    if (f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.call_key.empty())
      app_clients_by_call_[f.call_key].push_back(id);
  }
  index_by_call(f);
  if (thread_linked_call(f)) ++waiting_thread_clients_[thread_link_key(f.pid, f.syscall_trace_id)];
}

void TraceAssembler::index_for_app_spans(SpanFacts& f) {
  if (f.in_app_indexes || f.source != SpanSource::kSys || f.kind != otlp::Span::SPAN_KIND_SERVER) return;
  f.in_app_indexes = true;
  const std::uint64_t key = span_key(f.span_id);
  sys_servers_by_ns_pid_.insert(f.ns_pid, f.start_ns, key);
  if (!f.peer_address.empty() && f.peer_port)
    sys_servers_by_connection_.insert(connection_key(f.peer_address, f.peer_port), f.start_ns, key);
  index_by_request(f);
}

void TraceAssembler::index_by_request(const SpanFacts& f) {
  if (!f.method.empty())
    sys_servers_by_request_.insert(request_key(f.method, f.target), f.start_ns, span_key(f.span_id));
}

void TraceAssembler::index_by_call(const SpanFacts& f) {
  if (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.call_key.empty())
    sys_clients_by_call_[f.call_key].push_back(f.span_id);
}

void TraceAssembler::mark_emitted(SpanFacts& f) {
  if (f.emitted) return;
  f.emitted = true;
  release_waiting_thread_client(f);
}

void TraceAssembler::release_waiting_thread_client(const SpanFacts& f) {
  if (!thread_linked_call(f)) return;
  auto it = waiting_thread_clients_.find(thread_link_key(f.pid, f.syscall_trace_id));
  if (it != waiting_thread_clients_.end() && --it->second == 0) waiting_thread_clients_.erase(it);
}

void TraceAssembler::unindex_span(const SpanFacts& f) {
  const std::string& id = f.span_id;
  const std::uint64_t span = span_key(id);
  auto erase_if_names = [&](auto& index, const auto& key) {
    if (auto it = index.find(key); it != index.end() && it->second == id) index.erase(it);
  };
  auto erase_if_keyed = [&](auto& index, std::uint64_t key) {  // the indexes of span keys
    if (auto it = index.find(key); it != index.end() && it->second == span) index.erase(it);
  };
  auto erase_from_list = [&](auto& index, const auto& key) {
    auto it = index.find(key);
    if (it == index.end()) return;
    // Facts mostly leave in arrival order, so the id is nearly always the first. One that leaves out of
    // order (settled as its span left) stays as a dangling entry, which lookups skip, until those before
    // it go: searching for it would cost the list's length, and a busy key's list is long (every call
    // wrk makes is "http|GET /"). So the first entry is always a remembered fact.
    auto& ids = it->second;
    if (!ids.empty() && ids.front() == id) {
      ids.pop_front();
      while (!ids.empty() && !facts_.contains(ids.front())) ids.pop_front();
    }
    if (ids.empty()) index.erase(it);
  };
  if (f.source == SpanSource::kSys && f.has_exchange()) {
    if (f.kind == otlp::Span::SPAN_KIND_SERVER) erase_if_keyed(sys_server_by_tcp_, f.tcp_hash);
    if (f.kind == otlp::Span::SPAN_KIND_CLIENT) erase_if_keyed(sys_client_by_tcp_, f.tcp_hash);
  }
  if (f.source == SpanSource::kNet && f.has_exchange()) {
    erase_from_list(net_by_tcp_, f.tcp_hash);
  } else if (f.source == SpanSource::kSys) {
    if (f.kind == otlp::Span::SPAN_KIND_SERVER) {
      if (f.syscall_trace_id != 0)
        erase_if_keyed(sys_server_by_thread_link_, thread_link_key(f.pid, f.syscall_trace_id));
      if (f.has_context) erase_from_list(sys_servers_by_header_, header_key(f.trace_id, f.parent_span_id));
      if (f.in_app_indexes) {
        sys_servers_by_ns_pid_.erase(f.ns_pid, f.start_ns, span);
        if (!f.peer_address.empty() && f.peer_port)
          sys_servers_by_connection_.erase(connection_key(f.peer_address, f.peer_port), f.start_ns, span);
        if (!f.method.empty())
          sys_servers_by_request_.erase(request_key(f.method, f.target), f.start_ns, span);
      }
    }
  } else if (f.source == SpanSource::kApp) {
    erase_from_list(app_spans_by_trace_, f.trace_id.lookup_key());
    if (f.parent_span_id.empty() && f.kind == otlp::Span::SPAN_KIND_SERVER)
      erase_if_names(app_roots_by_trace_, f.trace_id.lookup_key());
    if (f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.call_key.empty())
      erase_from_list(app_clients_by_call_, f.call_key);
  }
  if (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.call_key.empty())
    erase_from_list(sys_clients_by_call_, f.call_key);
  if (!f.emitted) release_waiting_thread_client(f);
  if (splittable_by_late_root(f))  // the resolution itself goes with the fact
    if (auto t = frozen_by_trace_.find(trace_key(f.frozen->trace_id));
        t != frozen_by_trace_.end() && --t->second == 0)
      frozen_by_trace_.erase(t);
}

void TraceAssembler::forget_fact(SpanIdMap<SpanFacts>::iterator it) {
  release_late_fact(it->second);
  unindex_span(it->second);
  facts_.erase(it);
}

std::size_t TraceAssembler::index_entries() const {
  std::size_t n = sys_client_by_tcp_.size() + sys_server_by_tcp_.size() + sys_server_by_thread_link_.size() +
                  app_roots_by_trace_.size() + frozen_by_trace_.size() + sys_servers_by_ns_pid_.size() +
                  sys_servers_by_connection_.size() + sys_servers_by_request_.size();
  for (const auto* index :
       {&sys_servers_by_header_, &app_spans_by_trace_, &app_clients_by_call_, &sys_clients_by_call_})
    for (const auto& [key, ids] : *index) n += ids.size();
  for (const auto& [key, ids] : net_by_tcp_) n += ids.size();
  return n;
}

void TraceAssembler::learn_from_app_span(const SpanFacts& app, Clock::time_point now) {
  const auto wall_now = now.time_since_epoch().count() + wall_minus_steady_ns_;
  const auto lag = std::chrono::nanoseconds(wall_now - static_cast<std::int64_t>(app.end_ns));
  // A lag beyond twice the longest wait is a clock problem or a replayed span, not the SDK's pace.
  if (lag.count() >= 0 && lag < 2 * options_.max_link_wait) app_lag_.observe(app.service, lag, now);
  if (app.kind != otlp::Span::SPAN_KIND_SERVER || !options_.reparent_app_server_spans) return;
  const auto* partner = app_server_partner(app);
  if (!partner) return;
  // The SDK's process is now known by its host pid: its other spans (database clients) can be matched to
  // that process's sys spans, and that process's sys spans wait for them.
  pids_by_resource_[app.resource_key].insert(partner->pid);
  if (auto [known, learned] = service_by_pid_.insert_or_assign(partner->pid, app.service); learned) {
    // A server that served long enough without an SDK span before this one (its health checks untraced,
    // say) has facts that the SDKs' indexes skipped: they may be this SDK's too. Once per process.
    for (auto& [key, f] : facts_)
      if (f.pid == partner->pid) index_for_app_spans(f);
  }
  clock_offsets_[app.resource_key].add(static_cast<std::int64_t>(app.end_ns) -
                                       static_cast<std::int64_t>(partner->end_ns));
  // The spans exported under this root's trace id before it came stay in a trace of their own.
  if (app.parent_span_id.empty())
    if (auto it = frozen_by_trace_.find(trace_key(app.trace_id));
        it != frozen_by_trace_.end() && it->second) {
      ResolvePath path;
      if (final_of(partner->span_id, path).trace_id != app.trace_id) count_late(it->second);
    }
}

std::chrono::nanoseconds TraceAssembler::wait_budget(const SpanFacts& f, Clock::time_point now) const {
  std::string service = f.service;
  if (f.source != SpanSource::kApp) {
    auto it = service_by_pid_.find(f.pid);
    service = it == service_by_pid_.end() ? std::string() : it->second;
  }
  auto lag = app_lag_.estimate(service, now);
  if (lag.count() == 0) lag = options_.assumed_app_lag;
  // A quarter more and a second: the lag of the next batch varies with where in the SDK's period a span
  // ended, and the collector adds its own.
  const std::chrono::nanoseconds budget = lag + lag / 4 + std::chrono::seconds(1);
  return std::clamp<std::chrono::nanoseconds>(budget, options_.link_window, options_.max_link_wait);
}

bool TraceAssembler::partner_comes_from_here(const SpanFacts& f) const {
  // Another agent's spans (or a gateway's) may be the other end: those come a window late.
  if (!f.has_exchange() || options_.peer_spans || options_.gateway_routing) return false;
  const auto& peer = f.peer_address;
  return peer.starts_with("127.") || peer == "::1" || local_addresses_.contains(peer) ||
         earlier_local_addresses_.contains(peer);
}

bool TraceAssembler::other_end_settled(const SpanFacts& f) const {
  // Both ends in; or the other end, which only this node's probes can deliver, is later than they are
  // (a fact is seen as its batch arrives).
  return f.pair_complete || (now_ - f.seen >= kLocalPartnerWait && partner_comes_from_here(f));
}

bool TraceAssembler::net_spans_may_come() const {
  // Peers (node agents, for a gateway) send the net spans their capture makes: a gateway's first
  // cross-node call waits for them too, not only the calls after a net span happened to arrive.
  return options_.expect_net_spans || options_.peer_spans || now_ - last_net_span_ < 2 * options_.link_window;
}

// A span whose both TCP ends are in, that no SDK span may still change, and whose other partners are in
// too (the request its thread served; net spans when packet capture runs) leaves at once instead of after
// the window: at tens of thousands of requests per second the window is most of the agent's memory.
bool TraceAssembler::leaves_early(const SpanFacts& f, Resolution& resolution) const {
  if (f.source != SpanSource::kSys || !other_end_settled(f)) return false;
  // The net spans of an exchange may come after both ends (another capture point, a peer agent's batch):
  // with packet capture on, or net spans seen lately, the server end waits its window for them.
  if (f.kind == otlp::Span::SPAN_KIND_SERVER && net_spans_may_come()) return false;
  ResolvePath path;
  auto r = resolve(f, path);
  if (r.provisional || r.incomplete) return false;
  resolution = std::move(r);
  return true;
}

void TraceAssembler::emit_ready(Clock::time_point now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (now - p.arrived < options_.link_window) {
      // Inside the window only spans with nothing left to wait for may leave: looked at when a span's
      // exchange completes, and once when the wait for partners from this node is over.
      const bool local_wait_over = !p.local_wait_over && now - p.arrived >= kLocalPartnerWait;
      if (p.complete > 0 || local_wait_over) emit_from(p, now, EmitMode::kEarly);
      if (local_wait_over) p.local_wait_over = true;
    } else if (p.checked_at_generation != app_generation_ || now >= p.recheck_at) {
      emit_from(p, now, EmitMode::kReady);
    }
    it = p.waiting == 0 ? pending_.erase(it) : std::next(it);
  }
}

void TraceAssembler::emit_from(Pending& p, Clock::time_point now, EmitMode mode) {
  auto out = std::make_shared<SpanBatch>();
  out->source = p.batch->source;
  out->peer_address = p.batch->peer_address;
  out->from_peer_agent = p.batch->from_peer_agent;
  // (resource, scope) of the input -> the matching ResourceSpans / ScopeSpans of the output.
  std::map<int, otlp::ResourceSpans*> resources;
  std::map<std::pair<int, int>, otlp::ScopeSpans*> scopes;
  // Input sys group -> its output group and the spans leaving it now, moved once the loop is done: when
  // the whole group leaves (the common case), its vector moves in one piece, where moving ~200 spans of
  // ~0.5 KB one by one, and destroying their moved-from shells, was ~5 % of the assembler.
  struct LeavingGroup {
    int out_group = -1;
    std::vector<std::size_t> spans;
  };
  std::map<int, LeavingGroup> compact_groups;
  std::size_t moved_spans = 0, exported_compact = 0, copied_bytes = 0;
  const std::size_t waiting_before = p.waiting;
  std::vector<std::uint64_t> emitted;
  if (mode != EmitMode::kEarly) {
    p.checked_at_generation = app_generation_;
    p.recheck_at = Clock::time_point::max();
  }
  for (auto& slot : p.slots) {
    if (slot.left) continue;
    const bool compact = slot.scope == Pending::kCompact;
    auto* in_rs = compact ? nullptr : p.batch->request().mutable_resource_spans(slot.resource);
    auto* in_ss = compact ? nullptr : in_rs->mutable_scope_spans(slot.scope);
    auto* in_span = compact ? nullptr : in_ss->mutable_spans(slot.span);
    auto* in_sys = compact ? &p.batch->sys_groups[static_cast<std::size_t>(slot.resource)]
                                  .spans[static_cast<std::size_t>(slot.span)]
                           : nullptr;
    auto fit = facts_.find(compact ? sys_span_id(*in_sys) : in_span->span_id());
    // SDK spans came since it arrived: it may need what it was spared reading then.
    if (compact && fit != facts_.end() && p.arrived_at_generation != app_generation_ &&
        wants_request_facts(fit->second))
      add_request_facts(fit->second, p.batch->sys_groups[static_cast<std::size_t>(slot.resource)], *in_sys);
    std::optional<Resolution> resolution;
    if (mode == EmitMode::kEarly) {
      Resolution early;
      if (fit == facts_.end() || !leaves_early(fit->second, early)) continue;
      resolution = std::move(early);  // resolved once: it was a tenth of the assembler's time, done twice
    } else if (fit != facts_.end()) {
      SpanFacts& f = fit->second;
      ResolvePath path;
      resolution = resolve(f, path);
      if (resolution->provisional && mode == EmitMode::kReady) {
        const auto deadline = p.arrived + std::chrono::duration_cast<Clock::duration>(wait_budget(f, now));
        if (now < deadline) {  // an SDK's span may still claim it
          p.recheck_at = std::min(p.recheck_at, deadline);
          continue;
        }
        metrics_
            .counter("otelbpf_assembler_early_spans_total", "Spans that left before their link window ended",
                     {{"reason", "link_wait_bound"}})
            .inc();
      }
    }
    slot.left = true;
    --p.waiting;
    --buffered_spans_;
    SpanFacts* f = resolution ? &fit->second : nullptr;
    if (f) {
      if (f->pair_complete) --p.complete;
      emitted.push_back(span_key(f->span_id));
    }
    if (compact && options_.compact_sys_output && !options_.gateway_routing) {
      // Stays compact: linked in place, moved to the output's group of its process.
      auto [group_of, fresh] = compact_groups.try_emplace(slot.resource);
      LeavingGroup& leaving = group_of->second;
      if (fresh) {
        const auto& in_group = p.batch->sys_groups[static_cast<std::size_t>(slot.resource)];
        leaving.out_group = static_cast<int>(out->sys_groups.size());
        auto& group = out->sys_groups.emplace_back();
        group.resource = in_group.resource;
        group.pid = in_group.pid;
        group.executable = in_group.executable;
        if (options_.memory) copied_bytes += approx_resident_bytes(group);
        leaving.spans.reserve(in_group.spans.size());
      }
      leaving.spans.push_back(static_cast<std::size_t>(slot.span));
      ++moved_spans;
      if (f && record_link(*f, std::move(*resolution))) {  // linked in place, moved below
        in_sys->linked = true;
        in_sys->linked_trace_id = f->frozen->trace_id;
        in_sys->linked_parent_span_id = f->frozen->parent_span_id;
      }
      continue;
    }
    // Keys of the output's groups: a compact group's index is kept apart from the request's resources.
    const int resource_key = compact ? -1 - slot.resource : slot.resource;
    auto& out_rs = resources[resource_key];
    if (!out_rs) {
      out_rs = out->request().add_resource_spans();
      if (compact) {
        *out_rs->mutable_resource() = p.batch->sys_groups[static_cast<std::size_t>(slot.resource)].resource;
      } else {
        *out_rs->mutable_resource() = in_rs->resource();
        out_rs->set_schema_url(in_rs->schema_url());
      }
      copied_bytes += options_.memory ? approx_resident_bytes(*out_rs) : 0;  // the resource alone, so far
    }
    auto& out_ss = scopes[{resource_key, slot.scope}];
    if (!out_ss) {
      out_ss = out_rs->add_scope_spans();
      if (compact) {
        set_sys_scope(*out_ss->mutable_scope());
      } else {
        *out_ss->mutable_scope() = in_ss->scope();
        out_ss->set_schema_url(in_ss->schema_url());
      }
    }
    auto& span = *out_ss->add_spans();
    if (compact) {
      // The compact span becomes OTLP here, and its own buffers go at once.
      export_sys_span(p.batch->sys_groups[static_cast<std::size_t>(slot.resource)], *in_sys, span);
      *in_sys = SysSpan{};
      ++exported_compact;
      if (options_.memory) copied_bytes += approx_resident_bytes(span);
    } else {
      span.Swap(in_span);
      ++moved_spans;
    }
    if (f) {
      link(span, *f, std::move(*resolution));
      if (options_.gateway_routing) mark_for_gateway(span, *f);
    }
  }
  for (auto& [in_index, leaving] : compact_groups) {
    auto& in_spans = p.batch->sys_groups[static_cast<std::size_t>(in_index)].spans;
    auto& out_spans = out->sys_groups[static_cast<std::size_t>(leaving.out_group)].spans;
    if (leaving.spans.size() == in_spans.size()) {  // each span leaves once: all of them leave now
      out_spans = std::move(in_spans);
      in_spans = {};
      continue;
    }
    out_spans.reserve(leaving.spans.size());
    for (const auto i : leaving.spans) out_spans.push_back(std::move(in_spans[i]));
  }
  settle(emitted);
  if (resources.empty() && out->sys_groups.empty()) return;
  if (options_.memory) {
    // The spans' bytes move with them; the copies of their resources and scopes are new, estimated as
    // they were made (the scopes, their headers and span slots, now that they are filled). The input's
    // charge is what its waiting spans hold: those leaving take their share, the last ones the rest
    // (walking each span again for an estimate of its own was 5 % of the agent under tracing load).
    for (const auto& [key, ss] : scopes) copied_bytes += approx_scope_header_bytes(*ss);
    // A compact span's bytes are freed as it is exported (its OTLP form is new, estimated above).
    const std::size_t held = p.batch->charge.bytes();
    const std::size_t left_bytes =
        p.waiting == 0 ? held
                       : held * (moved_spans + exported_compact) / std::max<std::size_t>(waiting_before, 1);
    const std::size_t moved_bytes =
        left_bytes * moved_spans / std::max<std::size_t>(moved_spans + exported_compact, 1);
    p.batch->charge.transfer(out->charge, moved_bytes);
    if (left_bytes > moved_bytes) p.batch->charge.adjust(options_.memory, held - left_bytes);
    const std::size_t total = 64 + moved_bytes + copied_bytes;
    if (total > out->charge.bytes()) out->charge.adjust(options_.memory, total);
  }
  sink_(std::move(out));
}

void TraceAssembler::link(otlp::Span& span, SpanFacts& f, Resolution&& r) {
  if (!record_link(f, std::move(r))) return;
  if (f.source == SpanSource::kApp)
    set_span_attribute(span, "otelbpf.original_parent_span_id", to_hex(span.parent_span_id()));
  span.set_trace_id(f.frozen->trace_id.data(), f.frozen->trace_id.size());
  span.set_parent_span_id(f.frozen->parent_span_id);
}

bool TraceAssembler::record_link(SpanFacts& f, Resolution&& resolution) {
  mark_emitted(f);
  // Moved in: the caller reads the span's new ids from the fact (a copy was an allocation per span).
  const Resolution& r = f.frozen.emplace(std::move(resolution));
  if (splittable_by_late_root(f)) ++frozen_by_trace_[trace_key(r.trace_id)];
  if (r.ambiguous) count_ambiguous(r.ambiguous);
  if (!r.rule) {
    if (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.has_context)
      unlinked_sys_clients_.inc();
    return false;
  }
  count_link(r.rule);
  return true;
}

bool TraceAssembler::fact_wanted_by_late_app_spans(const SpanFacts& f) const {
  // App spans are what later SDK spans name as parents; net spans join sys spans only.
  // A sys span of a process that runs an SDK or may still turn out to: the test that holds sys spans.
  return f.source == SpanSource::kApp || (f.source == SpanSource::kSys && app_may_claim(f));
}

bool TraceAssembler::keep_as_sample(const SpanFacts& f) {
  if (f.source != SpanSource::kSys) return false;
  const auto second = std::chrono::duration_cast<std::chrono::seconds>(f.seen.time_since_epoch()).count();
  auto& s = sampled_facts_by_pid_[f.pid];
  if (s.second != second) s = {second, 0};
  return s.kept++ < kSampledFactsPerSecond;
}

bool TraceAssembler::partner_still_waiting(const SpanFacts& f) const {
  if (!f.has_exchange()) return false;  // a DNS exchange's key (id, port, question) counts the same
  const std::uint64_t own = span_key(f.span_id);
  auto waiting_key = [&](std::uint64_t key) {
    if (key == own) return false;
    auto it = facts_.find_key(key);
    return it != facts_.end() && !it->second.emitted;
  };
  auto waiting = [&](const std::string& id) { return waiting_key(span_key(id)); };
  if (auto s = sys_server_by_tcp_.find(f.tcp_hash); s != sys_server_by_tcp_.end() && waiting_key(s->second))
    return true;
  if (auto c = sys_client_by_tcp_.find(f.tcp_hash); c != sys_client_by_tcp_.end() && waiting_key(c->second))
    return true;
  if (auto n = net_by_tcp_.find(f.tcp_hash); n != net_by_tcp_.end())
    return std::any_of(n->second.begin(), n->second.end(), waiting);
  return false;
}

bool TraceAssembler::nothing_but_an_sdk_left_to_link(const SpanFacts& f) const {
  if (!f.emitted || f.source != SpanSource::kSys || f.sampled || !other_end_settled(f)) return false;
  // Net spans and other agents' spans come late by design; the gateway marks spans by their facts.
  if (options_.peer_spans || options_.gateway_routing || net_spans_may_come()) return false;
  if (partner_still_waiting(f)) return false;
  // A request whose thread's calls still wait (one to another node waits out its window) stays their
  // parent; a call that an SDK's client span of the same statement may claim stays for app_client_for's
  // test of which call that span fits.
  if (f.kind == otlp::Span::SPAN_KIND_SERVER && f.syscall_trace_id != 0 &&
      waiting_thread_clients_.contains(thread_link_key(f.pid, f.syscall_trace_id)))
    return false;
  if (f.kind == otlp::Span::SPAN_KIND_CLIENT && !f.call_key.empty() &&
      app_clients_by_call_.contains(f.call_key))
    return false;
  return true;
}

bool TraceAssembler::nothing_left_to_link(const SpanFacts& f) const {
  return nothing_but_an_sdk_left_to_link(f) && !fact_wanted_by_late_app_spans(f);
}

void TraceAssembler::settle(const std::vector<std::uint64_t>& emitted) {
  auto settle_one = [&](std::uint64_t id) {
    auto it = facts_.find_key(id);
    if (it == facts_.end() || !nothing_but_an_sdk_left_to_link(it->second)) return;
    // Only an SDK's late span may still claim it: admit_late_fact keeps it (every fact of a process known
    // to run one; kMaxLateFactsOfUnknownProcess of a server not known either way) from now on, not only
    // past the partners' window: nginx at 70k requests/s held ~230k facts (~370 MB) within that window.
    if (fact_wanted_by_late_app_spans(it->second) && admit_late_fact(it->second)) {
      index_for_app_spans(it->second);
      return;
    }
    settled_facts_.inc();
    if (keep_as_sample(it->second)) {
      index_for_app_spans(it->second);
      it->second.sampled = true;
      sampled_fact_order_.push_back(id);
    } else {
      forget_fact(it);
    }
  };
  for (const auto id : emitted) {
    auto it = facts_.find_key(id);
    if (it == facts_.end()) continue;
    // The other end left earlier, when this one still waited: it may be settled now too.
    const SpanFacts& f = it->second;
    std::optional<std::uint64_t> other;
    if (f.source == SpanSource::kSys && f.has_exchange()) {
      const auto& index = f.kind == otlp::Span::SPAN_KIND_SERVER ? sys_client_by_tcp_ : sys_server_by_tcp_;
      if (auto o = index.find(f.tcp_hash); o != index.end() && o->second != id) other = o->second;
    }
    settle_one(id);
    if (other) settle_one(*other);
  }
}

bool TraceAssembler::admit_late_fact(SpanFacts& f) {
  if (f.source != SpanSource::kSys || f.counted_as_late) return true;
  auto& held = late_facts_by_pid_[f.pid];
  if (held >= kMaxLateFactsOfUnknownProcess && !service_by_pid_.contains(f.pid)) {
    facts_beyond_bound_.inc();
    return false;
  }
  ++held;
  f.counted_as_late = true;
  return true;
}

void TraceAssembler::release_late_fact(SpanFacts& f) {
  if (!f.counted_as_late) return;
  f.counted_as_late = false;
  auto it = late_facts_by_pid_.find(f.pid);
  if (it != late_facts_by_pid_.end() && (it->second <= 1 || --it->second == 0)) late_facts_by_pid_.erase(it);
}

void TraceAssembler::forget_old_facts(Clock::time_point now) {
  // Facts outlive their spans, so a late partner still finds an emitted span's ids. Two horizons:
  // - the partners' one: the other end of a call, its net spans and (with peer agents) the spans other
  //   nodes send a window late all come within it;
  // - the SDKs' one, for the facts a late SDK span may still claim: it covers the longest wait.
  // The facts of processes without an SDK (nginx, a database, a load generator) leave after the first,
  // which at tens of thousands of spans per second is most of them: at 35 s they were ~1 GiB.
  // Facts are bounded in number too (four times the buffered spans).
  const auto partners_horizon = now - (options_.peer_spans ? 3 * options_.link_window : options_.link_window);
  const auto sdk_horizon = now - sdk_horizon_length();
  const std::size_t max_facts = 4 * options_.max_buffered_spans;
  // Stage 1: the partners' horizon. Facts that leave it move on to stage 2 (an SDK may still claim
  // them) or to the samples, or are forgotten.
  while (!fact_order_.empty()) {
    auto it = facts_.find_key(fact_order_.front());
    if (it != facts_.end()) {
      SpanFacts& f = it->second;
      if (f.sampled) {  // settled as it left: among the samples already
        fact_order_.pop_front();
        continue;
      }
      const bool over = facts_.size() > max_facts;
      // Oldest first: a fact still waiting keeps the rest.
      if (!(f.seen < partners_horizon || over) || !f.emitted) break;
      if (over || f.seen < sdk_horizon)
        forget_fact(it);
      else if (partner_still_waiting(f) || (fact_wanted_by_late_app_spans(f) && admit_late_fact(f))) {
        index_for_app_spans(f);
        late_fact_order_.push_back(fact_order_.front());
      } else if (keep_as_sample(f)) {
        index_for_app_spans(f);
        release_late_fact(f);  // admitted as it left, not claimable any more
        sampled_fact_order_.push_back(fact_order_.front());
      } else {
        forget_fact(it);
      }
    }
    fact_order_.pop_front();
  }
  // Stage 2: until the SDK horizon, or until no SDK may claim the fact any more (its process served long
  // enough without one); then it may still stay as a sample.
  while (!late_fact_order_.empty()) {
    auto it = facts_.find_key(late_fact_order_.front());
    if (it != facts_.end()) {
      SpanFacts& f = it->second;
      const bool expired = f.seen < sdk_horizon || facts_.size() > max_facts;
      if (!expired && (partner_still_waiting(f) || fact_wanted_by_late_app_spans(f))) break;
      release_late_fact(f);
      if (!expired && keep_as_sample(f))  // in the SDKs' indexes since stage 1
        sampled_fact_order_.push_back(late_fact_order_.front());
      else
        forget_fact(it);
    }
    late_fact_order_.pop_front();
  }
  // The samples: until the SDK horizon.
  while (!sampled_fact_order_.empty()) {
    auto it = facts_.find_key(sampled_fact_order_.front());
    if (it != facts_.end()) {
      if (it->second.seen >= sdk_horizon && facts_.size() <= max_facts) break;
      forget_fact(it);
    }
    sampled_fact_order_.pop_front();
  }
  // Forgetting a fact takes its index entries and frozen resolution with it (unindex_span); what is left
  // to sweep once a window is the knowledge kept per trace, process and thread.
  if (now - last_forget_ < options_.link_window) return;
  last_forget_ = now;
  app_lag_.forget_quiet(now);
  // Addresses not seen for a window go (a pod that left takes its address along).
  earlier_local_addresses_ = std::move(local_addresses_);
  local_addresses_.clear();
  last_local_address_.clear();
  absl::erase_if(traces_with_app_root_,
                 [&](const auto& trace) { return !app_spans_by_trace_.contains(trace); });
  // Per-process and per-thread knowledge lives as long as the process shows up in the facts.
  HashSet<std::int64_t> live_pids;
  for (const auto& [id, f] : facts_)
    if (f.source == SpanSource::kSys) live_pids.insert(f.pid);
  absl::erase_if(server_pids_first_seen_, [&](const auto& kv) { return !live_pids.contains(kv.first); });
  absl::erase_if(service_by_pid_, [&](const auto& kv) { return !live_pids.contains(kv.first); });
  absl::erase_if(sampled_facts_by_pid_, [&](const auto& kv) { return !live_pids.contains(kv.first); });
  absl::erase_if(late_facts_by_pid_, [&](const auto& kv) { return !live_pids.contains(kv.first); });
  absl::erase_if(thread_latest_request_,
                 [&](const auto& kv) { return !live_pids.contains(std::int64_t(kv.first >> 32)); });
  absl::erase_if(multiplexing_threads_,
                 [&](auto key) { return !live_pids.contains(std::int64_t(key >> 32)); });
  for (auto& [resource, pids] : pids_by_resource_)
    absl::erase_if(pids, [&](auto pid) { return !live_pids.contains(pid); });
  absl::erase_if(pids_by_resource_, [](const auto& kv) { return kv.second.empty(); });
  absl::erase_if(clock_offsets_, [&](const auto& kv) { return !pids_by_resource_.contains(kv.first); });
  // The per-span tables, sized for the agent's first seconds, are shrunk to what they hold now.
  shrink_if_sparse(facts_);
  shrink_if_sparse(sys_client_by_tcp_);
  shrink_if_sparse(sys_server_by_tcp_);
  shrink_if_sparse(net_by_tcp_);
  shrink_if_sparse(sys_server_by_thread_link_);
  shrink_if_sparse(waiting_thread_clients_);
  shrink_if_sparse(frozen_by_trace_);
  shrink_if_sparse(thread_latest_request_);
}

void TraceAssembler::poll(Clock::time_point now) {
  now_ = now;
  emit_ready(now);
  forget_old_facts(now);
  // A fact, its place in the indexes and its frozen resolution: the struct, its ids and keys.
  constexpr std::size_t kBytesPerFact = sizeof(SpanFacts) + 640;
  facts_charge_.adjust(options_.memory, facts_.size() * kBytesPerFact);
  metrics_.gauge("otelbpf_assembler_buffered_spans", "Spans waiting in the link window")
      .set(static_cast<std::int64_t>(buffered_spans_));
  metrics_.gauge("otelbpf_assembler_facts", "Spans whose ids and link keys are remembered for late partners")
      .set(static_cast<std::int64_t>(facts_.size()));
}

void TraceAssembler::flush() {
  for (auto& [seq, p] : pending_) emit_from(p, now_, EmitMode::kAll);
  pending_.clear();
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
  name_this_thread("otb-assembler");
  for (;;) {
    auto batch = pipeline_.next(std::chrono::milliseconds(100));
    if (batch) assembler_.add(std::move(*batch));
    assembler_.poll();
    if (!batch && pipeline_.closed()) break;
  }
  assembler_.flush();
}

}  // namespace otelbpf
