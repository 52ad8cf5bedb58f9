#include "protocols/mysql/sql.h"

#include <initializer_list>

#include "protocols/common/text.h"

namespace otelbpf::l7::mysql {
namespace {

struct Token {
  enum Kind : uint8_t { kEnd, kWord, kQuoted, kLiteral, kPunct } kind = kEnd;
  std::string_view text;  // a quoted identifier without its backticks

  bool is(std::string_view word) const { return kind == kWord && iequals(text, word); }
  bool is_any(std::initializer_list<std::string_view> words) const {
    for (auto w : words)
      if (is(w)) return true;
    return false;
  }
  bool punct(char c) const { return kind == kPunct && text.size() == 1 && text[0] == c; }
  bool name() const { return kind == kWord || kind == kQuoted; }
};

bool word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
         c >= 0x80;
}

// A small MySQL lexer: enough to find keywords and names, never fooled by literals or comments.
class Lexer {
 public:
  explicit Lexer(std::string_view sql) : s_(sql) {}

  Token next() {
    skip_blanks();
    Token t;
    if (i_ >= s_.size()) return t;
    const unsigned char c = s_[i_];
    const size_t start = i_;
    if (c == '`') {
      const size_t close = s_.find('`', i_ + 1);
      const size_t end = close == std::string_view::npos ? s_.size() : close;
      t.kind = Token::kQuoted;
      t.text = s_.substr(i_ + 1, end - i_ - 1);
      i_ = close == std::string_view::npos ? s_.size() : close + 1;
    } else if (c == '\'' || c == '"') {
      size_t j = i_ + 1;
      while (j < s_.size() && s_[j] != static_cast<char>(c)) j += s_[j] == '\\' ? 2 : 1;
      i_ = std::min(j + 1, s_.size());
      t.kind = Token::kLiteral;
      t.text = s_.substr(start, i_ - start);
    } else if (word_byte(c)) {
      while (i_ < s_.size() && word_byte(static_cast<unsigned char>(s_[i_]))) ++i_;
      t.text = s_.substr(start, i_ - start);
      const bool digits = t.text.find_first_not_of("0123456789") == std::string_view::npos;
      t.kind = digits ? Token::kLiteral : Token::kWord;
    } else {
      ++i_;
      t.kind = Token::kPunct;
      t.text = s_.substr(start, 1);
    }
    return t;
  }

