#include "protocols/mysql/stitcher.h"

#include <gtest/gtest.h>

#include <random>

#include "fixtures.h"
#include "protocols/common/redact.h"

namespace otelbpf::l7::mysql {
namespace {

using namespace testing;

TEST(MysqlStitcher, ClientQueryAfterHandshakeFillsEveryRecordField) {
  Conversation c;
  c.client_handshake();
  EXPECT_TRUE(c.records.empty());  // the connection phase makes no records
  const uint32_t req_seq = c.egress_seq;
  const uint32_t resp_seq = c.ingress_seq;
  const std::string q = query("INSERT INTO orders VALUES (1, 'secret')");
  const std::string a = ok(1, 1, 77);
  c.out(q);
  c.in(a);
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.protocol, "mysql");
  EXPECT_EQ(r.role, Role::kClient);
  EXPECT_EQ(c.stitcher.role(), Role::kClient);
  EXPECT_EQ(r.span_name, "INSERT orders");
  EXPECT_EQ(str_attr(r, "db.system.name"), "mysql");
  EXPECT_EQ(str_attr(r, "db.system"), "mysql");
  EXPECT_EQ(str_attr(r, "db.query.text"), "INSERT INTO orders VALUES (?, ?)");
  EXPECT_EQ(str_attr(r, "db.operation.name"), "INSERT");
  EXPECT_EQ(str_attr(r, "db.collection.name"), "orders");
  EXPECT_EQ(str_attr(r, "db.namespace"), "shop");
  EXPECT_EQ(str_attr(r, "otelbpf.mysql.command"), "COM_QUERY");
  EXPECT_EQ(int_attr(r, "otelbpf.db.affected_rows"), 1);
  EXPECT_EQ(int_attr(r, "otelbpf.db.last_insert_id"), 77);
  EXPECT_FALSE(has_attr(r, "otelbpf.db.transaction_id"));
  EXPECT_FALSE(has_attr(r, "db.response.returned_rows"));
  EXPECT_EQ(r.req_seq, req_seq);
  EXPECT_EQ(r.resp_seq, resp_seq);
  EXPECT_EQ(r.req_bytes, q.size());
  EXPECT_EQ(r.resp_bytes, a.size());
  EXPECT_EQ(r.req_tid, 11u);
  EXPECT_EQ(r.resp_tid, 22u);
  EXPECT_LT(r.start_ns, r.end_ns);
  EXPECT_FALSE(r.error);
  EXPECT_FALSE(r.response_missing);
  EXPECT_EQ(c.stats().records, 1u);
}

TEST(MysqlStitcher, ServerRoleFromTheGreetingItWrites) {
  Conversation c;
  c.out(greeting());
  c.in(handshake_response(kClientCaps));
  c.out(ok(2));
  c.in(query("SELECT 1"));
  c.out(result_set(1, 1, false));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].role, Role::kServer);
  EXPECT_EQ(c.records[0].span_name, "SELECT");
  EXPECT_EQ(int_attr(c.records[0], "db.response.returned_rows"), 1);
}

TEST(MysqlStitcher, ResultSetsWithAndWithoutDeprecateEof) {
  for (bool deprecate : {false, true}) {
    Conversation c;
    c.client_handshake(kClientCaps | (deprecate ? kClientDeprecateEof : 0));
    EXPECT_EQ(c.stitcher.deprecate_eof(), deprecate ? Stitcher::Tristate::kYes : Stitcher::Tristate::kNo);
    c.out(query("SELECT id, name FROM users WHERE id > 10"));
    c.in(result_set(2, 5, deprecate));
    c.out(query("SELECT * FROM empty_table"));
    c.in(result_set(3, 0, deprecate));
    ASSERT_EQ(c.records.size(), 2u) << deprecate;
    EXPECT_EQ(c.records[0].span_name, "SELECT users");
    EXPECT_EQ(int_attr(c.records[0], "db.response.returned_rows"), 5);
    EXPECT_EQ(str_attr(c.records[0], "db.query.text"), "SELECT id, name FROM users WHERE id > ?");
    EXPECT_EQ(int_attr(c.records[1], "db.response.returned_rows"), 0);
    EXPECT_FALSE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  }
}

