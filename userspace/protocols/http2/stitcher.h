#pragma once
// HTTP/2 frames -> request/response records. Streams are multiplexed on one connection and their frames
// interleave, so exchanges are paired by stream id, not by order: a stream's record is emitted once both
// halves ended (END_STREAM each way) or the stream was reset. Header blocks are decoded with one HPACK
// decoder per direction (each direction has its own encoder and dynamic table).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/http2/hpack.h"
#include "protocols/http2/parse.h"
#include "protocols/http2/types.h"

namespace otelbpf::l7::http2 {

// One stream as the stitcher assembles it.
struct StreamExchange {
  uint32_t id = 0;
  Direction request_dir = Direction::kEgress;
  bool pushed = false;  // promised by the server (PUSH_PROMISE): the request came from the server too
  HeaderBlock request;
  HeaderBlock response;  // the final (non-1xx) response header block
  HeaderBlock trailers;
  bool response_seen = false;
  bool trailers_seen = false;
  WireExtent request_wire;   // first byte of the request HEADERS .. last byte of the request
  WireExtent response_wire;  // first byte of the first response HEADERS (or RST_STREAM) .. last byte
  uint64_t request_body = 0;
  uint64_t response_body = 0;
  bool request_ended = false;
  bool response_ended = false;
  bool reset = false;  // RST_STREAM (either side)
  uint32_t reset_code = 0;
  bool refused_by_goaway = false;
};

class Stitcher final : public ProtocolStitcher, private FrameReader::Listener {
 public:
  explicit Stitcher(const Limits& limits = {});

  void on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) override;
  void on_close(uint64_t ts_ns, std::vector<L7Record>& out) override;

  // Header blocks that referenced unknown dynamic-table entries or were cut (also in truncated_headers).
  uint64_t incomplete_header_blocks() const { return incomplete_blocks_; }
  size_t open_streams() const { return streams_.size(); }
  const HpackDecoder& decoder(Direction d) const { return decoders_[index(d)]; }

 private:
  // A header block being collected: HEADERS or PUSH_PROMISE, then CONTINUATIONs until END_HEADERS.
  struct PendingBlock {
    bool active = false;
    FrameType type = FrameType::kHeaders;
    uint32_t stream_id = 0;
    uint32_t promised_id = 0;
    bool end_stream = false;
    bool cut = false;  // part of the block was not captured or went over the buffer bound
    std::string fragments;
    WireExtent wire;  // first frame's start .. last frame's end; bytes of all its frames
  };

  static size_t index(Direction d) { return d == Direction::kEgress ? 0 : 1; }

  void on_preface(Direction dir, const WireExtent& wire) override;
  void on_frame(Direction dir, const Frame& frame) override;
  void on_framing_lost(Direction dir, bool garbage) override;

  void start_block(Direction dir, const Frame& frame);
  void continue_block(Direction dir, const Frame& frame);
  void finish_block(Direction dir);
  void on_header_block(Direction dir, PendingBlock& pb, HeaderBlock block);
  void on_data(Direction dir, const Frame& frame);
  void on_rst(Direction dir, const Frame& frame);
  void on_goaway(Direction dir, const Frame& frame);
  void on_settings(Direction dir, const Frame& frame);
  void set_client_direction(Direction dir);
  // Evidence that a capture gap in `dir` swallowed a header block: the tentative table is then wrong.
  void header_block_went_missing(Direction dir);
  StreamExchange* open_stream(uint32_t id, Direction request_dir);
  void maybe_emit(uint32_t id);
  void emit(const StreamExchange& s, uint64_t missing_end_ns);

  Limits limits_;
  FrameReader readers_[2];
  HpackDecoder decoders_[2];
  PendingBlock blocks_[2];
  bool first_frame_seen_[2] = {false, false};
  std::optional<Direction> client_dir_;
  uint32_t last_client_stream_ = 0;  // highest stream id the client opened
  std::map<uint32_t, StreamExchange> streams_;  // by id: the lowest is the oldest
  uint64_t incomplete_blocks_ = 0;
  std::vector<L7Record>* out_ = nullptr;
};

// Builds the record of one stream (exposed for tests).
L7Record make_record(const StreamExchange& s, Role role);

// gRPC status code name (0 OK .. 16 UNAUTHENTICATED), or the number as text.
std::string grpc_status_name(int64_t code);

}  // namespace otelbpf::l7::http2
