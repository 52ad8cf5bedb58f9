#include "protocols/mysql/entry.h"

#include "protocols/mysql/parse.h"
#include "protocols/mysql/stitcher.h"

namespace otelbpf::l7::mysql {

namespace {
constexpr uint16_t kMysqlPort = 3306;
}

bool looks_like_message_start(const InferenceInput& input) {
  if (input.udp) return false;
  uint8_t command = 0;
  if (parse_greeting_start(input.first_bytes) == ParseState::kSuccess) return true;
  if (parse_command_start(input.first_bytes, &command) == ParseState::kSuccess) return true;
  const bool from_server_port = input.direction == Direction::kEgress ? input.local_port == kMysqlPort
                                                                      : input.remote_port == kMysqlPort;
  return from_server_port && looks_like_response_start(input.first_bytes);
}

std::unique_ptr<ProtocolStitcher> make_stitcher() { return std::make_unique<Stitcher>(); }

}  // namespace otelbpf::l7::mysql
