// The tracer's compact sys spans (model/sys_span.h) in the assembler: the link rules read the same facts
// from a compact span as from the OTLP span it is exported as, every attribute read is the exported one,
// and both ends of an exchange link and leave as OTLP with their bytes accounted for.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include "assembler/span_facts.h"
#include "assembler/trace_assembler.h"
#include "model/otlp_json.h"
#include "protocols/common/redact.h"
#include "spans/sys_span_builder.h"
#include "spans/sys_span_export.h"

namespace otelbpf {
namespace {

otelbpf_socket_info socket_of(const char* local, std::uint16_t lport, const char* peer, std::uint16_t pport,
                              bool udp = false) {
  otelbpf_socket_info s{};
  s.family = AF_INET;
  s.protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
  inet_pton(AF_INET, local, s.saddr);
  inet_pton(AF_INET, peer, s.daddr);
  s.sport = lport;
  s.dport = pport;
  return s;
}

SysSpanGroup group_of(std::uint32_t pid, const std::string& executable, std::uint32_t ns_pid = 0) {
  SysSpanGroup g;
  g.pid = pid;
  g.executable = executable;
  add_resource_attribute(g.resource, "service.name", executable);
  add_resource_attribute(g.resource, "process.pid", std::int64_t{pid});
  if (ns_pid) {
    add_resource_attribute(g.resource, "otelbpf.process.ns_pid", std::int64_t{ns_pid});
    add_resource_attribute(g.resource, "otelbpf.process.pid_namespace", "4026532000");
  }
  return g;
}

l7::L7Record record_of(const char* protocol, l7::Role role, std::string name, std::uint32_t req_seq,
                       std::uint32_t resp_seq) {
  l7::L7Record r;
  r.protocol = protocol;
  r.role = role;
  r.span_name = std::move(name);
  r.start_ns = 1'000'000;
  r.end_ns = 1'250'000;
  r.req_seq = req_seq;
  r.resp_seq = resp_seq;
  r.req_bytes = 120;
  r.resp_bytes = 480;
  r.req_tid = 77;
  r.resp_tid = 77;
  return r;
}

// Records of every shape the parsers make: HTTP with a trace context, a secret in the query and bytes that
// are not UTF-8; an HTTP client naming its server; SQL and Redis calls; DNS over UDP; gRPC; a request whose
// answer never came; a TLS connection.
struct Case {
  l7::L7Record record;
  otelbpf_socket_info sock;
  bool has_socket = true;
  std::uint64_t syscall_trace_id = 0;
  bool tls = false;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  {
    auto r = record_of("http1", l7::Role::kServer, "GET /api/orders", 1000, 2000);
    r.attributes.emplace_back("http.request.method", std::string("GET"));
    r.attributes.emplace_back("url.path", std::string("/api/orders"));
    r.attributes.emplace_back("url.query", std::string("token=s3cr3t&page=2"));
    r.attributes.emplace_back("server.address", std::string("shop.svc"));
    r.attributes.emplace_back("user_agent.original", std::string("bot\xff"));
    r.attributes.emplace_back("http.response.status_code", std::int64_t{200});
    auto ctx = l7::parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ctx->tracestate = "vendor=1";
    ctx->request_id = "req-1";
    r.context = ctx;
    out.push_back({std::move(r), socket_of("10.0.0.2", 80, "10.0.0.1", 40000), true, 31, false});
  }
  {
    auto r = record_of("http1", l7::Role::kClient, "POST /checkout", 3000, 4000);
    r.attributes.emplace_back("http.request.method", std::string("post"));
    r.attributes.emplace_back("url.full", std::string("http://pay:8080/checkout?card=4111#x"));
    r.attributes.emplace_back("server.port", std::int64_t{8080});
    out.push_back({std::move(r), socket_of("10.0.0.1", 40001, "10.0.0.9", 8080), true, 32, true});
  }
  {
    auto r = record_of("mysql", l7::Role::kClient, "SELECT users", 5000, 6000);
    r.attributes.emplace_back("db.system", std::string("mysql"));
    r.attributes.emplace_back("db.statement", std::string("SELECT *  FROM users WHERE id = 42;"));
    r.error = true;
    r.status_message = "Duplicate entry 'ann@example.org' for key 'email'";
    out.push_back({std::move(r), socket_of("10.0.0.1", 40002, "10.0.0.3", 3306)});
  }
  {
    auto r = record_of("redis", l7::Role::kClient, "GET", 7000, 8000);
    r.attributes.emplace_back("db.system", std::string("redis"));
    r.attributes.emplace_back("db.statement", std::string("get user:1"));
    out.push_back({std::move(r), socket_of("10.0.0.1", 40003, "10.0.0.4", 6379)});
  }
  {
    auto r = record_of("dns", l7::Role::kClient, "A shop.svc", 0, 0);
    r.attributes.emplace_back("otelbpf.dns.id", std::int64_t{4242});
    r.attributes.emplace_back("dns.question.name", std::string("shop.svc"));
    r.attributes.emplace_back("otelbpf.dns.question.type", std::string("A"));
    out.push_back({std::move(r), socket_of("10.0.0.1", 53000, "10.0.0.10", 53, true)});
  }
  {
    auto r = record_of("http2", l7::Role::kClient, "shop.Cart/Add", 9000, 9500);
    r.attributes.emplace_back("rpc.service", std::string("shop.Cart"));
    r.attributes.emplace_back("rpc.method", std::string("Add"));
    out.push_back({std::move(r), socket_of("10.0.0.1", 40004, "10.0.0.5", 50051)});
  }
  {
    // Captured bytes that are not UTF-8 in what the facts read (name, path, method): the facts take the
    // exported text, not the bytes.
    auto r = record_of("http1", l7::Role::kServer, "g\xe9t /caf\xe9", 10000, 10500);
    r.attributes.emplace_back("http.request.method", std::string("g\xe9t"));
    r.attributes.emplace_back("url.path", std::string("/caf\xe9"));
    out.push_back({std::move(r), socket_of("10.0.0.2", 80, "10.0.0.1", 40005), true, 33, false});
  }
  {
    auto r = record_of("http1", l7::Role::kServer, "", 11000, 0);
    r.response_missing = true;
    r.end_ns = r.start_ns - 10;  // an end before the start is the start
    out.push_back({std::move(r), {}, false});
  }
  return out;
}

void expect_same_facts(const SpanFacts& a, const SpanFacts& b) {
  EXPECT_EQ(a.trace_id, b.trace_id);
  EXPECT_EQ(a.span_id, b.span_id);
  EXPECT_EQ(a.parent_span_id, b.parent_span_id);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.start_ns, b.start_ns);
  EXPECT_EQ(a.end_ns, b.end_ns);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.ns_pid, b.ns_pid);
  EXPECT_EQ(a.pid_namespace, b.pid_namespace);
  EXPECT_EQ(a.thread_id, b.thread_id);
  EXPECT_EQ(a.service, b.service);
  EXPECT_EQ(a.has_context, b.has_context);
  EXPECT_EQ(a.syscall_trace_id, b.syscall_trace_id);
  EXPECT_EQ(a.req_seq, b.req_seq);
  EXPECT_EQ(a.resp_seq, b.resp_seq);
  EXPECT_EQ(a.dns_key, b.dns_key);
  EXPECT_EQ(a.tcp_hash, b.tcp_hash);
  EXPECT_EQ(a.dns_exchange, b.dns_exchange);
  EXPECT_EQ(a.operation, b.operation);
  EXPECT_EQ(a.peer_address, b.peer_address);
  EXPECT_EQ(a.peer_port, b.peer_port);
  EXPECT_EQ(a.local_port, b.local_port);
  EXPECT_EQ(a.local_address, b.local_address);
  EXPECT_EQ(a.server_port, b.server_port);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.call_key, b.call_key);
}

