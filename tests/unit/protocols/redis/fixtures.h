#pragma once
// Drives a Redis stitcher the way the tracer does: one DataChunk per syscall, both directions on one
// clock, TCP sequence numbers advancing by total bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/redis/stitcher.h"
#include "tests/unit/protocols/common/conversation.h"

namespace otelbpf::l7::redis::testing {

constexpr uint32_t kEgressSeq0 = 5000;
constexpr uint32_t kIngressSeq0 = 700000;

using Conversation = l7::testing::BasicConversation<Stitcher, Limits, kEgressSeq0, kIngressSeq0>;

// RESP encoding of a command.
inline std::string Command(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

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

}  // namespace otelbpf::l7::redis::testing
