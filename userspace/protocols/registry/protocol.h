#pragma once
// Which parser a connection gets. The tracer asks infer_protocol on the first bytes of a message until it
// answers something other than kUnknown, then makes that protocol's stitcher for the connection.
//
// Adding a protocol: a folder protocols/<name>/ (types.h, parse.*, stitcher.*, entry.h) whose entry.h
// declares, in namespace otelbpf::l7::<name>,
//   bool looks_like_message_start(const InferenceInput&);   // cheap, conservative
//   std::unique_ptr<ProtocolStitcher> make_stitcher();
// plus one enum value and one line in each switch of protocol.cc.
#include <memory>
#include <string_view>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7 {

enum class Protocol : uint8_t { kUnknown, kHttp1, kHttp2, kMysql, kPostgres, kRedis, kDns, kKafka };

// The value of otelbpf.l7.protocol ("http1", "mysql", ...), "unknown" for kUnknown.
const char* to_string(Protocol p);

// The protocol whose message could start with these bytes, or kUnknown.
Protocol infer_protocol(const InferenceInput& input);
// TCP shorthand, for tests.
Protocol infer_protocol(std::string_view first_bytes, Direction dir);

// Whether the chunk begins a message of an already-known protocol (the tracer's thread links use it).
bool is_message_start(Protocol p, const InferenceInput& input);

// nullptr for kUnknown.
std::unique_ptr<ProtocolStitcher> make_stitcher(Protocol p);

}  // namespace otelbpf::l7
