#pragma once
// A trace id's bytes, held inline. A trace id is 16 bytes, one more than std::string keeps without a heap
// block, and the assembler copies one into every fact, every resolution and every linked sys span: three
// allocations per sys span, each freed again (the linked span's by the exporter's thread), ~4 % of the
// agent under tracing load (docs/memory-budget.md). Any other length (test ids, a peer's odd text) is kept
// whole, on the heap, so that ids that differ never compare equal.
#include <absl/container/inlined_vector.h>
#include <absl/strings/string_view.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace otelbpf {

class TraceIdBytes {
 public:
  TraceIdBytes() = default;
  TraceIdBytes(std::string_view bytes) : bytes_(bytes.begin(), bytes.end()) {}       // NOLINT: as a string
  TraceIdBytes(const std::string& bytes) : TraceIdBytes(std::string_view(bytes)) {}  // NOLINT
  TraceIdBytes(const char* bytes) : TraceIdBytes(std::string_view(bytes)) {}         // NOLINT
  TraceIdBytes& operator=(std::string_view bytes) {
    bytes_.assign(bytes.begin(), bytes.end());
    return *this;
  }
  TraceIdBytes& operator=(const std::string& bytes) { return *this = std::string_view(bytes); }
  TraceIdBytes& operator=(const char* bytes) { return *this = std::string_view(bytes); }

  std::string_view view() const { return {bytes_.data(), bytes_.size()}; }
  operator std::string_view() const { return view(); }  // NOLINT: read where a string is
  std::string str() const { return std::string(view()); }
  // The key for a lookup in a table of std::string keys without a copy: Abseil's tables take its own
  // string_view, which Debian's build does not alias to std::string_view.
  absl::string_view lookup_key() const { return {bytes_.data(), bytes_.size()}; }
  const char* data() const { return bytes_.data(); }
  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  friend bool operator==(const TraceIdBytes& a, const TraceIdBytes& b) { return a.view() == b.view(); }
  friend bool operator==(const TraceIdBytes& a, std::string_view b) { return a.view() == b; }
  template <class H>
  friend H AbslHashValue(H h, const TraceIdBytes& id) {
    return H::combine(std::move(h), id.view());
  }

 private:
  absl::InlinedVector<char, 16> bytes_;
};

}  // namespace otelbpf
