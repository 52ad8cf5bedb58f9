#include "protocols/common/protocol.h"

#include "protocols/http/parse.h"
#include "protocols/http/stitcher.h"

namespace otelbpf::l7 {

const char* to_string(Protocol p) {
  switch (p) {
    case Protocol::kHttp1:
      return "http1";
    case Protocol::kUnknown:
      break;
  }
  return "unknown";
}

Protocol infer_protocol(std::string_view first_bytes, Direction dir) {
  // Either direction may be first: a server picked up mid-connection may see a response before a request.
  http::MessageKind kind = http::MessageKind::kUnknown;
  if (http::ParseMessageStart(first_bytes, &kind) == ParseState::kSuccess) return Protocol::kHttp1;
  return Protocol::kUnknown;
}

std::unique_ptr<ProtocolStitcher> make_stitcher(Protocol p) {
  switch (p) {
    case Protocol::kHttp1:
      return std::make_unique<http::Stitcher>();
    case Protocol::kUnknown:
      break;
  }
  return nullptr;
}

}  // namespace otelbpf::l7