TEST(MysqlStitcher, DeprecateEofIsLearnedMidStream) {
  for (bool deprecate : {false, true}) {
    for (size_t rows : {0, 2}) {
      Conversation c;  // no handshake seen: the first thing is a command
      c.out(query("SELECT a FROM t"));
      c.in(result_set(1, rows, deprecate));
      c.out(ping());
      c.in(ok());
      ASSERT_EQ(c.records.size(), 2u);
      EXPECT_EQ(int_attr(c.records[0], "db.response.returned_rows"), static_cast<int64_t>(rows));
      EXPECT_EQ(c.records[1].span_name, "PING");
      EXPECT_EQ(c.stitcher.deprecate_eof(), deprecate ? Stitcher::Tristate::kYes : Stitcher::Tristate::kNo);
    }
  }
}

TEST(MysqlStitcher, ErrPacketIsAnError) {
  Conversation c;
  c.client_handshake();
  c.out(query("SELECT * FROM nope"));
  c.in(err(1, 1146, "42S02", "Table 'shop.nope' doesn't exist"));
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.status_message, "Table 'shop.nope' doesn't exist");
  EXPECT_EQ(str_attr(r, "db.response.status_code"), "1146");
  EXPECT_EQ(str_attr(r, "error.type"), "1146");
  EXPECT_EQ(str_attr(r, "otelbpf.db.sqlstate"), "42S02");
  EXPECT_EQ(r.span_name, "SELECT nope");
}

TEST(MysqlStitcher, ErrorInsideTheRows) {
  Conversation c;
  c.client_handshake();
  const std::string rs = result_set(1, 2, false);
  c.out(query("SELECT a FROM t"));
  // columns, EOF and two rows, then an error instead of the final EOF.
  c.in(rs.substr(0, rs.size() - eof(0).size()) + err(6, 1317, "70100", "Query execution was interrupted"));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].error);
  EXPECT_EQ(str_attr(c.records[0], "db.response.status_code"), "1317");
}

TEST(MysqlStitcher, MariadbCachedMetadataAndProgressReports) {
  Conversation c;
  c.client_handshake(kClientCaps | kClientDeprecateEof);
  c.out(execute(4));
  // column count with "metadata follows" = 0: no definitions, straight to the rows.
  c.in(packet(1, std::string("\x02\x00", 2)) + packet(2, std::string("\0\0", 2) + le_bytes(1, 4)) +
       packet(3, ok_payload(0, 0, kStatusAutocommit, 0xFE)));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(int_attr(c.records[0], "db.response.returned_rows"), 1);
  c.out(query("ALTER TABLE t ADD COLUMN x INT"));
  c.in(packet(1, "\xff\xff\xff\x01\x01\x00\x10\x00\x00\x05stage"));  // progress report
  EXPECT_EQ(c.records.size(), 1u);
  c.in(ok(2));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_FALSE(c.records[1].error);
  EXPECT_EQ(c.records[1].span_name, "ALTER");
}

TEST(MysqlStitcher, PreparedStatementLifecycle) {
  for (bool deprecate : {false, true}) {
    Conversation c;
    c.client_handshake(kClientCaps | (deprecate ? kClientDeprecateEof : 0));
    c.out(prepare("SELECT name FROM users WHERE id = ? AND kind = 'x'"));
    c.in(prepare_ok(5, 1, 1, deprecate));
    c.out(execute(5, std::string("\x01\x03\x00\x2a\x00\x00\x00", 7)));
    c.in(binary_result_set(3, deprecate));
    c.out(prepare("INSERT INTO t VALUES (?, ?)"));
    c.in(prepare_ok(6, 0, 2, deprecate));
    c.out(execute(6));
    c.in(ok(1, 1));
    c.out(stmt_close(5));
    c.out(execute(5));  // closed: its text is forgotten
    c.in(err(1, 1243, "HY000", "Unknown prepared statement handler"));
    ASSERT_EQ(c.records.size(), 6u) << deprecate;
    const auto& prep = c.records[0];
    EXPECT_EQ(prep.span_name, "PREPARE");
    EXPECT_EQ(str_attr(prep, "db.operation.name"), "PREPARE");
    EXPECT_EQ(str_attr(prep, "db.query.text"), "SELECT name FROM users WHERE id = ? AND kind = ?");
    EXPECT_EQ(int_attr(prep, "otelbpf.db.statement_id"), 5);
    const auto& exec = c.records[1];
    EXPECT_EQ(exec.span_name, "SELECT users");
    EXPECT_EQ(str_attr(exec, "otelbpf.mysql.command"), "COM_STMT_EXECUTE");
    EXPECT_EQ(str_attr(exec, "db.query.text"), "SELECT name FROM users WHERE id = ? AND kind = ?");
    EXPECT_EQ(int_attr(exec, "db.response.returned_rows"), 3);
    EXPECT_EQ(int_attr(exec, "otelbpf.db.statement_id"), 5);
    EXPECT_EQ(c.records[3].span_name, "INSERT t");
    EXPECT_EQ(int_attr(c.records[3], "otelbpf.db.affected_rows"), 1);
    const auto& close = c.records[4];
    EXPECT_EQ(close.span_name, "STMT_CLOSE");
    EXPECT_EQ(close.resp_bytes, 0u);
    EXPECT_EQ(close.resp_seq, close.req_seq + stmt_close(5).size());  // pairs the two ends
    EXPECT_FALSE(close.response_missing);
    EXPECT_EQ(close.end_ns, c.records[4].end_ns);
    EXPECT_EQ(c.records[5].span_name, "EXECUTE");
    EXPECT_FALSE(has_attr(c.records[5], "db.query.text"));
    EXPECT_TRUE(c.records[5].error);
  }
}

