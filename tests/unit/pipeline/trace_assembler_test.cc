// The linking rules of requirements §3.2 and §3.3 on synthetic spans, including partners that never come
// and the bounds on waiting time and memory.
#include "assembler/trace_assembler.h"

#include <gtest/gtest.h>

namespace otelbpf {
namespace {

using Clock = TraceAssembler::Clock;

std::string id(char fill, std::size_t n) { return std::string(n, fill); }

otlp::Span make_span(const std::string& trace, const std::string& span_id, const std::string& parent,
                     int kind, std::uint64_t start, std::uint64_t end) {
  otlp::Span s;
  s.set_trace_id(trace);
  s.set_span_id(span_id);
  s.set_parent_span_id(parent);
  s.set_kind(static_cast<otlp::Span::SpanKind>(kind));
  s.set_start_time_unix_nano(start);
  s.set_end_time_unix_nano(end);
  return s;
}

void add_attr(otlp::Span& s, const std::string& k, const std::string& v) { set_span_attribute(s, k, v); }
void add_int_attr(otlp::Span& s, const std::string& k, std::int64_t v) {
  auto* kv = s.add_attributes();
  kv->set_key(k);
  kv->mutable_value()->set_int_value(v);
}

SpanBatch batch_of(SpanSource source, std::vector<otlp::Span> spans, const std::string& service = "svc",
                   const std::string& pid = "") {
  SpanBatch b;
  b.source = source;
  auto* rs = b.request.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value(service);
  if (!pid.empty()) {
    auto* p = rs->mutable_resource()->add_attributes();
    p->set_key("process.pid");
    p->mutable_value()->set_string_value(pid);
  }
  auto* ss = rs->add_scope_spans();
  for (auto& s : spans) *ss->add_spans() = std::move(s);
  return b;
}

otlp::Span sys_span(const std::string& trace, const std::string& span_id, const std::string& parent, int kind,
                    std::uint64_t start, std::uint64_t end, std::int64_t pid, bool has_context,
                    const std::string& stid, std::int64_t req_seq = 0, std::int64_t resp_seq = 0) {
  auto s = make_span(trace, span_id, parent, kind, start, end);
  if (req_seq) add_int_attr(s, "otelbpf.tcp.req_seq", req_seq);
  if (resp_seq) add_int_attr(s, "otelbpf.tcp.resp_seq", resp_seq);
  add_int_attr(s, "process.pid", pid);
  if (has_context) add_attr(s, "otelbpf.trace_context.source", "w3c");
  if (!stid.empty()) add_attr(s, "otelbpf.syscall_trace_id", stid);
  return s;
}

class AssemblerTest : public ::testing::Test {
 protected:
  AssemblerTest()
      : assembler_(
            AssemblerOptions{std::chrono::milliseconds(1000), 1000, true},
            [this](std::shared_ptr<const SpanBatch> b) {
              for (const auto& rs : b->request.resource_spans())
                for (const auto& ss : rs.scope_spans())
                  for (const auto& s : ss.spans()) out_[s.span_id()] = s;
              ++batches_;
            },
            metrics_) {}

  double links(const char* rule) { return metrics_.value("otelbpf_assembler_links_total", {{"rule", rule}}); }

