#include "netcap/netlink.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/fd_wait.h"

namespace otelbpf::netcap {

NetlinkSocket::NetlinkSocket(std::uint32_t groups) {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd_ < 0) throw std::runtime_error(std::string("netlink socket: ") + std::strerror(errno));
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = groups;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    const int err = errno;
    close(fd_);
    throw std::runtime_error(std::string("netlink bind: ") + std::strerror(err));
  }
  // Link storms (hundreds of veths at node start) must not overflow the notification queue easily.
  int rcvbuf = 4 << 20;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
}

NetlinkSocket::~NetlinkSocket() {
  if (fd_ >= 0) close(fd_);
}

namespace {

// Receives one datagram, waiting up to `timeout_ms` (-1: nonblocking read only).
ssize_t receive(int fd, std::vector<char>& buf, int timeout_ms) {
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), timeout_ms >= 0 ? 0 : MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN && timeout_ms >= 0) {
      const int ready = wait_readable(fd, std::chrono::milliseconds(timeout_ms));
      if (ready == 0) return -ETIMEDOUT;
      if (ready < 0) return ready;
      continue;
    }
    return -errno;
  }
}

}  // namespace

int NetlinkSocket::dump(nlmsghdr& request, const MessageHandler& on_message) {
  request.nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
  request.nlmsg_seq = ++seq_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_, &request, request.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return -errno;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    const ssize_t n = receive(fd_, buf, 2000);
    if (n < 0) return static_cast<int>(n);
    std::size_t len = static_cast<std::size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != request.nlmsg_seq) continue;  // a notification interleaved with the dump
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (err->error == 0) return 0;
        return err->error;
      }
      on_message(*h);
    }
  }
}

int NetlinkSocket::drain(const MessageHandler& on_message) {
  std::vector<char> buf(64 * 1024);
  int count = 0;
  for (;;) {
    const ssize_t n = receive(fd_, buf, -1);
    if (n == -EAGAIN || n == -EWOULDBLOCK) return count;
    if (n < 0) return static_cast<int>(n);
    std::size_t len = static_cast<std::size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) continue;
      on_message(*h);
      ++count;
    }
  }
}

void for_each_attribute(const void* attrs, std::size_t len,
                        const std::function<void(std::uint16_t, const std::uint8_t*, std::size_t)>& on_attr) {
  auto* rta = static_cast<const rtattr*>(attrs);
  unsigned int remaining = static_cast<unsigned int>(len);
  for (; RTA_OK(rta, remaining); rta = RTA_NEXT(rta, remaining))
    on_attr(rta->rta_type & NLA_TYPE_MASK, static_cast<const std::uint8_t*>(RTA_DATA(rta)), RTA_PAYLOAD(rta));
}

}  // namespace otelbpf::netcap
