#pragma once
// MySQL packets -> request/response records. The client writes one command (sequence id 0) and the
// server answers it with one response of one or more packets; responses come in command order, so
// commands wait in a FIFO. The connection phase (greeting, HandshakeResponse, auth switch and more-data)
// is followed but makes no records; COM_QUIT, COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA have no answer
// and make a record that ends at their own write.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/mysql/parse.h"
#include "protocols/mysql/types.h"

namespace otelbpf::l7::mysql {

// One command as the client sent it.
struct Request {
  uint8_t command = 0;
  std::string text;  // statement text (COM_QUERY, COM_STMT_PREPARE, and COM_STMT_EXECUTE's prepared text)
  bool text_cut = false;
  bool has_statement_id = false;
  uint32_t statement_id = 0;  // COM_STMT_EXECUTE, _CLOSE, _RESET, _FETCH, _SEND_LONG_DATA
  std::string schema;         // COM_INIT_DB, or `USE db`
  std::string db_namespace;   // the connection's default schema when the command was sent
  std::string transaction_id;
  WireExtent wire;  // wire.bytes also counts packets the client sent for it later (LOCAL INFILE, auth)
  uint8_t last_seq = 0;
};

// What the server answered, summed over the packets (and the results of a multi-result answer).
struct Response {
  bool started = false;
  WireExtent wire;  // first packet's start, seq and tid; end of the last packet seen; all bytes
  bool ok = false;  // an OK packet that is not a result-set terminator
  OkPacket ok_packet;
  bool error = false;
  ErrPacket err;
  bool result_set = false;
  uint64_t columns = 0;
  uint64_t rows = 0;
  bool prepare_ok = false;
  PrepareOk prepare;
  bool truncated = false;  // framing was lost inside it: ended by the next command or the close
};

// Builds the record of one exchange (exposed for tests); `response` is null when none was seen or none
// exists (COM_QUIT, COM_STMT_CLOSE), `missing` tells which.
L7Record make_record(const Request& request, const Response* response, Role role, bool missing,
                     const Limits& limits = {});

// Process-wide unique transaction ids: a random prefix per run and a counter ("3f2a9c1e-42").
std::string next_transaction_id();

class Stitcher final : public ProtocolStitcher, private PacketReader::Listener {
 public:
  explicit Stitcher(const Limits& limits = {});

  void on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) override;
  void on_close(uint64_t ts_ns, std::vector<L7Record>& out) override;

  // Tests: the effective CLIENT_DEPRECATE_EOF (unknown until the handshake or a result set tells).
  enum class Tristate : uint8_t { kUnknown, kNo, kYes };
  Tristate deprecate_eof() const { return deprecate_eof_; }
  const std::string& db_namespace() const { return namespace_; }

 private:
  enum class Phase : uint8_t { kUnknown, kHandshake, kCommand, kOff };
  // Where the answer to the oldest pending command stands.
  enum class ResponseState : uint8_t {
    kFirst,             // its first packet (or the next result of a multi-result answer)
    kColumnDefs,        // `remaining_` column definitions of a result set
    kMaybeColumnsEof,   // after them: an EOF unless CLIENT_DEPRECATE_EOF
    kRows,              // rows until a terminator
    kPrepareParams,     // `remaining_` parameter definitions of a PREPARE_OK
    kMaybeParamsEof,    // after them: an EOF unless CLIENT_DEPRECATE_EOF
    kPrepareColumns,    // `remaining_` column definitions of a PREPARE_OK
    kMaybePrepareEof,   // after them: an EOF unless CLIENT_DEPRECATE_EOF
    kDefsUntilEof,      // COM_FIELD_LIST: column definitions until EOF
    kAuth,              // COM_CHANGE_USER: auth switch / more data until OK or ERR
    kUntilNextCommand,  // unknown shape or framing lost: ends when the client sends its next command
  };
  struct Exchange {
    Request request;
    Response response;
  };

  void on_packet(Direction dir, Packet& packet) override;
  void on_framing_lost(Direction dir, uint64_t skipped_bytes, uint64_t ts_ns) override;
  bool can_resync(Direction dir, std::string_view first_bytes) override;

  ParseState detect_role(std::string_view first_bytes, Direction dir);
  void feed(const DataChunk& chunk, std::vector<L7Record>& out);
  PacketReader& reader(Direction d) { return d == Direction::kEgress ? egress_ : ingress_; }
  void on_client_packet(Packet& p);
  void on_server_packet(Packet& p);
  void on_handshake_server_packet(const Packet& p);
  void on_handshake_client_packet(const Packet& p);
  void begin_command(const Packet& p);
  void apply_transaction(Request& req);
  // Returns true when the packet ended the response. One function per stretch of a response: its first
  // packet, a result set (column definitions, rows), a prepared statement's definitions, the rest.
  bool advance_response(Exchange& ex, const Packet& p);
  bool first_response_packet(Exchange& ex, const Packet& p);
  std::optional<bool> first_packet_for_command(Exchange& ex, const Packet& p);
  bool result_set_header(Response& r, uint8_t command, std::string_view payload);
  bool result_set_packet(Exchange& ex, const Packet& p);
  bool prepare_response_packet(Exchange& ex, const Packet& p);
  bool other_response_packet(Response& r, const Packet& p);
  bool after_terminator(Exchange& ex, std::string_view payload, uint64_t length);
  bool prepare_columns(Exchange& ex);
  bool eof_follows(const Packet& last_def, bool last_block) const;
  void finish_front(bool missing, uint64_t end_ns);
  void answered(Exchange& ex);
  void emit(const Exchange& ex, bool has_response, bool missing, uint64_t end_ns);
  void disable();

  Limits limits_;
  PacketReader egress_;
  PacketReader ingress_;
  Direction client_dir_ = Direction::kEgress;  // the direction commands travel in
  Phase phase_ = Phase::kUnknown;
  bool handshake_response_seen_ = false;
  Tristate deprecate_eof_ = Tristate::kUnknown;
  bool query_attributes_ = false;
  std::string namespace_;
  bool autocommit_off_ = false;
  std::string transaction_id_;
  std::map<uint32_t, std::string> statements_;  // prepared statement id -> text
  std::deque<Exchange> pending_;
  ResponseState rstate_ = ResponseState::kFirst;
  uint64_t remaining_ = 0;
  std::vector<L7Record>* out_ = nullptr;
  static constexpr size_t kMaxProbeBytes = 256;
  std::string probe_;  // first bytes, while too few to tell the roles
  DataChunk probe_chunk_;
};

}  // namespace otelbpf::l7::mysql
