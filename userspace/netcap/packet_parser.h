#pragma once
// The userspace twin of bpf/packet_parse.bpf.h: one frame in, the otelbpf_packet_event the tc program
// would emit for it out. The unit tests run it over scapy-made fixtures, and the kernel test checks that
// the real tc program (BPF_PROG_TEST_RUN) and this parser agree field by field on the same bytes.
#include <cstdint>
#include <span>

#include "bpf/events.h"

namespace otelbpf::netcap {

// Mirrors the kernel's verdicts and its counters (enum otelbpf_packet_counter).
enum class ParseOutcome : std::uint8_t {
  kEmit,        // an event (payload, a SYN/FIN/RST/zero-window control segment, a DNS datagram)
  kNoPayload,   // a TCP segment of no interest (pure ACK), an empty DNS datagram
  kOther,       // neither TCP nor DNS over UDP after decapsulation
  kUnparsable,  // cut short or malformed
};
const char* to_string(ParseOutcome o);

struct ParsedPacket {
  otelbpf_packet_event event{};
  std::span<const std::uint8_t> payload;  // the captured bytes (inside the frame)
};

struct FrameContext {
  std::uint32_t ifindex = 0;
  std::uint8_t direction = OTELBPF_TC_INGRESS;
  std::uint64_t ts_ns = 0;
  // The device has no link-layer header: the frame starts at the IP header, `l3_protocol` (an EtherType)
  // says which.
  bool l3 = false;
  std::uint16_t l3_protocol = 0;
  std::uint32_t payload_capture_bytes = 256;
};

ParseOutcome parse_frame(std::span<const std::uint8_t> frame, const FrameContext& ctx, ParsedPacket& out);

}  // namespace otelbpf::netcap
