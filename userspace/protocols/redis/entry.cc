#include "protocols/redis/entry.h"

#include "protocols/redis/parse.h"
#include "protocols/redis/stitcher.h"

namespace otelbpf::l7::redis {

constexpr uint16_t kRedisPort = 6379;

bool looks_like_message_start(const InferenceInput& input) {
  if (input.udp) return false;
  if (parse_request_start(input.first_bytes, false) == ParseState::kSuccess) return true;
  if (input.local_port != kRedisPort && input.remote_port != kRedisPort) return false;
  return parse_request_start(input.first_bytes, true) == ParseState::kSuccess ||
         parse_reply_start(input.first_bytes) == ParseState::kSuccess;
}

std::unique_ptr<ProtocolStitcher> make_stitcher() { return std::make_unique<Stitcher>(); }

}  // namespace otelbpf::l7::redis