TEST(CompactSysSpan, TheLinkRulesReadWhatIsExported) {
  SpanIdGenerator ids;
  const auto group = group_of(4242, "srv", 7);
  for (auto& c : cases()) {
    SCOPED_TRACE(c.record.protocol + " " + c.record.span_name);
    SysSpanOrigin origin;
    origin.sock = c.has_socket ? &c.sock : nullptr;
    origin.syscall_trace_id = c.syscall_trace_id;
    origin.monotonic_to_wall_ns = 1'700'000'000'000'000'000;
    origin.tls = c.tls;
    const SysSpan span = make_sys_span(std::move(c.record), origin, ids);
    otlp::Span exported;
    export_sys_span(group, span, exported);

    const SpanFacts compact = facts_of_sys_span(group, span);
    expect_same_facts(compact, facts_of_span(exported, group.resource, SpanSource::kSys));
    EXPECT_FALSE(compact.trace_id.empty());
    EXPECT_EQ(compact.pid, 4242);
    EXPECT_EQ(compact.ns_pid, 7);
    // A DNS client's own port names the exchange (its span has no client.*), as client.port does on the
    // resolver's span and on the net spans between them.
    if (span.record.protocol == "dns") EXPECT_EQ(compact.dns_key, "dns/4242/53000/shop.svc/A");

    ASSERT_GE(exported.attributes_size(), 7);  // thread, protocol, bytes, sequence numbers, source at least
    for (const auto& kv : exported.attributes()) {
      SCOPED_TRACE(kv.key());
      const auto found = find_sys_attribute(group, span, kv.key());
      ASSERT_TRUE(found.has_value());
      switch (kv.value().value_case()) {
        case otlp::AnyValue::kStringValue:
          EXPECT_EQ(std::get<std::string>(*found), kv.value().string_value());
          EXPECT_TRUE(l7::is_valid_utf8(kv.value().string_value()));
          break;
        case otlp::AnyValue::kIntValue:
          EXPECT_EQ(std::get<std::int64_t>(*found), kv.value().int_value());
          break;
        case otlp::AnyValue::kBoolValue:
          EXPECT_EQ(std::get<bool>(*found), kv.value().bool_value());
          break;
        default:
          ADD_FAILURE() << "unexpected value type";
      }
    }
    EXPECT_FALSE(find_sys_attribute(group, span, "no.such.attribute").has_value());
    // What an OTLP receiver gets (string fields are checked for UTF-8 as they are parsed).
    otlp::Span parsed;
    EXPECT_TRUE(parsed.ParseFromString(exported.SerializeAsString()));
  }
  // The secrets and the bytes that are not text, as exported.
  SpanIdGenerator more;
  auto first = cases().front();
  SysSpanOrigin origin;
  origin.sock = &first.sock;
  const auto span = make_sys_span(std::move(first.record), origin, more);
  EXPECT_EQ(std::get<std::string>(*find_sys_attribute(group, span, "url.query")),
            "token=REDACTED&page=REDACTED");
  EXPECT_EQ(std::get<std::string>(*find_sys_attribute(group, span, "user_agent.original")),
            "bot\xef\xbf\xbd");
  EXPECT_EQ(std::get<std::string>(*find_sys_attribute(group, span, "server.address")), "shop.svc");
}

