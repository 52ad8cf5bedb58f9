#include "protocols/kafka/entry.h"

#include "protocols/kafka/parse.h"
#include "protocols/kafka/stitcher.h"

namespace otelbpf::l7::kafka {

bool looks_like_message_start(const InferenceInput& input) {
  if (input.udp) return false;
  const bool kafka_port = input.local_port == kKafkaPort || input.remote_port == kKafkaPort;
  return looks_like_request(input.first_bytes, kafka_port) ||
         looks_like_unprefixed_request(input.first_bytes, kafka_port);
}

std::unique_ptr<ProtocolStitcher> make_stitcher() { return std::make_unique<Stitcher>(); }

}  // namespace otelbpf::l7::kafka
