// Syscall probes on the real kernel: load bpf/syscalls.bpf.c filtered to this process, make real
// loopback traffic in-process, and check every field of the events it produces. Needs root.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "probe_events.h"
#include "probes/probe_metrics.h"
#include "probes/syscall_probes.h"
#include "tracer/syscall_event_processor.h"

namespace otelbpf {
namespace {

using namespace std::chrono_literals;

using kernel_test::CapturedEvent;
using kernel_test::EventSink;

// A socket fd closed on scope exit (unless closed explicitly earlier to trace the close).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

struct Endpoint {
  int family;
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::uint16_t port() const {
    return family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port)
                             : ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  sockaddr* sa() { return reinterpret_cast<sockaddr*>(&addr); }
};

Endpoint loopback(int family) {
  Endpoint ep{family};
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ep.addr);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep.len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_loopback;
    ep.len = sizeof(sockaddr_in6);
  }
  return ep;
}

Endpoint local_end(int fd, int family) {
  Endpoint ep{family};
  ep.len = sizeof(ep.addr);
  EXPECT_EQ(getsockname(fd, ep.sa(), &ep.len), 0) << std::strerror(errno);
  return ep;
}

// Loopback as the probes report it: network byte order, IPv4 in the first 4 bytes, rest zero.
std::array<std::uint8_t, 16> loopback_bytes(int family) {
  std::array<std::uint8_t, 16> out{};
  if (family == AF_INET) {
    in_addr a{htonl(INADDR_LOOPBACK)};
    std::memcpy(out.data(), &a, 4);
  } else {
    std::memcpy(out.data(), &in6addr_loopback, 16);
  }
  return out;
}

std::array<std::uint8_t, 16> bytes16(const std::uint8_t (&a)[16]) {
  std::array<std::uint8_t, 16> out{};
  std::memcpy(out.data(), a, 16);
  return out;
}

std::string self_comm() {
  char name[17] = {};
  prctl(PR_GET_NAME, name);
  return name;
}

std::size_t read_full(int fd, char* buf, std::size_t len) {
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::read(fd, buf + got, len - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

// A TCP connection over IPv4 loopback: the listener, the client end and the accepted server end.
// `client_sndbuf` (bytes, 0 = default) is set before connecting. Throws when a step fails (gtest reports it).
struct LoopbackTcp {
  Fd listener;
  Fd client;
  Fd server;
};
LoopbackTcp loopback_tcp(int client_sndbuf = 0) {
  Fd listener(socket(AF_INET, SOCK_STREAM, 0));
  Endpoint address = loopback(AF_INET);
  if (bind(listener.get(), address.sa(), address.len) != 0 || listen(listener.get(), 4) != 0)
    throw std::runtime_error(std::string("listen on loopback: ") + std::strerror(errno));
  address = local_end(listener.get(), AF_INET);
  Fd client(socket(AF_INET, SOCK_STREAM, 0));
  if (client_sndbuf > 0 &&
      setsockopt(client.get(), SOL_SOCKET, SO_SNDBUF, &client_sndbuf, sizeof client_sndbuf) != 0)
    throw std::runtime_error(std::string("SO_SNDBUF: ") + std::strerror(errno));
  if (connect(client.get(), address.sa(), address.len) != 0)
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  Fd server(accept(listener.get(), nullptr, nullptr));
  if (server.get() < 0) throw std::runtime_error(std::string("accept: ") + std::strerror(errno));
  return LoopbackTcp{std::move(listener), std::move(client), std::move(server)};
}

class SyscallProbesTest : public ::testing::Test {
 protected:
  // One load shared by every test of the binary (a load takes seconds); released by SharedProbes.
  static void SetUpTestSuite() {
    if (probes_) return;
    sink_ = new EventSink;
    auto start = std::chrono::steady_clock::now();
    probes_ = SyscallProbes::load(own_process_options(), sink_->handler()).release();
    load_time_ = std::chrono::steady_clock::now() - start;
  }
  static void release_shared() {
    delete probes_;
    probes_ = nullptr;
    delete sink_;
    sink_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(probes_, nullptr);
    // Events of earlier tests (their closes) must not leak into this one.
    while (probes_->poll(0ms) > 0) {
    }
    sink_->events().clear();
  }

  static SyscallProbeOptions own_process_options() {
    SyscallProbeOptions options;
    options.trace_own_process = true;
    options.pids = {static_cast<std::uint32_t>(getpid())};
    options.data_hooks = data_hooks_under_test();
    return options;
  }

  static SyscallProbeOptions::DataHooks data_hooks_under_test() { return kernel_test::data_hooks_under_test(); }
  static bool sock_hooks() { return std::string(probes_->data_hooks()) == "sock"; }

  // Polls until `done` holds over the events seen so far, or the timeout passes.
  static bool wait_for(const std::function<bool(const std::vector<CapturedEvent>&)>& done,
                       std::chrono::milliseconds timeout = 5s, SyscallProbes* probes = nullptr,
                       EventSink* sink = nullptr) {
    probes = probes ? probes : probes_;
    sink = sink ? sink : sink_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(sink->events())) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      EXPECT_GE(probes->poll(50ms), 0);
    }
    return true;
  }

  static std::vector<CapturedEvent> find(std::uint32_t type, int fd, int syscall = 0) {
    std::vector<CapturedEvent> out;
    for (const auto& e : sink_->events()) {
      if (e.hdr.type == type && e.hdr.fd == static_cast<std::uint32_t>(fd) &&
          (syscall == 0 || e.hdr.syscall == syscall))
        out.push_back(e);
    }
    return out;
  }

  // A UDP datagram to ourselves whose event proves that everything issued before it has been read.
  static void flush_with_marker() {
    Fd rx(socket(AF_INET, SOCK_DGRAM, 0));
    Endpoint to = loopback(AF_INET);
    ASSERT_EQ(bind(rx.get(), to.sa(), to.len), 0);
    to = local_end(rx.get(), AF_INET);
    const char marker[] = "marker";
    ASSERT_EQ(sendto(rx.get(), marker, sizeof(marker), 0, to.sa(), to.len), (ssize_t)sizeof(marker));
    int fd = rx.get();
    ASSERT_TRUE(wait_for([fd](const auto& evs) {
      for (const auto& e : evs)
        if (e.hdr.fd == static_cast<std::uint32_t>(fd) && e.hdr.syscall == OTELBPF_SYS_SENDTO) return true;
      return false;
    }));
  }

  static inline SyscallProbes* probes_ = nullptr;
  static inline EventSink* sink_ = nullptr;
  static inline std::chrono::steady_clock::duration load_time_{};
};

