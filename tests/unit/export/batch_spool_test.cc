// BatchSpool on its own: durability as the kernel sees it (fsync of the file before the rename, of the
// directory after it), corrupt files reported with the spans they held, and replay that neither trusts a
// header's length nor holds a file twice in memory.
#include "export/batch_spool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "export_test_support.h"

namespace otelbpf {
namespace {
using testing::make_request;
using testing::span_numbers;
using testing::TempDir;
namespace fs = std::filesystem;

constexpr const char* kChildDirEnv = "OTELBPF_SPOOL_TEST_CHILD_DIR";

fs::path only_batch_file(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& item : fs::directory_iterator(dir)) files.push_back(item.path());
  EXPECT_EQ(files.size(), 1u);
  return files.empty() ? fs::path() : files.front();
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
}

TEST(BatchSpoolTest, ABatchReadsBackWhole) {
  TempDir dir;
  BatchSpool spool(dir.path(), 1 << 20);
  std::string error;
  ASSERT_EQ(spool.push(make_request(10, 5), 5, error), BatchSpool::PushResult::kStored) << error;
  BatchSpool::Corruption corrupt;
  auto entry = spool.front(corrupt);
  ASSERT_TRUE(entry.has_value()) << corrupt.reason;
  EXPECT_EQ(entry->spans, 5u);
  EXPECT_EQ(span_numbers(entry->request), (std::vector<std::uint64_t>{10, 11, 12, 13, 14}));
}

// A file whose payload was damaged on disk: discarded, and its five spans are reported (the drop counters
// count spans, not files).
TEST(BatchSpoolTest, ACorruptFileIsReportedWithTheSpansItHeld) {
  TempDir dir;
  {
    BatchSpool spool(dir.path(), 1 << 20);
    std::string error;
    ASSERT_EQ(spool.push(make_request(0, 5), 5, error), BatchSpool::PushResult::kStored) << error;
  }
  flip_byte(only_batch_file(dir.path()), BatchSpool::kHeaderBytes + 20);
  BatchSpool spool(dir.path(), 1 << 20);
  BatchSpool::Corruption corrupt;
  EXPECT_FALSE(spool.front(corrupt).has_value());
  EXPECT_NE(corrupt.reason.find("checksum mismatch"), std::string::npos) << corrupt.reason;
  EXPECT_EQ(corrupt.spans, 5u);
  EXPECT_TRUE(spool.empty());
}

// The span count sits outside the CRC: a whole batch counts its own spans, and a corrupt header's count is
// believed only if its payload could hold that many spans.
TEST(BatchSpoolTest, AnIncredibleSpanCountIsNotBelieved) {
  TempDir dir;
  {
    BatchSpool spool(dir.path(), 1 << 20);
    std::string error;
    ASSERT_EQ(spool.push(make_request(0, 2), 2, error), BatchSpool::PushResult::kStored) << error;
    ASSERT_EQ(spool.push(make_request(2, 2), 2, error), BatchSpool::PushResult::kStored) << error;
  }
  std::vector<fs::path> files;
  for (const auto& item : fs::directory_iterator(dir.path())) files.push_back(item.path());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 2u);
  flip_byte(files[0], 11);  // the span count's high byte: payload intact
  flip_byte(files[1], 11);
  flip_byte(files[1], BatchSpool::kHeaderBytes + 20);  // and the payload damaged
  BatchSpool spool(dir.path(), 1 << 20);
  BatchSpool::Corruption corrupt;
  auto entry = spool.front(corrupt);
  ASSERT_TRUE(entry.has_value()) << corrupt.reason;
  EXPECT_EQ(entry->spans, 2u);
  spool.pop(entry->sequence);
  EXPECT_FALSE(spool.front(corrupt).has_value());
  EXPECT_NE(corrupt.reason.find("checksum mismatch"), std::string::npos) << corrupt.reason;
  EXPECT_EQ(corrupt.spans, 0u);
}

