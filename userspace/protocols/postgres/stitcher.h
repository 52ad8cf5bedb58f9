#pragma once
// PostgreSQL messages -> request/response records. A request is a simple Query ('Q'), a FunctionCall, or
// an extended-query batch (Parse/Bind/Describe/Execute ... up to Sync); its response runs until the
// ReadyForQuery that the server sends for it. Requests are answered in order, so they are matched FIFO.
// The connection's prepared statements and portals are remembered so that an Execute carries the SQL
// text of the statement it runs, and ReadyForQuery's transaction status groups the statements of one
// transaction block under one transaction id.
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/postgres/parse.h"
#include "protocols/postgres/types.h"

namespace otelbpf::l7::postgres {

// One request and what answered it.
struct Exchange {
  enum class Kind : uint8_t { kSimpleQuery, kExtended, kFunctionCall };
  Kind kind = Kind::kSimpleQuery;
  WireExtent request;
  std::string query;         // simple query text, or the SQL of the first Execute
  std::string parsed_query;  // extended: the SQL of the last Parse (for batches without Execute)
  int executes = 0;          // extended: Execute messages in the batch
  int closes = 0;            // extended: Close messages
  int describes = 0;         // extended: Describe messages
  bool closed = false;       // Query, FunctionCall or Sync seen: the response ends at ReadyForQuery
  bool truncated = false;    // the capture cut something of it
  bool response_started = false;
  WireExtent response;
  std::vector<std::string> tags;  // CommandComplete tags, at most Limits::max_tags
  uint64_t tag_count = 0;
  uint64_t data_rows = 0;
  bool error = false;
  ErrorFields error_fields;
  char transaction_status = 0;  // from ReadyForQuery: 'I', 'T', 'E' (0: not seen)
};

class Stitcher final : public ProtocolStitcher, private StreamParser::Listener {
 public:
  explicit Stitcher(const Limits& limits = {});

  void on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) override;
  void on_close(uint64_t ts_ns, std::vector<L7Record>& out) override;

 private:
  void on_message(Side side, Message&& msg) override;
  void on_frontend(Message&& msg);
  void on_backend(Message&& msg);
  bool decide_role(const DataChunk& chunk);
  StreamParser& parser(Direction d) { return d == frontend_dir_ ? frontend_ : backend_; }
  Exchange& open_batch(const Message& msg);
  void push(Exchange&& ex);
  void remember(std::map<std::string, std::string>& m, const std::string& key, std::string value);
  void emit(Exchange& ex, bool response_missing, uint64_t end_ns);

  Limits limits_;
  StreamParser frontend_;
  StreamParser backend_;
  Direction frontend_dir_ = Direction::kEgress;
  std::optional<Exchange> open_;                   // an extended batch before its Sync
  std::deque<Exchange> pending_;                   // requests awaiting ReadyForQuery, oldest first
  std::map<std::string, std::string> statements_;  // prepared statement name -> SQL ("" = unnamed)
  std::map<std::string, std::string> portals_;     // portal name -> SQL
  std::string database_;
  bool startup_ = false;         // a StartupMessage was seen and its ReadyForQuery not yet
  char transaction_status_ = 0;  // the last ReadyForQuery's status
  std::string transaction_id_;   // of the open transaction block
  std::vector<L7Record>* out_ = nullptr;
};

// Builds the record of one exchange (exposed for tests).
L7Record make_record(const Exchange& ex, Role role, const std::string& database);

}  // namespace otelbpf::l7::postgres
