#include "export/file_exporter.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "common/thread_name.h"
#include "model/otlp_json.h"

namespace otelbpf {
namespace fs = std::filesystem;

namespace {
// fadvise drops whole pages only: a range that starts inside a page starts at its page, or the page
// shared with the range before (which is written back by then too) would stay cached.
std::uint64_t page_floor(std::uint64_t offset) {
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return offset - offset % page;
}

// Waits for the write-back of `length` bytes of `fd` from `from` (0: to the end) and drops them from the
// page cache (`from` at a page, or its page stays). Errors cost only cache: the data is in the file
// whatever write-back and fadvise say.
void drop_written(int fd, std::uint64_t from, std::uint64_t length) {
  const auto offset = static_cast<off64_t>(from), bytes = static_cast<off64_t>(length);
  ::sync_file_range(fd, offset, bytes,
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  ::posix_fadvise(fd, offset, bytes, POSIX_FADV_DONTNEED);
}
}  // namespace

FileExporter::FileExporter(FileExporterOptions options, std::string name)
    : options_(std::move(options)), name_(std::move(name)) {}

FileExporter::~FileExporter() {
  close_file();
  if (rotation_tail_.joinable()) rotation_tail_.join();
}

// Closed for good (or after a failed write): what is cached stays for the kernel to reclaim, as a file
// of any other writer's would; only a rotated file, which this exporter goes on replacing, is dropped.
void FileExporter::close_file() {
  WrittenFile file = take_file();
  file.drop_behind = false;
  close_written(file);
}

FileExporter::WrittenFile FileExporter::take_file() {
  WrittenFile file{std::exchange(fd_, -1), size_, allocated_to_, cached_from_,
                   options_.drop_behind_bytes > 0};
  allocated_to_ = 0;
  return file;
}

void FileExporter::close_written(const WrittenFile& file) {
  if (file.fd < 0) return;
  // The file is done with: what drop-behind still holds of it leaves the page cache too.
  if (file.drop_behind) drop_written(file.fd, file.cached_from, 0);
  // Blocks allocated ahead past the end go back: a truncate to the size the file has frees them. Only
  // when the file has the size this exporter wrote: one cut short by someone else (logrotate's
  // copytruncate) must not grow back, zero-filled, to it.
  struct stat st {};
  if (file.allocated_to > file.size && ::fstat(file.fd, &st) == 0 &&
      static_cast<std::uint64_t>(st.st_size) == file.size)
    (void)::ftruncate(file.fd, st.st_size);
  ::close(file.fd);
}

bool FileExporter::open_file(std::string& error) {
  if (fd_ >= 0) return true;
  std::error_code ec;
  fs::path parent = fs::path(options_.path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) {
      error = "cannot create " + parent.string() + ": " + ec.message();
      return false;
    }
  }
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error = "cannot open " + options_.path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  size_ = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  cached_from_ = page_floor(size_);
  writing_back_from_ = size_;
  return true;
}

// Rotation waits for nothing on the exporter's thread: the rotated file's write-back, its blocks
// allocated ahead and the removal of the oldest file are finished by a thread of their own. Removing a
// 256 MiB file took ~50 ms here (ext4 with discard), and the rotated file's last write-back as long: at
// full speed the file rotates every ~0.8 s, and each stall filled the exporter's queue, so the probes'
// spans were dropped. The oldest file is renamed out of the way first: a rename over it would unlink it
// there and then.
bool FileExporter::rotate(std::string& error) {
  if (rotation_tail_.joinable()) rotation_tail_.join();  // the last rotation's: long done by now
  WrittenFile rotated = take_file();
  std::error_code ec;
  const std::string& base = options_.path;
  std::string removing;
  if (options_.keep_files == 0) {
    close_written(rotated);  // the live file is truncated in place: nothing is left to do later
    rotated = {};
    fs::resize_file(base, 0, ec);
  } else {
    const std::string oldest = base + "." + std::to_string(options_.keep_files);
    if (fs::exists(oldest, ec)) {
      removing = base + ".removing";
      fs::rename(oldest, removing, ec);
      if (ec) {
        removing.clear();
        ec.clear();
        fs::remove(oldest, ec);
      }
    }
    for (std::uint32_t i = options_.keep_files; i > 1; --i) {
      fs::path from = base + "." + std::to_string(i - 1);
      if (fs::exists(from, ec)) fs::rename(from, base + "." + std::to_string(i), ec);
    }
    fs::rename(base, base + ".1", ec);
  }
  if (rotated.fd >= 0 || !removing.empty()) {
    rotation_tail_ = std::jthread([rotated, removing] {
      name_this_thread("otb-x-rotate");
      close_written(rotated);
      std::error_code ignored;
      if (!removing.empty()) fs::remove(removing, ignored);
    });
  }
  if (ec) {
    error = "cannot rotate " + base + ": " + ec.message();
    return false;
  }
  return open_file(error);
}

ExportOutcome FileExporter::send(const otlp::ExportRequest& request) {
  const otlp::ExportRequest* one[] = {&request};
  return send_parts(one);
}

// The line buffer is kept from send to send, but not at the size of an exceptionally large request.
void FileExporter::trim_line_buffer() {
  constexpr std::size_t kKeepLineCapacity = 16u << 20;
  line_.release_if_over(kKeepLineCapacity);
}

ExportOutcome FileExporter::send_parts(std::span<const otlp::ExportRequest* const> parts) {
  trim_line_buffer();
  encode_otlp_json_into(parts, line_);
  return write_line();
}

ExportOutcome FileExporter::send_batches(std::span<const SpanBatch* const> batches) {
  // Compact sys spans are written from their fields: no OTLP object is made for them.
  trim_line_buffer();
  encode_otlp_json_into(batches, line_);
  return write_line();
}

ExportOutcome FileExporter::write_line() {
  line_.push_back('\n');
  const std::string_view line = line_.view();
  std::string error;
  if (!open_file(error)) return ExportOutcome::retryable(error);
  if (options_.max_bytes > 0 && size_ > 0 && size_ + line.size() > options_.max_bytes && !rotate(error))
    return ExportOutcome::retryable(error);

  preallocate(line.size());
  const std::uint64_t before = size_;
  std::size_t written = 0;
  while (written < line.size()) {
    ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "cannot write " + options_.path + ": " + std::strerror(n < 0 ? errno : EIO);
      // Cut back the partial line so the retry appends a clean one.
      if (written > 0 && ::ftruncate(fd_, static_cast<off_t>(before)) != 0)
        spdlog::warn("file exporter {}: cannot cut back a partial line in {}: {}", name_, options_.path,
                     std::strerror(errno));
      close_file();
      return ExportOutcome::retryable(error);
    }
    written += static_cast<std::size_t>(n);
  }
  size_ += line.size();
  drop_behind();
  return ExportOutcome::ok();
}

