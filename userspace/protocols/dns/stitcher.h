#pragma once
// DNS messages -> query/response records. Responses are matched to queries by transaction id (and
// question), not in order: UDP may reorder, and a TCP server may answer pipelined queries out of order
// (RFC 7766 §6.2.1.1). A query nobody answers is emitted as response_missing when it times out, when
// the pending bound evicts it, or at close.
#include <deque>
#include <optional>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/dns/parse.h"
#include "protocols/dns/types.h"

namespace otelbpf::l7::dns {

class Stitcher final : public ProtocolStitcher {
 public:
  explicit Stitcher(const Limits& limits = {});

  void on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) override;
  void on_close(uint64_t ts_ns, std::vector<L7Record>& out) override;
  Transport transport() const { return transport_; }

 private:
  struct Pending {
    Message query;
    Direction direction;
    uint32_t retransmissions = 0;
  };

  void on_message(Direction dir, Message&& m, std::vector<L7Record>& out);
  void expire(uint64_t now_ns, std::vector<L7Record>& out);
  void emit(const Pending& p, const Message* response, uint64_t missing_end_ns, std::vector<L7Record>& out);

  Limits limits_;
  Transport transport_ = Transport::kUnknown;
  TcpFramer egress_;
  TcpFramer ingress_;
  std::deque<Pending> pending_;  // oldest first
  std::vector<Message> messages_;
};

// Builds the record of one exchange (exposed for tests); `response` may be null (response missing).
L7Record make_record(const Message& query, const Message* response, Role role);

}  // namespace otelbpf::l7::dns