TEST(MysqlStitcher, PrepareAnswerMidStreamEndsWithTheWrite) {
  for (bool deprecate : {false, true}) {
    Conversation c;
    c.out(prepare("SELECT a, b FROM t WHERE id = ?"));
    c.in(prepare_ok(9, 2, 1, deprecate));
    ASSERT_EQ(c.records.size(), 1u) << deprecate;
    c.out(execute(9));
    c.in(binary_result_set(1, deprecate));
    ASSERT_EQ(c.records.size(), 2u);
    EXPECT_EQ(str_attr(c.records[1], "db.query.text"), "SELECT a, b FROM t WHERE id = ?");
    EXPECT_EQ(int_attr(c.records[1], "db.response.returned_rows"), 1);
  }
}

TEST(MysqlStitcher, PingQuitInitDbAndNamespace) {
  Conversation c;
  c.client_handshake(kClientCaps, "first");
  c.out(ping());
  c.in(ok());
  c.out(init_db("second"));
  c.in(ok());
  c.out(query("SELECT 1"));
  c.in(result_set(1, 1, false));
  c.out(query("USE third"));
  c.in(ok());
  c.out(init_db("missing"));
  c.in(err(1, 1049, "42000", "Unknown database 'missing'"));
  c.out(query("SELECT 2"));
  c.in(result_set(1, 1, false));
  c.out(quit());
  ASSERT_EQ(c.records.size(), 7u);
  EXPECT_EQ(c.records[0].span_name, "PING");
  EXPECT_EQ(str_attr(c.records[0], "db.namespace"), "first");
  EXPECT_EQ(c.records[1].span_name, "INIT_DB");
  EXPECT_EQ(str_attr(c.records[1], "db.namespace"), "second");
  EXPECT_EQ(str_attr(c.records[2], "db.namespace"), "second");
  EXPECT_EQ(c.records[3].span_name, "USE");
  EXPECT_EQ(str_attr(c.records[3], "db.namespace"), "third");
  EXPECT_TRUE(c.records[4].error);
  EXPECT_EQ(str_attr(c.records[5], "db.namespace"), "third");
  EXPECT_EQ(c.records[6].span_name, "QUIT");
  EXPECT_EQ(c.records[6].resp_bytes, 0u);
  c.close();
  EXPECT_EQ(c.records.size(), 7u);
}

