// The netlink socket still dumps when its descriptor is past FD_SETSIZE (1024), as it is in an agent that
// holds many sockets, files and BPF objects. No privilege is needed: any process may dump its network
// namespace's links, and every namespace has "lo".
//
// The kernel answers the first part of a dump while the request is sent and the next part while the
// previous one is read, so a dump on an idle machine rarely has to wait: the wait itself, where select()
// overflowed, is tested directly in tests/unit/common/fd_wait_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "netcap/interfaces.h"
#include "netcap/netlink.h"

namespace otelbpf::netcap {
namespace {

TEST(NetlinkSocket, DumpsLinksWithADescriptorPastFdSetsize) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const rlim_t wanted = FD_SETSIZE + 256;
  std::optional<rlimit> restore;
  if (limit.rlim_cur < wanted) {
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted)
      GTEST_SKIP() << "hard RLIMIT_NOFILE " << limit.rlim_max << " is below " << wanted;
    rlimit raised = limit;
    raised.rlim_cur = wanted;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0);
    restore = limit;
  }
  std::vector<int> filler;
  while (filler.empty() || filler.back() < FD_SETSIZE) {
    const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    filler.push_back(fd);
  }
  {
    NetlinkSocket nl;
    ASSERT_GE(nl.fd(), FD_SETSIZE);
    const auto links = list_links(nl);
    EXPECT_TRUE(std::any_of(links.begin(), links.end(), [](const LinkInfo& l) { return l.name == "lo"; }));
  }
  for (int fd : filler) close(fd);
  if (restore) setrlimit(RLIMIT_NOFILE, &*restore);
}

}  // namespace
}  // namespace otelbpf::netcap
