#include "protocols/redis/stitcher.h"

#include <gtest/gtest.h>

#include <string>

#include "protocols/common/obfuscate.h"
#include "tests/unit/protocols/redis/fixtures.h"

namespace otelbpf::l7::redis {
namespace {

using testing::Command;
using testing::Conversation;
using testing::has_attr;
using testing::int_attr;
using testing::kEgressSeq0;
using testing::kIngressSeq0;
using testing::str_attr;

constexpr uint64_t kT0 = 1'000'000;
constexpr uint64_t enter(int i) { return kT0 + 100 * static_cast<uint64_t>(i); }
constexpr uint64_t exit_of(int i) { return enter(i) + 10; }

void ExpectClean(const StitcherStats& s) {
  EXPECT_EQ(s.parse_errors, 0u);
  EXPECT_EQ(s.resyncs, 0u);
  EXPECT_EQ(s.bytes_skipped, 0u);
  EXPECT_EQ(s.unmatched_responses, 0u);
}

TEST(RedisStitcher, ClientCommandFillsEveryRecordField) {
  Conversation c;
  const std::string set = Command({"SET", "user:1", "secret"});
  c.send(Direction::kEgress, set, 0, 7);
  c.send(Direction::kIngress, "+OK\r\n", 0, 8);
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.protocol, "redis");
  EXPECT_EQ(r.role, Role::kClient);
  EXPECT_EQ(c.stitcher.role(), Role::kClient);
  EXPECT_EQ(r.span_name, "SET");
  EXPECT_EQ(r.start_ns, enter(0));
  EXPECT_EQ(r.end_ns, exit_of(1));
  EXPECT_EQ(r.req_seq, kEgressSeq0);
  EXPECT_EQ(r.resp_seq, kIngressSeq0);
  EXPECT_EQ(r.req_bytes, set.size());
  EXPECT_EQ(r.resp_bytes, 5u);
  EXPECT_EQ(r.req_tid, 7u);
  EXPECT_EQ(r.resp_tid, 8u);
  EXPECT_FALSE(r.error);
  EXPECT_FALSE(r.response_missing);
  EXPECT_EQ(str_attr(r, "db.system.name"), "redis");
  EXPECT_EQ(str_attr(r, "db.operation.name"), "SET");
  EXPECT_EQ(str_attr(r, "db.query.text"), obfuscate_redis({"SET", "user:1", "secret"}));
  EXPECT_EQ(str_attr(r, "db.query.text").find("secret"), std::string::npos);
  EXPECT_FALSE(has_attr(r, "db.namespace"));
  EXPECT_FALSE(has_attr(r, "otelbpf.l7.truncated"));
  ExpectClean(c.stats());
}

TEST(RedisStitcher, ServerRoleAndErrorReply) {
  Conversation c;
  c.in(Command({"incr", "name"}));
  c.out("-ERR value is not an integer or out of range\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  const L7Record& r = c.records[0];
  EXPECT_EQ(r.role, Role::kServer);
  EXPECT_EQ(r.span_name, "INCR");
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.status_message, "ERR value is not an integer or out of range");
  EXPECT_EQ(str_attr(r, "error.type"), "ERR");
  EXPECT_EQ(str_attr(r, "db.response.status_code"), "ERR");
  EXPECT_EQ(r.req_seq, kIngressSeq0);
  EXPECT_EQ(r.resp_seq, kEgressSeq0);
}

TEST(RedisStitcher, Resp3BulkErrorIsAnError) {
  Conversation c;
  c.out(Command({"HELLO", "3"}));
  c.in("%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
  c.out(Command({"EVAL", "x", "0"}));
  c.in("!26\r\nERR Error compiling script\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_FALSE(c.records[0].error);
  EXPECT_TRUE(c.records[1].error);
  EXPECT_EQ(c.records[1].status_message, "ERR Error compiling script");
}

// Several commands in one write, their replies in one read, matched in order.
const std::vector<std::vector<std::string>> kPipeline = {
    {"SET", "a", "1"},          {"INCR", "a"},  {"GET", "a"}, {"LPUSH", "l", "x", "y"},
    {"LRANGE", "l", "0", "-1"}, {"GET", "nope"}};
const std::string kPipelineReplies = "+OK\r\n:2\r\n$1\r\n2\r\n:2\r\n*2\r\n$1\r\ny\r\n$1\r\nx\r\n$-1\r\n";

std::string PipelineRequests() {
  std::string s;
  for (const auto& cmd : kPipeline) s += Command(cmd);
  return s;
}

void ExpectPipeline(const Conversation& c, const std::string& where) {
  ASSERT_EQ(c.records.size(), kPipeline.size()) << where;
  uint32_t seq = kEgressSeq0;
  for (size_t i = 0; i < kPipeline.size(); ++i) {
    EXPECT_EQ(c.records[i].span_name, kPipeline[i][0]) << where;
    EXPECT_EQ(c.records[i].req_seq, seq) << where;
    EXPECT_EQ(c.records[i].req_bytes, Command(kPipeline[i]).size()) << where;
    seq += static_cast<uint32_t>(Command(kPipeline[i]).size());
  }
  EXPECT_EQ(c.records[0].resp_seq, kIngressSeq0) << where;
  EXPECT_EQ(c.records[1].resp_seq, kIngressSeq0 + 5) << where;
  EXPECT_EQ(c.records[4].resp_bytes, 18u) << where;
  EXPECT_EQ(c.records[5].resp_bytes, 5u) << where;
  ExpectClean(c.stats());
}

TEST(RedisStitcher, PipelinedCommandsMatchFifo) {
  Conversation c;
  c.out(PipelineRequests());
  c.in(kPipelineReplies);
  ExpectPipeline(c, "one write, one read");
}

TEST(RedisStitcher, EverySplitOfRequestsAndReplies) {
  const std::string req = PipelineRequests();
  // The first write must name the command (inference needs it to claim the connection).
  for (size_t i = std::string_view("*3\r\n$3\r\nSET").size(); i < req.size(); ++i) {
    Conversation c;
    c.out(req.substr(0, i));
    c.out(req.substr(i));
    c.in(kPipelineReplies);
    ExpectPipeline(c, "request split at " + std::to_string(i));
  }
  for (size_t i = 1; i < kPipelineReplies.size(); ++i) {
    Conversation c;
    c.out(req);
    c.in(kPipelineReplies.substr(0, i));
    c.in(kPipelineReplies.substr(i));
    ExpectPipeline(c, "reply split at " + std::to_string(i));
  }
}

TEST(RedisStitcher, ByteByByte) {
  const std::string req = PipelineRequests();
  Conversation c;
  const size_t first = Command(kPipeline[0]).size();  // the tracer hands over whole syscalls: the first
  c.out(req.substr(0, first));                        // one says which side is the client
  for (char ch : req.substr(first)) c.out(std::string(1, ch));
  for (char ch : kPipelineReplies) c.in(std::string(1, ch));
  ASSERT_EQ(c.records.size(), kPipeline.size());
  EXPECT_EQ(c.records[4].resp_bytes, 18u);
  ExpectClean(c.stats());
}

TEST(RedisStitcher, InlineCommandsAfterRespOnes) {
  Conversation c;
  c.out(Command({"PING"}) + "SET k v\r\nGET k\r\n");
  c.in("+PONG\r\n+OK\r\n$1\r\nv\r\n");
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[1].span_name, "SET");
  EXPECT_EQ(c.records[2].span_name, "GET");
  EXPECT_EQ(c.records[2].req_bytes, 7u);
  ExpectClean(c.stats());
}

TEST(RedisStitcher, EmptyLinesBetweenCommandsAreIgnored) {
  Conversation c;
  c.out(Command({"SET", "k", "v"}) + "INCR n");
  c.out("\r\n*2\r\n$4\r\nECHO\r\n$20\r\n01234567890123456789\r\n");  // what redis-cli --pipe ends with
  c.in("+OK\r\n:1\r\n$20\r\n01234567890123456789\r\n");
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[1].span_name, "INCR");
  EXPECT_EQ(c.records[2].span_name, "ECHO");
  ExpectClean(c.stats());
}

TEST(RedisStitcher, BigBulkStringsCutByTheCaptureAreSkippedByCount) {
  Conversation c;
  const std::string big(5000, 'v');
  const std::string set = Command({"SET", "big", big});
  c.out(set.substr(0, 1024), set.size());
  c.in("+OK\r\n");
  const std::string get = Command({"GET", "big"});
  c.out(get);
  const std::string reply = "$5000\r\n" + big + "\r\n";
  c.in(reply.substr(0, 1024), 4096);
  c.in(reply.substr(4096, 1024), reply.size() - 4096);
  c.out(Command({"DEL", "big"}));
  c.in(":1\r\n");
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[0].req_bytes, set.size());
  EXPECT_EQ(str_attr(c.records[0], "db.query.text"), obfuscate_redis({"SET", "big", "v"}));
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[1].resp_bytes, reply.size());
  EXPECT_EQ(c.records[1].end_ns, exit_of(4));
  EXPECT_EQ(c.records[2].span_name, "DEL");
  EXPECT_EQ(c.records[2].resp_seq, kIngressSeq0 + 5 + reply.size());
  EXPECT_FALSE(has_attr(c.records[2], "otelbpf.l7.truncated"));
  ExpectClean(c.stats());
}

