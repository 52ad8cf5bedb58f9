#pragma once
// The byte-stream model every protocol parser consumes. The syscall path (one DataChunk per read/write
// syscall) and the packet path (one DataChunk per TCP segment payload) both feed it, so parsers never
// know where their bytes came from.
#include <cstdint>
#include <string_view>

namespace otelbpf::l7 {

// Seen from the traced process: it wrote the bytes (egress) or read them (ingress).
enum class Direction : uint8_t { kEgress, kIngress };

constexpr Direction opposite(Direction d) {
  return d == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
}
const char* to_string(Direction d);

// One syscall's worth (or one segment's worth) of a connection's bytes in one direction.
struct DataChunk {
  Direction direction = Direction::kEgress;
  uint64_t ts_enter_ns = 0;
  uint64_t ts_exit_ns = 0;
  uint32_t tid = 0;
  // TCP sequence number of the first byte of this chunk (0 when unknown).
  uint32_t tcp_seq = 0;
  // How many bytes the syscall really moved. The kernel captures only the first N bytes of a syscall, so
  // `captured` may be shorter: parsers count message boundaries by total_bytes and skip what is missing.
  uint64_t total_bytes = 0;
  std::string_view captured;
};

// Result of one parsing step (Pixie Stirling's convention, shared by every protocol).
enum class ParseState : uint8_t {
  kSuccess,        // a complete unit was parsed
  kNeedsMoreData,  // nothing wrong so far, but the unit is not complete yet
  kInvalid,        // the bytes cannot be this protocol at this position
};
const char* to_string(ParseState s);

// Where one message sat in its direction's stream; every protocol's frames carry one.
struct WireExtent {
  uint64_t start_ns = 0;  // ts_enter of the chunk that carried the first byte
  uint64_t end_ns = 0;    // ts_exit of the chunk that carried the last byte
  uint32_t seq = 0;       // TCP sequence number of the first byte (chunk tcp_seq + offset, wrapping)
  uint32_t tid = 0;       // thread of the chunk that carried the first byte
  uint64_t bytes = 0;     // wire bytes, counted by total_bytes (uncaptured bytes included)
};

// What protocol inference sees of a chunk that may begin a message: the bytes, and the socket's context
// (binary protocols are told apart by transport and ports where the bytes alone are ambiguous).
struct InferenceInput {
  std::string_view first_bytes;
  Direction direction = Direction::kEgress;
  bool udp = false;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
};

}  // namespace otelbpf::l7
