#pragma once
// A NETLINK_ROUTE socket: dumps (links, addresses, tc filters) and, with multicast groups, the
// notifications the interface watch waits on.
#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <string>

namespace otelbpf::netcap {

class NetlinkSocket {
 public:
  using MessageHandler = std::function<void(const nlmsghdr&)>;

  // `groups`: RTMGRP_* bits to subscribe to (0: requests only). Throws std::runtime_error.
  explicit NetlinkSocket(std::uint32_t groups = 0);
  ~NetlinkSocket();
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  int fd() const { return fd_; }
  // Sends `request` (its nlmsg_seq is set here) with NLM_F_DUMP and hands every answer to `on_message`
  // until NLMSG_DONE. Returns 0 or -errno (the kernel's error answer included).
  int dump(nlmsghdr& request, const MessageHandler& on_message);
  // Reads the notifications queued so far without blocking. Returns how many, or -ENOBUFS when the
  // kernel dropped some (the caller must then resynchronise by dumping).
  int drain(const MessageHandler& on_message);

 private:
  int fd_ = -1;
  std::uint32_t seq_ = 1;
};

// Walks the rtattr list after a fixed header of `header_len` bytes; `on_attr(type, data, len)`.
void for_each_attribute(const void* attrs, std::size_t len,
                        const std::function<void(std::uint16_t, const std::uint8_t*, std::size_t)>& on_attr);

}  // namespace otelbpf::netcap