// The JSON encoder writes a connection's socket attributes from a cache (per thread, by the ports):
// connections that share the ports but not the rest, written in turn and over again, each get their own.
TEST(CompactSysSpan, TheSocketAttributesOfEachConnectionAreItsOwnWhenWrittenFromTheCache) {
  SpanIdGenerator ids;
  SpanBatch compact;
  compact.source = SpanSource::kSys;
  compact.sys_groups.push_back(group_of(4242, "srv"));
  struct Variant {
    l7::Role role;
    const char* peer;
    bool udp;
    bool names_server_port;
  };
  const Variant variants[] = {{l7::Role::kServer, "10.0.0.1", false, false},
                              {l7::Role::kServer, "10.0.0.7", false, false},
                              {l7::Role::kClient, "10.0.0.1", false, false},
                              {l7::Role::kServer, "10.0.0.1", true, false},
                              {l7::Role::kServer, "10.0.0.1", false, true}};
  for (int round = 0; round < 3; ++round)
    for (const auto& v : variants) {
      auto r = record_of("http1", v.role, "GET /", 1000, 2000);
      r.attributes.emplace_back("http.request.method", std::string("GET"));
      if (v.names_server_port) r.attributes.emplace_back("server.port", std::int64_t{8443});
      const auto sock = socket_of("10.0.0.2", 80, v.peer, 40000, v.udp);
      SysSpanOrigin origin;
      origin.sock = &sock;
      compact.sys_groups[0].spans.push_back(make_sys_span(std::move(r), origin, ids));
    }
  SpanBatch otlp;
  otlp.sys_groups = compact.sys_groups;
  export_sys_groups(otlp);
  const otlp::ExportRequest* requests[] = {&otlp.request()};
  std::string via_otlp;
  encode_otlp_json_into(requests, via_otlp);
  const SpanBatch* batches[] = {&compact};
  for (int encoding = 0; encoding < 2; ++encoding) {  // the second finds every connection in the cache
    std::string direct;
    encode_otlp_json_into(batches, direct);
    EXPECT_EQ(direct, via_otlp) << "encoding " << encoding;
  }
  EXPECT_NE(via_otlp.find("\"stringValue\":\"10.0.0.7\""), std::string::npos);
  EXPECT_NE(via_otlp.find("\"stringValue\":\"udp\""), std::string::npos);
}

