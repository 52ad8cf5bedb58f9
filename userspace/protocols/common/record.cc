#include "protocols/common/record.h"

#include <algorithm>

namespace otelbpf::l7 {

const char* to_string(Direction d) { return d == Direction::kEgress ? "egress" : "ingress"; }

const char* to_string(ParseState s) {
  switch (s) {
    case ParseState::kSuccess:
      return "success";
    case ParseState::kNeedsMoreData:
      return "needs_more_data";
    case ParseState::kInvalid:
      return "invalid";
  }
  return "?";
}

const char* to_string(Role r) {
  switch (r) {
    case Role::kClient:
      return "client";
    case Role::kServer:
      return "server";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

L7Record record_from_wire(std::string_view protocol, Role role, const WireExtent& request,
                          const WireExtent* response) {
  L7Record r;
  start_record(r, protocol, role, request, response);
  return r;
}

void start_record(L7Record& r, std::string_view protocol, Role role, const WireExtent& request,
                  const WireExtent* response) {
  r.protocol.assign(protocol);
  r.role = role;
  r.start_ns = request.start_ns;
  r.end_ns = request.end_ns;
  r.req_seq = request.seq;
  r.req_tid = request.tid;
  r.req_bytes = request.bytes;
  if (response != nullptr) {
    r.end_ns = std::max(response->end_ns, r.start_ns);
    r.resp_seq = response->seq;
    r.resp_tid = response->tid;
    r.resp_bytes = response->bytes;
  } else {
    r.response_missing = true;
  }
}

const AttributeValue* find_attribute(const L7Record& r, std::string_view key) {
  for (const auto& [k, v] : r.attributes) {
    if (k == key) return &v;
  }
  return nullptr;
}

StitcherStats& StitcherStats::operator+=(const StitcherStats& o) {
  records += o.records;
  parse_errors += o.parse_errors;
  resyncs += o.resyncs;
  bytes_skipped += o.bytes_skipped;
  unmatched_responses += o.unmatched_responses;
  truncated_headers += o.truncated_headers;
  requests_evicted += o.requests_evicted;
  return *this;
}

}  // namespace otelbpf::l7
