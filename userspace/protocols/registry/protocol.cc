#include "protocols/registry/protocol.h"

#include "protocols/dns/entry.h"
#include "protocols/http/entry.h"
#include "protocols/postgres/entry.h"
#include "protocols/kafka/entry.h"
#include "protocols/http2/entry.h"
#include "protocols/mysql/entry.h"
#include "protocols/redis/entry.h"

namespace otelbpf::l7 {
namespace {

struct ProtocolEntry {
  Protocol protocol;
  const char* name;
  bool (*looks_like_message_start)(const InferenceInput&);
  std::unique_ptr<ProtocolStitcher> (*make_stitcher)();
};

// Inference order: the most specific signatures first, so a permissive matcher never shadows a strict one.
const ProtocolEntry kProtocols[] = {
    {Protocol::kHttp1, "http1", http::looks_like_message_start, http::make_stitcher},
    {Protocol::kHttp2, "http2", http2::looks_like_message_start, http2::make_stitcher},
    {Protocol::kMysql, "mysql", mysql::looks_like_message_start, mysql::make_stitcher},
    {Protocol::kDns, "dns", dns::looks_like_message_start, dns::make_stitcher},
    {Protocol::kKafka, "kafka", kafka::looks_like_message_start, kafka::make_stitcher},
    {Protocol::kRedis, "redis", redis::looks_like_message_start, redis::make_stitcher},
    {Protocol::kPostgres, "postgresql", postgres::looks_like_message_start, postgres::make_stitcher},
};

const ProtocolEntry* entry_of(Protocol p) {
  for (const auto& e : kProtocols)
    if (e.protocol == p) return &e;
  return nullptr;
}

}  // namespace

const char* to_string(Protocol p) {
  if (const auto* e = entry_of(p)) return e->name;
  return "unknown";
}

Protocol infer_protocol(const InferenceInput& input) {
  if (input.first_bytes.empty()) return Protocol::kUnknown;
  for (const auto& e : kProtocols)
    if (e.looks_like_message_start(input)) return e.protocol;
  return Protocol::kUnknown;
}

Protocol infer_protocol(std::string_view first_bytes, Direction dir) {
  InferenceInput input;
  input.first_bytes = first_bytes;
  input.direction = dir;
  return infer_protocol(input);
}

bool is_message_start(Protocol p, const InferenceInput& input) {
  const auto* e = entry_of(p);
  return e && !input.first_bytes.empty() && e->looks_like_message_start(input);
}

std::unique_ptr<ProtocolStitcher> make_stitcher(Protocol p) {
  const auto* e = entry_of(p);
  return e ? e->make_stitcher() : nullptr;
}

}  // namespace otelbpf::l7
