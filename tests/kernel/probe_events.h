#pragma once
// What the kernel tests share: the events a probe load hands over, kept for inspection, and which data
// hooks a run is asked to test (OTELBPF_TEST_DATA_HOOKS: ctest runs the suites on both).
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "probes/syscall_probes.h"

namespace otelbpf::kernel_test {

struct CapturedEvent {
  otelbpf_event_header hdr;
  std::string payload;
};

class EventSink {
 public:
  SyscallProbes::EventHandler handler() {
    return [this](const otelbpf_event_header& hdr, std::span<const std::uint8_t> payload) {
      events_.push_back({hdr, std::string(payload.begin(), payload.end())});
    };
  }
  std::vector<CapturedEvent>& events() { return events_; }

 private:
  std::vector<CapturedEvent> events_;
};

// OTELBPF_TEST_DATA_HOOKS=syscalls: the syscall tracepoint fallback (ctest kernel_tests_syscall_fallback);
// =sock insists on the sock hooks; unset: what the kernel offers.
inline SyscallProbeOptions::DataHooks data_hooks_under_test() {
  const char* env = std::getenv("OTELBPF_TEST_DATA_HOOKS");
  const std::string want = env ? env : "";
  if (want == "syscalls") return SyscallProbeOptions::DataHooks::kSyscallTracepoints;
  if (want == "sock") return SyscallProbeOptions::DataHooks::kSockHooks;
  return SyscallProbeOptions::DataHooks::kAuto;
}

}  // namespace otelbpf::kernel_test
