#include "protocols/mysql/parse.h"

#include <gtest/gtest.h>

#include "fixtures.h"
#include "protocols/mysql/entry.h"
#include "protocols/registry/protocol.h"

namespace otelbpf::l7::mysql {
namespace {

using namespace testing;

std::string payload_of(const std::string& pkt) { return pkt.substr(4); }

TEST(MysqlParse, LenencIntegers) {
  for (uint64_t v :
       {0ull, 250ull, 251ull, 65535ull, 65536ull, 0xffffffull, 0x1000000ull, 0x123456789abcull}) {
    const std::string enc = lenenc(v) + "tail";
    std::string_view p = enc;
    uint64_t got = 0;
    ASSERT_TRUE(parse_lenenc_int(p, &got)) << v;
    EXPECT_EQ(got, v);
    EXPECT_EQ(p, "tail");
  }
  std::string_view cut = "\xfd\x01";
  uint64_t v = 0;
  EXPECT_FALSE(parse_lenenc_int(cut, &v));
  std::string_view null_marker = "\xfb";
  EXPECT_FALSE(parse_lenenc_int(null_marker, &v));
}

TEST(MysqlParse, Greeting) {
  Greeting g;
  ASSERT_EQ(parse_greeting(payload_of(greeting()), &g), ParseState::kSuccess);
  EXPECT_EQ(g.server_version, "5.5.5-10.11.6-MariaDB-0+deb12u1");
  EXPECT_EQ(g.connection_id, 42u);
  EXPECT_TRUE(g.capabilities & kClientDeprecateEof);
  EXPECT_EQ(parse_greeting_start(greeting()), ParseState::kSuccess);
  EXPECT_EQ(parse_greeting_start(greeting().substr(0, 3)), ParseState::kNeedsMoreData);
  EXPECT_EQ(parse_greeting_start(greeting().substr(0, 12)), ParseState::kNeedsMoreData);
  EXPECT_EQ(parse_greeting_start(greeting().substr(0, 40)), ParseState::kSuccess);  // version seen whole
  std::string bad = greeting();
  bad[4] = 0x09;
  EXPECT_EQ(parse_greeting_start(bad), ParseState::kInvalid);
}

TEST(MysqlParse, HandshakeResponseAndSslRequest) {
  HandshakeResponse hr;
  ASSERT_EQ(
      parse_handshake_response(payload_of(handshake_response(kClientCaps | kClientDeprecateEof, "shop")), &hr),
      ParseState::kSuccess);
  EXPECT_EQ(hr.user, "root");
  EXPECT_EQ(hr.database, "shop");
  EXPECT_TRUE(hr.capabilities & kClientDeprecateEof);
  EXPECT_FALSE(hr.ssl_request);
  HandshakeResponse ssl;
  ASSERT_EQ(parse_handshake_response(payload_of(ssl_request(kClientCaps)), &ssl), ParseState::kSuccess);
  EXPECT_TRUE(ssl.ssl_request);
  // Without CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA the auth response has a 1-byte length.
  HandshakeResponse old;
  const uint32_t caps = kClientProtocol41 | kClientSecureConnection | kClientConnectWithDb;
  std::string p = le_bytes(caps, 4) + le_bytes(1 << 24, 4) + '\x21' + std::string(23, '\0') + "u" + '\0' +
                  '\x02' + "pw" + "db1" + '\0';
  ASSERT_EQ(parse_handshake_response(p, &old), ParseState::kSuccess);
  EXPECT_EQ(old.database, "db1");
}

TEST(MysqlParse, OkErrEofPrepareOk) {
  OkPacket ok;
  ASSERT_EQ(parse_ok(payload_of(testing::ok(1, 3, 300, kStatusInTrans)), &ok), ParseState::kSuccess);
  EXPECT_EQ(ok.affected_rows, 3u);
  EXPECT_EQ(ok.last_insert_id, 300u);
  EXPECT_EQ(ok.status, kStatusInTrans);

  ErrPacket e;
  ASSERT_EQ(parse_err(payload_of(err(1, 1146, "42S02", "Table 'shop.nope' doesn't exist")), &e),
            ParseState::kSuccess);
  EXPECT_EQ(e.code, 1146);
  EXPECT_EQ(e.sqlstate, "42S02");
  EXPECT_EQ(e.message, "Table 'shop.nope' doesn't exist");
  ErrPacket pre41;
  ASSERT_EQ(parse_err(std::string("\xff\x15\x04no", 5), &pre41), ParseState::kSuccess);
  EXPECT_EQ(pre41.code, 0x415);
  EXPECT_EQ(pre41.message, "no");

  EofPacket eofp;
  const std::string eofpl = payload_of(eof(5, kStatusMoreResultsExist));
  ASSERT_EQ(parse_eof(eofpl, eofpl.size(), &eofp), ParseState::kSuccess);
  EXPECT_EQ(eofp.status, kStatusMoreResultsExist);
  EXPECT_TRUE(is_classic_eof(eofpl, eofpl.size()));
  const std::string okfe = ok_payload(0, 0, 2, 0xFE);
  EXPECT_TRUE(is_terminator(okfe, okfe.size()));
  EXPECT_FALSE(is_classic_eof(okfe, okfe.size()));
  EXPECT_FALSE(is_terminator("\xfe", kMaxPacketPayload));  // a row of 16 MiB and more

  PrepareOk po;
  ASSERT_EQ(parse_prepare_ok(payload_of(prepare_ok(7, 2, 3, true)), &po), ParseState::kSuccess);
  EXPECT_EQ(po.statement_id, 7u);
  EXPECT_EQ(po.num_columns, 2);
  EXPECT_EQ(po.num_params, 3);
}

TEST(MysqlParse, CommandStarts) {
  uint8_t cmd = 0;
  EXPECT_EQ(parse_command_start(query("SELECT 1"), &cmd), ParseState::kSuccess);
  EXPECT_EQ(cmd, kComQuery);
  EXPECT_EQ(parse_command_start(query("  (select 1)"), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(query("/* c */ select 1"), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(command(kComQuery, std::string("\0\1SELECT 1", 10)), &cmd),
            ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(prepare("INSERT INTO t VALUES (?)"), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(execute(1), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(stmt_close(1), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(ping(), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(quit(), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(init_db("shop"), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(ping() + query("SELECT 1"), &cmd), ParseState::kSuccess);
  EXPECT_EQ(parse_command_start(command(kComSetOption, std::string("\1\0", 2)), &cmd), ParseState::kSuccess);

  EXPECT_EQ(parse_command_start(query("SELECT 1").substr(0, 3), &cmd), ParseState::kNeedsMoreData);
  EXPECT_EQ(parse_command_start(ping() + "xyz", &cmd), ParseState::kInvalid);
  EXPECT_EQ(parse_command_start(command(kComPing, "x"), &cmd), ParseState::kInvalid);     // wrong length
  EXPECT_EQ(parse_command_start(packet(1, "\x03SELECT 1"), &cmd), ParseState::kInvalid);  // sequence id 1
  EXPECT_EQ(parse_command_start(query("\x01\x02binary"), &cmd), ParseState::kInvalid);
  EXPECT_EQ(parse_command_start(query("123"), &cmd), ParseState::kInvalid);
  EXPECT_EQ(parse_command_start(command(0x40, "x"), &cmd), ParseState::kInvalid);
  EXPECT_EQ(parse_command_start(command(kComStmtExecute, le_bytes(1, 4) + '\0' + le_bytes(2, 4)), &cmd),
            ParseState::kInvalid);
  EXPECT_EQ(parse_command_start(packet(0, ""), &cmd), ParseState::kInvalid);
}

TEST(MysqlParse, ResponseStarts) {
  EXPECT_TRUE(looks_like_response_start(ok()));
  EXPECT_TRUE(looks_like_response_start(err(1, 1064, "42000", "syntax")));
  EXPECT_TRUE(looks_like_response_start(result_set(2, 1, true)));
  EXPECT_FALSE(looks_like_response_start(query("SELECT 1")));
  EXPECT_FALSE(looks_like_response_start(ok(2)));
}

TEST(MysqlInference, StrictSignatures) {
  InferenceInput in;
  in.direction = Direction::kIngress;
  in.first_bytes = greeting();
  const std::string g = greeting();
  in.first_bytes = g;
  EXPECT_TRUE(looks_like_message_start(in));
  const std::string q = query("SELECT * FROM t");
  in.first_bytes = q;
  in.direction = Direction::kEgress;
  EXPECT_TRUE(looks_like_message_start(in));
  EXPECT_EQ(infer_protocol(q, Direction::kEgress), Protocol::kMysql);
  EXPECT_EQ(infer_protocol(g, Direction::kIngress), Protocol::kMysql);
  EXPECT_EQ(infer_protocol(ping(), Direction::kEgress), Protocol::kMysql);

  // Other protocols' first bytes are not MySQL.
  for (std::string_view other :
       {std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string_view("*1\r\n$4\r\nPING\r\n"),
        std::string_view("PING\r\n"), std::string_view("Q\0\0\0\x0dSELECT 1;\0", 14),
        std::string_view("\0\0\0\x08\x04\xd2\x16\x2f", 8), std::string_view("\0\x1d\x12\x34\x01\0\0\x01", 8),
        std::string_view("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        std::string_view("\x16\x03\x01\x02\0\x01", 6)}) {
    in.first_bytes = other;
    EXPECT_FALSE(looks_like_message_start(in)) << other;
  }
  // A response start only on the MySQL port.
  const std::string r = ok();
  in.first_bytes = r;
  in.direction = Direction::kIngress;
  in.remote_port = 33060;
  EXPECT_FALSE(looks_like_message_start(in));
  in.remote_port = 3306;
  EXPECT_TRUE(looks_like_message_start(in));
  in.udp = true;
  EXPECT_FALSE(looks_like_message_start(in));
}

struct PacketSink : PacketReader::Listener {
  std::vector<Packet> packets;
  int lost = 0;
  bool resync = true;
  void on_packet(Direction, Packet& p) override { packets.push_back(p); }
  void on_framing_lost(Direction, uint64_t, uint64_t) override { ++lost; }
  bool can_resync(Direction, std::string_view) override { return resync; }
};

DataChunk chunk(std::string_view bytes, uint64_t total = 0, uint64_t ts = 100) {
  DataChunk c;
  c.ts_enter_ns = ts;
  c.ts_exit_ns = ts + 5;
  c.tcp_seq = 5000;
  c.total_bytes = total ? total : bytes.size();
  c.captured = bytes;
  return c;
}

TEST(MysqlPacketReader, PacketsAcrossChunksAndExtents) {
  PacketSink sink;
  StitcherStats stats;
  PacketReader rd(Direction::kIngress, sink, stats, Limits{});
  const std::string bytes = ok(1, 5) + eof(2);
  rd.feed(chunk(std::string_view(bytes).substr(0, 6), 0, 100));
  rd.feed(chunk(std::string_view(bytes).substr(6), 0, 200));
  ASSERT_EQ(sink.packets.size(), 2u);
  EXPECT_EQ(sink.packets[0].seq, 1);
  EXPECT_EQ(sink.packets[0].wire.start_ns, 100u);
  EXPECT_EQ(sink.packets[0].wire.end_ns, 205u);
  EXPECT_EQ(sink.packets[0].wire.seq, 5000u);
  EXPECT_EQ(sink.packets[0].wire.bytes, ok(1, 5).size());
  EXPECT_TRUE(sink.packets[0].at_chunk_start);
  EXPECT_FALSE(sink.packets[0].ends_chunk);
  EXPECT_EQ(sink.packets[1].seq, 2);
  EXPECT_TRUE(sink.packets[1].ends_chunk);
}

TEST(MysqlPacketReader, ContinuationPacketsMakeOneLogicalPacket) {
  PacketSink sink;
  StitcherStats stats;
  Limits limits;
  limits.max_payload_keep = 100;
  PacketReader rd(Direction::kEgress, sink, stats, limits);
  const std::string first = le_bytes(kMaxPacketPayload, 3) + '\0' + "\x03SELECT";
  const uint64_t first_total = 4 + kMaxPacketPayload;
  rd.feed(chunk(first, first_total));  // the payload's tail was not captured: skipped by count
  const std::string second = packet(1, "tail");
  rd.feed(chunk(second));
  ASSERT_EQ(sink.packets.size(), 1u);
  EXPECT_EQ(sink.packets[0].length, kMaxPacketPayload + 4u);
  EXPECT_EQ(sink.packets[0].wire.bytes, first_total + second.size());
  EXPECT_EQ(sink.packets[0].last_seq, 1);
  EXPECT_TRUE(sink.packets[0].payload_cut);
  EXPECT_EQ(sink.packets[0].payload, "\x03SELECT");
  EXPECT_EQ(sink.lost, 0);
}

TEST(MysqlPacketReader, HeaderInAGapLosesFramingUntilTheListenerAcceptsAChunk) {
  PacketSink sink;
  StitcherStats stats;
  PacketReader rd(Direction::kIngress, sink, stats, Limits{});
  const std::string bytes = ok(1) + ok(2);
  rd.feed(chunk(std::string_view(bytes).substr(0, 13), bytes.size() + 50));  // second header not captured
  EXPECT_EQ(sink.packets.size(), 1u);
  EXPECT_EQ(sink.lost, 2);  // the loss, then the bytes skipped after it
  EXPECT_TRUE(rd.lost());
  sink.resync = false;
  rd.feed(chunk(ok(3)));
  EXPECT_EQ(sink.packets.size(), 1u);
  sink.resync = true;
  rd.feed(chunk(ok(4)));
  ASSERT_EQ(sink.packets.size(), 2u);
  EXPECT_EQ(sink.packets[1].seq, 4);
  EXPECT_EQ(stats.resyncs, 1u);
  EXPECT_GT(stats.bytes_skipped, 0u);
}

TEST(MysqlPacketReader, ContinuationCutByAGapIsHandedOverCutOff) {
  PacketSink sink;
  StitcherStats stats;
  PacketReader rd(Direction::kEgress, sink, stats, Limits{});
  const std::string first = le_bytes(kMaxPacketPayload, 3) + '\0' + "\x03INSERT";
  rd.feed(chunk(first, 4 + kMaxPacketPayload + 100));  // the next header lies in the gap
  ASSERT_EQ(sink.packets.size(), 1u);
  EXPECT_TRUE(sink.packets[0].cut_off);
  EXPECT_EQ(sink.packets[0].payload, "\x03INSERT");
  EXPECT_EQ(sink.lost, 2);
}

}  // namespace
}  // namespace otelbpf::l7::mysql
