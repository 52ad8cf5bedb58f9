#pragma once
// How late each SDK's spans reach the agent: from a span's end to its arrival. An SDK's batch processor
// (5 s by default) and every collector hop add to it, and a span that such spans may still claim must
// wait that long. The estimate is the largest lag seen in the last two periods per service, so it follows
// a changed configuration within two periods and ignores one old outlier after that.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace otelbpf {

class AppLag {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kPeriod{30};

  void observe(const std::string& service, std::chrono::nanoseconds lag, Clock::time_point now) {
    observe_into(by_service_[service], lag, now);
    observe_into(all_, lag, now);
  }
  // The estimate for one service, else for all services; zero when nothing was measured recently.
  std::chrono::nanoseconds estimate(const std::string& service, Clock::time_point now) const {
    if (!service.empty())
      if (auto it = by_service_.find(service); it != by_service_.end()) {
        const auto lag = it->second.value(now);
        if (lag.count() > 0) return lag;
      }
    return all_.value(now);
  }
  // Services are few; forget those not heard from in two periods.
  void forget_quiet(Clock::time_point now) {
    std::erase_if(by_service_, [&](const auto& kv) { return now - kv.second.period_start >= 2 * kPeriod; });
  }

 private:
  struct Window {
    Clock::time_point period_start{};
    std::chrono::nanoseconds current{0}, previous{0};
    std::chrono::nanoseconds value(Clock::time_point now) const {
      if (now - period_start >= 2 * kPeriod) return std::chrono::nanoseconds{0};
      if (now - period_start >= kPeriod) return current;
      return std::max(current, previous);
    }
  };
  static void observe_into(Window& w, std::chrono::nanoseconds lag, Clock::time_point now) {
    if (now - w.period_start >= kPeriod) {
      w.previous = now - w.period_start >= 2 * kPeriod ? std::chrono::nanoseconds{0} : w.current;
      w.current = std::chrono::nanoseconds{0};
      w.period_start = now;
    }
    w.current = std::max(w.current, lag);
  }
  std::unordered_map<std::string, Window> by_service_;
  Window all_;
};

}  // namespace otelbpf
