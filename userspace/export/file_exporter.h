#pragma once
// The embedded default exporter: one OTLP/JSON ExportTraceServiceRequest per line, appended to a file
// (the format the OTel Collector's file exporter writes and its otlpjsonfile receiver reads back).
#include <cstdint>
#include <string>
#include <thread>

#include "export/exporter.h"
#include "model/otlp_json.h"

namespace otelbpf {

struct FileExporterOptions {
  std::string path = "./otelbpf-spans.jsonl";
  // Rotate before a line would take the file beyond this size (0 = never): path -> path.1 -> path.2 ...
  std::uint64_t max_bytes = 0;
  // Rotated files kept besides the live one; older ones are deleted (0 = the live file is just truncated).
  std::uint32_t keep_files = 3;
  // Drop-behind: once this many bytes past the last step are written, their write-back starts and the
  // step before (written back by then) leaves the page cache (0 = leave the written pages cached;
  // export.file.drop_behind_bytes).
  std::uint64_t drop_behind_bytes = 8u << 20;
};

class FileExporter final : public SpanExporter {
 public:
  explicit FileExporter(FileExporterOptions options, std::string name = "file");
  ~FileExporter() override;
  FileExporter(const FileExporter&) = delete;
  FileExporter& operator=(const FileExporter&) = delete;

  const std::string& name() const override { return name_; }
  // A whole line or nothing: a failed write is cut back, so a retry never leaves half a line behind.
  // Every failure (directory not creatable, disk full, ...) is retryable: disks get fixed.
  ExportOutcome send(const otlp::ExportRequest& request) override;
  ExportOutcome send_parts(std::span<const otlp::ExportRequest* const> parts) override;
  bool takes_compact_spans() const override { return true; }
  ExportOutcome send_batches(std::span<const SpanBatch* const> batches) override;
  // A line of the file may be as long as it needs.
  bool limits_request_bytes() const override { return false; }

 private:
  // A file this exporter wrote, taken from it to be closed (here or on the rotation's thread).
  struct WrittenFile {
    int fd = -1;
    std::uint64_t size = 0, allocated_to = 0, cached_from = 0;
    bool drop_behind = false;
  };
  WrittenFile take_file();  // the open file, and the exporter left without one
  // Drops what is cached of it (with drop-behind), gives back the blocks allocated past its end, closes it.
  static void close_written(const WrittenFile& file);

  void trim_line_buffer();
  ExportOutcome write_line();  // line_ plus a newline, appended to the file
  bool open_file(std::string& error);
  bool rotate(std::string& error);
  void close_file();
  // Starts the write-back of what was appended since the last step and drops the step before from the
  // page cache (FileExporterOptions::drop_behind_bytes).
  void drop_behind();
  // Allocates the file's blocks ahead of an append of `bytes`, in steps, without changing its size.
  void preallocate(std::uint64_t bytes);

  FileExporterOptions options_;
  std::string name_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  // Drop-behind steps: [cached_from_, writing_back_from_) is being written back, [writing_back_from_,
  // size_) is dirty. Offsets of this file, from the size it had when opened (cached_from_ at a page).
  std::uint64_t cached_from_ = 0, writing_back_from_ = 0;
  std::uint64_t allocated_to_ = 0;  // blocks allocated ahead up to here (fallocate, size unchanged)
  bool preallocate_ = true;         // false once the file system refused
  JsonLineBuffer line_;  // the OTLP/JSON line being written, reused from send to send
  // The last rotation's slow part: the rotated file closed, the oldest one removed (rotate()).
  std::jthread rotation_tail_;
};

}  // namespace otelbpf
