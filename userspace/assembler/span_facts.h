#pragma once
// What the link rules need to know of a span (docs/linking.md), read once when the span enters the
// assembler and kept a while after the span itself has left, so that late partners still find it.
// The SDK side speaks both the old and the new HTTP/database semantic conventions; both are folded into
// the same fields here, so the rules never look at attribute names.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <absl/hash/hash.h>

#include "common/trace_id_bytes.h"
#include "model/span_batch.h"

namespace otelbpf {

inline constexpr const char* kSpanSourceAttribute = "otelbpf.span.source";

// Where the link rules put a span (TraceAssembler::resolve): its trace, its parent, and which rule
// decided. `provisional`: the answer may still change when an SDK's spans arrive (the span should wait
// for them if it can).
struct LinkResolution {
  TraceIdBytes trace_id;
  std::string parent_span_id;
  const char* rule = nullptr;  // nullptr: unchanged
  bool provisional = false;
  // A partner from the probes is still expected (the request a thread-linked call belongs to ends, and
  // so arrives, after the call): the answer will change when it comes, so the span may not leave early.
  bool incomplete = false;
  const char* ambiguous = nullptr;  // a rule that found several partners fitting equally, so made no link
};

struct SpanFacts {
  TraceIdBytes trace_id;
  std::string span_id;
  std::string parent_span_id;
  SpanSource source = SpanSource::kApp;
  int kind = 0;
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  // sys spans: the host pid the probes saw, and the pid inside the process's own PID namespace (equal to
  // pid in the host namespace). App spans: process.pid as the SDK reported it, i.e. the namespaced pid.
  std::int64_t pid = 0;
  std::int64_t ns_pid = 0;
  std::uint64_t pid_namespace = 0;  // sys spans: inode of the PID namespace (0: unknown)
  std::int64_t thread_id = 0;       // sys spans: the thread that read the request
  std::string service;
  // App spans: what identifies the process that sent them (service and instance attributes of the
  // resource), so that what one of its spans teaches about its host pid serves the others.
  std::string resource_key;
  // App spans: the pod or host address the resource names (k8s.pod.ip, app.host.ip), if any.
  std::string scope_address;
  bool has_context = false;  // sys span whose ids came from the request's trace context
  // The thread link the probes gave the span (0: none). Numbers from this node's tracer; another
  // agent's text is read as the number it is (any other text as its hash, so equal texts still match).
  std::uint64_t syscall_trace_id = 0;
  // The exchange of a sys or net span: a TCP one by its request's and response's sequence numbers, else a
  // DNS query over UDP by dns_key (id, client port, question). tcp_hash is its key in the indexes. Numbers,
  // not text: "req_seq/resp_seq" was an allocation per span, made only for the gateway (exchange_text).
  std::int64_t req_seq = 0, resp_seq = 0;
  std::string dns_key;
  std::uint64_t tcp_hash = 0;  // exchange_key_hash; 0: no exchange
  bool dns_exchange = false;   // a DNS query over UDP (dns_key)
  bool has_exchange() const { return tcp_hash != 0; }
  // "req_seq/resp_seq" or the DNS key: how the gateway's attributes name the exchange.
  std::string exchange_text() const;
  int path_rank = 0;      // net spans: position of the capture point on the path (client pod NIC first)
  std::string operation;  // first word of the name, upper-cased ("SELECT", "GET", "INCR")

  // The connection and request as each side recorded them (empty / 0 when not recorded).
  std::string peer_address;  // the other end of the connection (normalised: no ::ffff: prefix)
  std::uint32_t peer_port = 0;
  std::uint32_t local_port = 0;   // this end's socket port
  std::string local_address;      // sys spans and app SERVER spans: this end's socket address
  std::uint32_t server_port = 0;  // server.port / net.peer.port of a client call
  std::string method;             // HTTP method, upper-cased
  std::string target;             // path?query of an HTTP request
  std::string call_key;           // client calls: "sql|<statement without literals>", "redis|GET key", ...
  // operation, method, target, server_port and call_key have been read. Only links to SDK spans use them,
  // so the assembler reads them of a compact sys span only where an SDK span may come
  // (TraceAssembler::wants_request_facts): they were a quarter of its time.
  bool request_facts_read = false;

