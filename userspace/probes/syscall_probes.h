#pragma once
// Loader of bpf/syscalls.bpf.c: the syscall tracepoint probes that turn socket I/O into events.
// Open, configure rodata, load, fill filter maps, attach each program, poll the ring buffer;
// everything is released in reverse order when the SyscallProbes object dies.
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bpf/events.h"
#include "probes/event_stream.h"
#include "probes/libbpf_handles.h"

struct syscalls_bpf;  // bpftool skeleton (syscalls.skel.h), private to the .cc

namespace otelbpf {

struct SyscallProbeOptions {
  // Load time (rodata / map sizes).
  std::uint32_t payload_capture_bytes = 1024;  // clamped to OTELBPF_MAX_PAYLOAD
  std::uint32_t ringbuf_bytes = 8u << 20;      // rounded up to a power of two >= page size
  // How events reach userspace: the BPF ring buffer (Linux 5.8+) or, where the kernel lacks it, a
  // per-CPU perf buffer. kAuto probes the kernel; the others force one (tests, comparisons).
  enum class Transport { kAuto, kRingBuffer, kPerfBuffer } transport = Transport::kAuto;
  // Where the read/write/send/recv-family calls are seen. kSockHooks: BTF tracepoints at the end of
  // sock_sendmsg/sock_recvmsg (sock:sock_send_length/sock_recv_length, Linux 6.3+), which never fire for
  // files or pipes; kSyscallTracepoints: syscalls/sys_{enter,exit}_X, which fire for every read/write of
  // every process. kAuto takes the sock hooks where the kernel has them (checked in its BTF) and falls
  // back to the syscall tracepoints if the kernel refuses to load them.
  enum class DataHooks { kAuto, kSockHooks, kSyscallTracepoints } data_hooks = DataHooks::kAuto;
  // Ring buffer wake-ups: false wakes the consumer whenever it has caught up (one wake-up per event at
  // moderate rates, paid by the traced thread); true commits without waking except once per 1/8 of the
  // ring written, and poll() reads what is there when its timeout passes (bounded latency).
  bool batch_wakeups = true;
  // Sock hooks only: true takes ts_enter of TCP sends from tcp:tcp_sendmsg_locked, which fires when a send
  // begins (one more program run per send, ~100-170 ns here); false reports when the send returned, as the
  // sock hooks fire only then (a loopback write returns within microseconds; spans start that much later).
  bool send_start_marks = false;
  // Load the TLS plaintext probes (bpf/tls_uprobes.bpf.h: SSL_read/SSL_write uprobes and the exec
  // watch). They attach to nothing until attach_tls_library() names a binary (probes/tls_probes.h).
  bool tls_uprobes = false;
  // The agent never traces its own process (its export traffic would feed itself). Tests that
  // generate traffic in-process turn this on.
  bool trace_own_process = false;
  // Runtime filters (also changeable later with set_filters()).
  std::vector<std::uint32_t> pids;          // tgids to trace; empty = all
  std::uint64_t cgroup_id = 0;              // cgroup v2 id to trace; 0 = all
  std::vector<std::uint16_t> ignore_ports;  // drop sockets whose local or remote port is listed
  std::vector<std::uint16_t> only_ports;    // non-empty: keep only sockets with a listed port
};

struct ProbeStatus {
  std::string name;  // tracepoint, e.g. "syscalls/sys_enter_read"
  bool attached = false;
  std::string error;  // why not, when !attached
};

// Sums over all CPUs of the kernel-side counters (enum otelbpf_counter); monotonic.
struct KernelCounters {
  std::uint64_t events = 0;
  std::uint64_t ringbuf_drops = 0;
  std::uint64_t non_socket_skipped = 0;
  std::uint64_t other_socket_skipped = 0;
  std::uint64_t filtered = 0;
  std::uint64_t inflight_lost = 0;
  std::uint64_t sock_cache_misses = 0;  // sock hooks: verdicts decided by walking the fd table
  std::uint64_t tls_ciphertext_skipped = 0;  // socket calls inside SSL calls (their plaintext is sent)
  std::uint64_t tls_unbound = 0;             // TLS plaintext whose socket was not found
  std::uint64_t tls_events = 0;              // TLS plaintext events sent
};

// The uprobes attached to one TLS library or executable; destroying it detaches them.
struct TlsAttachment {
  std::vector<BpfLink> links;
  std::vector<std::string> functions;  // the SSL_* functions found and probed
};

class SyscallProbes {
 public:
  // Called from poll() for each event. `payload` points into the ring buffer: valid only during the call.
  using EventHandler =
      std::function<void(const otelbpf_event_header& header, std::span<const std::uint8_t> payload)>;

