#pragma once
// HTTP/2 (and gRPC) entry points for the protocol registry.
#include <memory>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7::http2 {

// The client preface; a server's opening SETTINGS frame; or (a capture that starts mid-connection) a
// HEADERS frame on an odd stream whose block decodes, with the static table alone, to :method and :path
// or to :status. Every further frame header in the bytes must be plausible too.
bool looks_like_message_start(const InferenceInput& input);
std::unique_ptr<ProtocolStitcher> make_stitcher();

}  // namespace otelbpf::l7::http2
