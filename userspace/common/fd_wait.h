#pragma once
// Waiting for one descriptor to become readable, with poll(): select()'s FD_SET writes past its fd_set for a
// descriptor >= FD_SETSIZE (1024), and the agent may hold that many (receiver connections, BPF maps and
// links, spool files; the systemd unit allows 65536, container runtimes often more).
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace otelbpf {

// Returns 1 once `fd` is readable (hang-up and error count: the read then reports them), 0 when `timeout`
// passed first, or -errno (-EBADF for a descriptor that is not open). A signal does not shorten the wait.
inline int wait_readable(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd watched{fd, POLLIN, 0};
    const int ready =
        ::poll(&watched, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0)));
    if (ready > 0) return (watched.revents & POLLNVAL) ? -EBADF : 1;
    if (ready == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace otelbpf
