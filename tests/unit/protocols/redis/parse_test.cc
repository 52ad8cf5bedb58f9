#include "protocols/redis/parse.h"

#include <gtest/gtest.h>

#include <string>

#include "protocols/redis/entry.h"
#include "tests/unit/protocols/redis/fixtures.h"

namespace otelbpf::l7::redis {
namespace {

using testing::Command;

Message Parse(std::string_view buf, bool request, ParseState expect = ParseState::kSuccess) {
  Message m;
  size_t consumed = 0;
  EXPECT_EQ(parse_message(buf, request, &m, &consumed), expect) << buf;
  if (expect == ParseState::kSuccess) {
    EXPECT_EQ(consumed, buf.size()) << buf;
  }
  return m;
}

TEST(RedisParse, CommandAsArrayOfBulkStrings) {
  const Message m = Parse(Command({"SET", "user:1", "hello world"}), true);
  EXPECT_EQ(m.type, RespType::kArray);
  ASSERT_EQ(m.args.size(), 3u);
  EXPECT_EQ(m.args[0], "SET");
  EXPECT_EQ(m.args[2], "hello world");
  EXPECT_EQ(m.arg_count, 3u);
  EXPECT_FALSE(m.truncated);
}

TEST(RedisParse, InlineCommandsWithQuotes) {
  const Message m = Parse("set k \"a b\" 'c'\r\n", true);
  EXPECT_TRUE(m.inline_command);
  ASSERT_EQ(m.args.size(), 4u);
  EXPECT_EQ(m.args[0], "set");
  EXPECT_EQ(m.args[2], "a b");
  EXPECT_EQ(m.args[3], "c");
  EXPECT_EQ(Parse("PING\n", true).args[0], "PING");  // bare LF is accepted inline
  Parse("set k \"open\r\n", true, ParseState::kInvalid);
  // Replies have no inline form.
  Parse("PING\r\n", false, ParseState::kInvalid);
}

TEST(RedisParse, Resp2Replies) {
  Message m = Parse("+OK\r\n", false);
  EXPECT_EQ(m.type, RespType::kSimpleString);
  EXPECT_EQ(m.text, "OK");
  m = Parse("-WRONGTYPE Operation against a key\r\n", false);
  EXPECT_TRUE(m.is_error());
  EXPECT_EQ(m.text, "WRONGTYPE Operation against a key");
  m = Parse(":-42\r\n", false);
  EXPECT_EQ(m.type, RespType::kInteger);
  EXPECT_EQ(m.text, "-42");
  m = Parse("$5\r\nhello\r\n", false);
  EXPECT_EQ(m.type, RespType::kBulkString);
  EXPECT_EQ(m.text, "hello");
  m = Parse("$0\r\n\r\n", false);
  EXPECT_EQ(m.text, "");
  EXPECT_TRUE(Parse("$-1\r\n", false).null);
  EXPECT_TRUE(Parse("*-1\r\n", false).null);
  m = Parse("*3\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n$-1\r\n", false);
  EXPECT_EQ(m.arg_count, 3u);
  ASSERT_EQ(m.args.size(), 3u);
  EXPECT_EQ(m.args[0], "a");
  EXPECT_EQ(m.args[1], "");  // a nested array keeps its position
  m = Parse("*0\r\n", false);
  EXPECT_EQ(m.arg_count, 0u);
}

TEST(RedisParse, Resp3Types) {
  EXPECT_TRUE(Parse("_\r\n", false).null);
  EXPECT_EQ(Parse(",3.14\r\n", false).type, RespType::kDouble);
  EXPECT_EQ(Parse(",-inf\r\n", false).text, "-inf");
  EXPECT_EQ(Parse("#t\r\n", false).text, "t");
  EXPECT_EQ(Parse("(3492890328409238509324850943850943825024385\r\n", false).type, RespType::kBigNumber);
  Message m = Parse("!21\r\nSYNTAX invalid syntax\r\n", false);
  EXPECT_TRUE(m.is_error());
  EXPECT_EQ(m.text, "SYNTAX invalid syntax");
  m = Parse("=15\r\ntxt:Some string\r\n", false);
  EXPECT_EQ(m.type, RespType::kVerbatim);
  m = Parse("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", false);
  EXPECT_EQ(m.type, RespType::kMap);
  EXPECT_EQ(m.arg_count, 4u);
  m = Parse("~2\r\n+a\r\n+b\r\n", false);
  EXPECT_EQ(m.type, RespType::kSet);
  m = Parse(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", false);
  EXPECT_EQ(m.type, RespType::kPush);
  EXPECT_EQ(m.args[0], "message");
  // An attribute annotates the value after it: one message, the value's type.
  m = Parse("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n", false);
  EXPECT_EQ(m.type, RespType::kArray);
  EXPECT_EQ(m.arg_count, 2u);
  EXPECT_EQ(m.args[0], "2039123");
  // Attribute inside an aggregate: not an element.
  m = Parse("*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n", false);
  EXPECT_EQ(m.arg_count, 2u);
  EXPECT_EQ(m.args[1], "2");
}

TEST(RedisParse, MalformedInput) {
  Parse("+OK\n", false, ParseState::kInvalid);
  Parse(":\r\n", false, ParseState::kInvalid);
  Parse("$5\r\nhelloXY", false, ParseState::kInvalid);
  Parse("*1\r\n:abc\r\n", false, ParseState::kInvalid);
  Parse("#x\r\n", false, ParseState::kInvalid);
  Parse("*1\r\n+PING\r\n", true, ParseState::kInvalid);  // commands are bulk strings
  Parse("@foo\r\n", false, ParseState::kInvalid);
  Parse("$5\r\nhel", false, ParseState::kNeedsMoreData);
  Parse("*2\r\n$3\r\nGET\r\n", true, ParseState::kNeedsMoreData);
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "*1\r\n";
  Parse(deep + ":1\r\n", false, ParseState::kInvalid);
}

TEST(RedisParse, MessageStarts) {
  EXPECT_EQ(parse_request_start(Command({"GET", "k"}), false), ParseState::kSuccess);
  EXPECT_EQ(parse_request_start(Command({"json.set", "k", "$", "1"}), false), ParseState::kSuccess);
  EXPECT_EQ(parse_request_start("*2\r\n$3\r\nGE", false), ParseState::kNeedsMoreData);
  EXPECT_EQ(parse_request_start("*2\r\n$3\r\nXYZ\r\n", false), ParseState::kInvalid);
  EXPECT_EQ(parse_request_start("*2\r\n:1\r\n", false), ParseState::kInvalid);
  EXPECT_EQ(parse_request_start("PING\r\n", false), ParseState::kInvalid);
  EXPECT_EQ(parse_request_start("PING\r\n", true), ParseState::kSuccess);
  EXPECT_EQ(parse_request_start("hello world\r\n", true), ParseState::kSuccess);  // HELLO is a command
  EXPECT_EQ(parse_request_start("nonsense\r\n", true), ParseState::kInvalid);
  EXPECT_EQ(parse_reply_start("+OK\r\n"), ParseState::kSuccess);
  EXPECT_EQ(parse_reply_start("$12"), ParseState::kNeedsMoreData);
  EXPECT_EQ(parse_reply_start("$1x\r\n"), ParseState::kInvalid);
  EXPECT_EQ(parse_reply_start("HTTP/1.1 200 OK\r\n"), ParseState::kInvalid);
  EXPECT_TRUE(is_known_command("get"));
  EXPECT_TRUE(is_known_command("ZUNIONSTORE"));
  EXPECT_FALSE(is_known_command("GETX"));
}

TEST(RedisEntry, InferenceIsConservativeOffTheRedisPort) {
  InferenceInput in;
  const std::string cmd = Command({"SET", "k", "v"});
  in.first_bytes = cmd;
  EXPECT_TRUE(looks_like_message_start(in));
  in.udp = true;
  EXPECT_FALSE(looks_like_message_start(in));
  in.udp = false;
  in.first_bytes = "+OK\r\n";
  EXPECT_FALSE(looks_like_message_start(in));
  in.remote_port = 6379;
  EXPECT_TRUE(looks_like_message_start(in));
  in.first_bytes = "PING\r\n";
  EXPECT_TRUE(looks_like_message_start(in));
  in.remote_port = 80;
  EXPECT_FALSE(looks_like_message_start(in));
  in.first_bytes = "*1\r\n$4\r\nPING\r\n";
  EXPECT_TRUE(looks_like_message_start(in));
  in.first_bytes = "GET / HTTP/1.1\r\n";
  EXPECT_FALSE(looks_like_message_start(in));
  EXPECT_NE(make_stitcher(), nullptr);
}

}  // namespace
}  // namespace otelbpf::l7::redis
