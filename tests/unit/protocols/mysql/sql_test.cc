#include "protocols/mysql/sql.h"

#include <gtest/gtest.h>

namespace otelbpf::l7::mysql {
namespace {

TEST(MysqlSql, Operation) {
  EXPECT_EQ(sql_operation("select 1"), "SELECT");
  EXPECT_EQ(sql_operation("  /* hint */ (SELECT 1) UNION (SELECT 2)"), "SELECT");
  EXPECT_EQ(sql_operation("-- c\nINSERT INTO t VALUES (1)"), "INSERT");
  EXPECT_EQ(sql_operation("# c\ncommit"), "COMMIT");
  EXPECT_EQ(sql_operation("START TRANSACTION"), "START");
  EXPECT_EQ(sql_operation("'x'"), "");
  EXPECT_EQ(sql_operation(""), "");
}

TEST(MysqlSql, Collection) {
  EXPECT_EQ(sql_collection("SELECT * FROM orders WHERE id = 1", "SELECT"), "orders");
  EXPECT_EQ(sql_collection("SELECT a FROM shop.orders o WHERE o.id = 1", "SELECT"), "shop.orders");
  EXPECT_EQ(sql_collection("SELECT a FROM `shop`.`order items` AS oi", "SELECT"), "shop.order items");
  EXPECT_EQ(sql_collection("SELECT (SELECT 1 FROM x) FROM t", "SELECT"), "t");
  EXPECT_EQ(sql_collection("SELECT * FROM t WHERE a IN (SELECT b FROM u)", "SELECT"), "t");
  EXPECT_EQ(sql_collection("SELECT * FROM a, b", "SELECT"), "");
  EXPECT_EQ(sql_collection("SELECT * FROM a JOIN b ON a.x = b.x", "SELECT"), "");
  EXPECT_EQ(sql_collection("SELECT * FROM a x LEFT JOIN b ON 1", "SELECT"), "");
  EXPECT_EQ(sql_collection("SELECT * FROM (SELECT 1) d", "SELECT"), "");
  EXPECT_EQ(sql_collection("SELECT 1 FROM a UNION SELECT 2 FROM b", "SELECT"), "");
  EXPECT_EQ(sql_collection("SELECT 1", "SELECT"), "");
  EXPECT_EQ(sql_collection("SELECT 'FROM x'", "SELECT"), "");
  EXPECT_EQ(sql_collection("INSERT INTO t VALUES (1, 'a')", "INSERT"), "t");
  EXPECT_EQ(sql_collection("insert ignore into db.t(a) values (1)", "INSERT"), "db.t");
  EXPECT_EQ(sql_collection("INSERT t SET a = 1", "INSERT"), "t");
  EXPECT_EQ(sql_collection("REPLACE INTO t VALUES (1)", "REPLACE"), "t");
  EXPECT_EQ(sql_collection("UPDATE t SET a = 1", "UPDATE"), "t");
  EXPECT_EQ(sql_collection("UPDATE a, b SET a.x = b.x", "UPDATE"), "");
  EXPECT_EQ(sql_collection("DELETE FROM t WHERE id = 2", "DELETE"), "t");
  EXPECT_EQ(sql_collection("DELETE a FROM a JOIN b", "DELETE"), "");
  EXPECT_EQ(sql_collection("CREATE TABLE t (a int)", "CREATE"), "");
}

TEST(MysqlSql, TransactionEffects) {
  EXPECT_EQ(sql_transaction_effect("BEGIN"), TxnEffect::kBegin);
  EXPECT_EQ(sql_transaction_effect("begin work"), TxnEffect::kBegin);
  EXPECT_EQ(sql_transaction_effect("BEGIN NOT ATOMIC SELECT 1; END"), TxnEffect::kNone);
  EXPECT_EQ(sql_transaction_effect("START TRANSACTION READ ONLY"), TxnEffect::kBegin);
  EXPECT_EQ(sql_transaction_effect("START SLAVE"), TxnEffect::kNone);
  EXPECT_EQ(sql_transaction_effect("COMMIT"), TxnEffect::kEnd);
  EXPECT_EQ(sql_transaction_effect("rollback"), TxnEffect::kEnd);
  EXPECT_EQ(sql_transaction_effect("ROLLBACK TO SAVEPOINT s1"), TxnEffect::kNone);
  EXPECT_EQ(sql_transaction_effect("ROLLBACK WORK TO s1"), TxnEffect::kNone);
  EXPECT_EQ(sql_transaction_effect("SET autocommit=0"), TxnEffect::kAutocommitOff);
  EXPECT_EQ(sql_transaction_effect("set AUTOCOMMIT = OFF"), TxnEffect::kAutocommitOff);
  EXPECT_EQ(sql_transaction_effect("SET SESSION autocommit = 0"), TxnEffect::kAutocommitOff);
  EXPECT_EQ(sql_transaction_effect("SET @@session.autocommit=false"), TxnEffect::kAutocommitOff);
  EXPECT_EQ(sql_transaction_effect("SET @@autocommit := 1"), TxnEffect::kAutocommitOn);
  EXPECT_EQ(sql_transaction_effect("SET autocommit='ON'"), TxnEffect::kAutocommitOn);
  EXPECT_EQ(sql_transaction_effect("SET names utf8mb4"), TxnEffect::kNone);
  EXPECT_EQ(sql_transaction_effect("SELECT 1"), TxnEffect::kNone);
}

TEST(MysqlSql, UseDatabase) {
  EXPECT_EQ(sql_use_database("USE shop"), "shop");
  EXPECT_EQ(sql_use_database("use `my db`"), "my db");
  EXPECT_EQ(sql_use_database("SELECT 1"), "");
}

}  // namespace
}  // namespace otelbpf::l7::mysql
