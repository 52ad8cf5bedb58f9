// What the syscall probes cost per probe family, in the kernel: drives each family of traced calls
// (read/write, writev/readv, sendmsg/recvmsg, sendto/recvfrom, sendmmsg/recvmmsg, connect/accept/close) and
// untraced file I/O (read /dev/zero, write /dev/null) over loopback from this process, and reports per
// family
//   - the eBPF run time (kernel.bpf_stats: run_time_ns / run_cnt of every program that ran) per program
//     run and per operation, and the runs per operation;
//   - the wall time per operation without the probes, with them, and without again (same run), so the
//     cost of the attach mechanism itself shows too (the syscall tracepoints' entry path, for instance).
// Loads bpf/syscalls.bpf.c itself (no agent), filtered to this process. Needs root. The TLS family
// (OpenSSL SSL_write + SSL_read both ways over loopback, in this process) runs with the TLS uprobes
// attached to this process's libssl, as the agent does by default; --no-tls leaves them out (and the
// socket hooks' per-call TLS lookup off).
//   bench_probes [--hooks=auto|sock|syscalls] [--ops=N] [--wakeups=batched|each] [--transport=perfbuf]
//                [--send-marks] [--no-tls]
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "probes/syscall_probes.h"
#include "probes/tls_probes.h"

