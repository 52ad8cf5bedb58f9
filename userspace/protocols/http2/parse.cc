#include "protocols/http2/parse.h"

#include <algorithm>

#include "protocols/common/text.h"

namespace otelbpf::l7::http2 {
namespace {

uint32_t read_u32(std::string_view s) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[0])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[3]));
}

// Flags each frame type defines (RFC 9113 §6); a resynchronising parser treats others as noise.
uint8_t defined_flags(FrameType t) {
  switch (t) {
    case FrameType::kData:
      return flags::kEndStream | flags::kPadded;
    case FrameType::kHeaders:
      return flags::kEndStream | flags::kEndHeaders | flags::kPadded | flags::kPriority;
    case FrameType::kSettings:
    case FrameType::kPing:
      return flags::kAck;
    case FrameType::kPushPromise:
      return flags::kEndHeaders | flags::kPadded;
    case FrameType::kContinuation:
      return flags::kEndHeaders;
    default:
      return 0;
  }
}

}  // namespace

const char* to_string(FrameType t) {
  switch (t) {
    case FrameType::kData:
      return "DATA";
    case FrameType::kHeaders:
      return "HEADERS";
    case FrameType::kPriority:
      return "PRIORITY";
    case FrameType::kRstStream:
      return "RST_STREAM";
    case FrameType::kSettings:
      return "SETTINGS";
    case FrameType::kPushPromise:
      return "PUSH_PROMISE";
    case FrameType::kPing:
      return "PING";
    case FrameType::kGoaway:
      return "GOAWAY";
    case FrameType::kWindowUpdate:
      return "WINDOW_UPDATE";
    case FrameType::kContinuation:
      return "CONTINUATION";
  }
  return "UNKNOWN";
}

std::string error_code_name(uint32_t code) {
  static constexpr const char* kNames[] = {
      "NO_ERROR",
      "PROTOCOL_ERROR",
      "INTERNAL_ERROR",
      "FLOW_CONTROL_ERROR",
      "SETTINGS_TIMEOUT",
      "STREAM_CLOSED",
      "FRAME_SIZE_ERROR",
      "REFUSED_STREAM",
      "CANCEL",
      "COMPRESSION_ERROR",
      "CONNECT_ERROR",
      "ENHANCE_YOUR_CALM",
      "INADEQUATE_SECURITY",
      "HTTP_1_1_REQUIRED",
  };
  if (code < std::size(kNames)) return kNames[code];
  return "UNKNOWN_ERROR_" + std::to_string(code);
}

const std::string* HeaderBlock::find(std::string_view name) const {
  for (const auto& [n, v] : fields)
    if (iequals(n, name)) return &v;
  return nullptr;
}

ParseState parse_preface(std::string_view buf) {
  const size_t n = std::min(buf.size(), kClientPreface.size());
  if (buf.substr(0, n) != kClientPreface.substr(0, n)) return ParseState::kInvalid;
  return n == kClientPreface.size() ? ParseState::kSuccess : ParseState::kNeedsMoreData;
}

ParseState parse_frame_header(std::string_view buf, FrameHeader* h) {
  if (buf.size() < kFrameHeaderSize) return ParseState::kNeedsMoreData;
  const auto* b = reinterpret_cast<const uint8_t*>(buf.data());
  h->length = (static_cast<uint32_t>(b[0]) << 16) | (static_cast<uint32_t>(b[1]) << 8) | b[2];
  h->type = b[3];
  h->flags = b[4];
  const uint32_t sid = read_u32(buf.substr(5, 4));
  h->reserved_bit = (sid & 0x80000000u) != 0;
  h->stream_id = sid & 0x7fffffffu;
  return ParseState::kSuccess;
}

bool plausible_frame_header(const FrameHeader& h, uint32_t max_frame_size) {
  if (h.type > kMaxKnownFrameType || h.reserved_bit || h.length > max_frame_size) return false;
  const FrameType t = h.frame_type();
  if ((h.flags & ~defined_flags(t)) != 0) return false;
  const bool on_connection = h.stream_id == 0;
  switch (t) {
    case FrameType::kData:
    case FrameType::kHeaders:
    case FrameType::kContinuation:
      return !on_connection;
    case FrameType::kPriority:
      return !on_connection && h.length == 5;
    case FrameType::kRstStream:
      return !on_connection && h.length == 4;
    case FrameType::kSettings:
      return on_connection && h.length % 6 == 0 && (!h.has(flags::kAck) || h.length == 0);
    case FrameType::kPushPromise:
      // Promised by the server on a stream the client opened: odd ids only.
      return (h.stream_id & 1u) == 1u && h.length >= 4;
    case FrameType::kPing:
      return on_connection && h.length == 8;
    case FrameType::kGoaway:
      return on_connection && h.length >= 8;
    case FrameType::kWindowUpdate:
      return h.length == 4;
  }
  return false;
}

