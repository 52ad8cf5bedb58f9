#pragma once
// The one chunk loop every protocol's framer runs (the loop Pixie's socket tracer writes once as
// ParseFrames). The protocols differ in how a message is delimited, not in how a chunk is walked:
//
//   1. At a chunk boundary the framer is in one of four modes. Stopped (TLS, a tunnel, a replication
//      stream): the chunk is ignored. Absorbing (a reply whose framing was lost): the chunk belongs to
//      the lost message until the peer moves on, or it starts a new message. Awaiting a start (before the
//      first message, or after framing was lost): only a chunk whose first bytes start a message is a
//      safe place to begin; any other is skipped whole.
//   2. Parsing: the captured prefix of the chunk is handed to step() until it is used up or framing is
//      lost. The kernel captures only the first N bytes of a syscall or segment, so the rest of the chunk
//      is known by count alone: skip_uncaptured() passes over it while a length-delimited body is open;
//      a message boundary inside bytes nobody saw loses the framing (lost_in_gap()).
//   3. Bytes left in a chunk after framing was lost mid-chunk are counted as skipped (left_unparsed()).
//
// A framer derives from FramerLoop<Self> and provides, as members the loop calls:
//   FramerMode mode() const;
//   Start try_start(const DataChunk& chunk, std::string_view captured, uint64_t total);
//   bool absorb(const DataChunk& chunk, std::string_view captured, uint64_t total);  // true: chunk taken
//   size_t step(std::string_view rest, uint64_t pos);   // consume captured bytes at chunk offset pos
//   uint64_t skip_uncaptured(uint64_t n);               // open body bytes passed by count (0: none open)
//   void lost_in_gap(uint64_t pos, uint64_t rest);      // a boundary lies in the uncaptured rest
// and may replace left_unparsed() (the default counts the bytes as skipped) when its own loss handling
// already accounted for them; absorb() is needed only by framers that ever report kAbsorb.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7 {

enum class FramerMode : uint8_t { kParse, kAwaitStart, kAbsorb, kStopped };

// What try_start decided about a chunk while awaiting a message start.
enum class StartVerdict : uint8_t {
  kBegin,  // a message starts at the chunk's first byte: parse it
  kSkip,   // it does not: the chunk is skipped whole (counted)
  kTaken,  // the framer dealt with the chunk itself (held it to judge with the next one, or framed it)
};
struct Start {
  Start(StartVerdict v, uint64_t at = 0) : verdict(v), offset(at) {}  // NOLINT: a verdict is a Start at 0
  StartVerdict verdict;
  // kBegin: where in the chunk the first message starts (a framer that finds a frame run inside the chunk
  // has counted the bytes before it as skipped).
  uint64_t offset;
};

// A chunk held back while awaiting a message start (see FramerLoop::try_start_held).
struct HeldChunk {
  std::string bytes;  // the held chunks' bytes, joined
  DataChunk chunk;    // the first of them (its times, thread and sequence number)
};

template <class Framer>
class FramerLoop {
 public:
  explicit FramerLoop(StitcherStats& stats) : stats_(stats) {}

  void feed(const DataChunk& chunk) {
    Framer& self = static_cast<Framer&>(*this);
    const std::string_view captured = chunk.captured;
    const uint64_t total = std::max<uint64_t>(chunk.total_bytes, captured.size());
    if (total == 0) return;
    const ChunkScope scope(*this, chunk);
    if (self.mode() == FramerMode::kStopped) return;
    if (self.mode() == FramerMode::kAbsorb && self.absorb(chunk, captured, total)) return;
    uint64_t begin = 0;
    if (self.mode() == FramerMode::kAwaitStart) {
      const Start start = self.try_start(chunk, captured, total);
      switch (start.verdict) {
        case StartVerdict::kSkip:
          stats_.bytes_skipped += total;
          return;
        case StartVerdict::kTaken:
          return;
        case StartVerdict::kBegin:
          begin = start.offset;
          break;
      }
    }
    parse_chunk(captured, total, begin);
  }

  // Bytes left in a chunk when framing was lost in the middle of it (the framer is awaiting a start).
  void left_unparsed(uint64_t rest) { stats_.bytes_skipped += rest; }
  // For framers that never absorb (their mode is never kAbsorb).
  bool absorb(const DataChunk& /*chunk*/, std::string_view /*captured*/, uint64_t /*total*/) { return false; }

