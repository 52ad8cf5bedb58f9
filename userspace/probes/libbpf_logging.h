#pragma once
// libbpf prints through a process-wide callback; this routes it to spdlog.

namespace otelbpf {

// Installs the spdlog print callback (idempotent): libbpf warnings -> warn, info -> debug,
// debug (verifier logs) -> trace.
void route_libbpf_logs_to_spdlog();

// While alive, libbpf warnings on this thread are logged at debug level: for operations whose failure
// the caller reports itself in one line (probing which programs load, attaching each program).
class QuietLibbpfWarnings {
 public:
  QuietLibbpfWarnings();
  ~QuietLibbpfWarnings();
  QuietLibbpfWarnings(const QuietLibbpfWarnings&) = delete;
  QuietLibbpfWarnings& operator=(const QuietLibbpfWarnings&) = delete;
};

}  // namespace otelbpf
