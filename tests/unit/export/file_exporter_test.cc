// FileExporter: one OTLP/JSON line per batch that decodes back to the same request, parent directories
// created, rotation by size that keeps the configured number of files, and write failures reported as
// retryable; what was written leaves the page cache behind the writer (drop-behind); blocks allocated
// ahead of the writer go back when the file is closed or rotated.
#include "export/file_exporter.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "export_test_support.h"
#include "model/otlp_json.h"

namespace otelbpf {
namespace {
namespace fs = std::filesystem;
using testing::make_request;
using testing::TempDir;

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

otlp::ExportRequest decode(const std::string& line) {
  otlp::ExportRequest request;
  JsonDecodeError error;
  EXPECT_TRUE(decode_otlp_json(line, request, error)) << error.message << " in " << line;
  return request;
}

TEST(FileExporterTest, WritesOneValidOtlpJsonLinePerBatch) {
  TempDir dir;
  const fs::path path = dir.path() / "nested" / "deeper" / "spans.jsonl";
  FileExporter exporter({.path = path.string()});
  EXPECT_EQ(exporter.name(), "file");
  std::vector<otlp::ExportRequest> sent = {make_request(0, 3), make_request(3, 1, "other"),
                                           make_request(4, 5)};
  for (const auto& request : sent) {
    auto outcome = exporter.send(request);
    EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kOk) << outcome.reason;
    // Flushed per batch: a reader sees the line as soon as send() returns.
    EXPECT_EQ(read_lines(path).size(), static_cast<std::size_t>(&request - sent.data() + 1));
  }
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  for (std::size_t i = 0; i < lines.size(); ++i)
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(decode(lines[i]), sent[i])) << lines[i];
}

TEST(FileExporterTest, AppendsToAFileLeftByAPreviousRun) {
  TempDir dir;
  const fs::path path = dir.path() / "spans.jsonl";
  { FileExporter({.path = path.string()}).send(make_request(0, 1)); }
  FileExporter exporter({.path = path.string()});
  exporter.send(make_request(1, 1));
  EXPECT_EQ(read_lines(path).size(), 2u);
}

TEST(FileExporterTest, RotatesBySizeAndKeepsTheConfiguredFiles) {
  TempDir dir;
  const fs::path path = dir.path() / "spans.jsonl";
  const std::size_t line_bytes = encode_otlp_json(make_request(0, 2)).size() + 1;
  FileExporter exporter(
      {.path = path.string(), .max_bytes = 2 * line_bytes + line_bytes / 2, .keep_files = 2});
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(exporter.send(make_request(i * 2, 2)).kind, ExportOutcome::Kind::kOk);

  // 10 lines, 2 per file: live file and .1 and .2 hold the last six; older ones were deleted.
  EXPECT_TRUE(fs::exists(path.string() + ".1"));
  EXPECT_TRUE(fs::exists(path.string() + ".2"));
  EXPECT_FALSE(fs::exists(path.string() + ".3"));
  std::vector<std::uint64_t> numbers;
  for (const std::string suffix : {".2", ".1", ""}) {
    auto lines = read_lines(path.string() + suffix);
    EXPECT_EQ(lines.size(), 2u) << suffix;
    EXPECT_LE(fs::file_size(path.string() + suffix), 2 * line_bytes + line_bytes / 2);
    for (const auto& line : lines)
      for (auto n : testing::span_numbers(decode(line))) numbers.push_back(n);
  }
  EXPECT_EQ(numbers, testing::range(8, 12));
}

TEST(FileExporterTest, TheOldestFileIsRemovedAndNothingElseIsLeftBehind) {
  // Rotation renames the oldest file aside and removes it on a thread of its own (a large file's removal
  // stalled the writer); by the time the exporter is gone, only the kept files are there.
  TempDir dir;
  const fs::path path = dir.path() / "spans.jsonl";
  const std::size_t line_bytes = encode_otlp_json(make_request(0, 2)).size() + 1;
  {
    FileExporter exporter({.path = path.string(), .max_bytes = line_bytes + line_bytes / 2, .keep_files = 1});
    for (int i = 0; i < 6; ++i)
      ASSERT_EQ(exporter.send(make_request(i * 2, 2)).kind, ExportOutcome::Kind::kOk);
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path())) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"spans.jsonl", "spans.jsonl.1"}));
  EXPECT_EQ(testing::span_numbers(decode(read_lines(path.string() + ".1").at(0))), testing::range(8, 2));
  EXPECT_EQ(testing::span_numbers(decode(read_lines(path).at(0))), testing::range(10, 2));
}

TEST(FileExporterTest, WriteFailuresAreRetryableAndRecover) {
  TempDir dir;
  const fs::path blocker = dir.path() / "not-a-dir";
  std::ofstream(blocker) << "x";
  FileExporter exporter({.path = (blocker / "spans.jsonl").string()});
  auto outcome = exporter.send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable);
  EXPECT_NE(outcome.reason.find("not-a-dir"), std::string::npos) << outcome.reason;

  fs::remove(blocker);  // the operator fixes the disk; the retry goes through
  EXPECT_EQ(exporter.send(make_request(0, 1)).kind, ExportOutcome::Kind::kOk);
  EXPECT_EQ(read_lines(blocker / "spans.jsonl").size(), 1u);
}