namespace {

using otelbpf::SyscallProbeOptions;
using otelbpf::SyscallProbes;

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_probes: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void check(bool ok, const char* what) {
  if (!ok) die(what);
}

sockaddr_in loopback_any() {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

sockaddr_in bound_name(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  check(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0, "getsockname");
  return a;
}

struct TcpPair {
  int listener = -1, client = -1, server = -1;
  TcpPair() {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback_any();
    check(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0, "bind");
    check(listen(listener, 64) == 0, "listen");
    a = bound_name(listener);
    client = socket(AF_INET, SOCK_STREAM, 0);
    check(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0, "connect");
    server = accept(listener, nullptr, nullptr);
    check(server >= 0, "accept");
  }
  ~TcpPair() {
    for (int fd : {client, server, listener}) close(fd);
  }
};

struct UdpPair {
  int a = -1, b = -1;
  sockaddr_in to{};
  UdpPair() {
    a = socket(AF_INET, SOCK_DGRAM, 0);
    b = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in any = loopback_any();
    check(bind(b, reinterpret_cast<sockaddr*>(&any), sizeof(any)) == 0, "bind udp");
    to = bound_name(b);
  }
  ~UdpPair() {
    close(a);
    close(b);
  }
};

// One family: `setup` makes its fds, `op` performs one operation (e.g. one write and the read of it).
struct Family {
  std::string name;
  std::string op_desc;
  std::function<std::function<void()>()> make;  // returns the op, closing over its own fds
};

char g_buf[4096];
const char g_msg[] = "GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench_probes\r\n\r\n";  // 63 bytes

void read_exact(int fd, char* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    check(r > 0, "read");
    got += static_cast<std::size_t>(r);
  }
}

// A TLS connection over a TcpPair, both ends in this process (a throwaway EC key and self-signed
// certificate), handshake done.
struct TlsPair {
  TcpPair tcp;
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL* server = nullptr;
  SSL* client = nullptr;
  TlsPair() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    check(key && cert, "EC key");
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("bench"), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    check(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign");
    check(SSL_CTX_use_certificate(server_ctx, cert) == 1 && SSL_CTX_use_PrivateKey(server_ctx, key) == 1,
          "server certificate");
    X509_free(cert);
    EVP_PKEY_free(key);
    server = SSL_new(server_ctx);
    client = SSL_new(client_ctx);
    SSL_set_fd(server, tcp.server);
    SSL_set_fd(client, tcp.client);
    // Both ends in one thread: step each until both have finished the handshake.
    for (int fd : {tcp.client, tcp.server}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    bool client_done = false, server_done = false;
    for (int i = 0; i < 10000 && !(client_done && server_done); ++i) {
      if (!client_done) client_done = SSL_connect(client) == 1;
      if (!server_done) server_done = SSL_accept(server) == 1;
    }
    check(client_done && server_done, "TLS handshake");
    for (int fd : {tcp.client, tcp.server}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }
  ~TlsPair() {
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
  }
};

void ssl_read_exact(SSL* ssl, char* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const int r = SSL_read(ssl, buf + got, static_cast<int>(n - got));
    check(r > 0, "SSL_read");
    got += static_cast<std::size_t>(r);
  }
}

std::vector<Family> families(bool tls) {
  constexpr std::size_t kLen = sizeof(g_msg) - 1;
  std::vector<Family> out;
  if (tls)
    out.push_back({"TLS (OpenSSL)", "SSL_write+SSL_read 63 B, both ways", [] {
                     auto p = std::make_shared<TlsPair>();
                     return std::function<void()>([p] {
                       check(SSL_write(p->client, g_msg, kLen) == (int)kLen, "SSL_write");
                       ssl_read_exact(p->server, g_buf, kLen);
                       check(SSL_write(p->server, g_msg, kLen) == (int)kLen, "SSL_write");
                       ssl_read_exact(p->client, g_buf, kLen);
                     });
                   }});
  out.push_back({"read/write", "TCP write 63 B + read", [] {
                   auto p = std::make_shared<TcpPair>();
                   return std::function<void()>([p] {
                     check(write(p->client, g_msg, kLen) == (ssize_t)kLen, "write");
                     read_exact(p->server, g_buf, kLen);
                   });
                 }});
  out.push_back({"writev/readv", "TCP writev 2 iovecs + readv", [] {
                   auto p = std::make_shared<TcpPair>();
                   return std::function<void()>([p] {
                     iovec w[2] = {{const_cast<char*>(g_msg), 20}, {const_cast<char*>(g_msg) + 20, kLen - 20}};
                     check(writev(p->client, w, 2) == (ssize_t)kLen, "writev");
                     iovec r[1] = {{g_buf, kLen}};
                     check(readv(p->server, r, 1) == (ssize_t)kLen, "readv");
                   });
                 }});
  out.push_back({"sendmsg/recvmsg", "TCP sendmsg + recvmsg", [] {
                   auto p = std::make_shared<TcpPair>();
                   return std::function<void()>([p] {
                     iovec w{const_cast<char*>(g_msg), kLen};
                     msghdr m{};
                     m.msg_iov = &w;
                     m.msg_iovlen = 1;
                     check(sendmsg(p->client, &m, 0) == (ssize_t)kLen, "sendmsg");
                     iovec r{g_buf, kLen};
                     msghdr rm{};
                     rm.msg_iov = &r;
                     rm.msg_iovlen = 1;
                     check(recvmsg(p->server, &rm, MSG_WAITALL) == (ssize_t)kLen, "recvmsg");
                   });
                 }});
  out.push_back({"sendto/recvfrom UDP", "unconnected UDP sendto + recvfrom", [] {
                   auto p = std::make_shared<UdpPair>();
                   return std::function<void()>([p] {
                     check(sendto(p->a, g_msg, kLen, 0, reinterpret_cast<sockaddr*>(&p->to), sizeof(p->to)) ==
                               (ssize_t)kLen,
                           "sendto");
                     sockaddr_in from{};
                     socklen_t len = sizeof(from);
                     check(recvfrom(p->b, g_buf, sizeof(g_buf), 0, reinterpret_cast<sockaddr*>(&from), &len) ==
                               (ssize_t)kLen,
                           "recvfrom");
                   });
                 }});
  out.push_back({"sendmmsg/recvmmsg", "UDP sendmmsg 4 + recvmmsg 4", [] {
                   auto p = std::make_shared<UdpPair>();
                   return std::function<void()>([p] {
                     iovec iov[4];
                     mmsghdr m[4]{};
                     for (int i = 0; i < 4; ++i) {
                       iov[i] = {const_cast<char*>(g_msg), kLen};
                       m[i].msg_hdr.msg_iov = &iov[i];
                       m[i].msg_hdr.msg_iovlen = 1;
                       m[i].msg_hdr.msg_name = &p->to;
                       m[i].msg_hdr.msg_namelen = sizeof(p->to);
                     }
                     check(sendmmsg(p->a, m, 4, 0) == 4, "sendmmsg");
                     iovec riov[4];
                     mmsghdr r[4]{};
                     for (int i = 0; i < 4; ++i) {
                       riov[i] = {g_buf + i * 512, 512};
                       r[i].msg_hdr.msg_iov = &riov[i];
                       r[i].msg_hdr.msg_iovlen = 1;
                     }
                     int got = 0;
                     while (got < 4) {
                       int n = recvmmsg(p->b, r + got, 4 - got, 0, nullptr);
                       check(n > 0, "recvmmsg");
                       got += n;
                     }
                   });
                 }});
  out.push_back({"connect/accept/close", "TCP connect + accept + 2 closes", [] {
                   auto listener = std::make_shared<int>(socket(AF_INET, SOCK_STREAM, 0));
                   sockaddr_in a = loopback_any();
                   check(bind(*listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0, "bind");
                   check(listen(*listener, 64) == 0, "listen");
                   auto to = std::make_shared<sockaddr_in>(bound_name(*listener));
                   return std::function<void()>([listener, to] {
                     int c = socket(AF_INET, SOCK_STREAM, 0);
                     check(connect(c, reinterpret_cast<sockaddr*>(to.get()), sizeof(*to)) == 0, "connect");
                     int s = accept(*listener, nullptr, nullptr);
                     check(s >= 0, "accept");
                     // RST instead of TIME_WAIT: thousands of connections must not exhaust the ports.
                     linger l{1, 0};
                     setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
                     close(c);
                     close(s);
                   });
                 }});
  out.push_back({"non-socket read/write", "1 B read /dev/zero + write /dev/null", [] {
                   auto fds = std::make_shared<std::pair<int, int>>(open("/dev/zero", O_RDONLY),
                                                                    open("/dev/null", O_WRONLY));
                   check(fds->first >= 0 && fds->second >= 0, "open /dev/zero, /dev/null");
                   return std::function<void()>([fds] {
                     check(read(fds->first, g_buf, 1) == 1, "read /dev/zero");
                     check(write(fds->second, g_buf, 1) == 1, "write /dev/null");
                   });
                 }});
  // close() is the other call every process makes on files; its tracepoints fire for every fd closed on
  // the node, socket or not.
  out.push_back({"non-socket close", "dup /dev/null + close", [] {
                   auto fd = std::make_shared<int>(open("/dev/null", O_RDONLY));
                   check(*fd >= 0, "open /dev/null");
                   return std::function<void()>([fd] {
                     const int copy = dup(*fd);
                     check(copy >= 0, "dup");
                     check(close(copy) == 0, "close");
                   });
                 }});
  return out;
}

struct ProgStats {
  std::uint64_t run_ns = 0, runs = 0;
};

std::map<std::string, ProgStats> prog_stats(const SyscallProbes& probes) {
  std::map<std::string, ProgStats> out;
  for (const auto& [name, fd] : probes.program_fds()) {
    bpf_prog_info info{};
    std::uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    out[name] = {info.run_time_ns, info.run_cnt};
  }
  return out;
}

// Wall ns per op of `op` repeated `ops` times, calling `between` every 256 ops (outside the timing).
double time_ops(const std::function<void()>& op, int ops, const std::function<void()>& between) {
  std::uint64_t total = 0;
  for (int done = 0; done < ops;) {
    const int n = std::min(256, ops - done);
    const std::uint64_t t0 = now_ns();
    for (int i = 0; i < n; ++i) op();
    total += now_ns() - t0;
    done += n;
    if (between) between();
  }
  return static_cast<double>(total) / ops;
}

}  // namespace

int main(int argc, char** argv) {
  SyscallProbeOptions options;
  int ops = 20000;
  bool tls = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--hooks=sock") options.data_hooks = SyscallProbeOptions::DataHooks::kSockHooks;
    else if (arg == "--hooks=syscalls") options.data_hooks = SyscallProbeOptions::DataHooks::kSyscallTracepoints;
    else if (arg == "--hooks=auto") options.data_hooks = SyscallProbeOptions::DataHooks::kAuto;
    else if (arg.starts_with("--ops=")) ops = std::atoi(arg.c_str() + 6);
    else if (arg == "--wakeups=each") options.batch_wakeups = false;
    else if (arg == "--wakeups=batched") options.batch_wakeups = true;
    else if (arg == "--transport=perfbuf") options.transport = SyscallProbeOptions::Transport::kPerfBuffer;
    else if (arg == "--send-marks") options.send_start_marks = true;
    else if (arg == "--no-tls") tls = false;
    else {
      std::fprintf(stderr,
                   "usage: %s [--hooks=auto|sock|syscalls] [--ops=N] [--wakeups=batched|each] [--transport=perfbuf] "
                   "[--send-marks] [--no-tls]\n",
                   argv[0]);
      return 2;
    }
  }
  options.trace_own_process = true;
  options.pids = {static_cast<std::uint32_t>(getpid())};
  spdlog::set_level(spdlog::level::warn);