TEST(MysqlStitcher, TransactionsShareAnId) {
  Conversation c;
  c.client_handshake();
  auto run = [&](std::string_view sql) {
    c.out(query(sql));
    c.in(ok());
  };
  run("SELECT 0");
  run("SET autocommit=0");
  run("INSERT INTO t VALUES (1, 2)");
  run("COMMIT");
  run("SELECT 1");  // autocommit is still off: a new transaction
  run("ROLLBACK");
  run("SET autocommit=1");
  run("SELECT 2");
  run("BEGIN");
  run("UPDATE t SET a = 1");
  run("START TRANSACTION");  // commits the open one implicitly
  run("DELETE FROM t");
  run("ROLLBACK TO SAVEPOINT s");
  run("COMMIT");
  run("SELECT 3");
  ASSERT_EQ(c.records.size(), 15u);
  auto txn = [&](size_t i) { return str_attr(c.records[i], "otelbpf.db.transaction_id"); };
  EXPECT_EQ(txn(0), "<none>");
  EXPECT_NE(txn(1), "<none>");
  EXPECT_EQ(txn(1), txn(2));
  EXPECT_EQ(txn(1), txn(3));
  EXPECT_NE(txn(4), "<none>");
  EXPECT_NE(txn(4), txn(1));
  EXPECT_EQ(txn(4), txn(5));
  EXPECT_EQ(txn(6), "<none>");  // nothing was open when autocommit came back
  EXPECT_EQ(txn(7), "<none>");
  EXPECT_NE(txn(8), "<none>");
  EXPECT_EQ(txn(8), txn(9));
  EXPECT_NE(txn(10), txn(8));
  EXPECT_EQ(txn(10), txn(11));
  EXPECT_EQ(txn(10), txn(12));
  EXPECT_EQ(txn(10), txn(13));
  EXPECT_EQ(txn(14), "<none>");
  EXPECT_EQ(c.records[3].span_name, "COMMIT");
  EXPECT_EQ(c.records[1].span_name, "SET");
  EXPECT_EQ(c.records[10].span_name, "START");
}

TEST(MysqlStitcher, TransactionIdsAreUniqueAcrossConnections) {
  Conversation a, b;
  for (Conversation* c : {&a, &b}) {
    c->out(query("BEGIN"));
    c->in(ok());
  }
  EXPECT_NE(str_attr(a.records[0], "otelbpf.db.transaction_id"),
            str_attr(b.records[0], "otelbpf.db.transaction_id"));
}

// A whole client conversation as the server process sees it, fed with every split.
std::vector<std::pair<Direction, std::string>> ServerConversation() {
  return {{Direction::kEgress, greeting()},
          {Direction::kIngress, handshake_response(kClientCaps)},
          {Direction::kEgress, ok(2)},
          {Direction::kIngress, query("SELECT a, b FROM t")},
          {Direction::kEgress, result_set(2, 3, false)},
          {Direction::kIngress, prepare("INSERT INTO t VALUES (?, ?)")},
          {Direction::kEgress, prepare_ok(1, 0, 2, false)},
          {Direction::kIngress, execute(1)},
          {Direction::kEgress, ok(1, 1)},
          {Direction::kIngress, query("SELECT * FROM nope")},
          {Direction::kEgress, err(1, 1146, "42S02", "no such table")}};
}

void ExpectServerConversation(const std::vector<L7Record>& records, const std::string& what) {
  ASSERT_EQ(records.size(), 4u) << what;
  EXPECT_EQ(records[0].span_name, "SELECT t") << what;
  EXPECT_EQ(int_attr(records[0], "db.response.returned_rows"), 3) << what;
  EXPECT_EQ(records[1].span_name, "PREPARE") << what;
  EXPECT_EQ(records[2].span_name, "INSERT t") << what;
  EXPECT_TRUE(records[3].error) << what;
  for (const auto& r : records) {
    EXPECT_EQ(r.role, Role::kServer) << what;
    EXPECT_FALSE(has_attr(r, "otelbpf.l7.truncated")) << what;
  }
}

TEST(MysqlStitcher, EveryMessageSplitAtEveryByteOffset) {
  const auto conv = ServerConversation();
  for (size_t m = 0; m < conv.size(); ++m) {
    const std::string& bytes = conv[m].second;
    for (size_t cut = 1; cut < bytes.size(); ++cut) {
      Conversation c;
      for (size_t k = 0; k < conv.size(); ++k) {
        if (k == m) {
          c.send(conv[k].first, std::string_view(bytes).substr(0, cut));
          c.send(conv[k].first, std::string_view(bytes).substr(cut));
        } else {
          c.send(conv[k].first, conv[k].second);
        }
      }
      ExpectServerConversation(c.records, "message " + std::to_string(m) + " cut at " + std::to_string(cut));
    }
  }
}

TEST(MysqlStitcher, ByteAtATime) {
  Conversation c;
  for (const auto& [dir, bytes] : ServerConversation())
    for (char ch : bytes) c.send(dir, std::string(1, ch));
  ExpectServerConversation(c.records, "byte at a time");
}

