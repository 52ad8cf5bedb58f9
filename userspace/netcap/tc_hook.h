#pragma once
// RAII for our tc clsact filters on one interface. Our filters carry a fixed handle and priority, so a
// new agent recognises (and removes) what a crashed one left behind; the clsact qdisc is removed only
// when we created it and no filter of anyone else hangs on it.
#include <cstdint>
#include <memory>
#include <string>

namespace otelbpf::netcap {

// tc filter identity of every filter we attach (`tc filter show dev X ingress` shows "pref 3707 ...
// handle 0xe7b").
inline constexpr std::uint32_t kTcHandle = 0x0e7b;
inline constexpr std::uint32_t kTcPriority = 0x0e7b;

class TcAttachment {
 public:
  // Creates the clsact qdisc if missing and attaches `ingress_fd` / `egress_fd` (-1: that hook is
  // skipped). Returns nullptr with `error` set when nothing could be attached.
  static std::unique_ptr<TcAttachment> attach(std::uint32_t ifindex, int ingress_fd, int egress_fd,
                                              std::string& error);
  // Detaches our filters, then the qdisc if we created it and it is empty.
  ~TcAttachment();
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;

  // The device is gone (and the kernel took the filters with it): nothing left to release.
  void forget() { gone_ = true; }
  std::uint32_t ifindex() const { return ifindex_; }
  bool created_qdisc() const { return created_qdisc_; }

 private:
  explicit TcAttachment(std::uint32_t ifindex) : ifindex_(ifindex) {}

  std::uint32_t ifindex_;
  bool created_qdisc_ = false;
  bool ingress_ = false;
  bool egress_ = false;
  bool gone_ = false;
};

// Removes filters with our handle/priority left on the interface (a crashed run). Returns how many.
int remove_stale_filters(std::uint32_t ifindex);
// Number of tc filters on the clsact ingress or egress hook of the interface (-errno on failure).
int count_tc_filters(std::uint32_t ifindex, bool ingress);
// Removes the clsact qdisc if no filter is left on it; true when it was removed.
bool remove_clsact_if_empty(std::uint32_t ifindex);

}  // namespace otelbpf::netcap
