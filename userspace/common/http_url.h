#pragma once
// An http:// or https:// URL taken apart for an HTTP client (the OTLP/HTTP exporter, the Kubernetes API
// client): scheme, host (IPv6 without brackets), port (the scheme's default when absent) and the rest.
#include <string>
#include <string_view>

namespace otelbpf {

struct HttpUrl {
  bool tls = false;  // https://
  std::string host;
  std::string port;    // "80" (http) or "443" (https) when the URL gives none
  std::string target;  // path and query as given ("" when the URL has none)
};

// Returns false and fills `error` (naming the URL) for anything but an http:// or https:// URL with a
// host and a valid port. User information ("user@") is dropped.
bool parse_http_url(std::string_view url, HttpUrl& out, std::string& error);

// %XX sequences decoded (a '%' not followed by two hex digits is kept as is); `plus_is_space`: a query
// string's '+' is a space (application/x-www-form-urlencoded).
std::string percent_decode(std::string_view s, bool plus_is_space = false);

}  // namespace otelbpf
