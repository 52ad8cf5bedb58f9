// libFuzzer target for the HTTP/2 frame reader, HPACK decoder and stitcher. The input is a script: each
// step's control byte picks the direction, how many bytes the syscall moved and how many were captured,
// so the fuzzer explores splits and capture truncation as well as byte content. The first byte decides
// whether the egress side opens with the client preface (so that in-sync states are reached quickly).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/http2/entry.h"
#include "protocols/http2/hpack.h"
#include "protocols/http2/stitcher.h"

using namespace otelbpf::l7;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty()) return 0;
  const bool preface = (static_cast<uint8_t>(in.front()) & 1) != 0;
  in.remove_prefix(1);

  http2::Limits limits;
  limits.max_streams = 4;  // small bounds reach the eviction paths with small inputs
  limits.max_header_block_bytes = 256;
  limits.max_header_list_bytes = 128;
  limits.max_headers = 8;
  limits.max_dynamic_table_bytes = 512;
  http2::Stitcher stitcher(limits);
  std::vector<L7Record> out;
  uint64_t clock = 0;
  uint32_t seq[2] = {1, 1};
  if (preface) {
    DataChunk c{Direction::kEgress,   clock, clock + 1, 1, seq[0], http2::kClientPreface.size(),
                http2::kClientPreface};
    seq[0] += static_cast<uint32_t>(http2::kClientPreface.size());
    stitcher.on_chunk(c, out);
  }
  while (!in.empty()) {
    const uint8_t ctl = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    const size_t len = std::min<size_t>(in.size(), 1 + (ctl & 0x3f));
    const auto dir = (ctl & 0x80) != 0 ? Direction::kIngress : Direction::kEgress;
    const size_t captured = (ctl & 0x40) != 0 ? len / 2 : len;
    const uint64_t total = (ctl & 0x40) != 0 ? len + (ctl & 0x0f) * 1000 : len;
    DataChunk c{dir, clock, clock + 1, 1, seq[static_cast<int>(dir)], total, in.substr(0, captured)};
    seq[static_cast<int>(dir)] += static_cast<uint32_t>(total);
    clock += 2;
    stitcher.on_chunk(c, out);
    in.remove_prefix(len);
  }
  stitcher.on_close(clock, out);
  if (out.size() != stitcher.stats().records) __builtin_trap();
  for (const L7Record& r : out) {
    if (r.start_ns > r.end_ns) __builtin_trap();
  }

  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  http2::HpackDecoder known(512);
  known.set_known_from_start(true);
  http2::HeaderBlock block;
  known.decode(whole, &block, limits);
  if (block.fields.size() > limits.max_headers) __builtin_trap();
  http2::HpackDecoder unknown(512);
  http2::HeaderBlock block2;
  unknown.decode(whole, &block2, limits);
  if (unknown.table_size() > 512) __builtin_trap();
  std::string huff;
  http2::huffman_decode(whole, &huff);
  InferenceInput input;
  input.first_bytes = whole;
  http2::looks_like_message_start(input);
  return 0;
}
