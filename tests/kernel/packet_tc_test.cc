// The real tc programs of bpf/packets.bpf.c on the real kernel. BPF_PROG_TEST_RUN runs them over the
// scapy fixtures (every tunnel kind, VLANs, IPv6, control segments, truncated and garbage frames): each
// event must carry the fields the fixture names and agree with the userspace parser byte for byte, and
// every frame must land in exactly one kernel counter. Then, in a private network namespace, the
// programs are attached to real interfaces with real traffic, and detached without leaving a trace.
// Needs root.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../unit/netcap/pcap_fixtures.h"
#include "netcap/interfaces.h"
#include "netcap/packet_parser.h"
#include "netcap/packet_probes.h"
#include "netcap/tc_hook.h"

namespace otelbpf::netcap {
namespace {

using namespace std::chrono_literals;
using testing::compare_event;
using testing::fixture_path;
using testing::read_lines;
using testing::read_pcap;

struct Captured {
  otelbpf_packet_event event;
  std::vector<std::uint8_t> payload;
};

struct Collector {
  std::vector<Captured> events;
  PacketProbes::EventHandler handler() {
    return [this](const otelbpf_packet_event& e, std::span<const std::uint8_t> p) {
      events.push_back({e, std::vector<std::uint8_t>(p.begin(), p.end())});
    };
  }
};

int test_run(int prog_fd, const std::vector<std::uint8_t>& frame) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<__u32>(frame.size()), .repeat = 1);
  const int err = bpf_prog_test_run_opts(prog_fd, &opts);
  return err ? err : static_cast<int>(opts.retval);
}

// The counters move on the CPU that ran the program: keep the test on one.
void pin_to_cpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof set, &set);
}

TEST(PacketTc, FixturesThroughTheRealProgram) {
  pin_to_cpu0();
  Collector sink;
  auto probes = PacketProbes::load(PacketProbeOptions{}, sink.handler());
  const auto frames = read_pcap(fixture_path("packets.pcap"));
  const auto lines = read_lines(fixture_path("packets.txt"));
  ASSERT_EQ(frames.size(), lines.size());
  const auto before = probes->counters();
  std::size_t want_emit = 0, want_no_payload = 0, want_other = 0, want_unparsable = 0, refused = 0;
  for (int ingress = 1; ingress >= 0; --ingress) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      SCOPED_TRACE(lines[i].name);
      sink.events.clear();
      const int rc = test_run(probes->program_fd(ingress, false), frames[i]);
      const auto& verdict = lines[i].word;
      if (rc == -EINVAL && verdict == "unparsable") {
        // BPF_PROG_TEST_RUN itself refuses some frames too short for their EtherType; the userspace
        // parser's test covers those.
        ++refused;
        continue;
      }
      ASSERT_EQ(rc, 0) << "TC_ACT_OK, always";
      probes->poll(0ms);
      want_emit += verdict == "emit";
      want_no_payload += verdict == "no_payload";
      want_other += verdict == "other";
      want_unparsable += verdict == "unparsable";
      if (verdict != "emit") {
        EXPECT_TRUE(sink.events.empty());
        continue;
      }
      ASSERT_EQ(sink.events.size(), 1u);
      const auto& got = sink.events[0];
      EXPECT_EQ(compare_event(got.event, lines[i]), "");
      EXPECT_EQ(got.event.direction, ingress ? OTELBPF_TC_INGRESS : OTELBPF_TC_EGRESS);
      EXPECT_EQ(got.event.pkt_len, frames[i].size());
      EXPECT_GT(got.event.ts_ns, 0u);
      // The userspace twin must agree on every field but the ones only the kernel knows.
      FrameContext ctx;
      ctx.direction = got.event.direction;
      ParsedPacket mine;
      ASSERT_EQ(parse_frame(frames[i], ctx, mine), ParseOutcome::kEmit);
      otelbpf_packet_event k = got.event;
      k.ts_ns = 0;
      k.ifindex = 0;
      EXPECT_EQ(std::memcmp(&k, &mine.event, sizeof k), 0) << "kernel and userspace parsers disagree";
      EXPECT_EQ(got.payload, std::vector<std::uint8_t>(mine.payload.begin(), mine.payload.end()));
    }
  }
  const auto after = probes->counters();
  const std::size_t runs = 2 * frames.size() - refused;
  std::printf("%zu frame runs, %zu refused by BPF_PROG_TEST_RUN\n", runs, refused);
  EXPECT_EQ(after.seen - before.seen, runs);
  EXPECT_EQ(after.emitted - before.emitted, want_emit);
  EXPECT_EQ(after.no_payload - before.no_payload, want_no_payload);
  EXPECT_EQ(after.other - before.other, want_other);
  EXPECT_EQ(after.unparsable - before.unparsable, want_unparsable);
  EXPECT_EQ(after.ringbuf_drops - before.ringbuf_drops, 0u);
  EXPECT_GT(want_unparsable, 5u);
}

TEST(PacketTc, CaptureSizeIsLoadTimeConfig) {
  Collector sink;
  PacketProbeOptions options;
  options.payload_capture_bytes = 16;
  auto probes = PacketProbes::load(options, sink.handler());
  const auto frames = read_pcap(fixture_path("packets.pcap"));
  const auto lines = read_lines(fixture_path("packets.txt"));
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (lines[i].name != "big_payload") continue;
    ASSERT_EQ(test_run(probes->program_fd(true, false), frames[i]), 0);
    probes->poll(0ms);
    ASSERT_EQ(sink.events.size(), 1u);
    EXPECT_EQ(sink.events[0].event.payload_len, 1400u);
    EXPECT_EQ(sink.events[0].event.captured_len, 16u);
    EXPECT_EQ(sink.events[0].payload.size(), 16u);
  }
}

