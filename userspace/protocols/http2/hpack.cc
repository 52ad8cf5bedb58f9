#include "protocols/http2/hpack.h"

#include <algorithm>
#include <array>
#include <tuple>

namespace otelbpf::l7::http2 {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, kStaticTableSize> kStaticTable = {{
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
}};

// RFC 7541 appendix B, symbol by symbol (0..255, then EOS): the code right-aligned and its length. The
// rows were generated from the RFC's table by a script that also checked that they form a complete,
// canonical prefix code (codes ordered by length, then symbol), which the decoder below relies on.
constexpr std::array<HuffmanCode, 257> kHuffmanCodes = {{
    {0x1ff8, 13},    {0x7fffd8, 23},   {0xfffffe2, 28}, {0xfffffe3, 28}, {0xfffffe4, 28},  {0xfffffe5, 28},
    {0xfffffe6, 28}, {0xfffffe7, 28},  {0xfffffe8, 28}, {0xffffea, 24},  {0x3ffffffc, 30}, {0xfffffe9, 28},
    {0xfffffea, 28}, {0x3ffffffd, 30}, {0xfffffeb, 28}, {0xfffffec, 28}, {0xfffffed, 28},  {0xfffffee, 28},
    {0xfffffef, 28}, {0xffffff0, 28},  {0xffffff1, 28}, {0xffffff2, 28}, {0x3ffffffe, 30}, {0xffffff3, 28},
    {0xffffff4, 28}, {0xffffff5, 28},  {0xffffff6, 28}, {0xffffff7, 28}, {0xffffff8, 28},  {0xffffff9, 28},
    {0xffffffa, 28}, {0xffffffb, 28},  {0x14, 6},       {0x3f8, 10},     {0x3f9, 10},      {0xffa, 12},
    {0x1ff9, 13},    {0x15, 6},        {0xf8, 8},       {0x7fa, 11},     {0x3fa, 10},      {0x3fb, 10},
    {0xf9, 8},       {0x7fb, 11},      {0xfa, 8},       {0x16, 6},       {0x17, 6},        {0x18, 6},
    {0x0, 5},        {0x1, 5},         {0x2, 5},        {0x19, 6},       {0x1a, 6},        {0x1b, 6},
    {0x1c, 6},       {0x1d, 6},        {0x1e, 6},       {0x1f, 6},       {0x5c, 7},        {0xfb, 8},
    {0x7ffc, 15},    {0x20, 6},        {0xffb, 12},     {0x3fc, 10},     {0x1ffa, 13},     {0x21, 6},
    {0x5d, 7},       {0x5e, 7},        {0x5f, 7},       {0x60, 7},       {0x61, 7},        {0x62, 7},
    {0x63, 7},       {0x64, 7},        {0x65, 7},       {0x66, 7},       {0x67, 7},        {0x68, 7},
    {0x69, 7},       {0x6a, 7},        {0x6b, 7},       {0x6c, 7},       {0x6d, 7},        {0x6e, 7},
    {0x6f, 7},       {0x70, 7},        {0x71, 7},       {0x72, 7},       {0xfc, 8},        {0x73, 7},
    {0xfd, 8},       {0x1ffb, 13},     {0x7fff0, 19},   {0x1ffc, 13},    {0x3ffc, 14},     {0x22, 6},
    {0x7ffd, 15},    {0x3, 5},         {0x23, 6},       {0x4, 5},        {0x24, 6},        {0x5, 5},
    {0x25, 6},       {0x26, 6},        {0x27, 6},       {0x6, 5},        {0x74, 7},        {0x75, 7},
    {0x28, 6},       {0x29, 6},        {0x2a, 6},       {0x7, 5},        {0x2b, 6},        {0x76, 7},
    {0x2c, 6},       {0x8, 5},         {0x9, 5},        {0x2d, 6},       {0x77, 7},        {0x78, 7},
    {0x79, 7},       {0x7a, 7},        {0x7b, 7},       {0x7ffe, 15},    {0x7fc, 11},      {0x3ffd, 14},
    {0x1ffd, 13},    {0xffffffc, 28},  {0xfffe6, 20},   {0x3fffd2, 22},  {0xfffe7, 20},    {0xfffe8, 20},
    {0x3fffd3, 22},  {0x3fffd4, 22},   {0x3fffd5, 22},  {0x7fffd9, 23},  {0x3fffd6, 22},   {0x7fffda, 23},
    {0x7fffdb, 23},  {0x7fffdc, 23},   {0x7fffdd, 23},  {0x7fffde, 23},  {0xffffeb, 24},   {0x7fffdf, 23},
    {0xffffec, 24},  {0xffffed, 24},   {0x3fffd7, 22},  {0x7fffe0, 23},  {0xffffee, 24},   {0x7fffe1, 23},
    {0x7fffe2, 23},  {0x7fffe3, 23},   {0x7fffe4, 23},  {0x1fffdc, 21},  {0x3fffd8, 22},   {0x7fffe5, 23},
    {0x3fffd9, 22},  {0x7fffe6, 23},   {0x7fffe7, 23},  {0xffffef, 24},  {0x3fffda, 22},   {0x1fffdd, 21},
    {0xfffe9, 20},   {0x3fffdb, 22},   {0x3fffdc, 22},  {0x7fffe8, 23},  {0x7fffe9, 23},   {0x1fffde, 21},
    {0x7fffea, 23},  {0x3fffdd, 22},   {0x3fffde, 22},  {0xfffff0, 24},  {0x1fffdf, 21},   {0x3fffdf, 22},
    {0x7fffeb, 23},  {0x7fffec, 23},   {0x1fffe0, 21},  {0x1fffe1, 21},  {0x3fffe0, 22},   {0x1fffe2, 21},
    {0x7fffed, 23},  {0x3fffe1, 22},   {0x7fffee, 23},  {0x7fffef, 23},  {0xfffea, 20},    {0x3fffe2, 22},
    {0x3fffe3, 22},  {0x3fffe4, 22},   {0x7ffff0, 23},  {0x3fffe5, 22},  {0x3fffe6, 22},   {0x7ffff1, 23},
    {0x3ffffe0, 26}, {0x3ffffe1, 26},  {0xfffeb, 20},   {0x7fff1, 19},   {0x3fffe7, 22},   {0x7ffff2, 23},
    {0x3fffe8, 22},  {0x1ffffec, 25},  {0x3ffffe2, 26}, {0x3ffffe3, 26}, {0x3ffffe4, 26},  {0x7ffffde, 27},
    {0x7ffffdf, 27}, {0x3ffffe5, 26},  {0xfffff1, 24},  {0x1ffffed, 25}, {0x7fff2, 19},    {0x1fffe3, 21},
    {0x3ffffe6, 26}, {0x7ffffe0, 27},  {0x7ffffe1, 27}, {0x3ffffe7, 26}, {0x7ffffe2, 27},  {0xfffff2, 24},
    {0x1fffe4, 21},  {0x1fffe5, 21},   {0x3ffffe8, 26}, {0x3ffffe9, 26}, {0xffffffd, 28},  {0x7ffffe3, 27},
    {0x7ffffe4, 27}, {0x7ffffe5, 27},  {0xfffec, 20},   {0xfffff3, 24},  {0xfffed, 20},    {0x1fffe6, 21},
    {0x3fffe9, 22},  {0x1fffe7, 21},   {0x1fffe8, 21},  {0x7ffff3, 23},  {0x3fffea, 22},   {0x3fffeb, 22},
    {0x1ffffee, 25}, {0x1ffffef, 25},  {0xfffff4, 24},  {0xfffff5, 24},  {0x3ffffea, 26},  {0x7ffff4, 23},
    {0x3ffffeb, 26}, {0x7ffffe6, 27},  {0x3ffffec, 26}, {0x3ffffed, 26}, {0x7ffffe7, 27},  {0x7ffffe8, 27},
    {0x7ffffe9, 27}, {0x7ffffea, 27},  {0x7ffffeb, 27}, {0xffffffe, 28}, {0x7ffffec, 27},  {0x7ffffed, 27},
    {0x7ffffee, 27}, {0x7ffffef, 27},  {0x7fffff0, 27}, {0x3ffffee, 26}, {0x3fffffff, 30},
}};
constexpr int kEos = 256;
constexpr int kMaxCodeBits = 30;

// Canonical decoding tables (the "puff" method): for each length, how many codes it has, the first code
// of that length and where its symbols start in the symbol list sorted by (length, symbol).
struct CanonicalTables {
  std::array<uint32_t, kMaxCodeBits + 1> count{};
  std::array<uint32_t, kMaxCodeBits + 1> first_code{};
  std::array<uint32_t, kMaxCodeBits + 1> offset{};
  std::array<uint16_t, 257> symbols{};
};

CanonicalTables build_tables() {
  CanonicalTables t;
  for (const HuffmanCode& c : kHuffmanCodes) ++t.count[c.bits];
  uint32_t code = 0;
  uint32_t index = 0;
  for (int len = 1; len <= kMaxCodeBits; ++len) {
    code = (code + t.count[len - 1]) << 1;
    t.first_code[len] = code;
    t.offset[len] = index;
    index += t.count[len];
  }
  std::array<uint32_t, kMaxCodeBits + 1> next = t.offset;
  for (int len = 1; len <= kMaxCodeBits; ++len) {
    for (int sym = 0; sym <= kEos; ++sym) {
      if (kHuffmanCodes[sym].bits == len) t.symbols[next[len]++] = static_cast<uint16_t>(sym);
    }
  }
  return t;
}

const CanonicalTables& tables() {
  static const CanonicalTables t = build_tables();
  return t;
}

}  // namespace

