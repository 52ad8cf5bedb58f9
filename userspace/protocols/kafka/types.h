#pragma once
// Kafka wire protocol frames (https://kafka.apache.org/protocol): [size:int32][header][body] both ways.
// Requests carry api key, version, correlation id and client id; responses carry only the correlation
// id, so a response is read with the key and version of the request it answers.
#include <cstdint>
#include <string>
#include <vector>

#include "protocols/common/stream.h"

namespace otelbpf::l7::kafka {

constexpr uint16_t kKafkaPort = 9092;

enum ApiKey : int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kSaslHandshake = 17,
  kApiVersions = 18,
  kSaslAuthenticate = 36,
  kInitProducerId = 22,
};

struct Request {
  int16_t api_key = -1;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::string client_id;
  bool has_client_id = false;  // null client id otherwise
  // Produce, Fetch, Metadata: the topics named (at most Limits::max_topics), and how many partitions.
  std::vector<std::string> topics;
  int64_t partition_count = -1;
  int16_t acks = -1;  // Produce: 0 means the broker sends no response
  // The body was not parsed to its end (capture cut, or more topics than kept).
  bool body_truncated = false;
  WireExtent wire;
};

struct Response {
  int32_t correlation_id = 0;
  // First non-zero error code of the body (top level, per topic or per partition), 0 when none was seen.
  int16_t error_code = 0;
  std::vector<std::string> topics;  // Metadata: the topics described
  bool body_parsed = false;         // the body was understood (deep-parsed APIs only)
  bool body_truncated = false;
  WireExtent wire;
};

struct Limits {
  size_t max_topics = 16;
  size_t max_pending_requests = 128;        // per connection; the oldest is evicted beyond
  size_t max_kept_message_bytes = 16384;    // of one message, for parsing (the rest is counted)
  uint32_t max_message_bytes = 128u << 20;  // a larger size prefix is taken for garbage
};

}  // namespace otelbpf::l7::kafka
