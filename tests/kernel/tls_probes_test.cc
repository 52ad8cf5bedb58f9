// TLS probes on the real kernel: a Python HTTPS server (Debian's python3 and its ssl module, running before
// the probes load) and curl (started after) talk HTTPS over loopback; the uprobes must hand over the
// plaintext of both ends, tied to their sockets and TCP sequence numbers, and keep the ciphertext of the
// socket calls made inside SSL_read/SSL_write out of the ring. Needs root, openssl, curl and python3.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "probes/syscall_probes.h"
#include "probes/tls_probes.h"
#include "probe_events.h"

extern char** environ;

namespace otelbpf {
namespace {

using namespace std::chrono_literals;

using kernel_test::CapturedEvent;
using kernel_test::data_hooks_under_test;

// A child process, killed and reaped when this goes out of scope.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  int wait() {
    int status = 0;
    waitpid(std::exchange(pid_, -1), &status, 0);
    return status;
  }

 private:
  pid_t pid_ = -1;
};

// Uprobes this process has attached (bpftool lists every perf event a BPF program is attached to, by the
// process that holds it).
int uprobes_held_by_this_process() {
  const std::string cmd = "bpftool perf list -j 2>/dev/null | grep -o '\"pid\":" + std::to_string(getpid()) +
                          ",[^}]*\"fd_type\":\"u\\(ret\\)\\?probe\"' | wc -l";
  std::unique_ptr<FILE, int (*)(FILE*)> out(popen(cmd.c_str(), "r"), pclose);
  int n = -1;
  if (out && std::fscanf(out.get(), "%d", &n) != 1) n = -1;
  return n;
}

std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  socklen_t len = sizeof sin;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  close(fd);
  return ntohs(sin.sin_port);
}

bool accepts(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
  close(fd);
  return ok;
}

class TlsProbesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists("/usr/bin/openssl") || !std::filesystem::exists("/usr/bin/curl") ||
        !std::filesystem::exists("/usr/bin/python3"))
      GTEST_SKIP() << "needs openssl, curl and python3";
    dir_ = std::filesystem::temp_directory_path() / ("otelbpf-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " +
                            (dir_ / "key.pem").string() + " -out " + (dir_ / "cert.pem").string() +
                            " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
};

TEST(TlsCandidates, OpenSslIsFoundInLibrariesAndExecutablesThatDefineIt) {
  const std::string libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
  if (!std::filesystem::exists(libssl)) GTEST_SKIP() << "no " << libssl;
  EXPECT_TRUE(elf_defines_function(libssl, "SSL_write"));
  EXPECT_TRUE(elf_defines_function(libssl, "SSL_read_ex"));
  EXPECT_FALSE(elf_defines_function(libssl, "no_such_function"));
  // curl imports SSL_write from libssl: not a definition.
  if (std::filesystem::exists("/usr/bin/curl")) EXPECT_FALSE(elf_defines_function("/usr/bin/curl", "SSL_write"));
  EXPECT_FALSE(elf_defines_function("/bin/true", "SSL_write"));
  EXPECT_FALSE(elf_defines_function("/etc/hostname", "SSL_write"));  // not ELF
  EXPECT_FALSE(elf_defines_function("/nonexistent", "SSL_write"));
  EXPECT_EQ(tls_library_label({"/x", "/usr/lib/libssl.so.1.1", TlsCandidate::Kind::kLibssl}), "OpenSSL 1.1");
  EXPECT_EQ(tls_library_label({"/x", "/usr/lib/libssl.so.3", TlsCandidate::Kind::kLibssl}), "OpenSSL 3");
}

