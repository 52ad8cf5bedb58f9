// The floor under the sock hooks' cost (bench/bpf/floor.bpf.c): loads the floor programs at one level,
// attaches them to tp_btf/sock_send_length and sock_recv_length, and drains their ring buffer like the
// agent's tracer (a poll every 50 ms; the floor programs never wake it) until SIGINT/SIGTERM. Prints "ready"
// when attached. scripts/bench-bpf-floor reads the programs' eBPF run time (kernel.bpf_stats) while wrk
// drives a loopback nginx, and compares it with the agent's probes in the same run. Needs root.
//   bench_bpf_floor --level=0|1|2|3|probes [--read-records] [--work-ns=N]
// --level=probes loads the agent's own data-call programs instead (with the agent's defaults): their kernel
// cost without the agent's userspace. --read-records reads every byte of every record, as a parser would;
// --work-ns=N spends N ns per record, so that the consumer runs all the time, as the agent's tracer does.
#include <time.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include <bpf/libbpf.h>

#include "floor.skel.h"
#include "syscalls.skel.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) { stop_requested = 1; }

struct SkeletonDeleter {
  void operator()(floor_bpf* skel) const { floor_bpf__destroy(skel); }
  void operator()(syscalls_bpf* skel) const { syscalls_bpf__destroy(skel); }
};
struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using Links = std::vector<std::unique_ptr<bpf_link, LinkDeleter>>;
struct RingDeleter {
  void operator()(ring_buffer* ring) const { ring_buffer__free(ring); }
};

struct Consumer {
  // Read every byte, as a parser does (the programs then write to ring lines this CPU has read).
  bool read_records = false;
  unsigned long long records = 0;
  unsigned long long checksum = 0;
  long work_ns = 0;  // busy time per record, as a parser spends it
};

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int consume_record(void* ctx, void* data, size_t size) {
  auto& consumer = *static_cast<Consumer*>(ctx);
  ++consumer.records;
  if (consumer.read_records) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) consumer.checksum += bytes[i];
  }
  if (consumer.work_ns > 0) {
    const long long until = now_ns() + consumer.work_ns;
    while (now_ns() < until) {
    }
  }
  return 0;
}

// Opens, loads and attaches the floor programs at `level`; returns the ring buffer's fd, or -1.
int load_floor(std::unique_ptr<floor_bpf, SkeletonDeleter>& skel, unsigned level) {
  skel.reset(floor_bpf__open());
  if (!skel) {
    std::fprintf(stderr, "cannot open the floor programs: %s\n", std::strerror(errno));
    return -1;
  }
  skel->rodata->floor_level = level;
  skel->rodata->self_tgid = static_cast<__u32>(getpid());
  if (int err = floor_bpf__load(skel.get())) {
    std::fprintf(stderr,
                 "the kernel refused the floor programs (%s): they need tp_btf/sock_send_length (6.3+)\n",
                 std::strerror(-err));
    return -1;
  }
  if (int err = floor_bpf__attach(skel.get())) {
    std::fprintf(stderr, "cannot attach the floor programs: %s\n", std::strerror(-err));
    return -1;
  }
  return bpf_map__fd(skel->maps.floor_events);
}

// The agent's own data-call programs (bpf/syscalls.bpf.c: the sock hooks and the recvfrom/recvmsg exits
// that finish unconnected-UDP receives) with the agent's defaults, and nothing else: the probes' kernel cost
// without the agent's userspace on the same CPUs. Returns the ring buffer's fd, or -1.
int load_agent_probes(std::unique_ptr<syscalls_bpf, SkeletonDeleter>& skel, Links& links) {
  skel.reset(syscalls_bpf__open());
  if (!skel) {
    std::fprintf(stderr, "cannot open the agent's probes: %s\n", std::strerror(errno));
    return -1;
  }
  bpf_program* program = nullptr;
  bpf_object__for_each_program(program, skel->obj) {
    const std::string_view name = bpf_program__name(program);
    bpf_program__set_autoload(program, name == "sock_send_length" || name == "sock_recv_length" ||
                                           name == "sys_exit_recvfrom_udp" || name == "sys_exit_recvmsg_udp");
  }
  // As SyscallProbes::load sets them by default: 1 KiB captured, one forced wake-up per 1/8 of the ring.
  skel->rodata->sock_hooks_loaded = 1;
  skel->rodata->payload_capture_bytes = 1024;
  skel->rodata->self_tgid = static_cast<__u32>(getpid());
  skel->rodata->wakeup_bytes = bpf_map__max_entries(skel->maps.events) / 8;
  if (int err = syscalls_bpf__load(skel.get())) {
    std::fprintf(stderr, "the kernel refused the agent's sock hooks: %s\n", std::strerror(-err));
    return -1;
  }
  bpf_object__for_each_program(program, skel->obj) {
    if (!bpf_program__autoload(program)) continue;
    links.emplace_back(bpf_program__attach(program));
    if (!links.back()) {
      std::fprintf(stderr, "cannot attach %s: %s\n", bpf_program__name(program), std::strerror(errno));
      return -1;
    }
  }
  return bpf_map__fd(skel->maps.events);
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view level = "3";
  Consumer consumer;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--level=")) {
      level = arg.substr(8);
    } else if (arg == "--read-records") {
      consumer.read_records = true;
    } else if (arg.starts_with("--work-ns=")) {
      consumer.work_ns = std::atol(argv[i] + 10);
    } else {
      level = "";
      break;
    }
  }
  if (level != "0" && level != "1" && level != "2" && level != "3" && level != "probes") {
    std::fprintf(stderr, "usage: %s --level=0|1|2|3|probes [--read-records] [--work-ns=N]\n", argv[0]);
    return 2;
  }
  std::unique_ptr<floor_bpf, SkeletonDeleter> floor_skel;
  std::unique_ptr<syscalls_bpf, SkeletonDeleter> probes_skel;
  Links probe_links;  // destroyed before the skeleton (declared after it)
  const int ring_fd = level == "probes" ? load_agent_probes(probes_skel, probe_links)
                                        : load_floor(floor_skel, static_cast<unsigned>(level[0] - '0'));
  if (ring_fd < 0) return 1;
  std::unique_ptr<ring_buffer, RingDeleter> ring(
      ring_buffer__new(ring_fd, consume_record, &consumer, nullptr));
  if (!ring) {
    std::fprintf(stderr, "cannot open the ring buffer: %s\n", std::strerror(errno));
    return 1;
  }
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  std::printf("ready level=%.*s\n", static_cast<int>(level.size()), level.data());
  std::fflush(stdout);
  while (!stop_requested) ring_buffer__poll(ring.get(), 50);
  ring_buffer__consume(ring.get());
  std::printf("records %llu (checksum %llu)\n", consumer.records, consumer.checksum);
  return 0;
}
