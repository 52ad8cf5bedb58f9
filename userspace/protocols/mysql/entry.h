#pragma once
// MySQL classic protocol entry points for the protocol registry.
#include <memory>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7::mysql {

// A server greeting, or a client command packet whose shape fits its command byte (either direction:
// a connection picked up mid-way shows commands first). A response start counts only on the MySQL port
// (3306), its signature being too weak alone.
bool looks_like_message_start(const InferenceInput& input);
std::unique_ptr<ProtocolStitcher> make_stitcher();

}  // namespace otelbpf::l7::mysql