class SharedProbes : public ::testing::Environment {
 public:
  void TearDown() override { SyscallProbesTestAccess::release(); }

 private:
  struct SyscallProbesTestAccess : SyscallProbesTest {
    static void release() { release_shared(); }
  };
};
const auto* const shared_probes_env = ::testing::AddGlobalTestEnvironment(new SharedProbes);

TEST_F(SyscallProbesTest, EveryProbeAttachesOnThisKernel) {
  std::vector<std::string> expected;
  const char* both[] = {"sendmmsg", "recvmmsg", "connect", "accept", "accept4", "close"};
  for (const char* sc : both)
    for (const char* phase : {"enter", "exit"}) expected.push_back(std::string("syscalls/sys_") + phase + "_" + sc);
  expected.push_back("sched/sched_process_exit");  // a process's sockets end with it
  if (sock_hooks()) {
    // Data calls on the sock hooks; recvfrom/recvmsg exits finish unconnected-UDP receives (the sender's
    // address is in the caller's buffer only after sock_recvmsg).
    for (const char* name : {"sock/sock_send_length", "sock/sock_recv_length", "syscalls/sys_exit_recvfrom",
                             "syscalls/sys_exit_recvmsg"})
      expected.push_back(name);
    // close's event leaves from its entry: no exit (every fd closed on the node paid it).
    expected.erase(std::find(expected.begin(), expected.end(), "syscalls/sys_exit_close"));
    const bool send_marks = std::any_of(probes_->status().begin(), probes_->status().end(),
                                        [](const ProbeStatus& s) { return s.name == "tcp/tcp_sendmsg_locked"; });
    if (send_marks) expected.push_back("tcp/tcp_sendmsg_locked");
  } else {
    const char* data[] = {"read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg"};
    for (const char* sc : data)
      for (const char* phase : {"enter", "exit"}) expected.push_back(std::string("syscalls/sys_") + phase + "_" + sc);
  }
  const auto& status = probes_->status();
  EXPECT_EQ(status.size(), expected.size());
  EXPECT_EQ(probes_->attached_count(), status.size());
  for (const auto& name : expected) {
    auto it = std::find_if(status.begin(), status.end(), [&](const ProbeStatus& s) { return s.name == name; });
    ASSERT_NE(it, status.end()) << name;
    EXPECT_TRUE(it->attached) << name << ": " << it->error;
    EXPECT_TRUE(it->error.empty()) << name;
  }
  std::printf("[ info     ] data calls via %s\n", probes_->data_hooks());
  std::printf(
      "[ info     ] load+attach of %zu probes took %lld ms\n", status.size(),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(load_time_).count()));
}

class TcpTest : public SyscallProbesTest, public ::testing::WithParamInterface<int> {};