 private:
  void skip_blanks() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') {
        ++i_;
      } else if (c == '#' || (c == '-' && i_ + 1 < s_.size() && s_[i_ + 1] == '-' &&
                              (i_ + 2 == s_.size() || static_cast<unsigned char>(s_[i_ + 2]) <= ' '))) {
        const size_t nl = s_.find('\n', i_);
        i_ = nl == std::string_view::npos ? s_.size() : nl + 1;
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '*') {
        const size_t close = s_.find("*/", i_ + 2);
        i_ = close == std::string_view::npos ? s_.size() : close + 2;
      } else {
        return;
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// name ['.' name] at `t` (consumed; `t` is left on the token after it).
std::string qualified_name(Lexer& lx, Token& t) {
  if (!t.name()) return {};
  std::string out(t.text);
  t = lx.next();
  if (t.punct('.')) {
    t = lx.next();
    if (!t.name()) return {};
    out += '.';
    out.append(t.text);
    t = lx.next();
  }
  return out;
}

// After a table reference: an alias may follow; a comma or a join means several tables.
bool single_table_follows(Lexer& lx, Token& t) {
  if (t.is("AS")) {
    t = lx.next();
    if (t.name()) t = lx.next();
  } else if (t.kind == Token::kQuoted ||
             (t.kind == Token::kWord &&
              !t.is_any({"WHERE",     "GROUP",     "HAVING",        "ORDER",  "LIMIT",     "FOR",
                         "LOCK",      "UNION",     "JOIN",          "INNER",  "LEFT",      "RIGHT",
                         "CROSS",     "NATURAL",   "STRAIGHT_JOIN", "FULL",   "SET",       "USING",
                         "PARTITION", "VALUES",    "VALUE",         "SELECT", "ON",        "INTO",
                         "WINDOW",    "USE",       "IGNORE",        "FORCE",  "RETURNING", "EXCEPT",
                         "INTERSECT", "PROCEDURE", "DEFAULT"}))) {
    t = lx.next();  // bare alias
  }
  return !t.punct(',') &&
         !t.is_any({"JOIN", "INNER", "LEFT", "RIGHT", "CROSS", "NATURAL", "STRAIGHT_JOIN", "FULL", "USING"});
}

bool is_keyword_not_name(const Token& t) {
  return t.is_any({"SELECT", "SET", "VALUES", "VALUE", "WHERE", "FROM", "DUAL"});
}

}  // namespace

std::string sql_operation(std::string_view sql) {
  Lexer lx(sql);
  Token t = lx.next();
  while (t.punct('(')) t = lx.next();
  return t.kind == Token::kWord ? upper(t.text) : std::string();
}

std::string sql_collection(std::string_view sql, std::string_view operation) {
  Lexer lx(sql);
  Token t = lx.next();
  while (t.punct('(')) t = lx.next();
  if (t.kind != Token::kWord) return {};
  t = lx.next();
  std::string name;
  if (operation == "SELECT") {
    int depth = 0;
    while (t.kind != Token::kEnd && !(depth == 0 && t.is("FROM"))) {
      if (t.punct('(')) ++depth;
      if (t.punct(')')) --depth;
      t = lx.next();
    }
    if (t.kind == Token::kEnd) return {};
    t = lx.next();
    if (is_keyword_not_name(t)) return {};
    name = qualified_name(lx, t);
    if (name.empty() || !single_table_follows(lx, t)) return {};
    // Another SELECT at the top level (UNION ...) reads other tables too.
    depth = 0;
    for (; t.kind != Token::kEnd; t = lx.next()) {
      if (t.punct('(')) ++depth;
      if (t.punct(')')) --depth;
      if (depth <= 0 && t.is_any({"UNION", "EXCEPT", "INTERSECT", "JOIN"})) return {};
    }
    return name;
  }
  if (operation == "INSERT" || operation == "REPLACE") {
    while (t.is_any({"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE"})) t = lx.next();
    if (t.is("INTO")) t = lx.next();
  } else if (operation == "UPDATE") {
    while (t.is_any({"LOW_PRIORITY", "IGNORE"})) t = lx.next();
  } else if (operation == "DELETE") {
    while (t.is_any({"LOW_PRIORITY", "QUICK", "IGNORE"})) t = lx.next();
    if (!t.is("FROM")) return {};  // multi-table DELETE t1, t2 FROM ...
    t = lx.next();
  } else {
    return {};
  }
  if (is_keyword_not_name(t)) return {};
  name = qualified_name(lx, t);
  if (name.empty()) return {};
  if (operation == "UPDATE" || operation == "DELETE") {
    if (!single_table_follows(lx, t)) return {};
  }
  return name;
}

TxnEffect sql_transaction_effect(std::string_view sql) {
  Lexer lx(sql);
  Token t = lx.next();
  if (t.is("BEGIN")) {
    t = lx.next();
    return (t.kind == Token::kEnd || t.punct(';') || t.is("WORK")) ? TxnEffect::kBegin : TxnEffect::kNone;
  }
  if (t.is("START")) return lx.next().is("TRANSACTION") ? TxnEffect::kBegin : TxnEffect::kNone;
  if (t.is("COMMIT")) return TxnEffect::kEnd;
  if (t.is("ROLLBACK")) {
    t = lx.next();
    if (t.is("WORK")) t = lx.next();
    return t.is("TO") ? TxnEffect::kNone : TxnEffect::kEnd;
  }
  if (!t.is("SET")) return TxnEffect::kNone;
  t = lx.next();
  // SET [SESSION|LOCAL] autocommit / SET @@[session.|local.]autocommit
  while (t.punct('@')) t = lx.next();
  if (t.is_any({"SESSION", "LOCAL"})) {
    t = lx.next();
    if (t.punct('.')) t = lx.next();
  }
  if (!t.is("AUTOCOMMIT")) return TxnEffect::kNone;
  t = lx.next();
  if (t.punct(':')) t = lx.next();
  if (!t.punct('=')) return TxnEffect::kNone;
  t = lx.next();
  std::string_view v = t.text;
  if (t.kind == Token::kLiteral && v.size() >= 2 && (v.front() == '\'' || v.front() == '"'))
    v = v.substr(1, v.size() - 2);
  if (v == "0" || iequals(v, "OFF") || iequals(v, "FALSE")) return TxnEffect::kAutocommitOff;
  if (v == "1" || iequals(v, "ON") || iequals(v, "TRUE")) return TxnEffect::kAutocommitOn;
  return TxnEffect::kNone;
}

std::string sql_use_database(std::string_view sql) {
  Lexer lx(sql);
  if (!lx.next().is("USE")) return {};
  const Token t = lx.next();
  return t.name() ? std::string(t.text) : std::string();
}

}  // namespace otelbpf::l7::mysql