// The file is written once and read, if at all, by a reader that follows it (or by the next rotation's
// rename): keeping what was written in the page cache helps nobody. Left to the kernel, a DaemonSet that
// exports ~60 MB/s grows the node's page cache by gigabytes, charged to the agent's memory cgroup, before
// reclaim starts; and where guest memory is backed on first touch (a Firecracker VM), every fresh page
// cost the exporter ~7 µs: 35 % of the agent's CPU at 20k traced requests/s on a fresh machine, against
// 3 % once pages are recycled (docs/memory-budget.md). So, per step of drop_behind_bytes: the step's
// write-back starts at once (asynchronous), and the step before it, whose write-back started a step ago,
// is waited for (normally done by then) and dropped. The cached tail stays under two steps.
void FileExporter::drop_behind() {
  const std::uint64_t step = options_.drop_behind_bytes;
  if (step == 0 || size_ - writing_back_from_ < step) return;
  if (writing_back_from_ > cached_from_) {
    drop_written(fd_, cached_from_, writing_back_from_ - cached_from_);
    cached_from_ = page_floor(writing_back_from_);
  }
  ::sync_file_range(fd_, static_cast<off64_t>(writing_back_from_),
                    static_cast<off64_t>(size_ - writing_back_from_), SYNC_FILE_RANGE_WRITE);
  writing_back_from_ = size_;
}

// Appending to a file whose blocks are not allocated makes ext4 reserve delayed-allocation blocks per page
// as they are written and allocate them when write-back runs, which drop-behind starts in this thread.
// Blocks allocated ahead in steps (past the end, the size unchanged for readers) take both off the path:
// ~7 % of the exporter's thread under tracing load (docs/memory-budget.md). Where the file system cannot,
// nothing changes but the first try.
void FileExporter::preallocate(std::uint64_t bytes) {
  constexpr std::uint64_t kStep = 32u << 20;
  if (!preallocate_ || size_ + bytes <= allocated_to_) return;
  const std::uint64_t from = std::max(size_, allocated_to_);
  const std::uint64_t to = size_ + bytes + kStep;
  if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from), static_cast<off_t>(to - from)) != 0) {
    preallocate_ = false;
    return;
  }
  allocated_to_ = to;
}

}  // namespace otelbpf
