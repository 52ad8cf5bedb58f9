#include "protocols/postgres/stitcher.h"

#include <gtest/gtest.h>

#include <string>

#include "protocols/common/obfuscate.h"
#include "protocols/postgres/entry.h"
#include "protocols/registry/protocol.h"
#include "tests/unit/protocols/postgres/fixtures.h"

namespace otelbpf::l7::postgres {
namespace {

using namespace testing;  // NOLINT: the fixtures' message builders

constexpr uint64_t kT0 = 1'000'000;
constexpr uint64_t enter(int i) { return kT0 + 100 * static_cast<uint64_t>(i); }
constexpr uint64_t exit_of(int i) { return enter(i) + 10; }

std::string Obf(const std::string& sql) { return obfuscate_sql(sql, SqlDialect::kPostgres); }

void ExpectClean(const StitcherStats& s) {
  EXPECT_EQ(s.parse_errors, 0u);
  EXPECT_EQ(s.resyncs, 0u);
  EXPECT_EQ(s.bytes_skipped, 0u);
  EXPECT_EQ(s.unmatched_responses, 0u);
}

// SSLRequest answered 'N', StartupMessage, trust authentication: chunks 0-3.
void Connect(Conversation& c, Direction client = Direction::kEgress) {
  c.send(client, SslRequest());
  c.send(opposite(client), "N");
  c.send(client, Startup("alice", "shop"));
  c.send(opposite(client), StartupReply());
}

TEST(PostgresStitcher, SimpleQueryFillsEveryRecordField) {
  Conversation c;
  Connect(c);
  const std::string sql = "SELECT id, name FROM users WHERE name = 'bob' AND age > 30";
  const std::string q = Query(sql);
  const std::string resp = RowDesc({"id", "name"}) + DataRow({"1", "bob"}) + DataRow({"2", "bob"}) +
                           Complete("SELECT 2") + Ready('I');
  c.send(Direction::kEgress, q, 0, 5);      // chunk 4
  c.send(Direction::kIngress, resp, 0, 6);  // chunk 5
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.protocol, "postgresql");
  EXPECT_EQ(r.role, Role::kClient);
  EXPECT_EQ(c.stitcher.role(), Role::kClient);
  EXPECT_EQ(r.span_name, "SELECT");
  EXPECT_EQ(r.start_ns, enter(4));
  EXPECT_EQ(r.end_ns, exit_of(5));
  EXPECT_EQ(r.req_seq, kEgressSeq0 + SslRequest().size() + Startup("alice", "shop").size());
  EXPECT_EQ(r.resp_seq, kIngressSeq0 + 1 + StartupReply().size());
  EXPECT_EQ(r.req_bytes, q.size());
  EXPECT_EQ(r.resp_bytes, resp.size());
  EXPECT_EQ(r.req_tid, 5u);
  EXPECT_EQ(r.resp_tid, 6u);
  EXPECT_FALSE(r.error);
  EXPECT_FALSE(r.response_missing);
  EXPECT_EQ(str_attr(r, "db.system.name"), "postgresql");
  EXPECT_EQ(str_attr(r, "db.operation.name"), "SELECT");
  EXPECT_EQ(str_attr(r, "db.query.text"), Obf(sql));
  EXPECT_EQ(str_attr(r, "db.query.text").find("bob"), std::string::npos);
  EXPECT_EQ(str_attr(r, "db.namespace"), "shop");
  EXPECT_EQ(int_attr(r, "db.response.returned_rows"), 2);
  EXPECT_EQ(str_attr(r, "otelbpf.db.transaction_state"), "idle");
  EXPECT_FALSE(has_attr(r, "otelbpf.db.transaction_id"));
  EXPECT_FALSE(has_attr(r, "otelbpf.l7.truncated"));
  EXPECT_EQ(c.stats().records, 1u);
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, ServerRoleWithoutSsl) {
  Conversation c;
  c.in(Startup("bob", "app"));
  c.out(StartupReply());
  c.in(Query("INSERT INTO t VALUES (1, 'x')"));
  c.out(Complete("INSERT 0 1") + Ready('I'));
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.role, Role::kServer);
  EXPECT_EQ(r.span_name, "INSERT");
  EXPECT_EQ(int_attr(r, "otelbpf.db.affected_rows"), 1);
  EXPECT_FALSE(has_attr(r, "db.response.returned_rows"));
  EXPECT_EQ(str_attr(r, "db.namespace"), "app");
  EXPECT_EQ(r.req_seq, kIngressSeq0 + Startup("bob", "app").size());
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, ErrorResponse) {
  Conversation c;
  Connect(c);
  c.out(Query("SELECT * FROM nope"));
  c.in(Error("42P01", "relation \"nope\" does not exist") + Ready('I'));
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.status_message, "relation \"nope\" does not exist");
  EXPECT_EQ(str_attr(r, "db.response.status_code"), "42P01");
  EXPECT_EQ(str_attr(r, "error.type"), "42P01");
  EXPECT_EQ(str_attr(r, "otelbpf.db.error_severity"), "ERROR");
  EXPECT_EQ(r.span_name, "SELECT");  // no CommandComplete: the statement's first keyword
}

