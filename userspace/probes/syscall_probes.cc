#include "probes/syscall_probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/perf_event.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "probes/kernel_filesystems.h"
#include "probes/libbpf_logging.h"
#include "syscalls.skel.h"

namespace otelbpf {
namespace {

// libbpf returns NULL and sets errno on failure.
int last_error() { return errno ? -errno : -EINVAL; }

// "syscalls/sys_enter_read", "sock/sock_send_length": the tracepoint's category/name.
std::string probe_name(const bpf_program* prog) {
  std::string_view section = bpf_program__section_name(prog);
  // Uprobes name no target in their section (attach_tls_library gives it): named by program.
  if (section == "uprobe" || section == "uretprobe")
    return std::string(section) + "/" + bpf_program__name(prog);
  if (section.starts_with("tracepoint/")) section.remove_prefix(std::strlen("tracepoint/"));
  for (std::string_view prefix : {"raw_tracepoint/", "tp_btf/"}) {
    if (!section.starts_with(prefix)) continue;
    section.remove_prefix(prefix.size());
    return std::string(section.starts_with("tcp_") ? "tcp/" : "sock/") + std::string(section);
  }
  return std::string(section);
}

// The data calls' programs in each mode (by program name). Programs in neither list serve both: connect,
// accept, close's entry, sendmmsg/recvmmsg. The sock hooks' sys_exit_recvfrom/recvmsg (*_udp) finish
// unconnected-UDP receives: the sender's address reaches the caller's buffer only after sock_recvmsg.
bool sock_hook_only(std::string_view program) {
  return program.starts_with("sock_") || program == "tcp_sendmsg_locked" || program.ends_with("_udp");
}
// The TLS plaintext probes (bpf/tls_uprobes.bpf.h): loaded only when asked for; the uprobes attach per
// binary (attach_tls_library), the exec watch with the rest.
bool tls_program(std::string_view program) {
  return program.starts_with("ssl_") || program == "sched_process_exec";
}
bool uprobe_program(const bpf_program* prog) {
  const std::string_view section = bpf_program__section_name(prog);
  return section.starts_with("uprobe") || section.starts_with("uretprobe");
}
bool syscall_fallback_only(std::string_view program) {
  // sys_exit_close too: the sock hooks send close's event from its entry (bpf/syscalls.bpf.c,
  // close_at_entry).
  static constexpr std::string_view kFallback[] = {
      "sys_enter_read",     "sys_exit_read",     "sys_enter_write",   "sys_exit_write",   "sys_enter_readv",
      "sys_exit_readv",     "sys_enter_writev",  "sys_exit_writev",   "sys_enter_sendto", "sys_exit_sendto",
      "sys_enter_recvfrom", "sys_exit_recvfrom", "sys_enter_sendmsg", "sys_exit_sendmsg", "sys_enter_recvmsg",
      "sys_exit_recvmsg",   "sys_exit_close",
  };
  return std::find(std::begin(kFallback), std::end(kFallback), program) != std::end(kFallback);
}

// Whether the running kernel has a tracepoint, from its BTF (a raw tracepoint's btf_trace_<name> typedef).
bool kernel_has_tracepoint(const char* name) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  const bool found =
      btf__find_by_name_kind(vmlinux, fmt::format("btf_trace_{}", name).c_str(), BTF_KIND_TYPEDEF) > 0;
  btf__free(vmlinux);
  return found;
}

}  // namespace

struct SyscallProbes::LoadConfig {
  std::uint32_t payload_capture_bytes;
  std::uint32_t ringbuf_bytes;
  std::uint32_t self_tgid;
  bool perf_buffer;
  bool kernel_has_ringbuf;
  bool sock_hooks;
  bool send_marks;  // tcp/tcp_sendmsg_locked exists (ts_enter of TCP sends with the sock hooks)
  bool batch_wakeups;
  bool tls;
};

