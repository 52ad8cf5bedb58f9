#include "protocols/http/entry.h"

#include "protocols/http/parse.h"
#include "protocols/http/stitcher.h"

namespace otelbpf::l7::http {

bool looks_like_message_start(const InferenceInput& input) {
  // Either direction may be first: a server picked up mid-connection may see a response before a request.
  if (input.udp) return false;
  MessageKind kind = MessageKind::kUnknown;
  return parse_message_start(input.first_bytes, &kind) == ParseState::kSuccess;
}

std::unique_ptr<ProtocolStitcher> make_stitcher() { return std::make_unique<Stitcher>(); }

}  // namespace otelbpf::l7::http
