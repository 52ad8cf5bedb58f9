#include "protocols/dns/entry.h"

#include "protocols/dns/parse.h"
#include "protocols/dns/stitcher.h"

namespace otelbpf::l7::dns {

bool looks_like_message_start(const InferenceInput& input) {
  std::string_view msg = input.first_bytes;
  const bool port53 = input.local_port == kDnsPort || input.remote_port == kDnsPort;
  if (!input.udp) {
    // A server reading the length prefix with a syscall of its own: the whole message, by itself.
    Header bare;
    if (parse_header(msg, &bare) == ParseState::kSuccess && sane_header(bare, true) && parses_exactly(msg))
      return true;
    if (msg.size() < 2) return false;
    const size_t length = (static_cast<uint8_t>(msg[0]) << 8) | static_cast<uint8_t>(msg[1]);
    if (length < kHeaderSize) return false;
    // Some clients write the length prefix on its own: on the DNS port that is enough to go on.
    if (msg.size() == 2) return port53;
    msg.remove_prefix(2);
    if (msg.size() < length) {
      if (!port53) return false;  // the strong signature needs the whole message
    } else {
      msg = msg.substr(0, length);
    }
  }
  Header h;
  if (parse_header(msg, &h) != ParseState::kSuccess || !sane_header(h, true)) return false;
  if (!port53) return parses_exactly(msg);
  size_t pos = kHeaderSize;
  Question q;
  return parse_question(msg, &pos, &q) == ParseState::kSuccess;
}

std::unique_ptr<ProtocolStitcher> make_stitcher() { return std::make_unique<Stitcher>(); }

}  // namespace otelbpf::l7::dns
