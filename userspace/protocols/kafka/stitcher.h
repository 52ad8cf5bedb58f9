#pragma once
// Kafka requests/responses -> records, matched by correlation id. A broker answers the requests of one
// connection in order, so when a response matches a later request, the earlier ones were lost (capture
// or ring-buffer loss) and are emitted as response_missing. Produce with acks=0 has no response: it is
// emitted as soon as it is sent.
#include <deque>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/kafka/parse.h"
#include "protocols/kafka/types.h"

namespace otelbpf::l7::kafka {

class Stitcher final : public ProtocolStitcher {
 public:
  explicit Stitcher(const Limits& limits = {});

  void on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) override;
  void on_close(uint64_t ts_ns, std::vector<L7Record>& out) override;

 private:
  bool starts_message(Direction dir, std::string_view bytes);
  bool starts_unprefixed(Direction dir, std::string_view bytes);
  void on_message(Direction dir, std::string_view kept, bool cut, const WireExtent& wire);
  void on_request(std::string_view kept, bool cut, const WireExtent& wire);
  void on_response(std::string_view kept, bool cut, const WireExtent& wire);
  bool response_starts(std::string_view bytes) const;
  void emit(const Request& req, const Response* resp, uint64_t missing_end_ns);

  Limits limits_;
  Framer egress_;
  Framer ingress_;
  std::deque<Request> pending_;  // oldest first
  std::vector<L7Record>* out_ = nullptr;
};

// Builds the record of one exchange (exposed for tests); `response` may be null (response missing, or
// none expected).
L7Record make_record(const Request& request, const Response* response, Role role);

}  // namespace otelbpf::l7::kafka
