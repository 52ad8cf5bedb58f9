#pragma once
// Kafka bytes -> requests and responses. The free functions parse one message (the bytes after its size
// prefix) and say whether it is complete (ParseState): a capture cut inside the body is kNeedsMoreData
// with what was read so far kept. Framer cuts one direction of a connection into messages by their size
// prefix, counting what the capture did not keep.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/framer.h"
#include "protocols/common/record.h"
#include "protocols/common/stream.h"
#include "protocols/kafka/types.h"

namespace otelbpf::l7::kafka {

// Highest version of the API this parser knows of (-1 for an unknown key); requests up to a few versions
// beyond it are still recognised by key.
int16_t max_known_version(int16_t api_key);
// Whether this version of the API uses the flexible encoding (KIP-482: compact strings and arrays,
// tagged fields), which also selects request header v2 and response header v1.
bool is_flexible(int16_t api_key, int16_t api_version);
// messaging.operation.name: "produce", "fetch", "metadata", "api_versions", ... ("api_<key>" unknown).
std::string operation_name(int16_t api_key);
// "UNKNOWN_TOPIC_OR_PARTITION", ... ("ERROR_<code>" for codes without a name here).
std::string error_name(int16_t code);

// Request header (v1, or v2 with tagged fields for flexible versions). On success *body is the offset
// of the body in `msg`.
ParseState parse_request_header(std::string_view msg, Request* req, size_t* body);

// Header, and the body of Produce (topics, partitions, acks), Fetch (topics, partitions) and Metadata
// (topics) up to Limits::max_topics. kNeedsMoreData (body_truncated set) when msg ends inside them.
ParseState parse_request(std::string_view msg, Request* req, const Limits& limits = {});
// The same, telling where the parse stopped (msg.size() for APIs whose body is not read).
ParseState parse_request(std::string_view msg, Request* req, const Limits& limits, size_t* end);

// Response to a request of api_key/api_version: the correlation id, and for Produce, Fetch, Metadata and
// the APIs with a top-level error code, the first non-zero error code (and Metadata's topics).
ParseState parse_response(std::string_view msg, int16_t api_key, int16_t api_version, Response* resp,
                          const Limits& limits = {});

// Whether `bytes` (starting at a size prefix) look like the start of a request: known key and version,
// sane correlation and client ids. A whole Produce/Fetch/Metadata/ListOffsets must parse to its last
// byte; other keys must match the size exactly. `lenient` (the Kafka port, or a connection already known
// to be Kafka) also accepts a request cut inside its header or body, or followed by more bytes.
bool looks_like_request(std::string_view bytes, bool lenient);
// A whole request without its size prefix: what a broker that reads the 4-byte size with a syscall of
// its own (Kafka's own network layer does) shows next. Produce/Fetch/Metadata/ListOffsets must parse to
// the last byte; other keys pass only when `kafka_port`.
bool looks_like_unprefixed_request(std::string_view bytes, bool kafka_port);

// One direction of a connection: [size:int32][message] repeated.
class Framer : public FramerLoop<Framer> {
 public:
  // After framing is lost, whether a chunk's captured bytes begin a message of this direction.
  using StartCheck = std::function<bool(std::string_view)>;
  // A whole message (or the captured part of it): `kept` is what was kept of its bytes after the size.
  using Sink = std::function<void(std::string_view kept, bool cut, const WireExtent& wire)>;

  // `starts_unprefixed`: after framing is lost, whether a whole chunk is a message whose size prefix was
  // read by a syscall of its own (its size is the chunk's).
  Framer(StitcherStats& stats, const Limits& limits, StartCheck starts_message, StartCheck starts_unprefixed);

  void feed(const DataChunk& chunk, const Sink& sink);
  // The connection closed: a message cut by the close is handed over as far as it was seen.
  void finish(const Sink& sink);

 private:
  friend class FramerLoop<Framer>;
  enum class State : uint8_t { kAwaitStart, kSize, kBody };

  // The chunk loop's hooks (protocols/common/framer.h).
  FramerMode mode() const {
    return state_ == State::kAwaitStart ? FramerMode::kAwaitStart : FramerMode::kParse;
  }
  Start try_start(const DataChunk& chunk, std::string_view captured, uint64_t total);
  size_t step(std::string_view rest, uint64_t pos);
  uint64_t skip_uncaptured(uint64_t n);
  // The next size prefix was not captured: the following boundaries are unknown.
  void lost_in_gap(uint64_t /*pos*/, uint64_t rest) { lose_sync(rest); }
  // try_start_held's hooks: a size prefix and a request header's fixed part (api key, version,
  // correlation id) are needed to judge.
  static bool too_short_to_judge(size_t bytes) { return bytes < 14; }
  bool starts_message(std::string_view bytes) const { return starts_message_(bytes); }
  bool frame_unprefixed(const DataChunk& chunk, std::string_view captured, uint64_t total);
  void begin_at_start();
  void body_done();
  void lose_sync(uint64_t skipped);

  Limits limits_;
  const Sink* sink_ = nullptr;  // where the feed being run hands whole messages
  StartCheck starts_message_;
  StartCheck starts_unprefixed_;
  State state_ = State::kAwaitStart;
  uint8_t size_bytes_ = 0;
  uint32_t size_ = 0;
  uint64_t remaining_ = 0;
  bool gap_ = false;
  std::string body_;
  WireExtent wire_;
  HeldChunk held_;  // kAwaitStart: a chunk too short to judge (a write split early), until the next one
};

}  // namespace otelbpf::l7::kafka
