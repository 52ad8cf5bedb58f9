#include "protocols/common/redact.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>

#include "protocols/common/obfuscate.h"
#include "protocols/common/text.h"

namespace otelbpf::l7 {
namespace {

// The length of the valid UTF-8 sequence starting at `i`, or 0 (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}

struct QueryRedaction {
  bool enabled = true;
  std::vector<std::string> allowed;
};
std::mutex g_query_mutex;
std::shared_ptr<const QueryRedaction> g_query = std::make_shared<QueryRedaction>();

std::shared_ptr<const QueryRedaction> query_redaction() {
  std::lock_guard lock(g_query_mutex);
  return g_query;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    // Captured text is nearly all ASCII: eight bytes without a high bit are eight valid sequences.
    if (text.size() - i >= 8) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

void set_url_query_redaction(bool enabled, std::vector<std::string> allowed) {
  auto next = std::make_shared<QueryRedaction>();
  next->enabled = enabled;
  next->allowed = std::move(allowed);
  std::lock_guard lock(g_query_mutex);
  g_query = std::move(next);
}

std::string redact_url_query(std::string_view query) {
  const auto config = query_redaction();
  if (!config->enabled) return std::string(query);
  std::string out;
  out.reserve(query.size());
  std::size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const auto pair = query.substr(start, end - start);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq + 1 == pair.size()) {
      out.append(pair);  // a bare name or an empty value says nothing secret
    } else {
      const auto name = pair.substr(0, eq);
      const bool allowed = std::any_of(config->allowed.begin(), config->allowed.end(),
                                       [&](const std::string& a) { return iequals(a, name); });
      out.append(allowed ? pair : std::string(name) + "=REDACTED");
    }
    if (end == query.size()) break;
    out += '&';
    start = end + 1;
  }
  return out;
}

std::string redact_error_message(std::string_view message) {
  if (!sql_obfuscation_enabled()) return std::string(message);
  // Servers quote what they refused ('value', "relation", `column`): every quoted run becomes ?. A quote
  // without its pair is prose ("doesn't"), not a literal, and stays.
  std::string out;
  out.reserve(message.size());
  for (std::size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (c == '\'' || c == '"' || c == '`') {
      const auto close = message.find(c, i + 1);
      if (close != std::string_view::npos) {
        out += '?';
        i = close;
        continue;
      }
    }
    out += c;
  }
  return out;
}

}  // namespace otelbpf::l7