  // Loads and attaches every probe the kernel accepts; refused ones are logged once each and show in
  // status(). Throws ProbeError when nothing can load or attach (no privileges, no BTF, ...).
  static std::unique_ptr<SyscallProbes> load(const SyscallProbeOptions& options, EventHandler handler);

  ~SyscallProbes();
  SyscallProbes(const SyscallProbes&) = delete;
  SyscallProbes& operator=(const SyscallProbes&) = delete;

  // Waits up to `timeout` for events and dispatches them. Returns the number of events handled, or
  // -errno (EINTR counts as 0 events). An exception thrown by the handler propagates from here.
  int poll(std::chrono::milliseconds timeout);
  // Fd that becomes readable when events are waiting, for an external epoll loop; then call poll(0ms).
  int epoll_fd() const;

  // Attaches the TLS uprobes to every process that maps `binary_path` (a libssl or an executable with
  // OpenSSL inside). Throws ProbeError when the TLS probes are not loaded or SSL_read/SSL_write cannot be
  // probed there; the _ex variants are probed where the library has them.
  TlsAttachment attach_tls_library(const std::string& binary_path);
  // Tells the kernel side whether TLS uprobes are attached (the socket hooks look up the thread's SSL
  // state only then) and whether to send exec events.
  void set_tls_state(bool uprobes_attached, bool exec_events);
  // Detaches the tracepoints and sock hooks (fast) and leaves the programs loaded for the TLS uprobes,
  // which go later (TlsProbes' destructor): their detach is what takes time at stop.
  void detach_hooks();
  bool tls_loaded() const { return tls_loaded_; }

  // Replaces the runtime filters (pids, cgroup_id, ignore_ports, only_ports; other fields are ignored).
  void set_filters(const SyscallProbeOptions& filters);

  const std::vector<ProbeStatus>& status() const { return status_; }
  // "ringbuf" or "perfbuf": what load() chose.
  const char* transport() const { return stream_->transport(); }
  // "sock" (sock_send_length/sock_recv_length raw tracepoints) or "syscalls" (the fallback): what load()
  // chose for the data calls.
  const char* data_hooks() const { return sock_hooks_ ? "sock" : "syscalls"; }
  // Name and fd of every loaded program (for bpf_stats run time per program: bench/bench_probes).
  std::vector<std::pair<std::string, int>> program_fds() const;
  std::size_t attached_count() const { return links_.size(); }
  KernelCounters counters() const;
  // Ring buffer records shorter than their header claims (never expected: a kernel/userspace mismatch).
  std::uint64_t malformed_events() const { return stream_->malformed_records(); }

  // What load() chose to load on this kernel (syscall_probes.cc).
  struct LoadConfig;

 private:
  struct SkeletonDeleter {
    void operator()(syscalls_bpf* skel) const;
  };
  using Skeleton = std::unique_ptr<syscalls_bpf, SkeletonDeleter>;

  SyscallProbes(Skeleton skel, EventHandler handler);
  // One ring buffer record (or perf sample): header, then payload_len bytes. False when it is shorter.
  bool on_record(std::span<const std::uint8_t> record);
  void attach_programs(const LoadConfig& config, const std::map<std::string, std::string>& refused);

  // Declaration order is construction order; the destructor tears down in reverse (links newest first).
  Skeleton skel_;
  EventHandler handler_;
  std::unique_ptr<EventStream> stream_;
  std::vector<BpfLink> links_;
  std::vector<ProbeStatus> status_;
  bool sock_hooks_ = false;
  bool tls_loaded_ = false;
};

}  // namespace otelbpf
