#pragma once
// HTTP/1.x entry points for the protocol registry.
#include <memory>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7::http {

// A request line (known method + space) or a status line (HTTP/1.x NNN) at the start of the bytes.
bool looks_like_message_start(const InferenceInput& input);
std::unique_ptr<ProtocolStitcher> make_stitcher();

}  // namespace otelbpf::l7::http