std::pair<std::string_view, std::string_view> static_entry(size_t index) {
  if (index == 0 || index > kStaticTableSize) return {};
  return kStaticTable[index - 1];
}

HuffmanCode huffman_code(int symbol) {
  if (symbol < 0 || symbol > kEos) return {0, 0};
  return kHuffmanCodes[symbol];
}

ParseState decode_integer(std::string_view in, size_t* pos, int prefix_bits, uint64_t* value) {
  if (*pos >= in.size()) return ParseState::kNeedsMoreData;
  const uint8_t mask = static_cast<uint8_t>((1u << prefix_bits) - 1);
  size_t p = *pos;
  uint64_t v = static_cast<uint8_t>(in[p++]) & mask;
  if (v == mask) {
    int shift = 0;
    while (true) {
      if (p >= in.size()) return ParseState::kNeedsMoreData;
      const uint8_t b = static_cast<uint8_t>(in[p++]);
      // Five continuation bytes carry 35 bits: anything longer is not a length or index anyone sends.
      if (shift > 28) return ParseState::kInvalid;
      v += static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    if (v > UINT32_MAX) return ParseState::kInvalid;
  }
  *pos = p;
  *value = v;
  return ParseState::kSuccess;
}

ParseState huffman_decode(std::string_view in, std::string* out) {
  const CanonicalTables& t = tables();
  uint32_t code = 0;
  int len = 0;
  for (const char ch : in) {
    const auto byte = static_cast<uint8_t>(ch);
    for (int bit = 7; bit >= 0; --bit) {
      code = (code << 1) | ((byte >> bit) & 1u);
      ++len;
      if (code - t.first_code[len] < t.count[len]) {
        const uint16_t sym = t.symbols[t.offset[len] + code - t.first_code[len]];
        if (sym == kEos) return ParseState::kInvalid;  // RFC 7541 §5.2: EOS in the string is an error
        out->push_back(static_cast<char>(sym));
        code = 0;
        len = 0;
      } else if (len >= kMaxCodeBits) {
        return ParseState::kInvalid;  // unreachable for a complete code; kept as a guard
      }
    }
  }
  // Padding: the most significant bits of EOS (all ones), strictly shorter than 8 bits.
  if (len > 7) return ParseState::kInvalid;
  if (code != (1u << len) - 1) return ParseState::kInvalid;
  return ParseState::kSuccess;
}

HpackDecoder::HpackDecoder(size_t max_table_cap)
    : cap_(max_table_cap), max_size_(std::min(kDefaultHeaderTableSize, max_table_cap)) {}

void HpackDecoder::lose_table() {
  entries_.clear();
  size_ = 0;
  tentative_entries_ = 0;
  known_from_start_ = false;
}

void HpackDecoder::mark_tentative() {
  for (Entry& e : entries_) e.tentative = true;
  tentative_entries_ = entries_.size();
  // Entries the gap inserted would push the table past its end: references there are unknown, not errors.
  known_from_start_ = false;
}

void HpackDecoder::set_max_table_size(size_t size) {
  max_size_ = std::min(size, cap_);
  evict_to(max_size_);
}

void HpackDecoder::evict_to(size_t limit) {
  while (size_ > limit && !entries_.empty()) {
    const Entry& e = entries_.back();
    size_ -= e.name.size() + e.value.size() + kEntryOverhead;
    if (e.tentative) --tentative_entries_;
    entries_.pop_back();
  }
}

void HpackDecoder::insert(std::string name, std::string value, bool name_known, bool tentative) {
  // An entry of unknown name is counted without its name: the size is underestimated, so this table
  // evicts no earlier than the encoder's and never drops an entry the encoder can still reference.
  const size_t size = name.size() + value.size() + kEntryOverhead;
  if (size > max_size_) {  // RFC 7541 §4.4: a too-large entry empties the table and is not inserted
    evict_to(0);
    return;
  }
  evict_to(max_size_ - size);
  size_ += size;
  entries_.push_front(Entry{std::move(name), std::move(value), name_known, tentative});
  if (tentative) ++tentative_entries_;
}

HpackDecoder::Lookup HpackDecoder::lookup(uint64_t index, std::string_view* name, std::string_view* value,
                                          bool* name_known, bool* tentative) const {
  *name_known = true;
  if (index == 0) return Lookup::kInvalid;
  if (index <= kStaticTableSize) {
    std::tie(*name, *value) = kStaticTable[index - 1];
    return Lookup::kFound;
  }
  const uint64_t i = index - kStaticTableSize - 1;
  if (i < entries_.size()) {
    const Entry& e = entries_[i];
    *name = e.name;
    *value = e.value;
    *name_known = e.name_known;
    if (e.tentative) *tentative = true;
    return Lookup::kFound;
  }
  return known_from_start_ ? Lookup::kInvalid : Lookup::kUnknown;
}

ParseState HpackDecoder::decode(std::string_view block, HeaderBlock* out, const Limits& limits) {
  size_t pos = 0;
  size_t kept_bytes = 0;
  for (const auto& [n, v] : out->fields) kept_bytes += n.size() + v.size();
  auto keep = [&](std::string_view name, std::string_view value) {
    if (out->fields.size() >= limits.max_headers) return;
    if (kept_bytes + name.size() + value.size() > limits.max_header_list_bytes) return;
    kept_bytes += name.size() + value.size();
    out->fields.emplace_back(std::string(name), std::string(value));
  };
  auto fail = [&]() {
    out->decode_error = true;
    out->incomplete = true;
    lose_table();
    return ParseState::kInvalid;
  };
  auto unknown = [&]() {
    out->incomplete = true;
    ++unknown_refs_;
  };
  auto read_string = [&](std::string* s) {
    if (pos >= block.size()) return false;
    const bool huffman = (static_cast<uint8_t>(block[pos]) & 0x80) != 0;
    uint64_t len = 0;
    if (decode_integer(block, &pos, 7, &len) != ParseState::kSuccess) return false;
    if (len > block.size() - pos) return false;
    const std::string_view raw = block.substr(pos, len);
    pos += len;
    if (!huffman) {
      s->assign(raw);
      return true;
    }
    return huffman_decode(raw, s) == ParseState::kSuccess;
  };

  while (pos < block.size()) {
    const auto b = static_cast<uint8_t>(block[pos]);
    if ((b & 0x80) != 0) {  // §6.1 indexed field
      uint64_t index = 0;
      if (decode_integer(block, &pos, 7, &index) != ParseState::kSuccess) return fail();
      std::string_view name, value;
      bool name_known = true;
      const Lookup l = lookup(index, &name, &value, &name_known, &out->tentative);
      if (l == Lookup::kInvalid) return fail();
      if (l == Lookup::kUnknown || !name_known) {
        unknown();
        continue;
      }
      keep(name, value);
      continue;
    }
    if ((b & 0xe0) == 0x20) {  // §6.3 dynamic table size update
      uint64_t size = 0;
      if (decode_integer(block, &pos, 5, &size) != ParseState::kSuccess) return fail();
      // Above our cap the encoder keeps entries we cannot: they are reported unknown when referenced.
      max_size_ = std::min<uint64_t>(size, cap_);
      evict_to(max_size_);
      continue;
    }
    // §6.2 literals: with incremental indexing (01), without indexing (0000), never indexed (0001).
    const bool indexing = (b & 0xc0) == 0x40;
    const int prefix = indexing ? 6 : 4;
    uint64_t name_index = 0;
    if (decode_integer(block, &pos, prefix, &name_index) != ParseState::kSuccess) return fail();
    std::string name;
    bool name_known = true;
    bool name_tentative = false;
    if (name_index == 0) {
      if (!read_string(&name)) return fail();
    } else {
      std::string_view n, ignored;
      const Lookup l = lookup(name_index, &n, &ignored, &name_known, &name_tentative);
      out->tentative = out->tentative || name_tentative;
      if (l == Lookup::kInvalid) return fail();
      if (l == Lookup::kUnknown) name_known = false;
      if (name_known) name.assign(n);
    }
    std::string value;
    if (!read_string(&value)) return fail();
    if (name_known) {
      keep(name, value);
    } else {
      unknown();
    }
    // Inserted even when the name is unknown, so that the indices of later entries stay right.
    if (indexing) insert(std::move(name), std::move(value), name_known, name_tentative);
  }
  return ParseState::kSuccess;
}

}  // namespace otelbpf::l7::http2
