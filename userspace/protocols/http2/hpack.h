#pragma once
// HPACK (RFC 7541): header-block decoding with the static table, a bounded dynamic table, integer and
// string literals and the canonical Huffman code.
//
// A tracer does not always see a connection from its first byte, and the capture may lose a header block
// (only the first N bytes of a syscall are kept). Either way the dynamic table's older entries are then
// unknown. The decoder keeps the entries it saw inserted since (they are the newest, so their indices are
// right) and reports references past them as unknown instead of failing: the block is decoded as far as
// static-table and literal fields go and marked incomplete.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "protocols/common/stream.h"
#include "protocols/http2/types.h"

namespace otelbpf::l7::http2 {

inline constexpr size_t kStaticTableSize = 61;
inline constexpr size_t kEntryOverhead = 32;  // RFC 7541 §4.1
inline constexpr size_t kDefaultHeaderTableSize = 4096;

// Static table entry 1..61 (RFC 7541 appendix A); {"", ""} out of range.
std::pair<std::string_view, std::string_view> static_entry(size_t index);

// N-bit prefix integer (RFC 7541 §5.1) at *pos; advances *pos. Values above 2^32 are kInvalid.
ParseState decode_integer(std::string_view in, size_t* pos, int prefix_bits, uint64_t* value);

// Huffman-coded string (RFC 7541 §5.2, appendix B) appended to *out. kInvalid for EOS in the data,
// padding longer than 7 bits or padding that is not the EOS prefix.
ParseState huffman_decode(std::string_view in, std::string* out);

// The appendix B code of a symbol (0..256): code right-aligned, length in bits. For encoders in tests.
struct HuffmanCode {
  uint32_t code;
  uint8_t bits;
};
HuffmanCode huffman_code(int symbol);

class HpackDecoder {
 public:
  explicit HpackDecoder(size_t max_table_cap = Limits{}.max_dynamic_table_bytes);

  // Whether every insertion since the connection began was seen. False (the default) means the decoder
  // started mid-connection: references past the known entries are "unknown", not errors.
  void set_known_from_start(bool known) { known_from_start_ = known; }
  bool known_from_start() const { return known_from_start_; }
  // A header block this decoder should have seen was lost: every current entry may now sit at another
  // index, so they are dropped and the table is unknown until new insertions fill it.
  void lose_table();
  // Whole frames went by uncaptured (a writev with more buffers than the probe copies): they may or may
  // not have held a header block. The current entries are kept but "tentative": fields that use them are
  // decoded and the block is marked tentative. lose_table() when a header block is found to be missing.
  void mark_tentative();
  bool has_tentative() const { return tentative_entries_ > 0; }
  // The table's maximum size as the protocol set it outside the block (SETTINGS_HEADER_TABLE_SIZE
  // acknowledged before any size update; RFC 7541 appendix C.5 uses 256).
  void set_max_table_size(size_t size);

  // Decodes one complete header block. kSuccess also when fields were unknown (out->incomplete). kInvalid
  // when the block is malformed: the fields before the fault are kept and the table is lost.
  ParseState decode(std::string_view block, HeaderBlock* out, const Limits& limits = {});

  // Dynamic table state (RFC 7541 §4), for tests: entry 0 is the newest (HPACK index 62).
  size_t entry_count() const { return entries_.size(); }
  std::pair<std::string_view, std::string_view> entry(size_t i) const {
    return {entries_[i].name, entries_[i].value};
  }
  size_t table_size() const { return size_; }
  size_t max_table_size() const { return max_size_; }
  uint64_t unknown_references() const { return unknown_refs_; }

 private:
  struct Entry {
    std::string name;
    std::string value;
    bool name_known = true;  // false: inserted with a name that referenced an unknown entry
    bool tentative = false;  // inserted before a capture gap (see mark_tentative)
  };
  enum class Lookup : uint8_t { kFound, kUnknown, kInvalid };

  Lookup lookup(uint64_t index, std::string_view* name, std::string_view* value, bool* name_known,
                bool* tentative) const;
  void insert(std::string name, std::string value, bool name_known, bool tentative);
  void evict_to(size_t limit);

  size_t cap_;
  size_t max_size_ = kDefaultHeaderTableSize;
  size_t size_ = 0;
  std::deque<Entry> entries_;
  bool known_from_start_ = false;
  uint64_t unknown_refs_ = 0;
  size_t tentative_entries_ = 0;
};

}  // namespace otelbpf::l7::http2
