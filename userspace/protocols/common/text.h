#pragma once
// Small text helpers the protocol parsers share (header names are ASCII and case-insensitive).
#include <cstdint>
#include <optional>
#include <string_view>

namespace otelbpf::l7 {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Inline: the parsers compare every header name they read with several known ones.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}
bool istarts_with(std::string_view s, std::string_view prefix);

// Strips optional whitespace (SP, HTAB) at both ends.
std::string_view trim_ows(std::string_view s);

// Value of one hex digit, or -1.
int hex_value(char c);

// Unsigned decimal without sign or spaces; nullopt when empty, not all digits, or above `max`.
// An authority (host[:port], [v6]:port, any userinfo@ dropped) split into host and port; the port is
// left unset when absent or not a number up to 65535.
void split_authority(std::string_view authority, std::string_view* host, std::optional<int64_t>* port);

std::optional<uint64_t> parse_decimal(std::string_view s, uint64_t max = UINT64_MAX / 16);

}  // namespace otelbpf::l7
