#pragma once
// Shared by the export tests: span batches whose span ids encode a number (so deliveries can be compared
// as sets), temporary directories, and gzip.
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/span_batch.h"

namespace otelbpf::testing {

inline std::string span_id_for(std::uint64_t n) {
  std::string id(8, '\0');
  for (int i = 7; i >= 0; --i, n >>= 8) id[static_cast<std::size_t>(i)] = static_cast<char>(n & 0xff);
  return id;
}

inline std::uint64_t number_of(const std::string& span_id) {
  std::uint64_t n = 0;
  for (unsigned char c : span_id) n = (n << 8) | c;
  return n;
}

// Spans first..first+count-1, one resource and scope; every span has the same serialized size.
inline otlp::ExportRequest make_request(std::uint64_t first, std::size_t count,
                                        const std::string& service = "svc") {
  otlp::ExportRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value(service);
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("export-test");
  for (std::size_t i = 0; i < count; ++i) {
    auto* span = ss->add_spans();
    span->set_trace_id(std::string(16, '\x42'));
    span->set_span_id(span_id_for(first + i));
    span->set_name("op");
    span->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
    span->set_start_time_unix_nano(1700000000000000000ull);
    span->set_end_time_unix_nano(1700000000000001000ull);
  }
  return request;
}

inline std::shared_ptr<const SpanBatch> make_batch(std::uint64_t first, std::size_t count) {
  auto batch = std::make_shared<SpanBatch>();
  batch->request() = make_request(first, count);
  return batch;
}

inline std::vector<std::uint64_t> span_numbers(const otlp::ExportRequest& request) {
  std::vector<std::uint64_t> out;
  for (const auto& rs : request.resource_spans())
    for (const auto& ss : rs.scope_spans())
      for (const auto& span : ss.spans()) out.push_back(number_of(span.span_id()));
  return out;
}

inline std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t count) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("otelbpf-export-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string gunzip(const std::string& data) {
  z_stream zs{};
  inflateInit2(&zs, 16 + MAX_WBITS);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk, sizeof(chunk) - zs.avail_out);
  }
  inflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string();
}

}  // namespace otelbpf::testing
