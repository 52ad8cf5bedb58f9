#include "k8s/cgroup.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <chrono>
#include <thread>

#include <filesystem>
#include <fstream>

namespace otelbpf::k8s {
namespace {

const std::string kId = "4f1e9a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
const std::string kUid = "2b5a0a6e-1f0c-4c8e-9d3e-7a6b5c4d3e2f";
const std::string kUidUnderscores = "2b5a0a6e_1f0c_4c8e_9d3e_7a6b5c4d3e2f";

TEST(CgroupPath, CgroupfsDriverContainerdOrDocker) {
  auto id = parse_cgroup_path("/kubepods/burstable/pod" + kUid + "/" + kId);
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
  // containerd and dockershim both write the bare id here; the pod status tells which.
  EXPECT_EQ(id.runtime, ContainerRuntime::kUnknown);
}

TEST(CgroupPath, CgroupfsGuaranteedPodHasNoQosLevel) {
  auto id = parse_cgroup_path("/kubepods/pod" + kUid + "/" + kId);
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
}

TEST(CgroupPath, SystemdDriverContainerd) {
  auto id = parse_cgroup_path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                              kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, ContainerRuntime::kContainerd);
}

TEST(CgroupPath, SystemdDriverDocker) {
  auto id = parse_cgroup_path("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                              kUidUnderscores + ".slice/docker-" + kId + ".scope");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, ContainerRuntime::kDocker);
}

TEST(CgroupPath, SystemdDriverCrio) {
  auto id =
      parse_cgroup_path("/kubepods.slice/kubepods-pod" + kUidUnderscores + ".slice/crio-" + kId + ".scope");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, ContainerRuntime::kCrio);
}

TEST(CgroupPath, CgroupfsDriverCrio) {
  auto id = parse_cgroup_path("/kubepods/besteffort/pod" + kUid + "/crio-" + kId);
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, ContainerRuntime::kCrio);
}

TEST(CgroupPath, CrioConmonIsNotTheContainer) {
  auto id = parse_cgroup_path("/kubepods.slice/kubepods-pod" + kUidUnderscores + ".slice/crio-conmon-" + kId +
                              ".scope");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_FALSE(id.in_container());
}

TEST(CgroupPath, PlainDocker) {
  auto id = parse_cgroup_path("/docker/" + kId);
  EXPECT_EQ(id.pod_uid, "");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, ContainerRuntime::kDocker);
  id = parse_cgroup_path("/system.slice/docker-" + kId + ".scope");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, ContainerRuntime::kDocker);
}

TEST(CgroupPath, HostProcesses) {
  for (const char* path :
       {"/", "/init.scope", "/system.slice/sshd.service", "/user.slice/user-1000.slice/session-3.scope",
        "/system.slice/containerd.service", "/kubepods.slice", "/kubepods/burstable"}) {
    auto id = parse_cgroup_path(path);
    EXPECT_FALSE(id.in_container()) << path;
    EXPECT_EQ(id.pod_uid, "") << path;
    EXPECT_EQ(id.runtime, ContainerRuntime::kNone) << path;
  }
}

TEST(CgroupPath, NestedKindNodeTakesTheInnermostContainer) {
  const std::string node = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  auto id = parse_cgroup_path("/docker/" + node + "/kubepods/burstable/pod" + kUid + "/" + kId);
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
}

TEST(CgroupPath, CgroupNamespaceRelativePath) {
  // A reader in its own cgroup namespace sees paths relative to its own cgroup.
  auto id = parse_cgroup_path("/../../kubepods-besteffort-pod" + kUidUnderscores + ".slice/cri-containerd-" +
                              kId + ".scope");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
}

TEST(CgroupPath, StaticPodUidIsAHash) {
  auto id = parse_cgroup_path("/kubepods/burstable/pod6ea3c7d2c8e5d5b1b5e5e8c4b0b0a0a0/" + kId);
  EXPECT_EQ(id.pod_uid, "6ea3c7d2c8e5d5b1b5e5e8c4b0b0a0a0");
}

TEST(CgroupPath, RejectsLookalikes) {
  EXPECT_FALSE(parse_cgroup_path("/docker/" + kId.substr(0, 63)).in_container());
  EXPECT_FALSE(parse_cgroup_path("/docker/" + kId + "0").in_container());
  EXPECT_FALSE(parse_cgroup_path("/system.slice/docker-" + std::string(64, 'z') + ".scope").in_container());
  EXPECT_EQ(parse_cgroup_path("/kubepods/burstable/podnotauid").pod_uid, "");
}

