#pragma once
// MySQL bytes -> packets -> typed messages. The free functions parse one complete payload and say whether
// it is one (ParseState); PacketReader drives the framing over one direction of a connection, chunk by
// chunk, skipping payload bytes that the capture did not keep and waiting for a safe restart point when a
// packet header falls in a gap.
#include <cstdint>
#include <string_view>

#include "protocols/common/framer.h"
#include "protocols/common/record.h"
#include "protocols/common/stream.h"
#include "protocols/mysql/types.h"

namespace otelbpf::l7::mysql {

// Length-encoded integer at the front of `p` (consumed). False when cut or the 0xFB/0xFF markers.
bool parse_lenenc_int(std::string_view& p, uint64_t* value);

// A packet header at the front of `buf`: payload length and sequence id.
ParseState parse_packet_header(std::string_view buf, uint32_t* length, uint8_t* seq);

// Payload parsers; each wants the payload (no packet header).
ParseState parse_greeting(std::string_view payload, Greeting* out);
ParseState parse_handshake_response(std::string_view payload, HandshakeResponse* out);
ParseState parse_ok(std::string_view payload, OkPacket* out);  // header byte 0x00 or 0xFE
ParseState parse_err(std::string_view payload, ErrPacket* out);
ParseState parse_eof(std::string_view payload, uint64_t length, EofPacket* out);
ParseState parse_prepare_ok(std::string_view payload, PrepareOk* out);

// A packet that ends a run of column definitions or rows: an EOF packet, or with CLIENT_DEPRECATE_EOF the
// OK packet that replaces it (header 0xFE). A row starting with 0xFE would be a length-encoded string of
// 16 MiB or more, so its packet is a full 0xFFFFFF one.
inline bool is_terminator(std::string_view payload, uint64_t length) {
  return !payload.empty() && static_cast<uint8_t>(payload[0]) == 0xFE && length < kMaxPacketPayload;
}
// The classic 5-byte EOF (not the deprecate-EOF OK, which has at least 7 bytes).
inline bool is_classic_eof(std::string_view payload, uint64_t length) {
  return is_terminator(payload, length) && length < 7;
}

// Does `buf` (the first bytes of a chunk) start a client command packet whose shape fits its command
// byte? Strict, because inference uses it: sequence id 0, a known command, a length that fits the
// command, text commands starting with text. kNeedsMoreData for a plausible prefix too short to tell.
ParseState parse_command_start(std::string_view buf, uint8_t* command);
// Does `buf` start a server greeting (protocol version 10, a printable NUL-terminated version string)?
ParseState parse_greeting_start(std::string_view buf);
// A plausible first packet of a response (sequence id 1: OK, ERR, or a column count).
bool looks_like_response_start(std::string_view buf);

// One direction of one connection: bytes -> packets.
class PacketReader : public FramerLoop<PacketReader> {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_packet(Direction dir, Packet& packet) = 0;
    // Framing was lost (a header fell in a capture gap, or lose_sync): a partial packet was handed over
    // cut off. Called once when it happens, then again with the uncaptured bytes skipped after the loss
    // point of the chunk (they belong to whatever message was going on) and the chunk's exit time.
    virtual void on_framing_lost(Direction dir, uint64_t skipped_bytes, uint64_t ts_ns) = 0;
    // Framing is lost: may a packet start at the beginning of this chunk?
    virtual bool can_resync(Direction dir, std::string_view first_bytes) = 0;
  };

  PacketReader(Direction dir, Listener& listener, StitcherStats& stats, const Limits& limits);
  // Forget the framing and wait for a chunk the listener accepts.
  void lose_sync();
  // Stop parsing this direction for good (TLS, compression, replication stream).
  void disable() { state_ = State::kDisabled; }
  bool lost() const { return state_ == State::kLost; }
  bool disabled() const { return state_ == State::kDisabled; }
  // Whether a packet is partly read (between packets otherwise).
  bool mid_packet() const { return state_ == State::kPayload || header_len_ > 0 || continuing_; }

 private:
  friend class FramerLoop<PacketReader>;
  enum class State : uint8_t { kHeader, kPayload, kLost, kDisabled };

  // The chunk loop's hooks (protocols/common/framer.h).
  FramerMode mode() const;
  Start try_start(const DataChunk& chunk, std::string_view captured, uint64_t total);
  size_t step(std::string_view data, uint64_t pos);
  uint64_t skip_uncaptured(uint64_t n);
  void lost_in_gap(uint64_t pos, uint64_t rest);
  void finish_physical(uint64_t end_pos, uint64_t total);
  void reset_packet();

  Direction dir_;
  Listener& listener_;
  Limits limits_;
  State state_ = State::kHeader;
  char header_[kPacketHeaderSize] = {};
  size_t header_len_ = 0;
  uint32_t physical_len_ = 0;  // payload length of the physical packet being read
  uint64_t remaining_ = 0;     // its payload bytes still to come
  bool continuing_ = false;    // the previous physical packet was a full 0xFFFFFF one
  Packet cur_;
};

}  // namespace otelbpf::l7::mysql