  MetricsRegistry metrics_;
  TraceAssembler assembler_;
  std::map<std::string, otlp::Span> out_;
  int batches_ = 0;
  Clock::time_point t0_ = Clock::now();
};

const int kServer = otlp::Span::SPAN_KIND_SERVER;
const int kClient = otlp::Span::SPAN_KIND_CLIENT;
const int kInternal = otlp::Span::SPAN_KIND_INTERNAL;

TEST_F(AssemblerTest, TcpLinksSysServerUnderSysClientAndHeaderReparentsAppServer) {
  const auto trace = id('\x01', 16), sdk_client = id('\x02', 8);
  // Client process: the SDK's CLIENT span (sdk_client) injected traceparent; the sys CLIENT span saw it.
  assembler_.add(batch_of(SpanSource::kSys, {sys_span(trace, id('\x03', 8), sdk_client, kClient, 100, 900, 10,
                                                      true, "", 5000, 9000)}),
                 t0_);
  // Server process: the sys SERVER span read the same bytes (same TCP sequence numbers) and header; the SDK
  // made its SERVER span from that header.
  assembler_.add(batch_of(SpanSource::kSys, {sys_span(trace, id('\x04', 8), sdk_client, kServer, 200, 800, 20,
                                                      true, "7", 5000, 9000)}),
                 t0_);
  assembler_.add(batch_of(SpanSource::kApp, {make_span(trace, id('\x05', 8), sdk_client, kServer, 300, 700)}),
                 t0_);
  assembler_.poll(t0_ + std::chrono::milliseconds(500));
  EXPECT_TRUE(out_.empty()) << "spans must wait for the link window";
  assembler_.poll(t0_ + std::chrono::milliseconds(1000));
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[id('\x03', 8)].parent_span_id(), sdk_client);
  EXPECT_EQ(out_[id('\x04', 8)].parent_span_id(), id('\x03', 8));
  EXPECT_EQ(out_[id('\x05', 8)].parent_span_id(), id('\x04', 8));
  const auto* original = find_attribute(out_[id('\x05', 8)].attributes(), "otelbpf.original_parent_span_id");
  ASSERT_NE(original, nullptr);
  EXPECT_EQ(original->string_value(), "0202020202020202");
  EXPECT_EQ(links("tcp_sys_server_under_sys_client"), 1);
  EXPECT_EQ(links("app_server_under_sys_server"), 1);
  for (auto& [sid, s] : out_) EXPECT_NE(find_attribute(s.attributes(), "otelbpf.span.source"), nullptr);
}

TEST_F(AssemblerTest, SysServerWithoutClientPartnerStaysUnderHeaderSpan) {
  const auto trace = id('\x01', 16), header_span = id('\x02', 8);
  assembler_.add(batch_of(SpanSource::kSys,
                          {sys_span(trace, id('\x04', 8), header_span, kServer, 200, 800, 20, true, "7")}),
                 t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x04', 8)].parent_span_id(), header_span);
  EXPECT_EQ(out_[id('\x04', 8)].trace_id(), trace);
}

TEST_F(AssemblerTest, TcpLinkCarriesTheClientsTraceAcrossUninstrumentedHops) {
  // curl (no SDK, fresh trace A) -> nginx (fresh trace B) -> nginx's upstream call on the same thread.
  const auto trace_a = id('\x0a', 16), trace_b = id('\x0b', 16), trace_c = id('\x0c', 16);
  assembler_.add(
      batch_of(SpanSource::kSys,
               {sys_span(trace_b, id('\x12', 8), "", kServer, 200, 800, 20, false, "5", 100, 200),
                sys_span(trace_c, id('\x13', 8), "", kClient, 300, 700, 20, false, "5", 300, 400)}),
      t0_);
  assembler_.add(batch_of(SpanSource::kSys,
                          {sys_span(trace_a, id('\x11', 8), "", kClient, 100, 900, 10, false, "", 100, 200)}),
                 t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x12', 8)].parent_span_id(), id('\x11', 8));
  EXPECT_EQ(out_[id('\x12', 8)].trace_id(), trace_a);
  EXPECT_EQ(out_[id('\x13', 8)].parent_span_id(), id('\x12', 8));
  EXPECT_EQ(out_[id('\x13', 8)].trace_id(), trace_a);
}

otlp::Span net_span(const std::string& trace, const std::string& span_id, const char* tap_side,
                    std::uint64_t start, std::uint64_t end, std::int64_t req_seq, std::int64_t resp_seq) {
  auto s = make_span(trace, span_id, "", kClient, start, end);
  add_attr(s, "otelbpf.tap.side", tap_side);
  add_int_attr(s, "otelbpf.tcp.req_seq", req_seq);
  add_int_attr(s, "otelbpf.tcp.resp_seq", resp_seq);
  return s;
}

TEST_F(AssemblerTest, NetSpansNestBetweenClientAndServerInPathOrder) {
  const auto trace_client = id('\x0a', 16);
  // Arrival order is not path order: the server pod's capture comes first.
  assembler_.add(batch_of(SpanSource::kNet,
                          {net_span(id('\x31', 16), id('\x35', 8), "server-pod-nic", 140, 860, 100, 200),
                           net_span(id('\x32', 16), id('\x33', 8), "tunnel", 120, 880, 100, 200),
                           net_span(id('\x33', 16), id('\x31', 8), "client-pod-nic", 110, 890, 100, 200),
                           net_span(id('\x34', 16), id('\x32', 8), "client-node-nic", 115, 885, 100, 200),
                           net_span(id('\x35', 16), id('\x34', 8), "server-node-nic", 130, 870, 100, 200)}),
                 t0_);
  assembler_.add(batch_of(SpanSource::kSys, {sys_span(id('\x0b', 16), id('\x12', 8), "", kServer, 200, 800,
                                                      20, false, "", 100, 200)}),
                 t0_);
  assembler_.add(batch_of(SpanSource::kSys, {sys_span(trace_client, id('\x11', 8), "", kClient, 100, 900, 10,
                                                      false, "", 100, 200)}),
                 t0_);
  assembler_.flush();
  // client sys -> client pod NIC -> client node NIC -> tunnel -> server node NIC -> server pod NIC -> server
  // sys
  EXPECT_EQ(out_[id('\x31', 8)].parent_span_id(), id('\x11', 8));
  EXPECT_EQ(out_[id('\x32', 8)].parent_span_id(), id('\x31', 8));
  EXPECT_EQ(out_[id('\x33', 8)].parent_span_id(), id('\x32', 8));
  EXPECT_EQ(out_[id('\x34', 8)].parent_span_id(), id('\x33', 8));
  EXPECT_EQ(out_[id('\x35', 8)].parent_span_id(), id('\x34', 8));
  EXPECT_EQ(out_[id('\x12', 8)].parent_span_id(), id('\x35', 8));
  for (auto& [sid, s] : out_) EXPECT_EQ(s.trace_id(), trace_client) << "every span joins the client's trace";
  EXPECT_EQ(links("tcp_net_span_under_sys_client"), 1);
  EXPECT_EQ(links("tcp_net_span_under_net_span"), 4);
  EXPECT_EQ(links("tcp_sys_server_under_net_span"), 1);
}

TEST_F(AssemblerTest, SpansFromAnotherAgentKeepTheirSourceAndLink) {
  // Node B's agent exports its net spans and sys SERVER span over OTLP to this agent (a gateway); they
  // arrive as an app batch but name their source, and chain with this node's sys CLIENT span.
  const auto trace_client = id('\x0a', 16);
  auto remote_net = net_span(id('\x51', 16), id('\x52', 8), "server-node-nic", 130, 870, 100, 200);
  auto remote_server =
      sys_span(id('\x53', 16), id('\x53', 8), "", kServer, 200, 800, 99, false, "", 100, 200);
  set_span_attribute(remote_net, "otelbpf.span.source", "net");
  set_span_attribute(remote_server, "otelbpf.span.source", "sys");
  assembler_.add(batch_of(SpanSource::kApp, {remote_net, remote_server}), t0_);
  assembler_.add(batch_of(SpanSource::kNet,
                          {net_span(id('\x54', 16), id('\x51', 8), "client-node-nic", 110, 890, 100, 200)}),
                 t0_);
  assembler_.add(batch_of(SpanSource::kSys, {sys_span(trace_client, id('\x11', 8), "", kClient, 100, 900, 10,
                                                      false, "", 100, 200)}),
                 t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x51', 8)].parent_span_id(), id('\x11', 8));
  EXPECT_EQ(out_[id('\x52', 8)].parent_span_id(), id('\x51', 8));
  EXPECT_EQ(out_[id('\x53', 8)].parent_span_id(), id('\x52', 8));
  EXPECT_EQ(find_attribute(out_[id('\x52', 8)].attributes(), "otelbpf.span.source")->string_value(), "net");
  EXPECT_EQ(find_attribute(out_[id('\x53', 8)].attributes(), "otelbpf.span.source")->string_value(), "sys");
  for (auto& [sid, s] : out_) EXPECT_EQ(s.trace_id(), trace_client);
}

TEST_F(AssemblerTest, NetSpansWithoutSysEndsStillFormOnePath) {
  assembler_.add(batch_of(SpanSource::kNet,
                          {net_span(id('\x41', 16), id('\x41', 8), "client-node-nic", 110, 890, 7, 9),
                           net_span(id('\x42', 16), id('\x42', 8), "server-node-nic", 120, 880, 7, 9)}),
                 t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x42', 8)].parent_span_id(), id('\x41', 8));
  EXPECT_EQ(out_[id('\x42', 8)].trace_id(), out_[id('\x41', 8)].trace_id());
  EXPECT_TRUE(out_[id('\x41', 8)].parent_span_id().empty());
}

TEST_F(AssemblerTest, ProxyForwardingTheHeaderNestsItsCallUnderItsRequest) {
  const auto trace = id('\x01', 16), sdk_client = id('\x02', 8);
  assembler_.add(batch_of(SpanSource::kSys,
                          {sys_span(trace, id('\x21', 8), sdk_client, kServer, 200, 800, 20, true, "5"),
                           sys_span(trace, id('\x22', 8), sdk_client, kClient, 300, 700, 20, true, "5")}),
                 t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x22', 8)].parent_span_id(), id('\x21', 8));
  EXPECT_EQ(links("proxy_sys_client_under_sys_server"), 1);
}

TEST_F(AssemblerTest, ReparentingCanBeTurnedOff) {
  TraceAssembler assembler(
      AssemblerOptions{std::chrono::milliseconds(1000), 1000, false},
      [this](std::shared_ptr<const SpanBatch> b) {
        for (const auto& s : b->request.resource_spans(0).scope_spans(0).spans()) out_[s.span_id()] = s;
      },
      metrics_);
  const auto trace = id('\x01', 16), header_span = id('\x02', 8);
  assembler.add(batch_of(SpanSource::kSys,
                         {sys_span(trace, id('\x04', 8), header_span, kServer, 200, 800, 20, true, "7")}),
                t0_);
  assembler.add(batch_of(SpanSource::kApp, {make_span(trace, id('\x05', 8), header_span, kServer, 300, 700)}),
                t0_);
  assembler.flush();
  EXPECT_EQ(out_[id('\x05', 8)].parent_span_id(), header_span);
}

TEST_F(AssemblerTest, ThreadLinkPutsContextlessClientUnderInnermostAppSpan) {
  const auto trace = id('\x01', 16);
  const auto own_trace = id('\x09', 16);  // what the tracer gave the MySQL call: a fresh trace of its own
  // The outbound call arrives first (it ends before the inbound request is answered).
  assembler_.add(
      batch_of(SpanSource::kSys, {sys_span(own_trace, id('\x06', 8), "", kClient, 400, 450, 20, false, "7")}),
      t0_);
  assembler_.add(batch_of(SpanSource::kSys,
                          {sys_span(trace, id('\x04', 8), id('\x02', 8), kServer, 200, 800, 20, true, "7")}),
                 t0_);
  // App spans of the same process (by process.pid), the inner one enclosing the call.
  assembler_.add(batch_of(SpanSource::kApp,
                          {make_span(trace, id('\x05', 8), id('\x02', 8), kServer, 300, 700),
                           make_span(trace, id('\x07', 8), id('\x05', 8), kInternal, 350, 500),
                           make_span(trace, id('\x08', 8), id('\x05', 8), kInternal, 510, 600)},
                          "order", "20"),
                 t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x06', 8)].trace_id(), trace);
  EXPECT_EQ(out_[id('\x06', 8)].parent_span_id(), id('\x07', 8));
  EXPECT_EQ(links("thread_under_app_span"), 1);
}

TEST_F(AssemblerTest, HeaderlessAppServerJoinsTheSysServerOfItsProcessWithItsWholeTrace) {
  // curl (no SDK) -> frontend: the SDK saw no traceparent and started trace T_app; the sys SERVER span of
  // the same process (pid 20) holds curl's trace. The app root goes under it and T_app follows.
  const auto trace_curl = id('\x0c', 16), trace_app = id('\x0d', 16);
  assembler_.add(
      batch_of(SpanSource::kSys,
               {sys_span(trace_curl, id('\x61', 8), "", kClient, 100, 900, 10, false, "", 5, 6),
                sys_span(id('\x0e', 16), id('\x62', 8), "", kServer, 200, 800, 20, false, "9", 5, 6)}),
      t0_);
  auto root =
      make_span(trace_app, id('\x63', 8), "", kServer, 250, 850);  // ends after the write: Node's 'finish'
  auto child = make_span(trace_app, id('\x64', 8), id('\x63', 8), kInternal, 300, 700);
  assembler_.add(batch_of(SpanSource::kApp, {root, child}, "frontend", "20"), t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x63', 8)].parent_span_id(), id('\x62', 8));
  EXPECT_EQ(out_[id('\x62', 8)].parent_span_id(), id('\x61', 8));
  for (auto& [sid, s] : out_) EXPECT_EQ(s.trace_id(), trace_curl) << "all in curl's trace";
  EXPECT_EQ(links("app_root_under_sys_server"), 1);
  EXPECT_EQ(links("trace_joined"), 1);
}

TEST_F(AssemblerTest, TheSdksSpanForTheSameOperationIsTheParentDespiteClockSkew) {
  const auto trace = id('\x01', 16);
  // The SDK's COMMIT span reads 0.3 ms later than the kernel's call; its sibling INCR span, started just
  // before the call ended by the SDK's clock, covers more of it. The same operation decides.
  auto sys_commit =
      sys_span(id('\x09', 16), id('\x71', 8), "", kClient, 1'000'000, 1'400'000, 20, false, "7");
  sys_commit.set_name("COMMIT");
  assembler_.add(batch_of(SpanSource::kSys, {sys_commit, sys_span(trace, id('\x04', 8), id('\x02', 8),
                                                                  kServer, 0, 9'000'000, 20, true, "7")}),
                 t0_);
  auto commit = make_span(trace, id('\x72', 8), id('\x74', 8), kClient, 1'300'000, 1'500'000);
  commit.set_name("COMMIT shop");
  auto incr = make_span(trace, id('\x73', 8), id('\x74', 8), kClient, 1'050'000, 1'450'000);
  incr.set_name("INCR");
  auto outer = make_span(trace, id('\x74', 8), id('\x02', 8), kServer, 500'000, 8'000'000);
  assembler_.add(batch_of(SpanSource::kApp, {outer, commit, incr}, "orders", "20"), t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x71', 8)].trace_id(), trace);
  EXPECT_EQ(out_[id('\x71', 8)].parent_span_id(), id('\x72', 8));
}

TEST_F(AssemblerTest, ThreadLinkWithoutAppSpansGoesUnderSysServer) {
  const auto trace = id('\x01', 16);
  assembler_.add(batch_of(SpanSource::kSys,
                          {sys_span(id('\x09', 16), id('\x06', 8), "", kClient, 400, 450, 30, false, "42"),
                           sys_span(trace, id('\x04', 8), "", kServer, 200, 800, 30, false, "42")}),
                 t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x06', 8)].trace_id(), trace);
  EXPECT_EQ(out_[id('\x06', 8)].parent_span_id(), id('\x04', 8));
  EXPECT_EQ(links("thread_under_sys_server"), 1);
}

TEST_F(AssemblerTest, TraceContextWinsOverThreadLink) {
  const auto sdk_trace = id('\x0a', 16), sdk_client = id('\x0b', 8);
  assembler_.add(batch_of(SpanSource::kSys,
                          {sys_span(sdk_trace, id('\x06', 8), sdk_client, kClient, 400, 450, 30, true, "42"),
                           sys_span(id('\x01', 16), id('\x04', 8), "", kServer, 200, 800, 30, false, "42")}),
                 t0_);
  assembler_.flush();
  EXPECT_EQ(out_[id('\x06', 8)].trace_id(), sdk_trace);
  EXPECT_EQ(out_[id('\x06', 8)].parent_span_id(), sdk_client);
}

TEST_F(AssemblerTest, PartnerThatNeverComesLeavesUnlinkedAfterTheWindow) {
  assembler_.add(batch_of(SpanSource::kSys,
                          {sys_span(id('\x09', 16), id('\x06', 8), "", kClient, 400, 450, 30, false, "99")}),
                 t0_);
  assembler_.poll(t0_ + std::chrono::milliseconds(999));
  EXPECT_TRUE(out_.empty());
  assembler_.poll(t0_ + std::chrono::milliseconds(1001));
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[id('\x06', 8)].trace_id(), id('\x09', 16));
  EXPECT_TRUE(out_[id('\x06', 8)].parent_span_id().empty());
  EXPECT_EQ(metrics_.value("otelbpf_assembler_unlinked_spans_total", {{"source", "sys"}}), 1);
}

TEST_F(AssemblerTest, MemoryBoundEmitsEarlyAndCounts) {
  for (int i = 0; i < 15; ++i) {
    std::vector<otlp::Span> spans;
    for (int j = 0; j < 100; ++j)
      spans.push_back(make_span(
          id('\x01', 16),
          std::string(4, static_cast<char>(i + 1)) + std::string(3, '\x01') + static_cast<char>(j + 1), "",
          kInternal, 1, 2));
    assembler_.add(batch_of(SpanSource::kApp, std::move(spans)), t0_);
  }
  EXPECT_LE(assembler_.buffered_spans(), 1000u);
  EXPECT_EQ(metrics_.value("otelbpf_assembler_early_spans_total", {{"reason", "memory_bound"}}), 500);
  assembler_.flush();
  EXPECT_EQ(out_.size(), 1500u);
}

}  // namespace
}  // namespace otelbpf
