#include "probes/tls_probes.h"

#include <dirent.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>

#include "common/proc_file.h"

namespace otelbpf {
namespace {

// "libssl.so.3", "libssl.so.1.1", "libssl.so" (a build's own copy): OpenSSL's TLS library by name.
bool is_libssl_name(std::string_view file_name) { return file_name.starts_with("libssl.so"); }

std::string file_name_of(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};
struct ElfEnder {
  void operator()(Elf* elf) const { elf_end(elf); }
};

}  // namespace

bool elf_defines_function(const std::string& path, std::string_view name) {
  if (elf_version(EV_CURRENT) == EV_NONE) return false;
  FdCloser file{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return false;
  std::unique_ptr<Elf, ElfEnder> elf(elf_begin(file.fd, ELF_C_READ_MMAP, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) return false;
  Elf_Scn* section = nullptr;
  while ((section = elf_nextscn(elf.get(), section)) != nullptr) {
    GElf_Shdr header;
    if (!gelf_getshdr(section, &header)) continue;
    if (header.sh_type != SHT_DYNSYM && header.sh_type != SHT_SYMTAB) continue;
    Elf_Data* data = elf_getdata(section, nullptr);
    if (!data || header.sh_entsize == 0) continue;
    const std::size_t count = header.sh_size / header.sh_entsize;
    for (std::size_t i = 0; i < count; ++i) {
      GElf_Sym symbol;
      if (!gelf_getsym(data, static_cast<int>(i), &symbol)) continue;
      if (GELF_ST_TYPE(symbol.st_info) != STT_FUNC || symbol.st_shndx == SHN_UNDEF) continue;
      const char* symbol_name = elf_strptr(elf.get(), header.sh_link, symbol.st_name);
      if (symbol_name && name == symbol_name) return true;
    }
  }
  return false;
}

std::vector<TlsCandidate> tls_candidates_of(std::uint32_t pid, const std::string& proc_root) {
  const std::string dir = proc_root + "/" + std::to_string(pid);
  // Paths in maps and exe are in the process's mount namespace (a container's image): reached through
  // its root.
  const std::string root = dir + "/root";
  std::vector<TlsCandidate> out;
  std::set<std::string> seen;
  const auto maps = read_proc_file(dir + "/maps", 16u << 20);
  if (!maps) return out;
  std::istringstream lines(*maps);
  for (std::string line; std::getline(lines, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;  // anonymous, [heap], [vdso], ...
    std::string path = line.substr(slash);
    if (path.ends_with(" (deleted)")) continue;  // replaced on disk: the new file is another inode
    if (!is_libssl_name(file_name_of(path)) || !seen.insert(path).second) continue;
    out.push_back({root + path, path, TlsCandidate::Kind::kLibssl});
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink(dir + "/exe", ec).string();
  if (!ec && !exe.empty() && exe.front() == '/' && !exe.ends_with(" (deleted)"))
    out.push_back({root + exe, exe, TlsCandidate::Kind::kExecutable});
  return out;
}

std::string tls_library_label(const TlsCandidate& candidate) {
  if (candidate.kind == TlsCandidate::Kind::kExecutable) return "OpenSSL (linked in)";
  const std::string name = file_name_of(candidate.shown);
  const auto so = name.find(".so.");
  return so == std::string::npos ? "OpenSSL" : "OpenSSL " + name.substr(so + 4);
}

TlsProbes::TlsProbes(SyscallProbes& probes, TlsProbeOptions options, MetricsRegistry& metrics)
    : probes_(probes),
      options_(std::move(options)),
      metrics_(metrics),
      attach_failures_(metrics.counter("otelbpf_tls_attach_failures_total",
                                       "TLS libraries or executables the uprobes could not attach to")),
      execs_dropped_(metrics.counter("otelbpf_tls_exec_events_dropped_total",
                                     "New processes not looked at for TLS libraries (watch queue full)")) {}

TlsProbes::~TlsProbes() { stop(); }

void TlsProbes::start() {
  scan_all();
  probes_.set_tls_state(!attached_.empty(), true);
  thread_ = std::thread([this] { run(); });
}

void TlsProbes::stop_watching() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t TlsProbes::attached_links() const {
  std::lock_guard lock(mutex_);
  std::size_t links = 0;
  for (const auto& [id, entry] : attached_) links += entry.attachment.links.size();
  return links;
}

void TlsProbes::stop() {
  stop_watching();
  std::lock_guard lock(mutex_);
  if (attached_.empty()) return;
  probes_.set_tls_state(false, false);
  attached_.clear();  // detaches
  publish();
}

void TlsProbes::on_exec(std::uint32_t pid) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (pending_.size() + options_.exec_rescan_delays.size() > options_.max_pending_execs) {
      execs_dropped_.inc();
      return;
    }
    for (const auto delay : options_.exec_rescan_delays) pending_.emplace_back(now + delay, pid);
  }
  wake_.notify_one();
}

std::vector<std::string> TlsProbes::attached() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [id, entry] : attached_) out.push_back(entry.shown);
  return out;
}

void TlsProbes::run() {
  auto next_rescan = std::chrono::steady_clock::now() + options_.rescan_interval;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto deadline = next_rescan;
    for (const auto& [due, pid] : pending_) deadline = std::min(deadline, due);
    wake_.wait_until(lock, deadline);
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::uint32_t> due_now;
    std::erase_if(pending_, [&](const auto& entry) {
      if (entry.first > now) return false;
      due_now.push_back(entry.second);
      return true;
    });
    lock.unlock();
    for (const auto pid : due_now) scan_process(pid);
    if (now >= next_rescan) {
      scan_all();
      next_rescan = now + options_.rescan_interval;
    }
    lock.lock();
  }
}

