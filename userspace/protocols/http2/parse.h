#pragma once
// HTTP/2 bytes -> frames. The free functions parse one unit of a buffer and say whether it is complete
// (ParseState); FrameReader drives them over one direction of a connection, chunk by chunk: it skips
// payload bytes the capture did not keep by the frame's length, and when a frame header itself was not
// captured it waits for a chunk that starts with a plausible frame header (syscalls write whole frames).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/common/framer.h"
#include "protocols/common/record.h"
#include "protocols/common/stream.h"
#include "protocols/http2/types.h"

namespace otelbpf::l7::http2 {

// The client connection preface at the start of buf: kSuccess, kNeedsMoreData for a proper prefix of it.
ParseState parse_preface(std::string_view buf);

// The 9-byte frame header at the start of buf.
ParseState parse_frame_header(std::string_view buf, FrameHeader* h);

// Whether a frame header could be real, for finding frame boundaries without context: a known type,
// length within max_frame_size and what the type allows, the stream-id rules of RFC 9113 §6 (PUSH_PROMISE
// on odd streams only), only flags the type defines, reserved bit clear.
bool plausible_frame_header(const FrameHeader& h, uint32_t max_frame_size);

// Whether buf, which should start at a frame boundary, looks like HTTP/2 frames: the first header is
// plausible and so is every following header that lies within buf (a frame running past the end of buf
// is fine). `min_frames` frames must be fully or partly visible.
bool plausible_frame_run(std::string_view buf, uint32_t max_frame_size, size_t min_frames = 1);

// The header-block fragment of a HEADERS or PUSH_PROMISE payload (padding, priority and the promised
// stream id removed), or the data of a DATA payload. kInvalid when padding exceeds the payload.
ParseState frame_payload_fragment(const FrameHeader& h, std::string_view payload, std::string_view* fragment,
                                  uint32_t* promised_stream_id = nullptr);

// SETTINGS parameters in order; kInvalid when the length is not a multiple of 6.
ParseState parse_settings(std::string_view payload, std::vector<std::pair<uint16_t, uint32_t>>* params);
// RST_STREAM error code.
ParseState parse_rst_stream(std::string_view payload, uint32_t* error_code);
// GOAWAY last stream id and error code (the debug data is ignored).
ParseState parse_goaway(std::string_view payload, uint32_t* last_stream_id, uint32_t* error_code);

// One frame as the reader delivers it.
struct Frame {
  FrameHeader header;
  WireExtent wire;      // wire.seq: first byte of the frame header; wire.bytes = 9 + length
  std::string payload;  // the payload prefix this parser keeps for the type (all of it for header blocks)
  bool payload_complete = true;  // every kept byte was captured
};

// One direction of one connection.
class FrameReader : public FramerLoop<FrameReader> {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_preface(Direction dir, const WireExtent& wire) = 0;
    virtual void on_frame(Direction dir, const Frame& frame) = 0;
    // Frame boundaries were lost: frames may be missing until the reader finds a frame header again.
    // `garbage`: the bytes were not frames; otherwise whole frames went by in bytes the capture did not keep.
    virtual void on_framing_lost(Direction dir, bool garbage) = 0;
  };

  FrameReader(Direction dir, Listener& listener, StitcherStats& stats, const Limits& limits);

  // SETTINGS_MAX_FRAME_SIZE of the receiver of this direction (from the other direction's SETTINGS).
  void set_max_frame_size(uint32_t size) { max_frame_size_ = size; }
  bool lost() const { return state_ == State::kLost; }
  bool saw_preface() const { return saw_preface_; }

 private:
  friend class FramerLoop<FrameReader>;
  enum class State : uint8_t {
    kStart,    // the direction's first bytes: a client preface or a frame
    kHeader,   // collecting a frame header
    kPayload,  // inside a payload
    kLost,     // waiting for a chunk that starts a frame
  };

  // The chunk loop's hooks (protocols/common/framer.h).
  FramerMode mode() const { return state_ == State::kLost ? FramerMode::kAwaitStart : FramerMode::kParse; }
  Start try_start(const DataChunk& chunk, std::string_view captured, uint64_t total);
  size_t step(std::string_view rest, uint64_t offset);
  uint64_t skip_uncaptured(uint64_t n);
  // A frame header fell into the bytes the capture did not keep: boundaries are unknown from here.
  void lost_in_gap(uint64_t /*pos*/, uint64_t rest) { lose(rest, false); }
  void begin_frame();
  void finish_frame();
  void lose(uint64_t skipped, bool parse_error);
  size_t keep_limit(const FrameHeader& h) const;
  uint32_t seq_at(size_t offset) const;

  Direction dir_;
  Listener& listener_;
  Limits limits_;
  uint32_t max_frame_size_ = kDefaultMaxFrameSize;
  State state_ = State::kStart;
  bool saw_preface_ = false;
  std::string header_buf_;  // frame header or preface bytes collected so far
  WireExtent head_wire_;    // where the frame (or preface) being collected began
  Frame frame_;
  uint64_t remaining_ = 0;  // payload bytes still to come
};

}  // namespace otelbpf::l7::http2