TEST_P(TcpTest, ConnectAcceptDataAndCloseOverLoopback) {
  const int family = GetParam();
  const auto lo = loopback_bytes(family);
  const auto pid = static_cast<std::uint32_t>(getpid());
  const auto tid = static_cast<std::uint32_t>(gettid());

  Fd listener(socket(family, SOCK_STREAM, 0));
  Endpoint server = loopback(family);
  ASSERT_EQ(bind(listener.get(), server.sa(), server.len), 0) << std::strerror(errno);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  server = local_end(listener.get(), family);

  Fd client(socket(family, SOCK_STREAM, 0));
  ASSERT_EQ(connect(client.get(), server.sa(), server.len), 0) << std::strerror(errno);
  Fd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(conn.get(), 0) << std::strerror(errno);
  const Endpoint client_end = local_end(client.get(), family);
  const int cfd = client.get(), sfd = conn.get();

  // 1. write -> read
  const std::string m1 = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_EQ(write(cfd, m1.data(), m1.size()), (ssize_t)m1.size());
  std::string r1(m1.size(), '\0');
  ASSERT_EQ(read_full(sfd, r1.data(), r1.size()), m1.size());

  // 2. writev (3 iovecs) -> readv (2 iovecs, split elsewhere)
  std::string w2a = "POST /two ", w2b = "HTTP/1.1\r\n", w2c = "Content-Length: 0\r\n\r\n";
  const std::string m2 = w2a + w2b + w2c;
  iovec wv[3] = {{w2a.data(), w2a.size()}, {w2b.data(), w2b.size()}, {w2c.data(), w2c.size()}};
  ASSERT_EQ(writev(cfd, wv, 3), (ssize_t)m2.size());
  std::string r2a(7, '\0'), r2b(m2.size() - 7, '\0');
  iovec rv[2] = {{r2a.data(), r2a.size()}, {r2b.data(), r2b.size()}};
  ASSERT_EQ(readv(sfd, rv, 2), (ssize_t)m2.size());
  ASSERT_EQ(r2a + r2b, m2);

  // 3. sendmsg (2 iovecs) -> recvmsg (2 iovecs)
  std::string w3a = "*1\r\n", w3b = "$4\r\nPING\r\n";
  const std::string m3 = w3a + w3b;
  iovec sv[2] = {{w3a.data(), w3a.size()}, {w3b.data(), w3b.size()}};
  msghdr smsg{};
  smsg.msg_iov = sv;
  smsg.msg_iovlen = 2;
  ASSERT_EQ(sendmsg(cfd, &smsg, 0), (ssize_t)m3.size());
  std::string r3a(3, '\0'), r3b(m3.size() - 3, '\0');
  iovec rcv[2] = {{r3a.data(), r3a.size()}, {r3b.data(), r3b.size()}};
  msghdr rmsg{};
  rmsg.msg_iov = rcv;
  rmsg.msg_iovlen = 2;
  ASSERT_EQ(recvmsg(sfd, &rmsg, MSG_WAITALL), (ssize_t)m3.size());
  ASSERT_EQ(r3a + r3b, m3);

  // 4. sendto without address -> recvfrom; and the reply direction server -> client.
  const std::string m4 = "HTTP/1.1 200 OK\r\n\r\n";
  ASSERT_EQ(sendto(sfd, m4.data(), m4.size(), 0, nullptr, 0), (ssize_t)m4.size());
  std::string r4(m4.size(), '\0');
  ASSERT_EQ(recvfrom(cfd, r4.data(), r4.size(), MSG_WAITALL, nullptr, nullptr), (ssize_t)m4.size());

  client.reset();
  conn.reset();
  ASSERT_TRUE(wait_for([&](const auto&) {
    return !find(OTELBPF_EV_CLOSE, cfd).empty() && !find(OTELBPF_EV_CLOSE, sfd).empty();
  })) << "close events missing; saw "
      << sink_->events().size() << " events";

  auto expect_common = [&](const CapturedEvent& e, bool client_side, const char* what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(e.hdr.pid, pid);
    EXPECT_EQ(e.hdr.tid, tid);
    EXPECT_GT(e.hdr.ts_enter_ns, 0u);
    EXPECT_LE(e.hdr.ts_enter_ns, e.hdr.ts_exit_ns);
    EXPECT_EQ(std::string(e.hdr.comm), self_comm());
    EXPECT_NE(e.hdr.cgroup_id, 0u);
    EXPECT_EQ(e.hdr.sock.family, family);
    EXPECT_EQ(e.hdr.sock.protocol, IPPROTO_TCP);
    EXPECT_EQ(bytes16(e.hdr.sock.saddr), lo);
    EXPECT_EQ(bytes16(e.hdr.sock.daddr), lo);
    EXPECT_EQ(e.hdr.sock.sport, client_side ? client_end.port() : server.port());
    EXPECT_EQ(e.hdr.sock.dport, client_side ? server.port() : client_end.port());
  };

  auto connects = find(OTELBPF_EV_CONNECT, cfd);
  ASSERT_EQ(connects.size(), 1u);
  expect_common(connects[0], true, "connect");
  EXPECT_EQ(connects[0].hdr.ret, 0);
  EXPECT_EQ(connects[0].hdr.syscall, OTELBPF_SYS_CONNECT);
  EXPECT_EQ(connects[0].hdr.direction, OTELBPF_DIR_EGRESS);
  EXPECT_EQ(connects[0].hdr.payload_len, 0u);

  auto accepts = find(OTELBPF_EV_ACCEPT, sfd);
  ASSERT_EQ(accepts.size(), 1u);
  expect_common(accepts[0], false, "accept4");
  EXPECT_EQ(accepts[0].hdr.ret, sfd);
  EXPECT_EQ(accepts[0].hdr.syscall, OTELBPF_SYS_ACCEPT4);
  EXPECT_EQ(accepts[0].hdr.direction, OTELBPF_DIR_INGRESS);
  EXPECT_NE(accepts[0].hdr.sock.sock_id, connects[0].hdr.sock.sock_id);

  struct Exchange {
    int egress_fd, egress_syscall, ingress_fd, ingress_syscall;
    const std::string& message;
  };
  const Exchange exchanges[] = {
      {cfd, OTELBPF_SYS_WRITE, sfd, OTELBPF_SYS_READ, m1},
      {cfd, OTELBPF_SYS_WRITEV, sfd, OTELBPF_SYS_READV, m2},
      {cfd, OTELBPF_SYS_SENDMSG, sfd, OTELBPF_SYS_RECVMSG, m3},
      {sfd, OTELBPF_SYS_SENDTO, cfd, OTELBPF_SYS_RECVFROM, m4},
  };
  // connect reports the client's next write, accept the server's next read: the same first byte.
  EXPECT_EQ(connects[0].hdr.tcp_seq, accepts[0].hdr.tcp_seq);
  std::uint32_t expected_client_seq = connects[0].hdr.tcp_seq;
  std::optional<std::uint32_t>
      expected_server_seq;  // the server's stream has no event before its first write
  for (const auto& x : exchanges) {
    SCOPED_TRACE("message " + x.message);
    auto out = find(OTELBPF_EV_DATA, x.egress_fd, x.egress_syscall);
    auto in = find(OTELBPF_EV_DATA, x.ingress_fd, x.ingress_syscall);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(in.size(), 1u);
    expect_common(out[0], x.egress_fd == cfd, "egress");
    expect_common(in[0], x.ingress_fd == cfd, "ingress");
    EXPECT_EQ(out[0].hdr.direction, OTELBPF_DIR_EGRESS);
    EXPECT_EQ(in[0].hdr.direction, OTELBPF_DIR_INGRESS);
    EXPECT_EQ(out[0].hdr.ret, (std::int64_t)x.message.size());
    EXPECT_EQ(in[0].hdr.ret, (std::int64_t)x.message.size());
    EXPECT_EQ(out[0].hdr.payload_len, x.message.size());
    EXPECT_EQ(out[0].payload, x.message);
    EXPECT_EQ(in[0].payload, x.message);
    // Same bytes, same stream position, seen from both ends.
    EXPECT_EQ(out[0].hdr.tcp_seq, in[0].hdr.tcp_seq);
    if (x.egress_fd == cfd) {
      EXPECT_EQ(out[0].hdr.tcp_seq, expected_client_seq);
      expected_client_seq += static_cast<std::uint32_t>(x.message.size());
    } else {
      if (expected_server_seq) {
        EXPECT_EQ(out[0].hdr.tcp_seq, *expected_server_seq);
      }
      expected_server_seq = out[0].hdr.tcp_seq + static_cast<std::uint32_t>(x.message.size());
    }
    EXPECT_EQ(out[0].hdr.sock.sock_id, (x.egress_fd == cfd ? connects : accepts)[0].hdr.sock.sock_id);
  }

  auto client_close = find(OTELBPF_EV_CLOSE, cfd);
  ASSERT_EQ(client_close.size(), 1u);
  expect_common(client_close[0], true, "client close");
  EXPECT_EQ(client_close[0].hdr.ret, 0);
  EXPECT_EQ(client_close[0].hdr.syscall, OTELBPF_SYS_CLOSE);
  auto server_close = find(OTELBPF_EV_CLOSE, sfd);
  ASSERT_EQ(server_close.size(), 1u);
  expect_common(server_close[0], false, "server close");
}

INSTANTIATE_TEST_SUITE_P(Families, TcpTest, ::testing::Values(AF_INET, AF_INET6),
                         [](const auto& info) { return info.param == AF_INET ? "IPv4" : "IPv6"; });

