// libFuzzer target for the OTLP/JSON decoder (receiver bodies with Content-Type application/json): any
// bytes either decode or are refused with an error, never crash; what decodes encodes again and decodes to
// the same message (the file exporter's encoder and the receiver's decoder agree).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "model/otlp_json.h"

using namespace otelbpf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  otlp::ExportRequest request;
  JsonDecodeError error;
  if (!decode_otlp_json(json, request, error)) return 0;
  const std::string again = encode_otlp_json(request);
  otlp::ExportRequest round_trip;
  JsonDecodeError second;
  if (!decode_otlp_json(again, round_trip, second)) __builtin_trap();  // our own output must decode
  if (round_trip.SerializeAsString() != request.SerializeAsString()) __builtin_trap();
  return 0;
}
