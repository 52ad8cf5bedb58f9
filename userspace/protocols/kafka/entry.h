#pragma once
// Kafka entry points for the protocol registry.
#include <memory>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7::kafka {

// A Kafka request at the start of the bytes (responses carry no api key and cannot be told apart):
// known api key and version, sane correlation and client ids, and a size that matches the bytes or a
// body that parses (port 9092 as a tie-breaker).
bool looks_like_message_start(const InferenceInput& input);
std::unique_ptr<ProtocolStitcher> make_stitcher();

}  // namespace otelbpf::l7::kafka
