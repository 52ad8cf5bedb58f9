#include "probes/libbpf_logging.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace otelbpf {
namespace {

thread_local int quiet_depth = 0;

int print_to_spdlog(enum libbpf_print_level level, const char* format, va_list args) {
  auto spd_level = spdlog::level::trace;
  if (level == LIBBPF_WARN) {
    spd_level = quiet_depth > 0 ? spdlog::level::debug : spdlog::level::warn;
  } else if (level == LIBBPF_INFO) {
    spd_level = spdlog::level::debug;
  }
  if (!spdlog::should_log(spd_level)) return 0;
  // Verifier logs arrive as one multi-kilobyte string: size it first.
  va_list measure;
  va_copy(measure, args);
  int n = std::vsnprintf(nullptr, 0, format, measure);
  va_end(measure);
  if (n < 0) return n;
  std::string buf(static_cast<size_t>(n) + 1, '\0');
  std::vsnprintf(buf.data(), buf.size(), format, args);
  std::string_view msg(buf.data(), static_cast<size_t>(n));
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  spdlog::log(spd_level, "{}", msg);
  return n;
}

}  // namespace

void route_libbpf_logs_to_spdlog() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(print_to_spdlog); });
}

QuietLibbpfWarnings::QuietLibbpfWarnings() { ++quiet_depth; }
QuietLibbpfWarnings::~QuietLibbpfWarnings() { --quiet_depth; }

}  // namespace otelbpf
