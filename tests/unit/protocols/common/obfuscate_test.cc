#include "protocols/common/obfuscate.h"

#include <gtest/gtest.h>

#include <string>

namespace otelbpf::l7 {
namespace {

std::string my(std::string_view s) { return obfuscate_sql(s, SqlDialect::kMysql); }
std::string pg(std::string_view s) { return obfuscate_sql(s, SqlDialect::kPostgres); }

TEST(ObfuscateSql, StringsAndNumbers) {
  EXPECT_EQ(my("INSERT INTO t VALUES (1, 'a')"), "INSERT INTO t VALUES (?, ?)");
  EXPECT_EQ(my("SELECT * FROM users WHERE id = 42 AND name = \"bob\""),
            "SELECT * FROM users WHERE id = ? AND name = ?");
  EXPECT_EQ(my("SELECT 1.5, .5, 3e10, 2E-3, 1.e5"), "SELECT ?, ?, ?, ?, ?");
  EXPECT_EQ(my("UPDATE t SET a = -7 WHERE b < 10"), "UPDATE t SET a = -? WHERE b < ?");
  EXPECT_EQ(obfuscate_sql("SELECT 'x'"), "SELECT ?");  // the default dialect is MySQL
}

TEST(ObfuscateSql, EscapesAndDoubledQuotes) {
  EXPECT_EQ(my(R"(SELECT 'it''s', 'a\'b', "q\"q", 'c:\\')"), "SELECT ?, ?, ?, ?");
  EXPECT_EQ(pg(R"(SELECT 'c:\', 'it''s', E'a\'b')"), "SELECT ?, ?, ?");
}

TEST(ObfuscateSql, HexBitAndIntroducers) {
  EXPECT_EQ(my("SELECT 0x1F, 0b101, X'ab', b'01', N'nat', _utf8mb4'abc'"), "SELECT ?, ?, ?, ?, ?, ?");
  EXPECT_EQ(pg("SELECT X'1F', B'0101'"), "SELECT ?, ?");
}

TEST(ObfuscateSql, IdentifiersKept) {
  EXPECT_EQ(my("SELECT t1.col2, `we'ird`, 1col FROM db1.t2"), "SELECT t1.col2, `we'ird`, 1col FROM db1.t2");
  EXPECT_EQ(my("SELECT a$b, x FROM t"), "SELECT a$b, x FROM t");
  EXPECT_EQ(pg(R"(SELECT "users"."id" FROM "users" WHERE "id" = 5)"),
            R"(SELECT "users"."id" FROM "users" WHERE "id" = ?)");
}

TEST(ObfuscateSql, PlaceholdersKept) {
  EXPECT_EQ(my("SELECT * FROM t WHERE a = ? AND b = :name"), "SELECT * FROM t WHERE a = ? AND b = :name");
  EXPECT_EQ(pg("SELECT * FROM t WHERE a = $1 AND b = $12"), "SELECT * FROM t WHERE a = $1 AND b = $12");
}

TEST(ObfuscateSql, DollarQuotes) {
  EXPECT_EQ(pg("SELECT $$it's$$, $fn$ body 'x' $fn$, 1"), "SELECT ?, ?, ?");
  EXPECT_EQ(pg("SELECT $tag$ never closed"), "SELECT ?");
}

TEST(ObfuscateSql, Comments) {
  EXPECT_EQ(my("SELECT 1 -- it's 2\nFROM t # note 3\n/* 'x' */"),
            "SELECT ? -- it's 2\nFROM t # note 3\n/* 'x' */");
  EXPECT_EQ(my("SELECT 1--1"), "SELECT ?--?");
  EXPECT_EQ(pg("SELECT a # b, 1--x"), "SELECT a # b, ?--x");
  EXPECT_EQ(my("SELECT /* unterminated 'x"), "SELECT /* unterminated 'x");
}

TEST(ObfuscateSql, CutStatementHidesTheRest) {
  EXPECT_EQ(my("INSERT INTO t VALUES ('secret tail"), "INSERT INTO t VALUES (?");
  EXPECT_EQ(my("SELECT 'a\\"), "SELECT ?");
  EXPECT_EQ(my(""), "");
}

TEST(ObfuscateSql, NonAsciiAndBinarySafe) {
  EXPECT_EQ(my("SELECT 'héllo', café FROM t"), "SELECT ?, café FROM t");
  std::string bin("SELECT \0\xff\x01 1", 12);
  EXPECT_EQ(my(bin).back(), '?');
}

TEST(ObfuscateSql, SwitchedOff) {
  set_obfuscation(false, true);
  EXPECT_EQ(my("SELECT 1"), "SELECT 1");
  set_obfuscation(true, true);
  EXPECT_TRUE(sql_obfuscation_enabled());
  EXPECT_EQ(my("SELECT 1"), "SELECT ?");
}

TEST(ObfuscateRedis, KeyKeptValuesHidden) {
  EXPECT_EQ(obfuscate_redis({"SET", "user:1", "secret"}), "SET user:1 ?");
  EXPECT_EQ(obfuscate_redis({"set", "k", "v", "EX", "10"}), "set k ? ? ?");
  EXPECT_EQ(obfuscate_redis({"GET", "k"}), "GET k");
  EXPECT_EQ(obfuscate_redis({"PING"}), "PING");
  EXPECT_EQ(obfuscate_redis({}), "");
  EXPECT_EQ(obfuscate_redis({"RPUSH", "list", "a", "b"}), "RPUSH list ? ?");
}

TEST(ObfuscateRedis, MultiKeyCommands) {
  EXPECT_EQ(obfuscate_redis({"DEL", "a", "b"}), "DEL a b");
  EXPECT_EQ(obfuscate_redis({"MGET", "a", "b"}), "MGET a b");
  EXPECT_EQ(obfuscate_redis({"MSET", "a", "1", "b", "2"}), "MSET a ? b ?");
  EXPECT_EQ(obfuscate_redis({"HSET", "h", "f1", "v1", "f2", "v2"}), "HSET h f1 ? f2 ?");
  EXPECT_EQ(obfuscate_redis({"HGET", "h", "f"}), "HGET h f");
  EXPECT_EQ(obfuscate_redis({"EVAL", "return 1", "2", "k1", "k2", "arg"}), "EVAL return 1 2 k1 k2 ?");
  EXPECT_EQ(obfuscate_redis({"EVALSHA", "abc", "zz", "x"}), "EVALSHA abc zz ?");
}

TEST(ObfuscateRedis, Credentials) {
  EXPECT_EQ(obfuscate_redis({"AUTH", "pw"}), "AUTH ?");
  EXPECT_EQ(obfuscate_redis({"AUTH", "user", "pw"}), "AUTH ? ?");
  EXPECT_EQ(obfuscate_redis({"HELLO", "3", "AUTH", "u", "p", "SETNAME", "c"}), "HELLO 3 AUTH ? ? SETNAME c");
  EXPECT_EQ(obfuscate_redis({"CONFIG", "SET", "requirepass", "pw"}), "CONFIG SET requirepass ?");
  EXPECT_EQ(obfuscate_redis({"ACL", "SETUSER", "bob", "on", ">pw"}), "ACL SETUSER bob ? ?");
}

TEST(ObfuscateRedis, SwitchedOffStillHidesCredentials) {
  set_obfuscation(true, false);
  EXPECT_EQ(obfuscate_redis({"SET", "k", "v"}), "SET k v");
  EXPECT_EQ(obfuscate_redis({"AUTH", "pw"}), "AUTH ?");
  set_obfuscation(true, true);
}

}  // namespace
}  // namespace otelbpf::l7
