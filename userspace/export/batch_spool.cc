#include "export/batch_spool.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

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
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create " + temp_path.string() + ": " + std::strerror(errno);
    return PushResult::kError;
  }
  bool ok = write_all(fd, data);
  int saved_errno = errno;
  ok = (::close(fd) == 0) && ok;
  if (ok && ::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    ok = false;
    saved_errno = errno;
  }
  if (!ok) {
    error = "cannot write " + final_path.string() + ": " + std::strerror(saved_errno);
    ::unlink(temp_path.c_str());
    return PushResult::kError;
  }
  ++next_sequence_;
  slots_.push_back({sequence, data.size()});
  bytes_ += data.size();
  if (bytes_gauge_) bytes_gauge_->set(static_cast<std::int64_t>(bytes_));
  return PushResult::kStored;
}

std::optional<BatchSpool::Entry> BatchSpool::front(std::string& corrupt_error) {
  Slot slot{};
  {
    std::lock_guard lock(mutex_);
    if (slots_.empty()) return std::nullopt;
    slot = slots_.front();
  }
  // Only the worker pops, so the front stays put while the file is read without the lock.
  const fs::path path = file_for(slot.sequence);
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string problem;
  Entry entry;
  entry.sequence = slot.sequence;
  if (!in.good() && !in.eof()) {
    problem = "unreadable";
  } else if (data.size() < kHeaderBytes || std::memcmp(data.data(), kMagic, 4) != 0) {
    problem = "not a spool file";
  } else {
    std::uint32_t length = get_u32(data.data() + 4);
    entry.spans = get_u32(data.data() + 8);
    std::uint32_t crc = get_u32(data.data() + 12);
    if (data.size() != kHeaderBytes + length) {
      problem = "truncated";
    } else if (crc32(0L, reinterpret_cast<const Bytef*>(data.data() + kHeaderBytes), length) != crc) {
      problem = "checksum mismatch";
    } else if (!entry.request.ParseFromArray(data.data() + kHeaderBytes, static_cast<int>(length))) {
      problem = "not a protobuf ExportTraceServiceRequest";
    }
  }
  if (problem.empty()) return entry;
  corrupt_error = path.string() + ": " + problem;
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