TEST(MysqlStitcher, BigResultSetCutByTheCaptureEndsAtTheNextCommand) {
  Conversation c;
  c.client_handshake();
  c.out(query("SELECT * FROM big"));
  const std::string rs = result_set(2, 20, false);
  const uint64_t total = rs.size() + 100000;
  c.in(std::string_view(rs).substr(0, 200), total);  // one read of a result set far bigger than the capture
  c.in(std::string(64, 'x'), 5000);                  // more of it, framing lost
  EXPECT_TRUE(c.records.empty());
  c.out(ping());
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.resp_bytes, total + 5000);
  EXPECT_TRUE(has_attr(r, "otelbpf.l7.truncated"));
  EXPECT_FALSE(has_attr(r, "db.response.returned_rows"));
  EXPECT_EQ(r.end_ns, c.clock - 100 - 90);  // the last response chunk's exit
  c.in(ok());
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "PING");
  EXPECT_FALSE(has_attr(c.records[1], "otelbpf.l7.truncated"));
  EXPECT_GE(c.stats().resyncs, 1u);
}

TEST(MysqlStitcher, UncapturedRowPayloadIsSkippedByCount) {
  Conversation c;
  c.client_handshake();
  c.out(query("SELECT blob FROM files"));
  // column count, one definition, EOF, then a 50000-byte row whose payload the capture cut, then EOF.
  std::string head = packet(1, lenenc(1)) + column_def(2, "blob") + eof(3);
  const std::string row_header = le_bytes(50000, 3) + '\x04' + "\xfc\x4c\xc3";
  c.in(head + row_header, head.size() + 4 + 50000);
  c.in(eof(5));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(int_attr(c.records[0], "db.response.returned_rows"), 1);
  EXPECT_FALSE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[0].resp_bytes, head.size() + 4 + 50000 + eof(5).size());
}

TEST(MysqlStitcher, HugeQueryOverContinuationPacketsIsCutButRecorded) {
  Conversation c;
  c.client_handshake();
  const std::string head = le_bytes(kMaxPacketPayload, 3) + '\0' + "\x03INSERT INTO big VALUES ('";
  c.out(head, 4 + kMaxPacketPayload + 4 + 10);  // second header in the uncaptured bytes
  c.in(ok(2, 1));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "INSERT big");
  EXPECT_EQ(str_attr(c.records[0], "db.query.text"), "INSERT INTO big VALUES (?");
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  c.out(ping());
  c.in(ok());
  EXPECT_EQ(c.records.size(), 2u);
}

TEST(MysqlStitcher, MultipleResultsFromOneCall) {
  Conversation c;
  c.client_handshake(kClientCaps | kClientDeprecateEof);
  c.out(query("CALL report()"));
  // two result sets, then the OK of the CALL itself.
  c.in(result_set(1, 2, true, kStatusAutocommit | kStatusMoreResultsExist) +
       result_set(2, 3, true, kStatusAutocommit | kStatusMoreResultsExist, 5) + ok(11, 0, 0));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(int_attr(c.records[0], "db.response.returned_rows"), 5);
  EXPECT_EQ(c.records[0].span_name, "CALL");
  c.out(ping());
  c.in(ok());
  EXPECT_EQ(c.records.size(), 2u);
}

TEST(MysqlStitcher, MultiStatementOkPackets) {
  Conversation c;
  c.client_handshake();
  c.out(query("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)"));
  c.in(ok(1, 1, 0, kStatusAutocommit | kStatusMoreResultsExist));
  EXPECT_TRUE(c.records.empty());
  c.in(ok(2, 1));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(int_attr(c.records[0], "otelbpf.db.affected_rows"), 2);
}

TEST(MysqlStitcher, LocalInfile) {
  Conversation c;
  c.client_handshake();
  c.out(query("LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t"));
  c.in(packet(1, "\xfb/tmp/x.csv"));
  c.out(packet(2, "1,2\n3,4\n"));
  c.out(packet(3, ""));
  c.in(ok(4, 2));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(int_attr(c.records[0], "otelbpf.db.affected_rows"), 2);
  EXPECT_EQ(c.records[0].req_bytes,
            query("LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t").size() + 12 + 4);
}

