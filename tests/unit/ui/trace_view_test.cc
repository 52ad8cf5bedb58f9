// The trace view: its store (grouping, summaries, filters, the byte bound, the memory budget) and its
// listener's JSON API and page, over a real socket.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/memory_budget.h"
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
