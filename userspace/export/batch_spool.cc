#include "export/batch_spool.h"

#include <fcntl.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <utility>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "common/scoped_fd.h"

namespace otelbpf {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[4] = {'O', 'B', 'S', 'P'};
constexpr std::string_view kSuffix = ".batch";
constexpr std::string_view kTempSuffix = ".tmp";

void put_u32(char* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint32_t get_u32(const char* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

std::optional<std::uint64_t> sequence_of(const fs::path& file) {
  std::string name = file.filename().string();
  if (!name.ends_with(kSuffix)) return std::nullopt;
  std::string_view digits(name.data(), name.size() - kSuffix.size());
  std::uint64_t sequence = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), sequence);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) return std::nullopt;
  return sequence;
}

// A span takes at least this much of a request (trace_id and span_id with their tags); a header claiming
// more spans than its payload can hold is itself corrupt, and its count is not believed.
constexpr std::size_t kMinSpanWireBytes = 2 + 16 + 2 + 8;

bool fsync_dir(const fs::path& dir) {
  ScopedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return fd.get() >= 0 && ::fsync(fd.get()) == 0;
}

bool read_exact(int fd, char* out, std::size_t len) {
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::read(fd, out + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, const std::string& data) {
  std::size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::uint64_t BatchSpool::file_bytes(const otlp::ExportRequest& request) {
  return kHeaderBytes + request.ByteSizeLong();
}

BatchSpool::BatchSpool(fs::path dir, std::uint64_t max_bytes, Gauge* bytes_gauge)
    : dir_(std::move(dir)), max_bytes_(max_bytes), bytes_gauge_(bytes_gauge) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("cannot create spool directory " + dir_.string() + ": " + ec.message());
  fs::directory_iterator it(dir_, ec);
  if (ec) throw std::runtime_error("cannot read spool directory " + dir_.string() + ": " + ec.message());
  for (const auto& item : it) {
    const fs::path& path = item.path();
    if (path.filename().string().ends_with(kTempSuffix)) {
      fs::remove(path, ec);  // a write a crash interrupted: never renamed, so never a batch
      continue;
    }
    auto sequence = sequence_of(path);
    if (!sequence || !item.is_regular_file(ec)) continue;
    std::uint64_t size = item.file_size(ec);
    if (ec) continue;
    slots_.push_back({*sequence, size});
    bytes_ += size;
  }
  std::sort(slots_.begin(), slots_.end(),
            [](const Slot& a, const Slot& b) { return a.sequence < b.sequence; });
  if (!slots_.empty()) next_sequence_ = slots_.back().sequence + 1;
  if (bytes_gauge_) bytes_gauge_->set(static_cast<std::int64_t>(bytes_));
  if (!slots_.empty())
    spdlog::info("spool {}: {} batches ({} bytes) left by a previous run will be replayed", dir_.string(),
                 slots_.size(), bytes_);
}

fs::path BatchSpool::file_for(std::uint64_t sequence) const {
  return dir_ / fmt::format("{:020}{}", sequence, kSuffix);
}

BatchSpool::PushResult BatchSpool::push(const otlp::ExportRequest& request, std::size_t spans,
                                        std::string& error) {
  std::string data(kHeaderBytes, '\0');
  std::memcpy(data.data(), kMagic, 4);
  std::string payload = request.SerializeAsString();
  put_u32(data.data() + 4, static_cast<std::uint32_t>(payload.size()));
  put_u32(data.data() + 8, static_cast<std::uint32_t>(spans));
  put_u32(data.data() + 12,
          static_cast<std::uint32_t>(
              crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()))));
  data += payload;

  std::lock_guard lock(mutex_);
  if (bytes_ + data.size() > max_bytes_) return PushResult::kFull;
  const std::uint64_t sequence = next_sequence_;
  const fs::path final_path = file_for(sequence);
  const fs::path temp_path = final_path.string() + std::string(kTempSuffix);
  // Data, then name, each made durable before the next: fsync(file) before the rename, so the name never
  // points at blocks not yet written; fsync(directory) after it, so the batch survives a power cut once
  // push() has reported it stored.
  ScopedFd fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    error = "cannot create " + temp_path.string() + ": " + std::strerror(errno);
    return PushResult::kError;
  }
  const char* failed = nullptr;
  if (!write_all(fd.get(), data))
    failed = "write";
  else if (::fsync(fd.get()) != 0)
    failed = "fsync";
  else if (!fd.close())
    failed = "close";
  else if (::rename(temp_path.c_str(), final_path.c_str()) != 0)
    failed = "rename";
  if (failed != nullptr) {
    error = fmt::format("cannot store {} ({}): {}", final_path.string(), failed, std::strerror(errno));
    ::unlink(temp_path.c_str());
    return PushResult::kError;
  }
  if (!fsync_dir(dir_)) {
    // The batch is written and named; only its durability across a power cut is in doubt. Keeping it
    // beats dropping it, and the warning says what is at risk.
    spdlog::warn("spool {}: cannot fsync the directory after storing {}: {}", dir_.string(),
                 final_path.filename().string(), std::strerror(errno));
  }
  ++next_sequence_;
  slots_.push_back({sequence, data.size()});
  bytes_ += data.size();
  if (bytes_gauge_) bytes_gauge_->set(static_cast<std::int64_t>(bytes_));
  return PushResult::kStored;
}