TEST(PostgresStitcher, ExtendedQueryUnnamedStatement) {
  Conversation c;
  Connect(c);
  const std::string sql = "SELECT $1::int + 1 AS n";
  const std::string req = Parse("", sql) + Bind("", "") + Describe('P', "") + Execute("") + Sync();
  c.out(req);
  c.in(ParseComplete() + BindComplete() + RowDesc({"n"}) + DataRow({"42"}) + Complete("SELECT 1") +
       Ready('I'));
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.span_name, "SELECT");
  EXPECT_EQ(str_attr(r, "db.query.text"), Obf(sql));
  EXPECT_EQ(int_attr(r, "db.response.returned_rows"), 1);
  EXPECT_EQ(r.req_bytes, req.size());
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, NamedStatementReusedLater) {
  Conversation c;
  Connect(c);
  const std::string sql = "UPDATE accounts SET balance = balance - $1 WHERE id = $2";
  c.out(Parse("upd", sql) + Bind("", "upd") + Describe('P', "") + Execute("") + Sync());
  c.in(ParseComplete() + BindComplete() + NoData() + Complete("UPDATE 1") + Ready('I'));
  c.out(Bind("", "upd") + Execute("") + Sync());
  c.in(BindComplete() + Complete("UPDATE 3") + Ready('I'));
  // A statement prepared before the tracer looked: no text, the tag still names the operation.
  c.out(Bind("", "older") + Execute("") + Sync());
  c.in(BindComplete() + Complete("DELETE 2") + Ready('I'));
  // Closed: forgotten.
  c.out(Close('S', "upd") + Sync());
  c.in(Msg('3', "") + Ready('I'));
  ASSERT_EQ(c.records.size(), 4u);
  EXPECT_EQ(str_attr(c.records[1], "db.query.text"), Obf(sql));
  EXPECT_EQ(int_attr(c.records[1], "otelbpf.db.affected_rows"), 3);
  EXPECT_FALSE(has_attr(c.records[2], "db.query.text"));
  EXPECT_EQ(c.records[2].span_name, "DELETE");
  EXPECT_EQ(c.records[3].span_name, "CLOSE");
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, PrepareOnlyBatch) {
  Conversation c;
  Connect(c);
  c.out(Parse("s1", "SELECT 1") + Describe('S', "s1") + Sync());
  c.in(ParseComplete() + Msg('t', Be16(0)) + RowDesc({"?column?"}) + Ready('I'));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "PREPARE");
  EXPECT_EQ(str_attr(c.records[0], "db.query.text"), Obf("SELECT 1"));
}

