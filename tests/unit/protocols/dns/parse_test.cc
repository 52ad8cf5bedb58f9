#include "protocols/dns/parse.h"

#include <gtest/gtest.h>

#include "protocols/dns/entry.h"
#include "protocols/registry/protocol.h"
#include "tests/unit/protocols/dns/fixtures.h"

namespace otelbpf::l7::dns {
namespace {

using testing::unhex;

TEST(DnsParse, HeaderOfRealQueryAndResponse) {
  Header q;
  ASSERT_EQ(parse_header(testing::kUdpQueryA, &q), ParseState::kSuccess);
  EXPECT_EQ(q.id, 0x714a);
  EXPECT_FALSE(q.response);
  EXPECT_EQ(q.opcode, 0);
  EXPECT_TRUE(q.recursion_desired);
  EXPECT_EQ(q.qdcount, 1);
  EXPECT_EQ(q.arcount, 1);  // EDNS OPT
  EXPECT_TRUE(sane_header(q, true));

  Header r;
  ASSERT_EQ(parse_header(testing::kUdpResponseNx, &r), ParseState::kSuccess);
  EXPECT_TRUE(r.response);
  EXPECT_EQ(r.rcode, 3);
  EXPECT_FALSE(r.authoritative);  // dnsmasq answers from --address without AA
  EXPECT_TRUE(sane_header(r, true));
  EXPECT_EQ(parse_header(testing::kUdpQueryA.substr(0, 11), &r), ParseState::kNeedsMoreData);
}

TEST(DnsParse, MessageQuestions) {
  Message m;
  ASSERT_EQ(parse_message(testing::kUdpQueryA, &m), ParseState::kSuccess);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name, "example.test");
  EXPECT_EQ(m.questions[0].type, 1);
  EXPECT_EQ(m.questions[0].klass, 1);
  ASSERT_EQ(parse_message(testing::kUdpQueryRefused, &m), ParseState::kSuccess);
  EXPECT_EQ(m.questions[0].name, "other.test");
  EXPECT_EQ(type_name(m.questions[0].type), "AAAA");
  ASSERT_EQ(parse_message(testing::kTcpQuery2.substr(2), &m), ParseState::kSuccess);
  EXPECT_EQ(m.questions[0].name, "www.example.test");
}

TEST(DnsParse, EveryFixtureParsesExactlyAndNoPrefixDoes) {
  for (const std::string* f :
       {&testing::kUdpQueryA, &testing::kUdpResponseA, &testing::kUdpQueryNx, &testing::kUdpResponseNx,
        &testing::kUdpQueryRefused, &testing::kUdpResponseRefused}) {
    EXPECT_TRUE(parses_exactly(*f));
    EXPECT_FALSE(parses_exactly(*f + '\0'));
    for (size_t cut = 0; cut < f->size(); ++cut) {
      EXPECT_FALSE(parses_exactly(f->substr(0, cut))) << cut;
      Message m;
      // A cut inside the header or question needs more data; one after them parses the questions.
      EXPECT_NE(parse_message(f->substr(0, cut), &m), ParseState::kInvalid) << cut;
    }
  }
  for (const std::string* f : {&testing::kTcpQueryAaaa, &testing::kTcpResponseAaaa, &testing::kTcpQuery1,
                               &testing::kTcpResponse1, &testing::kTcpQuery2, &testing::kTcpResponse2}) {
    EXPECT_TRUE(parses_exactly(f->substr(2)));
  }
}

TEST(DnsParse, CompressionPointerInAnswer) {
  // The answer's owner is c00c: a pointer to the question name at offset 12.
  const std::string& r = testing::kUdpResponseA;
  size_t pos = kHeaderSize;
  Question q;
  ASSERT_EQ(parse_question(r, &pos, &q), ParseState::kSuccess);
  std::string owner;
  const size_t answer = pos;
  ASSERT_EQ(parse_name(r, &pos, &owner), ParseState::kSuccess);
  EXPECT_EQ(owner, "example.test");
  EXPECT_EQ(pos, answer + 2);
}

TEST(DnsParse, PointerLoopsAndBadLabelsAreInvalid) {
  std::string header(12, '\0');
  std::string name;
  size_t pos = 12;
  // A pointer to itself, and one pointing forward.
  std::string self = header + "\xc0\x0c";
  EXPECT_EQ(parse_name(self, &pos, &name), ParseState::kInvalid);
  pos = 12;
  std::string fwd = header + "\xc0\x0e" +
                    std::string(
                        "\x01"
                        "a\x00",
                        3);
  EXPECT_EQ(parse_name(fwd, &pos, &name), ParseState::kInvalid);
  // Two pointers pointing at each other: the backwards rule stops the loop.
  pos = 14;
  std::string pair = header + "\xc0\x0e\xc0\x0c";
  EXPECT_EQ(parse_name(pair, &pos, &name), ParseState::kInvalid);
  // A long backwards chain beyond the jump bound.
  std::string chain = header + std::string(
                                   "\x01"
                                   "a\x00",
                                   3);
  for (int i = 0; i <= kMaxPointerJumps; ++i) {
    const size_t prev = chain.size() == 15 ? 12 : chain.size() - 2;
    chain.push_back(static_cast<char>(0xc0 | (prev >> 8)));
    chain.push_back(static_cast<char>(prev & 0xff));
  }
  pos = chain.size() - 2;
  EXPECT_EQ(parse_name(chain, &pos, &name), ParseState::kInvalid);
  // Extended label type 0x40, and a label of 64 bytes.
  pos = 12;
  EXPECT_EQ(parse_name(header + "\x41" + std::string(1, 'a'), &pos, &name), ParseState::kInvalid);
  pos = 12;
  EXPECT_EQ(parse_name(header + "\x40" + std::string(64, 'a') + '\0', &pos, &name), ParseState::kInvalid);
  // 5 labels of 63 bytes: over 255 bytes.
  std::string longname = header;
  for (int i = 0; i < 5; ++i) longname += "\x3f" + std::string(63, 'a');
  longname.push_back('\0');
  pos = 12;
  EXPECT_EQ(parse_name(longname, &pos, &name), ParseState::kInvalid);
}

TEST(DnsParse, NamesArePresentationEscaped) {
  std::string msg(12, '\0');
  msg += std::string(
      "\x03"
      "a.b\x02"
      "\x01\\\x00",
      8);
  size_t pos = 12;
  std::string name;
  ASSERT_EQ(parse_name(msg, &pos, &name), ParseState::kSuccess);
  EXPECT_EQ(name, "a\\.b.\\001\\\\");
  pos = 12;
  ASSERT_EQ(parse_name(std::string(12, '\0') + std::string(1, '\0'), &pos, &name), ParseState::kSuccess);
  EXPECT_EQ(name, "");
}

TEST(DnsParse, Mnemonics) {
  EXPECT_EQ(type_name(1), "A");
  EXPECT_EQ(type_name(28), "AAAA");
  EXPECT_EQ(type_name(65), "HTTPS");
  EXPECT_EQ(type_name(65280), "TYPE65280");
  EXPECT_EQ(rcode_name(0), "NOERROR");
  EXPECT_EQ(rcode_name(2), "SERVFAIL");
  EXPECT_EQ(rcode_name(3), "NXDOMAIN");
  EXPECT_EQ(rcode_name(5), "REFUSED");
  EXPECT_EQ(rcode_name(12), "RCODE12");
  EXPECT_EQ(opcode_name(5), "UPDATE");
  EXPECT_EQ(class_name(3), "CH");
}

InferenceInput udp_input(std::string_view b, uint16_t local, uint16_t remote,
                         Direction d = Direction::kEgress) {
  InferenceInput in;
  in.first_bytes = b;
  in.udp = true;
  in.local_port = local;
  in.remote_port = remote;
  in.direction = d;
  return in;
}

InferenceInput tcp_input(std::string_view b, uint16_t local, uint16_t remote) {
  InferenceInput in = udp_input(b, local, remote);
  in.udp = false;
  return in;
}

TEST(DnsInference, UdpOnPort53AndElsewhere) {
  EXPECT_TRUE(looks_like_message_start(udp_input(testing::kUdpQueryA, 40000, 53)));
  EXPECT_TRUE(looks_like_message_start(udp_input(testing::kUdpQueryA, 47053, 40000, Direction::kIngress)));
  EXPECT_TRUE(looks_like_message_start(udp_input(testing::kUdpResponseA, 40000, 53, Direction::kIngress)));
  EXPECT_TRUE(
      looks_like_message_start(udp_input(testing::kUdpResponseNx, 40000, 47053, Direction::kIngress)));
  EXPECT_EQ(infer_protocol(udp_input(testing::kUdpQueryA, 40000, 47053)), Protocol::kDns);
  // Off port 53 the message must parse to its last byte.
  EXPECT_FALSE(looks_like_message_start(udp_input(testing::kUdpQueryA + "x", 40000, 47053)));
  EXPECT_TRUE(looks_like_message_start(udp_input(testing::kUdpQueryA + "x", 40000, 53)));
  EXPECT_FALSE(looks_like_message_start(udp_input(testing::kUdpQueryA.substr(0, 20), 40000, 47053)));
  // Not DNS: a datagram of zeros, text, a TCP-framed message on UDP.
  EXPECT_FALSE(looks_like_message_start(udp_input(std::string(40, '\0'), 40000, 53)));
  EXPECT_FALSE(looks_like_message_start(udp_input("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 40000, 53)));
  EXPECT_FALSE(looks_like_message_start(udp_input(testing::kTcpQuery1, 40000, 53)));
}

TEST(DnsInference, TcpLengthPrefixed) {
  EXPECT_TRUE(looks_like_message_start(tcp_input(testing::kTcpQuery1, 40000, 47053)));
  EXPECT_TRUE(looks_like_message_start(tcp_input(testing::kTcpQuery1 + testing::kTcpQuery2, 40000, 47053)));
  EXPECT_TRUE(looks_like_message_start(tcp_input(testing::kTcpQuery1.substr(0, 2), 40000, 53)));
  EXPECT_FALSE(looks_like_message_start(tcp_input(testing::kTcpQuery1.substr(0, 2), 40000, 47053)));
  EXPECT_TRUE(looks_like_message_start(tcp_input(testing::kTcpQuery1.substr(0, 34), 40000, 53)));
  EXPECT_FALSE(looks_like_message_start(tcp_input(testing::kTcpQuery1.substr(0, 34), 40000, 47053)));
  // A whole message without its prefix (a server that read the length on its own) passes as well; a cut
  // one does not.
  EXPECT_TRUE(looks_like_message_start(tcp_input(testing::kUdpQueryA, 40000, 47053)));
  EXPECT_FALSE(looks_like_message_start(tcp_input(testing::kUdpQueryA.substr(0, 30), 40000, 47053)));
  EXPECT_FALSE(looks_like_message_start(tcp_input("GET / HTTP/1.1\r\n\r\n", 40000, 53)));
  EXPECT_EQ(infer_protocol("GET / HTTP/1.1\r\n\r\n", Direction::kEgress), Protocol::kHttp1);
  EXPECT_EQ(infer_protocol(tcp_input(testing::kTcpResponse1, 47053, 40000)), Protocol::kDns);
}

TEST(DnsInference, detect_transport) {
  DataChunk c;
  c.captured = testing::kUdpQueryA;
  c.total_bytes = c.captured.size();
  EXPECT_EQ(detect_transport(c), Transport::kUdp);
  c.captured = testing::kTcpQuery1;
  c.total_bytes = c.captured.size();
  EXPECT_EQ(detect_transport(c), Transport::kTcp);
  c.captured = testing::kTcpQuery1.substr(0, 2);
  c.total_bytes = 2;
  EXPECT_EQ(detect_transport(c), Transport::kTcp);
  c.captured = "\x01";
  c.total_bytes = 1;
  EXPECT_EQ(detect_transport(c), Transport::kUnknown);
  c.captured = testing::kUdpQueryA;
  c.tcp_seq = 77;  // TCP chunks carry a sequence number
  EXPECT_EQ(detect_transport(c), Transport::kTcp);
}

}  // namespace
}  // namespace otelbpf::l7::dns