TEST(MysqlStitcher, AuthSwitchAndMoreDataAreSkipped) {
  Conversation c;
  c.in(greeting());
  c.out(handshake_response(kClientCaps));
  c.in(packet(2, std::string("\xfe"
                             "caching_sha2_password\0",
                             23) +
                     "12345678901234567890" + '\0'));
  c.out(packet(3, std::string(32, 'a')));
  c.in(packet(4, "\x01\x03"));
  c.in(ok(5));
  EXPECT_TRUE(c.records.empty());
  c.out(query("SELECT 1"));
  c.in(result_set(1, 1, false));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].role, Role::kClient);
}

TEST(MysqlStitcher, TlsStopsParsing) {
  Conversation c;
  c.in(greeting());
  c.out(ssl_request(kClientCaps));
  c.out("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
  c.in("\x16\x03\x03\x00\x7a\x02\x00\x00\x76");
  c.out(query("SELECT 1"));  // would be TLS records in reality
  c.in(ok());
  c.close();
  EXPECT_TRUE(c.records.empty());
}

TEST(MysqlStitcher, CursorExecuteAndFetch) {
  Conversation c;
  c.client_handshake();
  c.out(prepare("SELECT id FROM t"));
  c.in(prepare_ok(3, 1, 0, false));
  c.out(command(kComStmtExecute, le_bytes(3, 4) + '\x01' + le_bytes(1, 4)));
  c.in(packet(1, lenenc(1)) + column_def(2, "id") + eof(3, kStatusAutocommit | kStatusCursorExists));
  ASSERT_EQ(c.records.size(), 2u);
  c.out(command(kComStmtFetch, le_bytes(3, 4) + le_bytes(2, 4)));
  c.in(packet(1, std::string("\0\0", 2) + le_bytes(1, 4)) +
       packet(2, std::string("\0\0", 2) + le_bytes(2, 4)) + eof(3, kStatusAutocommit | kStatusCursorExists));
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[2].span_name, "STMT_FETCH");
  EXPECT_EQ(int_attr(c.records[2], "db.response.returned_rows"), 2);
}

TEST(MysqlStitcher, MidStreamResponseFirstIsUnmatched) {
  Conversation c;
  c.in(ok(1));  // not recognised (not the MySQL port): skipped
  c.in(result_set(1, 1, false));
  EXPECT_TRUE(c.records.empty());
  c.out(query("SELECT 1"));
  c.in(result_set(1, 1, false));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_GE(c.stats().unmatched_responses, 2u);
}

TEST(MysqlStitcher, ResponseFromBeforeTheRequestDoesNotAnswerIt) {
  Conversation c;
  c.out(ping());
  c.in(ok());
  DataChunk late;
  late.direction = Direction::kEgress;
  late.ts_enter_ns = c.clock;
  late.ts_exit_ns = c.clock + 10;
  const std::string q = query("SELECT 1");
  late.captured = q;
  late.total_bytes = q.size();
  c.stitcher.on_chunk(late, c.records);
  DataChunk early;  // a stale response timestamped before the command
  early.direction = Direction::kIngress;
  early.ts_enter_ns = 10;
  early.ts_exit_ns = 20;
  const std::string o = ok();
  early.captured = o;
  early.total_bytes = o.size();
  c.stitcher.on_chunk(early, c.records);
  EXPECT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.stats().unmatched_responses, 1u);
}

TEST(MysqlStitcher, PendingCommandsAreMissingAtCloseAndBounded) {
  Limits limits;
  limits.max_pending_requests = 2;
  Conversation c(limits);
  c.out(query("SELECT 1"));
  c.out(query("SELECT 2"));
  c.out(query("SELECT 3"));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(c.stats().requests_evicted, 1u);
  c.in(result_set(1, 1, false));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(str_attr(c.records[1], "db.query.text"), "SELECT ?");
  c.close();
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_TRUE(c.records[2].response_missing);
  EXPECT_EQ(c.records[2].end_ns, c.clock);
}

TEST(MysqlStitcher, ResponseCutByCloseIsTruncated) {
  Conversation c;
  c.client_handshake();
  c.out(query("SELECT a FROM t"));
  const std::string rs = result_set(1, 3, false);
  c.in(rs.substr(0, rs.size() - 12));
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_FALSE(c.records[0].response_missing);
}

TEST(MysqlStitcher, QueryTextIsBoundedAndValidUtf8) {
  Limits limits;
  limits.max_query_text = 20;
  Conversation c(limits);
  c.out(query("SELECT \xc3\xa9t\xc3\xa9, \xff FROM caf\xc3\xa9_table_with_long_name"));
  c.in(ok());
  ASSERT_EQ(c.records.size(), 1u);
  const std::string text = str_attr(c.records[0], "db.query.text");
  EXPECT_LE(text.size(), 20u);
  EXPECT_EQ(text.find('\xff'), std::string::npos);
}