TEST(PostgresStitcher, TransactionBlockSharesAnId) {
  Conversation c;
  Connect(c);
  c.out(Query("SELECT 1"));
  c.in(RowDesc({"x"}) + DataRow({"1"}) + Complete("SELECT 1") + Ready('I'));
  c.out(Query("BEGIN"));
  c.in(Complete("BEGIN") + Ready('T'));
  c.out(Parse("", "INSERT INTO t VALUES ($1)") + Bind("", "") + Execute("") + Sync());
  c.in(ParseComplete() + BindComplete() + Complete("INSERT 0 1") + Ready('T'));
  c.out(Query("COMMIT"));
  c.in(Complete("COMMIT") + Ready('I'));
  c.out(Query("BEGIN"));
  c.in(Complete("BEGIN") + Ready('T'));
  c.out(Query("SELECT boom"));
  c.in(Error("42703", "column \"boom\" does not exist") + Ready('E'));
  c.out(Query("ROLLBACK"));
  c.in(Complete("ROLLBACK") + Ready('I'));
  ASSERT_EQ(c.records.size(), 7u);
  EXPECT_FALSE(has_attr(c.records[0], "otelbpf.db.transaction_id"));
  const std::string tx1 = str_attr(c.records[1], "otelbpf.db.transaction_id");
  EXPECT_NE(tx1, "<none>");
  EXPECT_EQ(str_attr(c.records[2], "otelbpf.db.transaction_id"), tx1);
  EXPECT_EQ(str_attr(c.records[3], "otelbpf.db.transaction_id"), tx1);
  EXPECT_EQ(str_attr(c.records[1], "otelbpf.db.transaction_state"), "in_transaction");
  EXPECT_EQ(str_attr(c.records[3], "otelbpf.db.transaction_state"), "idle");
  EXPECT_EQ(c.records[2].span_name, "INSERT");
  const std::string tx2 = str_attr(c.records[4], "otelbpf.db.transaction_id");
  EXPECT_NE(tx2, "<none>");
  EXPECT_NE(tx2, tx1);
  EXPECT_EQ(str_attr(c.records[5], "otelbpf.db.transaction_id"), tx2);
  EXPECT_EQ(str_attr(c.records[5], "otelbpf.db.transaction_state"), "failed");
  EXPECT_TRUE(c.records[5].error);
  EXPECT_EQ(str_attr(c.records[6], "otelbpf.db.transaction_id"), tx2);
  EXPECT_EQ(c.records[6].span_name, "ROLLBACK");
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, MultiStatementSimpleQueryIsOneSpan) {
  Conversation c;
  Connect(c);
  c.out(Query("BEGIN; INSERT INTO t VALUES (1); COMMIT"));
  c.in(Complete("BEGIN") + Complete("INSERT 0 1") + Notice("just saying") + Complete("COMMIT") + Ready('I'));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "BEGIN");
  EXPECT_EQ(int_attr(c.records[0], "db.operation.batch.size"), 3);
  EXPECT_FALSE(has_attr(c.records[0], "otelbpf.db.transaction_id"));
}

TEST(PostgresStitcher, EmptyQueryAndParameterStatus) {
  Conversation c;
  Connect(c);
  c.out(Query(""));
  c.in(EmptyQuery() + Ready('I'));
  c.out(Query("SET application_name = 'x'"));
  c.in(ParamStatus("application_name", "x") + Complete("SET") + Ready('I'));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].span_name, "postgresql");
  EXPECT_EQ(c.records[1].span_name, "SET");
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, CopyFromStdin) {
  Conversation c;
  Connect(c);
  c.out(Query("COPY t FROM STDIN"));
  c.in(Msg('G', std::string(1, '\0') + Be16(1) + Be16(0)));
  c.out(Msg('d', "1\n2\n") + Msg('c', ""));
  c.in(Complete("COPY 2") + Ready('I'));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "COPY");
  EXPECT_EQ(int_attr(c.records[0], "otelbpf.db.affected_rows"), 2);
  EXPECT_EQ(c.records[0].req_bytes, Query("COPY t FROM STDIN").size() + 14u);
  ExpectClean(c.stats());
}

// Two queries and an extended batch in one write, answered in one read.
std::string PipelineRequests() {
  return Query("SELECT 1") + Query("SELECT 'a'") + Parse("", "DELETE FROM t WHERE id = $1") + Bind("", "") +
         Execute("") + Sync();
}
std::string PipelineReplies() {
  return RowDesc({"x"}) + DataRow({"1"}) + Complete("SELECT 1") + Ready('I') + RowDesc({"y"}) +
         DataRow({"a"}) + Complete("SELECT 1") + Ready('I') + ParseComplete() + BindComplete() +
         Complete("DELETE 4") + Ready('I');
}

void ExpectPipeline(const Conversation& c, const std::string& where) {
  ASSERT_EQ(c.records.size(), 3u) << where;
  EXPECT_EQ(c.records[0].span_name, "SELECT") << where;
  EXPECT_EQ(c.records[2].span_name, "DELETE") << where;
  EXPECT_EQ(int_attr(c.records[2], "otelbpf.db.affected_rows"), 4) << where;
  const uint32_t req0 = kEgressSeq0 + SslRequest().size() + Startup("alice", "shop").size();
  const uint32_t resp0 = kIngressSeq0 + 1 + StartupReply().size();
  EXPECT_EQ(c.records[1].req_seq, req0 + Query("SELECT 1").size()) << where;
  EXPECT_EQ(c.records[2].req_seq, req0 + Query("SELECT 1").size() + Query("SELECT 'a'").size()) << where;
  const size_t first = RowDesc({"x"}).size() + DataRow({"1"}).size() + Complete("SELECT 1").size() + 6;
  EXPECT_EQ(c.records[1].resp_seq, resp0 + first) << where;
  EXPECT_EQ(c.records[0].resp_bytes, first) << where;
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, PipelinedRequestsMatchFifo) {
  Conversation c;
  Connect(c);
  c.out(PipelineRequests());
  c.in(PipelineReplies());
  ExpectPipeline(c, "one write, one read");
}

