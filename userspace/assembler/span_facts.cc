#include "assembler/span_facts.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>

#include "protocols/common/obfuscate.h"
#include "protocols/common/redact.h"
#include "spans/sys_span_export.h"

namespace otelbpf {
namespace {

// The link rules read attributes from two kinds of span: OTLP spans (SDK spans, and spans of other agents)
// and the tracer's compact sys spans. Each has a find() and a value type with string_of / int_of; the
// helpers below are written once for both.
using Attributes = google::protobuf::RepeatedPtrField<otlp::KeyValue>;

const otlp::AnyValue* find(const Attributes& attributes, std::string_view key) {
  for (const auto& kv : attributes)
    if (kv.key() == key) return &kv.value();
  return nullptr;
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
  if (v->has_double_value()) return static_cast<std::int64_t>(v->double_value());
  return 0;
}

// A compact sys span's attributes, as exported (spans/sys_span_export.h).
struct SysAttributes {
  const SysSpanGroup& group;
  const SysSpan& span;
  std::uint64_t record_name_lengths = sys_record_name_lengths(span);
};
using SysValue = std::optional<l7::AttributeValue>;

SysValue find(const SysAttributes& a, std::string_view key) {
  return find_sys_attribute(a.group, a.span, key, a.record_name_lengths);
}

std::string string_of(const SysValue& v) {
  if (!v) return {};
  if (const auto* s = std::get_if<std::string>(&*v)) return *s;
  if (const auto* i = std::get_if<std::int64_t>(&*v)) return std::to_string(*i);
  return {};
}

std::int64_t int_of(const SysValue& v) {
  if (!v) return 0;
  if (const auto* i = std::get_if<std::int64_t>(&*v)) return *i;
  if (const auto* s = std::get_if<std::string>(&*v)) return std::strtoll(s->c_str(), nullptr, 10);
  if (const auto* d = std::get_if<double>(&*v)) return static_cast<std::int64_t>(*d);
  return 0;
}

// The first of several attribute names that is present (span attributes first, then the resource's).
template <class A>
std::string first_string(const A& attributes, std::initializer_list<std::string_view> keys) {
  for (auto key : keys)
    if (const auto v = find(attributes, key)) {
      auto s = string_of(v);
      if (!s.empty()) return s;
    }
  return {};
}

template <class A>
std::uint32_t first_port(const A& attributes, std::initializer_list<std::string_view> keys) {
  for (auto key : keys)
    if (const auto v = find(attributes, key)) {
      const auto port = int_of(v);
      if (port > 0 && port < 65536) return static_cast<std::uint32_t>(port);
    }
  return 0;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// path?query from whichever convention the span speaks: http.target (old), url.path + url.query (new),
// else the path of http.url / url.full. The query as the probes export it: values redacted (the same
// redaction on both sides, idempotent on the probes' already redacted text).
std::string with_query(std::string path, std::string_view query) {
  if (query.empty()) return path;
  return path + "?" + l7::redact_url_query(query);
}

template <class A>
std::string request_target(const A& a) {
  if (auto target = first_string(a, {"http.target"}); !target.empty()) {
    const auto q = target.find('?');
    return q == std::string::npos ? target
                                  : with_query(target.substr(0, q), std::string_view(target).substr(q + 1));
  }
  if (auto path = first_string(a, {"url.path"}); !path.empty())
    return with_query(path, first_string(a, {"url.query"}));
  auto url = first_string(a, {"url.full", "http.url"});
  if (url.empty()) return {};
  const auto scheme = url.find("://");
  const auto path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos) return "/";
  auto target = url.substr(path);
  if (auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  const auto q = target.find('?');
  return q == std::string::npos ? target
                                : with_query(target.substr(0, q), std::string_view(target).substr(q + 1));
}

// What identifies the sending process among the OTLP resources: service and instance, host and pod.
std::string resource_key_of(const Attributes& r) {
  std::string key;
  for (auto name :
       {"service.name", "service.namespace", "service.instance.id", "host.name", "host.id", "k8s.pod.uid",
        "k8s.pod.name", "k8s.pod.ip", "app.host.ip", "container.id", "process.pid"}) {
    key += string_of(find(r, name));
    key += '\x1f';
  }
  return key;
}

template <class A>
std::string call_key_of(const A& a, SpanSource source, const std::string& method, const std::string& target) {
  std::string system = first_string(a, {"db.system.name", "db.system", "otelbpf.l7.protocol"});
  std::transform(system.begin(), system.end(), system.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto statement = first_string(a, {"db.query.text", "db.statement"});
  if (system == "redis") return statement.empty() ? std::string() : "redis|" + redis_call_key(statement);
  if (system == "mysql" || system == "mariadb" || system == "postgresql" || system == "postgres")
    return statement.empty() ? std::string()
                             : "sql|" + sql_call_key(statement, system.starts_with("postgres"));
  // gRPC: the probes read the :path from HPACK, the SDK names service and method alike.
  if (const auto service = first_string(a, {"rpc.service"}); !service.empty())
    return "rpc|" + service + "/" + first_string(a, {"rpc.method"});
  if (!method.empty() && !target.empty() && source != SpanSource::kNet)
    return "http|" + method + " " + target;
  return {};
}

// DNS over UDP has no sequence numbers: the query's id, the client's port and the question name one
// exchange at the client, at the resolver and at every capture point between them (a Service's DNAT
// changes the server's address, not these). Empty for anything else. The client's port is client.port
// (net spans, a resolver's span), or a client's own end (network.local.port: its sys span has no client.*).
template <class A>
std::string dns_exchange_key(const A& a, int kind) {
  if (first_string(a, {"network.transport"}) != "udp") return {};
  const auto id = find(a, "otelbpf.dns.id");
  auto client_port = first_port(a, {"client.port"});
  if (client_port == 0 && kind == otlp::Span::SPAN_KIND_CLIENT)
    client_port = first_port(a, {"network.local.port"});
  const auto question = first_string(a, {"dns.question.name"});
  if (!id || client_port == 0 || question.empty()) return {};
  return "dns/" + std::to_string(int_of(id)) + "/" + std::to_string(client_port) + "/" + question + "/" +
         first_string(a, {"otelbpf.dns.question.type"});
}

// Path order of capture points (docs/linking.md, "Capture points"), as the request crosses them: the
// client pod NIC, the client node's tunnel device (the packet is encapsulated there, before it leaves by
// the node NIC), the client node NIC, the server node NIC, the server node's tunnel device (decapsulated
// after the node NIC), the server pod NIC. "tunnel" (agents before the split into client-/server-tunnel)
// and loopback sit in the middle.
int path_rank(const std::string& tap_side) {
  static const std::pair<const char*, int> kOrder[] = {
      {"client-pod-nic", 0}, {"client-tunnel", 1}, {"client-node-nic", 2}, {"tunnel", 3},
      {"loopback", 3},       {"server-node-nic", 4}, {"server-tunnel", 5},  {"server-pod-nic", 6}};
  for (const auto& [side, rank] : kOrder)
    if (tap_side == side) return rank;
  return 3;
}

}  // namespace

std::string SpanFacts::exchange_text() const {
  if (dns_exchange) return dns_key;
  if (!has_exchange()) return {};
  return std::to_string(req_seq) + "/" + std::to_string(resp_seq);
}

std::optional<SpanSource> claimed_source(const otlp::Span& span) {
  if (const auto* v = find(span.attributes(), kSpanSourceAttribute)) {
    const auto& s = v->string_value();
    if (s == "sys") return SpanSource::kSys;
    if (s == "net") return SpanSource::kNet;
    if (s == "app") return SpanSource::kApp;
  }
  return std::nullopt;
}

std::string normalise_address(std::string_view address) {
  if (address.starts_with("::ffff:") && address.find('.') != std::string_view::npos) address.remove_prefix(7);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']')
    address = address.substr(1, address.size() - 2);
  return std::string(address);
}

std::string sql_call_key(std::string_view statement, bool postgres) {
  // The probes obfuscate (when switched on) before the span is built; doing it again on their text
  // changes nothing, and doing it on the SDK's raw text makes the two comparable.
  const auto obfuscated =
      l7::obfuscate_sql(statement, postgres ? l7::SqlDialect::kPostgres : l7::SqlDialect::kMysql);
  std::string key;
  key.reserve(std::min<std::size_t>(obfuscated.size(), 160));
  bool space = false;
  for (unsigned char c : obfuscated) {
    if (std::isspace(c)) {
      space = !key.empty();
      continue;
    }
    if (space) key += ' ';
    space = false;
    key += static_cast<char>(std::toupper(c));
    // The capture may cut a long statement; both sides agree on its beginning.
    if (key.size() >= 160) break;
  }
  while (!key.empty() && key.back() == ';') key.pop_back();
  return key;
}

std::string redis_call_key(std::string_view statement) {
  // "GET user:1" (probes) and "get user:1" (ioredis' serializer), "SET k ?" and "set k [1 other arguments]".
  std::string command, key;
  std::size_t i = 0;
  auto word = [&](std::string& out) {
    while (i < statement.size() && std::isspace(static_cast<unsigned char>(statement[i]))) ++i;
    while (i < statement.size() && !std::isspace(static_cast<unsigned char>(statement[i])))
      out += statement[i++];
  };
  word(command);
  word(key);
  if (key.starts_with('[') || key == "?") key.clear();
  return upper(command) + (key.empty() ? "" : " " + key);
}

namespace {

// What a span's name and HTTP request say.
template <class A>
void read_request_facts(SpanFacts& f, const A& a, std::string_view name) {
  f.operation = upper(std::string(name.substr(0, name.find(' '))));
  f.method = upper(first_string(a, {"http.request.method", "http.method"}));
  f.target = request_target(a);
}

// What every span's facts say of its name and kind, process and HTTP request (`f` has ids, kind, times).
template <class A>
void read_common_facts(SpanFacts& f, const A& a, const Attributes& r, std::string_view name) {
  const auto pid = find(a, "process.pid");
  f.pid = pid ? int_of(pid) : int_of(find(r, "process.pid"));
  f.service = string_of(find(r, "service.name"));
  read_request_facts(f, a, name);
}

// A probe span's TCP exchange, if it has both sequence numbers.
bool read_tcp_exchange(SpanFacts& f, std::int64_t req_seq, std::int64_t resp_seq) {
  if (req_seq == 0 || resp_seq == 0) return false;
  f.req_seq = req_seq;
  f.resp_seq = resp_seq;
  f.tcp_hash = exchange_key_hash(req_seq, resp_seq);
  return true;
}

// A DNS-over-UDP exchange's key, for a probe span without TCP sequence numbers.
template <class A>
void read_dns_exchange(SpanFacts& f, const A& a) {
  f.dns_key = dns_exchange_key(a, f.kind);
  f.dns_exchange = !f.dns_key.empty();
  if (f.dns_exchange) f.tcp_hash = exchange_key_hash(f.dns_key);
}

// A probe span's exchange: its TCP sequence numbers, else a DNS-over-UDP exchange's key.
template <class A>
void read_exchange_facts(SpanFacts& f, const A& a, std::int64_t req_seq, std::int64_t resp_seq) {
  if (!read_tcp_exchange(f, req_seq, resp_seq)) read_dns_exchange(f, a);
}

// A probe span's server port and, for a client call, its call key (`f` has method and target).
template <class A>
void read_call_facts(SpanFacts& f, const A& a, SpanSource source) {
  f.server_port = first_port(a, {"server.port"});
  if (f.kind == otlp::Span::SPAN_KIND_CLIENT) f.call_key = call_key_of(a, source, f.method, f.target);
}

// otelbpf.syscall_trace_id as a number: the decimal text the tracer exports, else (another sender's text)
// its hash, never 0 (no link).
std::uint64_t thread_link_id(const otlp::AnyValue* v) {
  if (!v) return 0;
  if (v->has_int_value()) return static_cast<std::uint64_t>(v->int_value());
  const std::string& text = v->string_value();
  if (text.empty()) return 0;
  std::uint64_t id = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (error == std::errc{} && end == text.data() + text.size()) return id;
  return absl::Hash<std::string_view>{}(text) | 1;
}

// The facts of a span the probes made (sys or net): its exchange, thread link and socket.
template <class A>
void read_probe_facts(SpanFacts& f, const A& a, const Attributes& r, SpanSource source) {
  read_exchange_facts(f, a, int_of(find(a, "otelbpf.tcp.req_seq")), int_of(find(a, "otelbpf.tcp.resp_seq")));
  if (source == SpanSource::kNet) f.path_rank = path_rank(first_string(a, {"otelbpf.tap.side"}));
  f.has_context = static_cast<bool>(find(a, "otelbpf.trace_context.source"));
  f.syscall_trace_id = thread_link_id(find(a, "otelbpf.syscall_trace_id"));
  f.ns_pid = int_of(find(r, "otelbpf.process.ns_pid"));
  if (f.ns_pid == 0) f.ns_pid = f.pid;
  f.pid_namespace = static_cast<std::uint64_t>(int_of(find(r, "otelbpf.process.pid_namespace")));
  f.thread_id = int_of(find(a, "thread.id"));
  f.peer_address = normalise_address(first_string(a, {"network.peer.address"}));
  f.peer_port = first_port(a, {"network.peer.port"});
  f.local_port = first_port(a, {"network.local.port"});
  f.local_address = normalise_address(first_string(a, {"network.local.address"}));
  read_call_facts(f, a, source);
}

}  // namespace

SpanFacts facts_of_span(const otlp::Span& span, const otlp::Resource& resource, SpanSource source) {
  const auto& a = span.attributes();
  const auto& r = resource.attributes();
  SpanFacts f;
  f.trace_id = span.trace_id();
  f.span_id = span.span_id();
  f.parent_span_id = span.parent_span_id();
  f.source = source;
  f.kind = span.kind();
  f.start_ns = span.start_time_unix_nano();
  f.end_ns = span.end_time_unix_nano();
  read_common_facts(f, a, r, span.name());
  f.request_facts_read = true;  // below, for probe spans too (read_call_facts)
  if (source != SpanSource::kApp) {
    read_probe_facts(f, a, r, source);
    return f;
  }
  f.ns_pid = f.pid;
  f.resource_key = resource_key_of(r);
  f.scope_address = normalise_address(first_string(r, {"k8s.pod.ip", "app.host.ip"}));
  // The connection as the SDK saw it. network.peer.* is the socket; client.address may come from
  // X-Forwarded-For, so it is used only when the socket's view is missing.
  f.peer_address =
      normalise_address(first_string(a, {"network.peer.address", "net.peer.ip", "net.sock.peer.addr"}));
  f.peer_port = first_port(a, {"network.peer.port", "net.peer.port", "net.sock.peer.port"});
  if (f.kind == otlp::Span::SPAN_KIND_SERVER) {
    if (f.peer_address.empty()) f.peer_address = normalise_address(first_string(a, {"client.address"}));
    if (f.peer_port == 0) f.peer_port = first_port(a, {"client.port"});
    f.local_port = first_port(a, {"network.local.port", "net.host.port", "net.sock.host.port"});
    f.local_address =
        normalise_address(first_string(a, {"network.local.address", "net.host.ip", "net.sock.host.addr"}));
  } else {
    // A client's peer is its server.
    f.server_port = first_port(a, {"server.port", "net.peer.port", "network.peer.port"});
    f.peer_address.clear();
    f.peer_port = 0;
  }
  if (f.kind == otlp::Span::SPAN_KIND_CLIENT) f.call_key = call_key_of(a, source, f.method, f.target);
  return f;
}

SysGroupFacts sys_group_facts(const SysSpanGroup& group) {
  const auto& r = group.resource.attributes();
  SysGroupFacts g;
  g.service = string_of(find(r, "service.name"));
  g.ns_pid = int_of(find(r, "otelbpf.process.ns_pid"));
  g.pid_namespace = static_cast<std::uint64_t>(int_of(find(r, "otelbpf.process.pid_namespace")));
  return g;
}

SpanFacts facts_of_sys_span(const SysSpanGroup& group, const SysSpan& span) {
  return facts_of_sys_span(sys_group_facts(group), group, span);
}

// What read_common_facts and read_probe_facts read of the exported attributes, taken from the span's
// fields where the tracer writes the attribute (the names no parser sets: process, thread, network.*,
// the sequence numbers, the thread link, the context's source; see find_sys_attribute), and looked up
// by name where a parser's record does. Looking every name up was a third of the assembler's time.
// compact_sys_span_test.cc checks that both give the facts of the OTLP span, field by field.
SpanFacts facts_of_sys_span(const SysGroupFacts& g, const SysSpanGroup& group, const SysSpan& span) {
  SpanFacts f;
  read_sys_span_facts(f, g, group, span);
  read_sys_request_facts(f, group, span);
  return f;
}

void read_sys_span_facts(SpanFacts& f, const SysGroupFacts& g, const SysSpanGroup& group,
                         const SysSpan& span) {
  const auto& record = span.record;
  f.trace_id = sys_span_trace_id(span);
  f.span_id = sys_span_id(span);
  f.parent_span_id = sys_span_parent_id(span);
  f.source = SpanSource::kSys;
  f.kind = sys_span_kind(span);
  f.start_ns = sys_span_start_unix_ns(span);
  f.end_ns = sys_span_end_unix_ns(span);
  // read_common_facts, but for its request facts (read_sys_request_facts)
  f.pid = group.pid;
  f.service = g.service;
  // read_probe_facts (the record's attributes are looked at only for a DNS exchange's key)
  if (!read_tcp_exchange(f, record.req_seq, record.resp_seq))
    read_dns_exchange(f, SysAttributes{group, span});
  f.has_context = record.context && record.context->ids_valid;
  f.syscall_trace_id = span.syscall_trace_id;
  f.ns_pid = g.ns_pid != 0 ? g.ns_pid : f.pid;
  f.pid_namespace = g.pid_namespace;
  f.thread_id = record.req_tid;
  if (span.has_socket) {
    // The tracer's socket addresses are inet_ntop text, ASCII: exported as they are.
    f.peer_address = normalise_address(span.peer_address);
    f.local_address = normalise_address(span.local_address);
    f.peer_port = span.peer_port;
    f.local_port = span.local_port;
  }
}

void read_sys_request_facts(SpanFacts& f, const SysSpanGroup& group, const SysSpan& span) {
  const SysAttributes a{group, span};
  read_request_facts(f, a, sys_span_name(span));
  read_call_facts(f, a, SpanSource::kSys);
  f.request_facts_read = true;
}

}  // namespace otelbpf
