#include "common/metrics.h"

#include <fmt/format.h>

namespace otelbpf {
namespace {
// The text format escapes backslash and newline in HELP: an unescaped newline would end the comment and
// make the rest of the help a sample line of its own.
std::string escape_help(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_labels(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first;
    out += "=\"";
    for (char c : labels[i].second) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}
}  // namespace

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& family = families_[name];
  if (family.help.empty()) family.help = help;
  family.is_counter = true;
  auto& slot = family.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& family = families_[name];
  if (family.help.empty()) family.help = help;
  family.is_counter = false;
  auto& slot = family.gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

std::string MetricsRegistry::render_prometheus() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(family.help), name,
                       family.is_counter ? "counter" : "gauge");
    for (const auto& [labels, c] : family.counters)
      out += fmt::format("{}{} {}\n", name, render_labels(labels), c->value());
    for (const auto& [labels, g] : family.gauges)
      out += fmt::format("{}{} {}\n", name, render_labels(labels), g->value());
  }
  return out;
}

double MetricsRegistry::value(const std::string& name, const MetricLabels& labels) const {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  if (auto c = it->second.counters.find(labels); c != it->second.counters.end())
    return static_cast<double>(c->second->value());
  if (auto g = it->second.gauges.find(labels); g != it->second.gauges.end())
    return static_cast<double>(g->second->value());
  return 0;
}

MetricsRegistry& default_metrics() {
  static MetricsRegistry registry;
  return registry;
}

}  // namespace otelbpf
