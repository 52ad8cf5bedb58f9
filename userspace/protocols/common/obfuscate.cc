#include "protocols/common/obfuscate.h"

#include <atomic>
#include <cstdint>
#include <initializer_list>

#include "protocols/common/text.h"

namespace otelbpf::l7 {
namespace {

std::atomic<bool> g_sql{true};
std::atomic<bool> g_redis{true};

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) { return hex_value(static_cast<char>(c)) >= 0; }
// Bytes above 0x7f belong to UTF-8 identifiers in both dialects.
bool ident_cont(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '_' || c == '$' || c >= 0x80; }
bool ident_start(unsigned char c, SqlDialect d) {
  return is_alpha(c) || c == '_' || c >= 0x80 || (c == '$' && d == SqlDialect::kMysql);
}

// Index just past the literal opened by the quote at `i`; sql.size() when it is not terminated.
// A doubled quote stands for itself; a backslash escapes the next byte where the dialect says so.
size_t skip_quoted(std::string_view sql, size_t i, bool backslash_escapes) {
  const char q = sql[i];
  for (size_t j = i + 1; j < sql.size(); ++j) {
    if (backslash_escapes && sql[j] == '\\') {
      ++j;
      continue;
    }
    if (sql[j] == q) {
      if (j + 1 < sql.size() && sql[j + 1] == q) {
        ++j;
        continue;
      }
      return j + 1;
    }
  }
  return sql.size();
}

// PostgreSQL $tag$ opener at `i` (tag empty or an identifier without `$`): the opener's length, else 0.
size_t dollar_tag_length(std::string_view sql, size_t i) {
  size_t j = i + 1;
  if (j < sql.size() && (is_alpha(sql[j]) || sql[j] == '_' || static_cast<unsigned char>(sql[j]) >= 0x80)) {
    while (j < sql.size() && sql[j] != '$' && ident_cont(static_cast<unsigned char>(sql[j]))) ++j;
  }
  return (j < sql.size() && sql[j] == '$') ? j + 1 - i : 0;
}

// Index just past a number starting at `i` (digits, or '.' then digits).
size_t skip_number(std::string_view sql, size_t i) {
  const auto at = [&](size_t k) -> unsigned char { return k < sql.size() ? sql[k] : 0; };
  size_t j = i;
  if (at(j) == '0' && (at(j + 1) == 'x' || at(j + 1) == 'X') && is_hex(at(j + 2))) {
    j += 2;
    while (is_hex(at(j))) ++j;
    return j;
  }
  if (at(j) == '0' && (at(j + 1) == 'b' || at(j + 1) == 'B') && (at(j + 2) == '0' || at(j + 2) == '1')) {
    j += 2;
    while (at(j) == '0' || at(j) == '1') ++j;
    return j;
  }
  while (is_digit(at(j))) ++j;
  if (at(j) == '.') {
    ++j;
    while (is_digit(at(j))) ++j;
  }
  if ((at(j) == 'e' || at(j) == 'E') &&
      (is_digit(at(j + 1)) || ((at(j + 1) == '+' || at(j + 1) == '-') && is_digit(at(j + 2))))) {
    j += 2;
    while (is_digit(at(j))) ++j;
  }
  return j;
}

// A word directly followed by a quote that makes the pair one literal: x'..', b'..', n'..', e'..' (PostgreSQL
// escape string), _charset'..' (MySQL introducer).
bool is_literal_prefix(std::string_view word, SqlDialect d) {
  if (word.size() == 1) {
    const char c = ascii_lower(word[0]);
    return c == 'x' || c == 'b' || c == 'n' || (c == 'e' && d == SqlDialect::kPostgres);
  }
  return d == SqlDialect::kMysql && word.size() > 1 && word[0] == '_';
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool one_of(std::string_view cmd, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (cmd == n) return true;
  return false;
}

}  // namespace

void set_obfuscation(bool sql, bool redis) {
  g_sql.store(sql, std::memory_order_relaxed);
  g_redis.store(redis, std::memory_order_relaxed);
}
bool sql_obfuscation_enabled() { return g_sql.load(std::memory_order_relaxed); }
bool redis_obfuscation_enabled() { return g_redis.load(std::memory_order_relaxed); }

std::string obfuscate_sql(std::string_view sql) { return obfuscate_sql(sql, SqlDialect::kMysql); }

std::string obfuscate_sql(std::string_view sql, SqlDialect d) {
  if (!sql_obfuscation_enabled()) return std::string(sql);
  const bool pg = d == SqlDialect::kPostgres;
  std::string out;
  out.reserve(sql.size());
  const auto at = [&](size_t k) -> unsigned char { return k < sql.size() ? sql[k] : 0; };
  size_t i = 0;
  while (i < sql.size()) {
    const unsigned char c = sql[i];
    const unsigned char prev = i > 0 ? sql[i - 1] : ' ';
    if (c == '\'' || (c == '"' && !pg)) {
      i = skip_quoted(sql, i, !pg);
      out += '?';
    } else if (c == '"' || c == '`') {
      const size_t end = skip_quoted(sql, i, false);
      out.append(sql.substr(i, end - i));
      i = end;
    } else if (c == '/' && at(i + 1) == '*') {
      const size_t close = sql.find("*/", i + 2);
      const size_t end = close == std::string_view::npos ? sql.size() : close + 2;
      out.append(sql.substr(i, end - i));
      i = end;
    } else if ((c == '-' && at(i + 1) == '-' && (pg || at(i + 2) <= ' ')) || (c == '#' && !pg)) {
      // MySQL wants whitespace after "--" ("1--1" is arithmetic).
      const size_t nl = sql.find('\n', i);
      const size_t end = nl == std::string_view::npos ? sql.size() : nl;
      out.append(sql.substr(i, end - i));
      i = end;
    } else if (c == '$' && pg && is_digit(at(i + 1))) {
      size_t j = i + 1;
      while (is_digit(at(j))) ++j;
      out.append(sql.substr(i, j - i));
      i = j;
    } else if (c == '$' && pg && dollar_tag_length(sql, i) > 0) {
      const size_t n = dollar_tag_length(sql, i);
      const size_t close = sql.find(sql.substr(i, n), i + n);
      i = close == std::string_view::npos ? sql.size() : close + n;
      out += '?';
    } else if (ident_start(c, d)) {
      size_t j = i + 1;
      while (j < sql.size() && ident_cont(static_cast<unsigned char>(sql[j]))) ++j;
      const std::string_view word = sql.substr(i, j - i);
      if (at(j) == '\'' && is_literal_prefix(word, d)) {
        const bool escapes = !pg || ascii_lower(word[0]) == 'e';
        i = skip_quoted(sql, j, escapes);
        out += '?';
      } else {
        out.append(word);
        i = j;
      }
    } else if (is_digit(c) ||
               (c == '.' && is_digit(at(i + 1)) && !ident_cont(prev) && prev != '`' && prev != '"')) {
      size_t j = skip_number(sql, i);
      if (j < sql.size() && ident_cont(static_cast<unsigned char>(sql[j]))) {
        // MySQL identifiers may begin with digits (1col, 2021_sales): a word, not a number.
        while (j < sql.size() && ident_cont(static_cast<unsigned char>(sql[j]))) ++j;
        out.append(sql.substr(i, j - i));
      } else {
        out += '?';
      }
      i = j;
    } else {
      out += static_cast<char>(c);
      ++i;
    }
  }
  return out;
}

std::string obfuscate_redis(const std::vector<std::string>& args) {
  if (args.empty()) return {};
  const std::string cmd = upper(args[0]);
  const size_t n = args.size();
  // keep[i]: whether args[i] is shown as is.
  std::vector<bool> keep(n, false);
  keep[0] = true;
  const bool obfuscate = redis_obfuscation_enabled();
  if (cmd == "AUTH") {
    // Credentials, always hidden.
  } else if (cmd == "HELLO") {
    for (size_t i = 1; i < n; ++i) {
      if (iequals(args[i], "AUTH")) {
        keep[i] = true;
        i += 2;  // username and password stay hidden
      } else {
        keep[i] = true;
      }
    }
  } else if (!obfuscate) {
    keep.assign(n, true);
  } else if (one_of(cmd, {"DEL", "UNLINK", "EXISTS", "MGET", "TOUCH", "WATCH", "SINTER", "SUNION", "SDIFF",
                          "PFCOUNT", "KEYS", "HGET", "HMGET", "HDEL", "HEXISTS", "HSTRLEN", "TYPE", "TTL",
                          "PTTL"})) {
    keep.assign(n, true);
  } else if (one_of(cmd, {"MSET", "MSETNX"})) {
    for (size_t i = 1; i < n; i += 2) keep[i] = true;
  } else if (one_of(cmd, {"HSET", "HMSET", "HSETNX", "HINCRBY", "HINCRBYFLOAT"})) {
    if (n > 1) keep[1] = true;
    for (size_t i = 2; i < n; i += 2) keep[i] = true;
  } else if (one_of(cmd, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})) {
    for (size_t i = 1; i < n && i <= 2; ++i) keep[i] = true;
    uint64_t numkeys = 0;
    if (n > 2) numkeys = parse_decimal(args[2], 1u << 20).value_or(0);
    for (size_t i = 3; i < n && i < 3 + numkeys; ++i) keep[i] = true;
  } else if (one_of(cmd, {"CLIENT", "CONFIG", "OBJECT", "SCRIPT", "CLUSTER", "COMMAND", "MEMORY", "XINFO",
                          "XGROUP", "FUNCTION", "ACL", "PUBSUB", "DEBUG", "MODULE", "LATENCY", "SLOWLOG"})) {
    // Container command: the subcommand and its first argument (a key, a parameter name, a user).
    for (size_t i = 1; i < n && i <= 2; ++i) keep[i] = true;
  } else if (n > 1) {
    keep[1] = true;
  }
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    if (keep[i])
      out += args[i];
    else
      out += '?';
  }
  return out;
}

}  // namespace otelbpf::l7