TEST_F(SyscallProbesTest, ReadThatReachesThePeersFinReportsTheDataSequence) {
  // The response and the server's FIN arrive before the client reads: one read returns the data and
  // consumes the FIN, which has a sequence number of its own (the sock hooks see copied_seq after it).
  LoopbackTcp tcp = loopback_tcp();
  Fd& client = tcp.client;
  Fd& conn = tcp.server;
  const std::string response = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(conn.get(), response.data(), response.size()), (ssize_t)response.size());
  ASSERT_EQ(shutdown(conn.get(), SHUT_WR), 0);
  usleep(20000);  // the FIN is queued behind the data
  std::string got(256, '\0');
  ASSERT_EQ(read(client.get(), got.data(), got.size()), (ssize_t)response.size());
  ASSERT_EQ(read(client.get(), got.data(), got.size()), 0);
  const int cfd = client.get(), sfd = conn.get();
  ASSERT_TRUE(wait_for([&](const auto&) {
    return !find(OTELBPF_EV_DATA, cfd, OTELBPF_SYS_READ).empty() && !find(OTELBPF_EV_DATA, sfd, OTELBPF_SYS_WRITE).empty();
  }));
  const auto in = find(OTELBPF_EV_DATA, cfd, OTELBPF_SYS_READ);
  const auto out = find(OTELBPF_EV_DATA, sfd, OTELBPF_SYS_WRITE);
  ASSERT_EQ(in.size(), 1u);  // the EOF read moved no bytes: no event
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(in[0].hdr.tcp_seq, out[0].hdr.tcp_seq);
  EXPECT_EQ(in[0].payload, response);
}

TEST_F(SyscallProbesTest, AnAnswerReadAfterTcpReleasedThePortEndsTheExchangeItAnswers) {
  // The npm pg client after an error: its Terminate and half-close go out before it reads the server's
  // last message; the server answers, sees EOF and closes. The client's socket is done (TIME_WAIT), the
  // kernel released its port (tcp_done zeroes it), and only then does the client read the answer: that
  // read reports local port 0, and must still end the exchange of its connection.
  LoopbackTcp tcp = loopback_tcp();
  const std::string request = "GET /last HTTP/1.1\r\nHost: db\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const int cfd = tcp.client.get();
  const std::uint16_t client_port = local_end(cfd, AF_INET).port();
  ASSERT_EQ(write(cfd, request.data(), request.size()), (ssize_t)request.size());
  std::string got(512, '\0');
  ASSERT_EQ(read_full(tcp.server.get(), got.data(), request.size()), request.size());
  ASSERT_EQ(shutdown(cfd, SHUT_WR), 0);
  ASSERT_EQ(read(tcp.server.get(), got.data(), got.size()), 0);
  ASSERT_EQ(write(tcp.server.get(), response.data(), response.size()), (ssize_t)response.size());
  tcp.server.reset();
  // The server's FIN makes the client's socket done: TCP_CLOSE for the socket (its connection lives on
  // as a TIME_WAIT entry).
  tcp_info info{};
  for (int i = 0; i < 200; ++i) {
    socklen_t len = sizeof info;
    ASSERT_EQ(getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
    if (info.tcpi_state == TCP_CLOSE) break;
    usleep(5000);
  }
  ASSERT_EQ(info.tcpi_state, TCP_CLOSE);
  ASSERT_EQ(read(cfd, got.data(), got.size()), (ssize_t)response.size());
  tcp.client.reset();
  ASSERT_TRUE(wait_for([&](const auto&) {
    return !find(OTELBPF_EV_DATA, cfd, OTELBPF_SYS_READ).empty() && !find(OTELBPF_EV_CLOSE, cfd).empty();
  }));
  const auto answer = find(OTELBPF_EV_DATA, cfd, OTELBPF_SYS_READ);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].hdr.sock.sport, 0) << "this kernel keeps a done socket's port: the case is not covered";
  EXPECT_EQ(answer[0].hdr.sock.sock_id, find(OTELBPF_EV_CONNECT, cfd).at(0).hdr.sock.sock_id);

  // The tracer's userspace half, on these very events: one CLIENT exchange, answered.
  std::vector<SysSpan> spans;
  MetricsRegistry metrics;
  SyscallEventProcessor processor(
      {},
      [&](SpanBatch batch) {
        for (auto& group : batch.sys_groups)
          for (auto& span : group.spans) spans.push_back(std::move(span));
      },
      metrics);
  for (const auto& e : sink_->events())
    processor.on_event(e.hdr, {reinterpret_cast<const std::uint8_t*>(e.payload.data()), e.payload.size()});
  processor.close_all();
  const auto client = std::find_if(spans.begin(), spans.end(),
                                   [](const SysSpan& s) { return s.record.role == l7::Role::kClient; });
  ASSERT_NE(client, spans.end());
  EXPECT_FALSE(client->record.response_missing);
  EXPECT_EQ(client->record.resp_bytes, response.size());
  const auto* status = l7::find_attribute(client->record, "http.response.status_code");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(std::get<std::int64_t>(*status), 200);
  EXPECT_EQ(client->local_port, client_port) << "the port the connection had";
  EXPECT_EQ(metrics.value("otelbpf_tracer_connections_evicted_total"), 0);
}

TEST_F(SyscallProbesTest, SendStartMarksGiveTcpSendsTheirBeginning) {
  if (!sock_hooks()) GTEST_SKIP() << "sock hooks only (the syscall tracepoints see the entry themselves)";
  SyscallProbeOptions options = own_process_options();
  options.send_start_marks = true;
  EventSink sink;
  auto probes = SyscallProbes::load(options, sink.handler());
  const auto& status = probes->status();
  if (std::none_of(status.begin(), status.end(), [](const ProbeStatus& s) { return s.name == "tcp/tcp_sendmsg_locked"; }))
    GTEST_SKIP() << "kernel without tcp:tcp_sendmsg_locked";
  LoopbackTcp tcp = loopback_tcp();
  Fd& client = tcp.client;
  Fd& conn = tcp.server;
  // Big enough to take several chunks (the mark must be the first one's).
  const std::string big(200000, 'x');
  std::thread reader([&] {
    std::string got(big.size(), '\0');
    read_full(conn.get(), got.data(), got.size());
  });
  const auto before = std::chrono::steady_clock::now();
  ASSERT_EQ(write(client.get(), big.data(), big.size()), (ssize_t)big.size());
  const auto took = std::chrono::steady_clock::now() - before;
  reader.join();
  const int cfd = client.get();
  const CapturedEvent* w = nullptr;
  ASSERT_TRUE(wait_for(
      [&](const auto& evs) {
        for (const auto& e : evs)
          if (e.hdr.fd == static_cast<std::uint32_t>(cfd) && e.hdr.syscall == OTELBPF_SYS_WRITE) w = &e;
        return w != nullptr;
      },
      5s, probes.get(), &sink));
  EXPECT_LT(w->hdr.ts_enter_ns, w->hdr.ts_exit_ns);
  EXPECT_LE(w->hdr.ts_exit_ns - w->hdr.ts_enter_ns,
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()));
}

