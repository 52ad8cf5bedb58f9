#include "model/span_batch.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "common/heap_bytes.h"

namespace otelbpf {

const char* to_string(SpanSource source) {
  switch (source) {
    case SpanSource::kApp:
      return "app";
    case SpanSource::kSys:
      return "sys";
    case SpanSource::kNet:
      return "net";
  }
  return "unknown";
}

std::size_t count_spans(const otlp::ExportRequest& request) {
  std::size_t n = 0;
  for (const auto& rs : request.resource_spans())
    for (const auto& ss : rs.scope_spans()) n += static_cast<std::size_t>(ss.spans_size());
  return n;
}

void drop_empty_groups(otlp::ExportRequest& request) {
  auto& resources = *request.mutable_resource_spans();
  for (auto& rs : resources) {
    auto& scopes = *rs.mutable_scope_spans();
    scopes.erase(std::remove_if(scopes.begin(), scopes.end(), [](const auto& ss) { return ss.spans_size() == 0; }),
                 scopes.end());
  }
  resources.erase(std::remove_if(resources.begin(), resources.end(),
                                 [](const auto& rs) { return rs.scope_spans_size() == 0; }),
                  resources.end());
}

SpanBatch::SpanBatch()
    : owned_request_(std::make_unique<otlp::ExportRequest>()), request_(owned_request_.get()) {}

SpanBatch::SpanBatch(std::unique_ptr<google::protobuf::Arena> arena)
    : arena_(std::move(arena)),
      request_(google::protobuf::Arena::CreateMessage<otlp::ExportRequest>(arena_.get())) {}

SpanBatch::SpanBatch(SpanBatch&& other) noexcept
    : sys_groups(std::move(other.sys_groups)),
      source(other.source),
      peer_address(std::move(other.peer_address)),
      from_peer_agent(other.from_peer_agent),
      charge(std::move(other.charge)),
      admission_bytes(std::exchange(other.admission_bytes, 0)),
      arena_(std::move(other.arena_)),
      owned_request_(std::move(other.owned_request_)),
      request_(std::exchange(other.request_, nullptr)) {}

SpanBatch& SpanBatch::operator=(SpanBatch&& other) noexcept {
  if (this == &other) return *this;
  sys_groups = std::move(other.sys_groups);
  source = other.source;
  peer_address = std::move(other.peer_address);
  from_peer_agent = other.from_peer_agent;
  charge = std::move(other.charge);
  admission_bytes = std::exchange(other.admission_bytes, 0);
  // The old request goes before its arena.
  owned_request_ = std::move(other.owned_request_);
  request_ = std::exchange(other.request_, nullptr);
  arena_ = std::move(other.arena_);
  return *this;
}

SpanBatch::~SpanBatch() = default;

otlp::ExportRequest& SpanBatch::request() {
  if (!request_) {  // moved from: an empty heap request, as a moved-from protobuf message would be
    owned_request_ = std::make_unique<otlp::ExportRequest>();
    request_ = owned_request_.get();
  }
  return *request_;
}

std::size_t SpanBatch::arena_bytes() const { return arena_ ? arena_->SpaceAllocated() : 0; }

std::size_t SpanBatch::span_count() const {
  std::size_t n = count_spans(request());
  for (const auto& group : sys_groups) n += group.spans.size();
  return n;
}

namespace {

std::size_t value_bytes(const otlp::AnyValue& v, int depth);

std::size_t attributes_bytes(const google::protobuf::RepeatedPtrField<otlp::KeyValue>& attributes, int depth) {
  // Per attribute: the KeyValue and AnyValue objects and their allocator headers, the pointer slot.
  constexpr std::size_t kPerAttribute = 120;
  std::size_t bytes = static_cast<std::size_t>(attributes.Capacity()) * sizeof(void*);
  for (const auto& kv : attributes)
    bytes += kPerAttribute + string_heap_bytes(kv.key()) + value_bytes(kv.value(), depth);
  return bytes;
}

std::size_t value_bytes(const otlp::AnyValue& v, int depth) {
  if (depth > 8) return 0;  // deeper nesting than any sender uses: counted by the outer levels only
  switch (v.value_case()) {
    case otlp::AnyValue::kStringValue:
      return string_heap_bytes(v.string_value()) + 32;
    case otlp::AnyValue::kBytesValue:
      return string_heap_bytes(v.bytes_value()) + 32;
    case otlp::AnyValue::kArrayValue: {
      std::size_t bytes = 64;
      for (const auto& item : v.array_value().values()) bytes += 56 + value_bytes(item, depth + 1);
      return bytes;
    }
    case otlp::AnyValue::kKvlistValue:
      return 64 + attributes_bytes(v.kvlist_value().values(), depth + 1);
    default:
      return 0;
  }
}

}  // namespace

std::size_t approx_resident_bytes(const otlp::Span& span) {
  // The Span object and its header, ids and name.
  constexpr std::size_t kPerSpan = 360;
  std::size_t bytes = kPerSpan + string_heap_bytes(span.trace_id()) + string_heap_bytes(span.span_id()) +
                      string_heap_bytes(span.parent_span_id()) + string_heap_bytes(span.name()) +
                      string_heap_bytes(span.trace_state()) + string_heap_bytes(span.status().message()) +
                      attributes_bytes(span.attributes(), 0);
  for (const auto& event : span.events())
    bytes += 96 + string_heap_bytes(event.name()) + attributes_bytes(event.attributes(), 0);
  for (const auto& link : span.links())
    bytes += 120 + string_heap_bytes(link.trace_id()) + string_heap_bytes(link.span_id()) +
             string_heap_bytes(link.trace_state()) + attributes_bytes(link.attributes(), 0);
  return bytes;
}

std::size_t approx_scope_header_bytes(const otlp::ScopeSpans& ss) {
  return 160 + string_heap_bytes(ss.scope().name()) + string_heap_bytes(ss.scope().version()) +
         string_heap_bytes(ss.schema_url()) + attributes_bytes(ss.scope().attributes(), 0) +
         static_cast<std::size_t>(ss.spans().Capacity()) * sizeof(void*);
}

std::size_t approx_resident_bytes(const otlp::ScopeSpans& ss) {
  std::size_t bytes = approx_scope_header_bytes(ss);
  for (const auto& span : ss.spans()) bytes += approx_resident_bytes(span);
  return bytes;
}

std::size_t approx_resident_bytes(const otlp::ResourceSpans& rs) {
  std::size_t bytes =
      200 + attributes_bytes(rs.resource().attributes(), 0) + string_heap_bytes(rs.schema_url());
  for (const auto& ss : rs.scope_spans()) bytes += approx_resident_bytes(ss);
  return bytes;
}

std::size_t approx_resident_bytes(const otlp::ExportRequest& request) {
  std::size_t bytes = 64;
  for (const auto& rs : request.resource_spans()) bytes += approx_resident_bytes(rs);
  return bytes;
}

std::size_t approx_resident_bytes(const SysSpan& span) {
  std::size_t bytes = sizeof(SysSpan) + string_heap_bytes(span.record.protocol) +
                      string_heap_bytes(span.record.span_name) +
                      string_heap_bytes(span.record.status_message) + string_heap_bytes(span.local_address) +
                      string_heap_bytes(span.peer_address) +
                      span.record.attributes.capacity() * sizeof(l7::Attributes::value_type);
  for (const auto& [key, value] : span.record.attributes)
    if (const auto* text = std::get_if<std::string>(&value)) bytes += string_heap_bytes(*text);
  if (const auto& ctx = span.record.context)
    bytes += string_heap_bytes(ctx->tracestate) + string_heap_bytes(ctx->request_id);
  return bytes;
}

std::size_t approx_resident_bytes_without_spans(const SysSpanGroup& group) {
  return sizeof(SysSpanGroup) + attributes_bytes(group.resource.attributes(), 0) +
         string_heap_bytes(group.executable) +
         (group.spans.capacity() - group.spans.size()) * sizeof(SysSpan);
}

std::size_t approx_resident_bytes(const SysSpanGroup& group) {
  std::size_t bytes = approx_resident_bytes_without_spans(group);
  for (const auto& span : group.spans) bytes += approx_resident_bytes(span);
  return bytes;
}

std::size_t approx_resident_bytes(const SpanBatch& batch) {
  // An arena's blocks are what its request holds, exactly (the field walk would count allocator headers
  // that an arena does not have, and miss the blocks' unused tails).
  std::size_t bytes = batch.arena_bytes();
  if (bytes == 0) bytes = approx_resident_bytes(batch.request());
  for (const auto& group : batch.sys_groups) bytes += approx_resident_bytes(group);
  return bytes;
}

}  // namespace otelbpf