TEST_F(TlsProbesTest, PlaintextOfBothEndsReplacesTheirCiphertext) {
  const std::uint16_t port = free_port();
  // Running before the probes load: found by the start-up scan of /proc.
  // Python's ssl module: SSL_read_ex/SSL_write_ex over a socket BIO (`openssl s_server -www` would not
  // do: it reads and writes through BIO_f_ssl, which calls OpenSSL's internals, not the public SSL_*).
  const std::string serve =
      "import http.server, ssl\n"
      "server = http.server.HTTPServer(('127.0.0.1', " + std::to_string(port) + "), http.server.BaseHTTPRequestHandler)\n"
      "context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
      "context.load_cert_chain('" + (dir_ / "cert.pem").string() + "', '" + (dir_ / "key.pem").string() + "')\n"
      "server.socket = context.wrap_socket(server.socket, server_side=True)\n"
      "server.serve_forever()\n";
  Child server({"/usr/bin/python3", "-c", serve});
  ASSERT_GT(server.pid(), 0);
  for (int i = 0; i < 100 && !accepts(port); ++i) std::this_thread::sleep_for(50ms);

  SyscallProbeOptions options;
  options.tls_uprobes = true;
  options.data_hooks = data_hooks_under_test();
  std::vector<CapturedEvent> events;
  auto probes = SyscallProbes::load(options, [&](const otelbpf_event_header& hdr, std::span<const std::uint8_t> p) {
    events.push_back({hdr, std::string(p.begin(), p.end())});
  });
  ASSERT_TRUE(probes->tls_loaded());
  MetricsRegistry metrics;
  TlsProbes tls(*probes, {}, metrics);
  tls.start();
  const auto attached = tls.attached();
  ASSERT_FALSE(attached.empty()) << "the running server's libssl was not found";
  // Entry and return probes of SSL_read, SSL_write and their _ex variants, per file.
  EXPECT_EQ(uprobes_held_by_this_process(), 8 * static_cast<int>(attached.size()));

  // Started after the probes: curl uses the same libssl file, already probed for every process.
  Child client({"curl", "-sk", "-o", "/dev/null", "https://127.0.0.1:" + std::to_string(port) + "/tls-kernel-test"});
  ASSERT_GT(client.pid(), 0);
  const auto client_pid = static_cast<std::uint32_t>(client.pid());
  const auto server_pid = static_cast<std::uint32_t>(server.pid());
  EXPECT_EQ(client.wait(), 0);

  auto find = [&](std::uint32_t pid, std::uint8_t syscall, std::string_view prefix) -> const CapturedEvent* {
    for (const auto& e : events)
      if (e.hdr.pid == pid && e.hdr.syscall == syscall && e.payload.starts_with(prefix)) return &e;
    return nullptr;
  };
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!(find(client_pid, OTELBPF_SYS_SSL_READ, "HTTP/1.0 501") && find(server_pid, OTELBPF_SYS_SSL_READ, "GET /tls")) &&
         std::chrono::steady_clock::now() < deadline)
    ASSERT_GE(probes->poll(50ms), 0);
  tls.stop();
  EXPECT_EQ(uprobes_held_by_this_process(), 0) << "stop() detaches every uprobe";

  const CapturedEvent* request_out = find(client_pid, OTELBPF_SYS_SSL_WRITE, "GET /tls-kernel-test HTTP/1.1\r\n");
  const CapturedEvent* request_in = find(server_pid, OTELBPF_SYS_SSL_READ, "GET /tls-kernel-test HTTP/1.1\r\n");
  const CapturedEvent* response_out = find(server_pid, OTELBPF_SYS_SSL_WRITE, "HTTP/1.0 501");
  const CapturedEvent* response_in = find(client_pid, OTELBPF_SYS_SSL_READ, "HTTP/1.0 501");
  ASSERT_TRUE(request_out && request_in && response_out && response_in)
      << "plaintext events: curl write " << !!request_out << ", server read " << !!request_in
      << ", server write " << !!response_out << ", curl read " << !!response_in;
  for (const CapturedEvent* e : {request_out, request_in, response_out, response_in}) {
    EXPECT_EQ(e->hdr.type, OTELBPF_EV_DATA);
    EXPECT_EQ(e->hdr.flags & OTELBPF_EVF_TLS, OTELBPF_EVF_TLS);
    EXPECT_EQ(e->hdr.sock.protocol, IPPROTO_TCP);
    EXPECT_NE(e->hdr.sock.sock_id, 0u);
    EXPECT_GT(e->hdr.ret, 0);
    EXPECT_LE(e->hdr.ts_enter_ns, e->hdr.ts_exit_ns);
  }
  EXPECT_EQ(request_out->hdr.direction, OTELBPF_DIR_EGRESS);
  EXPECT_EQ(request_in->hdr.direction, OTELBPF_DIR_INGRESS);
  // Tied to the sockets: the client's peer is the server's port, and back.
  EXPECT_EQ(request_out->hdr.sock.dport, port);
  EXPECT_EQ(request_in->hdr.sock.sport, port);
  EXPECT_EQ(request_in->hdr.sock.dport, request_out->hdr.sock.sport);
  EXPECT_EQ(response_in->hdr.sock.sock_id, request_out->hdr.sock.sock_id);
  EXPECT_EQ(response_out->hdr.sock.sock_id, request_in->hdr.sock.sock_id);
  // The TCP sequence numbers of the records: what one end sent first is what the other read first.
  EXPECT_EQ(request_out->hdr.tcp_seq, request_in->hdr.tcp_seq);
  EXPECT_EQ(response_out->hdr.tcp_seq, response_in->hdr.tcp_seq);

  // The socket calls inside SSL_read/SSL_write were not sent: no plain DATA event of either socket lies
  // inside a plaintext event's call.
  for (const CapturedEvent* tls_event : {request_out, request_in, response_out, response_in})
    for (const auto& e : events)
      if (e.hdr.type == OTELBPF_EV_DATA && !(e.hdr.flags & OTELBPF_EVF_TLS) && e.hdr.pid == tls_event->hdr.pid &&
          e.hdr.sock.sock_id == tls_event->hdr.sock.sock_id)
        EXPECT_FALSE(e.hdr.ts_exit_ns >= tls_event->hdr.ts_enter_ns && e.hdr.ts_exit_ns <= tls_event->hdr.ts_exit_ns)
            << "ciphertext event inside an SSL call was sent";
  const KernelCounters counters = probes->counters();
  EXPECT_GE(counters.tls_ciphertext_skipped, 4u);
  EXPECT_GE(counters.tls_events, 4u);
}

}  // namespace
}  // namespace otelbpf
