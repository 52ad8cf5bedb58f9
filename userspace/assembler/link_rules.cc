// The link rules (docs/linking.md names each one; the links_total and ambiguous_total metrics label them
// alike). Every rule is a pure function of the indexed facts: resolve() may run several times for a span
// while it waits, and gives the same answer until new facts arrive.
#include <algorithm>

#include "assembler/trace_assembler.h"
#include "model/attributes.h"

namespace otelbpf {
namespace {

using AppTime = TraceAssembler::AppTime;

bool overlaps(const AppTime& app, const SpanFacts& sys) {
  return app.start <= sys.end_ns + app.slack && sys.start_ns <= app.end + app.slack;
}

bool encloses(const AppTime& app, const SpanFacts& sys) {
  return app.start <= sys.start_ns && sys.end_ns <= app.end;
}

}  // namespace

bool TraceAssembler::ResolvePath::contains(const std::string& id) const {
  return std::any_of(spans.begin(), spans.begin() + static_cast<std::ptrdiff_t>(size),
                     [&](const std::string* s) { return *s == id; });
}

const SpanFacts* TraceAssembler::facts_of(const std::string& span_id) const {
  return facts_of_key(span_key(span_id));
}

const SpanFacts* TraceAssembler::facts_of_key(std::uint64_t key) const {
  auto it = facts_.find_key(key);
  return it == facts_.end() ? nullptr : &it->second;
}

TraceAssembler::Resolution TraceAssembler::final_of(const std::string& span_id, ResolvePath& path) const {
  const auto* f = facts_of(span_id);
  if (!f) return {};
  return resolve(*f, path);
}

// Takes the trace that `partner` ends up in (and whether that may still change); the partner's own
// resolution follows the same path, so cycles stop there.
void TraceAssembler::follow(const std::string& partner, Resolution& r, ResolvePath& path) const {
  auto take = [&](const Resolution& p) {
    if (!p.trace_id.empty()) r.trace_id = p.trace_id;
    r.provisional |= p.provisional;
    r.incomplete |= p.incomplete;
  };
  const auto* f = facts_of(partner);
  if (!f) return;
  // A partner that left is read where its resolution is frozen, not copied (an allocation per link).
  if (f->frozen) return take(*f->frozen);
  take(resolve(*f, path));
}

// Puts the span under `parent`, in the trace that `parent` ends up in, by `rule`.
void TraceAssembler::link_under(const std::string& parent, const char* rule, Resolution& r,
                                ResolvePath& path) const {
  follow(parent, r, path);
  r.parent_span_id = parent;
  r.rule = rule;
}

// ---- the SDK's clock -------------------------------------------------------------------------------

// An SDK's clock and the kernel's disagree by milliseconds (Node's performance.now() drifts from the
// wall clock; containers run their own time). Once a join taught how far a process's SDK clock is off,
// its spans are compared on the kernel's clock within a millisecond; before, within a wide bound.
TraceAssembler::AppTime TraceAssembler::app_time(const SpanFacts& app, bool learned_offset) const {
  // The estimate aligns the SDK's span end with the response's last write, which SDKs place a little
  // differently (Node after it, servlet filters before the flush): offsets within that spread are taken
  // as none, and comparisons keep that much slack.
  constexpr std::int64_t kAlignmentSpreadNs = 2'000'000;
  constexpr std::uint64_t kUnsyncedSlackNs = 25'000'000;
  auto it = clock_offsets_.find(app.resource_key);
  if (!learned_offset || it == clock_offsets_.end() || !it->second.known())
    return {app.start_ns, app.end_ns, kUnsyncedSlackNs};
  std::int64_t offset = it->second.estimate();
  if (offset > -kAlignmentSpreadNs && offset < kAlignmentSpreadNs) offset = 0;
  return {static_cast<std::uint64_t>(static_cast<std::int64_t>(app.start_ns) - offset),
          static_cast<std::uint64_t>(static_cast<std::int64_t>(app.end_ns) - offset),
          static_cast<std::uint64_t>(kAlignmentSpreadNs)};
}

// ---- process identity ------------------------------------------------------------------------------

bool TraceAssembler::same_process(const SpanFacts& app, const SpanFacts& sys) const {
  // process.pid from an SDK is the pid in its own PID namespace; the probes saw the host pid and read the
  // namespaced one from /proc (NSpid) when the process first showed up.
  if (app.pid != 0) return sys.ns_pid == app.pid;
  auto it = pids_by_resource_.find(app.resource_key);
  return it != pids_by_resource_.end() && it->second.contains(sys.pid);
}

bool TraceAssembler::app_process_known(const SpanFacts& app) const {
  return app.pid != 0 || pids_by_resource_.contains(app.resource_key);
}

bool TraceAssembler::thread_multiplexes(const SpanFacts& server) const {
  return server.thread_id != 0 &&
         multiplexing_threads_.contains((static_cast<std::uint64_t>(server.pid) << 32) ^
                                        static_cast<std::uint32_t>(server.thread_id));
}

bool TraceAssembler::trace_settled(const std::string& span_id) const {
  // Walk up through the SDK's spans: the trace is complete here once its local root (no parent) or a sys
  // span is reached. A parent not seen yet is an SDK span still on its way (the root ends last, so it is
  // exported last), and its arrival may move the whole trace.
  const std::string* id = &span_id;
  for (std::size_t step = 0; step < kMaxChain; ++step) {
    if (id->empty()) return true;
    const auto* f = facts_of(*id);
    if (!f) return false;
    if (f->source != SpanSource::kApp) return true;
    id = &f->parent_span_id;
  }
  return true;
}

bool TraceAssembler::app_may_claim(const SpanFacts& sys_span) const {
  // A process known to run an SDK may still send the span of this call. A server process not yet known
  // either way may too, until it has served long enough without any SDK span joining it. Processes that
  // only ever made calls (curl, a load generator) are not waited for: an SDK process without a server
  // span shows itself by its process.pid, or not at all.
  if (service_by_pid_.contains(sys_span.pid)) return true;
  auto it = server_pids_first_seen_.find(sys_span.pid);
  return it != server_pids_first_seen_.end() && now_ - it->second < wait_budget(sys_span, now_);
}

// ---- partner lookups -------------------------------------------------------------------------------

const SpanFacts* TraceAssembler::thread_linked_server(const SpanFacts& client) const {
  if (client.syscall_trace_id == 0) return nullptr;
  auto s = sys_server_by_thread_link_.find(thread_link_key(client.pid, client.syscall_trace_id));
  return s == sys_server_by_thread_link_.end() ? nullptr : facts_of_key(s->second);
}

std::vector<const SpanFacts*> TraceAssembler::net_path(std::uint64_t tcp_hash) const {
  std::vector<const SpanFacts*> path;
  if (auto it = net_by_tcp_.find(tcp_hash); it != net_by_tcp_.end())
    for (const auto& id : it->second)
      if (const auto* f = facts_of(id)) path.push_back(f);
  std::sort(path.begin(), path.end(), [](const SpanFacts* a, const SpanFacts* b) {
    return a->path_rank != b->path_rank ? a->path_rank < b->path_rank : a->start_ns < b->start_ns;
  });
  return path;
}

// The request an app SERVER span was made from, as the probes saw it, must agree with the span on
// everything both recorded: method, target, the connection's far end, the pod, the process and the time.
namespace {
bool request_agrees(const SpanFacts& app, const AppTime& t, const SpanFacts& sys) {
  if (!app.method.empty() && !sys.method.empty() && app.method != sys.method) return false;
  if (!app.target.empty() && !sys.target.empty() && app.target != sys.target) return false;
  if (!app.peer_address.empty() && !sys.peer_address.empty() && app.peer_address != sys.peer_address)
    return false;
  if (app.peer_port && sys.peer_port && app.peer_port != sys.peer_port) return false;
  // The SDK starts its span after the request was read and may end it after the answer was written (Node
  // ends it on 'finish'), so the app span must start inside the sys span, not end inside it.
  return sys.start_ns <= t.start + t.slack && t.start <= sys.end_ns + t.slack;
}

// A pod address the SDK's resource names (k8s.pod.ip, app.host.ip) must be the local address of the
// sys span's socket, unless that socket is on loopback (every pod has its own 127.0.0.1).
bool scope_agrees(const SpanFacts& app, const SpanFacts& sys) {
  if (app.scope_address.empty() || sys.local_address.empty()) return true;
  if (sys.local_address.starts_with("127.") || sys.local_address == "::1") return true;
  return app.scope_address == sys.local_address;
}
}  // namespace

// The one sys SERVER span among `candidates` that fits; several that fit equally are no answer.
// Fitting equally: after the hard checks, the span whose time encloses the app span's start without the
// clock slack beats those that need it.
const SpanFacts* TraceAssembler::sys_server_by_header(const SpanFacts& app) const {
  auto it = sys_servers_by_header_.find(header_key(app.trace_id, app.parent_span_id));
  if (it == sys_servers_by_header_.end()) return nullptr;
  // Several may have read the same header (a proxy forwards it): the same process decides, else the one
  // the request agrees with, else the innermost one enclosing the span.
  const SpanFacts* best = nullptr;
  std::size_t agreeing = 0;
  const SpanFacts* agreeing_one = nullptr;
  const auto t = app_time(app);
  for (const auto& id : it->second) {
    const auto* s = facts_of(id);
    if (!s) continue;
    if (app_process_known(app) && same_process(app, *s)) return s;
    if (request_agrees(app, t, *s) && (!app.target.empty() || !app.peer_address.empty())) {
      ++agreeing;
      agreeing_one = s;
    }
    if (s->start_ns <= t.start && s->end_ns >= t.end && (!best || s->start_ns > best->start_ns)) best = s;
  }
  if (agreeing == 1) return agreeing_one;
  return app_process_known(app) ? nullptr : best;
}

namespace {
// Among candidates that passed every check, the one whose time holds the SDK span's start without the
// clock slack wins over those that need it; two of the same standing are no answer.
struct Candidates {
  const SpanFacts* strict = nullptr;
  const SpanFacts* slack = nullptr;
  int strict_count = 0, slack_count = 0;
  void add(const SpanFacts* s, bool strictly) {
    ++slack_count;
    slack = s;
    if (strictly) {
      ++strict_count;
      strict = s;
    }
  }
  PartnerMatch best() const {
    if (slack_count == 1) return {slack, false};
    if (strict_count == 1) return {strict, false};
    return {nullptr, slack_count > 1};
  }
};
}  // namespace

TraceAssembler::Match TraceAssembler::sys_server_by_connection(const SpanFacts& app,
                                                               bool learned_offset) const {
  Candidates found;
  const auto t = app_time(app, learned_offset);
  auto consider = [&](std::uint64_t span) {
    const auto* s = facts_of_key(span);
    if (!s || !request_agrees(app, t, *s) || !scope_agrees(app, *s)) return;
    if (app_process_known(app) && !same_process(app, *s)) return;
    found.add(s, s->start_ns <= t.start && t.start <= s->end_ns);
  };
  const auto latest_start = t.start + t.slack;
  if (!app.peer_address.empty() && app.peer_port)
    sys_servers_by_connection_.started_before(connection_key(app.peer_address, app.peer_port),
                                              latest_start, consider);
  else if (!app.method.empty() && !app.target.empty())
    // Without the connection, method and target are the request's only identity; uniqueness decides.
    sys_servers_by_request_.started_before(request_key(app.method, app.target), latest_start, consider);
  // The connection (or the request) is the identity here and time only a check: when the learned offset
  // shuts every candidate out, the offset is what is wrong (a clock step, a bad early estimate), so look
  // again as if it were unknown. The join that look finds corrects the estimate.
  if (learned_offset && found.slack_count == 0 && t.slack != app_time(app, false).slack)
    return sys_server_by_connection(app, false);
  return found.best();
}

TraceAssembler::Match TraceAssembler::sys_server_by_pid(const SpanFacts& app) const {
  // Only for a root span with process.pid: the request came without trace context, the SDK started a
  // trace, and nothing identifies the request but the process, the time and what the span names. The
  // same namespaced pid in several PID namespaces, or several requests of the process at that time,
  // cannot be told apart.
  if (app.pid == 0) return {};
  Candidates found;
  const auto t = app_time(app);
  sys_servers_by_ns_pid_.started_before(app.pid, t.start + t.slack, [&](std::uint64_t span) {
    const auto* s = facts_of_key(span);
    if (!s || t.start > s->end_ns + t.slack || !scope_agrees(app, *s)) return;
    if (!app.method.empty() && !s->method.empty() && app.method != s->method) return;
    if (!app.target.empty() && !s->target.empty() && app.target != s->target) return;
    found.add(s, s->start_ns <= t.start && t.start <= s->end_ns);
  });
  return found.best();
}

const SpanFacts* TraceAssembler::app_server_partner(const SpanFacts& app) const {
  if (const auto* s = sys_server_by_header(app)) return s;
  if (const auto m = sys_server_by_connection(app); m.span || m.ambiguous) return m.span;
  if (app.parent_span_id.empty()) return sys_server_by_pid(app).span;
  return nullptr;
}

// The SDK's CLIENT span for the same call as a sys CLIENT span that carried no trace context (database
// and cache calls): the same process, the same statement (or method and target), the same server port,
// and the SDK's span around the kernel's call.
TraceAssembler::Match TraceAssembler::app_client_for(const SpanFacts& call) const {
  if (call.call_key.empty()) return {};
  auto it = app_clients_by_call_.find(call.call_key);
  if (it == app_clients_by_call_.end()) return {};
  // An SDK that makes an HTTP or gRPC call injects its context, so a sys CLIENT span without one comes
  // from a process the SDK's span is not from, unless that process is known to be the SDK's.
  const bool http = call.call_key.starts_with("http|") || call.call_key.starts_with("rpc|");
  auto may_be_its = [&](const SpanFacts& app, const SpanFacts& sys) {
    if (app.server_port && sys.server_port && app.server_port != sys.server_port) return false;
    // An SDK process not yet known by pid may be any process: then only uniqueness decides.
    return app_process_known(app) ? same_process(app, sys) : !http;
  };
  Candidates found;
  for (const auto& id : it->second) {
    const auto* app = facts_of(id);
    if (!app || !may_be_its(*app, call)) continue;
    const auto t = app_time(*app);
    if (!overlaps(t, call)) continue;
    found.add(app, encloses(t, call));
  }
  // The call (process, statement or command and key, server port) is the identity and time only a check:
  // when the learned clock offset shuts every SDK span out, the offset is what is wrong (it drifted or
  // stepped), so look again as if it were unknown. Not at an SDK span that another call of the same kind
  // fits on the learned clock: that one is the other call's.
  if (found.slack_count == 0) {
    auto others = sys_clients_by_call_.find(call.call_key);
    auto fits_another = [&](const SpanFacts& app) {
      if (others == sys_clients_by_call_.end()) return false;
      const auto t = app_time(app);
      for (const auto& other_id : others->second) {
        const auto* other = facts_of(other_id);
        if (other && other->span_id != call.span_id && may_be_its(app, *other) && overlaps(t, *other))
          return true;
      }
      return false;
    };
    for (const auto& id : it->second) {
      const auto* app = facts_of(id);
      if (!app || !may_be_its(*app, call)) continue;
      const auto t = app_time(*app, false);
      if (!overlaps(t, call) || fits_another(*app)) continue;
      found.add(app, encloses(t, call));
    }
  }
  // The SDK span enclosing the call exactly beats those that need the slack.
  if (found.strict_count == 1) return {found.strict, false};
  return found.best();
}

// The innermost app span of the calling process that encloses an outbound call, within the trace of the
// request the thread was serving.
const SpanFacts* TraceAssembler::innermost_app_span(const SpanFacts& server, const SpanFacts& call,
                                                    ResolvePath& path) const {
  // App spans are indexed by the trace they came with: the header's (the sys SERVER span's own), which a
  // trace join may since have moved.
  std::vector<std::string> app_ids;
  const auto moved = final_of(server.span_id, path).trace_id;
  for (const auto& trace : {server.trace_id, moved})
    if (auto it = app_spans_by_trace_.find(trace.lookup_key()); it != app_spans_by_trace_.end())
      app_ids.insert(app_ids.end(), it->second.begin(), it->second.end());
  // Which app spans are the calling process's: by process.pid, else by the resource of the app SERVER
  // span that joined this sys SERVER span.
  std::string resource;
  for (const auto& id : app_ids) {
    const auto* app = facts_of(id);
    if (app && app->kind == otlp::Span::SPAN_KIND_SERVER && app_server_partner(*app) == &server)
      resource = app->resource_key;
  }
  const std::uint64_t call_ns = call.end_ns > call.start_ns ? call.end_ns - call.start_ns : 0;
  const SpanFacts* best = nullptr;
  const SpanFacts* same_operation = nullptr;
  std::uint64_t same_operation_distance = 0;
  for (const auto& id : app_ids) {
    const auto* app = facts_of(id);
    if (!app) continue;
    const bool mine =
        app->pid != 0 ? same_process(*app, call) : (!resource.empty() && app->resource_key == resource);
    if (!mine) continue;
    const auto t = app_time(*app);
    const std::uint64_t overlap_start = std::max(t.start, call.start_ns);
    const std::uint64_t overlap_end = std::min(t.end, call.end_ns);
    const std::uint64_t overlap = overlap_end > overlap_start ? overlap_end - overlap_start : 0;
    // An app CLIENT span for the same operation (the SDK's view of this very call) is the parent when its
    // time touches the call at all; the SDK's and the kernel's clocks differ too much to rank short calls.
    if (app->kind == otlp::Span::SPAN_KIND_CLIENT && !call.operation.empty() &&
        app->operation == call.operation && overlaps(t, call)) {
      const std::uint64_t distance =
          t.start > call.start_ns ? t.start - call.start_ns : call.start_ns - t.start;
      if (!same_operation || distance < same_operation_distance) {
        same_operation = app;
        same_operation_distance = distance;
      }
    }
    if (call_ns == 0 ? (t.start > call.start_ns || t.end < call.end_ns) : overlap * 2 < call_ns) continue;
    // Otherwise the innermost span (latest start, then shortest) that covers most of the call.
    if (!best || app->start_ns > best->start_ns ||
        (app->start_ns == best->start_ns && app->end_ns < best->end_ns)) {
      best = app;
    }
  }
  return same_operation ? same_operation : best;
}

// ---- the rules -------------------------------------------------------------------------------------

// link_tcp: the client end of the same TCP exchange is the parent of the server end, whatever the
// addresses say (NAT, Service load balancing, tunnels); the net spans seen on the way sit in between.
// A DNS query over UDP is one exchange the same way, named by its id, client port and question; its
// links carry the dns_ names.
namespace {
const char* exchange_rule(const SpanFacts& f, const char* tcp_rule, const char* dns_rule) {
  return f.dns_exchange ? dns_rule : tcp_rule;
}
}  // namespace

void TraceAssembler::link_tcp_sys_server(const SpanFacts& f, Resolution& r, ResolvePath& path) const {
  if (!f.has_exchange()) return;
  const auto net = net_path(f.tcp_hash);
  const auto c = sys_client_by_tcp_.find(f.tcp_hash);
  const SpanFacts* client =
      c != sys_client_by_tcp_.end() && c->second != span_key(f.span_id) ? facts_of_key(c->second) : nullptr;
  if (!net.empty()) {
    if (client) follow(client->span_id, r, path);
    r.parent_span_id = net.back()->span_id;
    r.rule = exchange_rule(f, "tcp_sys_server_under_net_span", "dns_sys_server_under_net_span");
  } else if (client) {
    link_under(client->span_id,
               exchange_rule(f, "tcp_sys_server_under_sys_client", "dns_sys_server_under_sys_client"), r,
               path);
  }
}

void TraceAssembler::link_tcp_net_span(const SpanFacts& f, Resolution& r, ResolvePath& path) const {
  if (!f.has_exchange()) return;
  const auto net = net_path(f.tcp_hash);
  const auto c = sys_client_by_tcp_.find(f.tcp_hash);
  const SpanFacts* client = c == sys_client_by_tcp_.end() ? nullptr : facts_of_key(c->second);
  const auto self = std::find(net.begin(), net.end(), &f);
  if (self != net.end() && self != net.begin()) {
    r.parent_span_id = (*std::prev(self))->span_id;
    r.rule = exchange_rule(f, "tcp_net_span_under_net_span", "dns_net_span_under_net_span");
  } else if (client) {
    r.parent_span_id = client->span_id;
    r.rule = exchange_rule(f, "tcp_net_span_under_sys_client", "dns_net_span_under_sys_client");
  }
  if (client) {
    follow(client->span_id, r, path);
  } else if (!net.empty()) {
    r.trace_id = net.front()->trace_id;  // no client end seen: the path's first capture names the trace
    if (!r.rule && r.trace_id != f.trace_id) r.rule = exchange_rule(f, "tcp_net_path", "dns_net_path");
  }
}

void TraceAssembler::link_sys_client(const SpanFacts& f, Resolution& r, ResolvePath& path) const {
  const SpanFacts* server = thread_linked_server(f);
  if (f.has_context) {
    // A proxy forwards the header it read: then the call belongs under the request it is serving.
    if (server && server->has_context && server->trace_id == f.trace_id &&
        server->parent_span_id == f.parent_span_id)
      link_under(server->span_id, "proxy_sys_client_under_sys_server", r, path);
    return;
  }
  // sys_client_under_app_client: the SDK's span of this very call (a database or cache client span).
  const auto claimed = app_client_for(f);
  if (claimed.ambiguous) r.ambiguous = "app_client";
  if (claimed.span) return link_under(claimed.span->span_id, "sys_client_under_app_client", r, path);
  // An SDK span for this call may be on its way.
  const bool may_be_claimed = app_may_claim(f);
  r.provisional |= may_be_claimed;
  if (!server) {
    r.incomplete = f.syscall_trace_id != 0;  // its request has not arrived yet
    return;
  }
  // link_thread: no context of its own, so the inbound request the same thread was serving. A thread that
  // serves several requests at once (an event loop) hands its link to whichever came last: not trusted.
  if (thread_multiplexes(*server)) {
    if (!r.ambiguous) r.ambiguous = "thread";
    return;
  }
  follow(server->span_id, r, path);
  if (const auto* app = innermost_app_span(*server, f, path)) {
    r.parent_span_id = app->span_id;
    r.rule = "thread_under_app_span";
  } else {
    r.parent_span_id = server->span_id;
    r.rule = "thread_under_sys_server";
  }
}

void TraceAssembler::link_app_server(const SpanFacts& f, Resolution& r, ResolvePath& path) const {
  const SpanFacts* server = sys_server_by_header(f);
  const char* rule = "app_server_under_sys_server";
  if (!server) {
    const auto m = sys_server_by_connection(f);
    server = m.span;
    rule = "app_server_by_connection";
    if (m.ambiguous) {
      r.ambiguous = "connection";
      return;  // the pid rule knows less than the connection: it must not pick one of the same candidates
    }
  }
  if (!server && f.parent_span_id.empty()) {
    const auto m = sys_server_by_pid(f);
    server = m.span;
    rule = "app_root_under_sys_server";
    if (m.ambiguous) r.ambiguous = "pid";
  }
  if (server) link_under(server->span_id, rule, r, path);
}

// A trace whose root app SERVER span moved under a sys SERVER span moves with it: every other span of
// that trace (the SDK's children, the calls carrying its context) joins the same trace.
void TraceAssembler::join_moved_trace(const SpanFacts& f, Resolution& r, ResolvePath& path) const {
  auto root = app_roots_by_trace_.find(r.trace_id.lookup_key());
  if (root == app_roots_by_trace_.end() || root->second == f.span_id) return;
  const auto* root_facts = facts_of(root->second);
  if (!root_facts) return;
  const Resolution moved = resolve(*root_facts, path);
  r.provisional |= moved.provisional;
  r.incomplete |= moved.incomplete;
  if (moved.rule && !moved.trace_id.empty() && moved.trace_id != r.trace_id) {
    r.trace_id = moved.trace_id;
    if (!r.rule) r.rule = "trace_joined";
  }
}

TraceAssembler::Resolution TraceAssembler::resolve(const SpanFacts& f, ResolvePath& path) const {
  if (f.frozen) return *f.frozen;
  Resolution r{f.trace_id, f.parent_span_id, nullptr, false, false, nullptr};
  // Any graph of links may come in, cycles included: a span already on the path resolves as itself.
  if (path.contains(f.span_id) || path.size >= kMaxChain) return r;
  path.spans[path.size++] = &f.span_id;
  if (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_SERVER)
    link_tcp_sys_server(f, r, path);
  else if (f.source == SpanSource::kNet)
    link_tcp_net_span(f, r, path);
  else if (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT)
    link_sys_client(f, r, path);
  else if (f.source == SpanSource::kApp && f.kind == otlp::Span::SPAN_KIND_SERVER &&
           options_.reparent_app_server_spans)
    link_app_server(f, r, path);
  // An SDK's span, or a sys span carrying its context, belongs to a trace that the SDK's root span may
  // still move: wait for the root while it may come.
  if ((f.source == SpanSource::kApp || f.has_context) && !trace_settled(f.parent_span_id))
    r.provisional = true;
  join_moved_trace(f, r, path);
  --path.size;
  return r;
}

// ---- gateway routing (docs/gateway.md) ---------------------------------------------------------------

const SpanFacts* TraceAssembler::topmost_local(const SpanFacts& f) const {
  const SpanFacts* current = &f;
  for (std::size_t step = 0; step < kMaxChain; ++step) {
    ResolvePath path;
    const Resolution r = final_of(current->span_id, path);
    if (r.parent_span_id.empty()) return current;
    const SpanFacts* parent = facts_of(r.parent_span_id);
    if (!parent) return nullptr;
    current = parent;
  }
  return nullptr;
}

void TraceAssembler::mark_for_gateway(otlp::Span& span, const SpanFacts& f) const {
  // The client end of a call (the sys CLIENT span, or a net span of the call) whose server end is not on
  // this node: a copy goes to the gateway, for the server end's agent's spans to be linked under.
  const bool client_side = f.source == SpanSource::kNet ||
                           (f.source == SpanSource::kSys && f.kind == otlp::Span::SPAN_KIND_CLIENT);
  if (f.has_exchange() && client_side && !sys_server_by_tcp_.contains(f.tcp_hash))
    set_span_attribute(span, attr::kGatewayReference, f.exchange_text());
  // Under a server end (or its net spans) whose client end is not here and that nothing else links: the
  // whole local subtree goes to the gateway of that call, where its trace id is decided.
  const SpanFacts* top = topmost_local(f);
  if (!top || !top->has_exchange()) return;
  const bool server_side = top->source == SpanSource::kNet ||
                           (top->source == SpanSource::kSys && top->kind == otlp::Span::SPAN_KIND_SERVER);
  if (server_side && !sys_client_by_tcp_.contains(top->tcp_hash))
    set_span_attribute(span, attr::kGatewayKey, top->exchange_text());
}

}  // namespace otelbpf