namespace {
using LoadConfig = SyscallProbes::LoadConfig;

// Whether a program is part of this configuration at all (the others are neither loaded nor reported).
bool program_wanted(const LoadConfig& config, const bpf_program* prog) {
  const std::string_view program = bpf_program__name(prog);
  if (tls_program(program)) return config.tls;
  if (program == "tcp_sendmsg_locked") return config.sock_hooks && config.send_marks;
  if (sock_hook_only(program)) return config.sock_hooks;
  if (syscall_fallback_only(program)) return !config.sock_hooks;
  return true;
}

// Opens the object with rodata and map sizes set; programs named in `skip` are not loaded.
std::unique_ptr<syscalls_bpf, void (*)(syscalls_bpf*)> open_configured(
    const LoadConfig& config, const std::map<std::string, std::string>& skip, bool load_none = false) {
  std::unique_ptr<syscalls_bpf, void (*)(syscalls_bpf*)> skel(syscalls_bpf__open(), syscalls_bpf__destroy);
  if (!skel) throw ProbeError("opening the syscall probe object failed: " + libbpf_error_text(last_error()));
  skel->rodata->payload_capture_bytes = config.payload_capture_bytes;
  skel->rodata->self_tgid = config.self_tgid;
  skel->rodata->use_perf_buffer = config.perf_buffer ? 1 : 0;
  // Each CPU wakes the consumer once per 1/8 of the ring it fills (so at most ~1/8 of it waits per CPU
  // between the consumer's polls).
  const std::uint64_t cpus = static_cast<std::uint64_t>(std::max(1, libbpf_num_possible_cpus()));
  skel->rodata->wakeup_bytes = config.batch_wakeups && !config.perf_buffer
                                   ? std::max<std::uint64_t>(config.ringbuf_bytes / 8 / cpus, 4096)
                                   : 0;
  if (config.kernel_has_ringbuf) {
    if (int err = bpf_map__set_max_entries(skel->maps.events, config.ringbuf_bytes); err)
      throw ProbeError("setting the ring buffer size failed: " + libbpf_error_text(err));
  } else {
    // The ring buffer map cannot be created here; only dead code (use_perf_buffer is rodata) refers to
    // it, so a one-entry array stands in for it.
    bpf_map__set_type(skel->maps.events, BPF_MAP_TYPE_ARRAY);
    bpf_map__set_key_size(skel->maps.events, sizeof(std::uint32_t));
    bpf_map__set_value_size(skel->maps.events, sizeof(std::uint32_t));
    bpf_map__set_max_entries(skel->maps.events, 1);
  }
  // Task storage (Linux 5.11+) serves only the sock hooks (6.3+): where the kernel lacks it, a one-entry
  // array stands in so that the rest of the object still loads (5.10), as for the ring buffer above.
  // The TLS probes keep their per-thread state there too with the sock hooks (sock_hooks_loaded); the
  // fallback keeps it in a hash map (task storage from uprobes is not on every kernel the fallback serves).
  skel->rodata->sock_hooks_loaded = config.sock_hooks ? 1 : 0;
  if (!config.sock_hooks && libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) <= 0) {
    for (bpf_map* map : {skel->maps.udp_recv_pending, skel->maps.tls_thread_storage}) {
      bpf_map__set_type(map, BPF_MAP_TYPE_ARRAY);
      bpf_map__set_map_flags(map, 0);
      bpf_map__set_max_entries(map, 1);
    }
  }
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    const std::string name = probe_name(prog);
    if (load_none || skip.contains(name) || !program_wanted(config, prog))
      bpf_program__set_autoload(prog, false);
  }
  return skel;
}