  options.tls_uprobes = tls;
  auto fams = families(tls);
  std::vector<std::function<void()>> op_of;
  for (auto& f : fams) op_of.push_back(f.make());
  for (auto& op : op_of)
    for (int i = 0; i < 200; ++i) op();  // warm up: caches, socket buffers

  std::vector<double> before(fams.size()), with(fams.size()), after(fams.size());
  for (std::size_t i = 0; i < fams.size(); ++i) before[i] = time_ops(op_of[i], ops, nullptr);

  std::uint64_t events = 0;
  auto probes = SyscallProbes::load(options, [&](const otelbpf_event_header&, std::span<const std::uint8_t>) { ++events; });
  // The TLS uprobes on this process's libssl (the agent attaches them to every process that maps it).
  std::vector<otelbpf::TlsAttachment> tls_attachments;
  if (tls) {
    for (const auto& candidate : otelbpf::tls_candidates_of(static_cast<std::uint32_t>(getpid())))
      if (candidate.kind == otelbpf::TlsCandidate::Kind::kLibssl)
        tls_attachments.push_back(probes->attach_tls_library(candidate.path));
    check(!tls_attachments.empty(), "no libssl mapped by bench_probes");
    probes->set_tls_state(true, false);
  }
  const int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) die("bpf_enable_stats (kernel.bpf_stats_enabled)");
  auto drain = [&] {
    while (probes->poll(std::chrono::milliseconds(0)) > 0) {
    }
  };
  struct Row {
    std::uint64_t events;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> progs;  // name -> (runs, ns)
  };
  std::vector<Row> rows(fams.size());
  for (std::size_t i = 0; i < fams.size(); ++i) {
    drain();
    const auto s0 = prog_stats(*probes);
    const std::uint64_t e0 = events;
    with[i] = time_ops(op_of[i], ops, drain);
    drain();
    const auto s1 = prog_stats(*probes);
    rows[i].events = events - e0;
    for (const auto& [name, st] : s1) {
      const auto it = s0.find(name);
      const std::uint64_t runs = st.runs - (it == s0.end() ? 0 : it->second.runs);
      const std::uint64_t ns = st.run_ns - (it == s0.end() ? 0 : it->second.run_ns);
      if (runs) rows[i].progs[name] = {runs, ns};
    }
  }
  const auto counters = probes->counters();
  const std::string hooks = probes->data_hooks();
  const std::string transport = probes->transport();
  close(stats_fd);
  tls_attachments.clear();
  probes.reset();
  for (std::size_t i = 0; i < fams.size(); ++i) after[i] = time_ops(op_of[i], ops, nullptr);

