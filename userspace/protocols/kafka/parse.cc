#include "protocols/kafka/parse.h"

#include <algorithm>
#include <array>

namespace otelbpf::l7::kafka {
namespace {

// Bounds-checked big-endian reader. Running past the end marks the read cut (the capture ended: needs
// more data); a value that cannot be valid marks it bad (invalid). Either way later reads return 0.
class Reader {
 public:
  explicit Reader(std::string_view b, size_t pos = 0) : b_(b), pos_(pos) {}

  bool ok() const { return !cut_ && !bad_; }
  bool cut() const { return cut_; }
  bool bad() const { return bad_; }
  size_t pos() const { return pos_; }
  void set_bad() { bad_ = true; }

  int8_t i8() { return static_cast<int8_t>(be(1)); }
  int16_t i16() { return static_cast<int16_t>(be(2)); }
  int32_t i32() { return static_cast<int32_t>(be(4)); }
  int64_t i64() { return static_cast<int64_t>(be(8)); }

  uint32_t uvarint() {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (!need(1)) return 0;
      const auto byte = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint32_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    bad_ = true;  // longer than 5 bytes
    return 0;
  }

  void skip(uint64_t n) {
    if (need(n)) pos_ += static_cast<size_t>(n);
  }

  // STRING / NULLABLE_STRING (int16 length), or COMPACT_(NULLABLE_)STRING (uvarint length + 1).
  void str(bool compact, std::string* out = nullptr, bool* is_null = nullptr) {
    int64_t len = 0;
    if (compact) {
      len = static_cast<int64_t>(uvarint()) - 1;
    } else {
      len = i16();
    }
    if (!ok()) return;
    if (len < 0) {
      if (len < -1) bad_ = true;
      if (is_null != nullptr) *is_null = true;
      return;
    }
    if (is_null != nullptr) *is_null = false;
    if (!need(static_cast<uint64_t>(len))) return;
    if (out != nullptr) out->assign(b_.data() + pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
  }

  // ARRAY (int32 count) or COMPACT_ARRAY (uvarint count + 1); -1 for null.
  int64_t array_len(bool compact) {
    const int64_t n = compact ? static_cast<int64_t>(uvarint()) - 1 : i32();
    if (n < -1) bad_ = true;
    return ok() ? n : 0;
  }

  // BYTES / RECORDS (int32 length, -1 null) or their compact forms: skipped by count.
  void skip_bytes(bool compact) {
    const int64_t n = compact ? static_cast<int64_t>(uvarint()) - 1 : i32();
    if (n < -1) bad_ = true;
    if (ok() && n > 0) skip(static_cast<uint64_t>(n));
  }

  void tagged_fields() {
    const uint32_t n = uvarint();
    for (uint32_t i = 0; i < n && ok(); ++i) {
      uvarint();  // tag
      skip(uvarint());
    }
  }

 private:
  bool need(uint64_t n) {
    if (!ok()) return false;
    if (pos_ + n > b_.size()) {
      cut_ = true;
      return false;
    }
    return true;
  }
  uint64_t be(int n) {
    if (!need(static_cast<uint64_t>(n))) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    return v;
  }

  std::string_view b_;
  size_t pos_;
  bool cut_ = false;
  bool bad_ = false;
};

struct ApiInfo {
  const char* name;
  int16_t max_version;
  int16_t first_flexible;  // -1: never flexible
};

// Kafka 3.x; index = api key. Names are the operation names reported in messaging.operation.name.
constexpr std::array<ApiInfo, 76> kApis = {{
    {"produce", 11, 9},
    {"fetch", 16, 12},
    {"list_offsets", 8, 6},
    {"metadata", 12, 9},
    {"leader_and_isr", 7, 4},
    {"stop_replica", 4, 2},
    {"update_metadata", 8, 6},
    {"controlled_shutdown", 3, 3},
    {"offset_commit", 9, 8},
    {"offset_fetch", 9, 6},
    {"find_coordinator", 5, 3},
    {"join_group", 9, 6},
    {"heartbeat", 4, 4},
    {"leave_group", 5, 4},
    {"sync_group", 5, 4},
    {"describe_groups", 5, 5},
    {"list_groups", 5, 3},
    {"sasl_handshake", 1, -1},
    {"api_versions", 4, 3},
    {"create_topics", 7, 5},
    {"delete_topics", 6, 4},
    {"delete_records", 2, 2},
    {"init_producer_id", 5, 2},
    {"offset_for_leader_epoch", 4, 4},
    {"add_partitions_to_txn", 5, 3},
    {"add_offsets_to_txn", 4, 3},
    {"end_txn", 4, 3},
    {"write_txn_markers", 1, 1},
    {"txn_offset_commit", 4, 3},
    {"describe_acls", 3, 2},
    {"create_acls", 3, 2},
    {"delete_acls", 3, 2},
    {"describe_configs", 4, 4},
    {"alter_configs", 2, 2},
    {"alter_replica_log_dirs", 2, 2},
    {"describe_log_dirs", 4, 2},
    {"sasl_authenticate", 2, 2},
    {"create_partitions", 3, 2},
    {"create_delegation_token", 3, 2},
    {"renew_delegation_token", 2, 2},
    {"expire_delegation_token", 2, 2},
    {"describe_delegation_token", 3, 2},
    {"delete_groups", 2, 2},
    {"elect_leaders", 2, 2},
    {"incremental_alter_configs", 1, 1},
    {"alter_partition_reassignments", 0, 0},
    {"list_partition_reassignments", 0, 0},
    {"offset_delete", 0, -1},
    {"describe_client_quotas", 1, 1},
    {"alter_client_quotas", 1, 1},
    {"describe_user_scram_credentials", 0, 0},
    {"alter_user_scram_credentials", 0, 0},
    {"vote", 0, 0},
    {"begin_quorum_epoch", 0, -1},
    {"end_quorum_epoch", 0, -1},
    {"describe_quorum", 1, 0},
    {"alter_partition", 3, 0},
    {"update_features", 1, 0},
    {"envelope", 0, 0},
    {"fetch_snapshot", 0, 0},
    {"describe_cluster", 1, 0},
    {"describe_producers", 0, 0},
    {"broker_registration", 3, 0},
    {"broker_heartbeat", 1, 0},
    {"unregister_broker", 0, 0},
    {"describe_transactions", 0, 0},
    {"list_transactions", 1, 0},
    {"allocate_producer_ids", 0, 0},
    {"consumer_group_heartbeat", 0, 0},
    {"consumer_group_describe", 0, 0},
    {"controller_registration", 0, 0},
    {"get_telemetry_subscriptions", 0, 0},
    {"push_telemetry", 0, 0},
    {"assign_replicas_to_dirs", 0, 0},
    {"list_client_metrics_resources", 0, 0},
    {"describe_topic_partitions", 0, 0},
}};

// Versions newer than this parser still count as the API (new broker releases add versions often).
constexpr int16_t kVersionHeadroom = 4;

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// [a-zA-Z0-9._-]{1,249}: what a broker accepts as a topic name.
bool valid_topic(std::string_view s) {
  if (s.empty() || s.size() > 249) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

ParseState state_of(const Reader& r) {
  if (r.bad()) return ParseState::kInvalid;
  if (r.cut()) return ParseState::kNeedsMoreData;
  return ParseState::kSuccess;
}

void add_topic(Request* req, std::string&& name, const Limits& limits) {
  if (req->topics.size() < limits.max_topics) {
    req->topics.push_back(std::move(name));
  } else {
    req->body_truncated = true;
  }
}

void note_error(Response* resp, int16_t code) {
  if (resp->error_code == 0 && code != 0) resp->error_code = code;
}

void parse_produce_request(Reader& r, Request* req, const Limits& limits) {
  const bool flex = is_flexible(kProduce, req->api_version);
  if (req->api_version >= 3) r.str(flex);  // transactional_id
  req->acks = r.i16();
  r.i32();  // timeout
  const int64_t topics = r.array_len(flex);
  req->partition_count = 0;
  for (int64_t t = 0; t < topics && r.ok(); ++t) {
    std::string name;
    r.str(flex, &name);
    if (!r.ok()) break;
    add_topic(req, std::move(name), limits);
    const int64_t partitions = r.array_len(flex);
    for (int64_t p = 0; p < partitions && r.ok(); ++p) {
      r.i32();             // index
      r.skip_bytes(flex);  // records
      if (flex) r.tagged_fields();
      if (r.ok()) ++req->partition_count;
    }
    if (flex) r.tagged_fields();
  }
  if (flex) r.tagged_fields();
}

void parse_fetch_request(Reader& r, Request* req, const Limits& limits) {
  const int16_t v = req->api_version;
  const bool flex = is_flexible(kFetch, v);
  if (v <= 14) r.i32();  // replica_id (a tagged field from v15)
  r.i32();               // max_wait_ms
  r.i32();               // min_bytes
  if (v >= 3) r.i32();   // max_bytes
  if (v >= 4) r.i8();    // isolation_level
  if (v >= 7) {
    r.i32();  // session_id
    r.i32();  // session_epoch
  }
  const int64_t topics = r.array_len(flex);
  req->partition_count = 0;
  for (int64_t t = 0; t < topics && r.ok(); ++t) {
    if (v >= 13) {
      r.skip(16);  // topic_id: the name is not on the wire any more
    } else {
      std::string name;
      r.str(flex, &name);
      if (!r.ok()) break;
      add_topic(req, std::move(name), limits);
    }
    const int64_t partitions = r.array_len(flex);
    for (int64_t p = 0; p < partitions && r.ok(); ++p) {
      r.i32();               // partition
      if (v >= 9) r.i32();   // current_leader_epoch
      r.i64();               // fetch_offset
      if (v >= 12) r.i32();  // last_fetched_epoch
      if (v >= 5) r.i64();   // log_start_offset
      r.i32();               // partition_max_bytes
      if (flex) r.tagged_fields();
      if (r.ok()) ++req->partition_count;
    }
    if (flex) r.tagged_fields();
  }
  // Nothing a span needs follows, but reading it to the end makes the whole-message check of inference
  // possible.
  if (v >= 7) {
    const int64_t forgotten = r.array_len(flex);
    for (int64_t t = 0; t < forgotten && r.ok(); ++t) {
      if (v >= 13) {
        r.skip(16);
      } else {
        r.str(flex);
      }
      const int64_t n = r.array_len(flex);
      if (n > 0) r.skip(static_cast<uint64_t>(n) * 4);
      if (flex) r.tagged_fields();
    }
  }
  if (v >= 11) r.str(flex);  // rack_id
  if (flex) r.tagged_fields();
}

void parse_metadata_request(Reader& r, Request* req, const Limits& limits) {
  const int16_t v = req->api_version;
  const bool flex = is_flexible(kMetadata, v);
  const int64_t topics = r.array_len(flex);  // null (v1+) or empty (v0): all topics
  for (int64_t t = 0; t < topics && r.ok(); ++t) {
    if (v >= 10) r.skip(16);  // topic_id
    std::string name;
    bool null = false;
    r.str(flex, &name, &null);
    if (flex) r.tagged_fields();
    if (r.ok() && !null) add_topic(req, std::move(name), limits);
  }
  if (v >= 4) r.i8();             // allow_auto_topic_creation
  if (v >= 8 && v <= 10) r.i8();  // include_cluster_authorized_operations
  if (v >= 8) r.i8();             // include_topic_authorized_operations
  if (flex) r.tagged_fields();
}

void parse_list_offsets_request(Reader& r, Request* req, const Limits& limits) {
  const int16_t v = req->api_version;
  const bool flex = is_flexible(kListOffsets, v);
  r.i32();             // replica_id
  if (v >= 2) r.i8();  // isolation_level
  const int64_t topics = r.array_len(flex);
  req->partition_count = 0;
  for (int64_t t = 0; t < topics && r.ok(); ++t) {
    std::string name;
    r.str(flex, &name);
    if (!r.ok()) break;
    add_topic(req, std::move(name), limits);
    const int64_t partitions = r.array_len(flex);
    for (int64_t p = 0; p < partitions && r.ok(); ++p) {
      r.i32();              // partition
      if (v >= 4) r.i32();  // current_leader_epoch
      r.i64();              // timestamp
      if (v == 0) r.i32();  // max_num_offsets
      if (flex) r.tagged_fields();
      if (r.ok()) ++req->partition_count;
    }
    if (flex) r.tagged_fields();
  }
  if (flex) r.tagged_fields();
}

void parse_produce_response(Reader& r, int16_t v, Response* resp) {
  const bool flex = is_flexible(kProduce, v);
  const int64_t topics = r.array_len(flex);
  for (int64_t t = 0; t < topics && r.ok(); ++t) {
    r.str(flex);
    const int64_t partitions = r.array_len(flex);
    for (int64_t p = 0; p < partitions && r.ok(); ++p) {
      r.i32();  // index
      note_error(resp, r.i16());
      r.i64();              // base_offset
      if (v >= 2) r.i64();  // log_append_time_ms
      if (v >= 5) r.i64();  // log_start_offset
      if (v >= 8) {
        const int64_t errors = r.array_len(flex);
        for (int64_t e = 0; e < errors && r.ok(); ++e) {
          r.i32();
          r.str(flex);
          if (flex) r.tagged_fields();
        }
        r.str(flex);  // error_message
      }
      if (flex) r.tagged_fields();
    }
    if (flex) r.tagged_fields();
  }
  if (v >= 1) r.i32();  // throttle_time_ms
  if (flex) r.tagged_fields();
}

void parse_fetch_response(Reader& r, int16_t v, Response* resp) {
  const bool flex = is_flexible(kFetch, v);
  if (v >= 1) r.i32();  // throttle_time_ms
  if (v >= 7) {
    note_error(resp, r.i16());
    r.i32();  // session_id
  }
  const int64_t topics = r.array_len(flex);
  for (int64_t t = 0; t < topics && r.ok(); ++t) {
    if (v >= 13) {
      r.skip(16);
    } else {
      r.str(flex);
    }
    const int64_t partitions = r.array_len(flex);
    for (int64_t p = 0; p < partitions && r.ok(); ++p) {
      r.i32();  // partition_index
      note_error(resp, r.i16());
      r.i64();              // high_watermark
      if (v >= 4) r.i64();  // last_stable_offset
      if (v >= 5) r.i64();  // log_start_offset
      if (v >= 4) {
        const int64_t aborted = r.array_len(flex);
        for (int64_t a = 0; a < aborted && r.ok(); ++a) {
          r.i64();
          r.i64();
          if (flex) r.tagged_fields();
        }
      }
      if (v >= 11) r.i32();  // preferred_read_replica
      r.skip_bytes(flex);    // records
      if (flex) r.tagged_fields();
    }
    if (flex) r.tagged_fields();
  }
  if (flex) r.tagged_fields();
}

void parse_metadata_response(Reader& r, int16_t v, Response* resp, const Limits& limits) {
  const bool flex = is_flexible(kMetadata, v);
  if (v >= 3) r.i32();  // throttle_time_ms
  const int64_t brokers = r.array_len(flex);
  for (int64_t b = 0; b < brokers && r.ok(); ++b) {
    r.i32();                  // node_id
    r.str(flex);              // host
    r.i32();                  // port
    if (v >= 1) r.str(flex);  // rack
    if (flex) r.tagged_fields();
  }
  if (v >= 2) r.str(flex);  // cluster_id
  if (v >= 1) r.i32();      // controller_id
  const int64_t topics = r.array_len(flex);
  auto int32_array = [&] {
    const int64_t n = r.array_len(flex);
    if (n > 0) r.skip(static_cast<uint64_t>(n) * 4);
  };
  for (int64_t t = 0; t < topics && r.ok(); ++t) {
    note_error(resp, r.i16());
    std::string name;
    bool null = false;
    r.str(flex, &name, &null);
    if (r.ok() && !null) {
      if (resp->topics.size() < limits.max_topics) {
        resp->topics.push_back(std::move(name));
      } else {
        resp->body_truncated = true;
      }
    }
    if (v >= 10) r.skip(16);  // topic_id
    if (v >= 1) r.i8();       // is_internal
    const int64_t partitions = r.array_len(flex);
    for (int64_t p = 0; p < partitions && r.ok(); ++p) {
      note_error(resp, r.i16());
      r.i32();                    // partition_index
      r.i32();                    // leader_id
      if (v >= 7) r.i32();        // leader_epoch
      int32_array();              // replica_nodes
      int32_array();              // isr_nodes
      if (v >= 5) int32_array();  // offline_replicas
      if (flex) r.tagged_fields();
    }
    if (v >= 8) r.i32();  // topic_authorized_operations
    if (flex) r.tagged_fields();
  }
}

void parse_list_offsets_response(Reader& r, int16_t v, Response* resp) {
  const bool flex = is_flexible(kListOffsets, v);
  if (v >= 2) r.i32();  // throttle_time_ms
  const int64_t topics = r.array_len(flex);
  for (int64_t t = 0; t < topics && r.ok(); ++t) {
    r.str(flex);
    const int64_t partitions = r.array_len(flex);
    for (int64_t p = 0; p < partitions && r.ok(); ++p) {
      r.i32();
      note_error(resp, r.i16());
      if (v == 0) {
        const int64_t n = r.array_len(flex);
        if (n > 0) r.skip(static_cast<uint64_t>(n) * 8);
      } else {
        r.i64();              // timestamp
        r.i64();              // offset
        if (v >= 4) r.i32();  // leader_epoch
      }
      if (flex) r.tagged_fields();
    }
    if (flex) r.tagged_fields();
  }
}

}  // namespace

int16_t max_known_version(int16_t api_key) {
  if (api_key < 0 || static_cast<size_t>(api_key) >= kApis.size()) return -1;
  return kApis[static_cast<size_t>(api_key)].max_version;
}

bool is_flexible(int16_t api_key, int16_t api_version) {
  if (api_key < 0 || static_cast<size_t>(api_key) >= kApis.size()) return false;
  const int16_t first = kApis[static_cast<size_t>(api_key)].first_flexible;
  return first >= 0 && api_version >= first;
}

std::string operation_name(int16_t api_key) {
  if (api_key < 0 || static_cast<size_t>(api_key) >= kApis.size()) return "api_" + std::to_string(api_key);
  return kApis[static_cast<size_t>(api_key)].name;
}

std::string error_name(int16_t code) {
  switch (code) {
    case -1:
      return "UNKNOWN_SERVER_ERROR";
    case 0:
      return "NONE";
    case 1:
      return "OFFSET_OUT_OF_RANGE";
    case 2:
      return "CORRUPT_MESSAGE";
    case 3:
      return "UNKNOWN_TOPIC_OR_PARTITION";
    case 5:
      return "LEADER_NOT_AVAILABLE";
    case 6:
      return "NOT_LEADER_OR_FOLLOWER";
    case 7:
      return "REQUEST_TIMED_OUT";
    case 10:
      return "MESSAGE_TOO_LARGE";
    case 14:
      return "COORDINATOR_LOAD_IN_PROGRESS";
    case 15:
      return "COORDINATOR_NOT_AVAILABLE";
    case 16:
      return "NOT_COORDINATOR";
    case 17:
      return "INVALID_TOPIC_EXCEPTION";
    case 19:
      return "NOT_ENOUGH_REPLICAS";
    case 22:
      return "ILLEGAL_GENERATION";
    case 25:
      return "UNKNOWN_MEMBER_ID";
    case 27:
      return "REBALANCE_IN_PROGRESS";
    case 29:
      return "TOPIC_AUTHORIZATION_FAILED";
    case 30:
      return "GROUP_AUTHORIZATION_FAILED";
    case 31:
      return "CLUSTER_AUTHORIZATION_FAILED";
    case 33:
      return "UNSUPPORTED_SASL_MECHANISM";
    case 35:
      return "UNSUPPORTED_VERSION";
    case 36:
      return "TOPIC_ALREADY_EXISTS";
    case 41:
      return "NOT_CONTROLLER";
    case 42:
      return "INVALID_REQUEST";
    case 58:
      return "SASL_AUTHENTICATION_FAILED";
    case 72:
      return "LISTENER_NOT_FOUND";
    case 87:
      return "INVALID_RECORD";
    default:
      return "ERROR_" + std::to_string(code);
  }
}

ParseState parse_request_header(std::string_view msg, Request* req, size_t* body) {
  Reader r(msg);
  req->api_key = r.i16();
  req->api_version = r.i16();
  req->correlation_id = r.i32();
  bool null = true;
  req->client_id.clear();
  r.str(false, &req->client_id, &null);  // a plain NULLABLE_STRING even in header v2
  req->has_client_id = !null;
  if (r.ok() && is_flexible(req->api_key, req->api_version)) r.tagged_fields();
  if (r.ok() && (req->api_version < 0 || req->correlation_id < 0)) r.set_bad();
  *body = r.pos();
  return state_of(r);
}

ParseState parse_request(std::string_view msg, Request* req, const Limits& limits) {
  size_t end = 0;
  return parse_request(msg, req, limits, &end);
}

ParseState parse_request(std::string_view msg, Request* req, const Limits& limits, size_t* end) {
  size_t body = 0;
  const ParseState s = parse_request_header(msg, req, &body);
  if (s != ParseState::kSuccess) {
    req->body_truncated = true;
    return s;
  }
  Reader r(msg, body);
  switch (req->api_key) {
    case kProduce:
      parse_produce_request(r, req, limits);
      break;
    case kFetch:
      parse_fetch_request(r, req, limits);
      break;
    case kMetadata:
      parse_metadata_request(r, req, limits);
      break;
    case kListOffsets:
      parse_list_offsets_request(r, req, limits);
      break;
    default:
      *end = msg.size();
      return ParseState::kSuccess;  // recognised by key; the body is not needed for the span
  }
  if (r.cut()) req->body_truncated = true;
  *end = r.pos();
  return state_of(r);
}

ParseState parse_response(std::string_view msg, int16_t api_key, int16_t api_version, Response* resp,
                          const Limits& limits) {
  Reader r(msg);
  resp->correlation_id = r.i32();
  // ApiVersions answers with header v0 whatever its version: a client that does not know the broker's
  // versions yet must be able to read it (KIP-511).
  if (r.ok() && is_flexible(api_key, api_version) && api_key != kApiVersions) r.tagged_fields();
  if (!r.ok()) {
    resp->body_truncated = true;
    return state_of(r);
  }
  resp->body_parsed = true;
  switch (api_key) {
    case kProduce:
      parse_produce_response(r, api_version, resp);
      break;
    case kFetch:
      parse_fetch_response(r, api_version, resp);
      break;
    case kMetadata:
      parse_metadata_response(r, api_version, resp, limits);
      break;
    case kListOffsets:
      parse_list_offsets_response(r, api_version, resp);
      break;
    case kApiVersions:
    case kSaslHandshake:
    case kSaslAuthenticate:
      note_error(resp, r.i16());  // error_code comes first
      break;
    case kFindCoordinator:
      if (api_version >= 4) {  // per-key coordinators: not read
        resp->body_parsed = false;
        break;
      }
      [[fallthrough]];
    case kJoinGroup:
    case kHeartbeat:
    case kLeaveGroup:
    case kSyncGroup:
      if (api_version >= 1) r.i32();  // throttle_time_ms
      note_error(resp, r.i16());
      break;
    case kInitProducerId:
      r.i32();
      note_error(resp, r.i16());
      break;
    default:
      resp->body_parsed = false;
      break;
  }
  if (r.cut()) resp->body_truncated = true;
  return state_of(r);
}

bool looks_like_request(std::string_view bytes, bool lenient) {
  Reader r(bytes);
  const int32_t size = r.i32();
  // The smallest header is 10 bytes; no client sends a request of 64 MiB in one go.
  if (!r.ok() || size < 10 || size > (64 << 20)) return false;
  const std::string_view msg = bytes.substr(4, static_cast<size_t>(size));
  const bool whole = msg.size() == static_cast<size_t>(size);
  Request req;
  size_t body = 0;
  const ParseState hs = parse_request_header(msg, &req, &body);
  if (hs == ParseState::kInvalid) return false;
  const int16_t max = max_known_version(req.api_key);
  if (max < 0 || req.api_version > max + kVersionHeadroom || req.correlation_id < 0) return false;
  if (req.has_client_id && (req.client_id.size() > 255 || !printable(req.client_id))) return false;
  if (hs == ParseState::kNeedsMoreData) return !whole && lenient;  // the chunk ends inside the header
  const bool deep = req.api_key == kProduce || req.api_key == kFetch || req.api_key == kMetadata ||
                    req.api_key == kListOffsets;
  if (deep && req.api_version <= max) {
    size_t end = 0;
    const ParseState s = parse_request(msg, &req, Limits{}, &end);
    if (s == ParseState::kInvalid) return false;
    for (const std::string& t : req.topics)
      if (!valid_topic(t)) return false;
    // A whole message must parse to its last byte: a response whose correlation id reads like a Produce
    // or Metadata header does not.
    if (whole) return s == ParseState::kSuccess && end == msg.size();
    // Cut by the capture (a large Produce): a topic name read from the body is signature enough.
    return lenient || !req.topics.empty();
  }
  return (whole && bytes.size() == msg.size() + 4) || lenient;
}

bool looks_like_unprefixed_request(std::string_view bytes, bool kafka_port) {
  Request req;
  size_t body = 0;
  if (parse_request_header(bytes, &req, &body) != ParseState::kSuccess) return false;
  const int16_t max = max_known_version(req.api_key);
  if (max < 0 || req.api_version > max + kVersionHeadroom) return false;
  if (req.has_client_id && (req.client_id.size() > 255 || !printable(req.client_id))) return false;
  const bool deep = req.api_key == kProduce || req.api_key == kFetch || req.api_key == kMetadata ||
                    req.api_key == kListOffsets;
  if (!deep || req.api_version > max) return kafka_port;
  size_t end = 0;
  if (parse_request(bytes, &req, Limits{}, &end) != ParseState::kSuccess || end != bytes.size()) return false;
  return std::all_of(req.topics.begin(), req.topics.end(), valid_topic);
}

Framer::Framer(StitcherStats& stats, const Limits& limits, StartCheck starts_message,
               StartCheck starts_unprefixed)
    : FramerLoop(stats),
      limits_(limits),
      starts_message_(std::move(starts_message)),
      starts_unprefixed_(std::move(starts_unprefixed)) {}

void Framer::feed(const DataChunk& chunk, const Sink& sink) {
  sink_ = &sink;
  FramerLoop::feed(chunk);
  sink_ = nullptr;
}

Start Framer::try_start(const DataChunk& chunk, std::string_view captured, uint64_t total) {
  return try_start_held(held_, chunk, captured, total);
}

bool Framer::frame_unprefixed(const DataChunk& chunk, std::string_view captured, uint64_t total) {
  if (!starts_unprefixed_ || !starts_unprefixed_(captured)) return false;
  wire_ = WireExtent{};
  wire_.start_ns = chunk.ts_enter_ns;
  wire_.end_ns = chunk.ts_exit_ns;
  wire_.tid = chunk.tid;
  wire_.seq = chunk.tcp_seq - 4;  // the size prefix went before, in a read of its own
  wire_.bytes = total + 4;
  begin_at_start();
  (*sink_)(captured.substr(0, limits_.max_kept_message_bytes),
           captured.size() > limits_.max_kept_message_bytes, wire_);
  return true;
}

void Framer::begin_at_start() {
  state_ = State::kSize;
  size_bytes_ = 0;
}

size_t Framer::step(std::string_view rest, uint64_t pos) {
  wire_.end_ns = chunk_->ts_exit_ns;
  if (state_ == State::kSize) {
    if (size_bytes_ == 0) {
      wire_ = WireExtent{};
      wire_.start_ns = chunk_->ts_enter_ns;
      wire_.end_ns = chunk_->ts_exit_ns;
      wire_.tid = chunk_->tid;
      wire_.seq = chunk_->tcp_seq + static_cast<uint32_t>(pos);  // wraps like TCP sequence numbers
      body_.clear();
      gap_ = false;
      size_ = 0;
    }
    size_ = (size_ << 8) | static_cast<uint8_t>(rest[0]);
    ++wire_.bytes;
    if (++size_bytes_ < 4) return 1;
    size_bytes_ = 0;
    if (size_ < 4 || size_ > limits_.max_message_bytes) {
      ++stats_.parse_errors;
      lose_sync(0);  // the chunk loop counts the rest of the chunk as skipped
      return 1;
    }
    remaining_ = size_;
    state_ = State::kBody;
    return 1;
  }
  // kBody
  const size_t n = static_cast<size_t>(std::min<uint64_t>(rest.size(), remaining_));
  if (!gap_ && body_.size() < limits_.max_kept_message_bytes) {
    body_.append(rest.data(), std::min(n, limits_.max_kept_message_bytes - body_.size()));
  }
  remaining_ -= n;
  wire_.bytes += n;
  if (remaining_ == 0) body_done();
  return n;
}

uint64_t Framer::skip_uncaptured(uint64_t n) {
  if (state_ != State::kBody) return 0;
  wire_.end_ns = chunk_->ts_exit_ns;
  const uint64_t k = std::min(n, remaining_);
  gap_ = true;
  remaining_ -= k;
  wire_.bytes += k;
  if (remaining_ == 0) body_done();
  return k;
}

void Framer::body_done() {
  state_ = State::kSize;
  (*sink_)(body_, gap_ || body_.size() < size_, wire_);
  body_.clear();
}

void Framer::lose_sync(uint64_t skipped) {
  ++stats_.resyncs;
  stats_.bytes_skipped += skipped;
  state_ = State::kAwaitStart;
  size_bytes_ = 0;
  remaining_ = 0;
  body_.clear();
}

void Framer::finish(const Sink& sink) {
  if (state_ == State::kBody && !body_.empty()) sink(body_, true, wire_);
  drop_held(held_);
  body_.clear();
  state_ = State::kAwaitStart;
}

}  // namespace otelbpf::l7::kafka