// After a failed load: loads each program alone to learn which ones this kernel refuses.
// Returns probe name -> reason. Throws when even the maps alone cannot be created.
std::map<std::string, std::string> find_refused_programs(const LoadConfig& config) {
  QuietLibbpfWarnings quiet;
  {
    auto maps_only = open_configured(config, {}, /*load_none=*/true);
    if (int err = syscalls_bpf__load(maps_only.get()); err)
      throw ProbeError("loading the syscall probes failed (maps): " + libbpf_error_text(err) +
                       "; needs root or CAP_BPF+CAP_PERFMON and kernel BTF at /sys/kernel/btf/vmlinux");
  }
  std::vector<std::string> names;
  {
    auto probe = open_configured(config, {}, true);
    bpf_program* prog;
    bpf_object__for_each_program(prog, probe->obj) {
      if (program_wanted(config, prog)) names.push_back(probe_name(prog));
    }
  }
  std::map<std::string, std::string> refused;
  for (const auto& name : names) {
    auto one = open_configured(config, {}, true);
    bpf_program* prog;
    bpf_object__for_each_program(prog, one->obj) {
      if (probe_name(prog) == name && program_wanted(config, prog)) bpf_program__set_autoload(prog, true);
    }
    if (int err = syscalls_bpf__load(one.get()); err) refused.emplace(name, libbpf_error_text(err));
  }
  return refused;
}

template <typename Key>
void replace_key_set(bpf_map* map, const std::vector<Key>& keys, const char* what) {
  const std::uint8_t one = 1;
  std::set<Key> wanted(keys.begin(), keys.end());
  for (const Key& key : wanted) {
    if (int err = bpf_map__update_elem(map, &key, sizeof(key), &one, sizeof(one), BPF_ANY); err)
      throw ProbeError(fmt::format("setting the {} filter failed at {}: {} (at most {} entries)", what, key,
                                   libbpf_error_text(err), bpf_map__max_entries(map)));
  }
  std::vector<Key> stale;
  Key key{};
  const Key* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &key, sizeof(key)) == 0) {
    if (!wanted.contains(key)) stale.push_back(key);
    prev = &key;
  }
  for (const Key& k : stale) bpf_map__delete_elem(map, &k, sizeof(k), 0);
}

// A port set in the probes' .bss bitmap (bit p of word p / 64), which the running programs read without
// locks: a call made while it changes sees the old set, the new one or their mix, as with the hash maps
// this replaced. An empty set is switched off before its bits go.
template <typename Word, std::size_t kWords>
void replace_port_bitmap(std::uint32_t& enabled, Word (&bits)[kWords],
                         const std::vector<std::uint16_t>& ports) {
  static_assert(sizeof(Word) * 8 * kWords == 65536, "one bit per port");
  std::array<Word, kWords> wanted{};
  for (std::uint16_t port : ports) wanted[port / 64] |= Word{1} << (port % 64);
  if (ports.empty()) enabled = 0;
  for (std::size_t i = 0; i < wanted.size(); ++i) bits[i] = wanted[i];
  if (!ports.empty()) enabled = 1;
}

}  // namespace

void SyscallProbes::SkeletonDeleter::operator()(syscalls_bpf* skel) const { syscalls_bpf__destroy(skel); }

SyscallProbes::SyscallProbes(Skeleton skel, EventHandler handler)
    : skel_(std::move(skel)), handler_(std::move(handler)) {}

SyscallProbes::~SyscallProbes() {
  // Detach newest first, then stop consuming, then free programs and maps.
  detach_hooks();
  stream_.reset();
  skel_.reset();
}

