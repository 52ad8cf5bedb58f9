// /proc files of processes that exit while the agent reads them: no exception, just no answer.
#include "common/proc_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

namespace otelbpf {
namespace {

TEST(ProcFile, ReadsLiveProcessesAndSaysNothingForGoneOnes) {
  const auto self = read_proc_file("/proc/self/status");
  ASSERT_TRUE(self);
  EXPECT_NE(self->find("NSpid:"), std::string::npos);
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  // Opened while the child lives, read after it is gone: the kernel answers ESRCH. libstdc++'s filebuf
  // throws for that from inside istreambuf_iterator, which is how an exited curl terminated the agent.
  const std::string path = "/proc/" + std::to_string(child) + "/cgroup";
  std::ifstream stream(path);
  ASSERT_TRUE(stream.is_open());
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_ANY_THROW(std::string((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>()));
  EXPECT_FALSE(read_proc_file(path).has_value());
  EXPECT_FALSE(read_proc_file("/proc/no-such-pid/stat").has_value());
}

}  // namespace
}  // namespace otelbpf