TEST(ProcCgroup, Version2SingleLine) {
  auto id = parse_proc_cgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                              kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope\n");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
}

TEST(ProcCgroup, Version1PicksTheLineThatNamesTheContainer) {
  const std::string text =
      "12:hugetlb:/\n"
      "11:perf_event:/\n"
      "10:cpuset:/\n"
      "9:memory:/kubepods/burstable/pod" +
      kUid + "/" + kId +
      "\n"
      "8:cpu,cpuacct:/kubepods/burstable/pod" +
      kUid + "/" + kId +
      "\n"
      "1:name=systemd:/kubepods/burstable/pod" +
      kUid + "/" + kId +
      "\n"
      "0::/\n";
  auto id = parse_proc_cgroup(text);
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.container_id, kId);
}

TEST(ProcCgroup, HostProcessAndGarbage) {
  EXPECT_FALSE(parse_proc_cgroup("0::/system.slice/sshd.service\n").in_container());
  EXPECT_FALSE(parse_proc_cgroup("").in_container());
  EXPECT_FALSE(parse_proc_cgroup("garbage without colons\n").in_container());
}

class FixtureProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("otelbpf-proc-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void write_process(std::uint32_t pid, std::uint64_t start_time, const std::string& cgroup) {
    const auto dir = root_ / std::to_string(pid);
    std::filesystem::create_directories(dir);
    // The command name has spaces and a ')' to prove fields are counted after the last ')'.
    std::ofstream(dir / "stat")
        << pid << " (my (odd) cmd) S 1 " << pid << " 0 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " << start_time
        << " 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
    std::ofstream(dir / "cgroup") << cgroup;
  }
  std::filesystem::path root_;
};

TEST_F(FixtureProc, ReadsAndCaches) {
  write_process(100, 5000, "0::/kubepods/burstable/pod" + kUid + "/" + kId + "\n");
  write_process(200, 6000, "0::/system.slice/sshd.service\n");
  ProcessCgroups cgroups(root_.string());
  auto a = cgroups.lookup(100);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->container_id, kId);
  auto b = cgroups.lookup(200);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->in_container());
  EXPECT_FALSE(cgroups.lookup(300));
  EXPECT_EQ(cgroups.size(), 2u);
}

TEST_F(FixtureProc, RecycledPidIsReadAgain) {
  write_process(100, 5000, "0::/kubepods/burstable/pod" + kUid + "/" + kId + "\n");
  ProcessCgroups cgroups(root_.string(), 16384, "", std::chrono::milliseconds(0));  // rechecked every time
  ASSERT_EQ(cgroups.lookup(100)->container_id, kId);
  // Same start time: the cache answers even if the file changed under it.
  write_process(100, 5000, "0::/system.slice/sshd.service\n");
  EXPECT_EQ(cgroups.lookup(100)->container_id, kId);
  // A new process with the same pid: the old owner's identity must not leak to it.
  write_process(100, 9000, "0::/system.slice/sshd.service\n");
  EXPECT_FALSE(cgroups.lookup(100)->in_container());
}

TEST_F(FixtureProc, RecycledPidIsReadAgainOnceTheRecheckIsDue) {
  write_process(100, 5000, "0::/kubepods/burstable/pod" + kUid + "/" + kId + "\n");
  ProcessCgroups cgroups(root_.string(), 16384, "", std::chrono::milliseconds(200));
  ASSERT_EQ(cgroups.lookup(100)->container_id, kId);
  // Within the recheck interval the cache answers without reading /proc (the cost this saves).
  write_process(100, 9000, "0::/system.slice/sshd.service\n");
  EXPECT_EQ(cgroups.lookup(100)->container_id, kId);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_FALSE(cgroups.lookup(100)->in_container());
}

TEST_F(FixtureProc, ExitedProcessKeepsItsLastIdentity) {
  write_process(100, 5000, "0::/docker/" + kId + "\n");
  ProcessCgroups cgroups(root_.string());
  ASSERT_TRUE(cgroups.lookup(100)->in_container());
  std::filesystem::remove_all(root_ / "100");
  auto late = cgroups.lookup(100);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->container_id, kId);
  EXPECT_EQ(late->runtime, ContainerRuntime::kDocker);
}

