#include "protocols/registry/protocol.h"

#include "protocols/http/entry.h"

namespace otelbpf::l7 {
namespace {

struct ProtocolEntry {
  Protocol protocol;
  const char* name;
  bool (*looks_like_message_start)(const InferenceInput&);
  std::unique_ptr<ProtocolStitcher> (*make_stitcher)();
};

// Inference order: the most specific signatures first, so a permissive matcher never shadows a strict one.
const ProtocolEntry kProtocols[] = {
    {Protocol::kHttp1, "http1", http::looks_like_message_start, http::make_stitcher},
};

const ProtocolEntry* entry_of(Protocol p) {
  for (const auto& e : kProtocols)
    if (e.protocol == p) return &e;
  return nullptr;
}

}  // namespace

const char* to_string(Protocol p) {
  if (const auto* e = entry_of(p)) return e->name;
  return "unknown";
}

Protocol infer_protocol(const InferenceInput& input) {
  if (input.first_bytes.empty()) return Protocol::kUnknown;
  for (const auto& e : kProtocols)
    if (e.looks_like_message_start(input)) return e.protocol;
  return Protocol::kUnknown;
}

Protocol infer_protocol(std::string_view first_bytes, Direction dir) {
  InferenceInput input;
  input.first_bytes = first_bytes;
  input.direction = dir;
  return infer_protocol(input);
}

bool is_message_start(Protocol p, const InferenceInput& input) {
  const auto* e = entry_of(p);
  return e && !input.first_bytes.empty() && e->looks_like_message_start(input);
}

std::unique_ptr<ProtocolStitcher> make_stitcher(Protocol p) {
  const auto* e = entry_of(p);
  return e ? e->make_stitcher() : nullptr;
}

}  // namespace otelbpf::l7
