#pragma once
// One direction of one TCP flow at one capture point, put back in sequence order before the L7 parser
// sees it: retransmitted bytes are dropped (and counted), a segment that arrives early waits for the
// hole before it, within a bound; a hole that never fills is skipped (and counted) so that a lost
// segment cannot stall the flow.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace otelbpf::netcap {

class TcpReassembler {
 public:
  struct Segment {
    std::uint32_t seq = 0;
    std::uint32_t len = 0;  // payload bytes on the wire
    std::uint64_t ts_ns = 0;
    std::string_view captured;  // the first captured bytes (<= len)
  };
  using Deliver = std::function<void(const Segment&)>;

  explicit TcpReassembler(std::size_t max_buffered = 16) : max_buffered_(max_buffered) {}

  // The SYN's sequence number: the first payload byte is isn + 1.
  void on_syn(std::uint32_t isn);
  // Delivers, in order, whatever this segment makes contiguous.
  void add(const Segment& segment, const Deliver& deliver);

  std::uint64_t retransmissions() const { return retransmissions_; }
  std::uint64_t gaps() const { return gaps_; }
  std::size_t buffered() const { return buffered_.size(); }

 private:
  struct Held {
    std::uint32_t seq;
    std::uint32_t len;
    std::uint64_t ts_ns;
    std::string captured;
  };
  // Trims what lies before next_ and delivers the rest; false when the segment is entirely old.
  bool deliver_from_next(Segment s, const Deliver& deliver);
  void drain(const Deliver& deliver);

  std::size_t max_buffered_;
  bool started_ = false;
  std::uint32_t next_ = 0;
  std::vector<Held> buffered_;
  std::uint64_t retransmissions_ = 0;
  std::uint64_t gaps_ = 0;
};

}  // namespace otelbpf::netcap