 protected:
  // Step 2 and 3 over one chunk from its first byte. A framer that held back a short chunk (to judge
  // whether a message starts there) replays it through here before the chunk that completed it.
  void parse_chunk(std::string_view captured, uint64_t total, uint64_t pos = 0) {
    Framer& self = static_cast<Framer&>(*this);
    while (pos < total && self.mode() == FramerMode::kParse) {
      if (pos < captured.size()) {
        pos += self.step(captured.substr(pos), pos);
        continue;
      }
      const uint64_t skipped = self.skip_uncaptured(total - pos);
      if (skipped == 0) {
        self.lost_in_gap(pos, total - pos);
        return;
      }
      pos += skipped;
    }
    if (pos < total && self.mode() == FramerMode::kAwaitStart) self.left_unparsed(total - pos);
  }

  // try_start for length-prefixed protocols (DNS over TCP, Kafka), whose first bytes say little: a chunk
  // too short to judge (a write split early, a size prefix written on its own) is held back and judged
  // together with the next one, then parsed first when a message starts in it. The framer provides
  //   bool too_short_to_judge(size_t bytes) const;
  //   bool starts_message(std::string_view bytes) const;
  //   bool frame_unprefixed(const DataChunk& chunk, std::string_view captured, uint64_t total);
  //       (a whole message read without its prefix, by a reader that read the prefix on its own: framed
  //        and handed over, true; or false)
  //   void begin_at_start();  // enter the state of a message's first byte
  Start try_start_held(HeldChunk& held, const DataChunk& chunk, std::string_view captured, uint64_t total) {
    Framer& self = static_cast<Framer&>(*this);
    const bool whole = captured.size() == total;
    if (!held.bytes.empty() && !whole) {
      // The held bytes' continuation was not captured: nothing to judge them by.
      drop_held(held);
      return StartVerdict::kSkip;
    }
    std::string joined = held.bytes;
    joined.append(captured);
    if (whole && self.too_short_to_judge(joined.size())) {
      if (held.bytes.empty()) held.chunk = chunk;
      held.bytes = std::move(joined);
      return StartVerdict::kTaken;
    }
    if (!self.starts_message(joined)) {
      if (held.bytes.empty() && whole && self.frame_unprefixed(chunk, captured, total))
        return StartVerdict::kTaken;
      drop_held(held);
      return StartVerdict::kSkip;
    }
    self.begin_at_start();
    if (!held.bytes.empty()) {
      // The held chunk starts the message: parse it first, as the chunk it was.
      const std::string bytes = std::move(held.bytes);
      held.bytes.clear();
      DataChunk first = held.chunk;
      first.captured = bytes;
      first.total_bytes = bytes.size();
      const ChunkScope scope(*this, first);
      parse_chunk(bytes, bytes.size());
    }
    return StartVerdict::kBegin;
  }
  // Held bytes that will never be judged (a cut continuation, the connection closed) are skipped bytes.
  void drop_held(HeldChunk& held) {
    stats_.bytes_skipped += held.bytes.size();
    held.bytes.clear();
  }

  // Wire bytes of the chunk being fed, captured or not.
  uint64_t chunk_bytes() const { return std::max<uint64_t>(chunk_->total_bytes, chunk_->captured.size()); }

  // The chunk being fed (null between feeds): where the frames' wire extents take their times, thread and
  // sequence numbers from.
  const DataChunk* chunk_ = nullptr;
  StitcherStats& stats_;

  // Points chunk_ at a chunk for the duration of a feed (or of a replayed held chunk).
  class ChunkScope {
   public:
    ChunkScope(FramerLoop& loop, const DataChunk& chunk) : loop_(loop), saved_(loop.chunk_) {
      loop_.chunk_ = &chunk;
    }
    ~ChunkScope() { loop_.chunk_ = saved_; }
    ChunkScope(const ChunkScope&) = delete;
    ChunkScope& operator=(const ChunkScope&) = delete;

   private:
    FramerLoop& loop_;
    const DataChunk* saved_;
  };
};

}  // namespace otelbpf::l7
