#pragma once
// OTLP/JSON encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): like proto3 JSON
// but trace and span ids are hex strings, enums are integers, keys lowerCamelCase. Decoders must also
// accept the quirks senders produce: 64-bit integers as strings or numbers, enums as names or numbers,
// snake_case keys.
#include <span>
#include <string>
#include <string_view>

#include "model/span_batch.h"

namespace otelbpf {

struct JsonDecodeError {
  std::string message;
  bool too_many_spans = false;  // the request holds more spans than max_spans (nothing was decoded)
};

// Parses an ExportTraceServiceRequest. On failure returns false and fills `error` with a reason that is
// sent back to the client in the 400 answer.
// Requests with more than `max_spans` spans are refused before any span is built (their span arrays are
// counted on the parsed document first).
bool decode_otlp_json(std::string_view json, otlp::ExportRequest& out, JsonDecodeError& error,
                      std::size_t max_spans = static_cast<std::size_t>(-1));

// Encodes an ExportTraceServiceRequest as one line of OTLP/JSON (no trailing newline).
std::string encode_otlp_json(const otlp::ExportRequest& request);
// Encodes several requests as the one request merging them would make, without the merge's copy.
std::string encode_otlp_json(std::span<const otlp::ExportRequest* const> parts);
// The same into `out` (replacing its content): a caller that encodes request after request keeps one
// buffer, and saves growing a fresh one each time (growing it, with its page faults, was half of the
// encoding time: bench_decode, BM_EncodeOtlpJson vs BM_EncodeOtlpJsonIntoKeptBuffer).
void encode_otlp_json_into(std::span<const otlp::ExportRequest* const> parts, std::string& out);

// Encodes batches, OTLP and compact sys spans (model/sys_span.h) alike, as the one request merging them
// would make: a compact span is written as the OTLP span it would become (spans/sys_span_export.h).
void encode_otlp_json_into(std::span<const SpanBatch* const> batches, std::string& out);

// A line buffer kept from encode to encode (the file exporter's). Its storage keeps its size between
// lines and only the bytes written count, because std::string's resize writes every byte it exposes: a
// buffer cleared and sized again for every ~1 MB line was zero-filled each time, 7 % of the encoding
// (bench_tracer BM_EncodeSysSpansJson).
class JsonLineBuffer {
 public:
  std::string_view view() const { return {storage_.data(), used_}; }
  std::size_t size() const { return used_; }
  void push_back(char c);
  // Lets go of the storage when it grew past `max_kept_bytes` (an exceptionally large line).
  void release_if_over(std::size_t max_kept_bytes);

 private:
  friend void encode_otlp_json_into(std::span<const otlp::ExportRequest* const>, JsonLineBuffer&);
  friend void encode_otlp_json_into(std::span<const SpanBatch* const>, JsonLineBuffer&);
  std::string storage_;
  std::size_t used_ = 0;
};
// The encodings above into `out`, replacing what it held.
void encode_otlp_json_into(std::span<const otlp::ExportRequest* const> parts, JsonLineBuffer& out);
void encode_otlp_json_into(std::span<const SpanBatch* const> batches, JsonLineBuffer& out);

// Encodes an ExportTraceServiceResponse (for answers to JSON requests).
std::string encode_otlp_json(const otlp::ExportResponse& response);

}  // namespace otelbpf
