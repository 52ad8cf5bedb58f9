#pragma once
// Redis messages -> request/response records. Redis answers commands in order, so pipelined commands are
// matched FIFO; push messages (RESP3 `>` and RESP2 pub/sub messages) answer nothing and are not paired,
// except the (un)subscribe confirmations that answer a (P|S)(UN)SUBSCRIBE.
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/redis/parse.h"
#include "protocols/redis/types.h"

namespace otelbpf::l7::redis {

class Stitcher final : public ProtocolStitcher, private StreamParser::Listener {
 public:
  explicit Stitcher(const Limits& limits = {});

  void on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) override;
  void on_close(uint64_t ts_ns, std::vector<L7Record>& out) override;

 private:
  struct Pending {
    Message request;
    std::string command;  // upper case
    std::optional<std::string> namespace_before;
  };

  void on_message(Direction dir, Message&& msg) override;
  void on_reply(Message&& reply);
  bool decide_role(const DataChunk& chunk);
  StreamParser& parser(Direction d) { return d == Direction::kEgress ? egress_ : ingress_; }
  void emit(const Pending& p, const Message* reply, uint64_t missing_end_ns);

  Limits limits_;
  StreamParser egress_;
  StreamParser ingress_;
  Direction request_dir_ = Direction::kEgress;
  std::deque<Pending> pending_;
  std::optional<std::string> namespace_;  // the database chosen by SELECT
  bool pubsub_ = false;                   // a SUBSCRIBE was sent: RESP2 arrays may be pushes
  std::vector<L7Record>* out_ = nullptr;
};

// Builds the record of one command (exposed for tests); `reply` may be null (reply missing).
L7Record make_record(const Message& request, const Message* reply, Role role,
                    const std::optional<std::string>& db_namespace);

}  // namespace otelbpf::l7::redis