TEST(PacketTc, TheTokenBucketLimitsEventsPerCpu) {
  pin_to_cpu0();
  Collector sink;
  PacketProbeOptions options;
  options.max_events_per_cpu_per_second = 1;
  options.burst = 3;
  auto probes = PacketProbes::load(options, sink.handler());
  const auto frames = read_pcap(fixture_path("packets.pcap"));
  for (int i = 0; i < 10; ++i) ASSERT_EQ(test_run(probes->program_fd(true, false), frames[0]), 0);
  probes->poll(0ms);
  const auto c = probes->counters();
  EXPECT_EQ(sink.events.size(), 3u);
  EXPECT_EQ(c.emitted, 3u);
  EXPECT_EQ(c.rate_limited, 7u);
}

// Runs `body` in a child process inside a fresh network namespace; its exit status is the verdict.
void in_private_netns(const std::function<int()>& body) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) _exit(90);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
}

TEST(PacketTc, AttachDetachAndStaleCleanupOnRealInterfaces) {
  in_private_netns([] {
    if (system("ip link add otbv0 type veth peer name otbv1 && ip link set otbv0 up && ip link set otbv1 up "
               "&& ip link set lo up") != 0)
      return 1;
    Collector sink;
    auto probes = PacketProbes::load(PacketProbeOptions{}, sink.handler());
    NetlinkSocket nl;
    std::uint32_t v0 = 0, lo = 0;
    for (const auto& l : list_links(nl)) {
      if (l.name == "otbv0") v0 = l.ifindex;
      if (l.name == "lo") lo = l.ifindex;
      if (l.name == "otbv0" && l.tap_class() != TapClass::kPod) return 2;
    }
    if (!v0 || !lo) return 3;
    std::string error;
    {
      auto a =
          TcAttachment::attach(v0, probes->program_fd(true, false), probes->program_fd(false, false), error);
      if (!a || !a->created_qdisc()) return 4;
      if (count_tc_filters(v0, true) != 1 || count_tc_filters(v0, false) != 1) return 5;
    }
    // Destroyed: no filter, no qdisc (tc would answer "Cannot find specified qdisc").
    if (count_tc_filters(v0, true) > 0 || count_tc_filters(v0, false) > 0) return 6;
    if (system("tc qdisc show dev otbv0 | grep -q clsact") == 0) return 7;

    // A crashed run: filters of ours left behind are found by handle/priority and removed.
    {
      auto a =
          TcAttachment::attach(v0, probes->program_fd(true, false), probes->program_fd(false, false), error);
      a->forget();  // as if the process died: nothing detached
    }
    if (count_tc_filters(v0, true) != 1) return 8;
    if (remove_stale_filters(v0) != 2) return 9;
    if (count_tc_filters(v0, true) != 0 || count_tc_filters(v0, false) != 0) return 10;
    if (!remove_clsact_if_empty(v0)) return 11;

    // Someone else's filter on a qdisc we did not create survives us, and so does their qdisc.
    // (Their filter: any program under another handle and priority.)
    if (system("tc qdisc add dev otbv0 clsact") != 0) return 12;
    {
      bpf_tc_hook hook{};
      hook.sz = sizeof hook;
      hook.ifindex = static_cast<int>(v0);
      hook.attach_point = BPF_TC_INGRESS;
      bpf_tc_opts theirs{};
      theirs.sz = sizeof theirs;
      theirs.handle = 1;
      theirs.priority = 1;
      theirs.prog_fd = probes->program_fd(true, false);
      if (bpf_tc_attach(&hook, &theirs) != 0) return 12;
    }
    {
      auto a =
          TcAttachment::attach(v0, probes->program_fd(true, false), probes->program_fd(false, false), error);
      if (!a || a->created_qdisc()) return 13;
      if (count_tc_filters(v0, true) != 2) return 14;
    }
    if (count_tc_filters(v0, true) != 1) return 15;

    // Real traffic on lo (egress only): a TCP exchange with payload becomes events with its bytes.
    auto a = TcAttachment::attach(lo, -1, probes->program_fd(false, false), error);
    if (!a) return 16;
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr) || listen(srv, 1) ||
        getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len))
      return 17;
    int cli = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(cli, reinterpret_cast<sockaddr*>(&addr), sizeof addr)) return 18;
    int conn = accept(srv, nullptr, nullptr);
    const std::string req = "GET /kernel HTTP/1.1\r\nHost: x\r\n\r\n";
    if (write(cli, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return 19;
    char buf[256];
    if (read(conn, buf, sizeof buf) <= 0) return 20;
    close(cli);
    close(conn);
    close(srv);
    std::this_thread::sleep_for(50ms);
    probes->poll(0ms);
    bool syn = false, payload = false;
    for (const auto& e : sink.events) {
      if (e.event.ifindex != lo || e.event.direction != OTELBPF_TC_EGRESS) return 21;
      if (e.event.tcp_flags & OTELBPF_TCP_SYN) syn = true;
      if (e.event.payload_len == req.size() && std::string(e.payload.begin(), e.payload.end()) == req &&
          e.event.dport == ntohs(addr.sin_port))
        payload = true;
    }
    if (!syn) return 22;
    if (!payload) return 23;
    a.reset();
    if (count_tc_filters(lo, false) > 0) return 24;
    return 0;
  });
}

}  // namespace
}  // namespace otelbpf::netcap
