// The trace view: its store (grouping, summaries, filters, the byte bound, the memory budget) and its
// listener's JSON API and page, over a real socket.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/memory_budget.h"
#include "spans/sys_span_export.h"
#include "ui/trace_view.h"

namespace otelbpf::ui {
namespace {

std::string bytes(char fill, std::size_t n) { return std::string(n, fill); }

void add_attr(google::protobuf::RepeatedPtrField<otlp::KeyValue>* attributes, const std::string& key,
              const std::string& value) {
  auto* kv = attributes->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

// One resource (service, pod) with spans of one source.
struct SpanSpec {
  char trace;
  char id;
  char parent;  // 0: root
  const char* name;
  std::uint64_t start;
  std::uint64_t end;
  bool error = false;
};

otlp::ExportRequest request(const std::string& service, const std::string& pod, const std::string& source,
                            std::initializer_list<SpanSpec> spans) {
  otlp::ExportRequest req;
  auto* rs = req.add_resource_spans();
  add_attr(rs->mutable_resource()->mutable_attributes(), "service.name", service);
  add_attr(rs->mutable_resource()->mutable_attributes(), "k8s.pod.name", pod);
  add_attr(rs->mutable_resource()->mutable_attributes(), "k8s.namespace.name", "shop");
  auto* ss = rs->add_scope_spans();
  for (const SpanSpec& spec : spans) {
    auto* s = ss->add_spans();
    s->set_trace_id(bytes(spec.trace, 16));
    s->set_span_id(bytes(spec.id, 8));
    if (spec.parent) s->set_parent_span_id(bytes(spec.parent, 8));
    s->set_name(spec.name);
    s->set_kind(otlp::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(spec.start);
    s->set_end_time_unix_nano(spec.end);
    if (spec.error) s->mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
    add_attr(s->mutable_attributes(), "otelbpf.span.source", source);
    add_attr(s->mutable_attributes(), "http.route", "/checkout \"quoted\"");
  }
  return req;
}

std::string hex_of(char c, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[static_cast<unsigned char>(c) >> 4];
    out += digits[static_cast<unsigned char>(c) & 0xf];
  }
  return out;
}

TEST(TraceStore, GroupsSpansByTraceAcrossBatchesAndSummarisesThem) {
  MetricsRegistry metrics;
  TraceStore store({}, nullptr, metrics);
  store.add(request("frontend", "frontend-1", "app", {{'\x01', '\x0a', 0, "GET /checkout", 1000, 9000}}));
  store.add(request("", "frontend-1", "sys", {{'\x01', '\x0b', '\x0a', "HTTP GET", 1500, 8500, true}}));
  store.add(request("", "", "net", {{'\x01', '\x0c', '\x0b', "HTTP GET", 1600, 8400}}));
  store.add(request("orders", "orders-1", "app", {{'\x02', '\x0d', 0, "POST /orders", 20000, 23000}}));

  const auto traces = store.list({});
  ASSERT_EQ(traces.size(), 2u);
  EXPECT_EQ(traces[0].trace_id, hex_of('\x02', 16));  // newest first
  const TraceSummary& t = traces[1];
  EXPECT_EQ(t.trace_id, hex_of('\x01', 16));
  EXPECT_EQ(t.root_name, "GET /checkout");
  EXPECT_EQ(t.spans, 3u);
  EXPECT_EQ(t.app_spans, 1u);
  EXPECT_EQ(t.sys_spans, 1u);
  EXPECT_EQ(t.net_spans, 1u);
  EXPECT_EQ(t.errors, 1u);
  EXPECT_EQ(t.duration_ns, 8000u);
  EXPECT_EQ(t.services, std::vector<std::string>{"frontend"});
  EXPECT_EQ(t.pods, std::vector<std::string>{"frontend-1"});

  const auto trace = store.get(hex_of('\x01', 16));
  ASSERT_TRUE(trace.has_value());
  ASSERT_EQ(trace->spans.size(), 3u);
  EXPECT_EQ(trace->spans[1].parent_span_id, hex_of('\x0a', 8));
  EXPECT_EQ(trace->spans[1].source, "sys");
  EXPECT_FALSE(store.get(hex_of('\x03', 16)).has_value());
}

TEST(TraceStore, FiltersByServicePodNamespaceAndDuration) {
  MetricsRegistry metrics;
  TraceStore store({}, nullptr, metrics);
  store.add(request("frontend", "frontend-1", "app", {{'\x01', '\x0a', 0, "slow", 0, 50'000'000}}));
  store.add(request("orders", "orders-1", "app", {{'\x02', '\x0b', 0, "fast", 0, 1'000'000}}));
  EXPECT_EQ(store.list({.service = "orders"}).size(), 1u);
  EXPECT_EQ(store.list({.pod = "frontend-1"}).at(0).root_name, "slow");
  EXPECT_EQ(store.list({.namespace_name = "shop"}).size(), 2u);
  EXPECT_EQ(store.list({.namespace_name = "other"}).size(), 0u);
  EXPECT_EQ(store.list({.min_duration_ns = 10'000'000}).at(0).root_name, "slow");
  EXPECT_EQ(store.list({.limit = 1}).size(), 1u);
}

TEST(TraceStore, StaysWithinItsByteBoundAndChargesTheMemoryBudget) {
  MetricsRegistry metrics;
  MemoryBudget budget(64u << 20, metrics);
  const std::size_t bound = 64 * 1024;
  TraceStore store({.max_bytes = bound, .max_traces = 100000, .max_new_traces_per_second = 1000000}, &budget,
                   metrics);
  for (int i = 0; i < 2000; ++i) {
    const char t = static_cast<char>(i % 250);
    auto req = request("svc-" + std::to_string(i), "pod-" + std::to_string(i), "app",
                       {{t, '\x01', 0, "span with a long enough name to weigh something", 0, 10}});
    req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_trace_id(
        std::string(reinterpret_cast<const char*>(&i), sizeof i) + bytes('x', 12));
    store.add(req);
    ASSERT_LE(store.bytes(), bound);
  }
  EXPECT_GT(store.bytes(), bound / 2);  // it fills up to the bound, not far below it
  EXPECT_EQ(budget.held(), store.bytes());
  EXPECT_LT(store.trace_count(), 2000u);
  EXPECT_GT(metrics.counter("otelbpf_ui_traces_evicted_total", "").value(), 0u);
  // The newest trace is the one kept.
  const int last = 1999;
  EXPECT_EQ(store.list({.limit = 1}).at(0).services.at(0), "svc-" + std::to_string(last));
}

TEST(TraceStore, UnderLoadKeepsASampleOfWholeTraces) {
  MetricsRegistry metrics;
  TraceStore store({.max_new_traces_per_second = 2}, nullptr, metrics);
  const auto t0 = std::chrono::steady_clock::now();
  // Five new traces in one instant: two are taken (the bucket's depth), three passed over.
  for (char t = 1; t <= 5; ++t) store.add(request("a", "p", "app", {{t, '\x0a', 0, "root", 0, 10}}), t0);
  EXPECT_EQ(store.trace_count(), 2u);
  // Later spans: those of a taken trace are taken, those of a passed-over trace never are, even once the
  // bucket has refilled (no half traces).
  const auto t1 = t0 + std::chrono::seconds(1);
  store.add(
      request("a", "p", "sys", {{1, '\x0b', '\x0a', "child", 1, 5}, {3, '\x0b', '\x0a', "child", 1, 5}}), t1);
  EXPECT_EQ(store.get(hex_of(1, 16))->spans.size(), 2u);
  EXPECT_FALSE(store.get(hex_of(3, 16)).has_value());
  // The refilled bucket takes new traces again.
  store.add(request("a", "p", "app", {{6, '\x0a', 0, "root", 0, 10}}), t1);
  EXPECT_TRUE(store.get(hex_of(6, 16)).has_value());
  EXPECT_EQ(metrics.counter("otelbpf_ui_spans_sampled_out_total", "").value(), 4u);
}

TEST(TraceStore, BoundsSpansPerTraceAndReplacesASpanHandedOverAgain) {
  MetricsRegistry metrics;
  TraceStore store({.max_spans_per_trace = 2}, nullptr, metrics);
  store.add(request("a", "p", "app", {{'\x01', '\x0a', 0, "first", 0, 10}}));
  store.add(request("a", "p", "app", {{'\x01', '\x0a', 0, "first, moved", 0, 10}}));
  store.add(request("a", "p", "app", {{'\x01', '\x0b', '\x0a', "second", 1, 5}}));
  store.add(request("a", "p", "app", {{'\x01', '\x0c', '\x0a', "third", 2, 5}}));
  const auto trace = store.get(hex_of('\x01', 16));
  ASSERT_EQ(trace->spans.size(), 2u);
  EXPECT_EQ(trace->spans[0].name, "first, moved");
  EXPECT_EQ(metrics.counter("otelbpf_ui_spans_dropped_total", "").value(), 1u);
}

// The tracer's spans reach the store compact; what it keeps of them is what it keeps of the OTLP spans
// they are exported as, field by field: a server span with its request's context, a query and bytes that
// are not UTF-8; a client span the assembler linked, answered with an error; a span without a socket.
TEST(TraceStore, KeepsOfACompactSysSpanWhatItKeepsOfItsOtlpForm) {
  SpanBatch batch;
  batch.source = SpanSource::kSys;
  auto& group = batch.sys_groups.emplace_back();
  group.pid = 4242;
  group.executable = "shop";
  add_attr(group.resource.mutable_attributes(), "service.name", "shop");
  add_attr(group.resource.mutable_attributes(), "k8s.pod.name", "shop-7d9f");
  add_attr(group.resource.mutable_attributes(), "process.executable.name", "shop");
  auto* pid = group.resource.mutable_attributes()->Add();
  pid->set_key("process.pid");
  pid->mutable_value()->set_int_value(4242);
  for (int i = 0; i < 3; ++i) {
    auto& span = group.spans.emplace_back();
    auto& r = span.record;
    r.protocol = "http1";
    r.role = i == 0 ? l7::Role::kServer : l7::Role::kClient;
    r.start_ns = 1000 + 100 * static_cast<std::uint64_t>(i);
    r.end_ns = r.start_ns + 50;
    r.req_tid = 77;
    r.req_seq = 10 + static_cast<std::uint32_t>(i);
    r.resp_seq = 20 + static_cast<std::uint32_t>(i);
    span.trace_id.fill(static_cast<std::uint8_t>(0x31));
    span.span_id.fill(static_cast<std::uint8_t>(0x41 + i));
    span.monotonic_to_wall_ns = 1'700'000'000'000'000'000;
    if (i < 2) {
      span.has_socket = true;
      span.local_address = "10.0.0.2";
      span.peer_address = "10.0.0.9";
      span.local_port = i == 0 ? 8080 : 41000;
      span.peer_port = i == 0 ? 41001 : 5432;
    }
    if (i == 0) {
      r.span_name = "GET /caf\xe9";
      r.attributes.emplace_back("http.request.method", std::string("GET"));
      r.attributes.emplace_back("url.query", std::string("token=s3cr3t&page=2"));
      r.attributes.emplace_back("user_agent.original", std::string("bot\xff"));
      r.attributes.emplace_back("http.response.status_code", std::int64_t{200});
      r.context = l7::parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    } else if (i == 1) {
      r.span_name = "POST /pay";
      r.attributes.emplace_back("http.response.status_code", std::int64_t{503});
      r.error = true;
      r.status_message = "HTTP 503 Service Unavailable";
      span.tls = true;
      span.syscall_trace_id = 9;
      span.linked = true;
      span.linked_trace_id = bytes('\x31', 16);
      span.linked_parent_span_id = bytes('\x41', 8);
    }
  }
  MetricsRegistry metrics;
  TraceStore compact({}, nullptr, metrics), otlp_form({}, nullptr, metrics);
  compact.add(batch);
  otlp_form.add(otlp_request_of(batch));

  {
    const auto got = compact.get(hex_of('\x31', 16));
    const auto want = otlp_form.get(hex_of('\x31', 16));
    ASSERT_TRUE(want.has_value());
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(want->spans.size(), 3u);
    ASSERT_EQ(got->spans.size(), want->spans.size());
    for (std::size_t i = 0; i < want->spans.size(); ++i) {
      const auto &g = got->spans[i], &w = want->spans[i];
      EXPECT_EQ(g.span_id, w.span_id);
      EXPECT_EQ(g.parent_span_id, w.parent_span_id);
      EXPECT_EQ(g.name, w.name);
      EXPECT_EQ(g.kind, w.kind);
      EXPECT_EQ(g.source, w.source);
      EXPECT_EQ(g.start_ns, w.start_ns);
      EXPECT_EQ(g.end_ns, w.end_ns);
      EXPECT_EQ(g.service, w.service);
      EXPECT_EQ(g.pod, w.pod);
      EXPECT_EQ(g.namespace_name, w.namespace_name);
      EXPECT_EQ(g.process, w.process);
      EXPECT_EQ(g.error, w.error);
      EXPECT_EQ(g.status_message, w.status_message);
      EXPECT_EQ(g.attributes, w.attributes) << w.name;
    }
  }
  // What the comparison stands on: the spans' own fields, as the view shows them.
  const auto trace = compact.get(hex_of('\x31', 16));
  EXPECT_EQ(trace->spans[0].parent_span_id, "b7ad6b7169203331");  // the request's context
  EXPECT_EQ(trace->spans[0].kind, "server");
  const auto& linked = trace->spans[1];
  EXPECT_EQ(linked.source, "sys");
  EXPECT_EQ(linked.process, "shop (pid 4242)");
  EXPECT_EQ(linked.pod, "shop-7d9f");
  EXPECT_EQ(linked.parent_span_id, hex_of('\x41', 8));
  EXPECT_TRUE(linked.error);
  EXPECT_EQ(linked.status_message, "HTTP 503 Service Unavailable");
}

// A raw HTTP/1.1 GET over loopback: status line and body.
std::pair<std::string, std::string> http_get(std::uint16_t port, const std::string& target) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
  close(fd);
  const auto header_end = answer.find("\r\n\r\n");
  return {answer.substr(0, answer.find("\r\n")),
          header_end == std::string::npos ? "" : answer.substr(header_end + 4)};
}

TEST(TraceView, ServesThePageAndTheJsonApiFromWhatWasOffered) {
  MetricsRegistry metrics;
  TraceView view({.listen_address = "127.0.0.1", .port = 0}, nullptr, metrics);
  view.start();
  const std::uint16_t port = view.bound_port();
  ASSERT_NE(port, 0);
  auto batch = std::make_shared<SpanBatch>();
  batch->request() =
      request("frontend", "frontend-1", "app", {{'\x01', '\x0a', 0, "GET /checkout", 1000, 9000}});
  view.offer(batch);
  view.drain();

  auto [status, body] = http_get(port, "/api/traces");
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
  EXPECT_NE(body.find("\"traceId\":\"" + hex_of('\x01', 16) + "\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"rootName\":\"GET /checkout\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"appSpans\":1"), std::string::npos) << body;

  std::tie(status, body) = http_get(port, "/api/traces/" + hex_of('\x01', 16));
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
  EXPECT_NE(body.find("[\"http.route\",\"/checkout \\\"quoted\\\"\"]"), std::string::npos) << body;
  EXPECT_NE(body.find("[\"resource.k8s.pod.name\",\"frontend-1\"]"), std::string::npos) << body;

  std::tie(status, body) = http_get(port, "/api/traces?service=nobody");
  EXPECT_EQ(body, "{\"traces\":[]}");
  std::tie(status, body) = http_get(port, "/api/traces?min_duration_ms=abc");
  EXPECT_EQ(status, "HTTP/1.1 400 Bad Request");
  std::tie(status, body) = http_get(port, "/api/traces/" + hex_of('\x07', 16));
  EXPECT_EQ(status, "HTTP/1.1 404 Not Found");
  std::tie(status, body) = http_get(port, "/");
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
  EXPECT_EQ(body, std::string(index_html()));
  EXPECT_NE(body.find("id=\"waterfall\""), std::string::npos);
  view.stop();
}

TEST(TraceView, AFullQueueDropsForTheViewOnlyAndCountsIt) {
  MetricsRegistry metrics;
  TraceView view({.port = 0, .max_queued_batches = 0}, nullptr, metrics);
  view.start();
  auto batch = std::make_shared<SpanBatch>();
  batch->request() = request("a", "p", "app", {{'\x01', '\x0a', 0, "x", 0, 1}});
  view.offer(batch);
  view.drain();
  EXPECT_EQ(view.store().trace_count(), 0u);
  EXPECT_EQ(metrics.counter("otelbpf_ui_batches_dropped_total", "").value(), 1u);
}

TEST(TraceView, APortInUseIsAClearError) {
  MetricsRegistry metrics;
  TraceView first({.port = 0}, nullptr, metrics);
  first.start();
  TraceView second({.port = first.bound_port()}, nullptr, metrics);
  try {
    second.start();
    FAIL() << "bound a port in use";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace otelbpf::ui
