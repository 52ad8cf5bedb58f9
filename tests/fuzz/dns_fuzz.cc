// libFuzzer target for the DNS stitcher (UDP and TCP) and its name parser. The input is a script: the
// first byte picks the transport; then each step's control byte picks the direction, how many bytes the
// syscall moved and how many were captured, so the fuzzer explores splits and capture truncation as well
// as byte content (compression pointer loops included).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/dns/entry.h"
#include "protocols/dns/parse.h"
#include "protocols/dns/stitcher.h"

using namespace otelbpf::l7;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty()) return 0;
  const bool tcp = (static_cast<uint8_t>(in.front()) & 1) != 0;
  in.remove_prefix(1);

  dns::Limits limits;
  limits.max_pending_queries = 4;
  limits.max_kept_message_bytes = 64;
  limits.query_timeout_ns = 50;
  dns::Stitcher stitcher(limits);
  std::vector<L7Record> out;
  uint64_t clock = 0;
  uint32_t seq[2] = {1, 1};
  while (!in.empty()) {
    const uint8_t ctl = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    const size_t len = std::min<size_t>(in.size(), 1 + (ctl & 0x3f));
    const auto dir = (ctl & 0x80) != 0 ? Direction::kIngress : Direction::kEgress;
    const size_t captured = (ctl & 0x40) != 0 ? len / 2 : len;
    const uint64_t total = (ctl & 0x40) != 0 ? len + (ctl & 0x0f) * 100 : len;
    DataChunk c{
        dir, clock, clock + 1, 1, tcp ? seq[static_cast<int>(dir)] : 0, total, in.substr(0, captured)};
    seq[static_cast<int>(dir)] += static_cast<uint32_t>(total);
    clock += 7;
    stitcher.on_chunk(c, out);
    in.remove_prefix(len);
  }
  stitcher.on_close(clock, out);
  if (out.size() != stitcher.stats().records) __builtin_trap();
  for (const L7Record& r : out) {
    if (r.start_ns > r.end_ns) __builtin_trap();
  }

  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  for (size_t off = 0; off < std::min<size_t>(whole.size(), 16); ++off) {
    size_t pos = off;
    std::string name;
    dns::parse_name(whole, &pos, &name);
    if (name.size() > 4 * 255) __builtin_trap();  // escaped presentation form of at most 255 wire bytes
  }
  dns::parses_exactly(whole);
  InferenceInput inference;
  inference.first_bytes = whole;
  inference.udp = !tcp;
  inference.remote_port = 53;
  dns::looks_like_message_start(inference);
  return 0;
}
