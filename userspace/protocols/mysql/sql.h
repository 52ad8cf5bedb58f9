#pragma once
// What the MySQL stitcher reads from statement text: the operation, the table a simple statement targets,
// and the statements that open or close transactions.
#include <string>
#include <string_view>

namespace otelbpf::l7::mysql {

// First keyword, upper-cased ("SELECT"; "START" for START TRANSACTION), after blanks, comments and
// opening parentheses; "" when the text does not start with a word.
std::string sql_operation(std::string_view sql);

// The one table of a simple statement (SELECT ... FROM t, INSERT INTO t, UPDATE t, DELETE FROM t,
// REPLACE INTO t), as written without quotes ("shop.orders"); "" for joins, lists, subqueries and the rest.
std::string sql_collection(std::string_view sql, std::string_view operation);

enum class TxnEffect : uint8_t {
  kNone,
  kBegin,          // BEGIN [WORK], START TRANSACTION
  kEnd,            // COMMIT, ROLLBACK (not ROLLBACK TO SAVEPOINT)
  kAutocommitOff,  // SET [SESSION] autocommit = 0 / OFF / FALSE
  kAutocommitOn,   // SET [SESSION] autocommit = 1 / ON / TRUE
};
TxnEffect sql_transaction_effect(std::string_view sql);

// The schema of `USE db`, "" for anything else.
std::string sql_use_database(std::string_view sql);

}  // namespace otelbpf::l7::mysql
