#pragma once
// Userspace half of the syscall tracer: kernel events in, sys spans out. Owns the connection table,
// protocol inference, the stitchers and the thread links; knows nothing about how events are delivered,
// so tests drive it with synthetic events and the agent with the ring buffer.
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>

#include "bpf/events.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "model/span_batch.h"
#include "spans/sys_span_builder.h"
#include "tracer/connection_table.h"
#include "tracer/thread_links.h"

namespace otelbpf {

// A process in a pod sees itself under another pid: what its SDK reports as process.pid is the last
// NSpid of /proc/<pid>/status, in the PID namespace named by /proc/<pid>/ns/pid.
struct PidNamespace {
  std::uint32_t ns_pid = 0;
  std::uint64_t namespace_inode = 0;
};
// {pid, 0} when /proc does not say (the process is gone, or a kernel without NSpid, before 4.1).
PidNamespace read_pid_namespace(std::uint32_t pid);

struct SyscallEventProcessorOptions {
  std::size_t max_connections = 65536;
  std::chrono::seconds connection_idle{300};
  std::size_t max_batch_spans = 512;
  // Connections whose first messages match no protocol are given up on after this many tries.
  std::uint32_t max_failed_inferences = 16;
  std::string host_name;
  // Called the first time a process is seen, while it is alive: short-lived clients (curl) exit before
  // their spans leave the assembler, so whatever needs /proc/<pid> (its cgroup, for pod attribution)
  // must be read now.
  std::function<void(std::uint32_t pid)> on_new_process;
  // Called when a process exec'd (OTELBPF_EV_EXEC; sent only while the TLS probes watch for new
  // binaries). Runs on the event thread: must not block.
  std::function<void(std::uint32_t pid)> on_exec;
  // The connection table's estimated bytes are charged here (nullptr: not accounted).
  MemoryBudget* memory = nullptr;
};

class SyscallEventProcessor {
 public:
  using BatchSink = std::function<void(SpanBatch)>;

  SyscallEventProcessor(SyscallEventProcessorOptions options, BatchSink sink,
                        MetricsRegistry& metrics = default_metrics());

  void on_event(const otelbpf_event_header& event, std::span<const std::uint8_t> payload);
  // Periodic housekeeping: idle eviction, clock resync, and handing the spans made so far to the sink.
  void tick();
  // Closes every connection (pending requests leave as records) and flushes (shutdown).
  void close_all();

  std::size_t connections() const { return table_.size(); }

 private:
  void dispatch(const otelbpf_event_header& event, std::span<const std::uint8_t> payload);
  void on_data(const otelbpf_event_header& event, std::span<const std::uint8_t> payload);
  // TLS (docs/design.md, TLS plaintext): plaintext from the TLS probes switches a connection to it; the
  // connection's socket events are then ciphertext and are dropped unparsed, as they are once a TLS
  // record shows up on a connection without plaintext (a library the probes do not cover). False: drop.
  bool admit_tls(Connection& conn, const otelbpf_event_header& event, std::string_view captured);
  void finish_records(Connection& conn, std::vector<l7::L7Record>& records);
  void close_connection(Connection& conn, std::uint64_t ts_ns);
  const std::string& executable_of(std::uint32_t pid, const std::string& comm);
  // Reads what /proc says of a process the first time it shows up (its executable, the new-process hook).
  void note_process(std::uint32_t pid, const std::string& comm);
  void flush();

  SyscallEventProcessorOptions options_;
  BatchSink sink_;
  MetricsRegistry& metrics_;
  ConnectionTable table_;
  ThreadLinks thread_links_;
  SpanIdGenerator ids_;
  std::int64_t monotonic_to_wall_ns_ = 0;
  std::unordered_map<std::uint32_t, std::string> executables_;
  std::unordered_map<std::uint32_t, PidNamespace> pid_namespaces_;
  // Spans made since the last flush, grouped by process (one OTLP resource per process).
  std::unordered_map<std::uint32_t, SysSpanGroup> pending_;  // by host pid
  // Each process's span count in the last flush it had spans in: its next group's room (a group that
  // grows moves every span it holds; a busy server's fills most of a 512-span flush).
  std::unordered_map<std::uint32_t, std::uint32_t> last_group_spans_;
  std::size_t pending_spans_ = 0;
  std::size_t pending_span_bytes_ = 0;  // approx_resident_bytes of each pending span, summed as it is made
  std::vector<l7::L7Record> records_;  // scratch, reused
  l7::StitcherStats closed_stats_;
  Counter& events_;
  Counter& spans_;
  Counter& non_l7_connections_;
  Counter& handler_errors_;
  Counter& tls_ciphertext_dropped_;
  MemoryCharge table_charge_;
};


}  // namespace otelbpf
