#pragma once
// Redis (RESP2 and RESP3) messages and the bounds of the parser. A request is an array of bulk strings
// (or an inline command line); a reply is any RESP value. Only what spans need is kept of a value: the
// command and its arguments, a reply's type, its first line and, for push messages, their kind.
#include <cstdint>
#include <string>
#include <vector>

#include "protocols/common/stream.h"

namespace otelbpf::l7::redis {

// RESP type bytes (RESP3 adds everything after kArray).
enum class RespType : char {
  kSimpleString = '+',
  kError = '-',
  kInteger = ':',
  kBulkString = '$',
  kArray = '*',
  kNull = '_',
  kDouble = ',',
  kBoolean = '#',
  kBulkError = '!',
  kVerbatim = '=',
  kBigNumber = '(',
  kMap = '%',
  kSet = '~',
  kAttribute = '|',
  kPush = '>',
};
bool is_resp_type(char c);

struct Message {
  // Inline commands have no type byte; they are recorded as kArray with inline = true.
  RespType type = RespType::kArray;
  bool inline_command = false;
  // Top-level array (or push, map, set) elements that are strings, numbers or nulls, as text, each cut at
  // Limits::max_arg_bytes; at most Limits::max_args of them. For a request: the command and arguments.
  std::vector<std::string> args;
  uint64_t arg_count = 0;  // all top-level elements, also those not kept
  // The line of a simple value (+, -, :, ,, #, () or the start of a bulk error / verbatim string.
  std::string text;
  bool null = false;  // RESP2 null bulk / null array, RESP3 `_`
  WireExtent wire;
  // The capture cut the message: arguments may be cut short, and when `framing_lost` its end was taken at
  // the syscall (request) or at the next request (reply) rather than found in the bytes.
  bool truncated = false;
  bool framing_lost = false;

  bool is_error() const { return type == RespType::kError || type == RespType::kBulkError; }
};

struct Limits {
  size_t max_line_bytes = 64 * 1024;  // a type line or an inline command; longer is invalid
  size_t max_arg_bytes = 512;         // kept of each argument
  size_t max_args = 64;               // arguments kept per command
  size_t max_depth = 32;              // nesting of aggregates
  size_t max_pending_requests = 256;  // commands awaiting a reply; the oldest is evicted beyond
};

}  // namespace otelbpf::l7::redis