// A send that blocks (the peer is slow to read) and resumes on another CPU keeps its beginning: the mark
// lives with the socket, not with the CPU the send began on (a per-CPU mark was lost and the send's start
// fell back to its end, after the peer had read the bytes; seen as a Redis server span starting before its
// client span in CI).
TEST_F(SyscallProbesTest, ASendThatMovesToAnotherCpuKeepsItsBeginning) {
  if (!sock_hooks()) GTEST_SKIP() << "sock hooks only (the syscall tracepoints see the entry themselves)";
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs two CPUs";
  SyscallProbeOptions options = own_process_options();
  options.send_start_marks = true;
  EventSink sink;
  auto probes = SyscallProbes::load(options, sink.handler());
  const auto& status = probes->status();
  if (std::none_of(status.begin(), status.end(), [](const ProbeStatus& s) { return s.name == "tcp/tcp_sendmsg_locked"; }))
    GTEST_SKIP() << "kernel without tcp:tcp_sendmsg_locked";
  LoopbackTcp tcp = loopback_tcp(4096);
  Fd& client = tcp.client;
  Fd& conn = tcp.server;

  // The sender starts on CPU 0; while its write waits for buffer space it is moved to CPU 1, and only
  // then does the reader drain the connection.
  const auto pin = [](pid_t tid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(tid, sizeof set, &set);
  };
  const std::string big(1 << 20, 'x');  // more than the peer's receive buffer takes unread
  std::atomic<pid_t> sender_tid{0};
  std::thread reader([&] {
    while (sender_tid.load() == 0) std::this_thread::yield();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(pin(sender_tid.load(), 1), 0);
    std::this_thread::sleep_for(50ms);
    std::string got(big.size(), '\0');
    read_full(conn.get(), got.data(), got.size());
  });
  ASSERT_EQ(pin(0, 0), 0);
  sender_tid = static_cast<pid_t>(syscall(SYS_gettid));
  ASSERT_EQ(write(client.get(), big.data(), big.size()), (ssize_t)big.size());
  const int cpu_after = sched_getcpu();
  reader.join();
  cpu_set_t all;
  CPU_ZERO(&all);
  for (unsigned c = 0; c < std::thread::hardware_concurrency(); ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof all, &all);
  ASSERT_EQ(cpu_after, 1) << "the send did not move";

  const int cfd = client.get();
  const CapturedEvent* w = nullptr;
  ASSERT_TRUE(wait_for(
      [&](const auto& evs) {
        for (const auto& e : evs)
          if (e.hdr.fd == static_cast<std::uint32_t>(cfd) && e.hdr.syscall == OTELBPF_SYS_WRITE) w = &e;
        return w != nullptr;
      },
      5s, probes.get(), &sink));
  // Began before the reader slept (>= 100 ms before the send could finish), not when it returned.
  EXPECT_GE(w->hdr.ts_exit_ns - w->hdr.ts_enter_ns, 90'000'000u);
}

