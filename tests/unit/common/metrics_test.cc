// /metrics as Prometheus scrapes it: the text exposition format (HELP, TYPE, one line per series), label
// values and help text escaped so that no captured or configured string can break or forge a line, and
// counters and gauges that keep their identity across lookups.
#include "common/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace otelbpf {
namespace {

TEST(Metrics, RendersCountersAndGaugesInTheTextFormat) {
  MetricsRegistry registry;
  registry.counter("otelbpf_test_requests_total", "Requests received.").inc(3);
  auto& depth = registry.gauge("otelbpf_test_queue_depth", "Batches waiting.");
  depth.set(10);
  depth.add(-4);
  // Families are rendered in name order, each with its HELP and TYPE before its series.
  EXPECT_EQ(registry.render_prometheus(),
            "# HELP otelbpf_test_queue_depth Batches waiting.\n"
            "# TYPE otelbpf_test_queue_depth gauge\n"
            "otelbpf_test_queue_depth 6\n"
            "# HELP otelbpf_test_requests_total Requests received.\n"
            "# TYPE otelbpf_test_requests_total counter\n"
            "otelbpf_test_requests_total 3\n");
}

TEST(Metrics, GaugesGoNegativeAndCountersHoldLargeValues) {
  MetricsRegistry registry;
  registry.gauge("otelbpf_test_delta", "A signed gauge.").set(-7);
  registry.counter("otelbpf_test_bytes_total", "Bytes.").inc(std::uint64_t{1} << 40);
  const auto text = registry.render_prometheus();
  EXPECT_NE(text.find("otelbpf_test_delta -7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("otelbpf_test_bytes_total 1099511627776\n"), std::string::npos) << text;
  EXPECT_EQ(registry.value("otelbpf_test_delta"), -7);
}

TEST(Metrics, OneSeriesPerLabelSetUnderOneHeader) {
  MetricsRegistry registry;
  registry
      .counter("otelbpf_test_rejected_total", "Rejected requests.", {{"transport", "http"}, {"reason", "a"}})
      .inc();
  registry
      .counter("otelbpf_test_rejected_total", "Rejected requests.", {{"transport", "http"}, {"reason", "b"}})
      .inc(2);
  // The same name and labels is the same counter.
  registry
      .counter("otelbpf_test_rejected_total", "Rejected requests.", {{"transport", "http"}, {"reason", "a"}})
      .inc();
  EXPECT_EQ(registry.render_prometheus(),
            "# HELP otelbpf_test_rejected_total Rejected requests.\n"
            "# TYPE otelbpf_test_rejected_total counter\n"
            "otelbpf_test_rejected_total{transport=\"http\",reason=\"a\"} 2\n"
            "otelbpf_test_rejected_total{transport=\"http\",reason=\"b\"} 2\n");
  EXPECT_EQ(registry.value("otelbpf_test_rejected_total", {{"transport", "http"}, {"reason", "a"}}), 2);
  EXPECT_EQ(registry.value("otelbpf_test_rejected_total", {{"transport", "http"}, {"reason", "b"}}), 2);
}

TEST(Metrics, ReferencesStayValidAndCountersAreShared) {
  MetricsRegistry registry;
  Counter& first = registry.counter("otelbpf_test_events_total", "Events.", {{"cpu", "0"}});
  // Many more series in the family must not move the first one (callers keep references for life).
  for (int cpu = 1; cpu < 500; ++cpu)
    registry.counter("otelbpf_test_events_total", "Events.", {{"cpu", std::to_string(cpu)}}).inc();
  first.inc(5);
  EXPECT_EQ(&first, &registry.counter("otelbpf_test_events_total", "Events.", {{"cpu", "0"}}));
  EXPECT_EQ(registry.value("otelbpf_test_events_total", {{"cpu", "0"}}), 5);
  EXPECT_EQ(registry.value("otelbpf_test_events_total", {{"cpu", "499"}}), 1);
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry registry;
  constexpr int kThreads = 8;
  constexpr int kIncrements = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&registry] {
      for (int i = 0; i < kIncrements; ++i) registry.counter("otelbpf_test_spans_total", "Spans.").inc();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(registry.value("otelbpf_test_spans_total"), kThreads * kIncrements);
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry registry;
  // Label values can come from the outside (a service name, a peer address, a protocol error).
  registry.counter("otelbpf_test_errors_total", "Errors.", {{"message", "say \"hi\"\\ to\nme"}}).inc();
  const auto text = registry.render_prometheus();
  EXPECT_NE(text.find(R"(otelbpf_test_errors_total{message="say \"hi\"\\ to\nme"} 1)"
                      "\n"),
            std::string::npos)
      << text;
  // A newline in a value never starts a line of its own.
  EXPECT_EQ(text.find("\nme"), std::string::npos) << text;
}

TEST(Metrics, HelpTextIsEscaped) {
  MetricsRegistry registry;
  // The text format escapes backslash and newline in HELP; an unescaped newline would turn the rest of the
  // help into a line of its own, here a forged sample.
  registry.counter("otelbpf_test_paths_total", "Paths like C:\\temp.\notelbpf_forged_total 1").inc();
  const auto text = registry.render_prometheus();
  EXPECT_EQ(text,
            "# HELP otelbpf_test_paths_total Paths like C:\\\\temp.\\notelbpf_forged_total 1\n"
            "# TYPE otelbpf_test_paths_total counter\n"
            "otelbpf_test_paths_total 1\n");
}

TEST(Metrics, FirstHelpWins) {
  MetricsRegistry registry;
  registry.counter("otelbpf_test_total", "The first help.", {{"a", "1"}});
  registry.counter("otelbpf_test_total", "Another help.", {{"a", "2"}});
  const auto text = registry.render_prometheus();
  EXPECT_NE(text.find("# HELP otelbpf_test_total The first help.\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("Another help."), std::string::npos) << text;
}

TEST(Metrics, AbsentSeriesReadAsZero) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.value("otelbpf_test_missing_total"), 0);
  registry.counter("otelbpf_test_present_total", "Present.", {{"k", "v"}}).inc();
  EXPECT_EQ(registry.value("otelbpf_test_present_total", {{"k", "other"}}), 0);
  EXPECT_EQ(registry.value("otelbpf_test_present_total"), 0);
  EXPECT_EQ(MetricsRegistry().render_prometheus(), "");
}

}  // namespace
}  // namespace otelbpf
