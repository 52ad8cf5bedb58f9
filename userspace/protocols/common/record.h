#pragma once
// What every protocol stitcher produces: one L7Record per request/response pair, which the tracer turns
// into one sys (or net) span (docs/design.md, Span sources).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "protocols/common/stream.h"
#include "protocols/common/trace_context.h"

namespace otelbpf::l7 {

// Server when the process read the request, client when it wrote it.
enum class Role : uint8_t { kUnknown, kClient, kServer };
const char* to_string(Role r);

using AttributeValue = std::variant<std::string, int64_t, double, bool>;

// An attribute name: always a string literal ("http.request.method"), so a record's keys cost no
// allocation (a record carries ~20 of them, and the tracer makes one record per request). Only character
// arrays convert to it: a std::string, whose buffer may not outlive the record, does not compile.
class AttributeKey {
 public:
  template <std::size_t N>
  constexpr AttributeKey(const char (&literal)[N]) : text_(literal, N - 1) {}  // NOLINT: implicit by design
  constexpr std::string_view view() const { return text_; }
  constexpr operator std::string_view() const { return text_; }  // NOLINT
  friend constexpr bool operator==(AttributeKey a, std::string_view b) { return a.text_ == b; }
  friend constexpr bool operator==(AttributeKey a, AttributeKey b) { return a.text_ == b.text_; }

 private:
  std::string_view text_;
};

using Attributes = std::vector<std::pair<AttributeKey, AttributeValue>>;

// Appends a text attribute whose value is made in its slot from `text`. A std::string made beside it and
// moved in copies the text twice, and short (inline) text is copied by a call each time: the HTTP
// parser's ~10 text attributes per record were ~6 % of the tracer's thread under HTTP load that way.
template <std::size_t N>
void add_text_attribute(Attributes& attributes, const char (&key)[N], std::string_view text) {
  attributes.emplace_back(std::piecewise_construct, std::forward_as_tuple(key),
                          std::forward_as_tuple(std::in_place_type<std::string>, text));
}

struct L7Record {
  std::string protocol;  // "http1"; becomes otelbpf.l7.protocol
  Role role = Role::kUnknown;
  std::string span_name;  // e.g. "GET /users/42"
  // start: ts_enter of the first chunk of the request; end: ts_exit of the chunk carrying the last byte of
  // the response (or, when the response is missing, the close / eviction time).
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint32_t req_seq = 0;
  uint32_t resp_seq = 0;
  uint64_t req_bytes = 0;
  uint64_t resp_bytes = 0;
  uint32_t req_tid = 0;
  uint32_t resp_tid = 0;  // thread of the chunk carrying the first byte of the response
  // Semantic-convention attributes of the protocol (http.request.method, url.path, ...); the tracer adds
  // the process, socket and otelbpf.* attributes common to all protocols.
  Attributes attributes;
  bool error = false;                   // span status ERROR (HTTP 5xx, MySQL ERR, ...)
  std::string status_message;           // why, when error
  std::optional<TraceContext> context;  // from the request
  bool response_missing = false;        // connection closed or request evicted before a response
};

// A record's protocol, role, timing and wire facts, from its request's and response's extents (nullptr:
// no response seen, so response_missing). The end never precedes the start. Every stitcher starts its
// records here and adds its protocol's name and attributes.
L7Record record_from_wire(std::string_view protocol, Role role, const WireExtent& request,
                          const WireExtent* response);
// The same, into a default-constructed record where it is to stay (a slot of the stitcher's output): a
// record moved there was ~3 % of the tracer's thread under HTTP load (its strings are copied as they move).
void start_record(L7Record& r, std::string_view protocol, Role role, const WireExtent& request,
                  const WireExtent* response);

// The value of attribute `key`, or nullptr.
const AttributeValue* find_attribute(const L7Record& r, std::string_view key);

// Counters of one stitcher; the tracer sums them per protocol into metrics, so every byte a parser
// drops is accounted for.
struct StitcherStats {
  uint64_t records = 0;              // records emitted, response_missing ones included
  uint64_t parse_errors = 0;         // malformed messages (each one leads to a resync)
  uint64_t resyncs = 0;              // times framing was lost and the parser waited for a message start
  uint64_t bytes_skipped = 0;        // bytes passed over while resynchronising
  uint64_t unmatched_responses = 0;  // responses with no pending request
  uint64_t truncated_headers = 0;    // headers cut by the capture size (recorded as far as parsed)
  uint64_t requests_evicted = 0;     // pending requests dropped for the bound (emitted as response_missing)

  StitcherStats& operator+=(const StitcherStats& o);
};

// Turns one connection's chunks (both directions, in time order) into records.
class ProtocolStitcher {
 public:
  virtual ~ProtocolStitcher() = default;
  virtual void on_chunk(const DataChunk& chunk, std::vector<L7Record>& out) = 0;
  // The connection closed (or the tracer evicts it): finish messages that end at close and emit pending
  // requests as response_missing.
  virtual void on_close(uint64_t ts_ns, std::vector<L7Record>& out) = 0;
  const StitcherStats& stats() const { return stats_; }
  // Which end of the connection the traced process is, once the stitcher could tell.
  Role role() const { return role_; }

 protected:
  // Every stitcher counts into stats_ (its framers too) and sets role_ when it sees which side speaks first.
  StitcherStats stats_;
  Role role_ = Role::kUnknown;
};

}  // namespace otelbpf::l7