void TlsProbes::scan_all() {
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir(options_.proc_root.c_str()), closedir);
  if (!proc) return;
  while (const dirent* entry = readdir(proc.get())) {
    char* end = nullptr;
    const unsigned long pid = std::strtoul(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid == 0) continue;
    if (pid == static_cast<unsigned long>(getpid())) continue;  // never probe the agent itself
    scan_process(static_cast<std::uint32_t>(pid));
  }
}

void TlsProbes::scan_process(std::uint32_t pid) {
  for (const auto& candidate : tls_candidates_of(pid, options_.proc_root)) consider(pid, candidate);
}

void TlsProbes::consider(std::uint32_t pid, const TlsCandidate& candidate) {
  struct stat st {};
  if (stat(candidate.path.c_str(), &st) != 0) return;  // the process is gone
  const FileId id{st.st_dev, st.st_ino};
  {
    std::lock_guard lock(mutex_);
    if (attached_.contains(id) || stopping_) return;
    if (attached_.size() >= options_.max_binaries) return;
  }
  if (rejected_.contains(id)) return;
  const bool probe_it = candidate.kind == TlsCandidate::Kind::kLibssl ||
                        elf_defines_function(candidate.path, "SSL_write");
  if (!probe_it) {
    if (rejected_.size() >= 65536) rejected_.clear();
    rejected_.insert(id);
    return;
  }
  try {
    TlsAttachment attachment = probes_.attach_tls_library(candidate.path);
    spdlog::info("TLS probes: attached to {} ({}, seen in pid {}): {}", candidate.shown,
                 tls_library_label(candidate), pid, fmt::join(attachment.functions, ", "));
    std::lock_guard lock(mutex_);
    attached_.emplace(id, Attached{candidate.shown, std::move(attachment)});
    probes_.set_tls_state(true, !stopping_);
    publish();
  } catch (const std::exception& e) {
    spdlog::warn("TLS probes: cannot attach to {} (pid {}): {}", candidate.shown, pid, e.what());
    attach_failures_.inc();
    rejected_.insert(id);
  }
}

void TlsProbes::publish() {
  metrics_.gauge("otelbpf_tls_attached_binaries", "TLS libraries and executables the uprobes are attached to")
      .set(static_cast<std::int64_t>(attached_.size()));
}

}  // namespace otelbpf
