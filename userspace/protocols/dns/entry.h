#pragma once
// DNS entry points for the protocol registry.
#include <memory>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7::dns {

// A DNS query or response at the start of the bytes: over UDP a datagram, over TCP behind its 2-byte
// length. Port 53 (either end) makes a sane header enough; elsewhere the whole message must parse to its
// last byte.
bool looks_like_message_start(const InferenceInput& input);
std::unique_ptr<ProtocolStitcher> make_stitcher();

}  // namespace otelbpf::l7::dns
