#pragma once
// Redis entry points for the protocol registry.
#include <memory>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7::redis {

// A command as an array of bulk strings naming a known command ("*N\r\n$L\r\nGET..."). On the Redis port
// (6379) also an inline command or a reply, which are too weak a signature elsewhere.
bool looks_like_message_start(const InferenceInput& input);
std::unique_ptr<ProtocolStitcher> make_stitcher();

}  // namespace otelbpf::l7::redis
