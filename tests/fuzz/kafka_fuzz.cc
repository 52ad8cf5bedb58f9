// libFuzzer target for the Kafka stitcher and its request/response parsers. The input is a script: each
// step's control byte picks the direction, how many bytes the syscall moved and how many were captured,
// so the fuzzer explores splits and capture truncation as well as byte content. The whole input is also
// parsed as a request and as a response of every deep-parsed API and version.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/kafka/entry.h"
#include "protocols/kafka/parse.h"
#include "protocols/kafka/stitcher.h"

using namespace otelbpf::l7;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  kafka::Limits limits;
  limits.max_pending_requests = 4;
  limits.max_kept_message_bytes = 256;
  limits.max_topics = 3;
  kafka::Stitcher stitcher(limits);
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
  kafka::Request req;
  kafka::parse_request(whole, &req, limits);
  for (int16_t key : {0, 1, 2, 3, 10, 12, 18, 22}) {
    for (int16_t version = 0; version <= 16; ++version) {
      kafka::Response resp;
      kafka::parse_response(whole, key, version, &resp, limits);
      if (resp.topics.size() > limits.max_topics) __builtin_trap();
    }
  }
  InferenceInput inference;
  inference.first_bytes = whole;
  kafka::looks_like_message_start(inference);
  return 0;
}
