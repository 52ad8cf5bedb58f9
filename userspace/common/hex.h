#pragma once
// Bytes as lowercase hex (trace and span ids, as OTLP/JSON and W3C traceparent write them).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace otelbpf {

inline std::string to_hex(const std::uint8_t* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

inline std::string to_hex(std::string_view bytes) {
  return to_hex(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace otelbpf
