#pragma once
// PostgreSQL entry points for the protocol registry.
#include <memory>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7::postgres {

// A start-up phase message (StartupMessage 3.x, SSLRequest, GSSENCRequest, CancelRequest), or a whole
// Query or Parse message carrying SQL text. On the PostgreSQL port (5432) also a Query/Parse message cut
// by the capture.
bool looks_like_message_start(const InferenceInput& input);
std::unique_ptr<ProtocolStitcher> make_stitcher();

}  // namespace otelbpf::l7::postgres
