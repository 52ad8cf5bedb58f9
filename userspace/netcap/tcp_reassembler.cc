#include "netcap/tcp_reassembler.h"

#include <algorithm>

namespace otelbpf::netcap {
namespace {

// Signed distance a - b in sequence space (RFC 1982 style wrap-around).
std::int32_t seq_diff(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b); }

}  // namespace

void TcpReassembler::on_syn(std::uint32_t isn) {
  started_ = true;
  next_ = isn + 1;
  buffered_.clear();
}

bool TcpReassembler::deliver_from_next(Segment s, const Deliver& deliver) {
  const std::int64_t rel = seq_diff(s.seq, next_);
  if (rel + static_cast<std::int64_t>(s.len) <= 0) {
    ++retransmissions_;
    return false;
  }
  if (rel < 0) {  // overlaps what was delivered: a retransmission carrying some new bytes
    ++retransmissions_;
    const auto skip = static_cast<std::uint32_t>(-rel);
    s.captured = skip < s.captured.size() ? s.captured.substr(skip) : std::string_view();
    s.seq = next_;
    s.len -= skip;
  }
  deliver(s);
  next_ = s.seq + s.len;
  return true;
}

void TcpReassembler::drain(const Deliver& deliver) {
  for (bool progress = true; progress && !buffered_.empty();) {
    progress = false;
    for (auto it = buffered_.begin(); it != buffered_.end(); ++it) {
      if (seq_diff(it->seq, next_) > 0) continue;
      Held held = std::move(*it);
      buffered_.erase(it);
      deliver_from_next(Segment{held.seq, held.len, held.ts_ns, held.captured}, deliver);
      progress = true;
      break;
    }
  }
}

void TcpReassembler::add(const Segment& segment, const Deliver& deliver) {
  if (segment.len == 0) return;
  if (!started_) {
    started_ = true;
    next_ = segment.seq;
  }
  if (seq_diff(segment.seq, next_) > 0) {
    // Early: hold it until the hole fills. A duplicate of a held segment is a retransmission too.
    for (const auto& h : buffered_)
      if (h.seq == segment.seq) {
        ++retransmissions_;
        return;
      }
    buffered_.push_back(Held{segment.seq, segment.len, segment.ts_ns, std::string(segment.captured)});
    if (buffered_.size() > max_buffered_) {
      // The hole is not going to fill at this capture point: skip it and go on from the earliest held.
      ++gaps_;
      auto earliest = std::min_element(
          buffered_.begin(), buffered_.end(),
          [this](const Held& a, const Held& b) { return seq_diff(a.seq, next_) < seq_diff(b.seq, next_); });
      next_ = earliest->seq;
      drain(deliver);
    }
    return;
  }
  if (deliver_from_next(segment, deliver)) drain(deliver);
}

}  // namespace otelbpf::netcap