  std::chrono::steady_clock::time_point seen;
  std::uint64_t batch = 0;     // the assembler's sequence number of the batch holding the span
  bool pair_complete = false;  // sys span whose TCP partner (the other end, on this node) has arrived
  // Once a span has left, its links are frozen so that later children agree with what was exported.
  bool emitted = false;
  bool counted_as_late = false;  // one of its process's kMaxLateFactsOfUnknownProcess (TraceAssembler)
  bool sampled = false;          // settled as it left and kept as a sample (in sampled_fact_order_ already)
  bool in_app_indexes = false;   // a sys SERVER span in the indexes SDK spans search (TraceAssembler)
  // The resolution it left with: frozen, so that later children agree with what was exported. Kept in
  // the fact, whose lifetime it shares, rather than in a map of its own (an insert, a lookup per resolve
  // and an erase per span: ~8 % of the assembler).
  std::optional<LinkResolution> frozen;
};

// The keys of the assembler's indexes, built alike where spans are indexed and where they are looked up:
// 64-bit hashes of the fields rather than strings made of them (a server span's three were built, hashed
// and compared as it was indexed and again as it was forgotten: ~4 % of the assembler). Two different
// keys share a hash with a probability of 2^-64.
inline std::uint64_t thread_link_key(std::int64_t pid, std::uint64_t syscall_trace_id) {
  return absl::Hash<std::tuple<std::int64_t, std::uint64_t>>{}({pid, syscall_trace_id});
}
inline std::uint64_t connection_key(std::string_view peer_address, std::uint32_t peer_port) {
  return absl::Hash<std::tuple<std::string_view, std::uint32_t>>{}({peer_address, peer_port});
}
// Never 0, which means no exchange.
inline std::uint64_t exchange_key_hash(std::int64_t req_seq, std::int64_t resp_seq) {
  return absl::Hash<std::pair<std::int64_t, std::int64_t>>{}({req_seq, resp_seq}) | 1;
}
inline std::uint64_t exchange_key_hash(std::string_view dns_key) {
  return absl::Hash<std::string_view>{}(dns_key) | 1;
}
inline std::uint64_t request_key(std::string_view method, std::string_view target) {
  return absl::Hash<std::tuple<std::string_view, std::string_view>>{}({method, target});
}
// A sys span read from a request's trace context names the SDK span that sent it.
inline std::string header_key(std::string_view trace_id, std::string_view parent_span_id) {
  std::string key;
  key.reserve(trace_id.size() + parent_span_id.size());
  return key.append(trace_id).append(parent_span_id);
}

// Reads the facts of one span. `resource` is the span's resource, `source` what its batch says.
SpanFacts facts_of_span(const otlp::Span& span, const otlp::Resource& resource, SpanSource source);

// The facts of a compact sys span: those of the OTLP span it is exported as (spans/sys_span_export.h).
// What the group's resource says is read once per group (sys_group_facts) by callers that read many.
struct SysGroupFacts {
  std::string service;
  std::int64_t ns_pid = 0;
  std::uint64_t pid_namespace = 0;
};
SysGroupFacts sys_group_facts(const SysSpanGroup& group);
SpanFacts facts_of_sys_span(const SysSpanGroup& group, const SysSpan& span);
SpanFacts facts_of_sys_span(const SysGroupFacts& group_facts, const SysSpanGroup& group, const SysSpan& span);
// The same, read into a default-constructed fact where it is to stay (the assembler's node), in two
// parts: read_sys_span_facts reads all but the request facts (what SDK links use: operation, method,
// target, server port, call key), which read_sys_request_facts adds (request_facts_read).
void read_sys_span_facts(SpanFacts& f, const SysGroupFacts& group_facts, const SysSpanGroup& group,
                         const SysSpan& span);
void read_sys_request_facts(SpanFacts& f, const SysSpanGroup& group, const SysSpan& span);

// The source a span names itself (otelbpf.span.source), if any.
std::optional<SpanSource> claimed_source(const otlp::Span& span);

// "::ffff:10.0.0.1" -> "10.0.0.1": Node reports IPv4 peers of a dual-stack socket in mapped form.
std::string normalise_address(std::string_view address);

// The statement of a database client call reduced to what both the SDK and the probes can see of it:
// literals replaced as the probes' obfuscation does, whitespace folded, cut at a fixed length (the probes'
// capture may be cut short). Redis: the command and its key.
std::string sql_call_key(std::string_view statement, bool postgres);
std::string redis_call_key(std::string_view statement);

}  // namespace otelbpf