bool plausible_frame_run(std::string_view buf, uint32_t max_frame_size, size_t min_frames) {
  size_t pos = 0;
  size_t frames = 0;
  while (pos + kFrameHeaderSize <= buf.size()) {
    FrameHeader h;
    parse_frame_header(buf.substr(pos), &h);
    if (!plausible_frame_header(h, max_frame_size)) return false;
    ++frames;
    pos += kFrameHeaderSize + h.length;
  }
  // Trailing bytes shorter than a frame header are the start of the next frame: nothing to check.
  return frames >= min_frames;
}

ParseState frame_payload_fragment(const FrameHeader& h, std::string_view payload, std::string_view* fragment,
                                  uint32_t* promised_stream_id) {
  size_t start = 0;
  size_t pad = 0;
  const FrameType t = h.frame_type();
  const bool paddable = t == FrameType::kData || t == FrameType::kHeaders || t == FrameType::kPushPromise;
  if (paddable && h.has(flags::kPadded)) {
    if (payload.empty()) return h.length == 0 ? ParseState::kInvalid : ParseState::kNeedsMoreData;
    pad = static_cast<uint8_t>(payload[0]);
    start = 1;
  }
  if (t == FrameType::kHeaders && h.has(flags::kPriority)) start += 5;  // stream dependency + weight
  if (t == FrameType::kPushPromise) {
    if (payload.size() < start + 4)
      return h.length < start + 4 ? ParseState::kInvalid : ParseState::kNeedsMoreData;
    if (promised_stream_id != nullptr) *promised_stream_id = read_u32(payload.substr(start, 4)) & 0x7fffffffu;
    start += 4;
  }
  if (static_cast<uint64_t>(start) + pad > h.length) return ParseState::kInvalid;  // RFC 9113 §6.1
  const size_t end = std::min<size_t>(h.length - pad, payload.size());
  *fragment = start < end ? payload.substr(start, end - start) : std::string_view();
  return ParseState::kSuccess;
}

ParseState parse_settings(std::string_view payload, std::vector<std::pair<uint16_t, uint32_t>>* params) {
  if (payload.size() % 6 != 0) return ParseState::kInvalid;
  for (size_t i = 0; i < payload.size(); i += 6) {
    const uint16_t id =
        static_cast<uint16_t>((static_cast<uint8_t>(payload[i]) << 8) | static_cast<uint8_t>(payload[i + 1]));
    params->emplace_back(id, read_u32(payload.substr(i + 2, 4)));
  }
  return ParseState::kSuccess;
}

ParseState parse_rst_stream(std::string_view payload, uint32_t* error_code) {
  if (payload.size() < 4) return ParseState::kNeedsMoreData;
  *error_code = read_u32(payload);
  return ParseState::kSuccess;
}

ParseState parse_goaway(std::string_view payload, uint32_t* last_stream_id, uint32_t* error_code) {
  if (payload.size() < 8) return ParseState::kNeedsMoreData;
  *last_stream_id = read_u32(payload) & 0x7fffffffu;
  *error_code = read_u32(payload.substr(4));
  return ParseState::kSuccess;
}

FrameReader::FrameReader(Direction dir, Listener& listener, StitcherStats& stats, const Limits& limits)
    : FramerLoop(stats), dir_(dir), listener_(listener), limits_(limits) {}

uint32_t FrameReader::seq_at(size_t offset) const {
  return chunk_->tcp_seq == 0 ? 0 : chunk_->tcp_seq + static_cast<uint32_t>(offset);
}

size_t FrameReader::keep_limit(const FrameHeader& h) const {
  switch (h.frame_type()) {
    case FrameType::kHeaders:
    case FrameType::kPushPromise:
    case FrameType::kContinuation:
      return limits_.max_header_block_bytes;
    case FrameType::kSettings:
      return 6 * 32;
    case FrameType::kRstStream:
      return 4;
    case FrameType::kGoaway:
      return 8;
    case FrameType::kData:
      return 1;  // the pad length, to count body bytes without padding
    default:
      return 0;
  }
}

