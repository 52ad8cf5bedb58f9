#include "protocols/http2/entry.h"

#include "protocols/http2/hpack.h"
#include "protocols/http2/parse.h"
#include "protocols/http2/stitcher.h"

namespace otelbpf::l7::http2 {
namespace {

// The preface fragment long enough to be unmistakable ("PRI * HTTP/2.0").
constexpr size_t kPrefaceSignature = 14;
constexpr uint32_t kMaxOpeningSettings = 6 * 16;

bool known_setting(uint16_t id) { return (id >= 1 && id <= 6) || id == 8 || id == 9; }

bool opening_settings(std::string_view bytes, const FrameHeader& h) {
  if (h.frame_type() != FrameType::kSettings || h.flags != 0 || h.length > kMaxOpeningSettings) return false;
  std::vector<std::pair<uint16_t, uint32_t>> params;
  const std::string_view payload = bytes.substr(kFrameHeaderSize, h.length);
  if (parse_settings(payload.substr(0, payload.size() - payload.size() % 6), &params) != ParseState::kSuccess)
    return false;
  for (const auto& [id, value] : params) {
    if (!known_setting(id)) return false;
    if (id == settings::kEnablePush && value > 1) return false;
  }
  return true;
}

bool request_or_response_headers(std::string_view bytes, const FrameHeader& h) {
  if (h.frame_type() != FrameType::kHeaders || (h.stream_id & 1u) == 0 || !h.has(flags::kEndHeaders))
    return false;
  if (bytes.size() < kFrameHeaderSize + h.length) return false;  // the whole block must be visible
  std::string_view fragment;
  if (frame_payload_fragment(h, bytes.substr(kFrameHeaderSize, h.length), &fragment) != ParseState::kSuccess)
    return false;
  HpackDecoder decoder;  // table unknown: only static and literal fields decode
  HeaderBlock block;
  if (decoder.decode(fragment, &block) != ParseState::kSuccess || block.fields.empty()) return false;
  // Pseudo-header fields come first (RFC 9113 §8.3).
  if (block.fields.front().first.empty() || block.fields.front().first[0] != ':') return false;
  if (block.find(":status") != nullptr) return block.find(":status")->size() == 3;
  return block.find(":method") != nullptr && block.find(":path") != nullptr;
}

}  // namespace

bool looks_like_message_start(const InferenceInput& input) {
  if (input.udp) return false;
  const std::string_view bytes = input.first_bytes;
  if (bytes.size() >= kPrefaceSignature && parse_preface(bytes) != ParseState::kInvalid) return true;
  FrameHeader h;
  if (parse_frame_header(bytes, &h) != ParseState::kSuccess) return false;
  if (!plausible_frame_run(bytes, kDefaultMaxFrameSize)) return false;
  return opening_settings(bytes, h) || request_or_response_headers(bytes, h);
}

std::unique_ptr<ProtocolStitcher> make_stitcher() { return std::make_unique<Stitcher>(); }

}  // namespace otelbpf::l7::http2