namespace {

// What to load: the options, within what this kernel has (ring buffer, sock hooks, send marks).
LoadConfig choose_load_config(const SyscallProbeOptions& options) {
  const bool has_ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) > 0;
  using Transport = SyscallProbeOptions::Transport;
  if (options.transport == Transport::kRingBuffer && !has_ringbuf)
    throw ProbeError("this kernel has no BPF ring buffer (Linux 5.8+); use the perf buffer transport");
  const bool perf = options.transport == Transport::kPerfBuffer || !has_ringbuf;
  if (!has_ringbuf) spdlog::info("kernel has no BPF ring buffer: events go through a per-CPU perf buffer");
  using DataHooks = SyscallProbeOptions::DataHooks;
  const bool kernel_has_sock_hooks =
      kernel_has_tracepoint("sock_send_length") && kernel_has_tracepoint("sock_recv_length");
  if (options.data_hooks == DataHooks::kSockHooks && !kernel_has_sock_hooks)
    throw ProbeError("this kernel has no sock:sock_send_length/sock_recv_length tracepoints (Linux 6.3+)");
  const bool sock_hooks = options.data_hooks == DataHooks::kSockHooks ||
                          (options.data_hooks == DataHooks::kAuto && kernel_has_sock_hooks);
  LoadConfig config{
      .payload_capture_bytes = std::min<std::uint32_t>(options.payload_capture_bytes, OTELBPF_MAX_PAYLOAD),
      .ringbuf_bytes = ring_buffer_size(options.ringbuf_bytes),
      .self_tgid = options.trace_own_process ? 0u : static_cast<std::uint32_t>(getpid()),
      .perf_buffer = perf,
      .kernel_has_ringbuf = has_ringbuf,
      .sock_hooks = sock_hooks,
      .send_marks = sock_hooks && options.send_start_marks && kernel_has_tracepoint("tcp_sendmsg_locked"),
      .batch_wakeups = options.batch_wakeups,
      .tls = options.tls_uprobes,
  };
  if (config.payload_capture_bytes != options.payload_capture_bytes)
    spdlog::warn("payload_capture_bytes {} exceeds the kernel-side maximum, using {}",
                 options.payload_capture_bytes, config.payload_capture_bytes);
  return config;
}

using OpenedObject = std::unique_ptr<syscalls_bpf, void (*)(syscalls_bpf*)>;

// Loads the object. A program the kernel refuses is named in `refused` and left out, so the rest still
// loads; with data_hooks auto, refused sock hooks first fall back to the syscall tracepoints (config
// says which were loaded).
OpenedObject load_object(LoadConfig& config, SyscallProbeOptions::DataHooks data_hooks,
                         std::map<std::string, std::string>& refused) {
  OpenedObject opened = open_configured(config, {});
  int err;
  {
    QuietLibbpfWarnings quiet;  // a refused program is reported below, once, by name
    err = syscalls_bpf__load(opened.get());
  }
  if (err) {
    opened.reset();
    refused = find_refused_programs(config);
    if (config.sock_hooks && data_hooks == SyscallProbeOptions::DataHooks::kAuto) {
      // The data calls must be seen somewhere: back to the syscall tracepoints, as on kernels before 6.3.
      for (const auto& [name, reason] : refused)
        spdlog::warn("probe {}: kernel refused to load it: {}", name, reason);
      spdlog::warn("sock hooks refused: data calls fall back to the syscall tracepoints");
      config.sock_hooks = false;
      config.send_marks = false;
      opened = open_configured(config, {});
      {
        QuietLibbpfWarnings quiet;
        err = syscalls_bpf__load(opened.get());
      }
      refused.clear();
      if (err) {
        opened.reset();
        refused = find_refused_programs(config);
      }
    }
  }
  if (err) {
    for (const auto& [name, reason] : refused)
      spdlog::warn("probe {}: kernel refused to load it: {} (debug log has the verifier output)", name,
                   reason);
    opened = open_configured(config, refused);
    if (err = syscalls_bpf__load(opened.get()); err)
      throw ProbeError("loading the syscall probes failed: " + libbpf_error_text(err));
  }
  return opened;
}

}  // namespace