TEST(RedisStitcher, ReplyFramingLostEndsAtTheNextCommand) {
  Conversation c;
  c.out(Command({"LRANGE", "l", "0", "-1"}));
  std::string reply = "*1000\r\n";
  for (int i = 0; i < 1000; ++i) reply += "$6\r\nitem" + std::to_string(100 + i).substr(1) + "x\r\n";
  // 12 bytes an element; three reads, each captured only in part: the element lines are lost.
  c.in(reply.substr(0, 1024), 4096);
  c.in(reply.substr(4096, 1024), 4096);
  c.in(reply.substr(8192, 1024), reply.size() - 8192);
  EXPECT_TRUE(c.records.empty());
  c.out(Command({"GET", "k"}));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].span_name, "LRANGE");
  EXPECT_EQ(c.records[0].resp_bytes, reply.size());
  EXPECT_EQ(c.records[0].end_ns, exit_of(3));
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  c.in("$1\r\nv\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET");
  EXPECT_EQ(c.records[1].resp_seq, kIngressSeq0 + reply.size());
  EXPECT_FALSE(c.records[1].error);
  EXPECT_EQ(c.stats().unmatched_responses, 0u);
}

TEST(RedisStitcher, RequestFramingLostEndsWithItsSyscall) {
  Conversation c;
  const std::string mset = Command({"MSET", "k1", std::string(3000, 'a'), "k2", "b"});
  c.out(mset.substr(0, 1024), mset.size());
  c.in("+OK\r\n");
  c.out(Command({"GET", "k2"}));
  c.in("$1\r\nb\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].span_name, "MSET");
  EXPECT_EQ(c.records[0].req_bytes, mset.size());
  EXPECT_TRUE(has_attr(c.records[0], "otelbpf.l7.truncated"));
  EXPECT_EQ(c.records[1].span_name, "GET");
  EXPECT_EQ(c.stats().resyncs, 1u);
}

TEST(RedisStitcher, PubSubPushesAreNotPaired) {
  Conversation c;
  c.out(Command({"SUBSCRIBE", "news"}));
  c.in("*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
  c.in("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
  c.in("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nagain\r\n");
  c.out(Command({"UNSUBSCRIBE", "news"}));
  c.in("*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n");
  c.out(Command({"LRANGE", "l", "0", "1"}));
  c.in("*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n");  // after unsubscribing, arrays are replies again
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[0].span_name, "SUBSCRIBE");
  EXPECT_EQ(c.records[1].span_name, "UNSUBSCRIBE");
  EXPECT_EQ(c.records[2].span_name, "LRANGE");
  ExpectClean(c.stats());
}

TEST(RedisStitcher, Resp3PushesBetweenReplies) {
  Conversation c;
  c.out(Command({"SUBSCRIBE", "a"}));
  c.in(">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
  c.out(Command({"PING"}));
  c.in(">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n+PONG\r\n");
  c.out(Command({"CLIENT", "TRACKING", "on"}));
  c.in("+OK\r\n");
  c.out(Command({"GET", "k"}));
  c.in(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$1\r\nv\r\n");
  ASSERT_EQ(c.records.size(), 4u);
  EXPECT_EQ(c.records[1].span_name, "PING");
  EXPECT_EQ(c.records[1].resp_bytes, 7u);
  EXPECT_EQ(c.records[3].span_name, "GET");
  EXPECT_EQ(c.records[3].resp_bytes, 7u);
  ExpectClean(c.stats());
}

TEST(RedisStitcher, SelectSetsTheNamespace) {
  Conversation c;
  c.out(Command({"GET", "a"}));
  c.in("$-1\r\n");
  c.out(Command({"SELECT", "3"}));
  c.in("+OK\r\n");
  c.out(Command({"GET", "a"}));
  c.in("$-1\r\n");
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_FALSE(has_attr(c.records[0], "db.namespace"));
  EXPECT_EQ(str_attr(c.records[1], "db.namespace"), "3");
  EXPECT_EQ(str_attr(c.records[2], "db.namespace"), "3");
}

TEST(RedisStitcher, MultiExec) {
  Conversation c;
  c.out(Command({"MULTI"}) + Command({"INCR", "x"}) + Command({"EXEC"}));
  c.in("+OK\r\n+QUEUED\r\n*1\r\n:1\r\n");
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[0].span_name, "MULTI");
  EXPECT_EQ(c.records[2].span_name, "EXEC");
  EXPECT_EQ(c.records[2].resp_bytes, 8u);
}

TEST(RedisStitcher, CloseEmitsPendingAsMissing) {
  Conversation c;
  c.out(Command({"BLPOP", "q", "0"}));
  c.close();
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(c.records[0].end_ns, c.clock);
}

TEST(RedisStitcher, UnmatchedAndGarbage) {
  Conversation c;
  c.out(Command({"GET", "k"}));
  c.in("$1\r\nv\r\n:5\r\n");  // one reply too many
  EXPECT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.stats().unmatched_responses, 1u);
  c.out("\x01\x02garbage\r\n");
  EXPECT_EQ(c.stats().parse_errors, 1u);
  c.out(Command({"GET", "k"}));  // recovers at the next write
  c.in("$-1\r\n");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].span_name, "GET");
}

TEST(RedisStitcher, RoleFromAReplySeenFirst) {
  Conversation c;
  c.in("+OK\r\n");  // the reply to a command sent before the tracer looked
  EXPECT_EQ(c.stitcher.role(), Role::kClient);
  c.out(Command({"GET", "k"}));
  c.in("$-1\r\n");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.stats().unmatched_responses, 1u);
}

TEST(RedisStitcher, PendingBound) {
  Limits limits;
  limits.max_pending_requests = 2;
  Conversation c(limits);
  c.out(Command({"GET", "a"}) + Command({"GET", "b"}) + Command({"GET", "c"}));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_TRUE(c.records[0].response_missing);
  EXPECT_EQ(c.stats().requests_evicted, 1u);
}

}  // namespace
}  // namespace otelbpf::l7::redis