TEST_F(FixtureProc, BoundedLeastRecentlyUsed) {
  for (std::uint32_t pid = 1; pid <= 5; ++pid) write_process(pid, pid * 10, "0::/docker/" + kId + "\n");
  ProcessCgroups cgroups(root_.string(), 3);
  for (std::uint32_t pid = 1; pid <= 3; ++pid) ASSERT_TRUE(cgroups.lookup(pid));
  cgroups.lookup(1);  // 2 is now the least recently used
  cgroups.lookup(4);
  EXPECT_EQ(cgroups.size(), 3u);
  // Gone from /proc: 1 is still cached, 2 was evicted.
  std::filesystem::remove_all(root_ / "1");
  std::filesystem::remove_all(root_ / "2");
  EXPECT_TRUE(cgroups.lookup(1));
  EXPECT_FALSE(cgroups.lookup(2));
}

TEST(Cgroup2Mount, FoundInMountinfo) {
  const std::string mountinfo =
      "25 1 0:23 / /sys rw,nosuid - sysfs sysfs rw\n"
      "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n"
      "36 25 0:31 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n";
  EXPECT_EQ(find_cgroup2_mount(mountinfo), "/sys/fs/cgroup/unified");
  EXPECT_EQ(find_cgroup2_mount("30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"), "");
  EXPECT_EQ(find_cgroup2_mount("garbage\n - \n"), "");
}

TEST_F(FixtureProc, ACgroupIdFindsThePodAfterItsProcessHasExited) {
  // A cgroup v2 tree as the kubelet's systemd driver lays it out; the id the probes record is the
  // directory's inode. The process (curl) is gone from /proc before anyone asked.
  const auto tree = root_ / "cgroup2";
  const auto container = tree / "kubepods.slice" / "kubepods-burstable.slice" /
                         ("kubepods-burstable-pod" + kUidUnderscores + ".slice") /
                         ("cri-containerd-" + kId + ".scope");
  std::filesystem::create_directories(container);
  std::filesystem::create_directories(tree / "system.slice" / "sshd.service");
  struct stat st {};
  ASSERT_EQ(::stat(container.c_str(), &st), 0);
  const std::uint64_t container_cgroup = st.st_ino;
  ASSERT_EQ(::stat((tree / "system.slice" / "sshd.service").c_str(), &st), 0);
  const std::uint64_t host_cgroup = st.st_ino;

  ProcessCgroups cgroups((root_ / "proc").string(), 16, tree.string());
  auto identity = cgroups.lookup_cgroup_id(container_cgroup);
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->container_id, kId);
  EXPECT_EQ(identity->pod_uid, kUid);
  EXPECT_EQ(identity->runtime, ContainerRuntime::kContainerd);
  // A host service is answered from the same walk, with no pod.
  auto host = cgroups.lookup_cgroup_id(host_cgroup);
  ASSERT_TRUE(host);
  EXPECT_FALSE(host->in_container());
  EXPECT_TRUE(host->pod_uid.empty());
  // An id no directory has: no answer, and no second walk within the second.
  EXPECT_FALSE(cgroups.lookup_cgroup_id(container_cgroup + 1'000'000));
  EXPECT_FALSE(cgroups.lookup_cgroup_id(0));
}

TEST(ProcessCgroupsReal, OwnCgroupIdIsFoundWhenCgroup2IsMounted) {
  ProcessCgroups cgroups;
  if (cgroups.cgroup2_root().empty()) GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
  // This process's v2 cgroup, by the directory /proc/self/cgroup names under the mount.
  std::string line, path;
  std::ifstream self("/proc/self/cgroup");
  while (std::getline(self, line))
    if (line.starts_with("0::")) path = line.substr(3);
  ASSERT_FALSE(path.empty());
  struct stat st {};
  ASSERT_EQ(::stat((cgroups.cgroup2_root() + path).c_str(), &st), 0);
  EXPECT_TRUE(cgroups.lookup_cgroup_id(st.st_ino));
}

TEST(ProcessCgroupsReal, OwnProcessIsReadable) {
  ProcessCgroups cgroups;
  EXPECT_TRUE(cgroups.lookup(static_cast<std::uint32_t>(getpid())));
}

}  // namespace
}  // namespace otelbpf::k8s