// Bytes of the file in the page cache (mincore over a mapping of it).
std::uint64_t cached_bytes(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  const std::size_t size = fs::file_size(path);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  EXPECT_EQ(::mincore(map, size, resident.data()), 0);
  ::munmap(map, size);
  std::uint64_t pages = 0;
  for (unsigned char r : resident) pages += r & 1;
  return pages * page;
}

// A request whose OTLP/JSON line is about `bytes` long (one span with a long attribute).
otlp::ExportRequest request_of_about(std::size_t bytes, std::uint64_t number) {
  auto request = make_request(number, 1);
  auto* attr = request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->add_attributes();
  attr->set_key("payload");
  attr->mutable_value()->set_string_value(std::string(bytes, 'p'));
  return request;
}

TEST(FileExporterTest, WrittenLinesLeaveThePageCacheBehindTheWriter) {
  TempDir dir;
  constexpr std::uint64_t kStep = 4u << 20, kLine = 1u << 20;
  constexpr int kLines = 48;
  const fs::path dropped = dir.path() / "dropped.jsonl", kept = dir.path() / "kept.jsonl";
  {
    FileExporter drops({.path = dropped.string(), .drop_behind_bytes = kStep});
    FileExporter keeps({.path = kept.string(), .drop_behind_bytes = 0});
    for (int i = 0; i < kLines; ++i) {
      const auto request = request_of_about(kLine, static_cast<std::uint64_t>(i));
      ASSERT_EQ(drops.send(request).kind, ExportOutcome::Kind::kOk);
      ASSERT_EQ(keeps.send(request).kind, ExportOutcome::Kind::kOk);
    }
    // What the exporter caches: at most the step being written back and the one being written, plus
    // the line that ended the last step.
    EXPECT_LE(cached_bytes(dropped), 2 * kStep + kLine + 64 * 1024) << "of " << fs::file_size(dropped);
    // Without drop-behind the file stays cached (the machine is not short of memory): what the check
    // above measures is the exporter's doing.
    EXPECT_GE(cached_bytes(kept), fs::file_size(kept) / 2);
  }
  // Nothing of the file was lost on the way: every line reads back.
  const auto lines = read_lines(dropped);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kLines));
  EXPECT_EQ(testing::span_numbers(decode(lines.back())), testing::range(kLines - 1, 1));
  EXPECT_EQ(fs::file_size(dropped), fs::file_size(kept));
}

TEST(FileExporterTest, ARotatedFileLeavesThePageCache) {
  TempDir dir;
  constexpr std::uint64_t kStep = 4u << 20, kLine = 1u << 20;
  const fs::path path = dir.path() / "spans.jsonl";
  {
    FileExporter exporter({.path = path.string(), .max_bytes = 24 * kLine, .drop_behind_bytes = kStep});
    for (int i = 0; i < 30; ++i)
      ASSERT_EQ(exporter.send(request_of_about(kLine, static_cast<std::uint64_t>(i))).kind,
                ExportOutcome::Kind::kOk);
  }
  const fs::path rotated = path.string() + ".1";
  ASSERT_TRUE(fs::exists(rotated));
  EXPECT_GE(fs::file_size(rotated), 20 * kLine);
  EXPECT_EQ(cached_bytes(rotated), 0u) << "of " << fs::file_size(rotated);
}

std::uint64_t allocated_bytes(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

TEST(FileExporterTest, BlocksAllocatedAheadGoBackWhenTheFileIsClosedOrRotated) {
  TempDir dir;
  constexpr std::uint64_t kLine = 1u << 20;
  const fs::path path = dir.path() / "spans.jsonl";
  {
    FileExporter exporter({.path = path.string(), .max_bytes = 12 * kLine, .drop_behind_bytes = 0});
    for (int i = 0; i < 16; ++i)
      ASSERT_EQ(exporter.send(request_of_about(kLine, static_cast<std::uint64_t>(i))).kind,
                ExportOutcome::Kind::kOk);
    // Readers see only what was written, whatever is allocated past it.
    EXPECT_EQ(read_lines(path).size() + read_lines(path.string() + ".1").size(), 16u);
    if (allocated_bytes(path) <= fs::file_size(path) + 64 * 1024)
      GTEST_SKIP() << "this file system allocates no blocks ahead (fallocate refused)";
  }
  for (const fs::path& file : {path, fs::path(path.string() + ".1")}) {
    EXPECT_LE(allocated_bytes(file), fs::file_size(file) + 64 * 1024)
        << file << ": nothing held past its end";
  }
  EXPECT_EQ(read_lines(path).size() + read_lines(path.string() + ".1").size(), 16u);
}

TEST(FileExporterTest, AFileCutShortByAnotherProcessIsNotGrownBackAtClose) {
  // logrotate's copytruncate: the file is copied, then truncated under the writer.
  TempDir dir;
  const fs::path path = dir.path() / "spans.jsonl";
  {
    FileExporter exporter({.path = path.string()});
    ASSERT_EQ(exporter.send(make_request(0, 3)).kind, ExportOutcome::Kind::kOk);
    fs::resize_file(path, 0);
  }
  EXPECT_EQ(fs::file_size(path), 0u);
}

}  // namespace
}  // namespace otelbpf