void FrameReader::lose(uint64_t skipped, bool parse_error) {
  stats_.bytes_skipped += skipped + header_buf_.size();
  header_buf_.clear();
  if (state_ == State::kLost) return;
  ++stats_.resyncs;
  if (parse_error) ++stats_.parse_errors;
  state_ = State::kLost;
  listener_.on_framing_lost(dir_, parse_error);
}

Start FrameReader::try_start(const DataChunk& /*chunk*/, std::string_view captured, uint64_t /*total*/) {
  const uint32_t max_size = std::min(max_frame_size_, limits_.resync_max_frame_size);
  for (size_t off = 0; off + kFrameHeaderSize <= captured.size(); ++off) {
    // At the chunk's start one plausible header is enough (a syscall starts at a frame boundary when
    // the writer writes whole frames); inside a chunk two in a row are needed.
    if (plausible_frame_run(captured.substr(off), max_size, off == 0 ? 1 : 2)) {
      stats_.bytes_skipped += off;
      state_ = State::kHeader;
      return {StartVerdict::kBegin, off};
    }
  }
  return StartVerdict::kSkip;
}

void FrameReader::begin_frame() {
  frame_.payload.clear();
  frame_.payload_complete = true;
  frame_.wire = head_wire_;
  frame_.wire.bytes = kFrameHeaderSize + frame_.header.length;
  remaining_ = frame_.header.length;
  header_buf_.clear();
  state_ = State::kPayload;
}

void FrameReader::finish_frame() {
  frame_.wire.end_ns = chunk_->ts_exit_ns;
  state_ = State::kHeader;
  listener_.on_frame(dir_, frame_);
}

size_t FrameReader::step(std::string_view rest, uint64_t offset) {
  switch (state_) {
    case State::kStart: {
      if (header_buf_.empty() && rest[0] != kClientPreface[0]) {
        state_ = State::kHeader;  // not a client: frames from the first byte
        return 0;
      }
      if (header_buf_.empty())
        head_wire_ = WireExtent{chunk_->ts_enter_ns, 0, seq_at(offset), chunk_->tid, 0};
      const size_t n = std::min(kClientPreface.size() - header_buf_.size(), rest.size());
      header_buf_.append(rest.substr(0, n));
      const ParseState s = parse_preface(header_buf_);
      if (s == ParseState::kInvalid) {
        lose(0, true);
      } else if (s == ParseState::kSuccess) {
        head_wire_.end_ns = chunk_->ts_exit_ns;
        head_wire_.bytes = kClientPreface.size();
        header_buf_.clear();
        saw_preface_ = true;
        state_ = State::kHeader;
        listener_.on_preface(dir_, head_wire_);
      }
      return n;
    }
    case State::kHeader: {
      if (header_buf_.empty())
        head_wire_ = WireExtent{chunk_->ts_enter_ns, 0, seq_at(offset), chunk_->tid, 0};
      const size_t n = std::min(kFrameHeaderSize - header_buf_.size(), rest.size());
      header_buf_.append(rest.substr(0, n));
      if (header_buf_.size() < kFrameHeaderSize) return n;
      parse_frame_header(header_buf_, &frame_.header);
      // In sync, unknown (extension) types and flags are allowed (RFC 9113 §4.1, §5.5); a length the
      // receiver never allowed or a malformed fixed-size frame means the bytes are not frames here.
      const FrameHeader& h = frame_.header;
      const bool known = h.type <= kMaxKnownFrameType;
      FrameHeader masked = h;
      masked.flags &= known ? defined_flags(h.frame_type()) : 0;
      masked.reserved_bit = false;
      if (h.length > max_frame_size_ || (known && !plausible_frame_header(masked, max_frame_size_))) {
        lose(0, true);
        return n;
      }
      begin_frame();
      if (remaining_ == 0) finish_frame();
      return n;
    }
    case State::kPayload: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
      const size_t keep = keep_limit(frame_.header);
      if (frame_.payload.size() < keep)
        frame_.payload.append(rest.substr(0, std::min(n, keep - frame_.payload.size())));
      remaining_ -= n;
      if (remaining_ == 0) finish_frame();
      return n;
    }
    case State::kLost:
      break;
  }
  return rest.size();
}

uint64_t FrameReader::skip_uncaptured(uint64_t n) {
  if (state_ != State::kPayload) return 0;
  const uint64_t k = std::min(n, remaining_);
  if (frame_.payload.size() < std::min<uint64_t>(keep_limit(frame_.header), frame_.header.length))
    frame_.payload_complete = false;
  remaining_ -= k;
  if (remaining_ == 0) finish_frame();
  return k;
}

}  // namespace otelbpf::l7::http2