TEST(PostgresStitcher, EverySplitOfRequestsAndReplies) {
  const std::string req = PipelineRequests();
  const std::string resp = PipelineReplies();
  for (size_t i = 1; i < req.size(); ++i) {
    Conversation c;
    Connect(c);
    c.out(req.substr(0, i));
    c.out(req.substr(i));
    c.in(resp);
    ExpectPipeline(c, "request split at " + std::to_string(i));
  }
  for (size_t i = 1; i < resp.size(); ++i) {
    Conversation c;
    Connect(c);
    c.out(req);
    c.in(resp.substr(0, i));
    c.in(resp.substr(i));
    ExpectPipeline(c, "reply split at " + std::to_string(i));
  }
}

TEST(PostgresStitcher, StartupSplitAtEveryByte) {
  const std::string startup = Startup("alice", "shop");
  for (size_t i = 1; i < startup.size(); ++i) {
    Conversation c;
    c.out(startup.substr(0, i).size() >= 8 ? startup.substr(0, i) : startup.substr(0, 8));
    c.out(startup.substr(std::max<size_t>(i, 8)));
    c.in(StartupReply());
    c.out(Query("SELECT 1"));
    c.in(Complete("SELECT 1") + Ready('I'));
    ASSERT_EQ(c.records.size(), 1u) << i;
    EXPECT_EQ(str_attr(c.records[0], "db.namespace"), "shop") << i;
    ExpectClean(c.stats());
  }
}

TEST(PostgresStitcher, LongQueryCutByTheCaptureIsSkippedByCount) {
  Conversation c;
  Connect(c);
  const std::string sql = "SELECT * FROM t WHERE name IN ('" + std::string(3000, 'a') + "')";
  const std::string q = Query(sql);
  c.out(q.substr(0, 1024), q.size());
  c.in(Complete("SELECT 0") + Ready('I'));
  c.out(Query("SELECT 2"));
  c.in(Complete("SELECT 1") + Ready('I'));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].req_bytes, q.size());
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(str_attr(c.records[0], "db.query.text").find("aaa"), std::string::npos);
  EXPECT_EQ(c.records[1].span_name, "SELECT");
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, LostResultSetEndsAtTheNextRequest) {
  Conversation c;
  Connect(c);
  c.out(Query("SELECT * FROM big"));
  std::string resp = RowDesc({"v"});
  for (int i = 0; i < 1000; ++i) resp += DataRow({"row" + std::to_string(1000 + i)});
  resp += Complete("SELECT 1000") + Ready('I');
  c.in(resp.substr(0, 1024), 8192);  // chunk 5
  c.in(resp.substr(8192, 1024), resp.size() - 8192);
  EXPECT_TRUE(c.records.empty());
  c.out(Query("SELECT 1"));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].resp_bytes, resp.size());
  EXPECT_EQ(c.records[0].end_ns, exit_of(6));
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[0].span_name, "SELECT");
  c.in(Complete("SELECT 1") + Ready('I'));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].resp_seq, kIngressSeq0 + 1 + StartupReply().size() + resp.size());
  EXPECT_EQ(c.stats().unmatched_responses, 0u);
}

TEST(PostgresStitcher, LostFrontendBatchEndsAtItsWrite) {
  Conversation c;
  Connect(c);
  const std::string sql = "INSERT INTO logs VALUES ('" + std::string(2000, 'x') + "', $1)";
  const std::string req = Parse("", sql) + Bind("", "") + Execute("") + Sync();
  c.out(req.substr(0, 1024), req.size());
  c.in(ParseComplete() + BindComplete() + Complete("INSERT 0 1") + Ready('I'));
  c.out(Query("SELECT 1"));
  c.in(Complete("SELECT 1") + Ready('I'));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].span_name, "INSERT");
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[0].req_bytes, req.size());
  EXPECT_EQ(c.records[1].span_name, "SELECT");
  EXPECT_EQ(c.stats().unmatched_responses, 0u);
}

TEST(PostgresStitcher, SslAcceptedMeansEncrypted) {
  Conversation c;
  c.out(SslRequest());
  c.in("S");
  c.out("\x16\x03\x01\x02\x00 client hello");
  c.in("\x16\x03\x03 server hello");
  c.out(Query("SELECT 1"));  // (would be inside TLS; never parsed)
  c.close();
  EXPECT_TRUE(c.records.empty());
  EXPECT_EQ(c.stats().parse_errors, 0u);
}

TEST(PostgresStitcher, CancelRequestMakesNoSpan) {
  Conversation c;
  c.out(CancelRequest());
  c.close();
  EXPECT_TRUE(c.records.empty());
  ExpectClean(c.stats());
}

