#pragma once
// The on-disk spool an exporter's batches wait in while its endpoint is down: one file per batch, named by
// a sequence number so that replay goes oldest first, bounded in bytes. A full spool refuses the new batch
// and keeps what it has. Files are written under a temporary name, fsynced, renamed, and the directory is
// fsynced, so that a crash or a power cut leaves either a whole batch or nothing that is mistaken for one
// (without the two fsyncs a rename can reach the disk before the data, leaving an empty "batch"). Each
// file carries a CRC; a spool left by a previous run is picked up again at start.
//
// Replay streams a file (CRC pass, then the protobuf parse from the file), so a batch is never held twice
// in memory, and a file larger than the spool's own bound is rejected from its header alone. A file that
// fails its checks is discarded and reported with the spans its header claims, so the loss is counted in
// spans like every other drop.
//
// File layout (little-endian): "OBSP" | u32 payload length | u32 span count | u32 crc32(payload) | payload,
// where payload is a serialized ExportTraceServiceRequest.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "common/metrics.h"
#include "model/span_batch.h"

namespace otelbpf {

class BatchSpool {
 public:
  enum class PushResult { kStored, kFull, kError };

  struct Entry {
    std::uint64_t sequence = 0;
    std::size_t spans = 0;
    otlp::ExportRequest request;
  };

  static constexpr std::size_t kHeaderBytes = 16;
  // What a request takes on disk, for callers that size the bound.
  static std::uint64_t file_bytes(const otlp::ExportRequest& request);

  // Creates `dir` if needed and indexes the batch files already there (stale temporaries are removed).
  // `bytes_gauge` follows bytes(). Throws std::runtime_error when the directory cannot be created or read.
  BatchSpool(std::filesystem::path dir, std::uint64_t max_bytes, Gauge* bytes_gauge = nullptr);

  // Thread-safe. On kError `error` says why.
  PushResult push(const otlp::ExportRequest& request, std::size_t spans, std::string& error);

  // Why a spool file was discarded, and the spans it held when its header still says so (0: unknown).
  struct Corruption {
    std::string reason;
    std::size_t spans = 0;
  };

  // The oldest batch, read back. A file that cannot be read or fails its checks is removed and reported
  // through `corrupt` (the next call moves on to the next file); nullopt when empty.
  std::optional<Entry> front(Corruption& corrupt);
  // Removes the batch `front` returned.
  void pop(std::uint64_t sequence);

  bool empty() const;
  std::size_t batches() const;
  std::uint64_t bytes() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct Slot {
    std::uint64_t sequence;
    std::uint64_t bytes;
  };
  std::filesystem::path file_for(std::uint64_t sequence) const;
  // Reads and checks one batch file; an empty string when it is whole, else why not.
  std::string read_file(const std::filesystem::path& path, Entry& entry) const;

  const std::filesystem::path dir_;
  const std::uint64_t max_bytes_;
  Gauge* bytes_gauge_;
  mutable std::mutex mutex_;
  std::deque<Slot> slots_;  // oldest first
  std::uint64_t bytes_ = 0;
  std::uint64_t next_sequence_ = 1;
};

}  // namespace otelbpf