  std::printf("bench_probes: data calls via %s hooks, %s, %s wake-ups, TLS uprobes %s, %d ops per family, drops %llu\n",
              hooks.c_str(), transport.c_str(), options.batch_wakeups ? "batched" : "per-event",
              tls ? "attached" : "off", ops, static_cast<unsigned long long>(counters.ringbuf_drops));
  std::printf("%-24s %-38s %8s %9s %9s %10s %10s %10s %9s\n", "family", "operation", "events", "runs/op",
              "ns/run", "bpf ns/op", "wall no", "wall with", "added");
  for (std::size_t i = 0; i < fams.size(); ++i) {
    std::uint64_t runs = 0, ns = 0;
    for (const auto& [name, rn] : rows[i].progs) {
      runs += rn.first;
      ns += rn.second;
    }
    const double base = (before[i] + after[i]) / 2;
    std::printf("%-24s %-38s %8.2f %9.2f %9.0f %10.0f %10.0f %10.0f %+9.0f\n", fams[i].name.c_str(),
                fams[i].op_desc.c_str(), static_cast<double>(rows[i].events) / ops,
                static_cast<double>(runs) / ops, runs ? static_cast<double>(ns) / runs : 0.0,
                static_cast<double>(ns) / ops, base, with[i], with[i] - base);
  }
  std::printf("\nper program (ns per run, runs per op):\n");
  for (std::size_t i = 0; i < fams.size(); ++i) {
    std::printf("  %-24s", fams[i].name.c_str());
    for (const auto& [name, rn] : rows[i].progs) {
      if (static_cast<double>(rn.first) / ops < 0.01) continue;  // stray runs (other threads' closes etc.)
      std::printf(" %s %.0f ns x%.2f;", name.c_str(), static_cast<double>(rn.second) / rn.first,
                  static_cast<double>(rn.first) / ops);
    }
    std::printf("\n");
  }
  return 0;
}
