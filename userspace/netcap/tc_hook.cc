#include "netcap/tc_hook.h"

#include <bpf/libbpf.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "netcap/netlink.h"
#include "probes/libbpf_logging.h"

namespace otelbpf::netcap {
namespace {

#ifndef TC_H_CLSACT
#define TC_H_CLSACT TC_H_INGRESS
#endif
#ifndef TC_H_MIN_INGRESS
#define TC_H_MIN_INGRESS 0xFFF2U
#define TC_H_MIN_EGRESS 0xFFF3U
#endif

std::string error_text(int err) {
  char buf[128];
  libbpf_strerror(err, buf, sizeof buf);
  return buf;
}

bpf_tc_hook hook_of(std::uint32_t ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = static_cast<int>(ifindex);
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts our_filter(int prog_fd = 0) {
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  opts.prog_fd = prog_fd;
  return opts;
}

int detach(std::uint32_t ifindex, bpf_tc_attach_point point) {
  auto hook = hook_of(ifindex, point);
  auto opts = our_filter();
  QuietLibbpfWarnings quiet;  // ENOENT is the normal answer when there is nothing to remove
  return bpf_tc_detach(&hook, &opts);
}

}  // namespace

std::unique_ptr<TcAttachment> TcAttachment::attach(std::uint32_t ifindex, int ingress_fd, int egress_fd,
                                                   std::string& error) {
  std::unique_ptr<TcAttachment> a(new TcAttachment(ifindex));
  auto qdisc = hook_of(ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int rc;
  {
    QuietLibbpfWarnings quiet;
    rc = bpf_tc_hook_create(&qdisc);
  }
  if (rc == 0) {
    a->created_qdisc_ = true;
  } else if (rc != -EEXIST) {
    error = "creating the clsact qdisc: " + error_text(rc);
    return nullptr;
  }
  auto attach_one = [&](int fd, bpf_tc_attach_point point, bool& done) {
    if (fd < 0) return;
    auto hook = hook_of(ifindex, point);
    auto opts = our_filter(fd);
    opts.flags = BPF_TC_F_REPLACE;  // a leftover of ours with the same identity is simply replaced
    int err;
    {
      QuietLibbpfWarnings quiet;
      err = bpf_tc_attach(&hook, &opts);
    }
    if (err == 0)
      done = true;
    else
      error += std::string(error.empty() ? "" : "; ") + (point == BPF_TC_INGRESS ? "ingress: " : "egress: ") +
               error_text(err);
  };
  attach_one(ingress_fd, BPF_TC_INGRESS, a->ingress_);
  attach_one(egress_fd, BPF_TC_EGRESS, a->egress_);
  if (!a->ingress_ && !a->egress_) return nullptr;  // the destructor removes a qdisc we created
  return a;
}

TcAttachment::~TcAttachment() {
  if (gone_) return;
  // Reverse order of attach: filters, then the qdisc.
  if (egress_) detach(ifindex_, BPF_TC_EGRESS);
  if (ingress_) detach(ifindex_, BPF_TC_INGRESS);
  if (created_qdisc_) remove_clsact_if_empty(ifindex_);
}

int remove_stale_filters(std::uint32_t ifindex) {
  int removed = 0;
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS})
    if (detach(ifindex, point) == 0) ++removed;
  return removed;
}

int count_tc_filters(std::uint32_t ifindex, bool ingress) {
  try {
    NetlinkSocket nl;
    struct {
      nlmsghdr h;
      tcmsg t;
    } req{};
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = RTM_GETTFILTER;
    req.t.tcm_family = AF_UNSPEC;
    req.t.tcm_ifindex = static_cast<int>(ifindex);
    req.t.tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
    int filters = 0;
    int rc = nl.dump(req.h, [&](const nlmsghdr& h) {
      // cls_bpf dumps one message per classifier instance (handle 0) and one per filter.
      if (h.nlmsg_type == RTM_NEWTFILTER && static_cast<const tcmsg*>(NLMSG_DATA(&h))->tcm_handle != 0)
        ++filters;
    });
    return rc < 0 ? rc : filters;
  } catch (const std::exception&) {
    return -EIO;
  }
}

bool remove_clsact_if_empty(std::uint32_t ifindex) {
  if (count_tc_filters(ifindex, true) != 0 || count_tc_filters(ifindex, false) != 0) return false;
  auto qdisc = hook_of(ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  QuietLibbpfWarnings quiet;
  return bpf_tc_hook_destroy(&qdisc) == 0;
}

}  // namespace otelbpf::netcap
