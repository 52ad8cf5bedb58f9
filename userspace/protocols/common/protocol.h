#pragma once
// Which parser a connection gets. The tracer asks infer_protocol on the first bytes of a message until it
// answers something other than kUnknown, then makes that protocol's stitcher for the connection.
#include <memory>
#include <string_view>

#include "protocols/common/record.h"
#include "protocols/common/stream.h"

namespace otelbpf::l7 {

enum class Protocol : uint8_t { kUnknown, kHttp1 };

// The value of otelbpf.l7.protocol ("http1"), "unknown" for kUnknown.
const char* to_string(Protocol p);

// `first_bytes` is the captured start of a chunk that should begin a message.
Protocol infer_protocol(std::string_view first_bytes, Direction dir);

// nullptr for kUnknown.
std::unique_ptr<ProtocolStitcher> make_stitcher(Protocol p);

}  // namespace otelbpf::l7