TEST(PostgresStitcher, CloseEmitsPendingAsMissing) {
  Conversation c;
  Connect(c);
  c.out(Query("SELECT pg_sleep(100)"));
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(c.records[0].end_ns, c.clock);
}

TEST(PostgresStitcher, GarbageAndRecovery) {
  Conversation c;
  Connect(c);
  c.out("\x7f\x01garbage");
  EXPECT_EQ(c.stats().parse_errors, 1u);
  c.out(Query("SELECT 1"));
  c.in("\x7fjunk");
  c.in(Complete("SELECT 1") + Ready('I'));  // framing on the response side is lost: ends at next request
  c.out(Query("SELECT 2"));
  c.in(Complete("SELECT 1") + Ready('I'));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_FALSE(has_attr(c.records[1], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[1].span_name, "SELECT");
}

TEST(PostgresStitcher, PendingBound) {
  Limits limits;
  limits.max_pending = 2;
  Conversation c(limits);
  Connect(c);
  c.out(Query("SELECT 1") + Query("SELECT 2") + Query("SELECT 3"));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(c.stats().requests_evicted, 1u);
}

TEST(PostgresEntry, InferenceIsConservative) {
  InferenceInput in;
  const std::string startup = Startup("u", "d");
  in.first_bytes = startup;
  EXPECT_TRUE(looks_like_message_start(in));
  const std::string ssl = SslRequest();
  in.first_bytes = ssl;
  EXPECT_TRUE(looks_like_message_start(in));
  const std::string cancel = CancelRequest();
  in.first_bytes = cancel;
  EXPECT_TRUE(looks_like_message_start(in));
  const std::string q = Query("select 1");
  in.first_bytes = q;
  EXPECT_TRUE(looks_like_message_start(in));
  const std::string p = Parse("", "SELECT $1") + Bind("", "");
  in.first_bytes = p;
  EXPECT_TRUE(looks_like_message_start(in));
  const std::string cut = Query("SELECT " + std::string(100, 'x')).substr(0, 40);
  in.first_bytes = cut;
  EXPECT_FALSE(looks_like_message_start(in));
  in.remote_port = 5432;
  EXPECT_TRUE(looks_like_message_start(in));
  in.udp = true;
  EXPECT_FALSE(looks_like_message_start(in));
  in.udp = false;
  in.remote_port = 0;
  for (std::string_view other :
       {std::string_view("GET / HTTP/1.1\r\n"), std::string_view("*1\r\n$4\r\nPING\r\n"),
        std::string_view("Q\0\0\0\x05\0", 6), std::string_view("Q\0\0\0\x03", 5)}) {
    in.first_bytes = other;
    EXPECT_FALSE(looks_like_message_start(in)) << other;
  }
  EXPECT_EQ(infer_protocol(startup, Direction::kEgress), Protocol::kPostgres);
  EXPECT_EQ(infer_protocol(ssl, Direction::kEgress), Protocol::kPostgres);
  EXPECT_EQ(infer_protocol(q, Direction::kIngress), Protocol::kPostgres);
  EXPECT_STREQ(to_string(Protocol::kPostgres), "postgresql");
  EXPECT_NE(make_stitcher(), nullptr);
}

TEST(PostgresParse, ErrorFieldsAndStartupParams) {
  const ErrorFields f = parse_error_fields(Error("23505", "duplicate key").substr(5));
  EXPECT_EQ(f.severity, "ERROR");
  EXPECT_EQ(f.code, "23505");
  EXPECT_EQ(f.message, "duplicate key");
  const StartupParams p = parse_startup_params(Cstr("user") + Cstr("carol") + std::string(1, '\0'));
  EXPECT_EQ(p.database, "carol");  // the server's default: the user name
  size_t h = 0;
  uint64_t b = 0;
  EXPECT_EQ(parse_header(Ready('I'), Side::kBackend, Limits{}, &h, &b), ParseState::kSuccess);
  EXPECT_EQ(b, 1u);
  EXPECT_EQ(parse_header(Msg('Z', "II"), Side::kBackend, Limits{}, &h, &b), ParseState::kInvalid);
  EXPECT_EQ(parse_header("Q\0\0", Side::kFrontend, Limits{}, &h, &b), ParseState::kNeedsMoreData);
  EXPECT_EQ(parse_header("\x01", Side::kFrontend, Limits{}, &h, &b), ParseState::kInvalid);
  EXPECT_EQ(parse_header(std::string("Q\x7f\0\0\0", 5), Side::kFrontend, Limits{}, &h, &b),
            ParseState::kInvalid);
}

}  // namespace
}  // namespace otelbpf::l7::postgres
