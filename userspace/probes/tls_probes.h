#pragma once
// Where the TLS uprobes go (docs/design.md, TLS plaintext): every OpenSSL the node's processes use, found
// in /proc/<pid>/maps (libssl.so.*) and in their executables (OpenSSL linked in and its SSL_* symbols
// defined: Node.js). One attachment per file (device and inode), for every process that maps it, present
// and future. Processes started later are looked at when they exec (OTELBPF_EV_EXEC, on_exec) and again as
// their libraries load; a periodic rescan catches libraries loaded later with dlopen.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "probes/syscall_probes.h"

namespace otelbpf {

// A file a process uses that may hold OpenSSL.
struct TlsCandidate {
  std::string path;    // openable from the agent: /proc/<pid>/root/<path in the process's mount namespace>
  std::string shown;   // the path as the process sees it (logs, metrics)
  enum class Kind { kLibssl, kExecutable } kind = Kind::kLibssl;
};

// The libssl files mapped by a process and its executable (the executable is a candidate only when it
// defines SSL_write itself: checked by the caller). Empty when the process is gone.
std::vector<TlsCandidate> tls_candidates_of(std::uint32_t pid, const std::string& proc_root = "/proc");
// Whether an ELF file defines (not merely imports) a function of that name, in .dynsym or .symtab.
bool elf_defines_function(const std::string& path, std::string_view name);
// "OpenSSL 3" for libssl.so.3, "OpenSSL 1.1" for libssl.so.1.1; "OpenSSL (linked in)" for executables.
std::string tls_library_label(const TlsCandidate& candidate);

struct TlsProbeOptions {
  std::chrono::milliseconds rescan_interval{30000};
  // After an exec, the process is looked at again after each of these delays (the dynamic loader maps
  // its libraries after exec returns; a server loads its TLS library at start-up).
  std::vector<std::chrono::milliseconds> exec_rescan_delays{std::chrono::milliseconds(20),
                                                            std::chrono::milliseconds(250),
                                                            std::chrono::milliseconds(2000)};
  std::size_t max_binaries = 256;           // attachments kept (each is up to 8 uprobes)
  std::size_t max_pending_execs = 4096;     // exec events waiting to be looked at; beyond, counted drops
  std::string proc_root = "/proc";
};

class TlsProbes {
 public:
  TlsProbes(SyscallProbes& probes, TlsProbeOptions options, MetricsRegistry& metrics = default_metrics());
  ~TlsProbes();
  TlsProbes(const TlsProbes&) = delete;
  TlsProbes& operator=(const TlsProbes&) = delete;

  // Looks at every running process (attaching as it goes), then starts the watch thread.
  void start();
  // Stops the watch thread and detaches every uprobe (before the probes' object is destroyed).
  void stop();
  // Stops the watch thread only: nothing new is attached, what is attached stays until stop().
  void stop_watching();
  std::size_t attached_links() const;
  // A process exec'd (any thread; never blocks on ELF work).
  void on_exec(std::uint32_t pid);

  // The files attached so far, as processes see them.
  std::vector<std::string> attached() const;

 private:
  using FileId = std::pair<dev_t, ino_t>;
  struct Attached {
    std::string shown;
    TlsAttachment attachment;
  };

  void run();
  void scan_all();
  void scan_process(std::uint32_t pid);
  void consider(std::uint32_t pid, const TlsCandidate& candidate);
  void publish();

  SyscallProbes& probes_;
  TlsProbeOptions options_;
  MetricsRegistry& metrics_;
  Counter& attach_failures_;
  Counter& execs_dropped_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  // Processes to look at, by when.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint32_t>> pending_;
  std::map<FileId, Attached> attached_;  // guarded by mutex_ (attached() reads it)

  // Watch thread only:
  std::set<FileId> rejected_;  // files looked at that hold no OpenSSL to probe (bounded)
  std::thread thread_;
};

}  // namespace otelbpf