std::string BatchSpool::read_file(const fs::path& path, Entry& entry) const {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) return std::string("unreadable: ") + std::strerror(errno);
  char header[kHeaderBytes];
  if (static_cast<std::uint64_t>(st.st_size) < kHeaderBytes || !read_exact(fd.get(), header, kHeaderBytes) ||
      std::memcmp(header, kMagic, 4) != 0)
    return "not a spool file";
  const std::uint32_t length = get_u32(header + 4);
  const std::uint32_t spans = get_u32(header + 8);
  const std::uint32_t crc = get_u32(header + 12);
  // The header's count is believed (for the drop counters) only if the payload could hold that many spans.
  if (spans <= length / kMinSpanWireBytes + 1) entry.spans = spans;
  if (static_cast<std::uint64_t>(st.st_size) != kHeaderBytes + std::uint64_t{length}) return "truncated";
  // No genuine batch exceeds the spool's bound (push() refuses it), so a larger one is not read at all.
  if (kHeaderBytes + std::uint64_t{length} > max_bytes_) return "larger than the spool's bound";

  // Pass 1: the CRC, in fixed-size chunks.
  std::array<char, 64 * 1024> chunk{};
  uLong sum = crc32(0L, Z_NULL, 0);
  for (std::uint64_t left = length; left > 0;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    if (!read_exact(fd.get(), chunk.data(), n)) return "truncated";
    sum = crc32(sum, reinterpret_cast<const Bytef*>(chunk.data()), static_cast<uInt>(n));
    left -= n;
  }
  if (static_cast<std::uint32_t>(sum) != crc) return "checksum mismatch";

  // Pass 2: the protobuf, parsed straight from the file (the payload runs to its end).
  if (::lseek(fd.get(), static_cast<off_t>(kHeaderBytes), SEEK_SET) < 0)
    return std::string("unreadable: ") + std::strerror(errno);
  google::protobuf::io::FileInputStream stream(fd.get());
  if (!entry.request.ParseFromZeroCopyStream(&stream)) return "not a protobuf ExportTraceServiceRequest";
  // The header's count sits outside the CRC: a whole batch counts its spans itself.
  entry.spans = 0;
  for (const auto& rs : entry.request.resource_spans())
    for (const auto& ss : rs.scope_spans()) entry.spans += static_cast<std::size_t>(ss.spans_size());
  return {};
}

std::optional<BatchSpool::Entry> BatchSpool::front(Corruption& corrupt) {
  Slot slot{};
  {
    std::lock_guard lock(mutex_);
    if (slots_.empty()) return std::nullopt;
    slot = slots_.front();
  }
  // Only the worker pops, so the front stays put while the file is read without the lock.
  const fs::path path = file_for(slot.sequence);
  Entry entry;
  entry.sequence = slot.sequence;
  std::string problem = read_file(path, entry);
  if (problem.empty()) return entry;
  corrupt.reason = path.string() + ": " + problem;
  corrupt.spans = entry.spans;
  pop(slot.sequence);
  return std::nullopt;
}

void BatchSpool::pop(std::uint64_t sequence) {
  std::lock_guard lock(mutex_);
  if (slots_.empty() || slots_.front().sequence != sequence) return;
  std::error_code ec;
  fs::remove(file_for(sequence), ec);
  if (ec)
    spdlog::warn("spool {}: cannot remove {}: {}", dir_.string(), file_for(sequence).string(), ec.message());
  bytes_ -= slots_.front().bytes;
  slots_.pop_front();
  if (bytes_gauge_) bytes_gauge_->set(static_cast<std::int64_t>(bytes_));
}

bool BatchSpool::empty() const {
  std::lock_guard lock(mutex_);
  return slots_.empty();
}
std::size_t BatchSpool::batches() const {
  std::lock_guard lock(mutex_);
  return slots_.size();
}
std::uint64_t BatchSpool::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace otelbpf