// A file whose header claims (and whose size matches) more than the spool could ever hold is rejected from
// its header: a sparse 4 GiB file is never read into memory.
TEST(BatchSpoolTest, AFileLargerThanTheBoundIsRejectedFromItsHeader) {
  TempDir dir;
  const std::uint32_t length = 0xfffffff0u;
  {
    std::ofstream out(dir.path() / "00000000000000000001.batch", std::ios::binary);
    const char header[16] = {'O', 'B', 'S', 'P', '\xf0', '\xff', '\xff', '\xff', 3, 0, 0, 0, 0, 0, 0, 0};
    out.write(header, sizeof header);
  }
  fs::resize_file(dir.path() / "00000000000000000001.batch", BatchSpool::kHeaderBytes + length);
  BatchSpool spool(dir.path(), 64 << 20);
  BatchSpool::Corruption corrupt;
  EXPECT_FALSE(spool.front(corrupt).has_value());
  EXPECT_NE(corrupt.reason.find("larger than the spool's bound"), std::string::npos) << corrupt.reason;
  EXPECT_EQ(corrupt.spans, 3u);
  EXPECT_TRUE(spool.empty());
}

TEST(BatchSpoolTest, ATruncatedFileIsDiscarded) {
  TempDir dir;
  {
    BatchSpool spool(dir.path(), 1 << 20);
    std::string error;
    ASSERT_EQ(spool.push(make_request(0, 4), 4, error), BatchSpool::PushResult::kStored) << error;
  }
  const fs::path file = only_batch_file(dir.path());
  fs::resize_file(file, fs::file_size(file) - 7);
  BatchSpool spool(dir.path(), 1 << 20);
  BatchSpool::Corruption corrupt;
  EXPECT_FALSE(spool.front(corrupt).has_value());
  EXPECT_NE(corrupt.reason.find("truncated"), std::string::npos) << corrupt.reason;
  EXPECT_EQ(corrupt.spans, 4u);
}

// The order of the syscalls that make a stored batch durable, as strace sees them: the temporary file is
// fsynced before it is renamed, and the directory is fsynced after the rename. The test runs itself again
// under strace (the child only pushes one batch).
TEST(BatchSpoolTest, FileAndDirectoryAreFsyncedAroundTheRename) {
  if (const char* child_dir = std::getenv(kChildDirEnv)) {
    BatchSpool spool(child_dir, 1 << 20);
    std::string error;
    ASSERT_EQ(spool.push(make_request(0, 3), 3, error), BatchSpool::PushResult::kStored) << error;
    return;
  }
  if (::access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "strace is not installed (scripts/install-deps)";
  TempDir dir;
  const fs::path log = dir.path() / "strace.log";
  const fs::path spool_dir = dir.path() / "spool";
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string command =
      "env " + std::string(kChildDirEnv) + "=" + spool_dir.string() +
      " /usr/bin/strace -f -qq -e trace=openat,fsync,fdatasync,rename,renameat,renameat2 -o " + log.string() +
      " " + self + " --gtest_filter=BatchSpoolTest.FileAndDirectoryAreFsyncedAroundTheRename > /dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const std::regex open_tmp(R"(openat\(.*\.batch\.tmp", O_WRONLY.* = (\d+)$)");
  const std::regex open_dir(R"(openat\(.*")" + spool_dir.string() + R"(", O_RDONLY[^)]*O_DIRECTORY.* = (\d+)$)");
  const std::regex rename_tmp(R"(rename(at2?)?\(.*\.batch\.tmp".*\.batch".* = 0$)");
  long tmp_fd = -1, dir_fd = -1, file_fsync = -1, renamed = -1, dir_fsync = -1;
  for (long i = 0; i < static_cast<long>(lines.size()); ++i) {
    const std::string& line = lines[static_cast<std::size_t>(i)];
    std::smatch m;
    if (std::regex_search(line, m, open_tmp)) tmp_fd = std::stol(m[1]);
    if (renamed < 0 && std::regex_search(line, rename_tmp)) renamed = i;
    if (renamed >= 0 && std::regex_search(line, m, open_dir)) dir_fd = std::stol(m[1]);
    if (tmp_fd >= 0 && renamed < 0 && line.find("fsync(" + std::to_string(tmp_fd) + ")") != std::string::npos)
      file_fsync = i;
    if (dir_fd >= 0 && line.find("fsync(" + std::to_string(dir_fd) + ")") != std::string::npos) dir_fsync = i;
  }
  std::ostringstream all;
  for (const auto& line : lines) all << line << '\n';
  EXPECT_GE(tmp_fd, 0) << all.str();
  EXPECT_GE(renamed, 0) << all.str();
  EXPECT_GE(file_fsync, 0) << "the batch file is not fsynced before its rename\n" << all.str();
  EXPECT_GT(dir_fsync, renamed) << "the spool directory is not fsynced after the rename\n" << all.str();
}

}  // namespace
}  // namespace otelbpf