std::unique_ptr<SyscallProbes> SyscallProbes::load(const SyscallProbeOptions& options, EventHandler handler) {
  if (!handler) throw ProbeError("SyscallProbes::load needs an event handler");
  route_libbpf_logs_to_spdlog();
  ensure_kernel_filesystems();
  raise_memlock_limit();

  LoadConfig config = choose_load_config(options);
  std::map<std::string, std::string> refused;
  OpenedObject opened = load_object(config, options.data_hooks, refused);

  // The constructor is private (load is the only way to a SyscallProbes), so make_unique cannot reach it.
  std::unique_ptr<SyscallProbes> probes(new SyscallProbes(Skeleton(opened.release()), std::move(handler)));
  probes->sock_hooks_ = config.sock_hooks;
  const auto& progs = probes->skel_->progs;
  probes->tls_loaded_ = config.tls && bpf_program__fd(progs.ssl_return) >= 0 &&
                        bpf_program__fd(progs.ssl_read_enter) >= 0 && bpf_program__fd(progs.ssl_write_enter) >= 0;
  probes->set_filters(options);
  const EventStream::Options stream_options{.max_records_per_poll = 8192,
                                            .batched_wakeups = config.batch_wakeups};
  auto on_record = [raw = probes.get()](std::span<const std::uint8_t> record) {
    return raw->on_record(record);
  };
  probes->stream_ =
      config.perf_buffer
          ? EventStream::perf_buffer(bpf_map__fd(probes->skel_->maps.events_perf), config.ringbuf_bytes,
                                     on_record, stream_options)
          : EventStream::ring_buffer(bpf_map__fd(probes->skel_->maps.events), on_record, stream_options);
  probes->attach_programs(config, refused);
  spdlog::info(
      "syscall probes: {}/{} attached, data calls via {}, payload capture {} bytes, ring buffer {} KiB{}{}",
      probes->links_.size(), probes->status_.size(),
      config.sock_hooks ? "sock_send_length/sock_recv_length" : "syscall tracepoints (fallback)",
      config.payload_capture_bytes, config.ringbuf_bytes >> 10,
      config.batch_wakeups ? ", batched wake-ups" : "", config.self_tgid ? "" : ", tracing own process");
  return probes;
}

// Attaches every loaded program of the configuration; one the kernel refuses is reported in status_ and
// the others go on. None attached at all is an error.
void SyscallProbes::attach_programs(const LoadConfig& config,
                                    const std::map<std::string, std::string>& refused) {
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    ProbeStatus status;
    status.name = probe_name(prog);
    if (!program_wanted(config, prog)) continue;  // the other mode's hooks
    // Uprobes attach per binary (attach_tls_library()); listed here only when the kernel refused them.
    if (uprobe_program(prog) && !refused.contains(status.name)) continue;
    if (auto it = refused.find(status.name); it != refused.end()) {
      status.error = "not loaded: " + it->second;
    } else {
      bpf_link* link;
      {
        QuietLibbpfWarnings quiet;
        link = bpf_program__attach(prog);
      }
      if (link) {
        links_.emplace_back(link);
        status.attached = true;
      } else {
        status.error = "attach: " + libbpf_error_text(last_error());
        spdlog::warn("probe {}: kernel refused to {}", status.name, status.error);
      }
    }
    status_.push_back(std::move(status));
  }
  if (links_.empty()) {
    std::string first = status_.empty() ? "no programs" : status_.front().error;
    throw ProbeError("no syscall probe could be attached; first error: " + first);
  }
}

TlsAttachment SyscallProbes::attach_tls_library(const std::string& binary_path) {
  if (!tls_loaded_) throw ProbeError("the TLS probes are not loaded");
  struct Probe {
    const char* function;
    bpf_program* entry;
    bool required;
  };
  const Probe probes[] = {
      {"SSL_read", skel_->progs.ssl_read_enter, true},
      {"SSL_write", skel_->progs.ssl_write_enter, true},
      {"SSL_read_ex", skel_->progs.ssl_read_ex_enter, false},  // OpenSSL 1.1.1+
      {"SSL_write_ex", skel_->progs.ssl_write_ex_enter, false},
  };
  TlsAttachment attachment;
  for (const Probe& probe : probes) {
    // The return probe first: an entry without its return would leave the thread marked "inside an SSL
    // call" and hide its socket calls' ciphertext for nothing.
    LIBBPF_OPTS(bpf_uprobe_opts, ret_opts, .retprobe = true, .func_name = probe.function);
    LIBBPF_OPTS(bpf_uprobe_opts, entry_opts, .retprobe = false, .func_name = probe.function);
    bpf_link* ret_link;
    {
      QuietLibbpfWarnings quiet;
      ret_link = bpf_program__attach_uprobe_opts(skel_->progs.ssl_return, -1, binary_path.c_str(), 0, &ret_opts);
    }
    if (!ret_link) {
      if (!probe.required) continue;
      throw ProbeError(fmt::format("uretprobe {}:{}: {}", binary_path, probe.function,
                                   libbpf_error_text(last_error())));
    }
    BpfLink ret(ret_link);
    bpf_link* entry_link;
    {
      QuietLibbpfWarnings quiet;
      entry_link = bpf_program__attach_uprobe_opts(probe.entry, -1, binary_path.c_str(), 0, &entry_opts);
    }
    if (!entry_link) {
      if (!probe.required) continue;
      throw ProbeError(fmt::format("uprobe {}:{}: {}", binary_path, probe.function,
                                   libbpf_error_text(last_error())));
    }
    attachment.links.push_back(std::move(ret));
    attachment.links.emplace_back(entry_link);
    attachment.functions.emplace_back(probe.function);
  }
  return attachment;
}