// Whatever came in, what comes out is a well-formed record: its times in order, valid text, its bytes
// accounted, and the stitcher's own count agreeing with what it emitted.
void ExpectWellFormed(const Conversation& c, const std::string& what) {
  EXPECT_EQ(c.stats().records, c.records.size()) << what;
  for (const auto& r : c.records) {
    EXPECT_LE(r.start_ns, r.end_ns) << what;
    EXPECT_EQ(r.protocol, "mysql") << what;
    EXPECT_TRUE(is_valid_utf8(r.span_name)) << what;
    EXPECT_TRUE(is_valid_utf8(r.status_message)) << what;
    for (const auto& [key, value] : r.attributes)
      if (const auto* text = std::get_if<std::string>(&value)) EXPECT_TRUE(is_valid_utf8(*text)) << what << " " << key.view();
  }
}

TEST(MysqlStitcher, RandomGarbageMakesOnlyWellFormedRecordsAndIsCounted) {
  std::mt19937 rng(7);
  std::uint64_t rounds_with_errors = 0;  // rounds whose real query got a garbage answer
  for (int round = 0; round < 300; ++round) {
    Conversation c;
    if (round % 2) c.out(query("SELECT 1"));  // sometimes recognised first
    for (int i = 0; i < 20; ++i) {
      std::string junk(rng() % 64, '\0');
      for (char& ch : junk) ch = static_cast<char>(rng());
      if (rng() % 3 == 0 && junk.size() > 4) junk[3] = 0;
      c.send(rng() % 2 ? Direction::kEgress : Direction::kIngress, junk,
             junk.size() + (rng() % 4 == 0 ? rng() % 70000 : 0));
    }
    c.close();
    ExpectWellFormed(c, "garbage round " + std::to_string(round));
    if (round % 2 == 0) {
      // Never recognised as MySQL: no record, and every byte shows as skipped.
      EXPECT_TRUE(c.records.empty()) << round;
      EXPECT_GT(c.stats().bytes_skipped + c.stats().parse_errors + c.stats().resyncs, 0u) << round;
    } else {
      // The real query, answered by garbage: its record first, marked as not answered in full (garbage that
      // happens to frame as a command and its answer may add a record, well-formed like any other).
      ASSERT_GE(c.records.size(), 1u) << round;
      EXPECT_LE(c.records.size(), 3u) << round;
      EXPECT_EQ(c.records[0].span_name, "SELECT") << round;
      EXPECT_TRUE(c.records[0].response_missing || has_attr(c.records[0], "otelbpf.l7.truncated") || c.records[0].error)
          << round;
      ++rounds_with_errors;
    }
  }
  EXPECT_EQ(rounds_with_errors, 150u);
}

TEST(MysqlStitcher, RandomSplitsOfValidTrafficGiveTheSameRecordsAndCutsOnlyFewerOrTruncated) {
  std::mt19937 rng(11);
  const auto conv = ServerConversation();
  int whole_rounds = 0;
  for (int round = 0; round < 300; ++round) {
    Conversation c;
    bool cut_any = false;
    for (const auto& [dir, bytes] : conv) {
      size_t pos = 0;
      while (pos < bytes.size()) {
        const size_t n = 1 + rng() % (bytes.size() - pos);
        // A quarter of the rounds also lose captured bytes (a capture shorter than the read).
        const size_t captured = round % 4 == 0 && rng() % 4 == 0 ? rng() % (n + 1) : n;
        cut_any |= captured < n;
        c.send(dir, bytes.substr(pos, captured), n);
        pos += n;
      }
    }
    c.close();
    const std::string what = "round " + std::to_string(round);
    ExpectWellFormed(c, what);
    if (!cut_any) {
      // Split anywhere but complete: exactly the conversation's four records.
      ExpectServerConversation(c.records, what);
      ++whole_rounds;
    } else {
      EXPECT_LE(c.records.size(), 4u) << what;
      for (const auto& r : c.records) EXPECT_EQ(r.role, Role::kServer) << what;
    }
  }
  EXPECT_GT(whole_rounds, 200);
}

}  // namespace
}  // namespace otelbpf::l7::mysql