TEST(CompactSysSpan, ItsJsonIsThatOfTheOtlpSpanItBecomes) {
  SpanIdGenerator ids;
  SpanBatch compact;
  compact.source = SpanSource::kSys;
  compact.sys_groups.push_back(group_of(4242, "srv", 7));
  compact.sys_groups.push_back(group_of(77, "caf\xe9-worker"));  // an executable name that is not UTF-8
  compact.sys_groups[1].executable = exportable_text(compact.sys_groups[1].executable);
  int n = 0;
  for (auto& c : cases()) {
    SysSpanOrigin origin;
    origin.sock = c.has_socket ? &c.sock : nullptr;
    origin.syscall_trace_id = c.syscall_trace_id;
    origin.monotonic_to_wall_ns = 1'700'000'000'000'000'000;
    origin.tls = c.tls;
    auto span = make_sys_span(std::move(c.record), origin, ids);
    if (n == 1) {  // as the assembler leaves it once linked under another span
      span.linked = true;
      span.linked_trace_id = std::string(16, '\x42');
      span.linked_parent_span_id = std::string(8, '\x43');
    }
    compact.sys_groups[static_cast<std::size_t>(n++ % 2)].spans.push_back(std::move(span));
  }
  SpanBatch otlp;
  otlp.sys_groups = compact.sys_groups;
  export_sys_groups(otlp);
  ASSERT_EQ(otlp.request().resource_spans_size(), 2);
  EXPECT_EQ(otlp.request().resource_spans(1).scope_spans(0).spans(0).trace_id(), std::string(16, '\x42'));

  std::string direct, via_otlp;
  const SpanBatch* batches[] = {&compact};
  encode_otlp_json_into(batches, direct);
  const otlp::ExportRequest* requests[] = {&otlp.request()};
  encode_otlp_json_into(requests, via_otlp);
  EXPECT_EQ(direct, via_otlp);
  otlp::ExportRequest decoded;
  JsonDecodeError error;
  EXPECT_TRUE(decode_otlp_json(direct, decoded, error)) << error.message;
  EXPECT_EQ(count_spans(decoded), cases().size());
}

// Both ways a compact span leaves: as OTLP (gateway routing), or compact and linked in place (the agent's
// default), which readers then export (the OTLP exporters) or encode straight to JSON (the file exporter).
class CompactSysSpanLeaving : public ::testing::TestWithParam<bool> {};

