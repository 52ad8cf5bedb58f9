#pragma once
// The one way bytes of a connection reach a protocol parser, for both the syscall path (a socket's reads
// and writes) and the packet path (a TCP flow's reassembled segments): infer the protocol from the first
// chunks, give up after a bound of chunks that match nothing, then feed the protocol's stitcher, which
// turns request/response pairs into records. On close, pending requests leave as records and the
// parser's outcomes are counted (otelbpf_parser_events_total{protocol,event,path}).
#include <cstdint>
#include <memory>
#include <vector>

#include "common/metrics.h"
#include "protocols/registry/protocol.h"

namespace otelbpf::l7 {

class L7Feed {
 public:
  enum class Outcome {
    kParsed,      // the chunk went to the stitcher (records, if any, were appended)
    kUnknownYet,  // no protocol recognised so far
    kGaveUp,      // this chunk was the last try: the connection matched no protocol (count it once)
    kIgnored,     // given up earlier: nothing is done with the connection's bytes
  };

  // `max_failed_inferences`: chunks that match no protocol before the connection is given up on.
  Outcome feed(const InferenceInput& inference, const DataChunk& chunk, std::vector<L7Record>& records,
               std::uint32_t max_failed_inferences);
  // The connection ended: pending requests leave as records, and the parser's outcomes are counted under
  // `path` ("sys" or "net").
  void close(std::uint64_t ts_ns, std::vector<L7Record>& records, MetricsRegistry& metrics, const char* path);

  // The connection's bytes change nature mid-way (TLS plaintext after a negotiation in the clear): the
  // parser state so far is closed (its pending requests leave as records) and a new stitcher starts, of the
  // same protocol when one was known (the protocol is the connection's, whatever carries it), else
  // inference starts over with the next chunk.
  void restart(std::uint64_t ts_ns, std::vector<L7Record>& records, MetricsRegistry& metrics, const char* path);

  Protocol protocol() const { return protocol_; }
  bool parsing() const { return stitcher_ != nullptr; }
  // The role the stitcher inferred for the connection's owner (kUnknown before any message).
  Role role() const { return stitcher_ ? stitcher_->role() : Role::kUnknown; }

 private:
  Protocol protocol_ = Protocol::kUnknown;
  std::unique_ptr<ProtocolStitcher> stitcher_;
  std::uint32_t failed_inferences_ = 0;
};

}  // namespace otelbpf::l7
