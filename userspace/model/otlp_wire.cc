#include "model/otlp_wire.h"

#include <cstdint>
#include <optional>

namespace otelbpf {
namespace {

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  std::optional<std::uint64_t> varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return std::nullopt;
      const auto byte = static_cast<std::uint8_t>(data_[pos_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    return std::nullopt;
  }

  // One field: its number, and for length-delimited fields its bytes. False on a malformed field.
  bool field(std::uint32_t& number, std::string_view& bytes) {
    const auto tag = varint();
    if (!tag || (*tag >> 3) == 0) return false;
    number = static_cast<std::uint32_t>(*tag >> 3);
    bytes = {};
    switch (*tag & 7) {
      case 0:
        return varint().has_value();
      case 1:
        return skip(8);
      case 5:
        return skip(4);
      case 2: {
        const auto length = varint();
        if (!length || *length > data_.size() - pos_) return false;
        bytes = data_.substr(pos_, *length);
        pos_ += *length;
        return true;
      }
      case 3:
        // A group: OTLP defines none, but protobuf accepts one as an unknown field and decodes past it,
        // so the count must too (refusing it would let any body skip the span bound by carrying one).
        return skip_group(number, 0);
      default:  // an end-group without its start (4), or not protobuf (6, 7)
        return false;
    }
  }

 private:
  // Skips the fields of a group up to its end-group tag, nested groups included (as deep as protobuf's own
  // recursion limit).
  bool skip_group(std::uint32_t number, int depth) {
    if (depth >= 100) return false;
    while (!done()) {
      const auto tag = varint();
      if (!tag || (*tag >> 3) == 0) return false;
      const auto inner = static_cast<std::uint32_t>(*tag >> 3);
      switch (*tag & 7) {
        case 0:
          if (!varint()) return false;
          break;
        case 1:
          if (!skip(8)) return false;
          break;
        case 5:
          if (!skip(4)) return false;
          break;
        case 2: {
          const auto length = varint();
          if (!length || *length > data_.size() - pos_) return false;
          pos_ += *length;
          break;
        }
        case 3:
          if (!skip_group(inner, depth + 1)) return false;
          break;
        case 4:
          return inner == number;
        default:
          return false;
      }
    }
    return false;  // no end-group
  }
  bool skip(std::size_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view data_;
  std::size_t pos_ = 0;
};

// Calls `each` with the bytes of every length-delimited field `wanted` of a message.
template <typename Each>
bool for_each_field(std::string_view message, std::uint32_t wanted, Each each) {
  WireReader reader(message);
  while (!reader.done()) {
    std::uint32_t number = 0;
    std::string_view bytes;
    if (!reader.field(number, bytes)) return false;
    if (number == wanted && !each(bytes)) return false;
  }
  return true;
}

}  // namespace

WireSpanCount count_spans_on_wire(std::string_view body) {
  WireSpanCount count;
  count.well_formed = for_each_field(body, 1, [&](std::string_view resource_spans) {
    return for_each_field(resource_spans, 2, [&](std::string_view scope_spans) {
      return for_each_field(scope_spans, 2, [&](std::string_view) {
        ++count.spans;
        return true;
      });
    });
  });
  return count;
}

}  // namespace otelbpf