TEST_F(SyscallProbesTest, NonBlockingConnectIsReportedWhileInProgress) {
  Fd listener(socket(AF_INET, SOCK_STREAM, 0));
  Endpoint server = loopback(AF_INET);
  ASSERT_EQ(bind(listener.get(), server.sa(), server.len), 0);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  server = local_end(listener.get(), AF_INET);
  Fd client(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  int rc = connect(client.get(), server.sa(), server.len);
  const int connect_result = rc == 0 ? 0 : -errno;
  ASSERT_TRUE(connect_result == 0 || connect_result == -EINPROGRESS) << std::strerror(-connect_result);
  const int cfd = client.get();
  ASSERT_TRUE(wait_for([&](const auto&) { return !find(OTELBPF_EV_CONNECT, cfd).empty(); }));
  auto ev = find(OTELBPF_EV_CONNECT, cfd)[0];
  EXPECT_EQ(ev.hdr.ret, connect_result);
  EXPECT_EQ(ev.hdr.sock.dport, server.port());
  EXPECT_EQ(ev.hdr.sock.sport, local_end(cfd, AF_INET).port());
}

class UdpTest : public SyscallProbesTest, public ::testing::WithParamInterface<int> {};

TEST_P(UdpTest, UnconnectedPeersComeFromTheSockaddrArguments) {
  const int family = GetParam();
  const auto lo = loopback_bytes(family);
  Fd srv(socket(family, SOCK_DGRAM, 0)), cli(socket(family, SOCK_DGRAM, 0));
  Endpoint any = loopback(family);
  ASSERT_EQ(bind(srv.get(), any.sa(), any.len), 0);
  ASSERT_EQ(bind(cli.get(), any.sa(), any.len), 0);
  Endpoint server = local_end(srv.get(), family), client = local_end(cli.get(), family);

  // sendto -> recvfrom
  const std::string q = "\x12\x34\x01\x00 dns query";
  ASSERT_EQ(sendto(cli.get(), q.data(), q.size(), 0, server.sa(), server.len), (ssize_t)q.size());
  char buf[256];
  Endpoint from{family};
  from.len = sizeof(from.addr);
  ASSERT_EQ(recvfrom(srv.get(), buf, sizeof(buf), 0, from.sa(), &from.len), (ssize_t)q.size());

  // sendmsg with msg_name, 2 iovecs -> recvmsg with msg_name
  std::string a = "resp-", b = "onse";
  iovec siov[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
  msghdr smsg{};
  smsg.msg_name = server.sa();
  smsg.msg_namelen = server.len;
  smsg.msg_iov = siov;
  smsg.msg_iovlen = 2;
  ASSERT_EQ(sendmsg(cli.get(), &smsg, 0), (ssize_t)(a.size() + b.size()));
  Endpoint from2{family};
  iovec riov{buf, sizeof(buf)};
  msghdr rmsg{};
  rmsg.msg_name = &from2.addr;
  rmsg.msg_namelen = sizeof(from2.addr);
  rmsg.msg_iov = &riov;
  rmsg.msg_iovlen = 1;
  ASSERT_EQ(recvmsg(srv.get(), &rmsg, 0), (ssize_t)(a.size() + b.size()));

  // sendmmsg of 3 datagrams (the second gathered from 2 iovecs) -> recvmmsg of 3
  std::string d0 = "first", d1a = "sec", d1b = "ond", d2 = "third-datagram";
  iovec i0{d0.data(), d0.size()}, i1[2] = {{d1a.data(), d1a.size()}, {d1b.data(), d1b.size()}},
                                  i2{d2.data(), d2.size()};
  mmsghdr out[3]{};
  out[0].msg_hdr.msg_iov = &i0;
  out[0].msg_hdr.msg_iovlen = 1;
  out[1].msg_hdr.msg_iov = i1;
  out[1].msg_hdr.msg_iovlen = 2;
  out[2].msg_hdr.msg_iov = &i2;
  out[2].msg_hdr.msg_iovlen = 1;
  for (auto& m : out) {
    m.msg_hdr.msg_name = server.sa();
    m.msg_hdr.msg_namelen = server.len;
  }
  ASSERT_EQ(sendmmsg(cli.get(), out, 3, 0), 3);
  char rbuf[3][64];
  iovec riovs[3];
  sockaddr_storage rfrom[3];
  mmsghdr in[3]{};
  for (int i = 0; i < 3; ++i) {
    riovs[i] = {rbuf[i], sizeof(rbuf[i])};
    in[i].msg_hdr.msg_iov = &riovs[i];
    in[i].msg_hdr.msg_iovlen = 1;
    in[i].msg_hdr.msg_name = &rfrom[i];
    in[i].msg_hdr.msg_namelen = sizeof(rfrom[i]);
  }
  ASSERT_EQ(recvmmsg(srv.get(), in, 3, 0, nullptr), 3);

  const int cfd = cli.get(), sfd = srv.get();
  ASSERT_TRUE(wait_for([&](const auto&) {
    return find(OTELBPF_EV_DATA, sfd, OTELBPF_SYS_RECVMMSG).size() == 3 &&
           find(OTELBPF_EV_DATA, cfd, OTELBPF_SYS_SENDMMSG).size() == 3;
  })) << "saw "
      << sink_->events().size() << " events";

  auto expect_udp = [&](const CapturedEvent& e, bool client_side, std::uint8_t dir,
                        const std::string& payload) {
    SCOPED_TRACE(payload);
    EXPECT_EQ(e.hdr.sock.family, family);
    EXPECT_EQ(e.hdr.sock.protocol, IPPROTO_UDP);
    EXPECT_EQ(e.hdr.direction, dir);
    EXPECT_EQ(e.hdr.tcp_seq, 0u);
    EXPECT_EQ(e.hdr.ret, (std::int64_t)payload.size());
    EXPECT_EQ(e.payload, payload);
    EXPECT_EQ(bytes16(e.hdr.sock.saddr), lo);
    EXPECT_EQ(bytes16(e.hdr.sock.daddr), lo);
    EXPECT_EQ(e.hdr.sock.sport, client_side ? client.port() : server.port());
    EXPECT_EQ(e.hdr.sock.dport, client_side ? server.port() : client.port());
    EXPECT_EQ(e.hdr.pid, static_cast<std::uint32_t>(getpid()));
    EXPECT_LE(e.hdr.ts_enter_ns, e.hdr.ts_exit_ns);
  };
  auto one = [&](int fd, int sc) {
    auto v = find(OTELBPF_EV_DATA, fd, sc);
    EXPECT_EQ(v.size(), 1u) << "syscall " << sc;
    return v.empty() ? CapturedEvent{} : v[0];
  };
  expect_udp(one(cfd, OTELBPF_SYS_SENDTO), true, OTELBPF_DIR_EGRESS, q);
  expect_udp(one(sfd, OTELBPF_SYS_RECVFROM), false, OTELBPF_DIR_INGRESS, q);
  expect_udp(one(cfd, OTELBPF_SYS_SENDMSG), true, OTELBPF_DIR_EGRESS, a + b);
  expect_udp(one(sfd, OTELBPF_SYS_RECVMSG), false, OTELBPF_DIR_INGRESS, a + b);
  const std::string datagrams[3] = {d0, d1a + d1b, d2};
  auto sent = find(OTELBPF_EV_DATA, cfd, OTELBPF_SYS_SENDMMSG);
  auto received = find(OTELBPF_EV_DATA, sfd, OTELBPF_SYS_RECVMMSG);
  for (int i = 0; i < 3; ++i) {
    expect_udp(sent[i], true, OTELBPF_DIR_EGRESS, datagrams[i]);
    expect_udp(received[i], false, OTELBPF_DIR_INGRESS, datagrams[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, UdpTest, ::testing::Values(AF_INET, AF_INET6),
                         [](const auto& info) { return info.param == AF_INET ? "IPv4" : "IPv6"; });

TEST_F(SyscallProbesTest, AProcessExitIsReportedOnceForItsLeaderOnly) {
  // A child with a second thread: the process's exit is one event with its pid, not one per thread.
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::thread worker([] { std::this_thread::sleep_for(50ms); });
    char c;
    (void)!read(go[0], &c, 1);
    worker.join();
    _exit(0);
  }
  auto options = own_process_options();
  options.pids.push_back(static_cast<std::uint32_t>(child));
  probes_->set_filters(options);
  ASSERT_EQ(write(go[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  const bool seen = wait_for([child](const auto& evs) {
    for (const auto& e : evs)
      if (e.hdr.type == OTELBPF_EV_EXIT && e.hdr.pid == static_cast<std::uint32_t>(child)) return true;
    return false;
  });
  probes_->set_filters(own_process_options());
  close(go[0]);
  close(go[1]);
  ASSERT_TRUE(seen) << "no exit event for pid " << child;
  int exits = 0;
  for (const auto& e : sink_->events())
    if (e.hdr.type == OTELBPF_EV_EXIT && e.hdr.pid == static_cast<std::uint32_t>(child)) {
      ++exits;
      EXPECT_EQ(e.hdr.tid, e.hdr.pid);
      EXPECT_EQ(e.hdr.sock.sock_id, 0u);
    }
  EXPECT_EQ(exits, 1);
}

TEST_F(SyscallProbesTest, NonSocketFdsProduceNoEvents) {
  const KernelCounters before = probes_->counters();
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "pipe data", 9), 9);
  char buf[64];
  ASSERT_EQ(read(p[0], buf, sizeof(buf)), 9);
  close(p[0]);
  close(p[1]);

  char path[] = "/tmp/otelbpf-probe-test-XXXXXX";
  int f = mkstemp(path);
  ASSERT_GE(f, 0);
  unlink(path);
  ASSERT_EQ(write(f, "file data", 9), 9);
  ASSERT_EQ(lseek(f, 0, SEEK_SET), 0);
  ASSERT_EQ(read(f, buf, sizeof(buf)), 9);
  iovec iov{buf, 4};
  ASSERT_EQ(writev(f, &iov, 1), 4);
  close(f);

  int sp[2];  // unix sockets are sockets, but not traced
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
  ASSERT_EQ(write(sp[0], "unix", 4), 4);
  ASSERT_EQ(read(sp[1], buf, sizeof(buf)), 4);
  close(sp[0]);
  close(sp[1]);

  flush_with_marker();
  for (const auto& e : sink_->events()) {
    EXPECT_TRUE(e.hdr.sock.protocol == IPPROTO_UDP && e.hdr.sock.family == AF_INET)
        << "unexpected event type " << e.hdr.type << " syscall " << int(e.hdr.syscall) << " fd " << e.hdr.fd;
  }
  const KernelCounters after = probes_->counters();
  // Syscall tracepoints see 5 I/O calls + 3 closes on non-sockets; the sock hooks never fire for files and
  // pipes, only the closes are looked at.
  EXPECT_GE(after.non_socket_skipped - before.non_socket_skipped, sock_hooks() ? 3u : 8u);
  EXPECT_GE(after.other_socket_skipped - before.other_socket_skipped, 4u);  // unix write, read, 2 closes
  EXPECT_GT(after.events, before.events);
}

TEST_F(SyscallProbesTest, PayloadIsCutAtTheCaptureLimitWhileRetReportsAllBytes) {
  SyscallProbeOptions options = own_process_options();
  options.payload_capture_bytes = 100;
  options.ringbuf_bytes = 256 << 10;
  EventSink sink;
  auto probes = SyscallProbes::load(options, sink.handler());

  LoopbackTcp tcp = loopback_tcp();
  Fd& client = tcp.client;
  Fd& conn = tcp.server;
  ASSERT_GE(conn.get(), 0);

  std::string big(3000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(write(client.get(), big.data(), big.size()), (ssize_t)big.size());
  std::string got(big.size(), '\0');
  ASSERT_EQ(recvfrom(conn.get(), got.data(), got.size(), MSG_WAITALL, nullptr, nullptr), (ssize_t)big.size());
  // Gathered capture crosses the iovec boundary at byte 60 and stops at 100.
  std::string head(60, 'H'), tail(500, 'T');
  iovec v[2] = {{head.data(), head.size()}, {tail.data(), tail.size()}};
  ASSERT_EQ(writev(client.get(), v, 2), 560);

  const int cfd = client.get(), sfd = conn.get();
  auto find_in = [&](int fd, int sc) {
    for (const auto& e : sink.events())
      if (e.hdr.fd == static_cast<std::uint32_t>(fd) && e.hdr.syscall == sc) return &e;
    return static_cast<const CapturedEvent*>(nullptr);
  };
  ASSERT_TRUE(wait_for(
      [&](const auto&) {
        return find_in(cfd, OTELBPF_SYS_WRITE) && find_in(sfd, OTELBPF_SYS_RECVFROM) &&
               find_in(cfd, OTELBPF_SYS_WRITEV);
      },
      5s, probes.get(), &sink));
  const auto* w = find_in(cfd, OTELBPF_SYS_WRITE);
  EXPECT_EQ(w->hdr.ret, 3000);
  EXPECT_EQ(w->hdr.payload_len, 100u);
  EXPECT_EQ(w->payload, big.substr(0, 100));
  const auto* r = find_in(sfd, OTELBPF_SYS_RECVFROM);
  EXPECT_EQ(r->hdr.ret, 3000);
  EXPECT_EQ(r->hdr.payload_len, 100u);
  EXPECT_EQ(r->payload, big.substr(0, 100));
  EXPECT_EQ(r->hdr.tcp_seq, w->hdr.tcp_seq);
  const auto* wv = find_in(cfd, OTELBPF_SYS_WRITEV);
  EXPECT_EQ(wv->hdr.ret, 560);
  EXPECT_EQ(wv->payload, head + tail.substr(0, 40));
  EXPECT_EQ(wv->hdr.tcp_seq, w->hdr.tcp_seq + 3000);
}

TEST_F(SyscallProbesTest, PerfBufferFallbackDeliversTheSameEvents) {
  // The transport used where the kernel lacks the BPF ring buffer (< 5.8), forced here.
  SyscallProbeOptions options = own_process_options();
  options.transport = SyscallProbeOptions::Transport::kPerfBuffer;
  options.ringbuf_bytes = 1u << 20;
  EventSink sink;
  auto probes = SyscallProbes::load(options, sink.handler());
  EXPECT_STREQ(probes->transport(), "perfbuf");
  LoopbackTcp tcp = loopback_tcp();
  Fd& client = tcp.client;
  Fd& conn = tcp.server;
  const std::string request = "GET /perf HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(client.get(), request.data(), request.size()), (ssize_t)request.size());
  std::string got(request.size(), '\0');
  ASSERT_EQ(read_full(conn.get(), got.data(), got.size()), request.size());
  const int cfd = client.get(), sfd = conn.get();
  auto find_in = [&](int fd, int sc) {
    for (const auto& e : sink.events())
      if (e.hdr.fd == static_cast<std::uint32_t>(fd) && e.hdr.syscall == sc) return &e;
    return static_cast<const CapturedEvent*>(nullptr);
  };
  ASSERT_TRUE(
      wait_for([&](const auto&) { return find_in(cfd, OTELBPF_SYS_WRITE) && find_in(sfd, OTELBPF_SYS_READ); },
               5s, probes.get(), &sink));
  const auto* w = find_in(cfd, OTELBPF_SYS_WRITE);
  const auto* r = find_in(sfd, OTELBPF_SYS_READ);
  EXPECT_EQ(w->payload, request);
  EXPECT_EQ(r->payload, request);
  EXPECT_EQ(w->hdr.tcp_seq, r->hdr.tcp_seq);
  EXPECT_EQ(w->hdr.sock.dport, r->hdr.sock.sport);
  EXPECT_EQ(probes->counters().ringbuf_drops, 0u);
}

TEST_F(SyscallProbesTest, OnePollHandsBackAfterABoundedNumberOfEvents) {
  // A backlog bigger than one poll's budget: poll() must return with part of it, not drain forever,
  // and later polls get the rest without loss.
  SyscallProbeOptions options = own_process_options();
  options.ringbuf_bytes = 8u << 20;
  options.payload_capture_bytes = 16;
  EventSink sink;
  auto probes = SyscallProbes::load(options, sink.handler());
  int pair[2];
  LoopbackTcp tcp = loopback_tcp();
  Fd& client = tcp.client;
  Fd& conn = tcp.server;
  pair[0] = client.get();
  pair[1] = conn.get();
  constexpr int kWrites = 12000;
  char byte = 'x', sink_byte;
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_EQ(write(pair[0], &byte, 1), 1);
    ASSERT_EQ(read(pair[1], &sink_byte, 1), 1);
  }
  const int first = probes->poll(0ms);
  EXPECT_GT(first, 0);
  EXPECT_LE(first, 8192);
  std::size_t total = static_cast<std::size_t>(first);
  for (int n; (n = probes->poll(0ms)) > 0;) total += static_cast<std::size_t>(n);
  EXPECT_GE(total, 2u * kWrites);  // every write and read arrived across the polls
  EXPECT_EQ(probes->counters().ringbuf_drops, 0u);
}

TEST_F(SyscallProbesTest, OwnProcessIsExcludedUnlessAskedFor) {
  SyscallProbeOptions options = own_process_options();
  options.trace_own_process = false;
  options.ringbuf_bytes = 64 << 10;
  EventSink sink;
  auto probes = SyscallProbes::load(options, sink.handler());
  const KernelCounters before = probes->counters();
  flush_with_marker();  // seen by the shared probes, which trace this process
  while (probes->poll(0ms) > 0) {
  }
  EXPECT_TRUE(sink.events().empty());
  const KernelCounters after = probes->counters();
  EXPECT_EQ(after.events, before.events);
}

TEST_F(SyscallProbesTest, RuntimeFiltersDropInTheKernel) {
  struct RestoreFilters {
    ~RestoreFilters() { probes_->set_filters(own_process_options()); }
  } restore;
  Fd rx(socket(AF_INET, SOCK_DGRAM, 0));
  Endpoint to = loopback(AF_INET);
  ASSERT_EQ(bind(rx.get(), to.sa(), to.len), 0);
  to = local_end(rx.get(), AF_INET);
  auto send_one = [&] {
    ASSERT_EQ(sendto(rx.get(), "x", 1, 0, to.sa(), to.len), 1);
    char c;
    ASSERT_EQ(recv(rx.get(), &c, 1, 0), 1);
  };
  auto expect_filtered = [&](const SyscallProbeOptions& filters, const char* what) {
    SCOPED_TRACE(what);
    probes_->set_filters(filters);
    const auto before = probes_->counters();
    send_one();
    probes_->set_filters(own_process_options());
    flush_with_marker();
    for (const auto& e : sink_->events()) EXPECT_NE(e.hdr.fd, static_cast<std::uint32_t>(rx.get()));
    EXPECT_GE(probes_->counters().filtered - before.filtered, 2u);
    sink_->events().clear();
  };

  SyscallProbeOptions filters = own_process_options();
  filters.ignore_ports = {to.port()};
  expect_filtered(filters, "ignore_ports");
  filters = own_process_options();
  filters.only_ports = {static_cast<std::uint16_t>(to.port() == 9 ? 10 : 9)};
  expect_filtered(filters, "only_ports");
  filters = own_process_options();
  filters.pids = {1};
  expect_filtered(filters, "pids");

  // The cgroup filter passes our own cgroup and drops any other.
  send_one();
  flush_with_marker();
  ASSERT_FALSE(sink_->events().empty());
  const std::uint64_t own_cgroup = sink_->events().front().hdr.cgroup_id;
  sink_->events().clear();
  filters = own_process_options();
  filters.cgroup_id = own_cgroup + 1000;
  expect_filtered(filters, "cgroup_id");
  filters = own_process_options();
  filters.cgroup_id = own_cgroup;
  filters.only_ports = {to.port()};
  probes_->set_filters(filters);
  send_one();
  const int fd = rx.get();
  EXPECT_TRUE(wait_for([&](const auto& evs) {
    return std::count_if(evs.begin(), evs.end(), [&](const CapturedEvent& e) {
             return e.hdr.fd == static_cast<std::uint32_t>(fd);
           }) == 2;
  }));
}

TEST_F(SyscallProbesTest, CountersAndStatusArePublishedAsMetrics) {
  flush_with_marker();
  MetricsRegistry registry;
  ProbeMetrics metrics(registry);
  metrics.publish(*probes_);
  EXPECT_GT(registry.value("otelbpf_probe_events_total"), 0);
  EXPECT_EQ(registry.value("otelbpf_probe_ringbuf_drops_total"), 0);
  EXPECT_EQ(registry.value("otelbpf_probe_attached", {{"probe", "syscalls/sys_exit_recvmmsg"}}), 1);
  const double events = registry.value("otelbpf_probe_events_total");
  flush_with_marker();
  metrics.publish(*probes_);
  EXPECT_GT(registry.value("otelbpf_probe_events_total"), events);
  EXPECT_EQ(registry.value("otelbpf_probe_events_total"), static_cast<double>(probes_->counters().events));
  EXPECT_NE(registry.render_prometheus().find("otelbpf_probe_filtered_total"), std::string::npos);
}

TEST_F(SyscallProbesTest, HandlerExceptionsSurfaceFromPoll) {
  SyscallProbeOptions options = own_process_options();
  options.ringbuf_bytes = 64 << 10;
  auto probes = SyscallProbes::load(options, [](const otelbpf_event_header&, std::span<const std::uint8_t>) {
    throw std::runtime_error("handler failed");
  });
  flush_with_marker();
  EXPECT_THROW(
      {
        for (int i = 0; i < 100; ++i) probes->poll(20ms);
      },
      std::runtime_error);
}

}  // namespace
}  // namespace otelbpf
