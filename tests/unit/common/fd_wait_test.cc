// Waiting on a descriptor numbered past FD_SETSIZE (1024), as the agent's netlink sockets get once many
// files, sockets and BPF objects are open: select() with FD_SET writes past its fd_set there (glibc's
// fortified build aborts with "buffer overflow detected"), poll() has no such limit.
#include "common/fd_wait.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace otelbpf {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) close(fd_);
  }
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens descriptors until the next one the process gets is past FD_SETSIZE, raising the soft
// RLIMIT_NOFILE (up to the hard limit, no privilege needed) where the default 1024 would stop it.
class ManyOpenFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    rlimit limit{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
    const rlim_t wanted = FD_SETSIZE + 256;
    if (limit.rlim_cur < wanted) {
      if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted)
        GTEST_SKIP() << "hard RLIMIT_NOFILE " << limit.rlim_max << " is below " << wanted;
      rlimit raised = limit;
      raised.rlim_cur = wanted;
      ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0);
      restore_ = limit;
    }
    for (;;) {
      OwnedFd fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
      ASSERT_GE(fd.get(), 0);
      const bool past_fd_setsize = fd.get() >= FD_SETSIZE;
      filler_.push_back(std::move(fd));
      if (past_fd_setsize) break;
    }
    int ends[2];
    ASSERT_EQ(pipe2(ends, O_CLOEXEC | O_NONBLOCK), 0);
    read_end_ = std::make_unique<OwnedFd>(ends[0]);
    write_end_ = std::make_unique<OwnedFd>(ends[1]);
    ASSERT_GE(read_end_->get(), FD_SETSIZE);
  }

  void TearDown() override {
    read_end_.reset();
    write_end_.reset();
    filler_.clear();
    if (restore_) setrlimit(RLIMIT_NOFILE, &*restore_);
  }

  std::vector<OwnedFd> filler_;
  std::unique_ptr<OwnedFd> read_end_;
  std::unique_ptr<OwnedFd> write_end_;
  std::optional<rlimit> restore_;
};

TEST_F(ManyOpenFiles, TimesOutOnADescriptorPastFdSetsize) {
  const auto start = Clock::now();
  EXPECT_EQ(wait_readable(read_end_->get(), 50ms), 0);
  EXPECT_GE(Clock::now() - start, 45ms);
}

TEST_F(ManyOpenFiles, SeesDataOnADescriptorPastFdSetsize) {
  ASSERT_EQ(write(write_end_->get(), "x", 1), 1);
  const auto start = Clock::now();
  EXPECT_EQ(wait_readable(read_end_->get(), 5s), 1);
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST_F(ManyOpenFiles, HangUpCountsAsReadable) {
  write_end_.reset();
  EXPECT_EQ(wait_readable(read_end_->get(), 5s), 1);
  char byte;
  EXPECT_EQ(read(read_end_->get(), &byte, 1), 0);  // the read reports the end
}

TEST(WaitReadable, ADescriptorThatIsNotOpenIsAnError) {
  int ends[2];
  ASSERT_EQ(pipe(ends), 0);
  close(ends[0]);
  close(ends[1]);
  EXPECT_EQ(wait_readable(ends[0], 10ms), -EBADF);
}

}  // namespace
}  // namespace otelbpf
