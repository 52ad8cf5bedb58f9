#pragma once
// Obfuscation of the statements that sys spans carry (db.query.text, Redis commands): literals and values
// may hold personal data or secrets, so they become `?` before a span leaves the node. Shared by the
// MySQL, PostgreSQL and Redis parsers; on by default, switched off process-wide by configuration.
#include <string>
#include <string_view>
#include <vector>

namespace otelbpf::l7 {

// Process-wide switches (both on at start). Thread-safe; meant to be set once at start-up from config.
void set_obfuscation(bool sql, bool redis);
bool sql_obfuscation_enabled();
bool redis_obfuscation_enabled();

// How the SQL text is lexed where dialects differ.
enum class SqlDialect : uint8_t {
  // MySQL/MariaDB: '...' and "..." are string literals (ANSI_QUOTES off, the server default), backslash
  // escapes inside them, `...` quotes identifiers, `#` starts a comment.
  kMysql,
  // PostgreSQL: "..." quotes identifiers (kept), '...' has no backslash escapes (standard_conforming_strings)
  // except E'...', $tag$...$tag$ is a string, $1 a parameter, `#` is an operator.
  kPostgres,
};

// Replaces string, number, hex/bit and dollar-quoted literals with `?`; keeps keywords, identifiers,
// placeholders (?, $1, :name), operators, comments and whitespace. An unterminated literal (a statement
// cut by the capture size) is replaced up to the end. Returns the text unchanged when SQL obfuscation is
// switched off. Example: `INSERT INTO t VALUES (1, 'a')` -> `INSERT INTO t VALUES (?, ?)`.
std::string obfuscate_sql(std::string_view sql, SqlDialect dialect);
// MySQL dialect: the safe default, since it also hides "..." (a string in MySQL, an identifier elsewhere).
std::string obfuscate_sql(std::string_view sql);

// One Redis command (args[0] is the command name) as one line: the command (and its subcommand for
// container commands such as CONFIG GET), the key(s) are kept, values become `?`. AUTH's and HELLO's
// credentials are always hidden. With Redis obfuscation switched off, the arguments joined by spaces.
// Example: {"SET", "user:1", "secret"} -> `SET user:1 ?`.
std::string obfuscate_redis(const std::vector<std::string>& args);

}  // namespace otelbpf::l7
