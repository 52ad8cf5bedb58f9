#pragma once
// Drives an HTTP stitcher the way the tracer does: one DataChunk per syscall, both directions on one
// clock, TCP sequence numbers advancing by total bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/http/stitcher.h"
#include "tests/unit/protocols/common/conversation.h"

namespace otelbpf::l7::http::testing {

constexpr uint32_t kEgressSeq0 = 1000;
constexpr uint32_t kIngressSeq0 = 900000;

using Conversation = l7::testing::BasicConversation<Stitcher, Limits, kEgressSeq0, kIngressSeq0>;

inline std::string str_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v)
                                                                 : std::string("<none>");
}

inline int64_t int_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : -1;
}

inline bool has_attr(const L7Record& r, std::string_view key) { return find_attribute(r, key) != nullptr; }

}  // namespace otelbpf::l7::http::testing
