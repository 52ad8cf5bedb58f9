#pragma once
// Realistic OTLP export requests for the ingest benchmarks: what an instrumented service's SDK batch
// exporter sends (one resource with SDK and k8s attributes, one scope, spans of a few traces with
// HTTP/DB attributes and an event), plus cheap re-identification of a serialised request so a load
// generator can resend the same bytes without the agent seeing the same trace and span ids twice.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace otelbpf::bench {

using ExportRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

struct RequestShape {
  int spans = 512;
  int spans_per_trace = 8;  // a root SERVER span and its CLIENT/INTERNAL children
  std::uint64_t seed = 1;
};

ExportRequest make_request(const RequestShape& shape);

// Byte offsets of every trace id, span id and parent span id inside a serialised request.
struct IdOffsets {
  std::vector<std::size_t> offsets;
};

// Finds the ids of `request` inside `serialised` (its SerializeAsString()). Ids are random, so each
// occurs exactly once; throws std::runtime_error if one is not found (the ids would not be re-salted).
IdOffsets find_id_offsets(const ExportRequest& request, const std::string& serialised);

// XORs `salt` into the first 4 bytes of every id: a new set of ids that keeps parent links intact
// (same transform on span and parent ids). Different salts give different ids; salt 0 is identity.
void salt_ids(std::string& serialised, const IdOffsets& ids, std::uint32_t salt);

}  // namespace otelbpf::bench
