#pragma once
// HTTP/1.x messages -> request/response records. Responses answer requests in order (RFC 9112 §9.3.2),
// so pipelined requests are matched FIFO; interim 1xx responses belong to the exchange they precede.
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/http/parse.h"
#include "protocols/http/types.h"

namespace otelbpf::l7::http {

class Stitcher final : public ProtocolStitcher, private StreamParser::Listener {
 public:
  explicit Stitcher(const Limits& limits = {});

  void on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) override;
  void on_close(uint64_t ts_ns, std::vector<L7Record>& out) override;

 private:
  struct Exchange {
    std::shared_ptr<Message> request;
    std::shared_ptr<Message> response;  // the final response, once its header arrived
    // Interim (1xx) responses before the final one: their bytes and where the response side began.
    bool response_started = false;
    WireExtent interim;
  };

  void on_kind_detected(Direction dir, MessageKind kind) override;
  std::string_view request_method_for_response() override;
  void on_header(Direction dir, const std::shared_ptr<Message>& msg) override;
  void on_complete(Direction dir, const std::shared_ptr<Message>& msg) override;

  StreamParser& parser(Direction d) { return d == Direction::kEgress ? egress_ : ingress_; }
  StreamParser& request_parser();
  void emit(const Exchange& ex, uint64_t missing_end_ns);

  Limits limits_;
  StreamParser egress_;
  StreamParser ingress_;
  std::deque<Exchange> pending_;       // requests without a final response header yet, oldest first
  std::optional<Exchange> answering_;  // the exchange whose final response is being read
  std::vector<L7Record>* out_ = nullptr;
};

// Builds the record of one exchange (exposed for tests); `response` may be null (response missing).
L7Record make_record(const Message& request, const Message* response, Role role);
// The same, into a default-constructed record where it is to stay (start_record).
void make_record(L7Record& r, const Message& request, const Message* response, Role role);

}  // namespace otelbpf::l7::http
