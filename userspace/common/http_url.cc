#include "common/http_url.h"

#include <cctype>
#include <charconv>

#include "common/hex.h"

namespace otelbpf {

bool parse_http_url(std::string_view url, HttpUrl& out, std::string& error) {
  while (!url.empty() && std::isspace(static_cast<unsigned char>(url.front()))) url.remove_prefix(1);
  while (!url.empty() && std::isspace(static_cast<unsigned char>(url.back()))) url.remove_suffix(1);
  std::string_view rest;
  if (url.starts_with("https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    out.tls = false;
    rest = url.substr(7);
  } else {
    error = "not an http:// or https:// URL: " + std::string(url);
    return false;
  }
  const auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  const std::string_view target = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);

  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {  // [::1]:4318
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 address in " + std::string(url);
      return false;
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (after.starts_with(':')) port = after.substr(1);
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    error = "no host in " + std::string(url);
    return false;
  }
  unsigned port_number = out.tls ? 443 : 80;
  if (!port.empty()) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
    if (ec != std::errc() || end != port.data() + port.size() || port_number == 0 || port_number > 65535) {
      error = "bad port in " + std::string(url);
      return false;
    }
  }
  out.host = std::string(host);
  out.port = std::to_string(port_number);
  out.target = std::string(target);
  return true;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_digit_value(s[i + 1]);
      const int lo = hex_digit_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

}  // namespace otelbpf