// An assembler's options with a memory budget, compact output or not.
struct LeavingSetup {
  explicit LeavingSetup(bool compact_output) {
    options.memory = &budget;
    options.compact_sys_output = compact_output;
  }
  MetricsRegistry metrics;
  MemoryBudget budget{64 << 20, metrics};
  AssemblerOptions options;
};
INSTANTIATE_TEST_SUITE_P(Output, CompactSysSpanLeaving, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Compact" : "Otlp"; });

TEST_P(CompactSysSpanLeaving, BothEndsOfAnExchangeLinkWithTheirBytes) {
  const bool compact_output = GetParam();
  LeavingSetup setup(compact_output);
  auto& [metrics, budget, options] = setup;
  std::map<std::string, otlp::Span> out;
  std::map<std::string, otlp::ResourceSpans> resource_of;
  std::size_t emitted_bytes = 0;
  TraceAssembler assembler(
      options,
      [&](std::shared_ptr<SpanBatch> b) {
        emitted_bytes += b->charge.bytes();
        EXPECT_EQ(b->sys_groups.empty(), !compact_output);
        EXPECT_EQ(b->request().resource_spans_size() == 0, compact_output);
        const SpanBatch* parts[] = {b.get()};
        std::string json;
        encode_otlp_json_into(parts, json);
        const auto request = otlp_request_of(*b);
        const otlp::ExportRequest* requests[] = {&request};
        std::string json_of_otlp;
        encode_otlp_json_into(requests, json_of_otlp);
        EXPECT_EQ(json, json_of_otlp);
        for (const auto& rs : request.resource_spans())
          for (const auto& ss : rs.scope_spans()) {
            EXPECT_EQ(ss.scope().name(), "otelbpf.syscall");
            for (const auto& s : ss.spans()) {
              out[s.span_id()] = s;
              resource_of[s.span_id()] = rs;
            }
          }
      },
      metrics);
  const auto t0 = TraceAssembler::Clock::now();
  SpanIdGenerator ids;
  // The client (pid 200) calls the server (pid 100) on this node; the tracer flushes each in a batch.
  auto batch_with = [&](std::uint32_t pid, const char* exe, l7::Role role, otelbpf_socket_info sock) {
    auto group = group_of(pid, exe);
    SysSpanOrigin origin;
    origin.sock = &sock;
    auto r = record_of("http1", role, "GET /", 1000, 2000);
    r.attributes.emplace_back("http.request.method", std::string("GET"));
    r.attributes.emplace_back("url.path", std::string("/"));
    group.spans.push_back(make_sys_span(std::move(r), origin, ids));
    SpanBatch b;
    b.source = SpanSource::kSys;
    b.sys_groups.push_back(std::move(group));
    const auto bytes = approx_resident_bytes(b);
    EXPECT_GT(bytes, sizeof(SysSpan));
    EXPECT_TRUE(budget.try_charge(bytes));
    b.charge = MemoryCharge(&budget, bytes);
    return b;
  };
  auto client = batch_with(200, "wrk", l7::Role::kClient, socket_of("127.0.0.1", 40000, "127.0.0.1", 80));
  auto server = batch_with(100, "nginx", l7::Role::kServer, socket_of("127.0.0.1", 80, "127.0.0.1", 40000));
  const auto client_id = sys_span_id(client.sys_groups[0].spans[0]);
  const auto client_trace = sys_span_trace_id(client.sys_groups[0].spans[0]);
  const auto server_id = sys_span_id(server.sys_groups[0].spans[0]);
  assembler.add(std::move(client), t0);
  assembler.add(std::move(server), t0 + std::chrono::milliseconds(1));
  assembler.poll(t0 + std::chrono::milliseconds(10));
  ASSERT_EQ(out.size(), 2u) << "both ends in: nothing is left to wait for";
  EXPECT_EQ(assembler.buffered_spans(), 0u);
  const auto& s = out.at(server_id);
  EXPECT_EQ(s.parent_span_id(), client_id);
  EXPECT_EQ(s.trace_id(), client_trace);
  EXPECT_EQ(out.at(client_id).trace_id(), client_trace);
  for (const auto& [id, span] : out) {
    const auto* source = find_attribute(span.attributes(), "otelbpf.span.source");
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(source->string_value(), "sys");
  }
  EXPECT_EQ(resource_of.at(server_id).resource().attributes(0).value().string_value(), "nginx");
  // The emitted batches carried the spans' bytes (as OTLP: those of the OTLP spans they became).
  EXPECT_GT(emitted_bytes, compact_output ? 2 * sizeof(SysSpan) : 2 * 1000u);
  assembler.poll(t0 + std::chrono::minutes(5));
  EXPECT_LT(budget.held(), 8 * 1024u) << "what is left once everything has gone";
}

// A batch whose spans leave at different times: those with both ends in leave at once, linked, and the
// rest of the batch later, each span once, with every span's bytes released by the end; whether most of
// the batch leaves first or most of it stays. (A batch that leaves whole: the test above.)
TEST_P(CompactSysSpanLeaving, ABatchLeavesPartByPart) {
  for (const int remote_requests : {1, 3}) {
    SCOPED_TRACE(testing::Message() << remote_requests << " requests from another node");
    const bool compact_output = GetParam();
    LeavingSetup setup(compact_output);
    auto& [metrics, budget, options] = setup;
    std::vector<std::vector<std::string>> emitted;  // span ids of each emitted batch
    std::map<std::string, otlp::Span> out;
    TraceAssembler assembler(
        options,
        [&](std::shared_ptr<SpanBatch> b) {
          auto& ids = emitted.emplace_back();
          const auto request = otlp_request_of(*b);
          for (const auto& rs : request.resource_spans())
            for (const auto& ss : rs.scope_spans())
              for (const auto& span : ss.spans()) {
                ids.push_back(span.span_id());
                EXPECT_TRUE(out.emplace(span.span_id(), span).second) << "a span left twice";
              }
        },
        metrics);
    SpanIdGenerator ids;
    auto span_of = [&](l7::Role role, otelbpf_socket_info sock, std::uint32_t req_seq) {
      SysSpanOrigin origin;
      origin.sock = &sock;
      return make_sys_span(record_of("http1", role, "GET /", req_seq, req_seq + 1000), origin, ids);
    };
    // One flush of the tracer: nginx's requests (one from wrk on this node, the others from another
    // node, whose client ends are not traced here) and wrk's call.
    SpanBatch b;
    b.source = SpanSource::kSys;
    auto nginx = group_of(100, "nginx");
    nginx.spans.push_back(span_of(l7::Role::kServer, socket_of("127.0.0.1", 80, "127.0.0.1", 40000), 1000));
    std::vector<std::string> remote_servers;
    for (int i = 0; i < remote_requests; ++i) {
      nginx.spans.push_back(span_of(
          l7::Role::kServer, socket_of("10.0.0.5", 80, "10.9.9.9", static_cast<std::uint16_t>(50000 + i)),
          static_cast<std::uint32_t>(5000 + 10 * i)));
      remote_servers.push_back(sys_span_id(nginx.spans.back()));
    }
    auto wrk = group_of(200, "wrk");
    wrk.spans.push_back(span_of(l7::Role::kClient, socket_of("127.0.0.1", 40000, "127.0.0.1", 80), 1000));
    const auto local_server = sys_span_id(nginx.spans[0]);
    const auto client = sys_span_id(wrk.spans[0]);
    b.sys_groups.push_back(std::move(nginx));
    b.sys_groups.push_back(std::move(wrk));
    const auto bytes = approx_resident_bytes(b);
    ASSERT_TRUE(budget.try_charge(bytes));
    b.charge = MemoryCharge(&budget, bytes);

    const auto t0 = TraceAssembler::Clock::now();
    assembler.add(std::move(b), t0);
    assembler.poll(t0 + std::chrono::milliseconds(10));
    ASSERT_EQ(emitted.size(), 1u);
    EXPECT_EQ(std::set<std::string>(emitted[0].begin(), emitted[0].end()),
              (std::set<std::string>{local_server, client}))
        << "the exchange with both ends in leaves; the requests from another node wait for their clients";
    EXPECT_EQ(out.at(local_server).parent_span_id(), client);
    EXPECT_EQ(out.at(local_server).trace_id(), out.at(client).trace_id());
    EXPECT_EQ(assembler.buffered_spans(), static_cast<std::size_t>(remote_requests));

    assembler.poll(t0 + options.link_window + std::chrono::seconds(1));
    ASSERT_EQ(emitted.size(), 2u);
    EXPECT_EQ(emitted[1], remote_servers) << "in their order";
    EXPECT_EQ(assembler.buffered_spans(), 0u);
    emitted.clear();
    assembler.poll(t0 + std::chrono::minutes(5));
    EXPECT_LT(budget.held(), 8 * 1024u) << "what is left once everything has gone";
  }
}

// On a node without SDK traffic the assembler spares a sys span the facts only links to SDK spans read
// (method, target, call key: TraceAssembler::wants_request_facts). A database call of a process whose
// samples of the second are taken, arriving before any SDK span, is indexed without its call key; an
// SDK's CLIENT span for it that comes while it waits still claims it, and once SDK spans come, every sys
// span's request facts are read as it arrives.
TEST(CompactSysSpanRequestFacts, AreReadWhereAnSdkSpanMayUseThem) {
  using Clock = TraceAssembler::Clock;
  using std::chrono::milliseconds;
  MetricsRegistry metrics;
  AssemblerOptions options;
  options.link_window = milliseconds(1000);
  options.max_link_wait = milliseconds(3000);
  options.assumed_app_lag = milliseconds(1000);
  options.compact_sys_output = true;
  std::map<std::string, otlp::Span> out;
  TraceAssembler assembler(
      options,
      [&](std::shared_ptr<SpanBatch> b) {
        const auto request = otlp_request_of(*b);
        for (const auto& rs : request.resource_spans())
          for (const auto& ss : rs.scope_spans())
            for (const auto& span : ss.spans()) out[span.span_id()] = span;
      },
      metrics);
  SpanIdGenerator ids;
  const std::int64_t wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  auto sys_batch = [&](std::uint32_t pid, const char* exe,
                       std::vector<std::pair<l7::L7Record, otelbpf_socket_info>> calls) {
    SpanBatch b;
    b.source = SpanSource::kSys;
    auto group = group_of(pid, exe);
    for (auto& [record, sock] : calls) {
      SysSpanOrigin origin;
      origin.sock = &sock;
      origin.monotonic_to_wall_ns = wall_ns;
      group.spans.push_back(make_sys_span(std::move(record), origin, ids));
    }
    b.sys_groups.push_back(std::move(group));
    return b;
  };
  auto http = [&](l7::Role role, std::uint32_t seq) {
    auto r = record_of("http1", role, "GET /", seq, seq + 1);
    r.attributes.emplace_back("http.request.method", std::string("GET"));
    r.attributes.emplace_back("url.path", std::string("/"));
    return r;
  };
  auto redis_get = [&](std::uint32_t seq) {
    auto r = record_of("redis", l7::Role::kClient, "GET", seq, seq + 1);
    r.attributes.emplace_back("db.system", std::string("redis"));
    r.attributes.emplace_back("db.statement", std::string("GET user:1"));
    return r;
  };
  // The start of a second, so that the steps below share one (samples are counted per second).
  const auto t0 = Clock::time_point(std::chrono::ceil<std::chrono::seconds>(Clock::now().time_since_epoch()) +
                                    milliseconds(100));

  // nginx (pid 100) serves a first request, and then past its wait without an SDK.
  assembler.add(
      sys_batch(400, "curl", {{http(l7::Role::kClient, 10), socket_of("127.0.0.1", 39000, "127.0.0.1", 80)}}),
      t0);
  assembler.add(sys_batch(100, "nginx",
                          {{http(l7::Role::kServer, 10), socket_of("127.0.0.1", 80, "127.0.0.1", 39000)}}),
                t0);
  assembler.poll(t0 + std::chrono::seconds(4));
  // The shop (pid 300, calls only) makes 12 calls to it in one second: both ends in, they leave at once,
  // and 8 of the shop's are kept as the second's samples.
  const auto t1 = t0 + std::chrono::seconds(5);
  std::vector<std::pair<l7::L7Record, otelbpf_socket_info>> calls, served;
  for (std::uint32_t i = 0; i < 12; ++i) {
    const auto port = static_cast<std::uint16_t>(40000 + i);
    calls.push_back({http(l7::Role::kClient, 100 + 10 * i), socket_of("127.0.0.1", port, "127.0.0.1", 80)});
    served.push_back({http(l7::Role::kServer, 100 + 10 * i), socket_of("127.0.0.1", 80, "127.0.0.1", port)});
  }
  assembler.add(sys_batch(300, "shop", std::move(calls)), t1);
  assembler.add(sys_batch(100, "nginx", std::move(served)), t1);
  assembler.poll(t1 + milliseconds(10));
  ASSERT_EQ(assembler.buffered_spans(), 0u);

  // Its call to Redis on another node waits the window for the other end; no SDK span came yet, so only
  // its exchange is indexed, not its call key.
  const auto before = assembler.index_entries();
  auto first_call =
      sys_batch(300, "shop", {{redis_get(5000), socket_of("10.0.0.1", 41000, "10.0.0.4", 6379)}});
  const auto& first = first_call.sys_groups[0].spans[0];
  const auto first_id = sys_span_id(first);
  const auto first_start = sys_span_start_unix_ns(first), first_end = sys_span_end_unix_ns(first);
  assembler.add(std::move(first_call), t1 + milliseconds(200));
  EXPECT_EQ(assembler.index_entries(), before + 1) << "its TCP exchange only";

  // The shop's SDK span of that call comes while it waits, and claims it.
  const std::string app_trace(16, '\x5a'), app_span(8, '\x5b');
  SpanBatch app;
  app.source = SpanSource::kApp;
  auto* rs = app.request().add_resource_spans();
  add_resource_attribute(*rs->mutable_resource(), "service.name", "shop");
  add_resource_attribute(*rs->mutable_resource(), "process.pid", std::int64_t{300});
  auto* span = rs->add_scope_spans()->add_spans();
  span->set_trace_id(app_trace);
  span->set_span_id(app_span);
  span->set_kind(otlp::Span::SPAN_KIND_CLIENT);
  span->set_name("GET");
  span->set_start_time_unix_nano(first_start - 50'000);
  span->set_end_time_unix_nano(first_end + 50'000);
  set_span_attribute(*span, "db.system", "redis");
  set_span_attribute(*span, "db.statement", "GET user:1");
  assembler.add(std::move(app), t1 + milliseconds(300));

  // SDK spans came: the next call is indexed by its call key too, as it arrives.
  const auto with_app = assembler.index_entries();
  assembler.add(sys_batch(300, "shop", {{redis_get(6000), socket_of("10.0.0.1", 41001, "10.0.0.4", 6379)}}),
                t1 + milliseconds(400));
  EXPECT_EQ(assembler.index_entries(), with_app + 2) << "its TCP exchange and its call key";

  assembler.poll(t1 + milliseconds(1300));
  ASSERT_TRUE(out.contains(first_id));
  EXPECT_EQ(out.at(first_id).parent_span_id(), app_span);
  EXPECT_EQ(out.at(first_id).trace_id(), app_trace);
  EXPECT_EQ(metrics.value("otelbpf_assembler_links_total", {{"rule", "sys_client_under_app_client"}}), 1);
}

}  // namespace
}  // namespace otelbpf
