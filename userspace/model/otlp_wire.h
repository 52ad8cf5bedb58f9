#pragma once
// A look at an ExportTraceServiceRequest on the wire, before anything is allocated for it: a 16 MB body
// can hold 8 million empty spans, and decoding them takes 200 times the body in memory. The receiver
// counts first and refuses what the pipeline could never hold.
#include <cstddef>
#include <string_view>

namespace otelbpf {

struct WireSpanCount {
  bool well_formed = false;  // false: the body is not a protobuf message (the decoder will say why)
  std::size_t spans = 0;
};

// Counts the spans of an ExportTraceServiceRequest (resource_spans = 1 -> scope_spans = 2 -> spans = 2)
// by walking the protobuf wire format, without decoding anything else.
WireSpanCount count_spans_on_wire(std::string_view body);

}  // namespace otelbpf
