#pragma once
// Process-wide counters and gauges, rendered as Prometheus text on /metrics.
// Every drop, rejection and export outcome in the agent is a counter here, so nothing is lost silently.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace otelbpf {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

class MetricsRegistry {
 public:
  // Returns the same object for the same name and labels; references stay valid for the registry's life.
  Counter& counter(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});

  std::string render_prometheus() const;
  // Value of a counter or gauge (0 when absent); used by tests and the shutdown summary.
  double value(const std::string& name, const MetricLabels& labels = {}) const;

 private:
  struct Family {
    std::string help;
    bool is_counter = true;
    std::map<MetricLabels, std::unique_ptr<Counter>> counters;
    std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

// The registry that /metrics serves.
MetricsRegistry& default_metrics();

}  // namespace otelbpf