void SyscallProbes::detach_hooks() {
  while (!links_.empty()) links_.pop_back();  // newest first
}

void SyscallProbes::set_tls_state(bool uprobes_attached, bool exec_events) {
  skel_->bss->tls_uprobes_active = uprobes_attached ? 1 : 0;
  skel_->bss->exec_events_enabled = exec_events ? 1 : 0;
}

void SyscallProbes::set_filters(const SyscallProbeOptions& filters) {
  auto* bss = skel_->bss;
  auto apply = [](auto& enabled, bpf_map* map, const auto& keys, const char* what) {
    if (keys.empty()) {
      enabled = 0;  // stop consulting the set before emptying it
      replace_key_set(map, keys, what);
    } else {
      replace_key_set(map, keys, what);
      enabled = 1;
    }
  };
  apply(bss->filter_pids_enabled, skel_->maps.filter_pids, filters.pids, "pid");
  replace_port_bitmap(bss->filter_ignore_ports_enabled, bss->filter_ignore_port_bits, filters.ignore_ports);
  replace_port_bitmap(bss->filter_only_ports_enabled, bss->filter_only_port_bits, filters.only_ports);
  bss->filter_cgroup_id = filters.cgroup_id;
}

bool SyscallProbes::on_record(std::span<const std::uint8_t> record) {
  otelbpf_event_header header;
  if (record.size() < sizeof(header)) return false;
  std::memcpy(&header, record.data(), sizeof(header));
  if (header.payload_len > record.size() - sizeof(header)) return false;
  handler_(header, record.subspan(sizeof(header), header.payload_len));
  return true;
}

int SyscallProbes::poll(std::chrono::milliseconds timeout) { return stream_->poll(timeout); }

std::vector<std::pair<std::string, int>> SyscallProbes::program_fds() const {
  std::vector<std::pair<std::string, int>> out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    if (bpf_program__fd(prog) >= 0) out.emplace_back(probe_name(prog), bpf_program__fd(prog));
  }
  return out;
}

int SyscallProbes::epoll_fd() const { return stream_->epoll_fd(); }

KernelCounters SyscallProbes::counters() const {
  const auto totals = sum_per_cpu_counters(skel_->maps.counters, OTELBPF_CNT_MAX);
  return KernelCounters{
      .events = totals[OTELBPF_CNT_EVENTS],
      .ringbuf_drops = totals[OTELBPF_CNT_RINGBUF_DROPS] + stream_->perf_lost(),
      .non_socket_skipped = totals[OTELBPF_CNT_NON_SOCKET],
      .other_socket_skipped = totals[OTELBPF_CNT_OTHER_SOCKET],
      .filtered = totals[OTELBPF_CNT_FILTERED],
      .inflight_lost = totals[OTELBPF_CNT_INFLIGHT_LOST],
      .sock_cache_misses = totals[OTELBPF_CNT_SOCK_CACHE_MISS],
      .tls_ciphertext_skipped = totals[OTELBPF_CNT_TLS_CIPHERTEXT],
      .tls_unbound = totals[OTELBPF_CNT_TLS_UNBOUND],
      .tls_events = totals[OTELBPF_CNT_TLS_EVENTS],
  };
}

}  // namespace otelbpf
