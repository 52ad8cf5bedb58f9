#pragma once
// MySQL classic protocol (also MariaDB): packets, commands and responses, and the bounds of the parser.
// A packet is a 3-byte little-endian payload length, a 1-byte sequence id and the payload; a payload of
// exactly 0xFFFFFF bytes continues in the next packet (messages of 16 MiB and more).
#include <cstdint>
#include <string>

#include "protocols/common/stream.h"

namespace otelbpf::l7::mysql {

constexpr uint32_t kMaxPacketPayload = 0xFFFFFF;
constexpr size_t kPacketHeaderSize = 4;

// Command bytes (first payload byte of a client packet with sequence id 0).
enum Command : uint8_t {
  kComSleep = 0x00,
  kComQuit = 0x01,
  kComInitDb = 0x02,
  kComQuery = 0x03,
  kComFieldList = 0x04,
  kComCreateDb = 0x05,
  kComDropDb = 0x06,
  kComRefresh = 0x07,
  kComShutdown = 0x08,
  kComStatistics = 0x09,
  kComProcessInfo = 0x0a,
  kComConnect = 0x0b,
  kComProcessKill = 0x0c,
  kComDebug = 0x0d,
  kComPing = 0x0e,
  kComTime = 0x0f,
  kComDelayedInsert = 0x10,
  kComChangeUser = 0x11,
  kComBinlogDump = 0x12,
  kComTableDump = 0x13,
  kComConnectOut = 0x14,
  kComRegisterSlave = 0x15,
  kComStmtPrepare = 0x16,
  kComStmtExecute = 0x17,
  kComStmtSendLongData = 0x18,
  kComStmtClose = 0x19,
  kComStmtReset = 0x1a,
  kComSetOption = 0x1b,
  kComStmtFetch = 0x1c,
  kComDaemon = 0x1d,
  kComBinlogDumpGtid = 0x1e,
  kComResetConnection = 0x1f,
};

// Its name without the COM_ prefix ("QUERY", "STMT_EXECUTE"), or nullptr for an unknown byte.
const char* command_name(uint8_t command);

// Capability flags (the client's HandshakeResponse holds the ones in effect).
enum Capability : uint32_t {
  kClientConnectWithDb = 1u << 3,
  kClientCompress = 1u << 5,
  kClientProtocol41 = 1u << 9,
  kClientSsl = 1u << 11,
  kClientSecureConnection = 1u << 15,
  kClientPluginAuth = 1u << 19,
  kClientConnectAttrs = 1u << 20,
  kClientPluginAuthLenencData = 1u << 21,
  kClientDeprecateEof = 1u << 24,
  kClientQueryAttributes = 1u << 27,
};

// Server status flags (OK and EOF packets).
enum ServerStatus : uint16_t {
  kStatusInTrans = 0x0001,
  kStatusAutocommit = 0x0002,
  kStatusMoreResultsExist = 0x0008,
  kStatusCursorExists = 0x0040,
};

// One logical packet: a payload split over continuation packets is reassembled into one.
struct Packet {
  uint8_t seq = 0;              // sequence id of the first (or only) physical packet
  uint8_t last_seq = 0;         // sequence id of the last physical packet (continuations)
  uint64_t length = 0;          // payload bytes, continuations included
  std::string payload;          // the first captured bytes of the payload (at most Limits::max_payload_keep)
  bool payload_cut = false;     // payload shorter than length (capture cut or the keep bound)
  WireExtent wire;              // headers included
  bool at_chunk_start = false;  // its first byte was the first byte of a chunk
  bool ends_chunk = false;      // its last byte was the last byte of a chunk
  bool cut_off = false;         // framing was lost inside it: its end was never seen
};

// Server greeting (Protocol::HandshakeV10).
struct Greeting {
  std::string server_version;
  uint32_t connection_id = 0;
  uint32_t capabilities = 0;
};

// Client HandshakeResponse41 (or the short SSLRequest that precedes TLS).
struct HandshakeResponse {
  uint32_t capabilities = 0;
  bool ssl_request = false;
  std::string user;
  std::string database;
};

struct OkPacket {
  uint64_t affected_rows = 0;
  uint64_t last_insert_id = 0;
  uint16_t status = 0;
  uint16_t warnings = 0;
};

struct ErrPacket {
  uint16_t code = 0;
  std::string sqlstate;  // 5 characters, empty before protocol 4.1
  std::string message;
};

struct EofPacket {
  uint16_t warnings = 0;
  uint16_t status = 0;
};

struct PrepareOk {
  uint32_t statement_id = 0;
  uint16_t num_columns = 0;
  uint16_t num_params = 0;
  uint16_t warnings = 0;
};

struct Limits {
  size_t max_payload_keep = 64 * 1024;  // payload bytes kept per packet (query text, error message)
  size_t max_pending_requests = 32;     // commands awaiting a response; the oldest is evicted beyond
  size_t max_statements = 1024;         // prepared statements remembered per connection
  size_t max_query_text = 16 * 1024;    // db.query.text bound (after obfuscation)
};

}  // namespace otelbpf::l7::mysql
