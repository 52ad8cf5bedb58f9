#pragma once
// Bytes as lowercase hex (trace and span ids, as OTLP/JSON and W3C traceparent write them), and hex digits
// read back.
#include <array>
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

// The value of one hex digit of either case, else -1. By table: OTLP/JSON ids and every request's trace
// context are read a digit at a time.
inline constexpr std::array<std::int8_t, 256> kHexDigitValue = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<std::int8_t>(i);
  for (int i = 0; i < 6; ++i) {
    t['a' + i] = static_cast<std::int8_t>(10 + i);
    t['A' + i] = static_cast<std::int8_t>(10 + i);
  }
  return t;
}();
inline int hex_digit_value(char c) { return kHexDigitValue[static_cast<unsigned char>(c)]; }

}  // namespace otelbpf
