#include "protocols/http2/hpack.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/protocols/http2/fixtures.h"

namespace otelbpf::l7::http2 {
namespace {

using testing::huffman_encode;
using testing::unhex;
using Fields = std::vector<std::pair<std::string, std::string>>;
using Table = std::vector<std::pair<std::string, std::string>>;

Fields decode_ok(HpackDecoder& d, std::string_view hex) {
  HeaderBlock b;
  EXPECT_EQ(d.decode(unhex(hex), &b), ParseState::kSuccess) << hex;
  EXPECT_FALSE(b.incomplete);
  return Fields(b.fields.begin(), b.fields.end());
}

Table table_of(const HpackDecoder& d) {
  Table t;
  for (size_t i = 0; i < d.entry_count(); ++i) t.emplace_back(d.entry(i).first, d.entry(i).second);
  return t;
}

HpackDecoder fresh() {
  HpackDecoder d;
  d.set_known_from_start(true);
  return d;
}

// RFC 7541 C.1: integer representation.
TEST(Hpack, IntegerExamplesC1) {
  uint64_t v = 0;
  size_t pos = 0;
  std::string b = unhex("0a");
  ASSERT_EQ(decode_integer(b, &pos, 5, &v), ParseState::kSuccess);
  EXPECT_EQ(v, 10u);
  pos = 0;
  b = unhex("1f9a0a");
  ASSERT_EQ(decode_integer(b, &pos, 5, &v), ParseState::kSuccess);
  EXPECT_EQ(v, 1337u);
  EXPECT_EQ(pos, 3u);
  pos = 0;
  b = unhex("2a");
  ASSERT_EQ(decode_integer(b, &pos, 8, &v), ParseState::kSuccess);
  EXPECT_EQ(v, 42u);
  pos = 0;
  b = unhex("1f9a");
  EXPECT_EQ(decode_integer(b, &pos, 5, &v), ParseState::kNeedsMoreData);
  pos = 0;
  b = unhex("1fffffffffffff01");
  EXPECT_EQ(decode_integer(b, &pos, 5, &v), ParseState::kInvalid);
}

// RFC 7541 C.2: one representation each.
TEST(Hpack, LiteralWithIndexingC21) {
  HpackDecoder d = fresh();
  EXPECT_EQ(decode_ok(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
            (Fields{{"custom-key", "custom-header"}}));
  EXPECT_EQ(table_of(d), (Table{{"custom-key", "custom-header"}}));
  EXPECT_EQ(d.table_size(), 55u);
}

TEST(Hpack, LiteralWithoutIndexingC22) {
  HpackDecoder d = fresh();
  EXPECT_EQ(decode_ok(d, "040c 2f73 616d 706c 652f 7061 7468"), (Fields{{":path", "/sample/path"}}));
  EXPECT_EQ(d.entry_count(), 0u);
}

TEST(Hpack, LiteralNeverIndexedC23) {
  HpackDecoder d = fresh();
  EXPECT_EQ(decode_ok(d, "1008 7061 7373 776f 7264 0673 6563 7265 74"), (Fields{{"password", "secret"}}));
  EXPECT_EQ(d.entry_count(), 0u);
}

TEST(Hpack, IndexedFieldC24) {
  HpackDecoder d = fresh();
  EXPECT_EQ(decode_ok(d, "82"), (Fields{{":method", "GET"}}));
  EXPECT_EQ(d.entry_count(), 0u);
}

void CheckRequestsC3C4(bool huffman) {
  const char* blocks[2][3] = {
      {"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", "8286 84be 5808 6e6f 2d63 6163 6865",
       "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"},
      {"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", "8286 84be 5886 a8eb 1064 9cbf",
       "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"},
  };
  const int h = huffman ? 1 : 0;
  HpackDecoder d = fresh();
  EXPECT_EQ(
      decode_ok(d, blocks[h][0]),
      (Fields{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "www.example.com"}}));
  EXPECT_EQ(table_of(d), (Table{{":authority", "www.example.com"}}));
  EXPECT_EQ(d.table_size(), 57u);

  EXPECT_EQ(decode_ok(d, blocks[h][1]), (Fields{{":method", "GET"},
                                                {":scheme", "http"},
                                                {":path", "/"},
                                                {":authority", "www.example.com"},
                                                {"cache-control", "no-cache"}}));
  EXPECT_EQ(table_of(d), (Table{{"cache-control", "no-cache"}, {":authority", "www.example.com"}}));
  EXPECT_EQ(d.table_size(), 110u);

  EXPECT_EQ(decode_ok(d, blocks[h][2]), (Fields{{":method", "GET"},
                                                {":scheme", "https"},
                                                {":path", "/index.html"},
                                                {":authority", "www.example.com"},
                                                {"custom-key", "custom-value"}}));
  EXPECT_EQ(table_of(d), (Table{{"custom-key", "custom-value"},
                                {"cache-control", "no-cache"},
                                {":authority", "www.example.com"}}));
  EXPECT_EQ(d.table_size(), 164u);
}

TEST(Hpack, RequestsWithoutHuffmanC3) { CheckRequestsC3C4(false); }
TEST(Hpack, RequestsWithHuffmanC4) { CheckRequestsC3C4(true); }

void CheckResponsesC5C6(bool huffman) {
  const char* blocks[2][3] = {
      {"4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 "
       "3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
       "4803 3330 37c1 c0bf",
       "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 "
       "7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 "
       "6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31"},
      {"4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad "
       "1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
       "4883 640e ffc1 c0bf",
       "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 "
       "e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"},
  };
  const int h = huffman ? 1 : 0;
  HpackDecoder d = fresh();
  d.set_max_table_size(256);  // SETTINGS_HEADER_TABLE_SIZE = 256 in these examples: evictions happen
  const std::string date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
  const std::string date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
  const std::string loc = "https://www.example.com";
  EXPECT_EQ(decode_ok(d, blocks[h][0]),
            (Fields{{":status", "302"}, {"cache-control", "private"}, {"date", date1}, {"location", loc}}));
  EXPECT_EQ(table_of(d),
            (Table{{"location", loc}, {"date", date1}, {"cache-control", "private"}, {":status", "302"}}));
  EXPECT_EQ(d.table_size(), 222u);

  EXPECT_EQ(decode_ok(d, blocks[h][1]),
            (Fields{{":status", "307"}, {"cache-control", "private"}, {"date", date1}, {"location", loc}}));
  EXPECT_EQ(table_of(d),
            (Table{{":status", "307"}, {"location", loc}, {"date", date1}, {"cache-control", "private"}}));
  EXPECT_EQ(d.table_size(), 222u);

  const std::string cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
  EXPECT_EQ(decode_ok(d, blocks[h][2]), (Fields{{":status", "200"},
                                                {"cache-control", "private"},
                                                {"date", date2},
                                                {"location", loc},
                                                {"content-encoding", "gzip"},
                                                {"set-cookie", cookie}}));
  EXPECT_EQ(table_of(d), (Table{{"set-cookie", cookie}, {"content-encoding", "gzip"}, {"date", date2}}));
  EXPECT_EQ(d.table_size(), 215u);
}

TEST(Hpack, ResponsesWithoutHuffmanC5) { CheckResponsesC5C6(false); }
TEST(Hpack, ResponsesWithHuffmanC6) { CheckResponsesC5C6(true); }

TEST(Hpack, HuffmanTableSpotChecksFromAppendixB) {
  EXPECT_EQ(huffman_code(0).code, 0x1ff8u);
  EXPECT_EQ(huffman_code(0).bits, 13);
  EXPECT_EQ(huffman_code('0').code, 0x0u);
  EXPECT_EQ(huffman_code('0').bits, 5);
  EXPECT_EQ(huffman_code('\\').code, 0x7fff0u);
  EXPECT_EQ(huffman_code('\\').bits, 19);
  EXPECT_EQ(huffman_code(10).code, 0x3ffffffcu);
  EXPECT_EQ(huffman_code(10).bits, 30);
  EXPECT_EQ(huffman_code(255).code, 0x3ffffeeu);
  EXPECT_EQ(huffman_code(255).bits, 26);
  EXPECT_EQ(huffman_code(256).code, 0x3fffffffu);
  EXPECT_EQ(huffman_code(256).bits, 30);
}

TEST(Hpack, HuffmanRoundTripsEveryOctet) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (size_t n = 0; n <= all.size(); n += 7) {
    const std::string s = all.substr(all.size() - n);
    std::string out;
    ASSERT_EQ(huffman_decode(huffman_encode(s), &out), ParseState::kSuccess) << n;
    EXPECT_EQ(out, s);
  }
}

TEST(Hpack, HuffmanRejectsBadPaddingAndEos) {
  std::string out;
  // 'a' (00011) padded with zeros instead of ones.
  EXPECT_EQ(huffman_decode(std::string(1, '\x18'), &out), ParseState::kInvalid);
  // Eight bits of padding: a whole byte of ones after a complete symbol.
  out.clear();
  EXPECT_EQ(huffman_decode(huffman_encode("a") + "\xff", &out), ParseState::kInvalid);
  // EOS (30 ones) inside the string.
  out.clear();
  EXPECT_EQ(huffman_decode(std::string("\xff\xff\xff\xfc", 4), &out), ParseState::kInvalid);
  out.clear();
  EXPECT_EQ(huffman_decode("", &out), ParseState::kSuccess);
}

TEST(Hpack, SizeUpdateEvictsAndIsCapped) {
  HpackDecoder d(1024);
  d.set_known_from_start(true);
  decode_ok(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
  EXPECT_EQ(d.entry_count(), 1u);
  EXPECT_EQ(d.max_table_size(), 1024u);  // the default 4096 is capped at construction
  HeaderBlock b;
  ASSERT_EQ(d.decode(testing::size_update(0) + testing::size_update(100000) + unhex("82"), &b),
            ParseState::kSuccess);
  EXPECT_EQ(d.entry_count(), 0u);
  EXPECT_EQ(d.max_table_size(), 1024u);
  EXPECT_EQ(b.fields, (HeaderList{{":method", "GET"}}));
}

TEST(Hpack, OversizedEntryEmptiesTheTable) {
  HpackDecoder d = fresh();
  d.set_max_table_size(60);
  decode_ok(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");  // 55 bytes
  EXPECT_EQ(d.entry_count(), 1u);
  HeaderBlock b;
  ASSERT_EQ(d.decode(testing::lit_indexed(0, "a-long-name", "a value that does not fit"), &b),
            ParseState::kSuccess);
  EXPECT_EQ(d.entry_count(), 0u);
  EXPECT_EQ(b.fields.size(), 1u);
}

TEST(Hpack, MidConnectionUnknownReferencesAreReportedNotFatal) {
  HpackDecoder d;  // not known from start
  HeaderBlock b;
  // :method POST (static), an unknown dynamic entry, :path literal without indexing, a literal whose name
  // is an unknown dynamic entry (inserted as a placeholder), then the new entry referenced by index 62.
  const std::string block = testing::indexed(3) + testing::indexed(70) + testing::lit_plain(4, "", "/a.B/C") +
                            testing::lit_indexed(75, "", "v1") + testing::lit_indexed(0, "x-new", "v2") +
                            testing::indexed(62) + testing::indexed(63);
  ASSERT_EQ(d.decode(block, &b), ParseState::kSuccess);
  EXPECT_TRUE(b.incomplete);
  EXPECT_FALSE(b.decode_error);
  EXPECT_EQ(b.fields,
            (HeaderList{{":method", "POST"}, {":path", "/a.B/C"}, {"x-new", "v2"}, {"x-new", "v2"}}));
  EXPECT_EQ(d.unknown_references(), 3u);  // index 70, name 75, and the placeholder at 63
  EXPECT_EQ(d.entry_count(), 2u);
}

TEST(Hpack, KnownTableOutOfRangeIsAnError) {
  HpackDecoder d = fresh();
  HeaderBlock b;
  EXPECT_EQ(d.decode(testing::indexed(3) + testing::indexed(62), &b), ParseState::kInvalid);
  EXPECT_TRUE(b.decode_error);
  EXPECT_EQ(b.fields, (HeaderList{{":method", "POST"}}));
  EXPECT_FALSE(d.known_from_start());  // the table is unknown after an error
  b = {};
  EXPECT_EQ(d.decode(testing::indexed(0), &b), ParseState::kInvalid);  // index 0 is never valid
}

TEST(Hpack, LostTableKeepsLaterInsertionsExact) {
  HpackDecoder d = fresh();
  decode_ok(d, "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
  d.lose_table();
  HeaderBlock b;
  ASSERT_EQ(d.decode(testing::lit_indexed(0, "k", "v") + testing::indexed(62) + testing::indexed(63), &b),
            ParseState::kSuccess);
  EXPECT_EQ(b.fields, (HeaderList{{"k", "v"}, {"k", "v"}}));
  EXPECT_TRUE(b.incomplete);  // 63 was the lost :authority entry
}

TEST(Hpack, TentativeEntriesDecodeAndSaySo) {
  HpackDecoder d = fresh();
  decode_ok(d, "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");  // :authority www.example.com at 62
  d.mark_tentative();
  EXPECT_TRUE(d.has_tentative());
  HeaderBlock b;
  ASSERT_EQ(d.decode(testing::indexed(62), &b), ParseState::kSuccess);
  EXPECT_EQ(b.fields, (HeaderList{{":authority", "www.example.com"}}));
  EXPECT_TRUE(b.tentative);
  EXPECT_FALSE(b.incomplete);
  // A new entry is certain; one whose name comes from a tentative entry is tentative too.
  b = {};
  ASSERT_EQ(d.decode(testing::lit_indexed(0, "k", "v") + testing::indexed(62), &b), ParseState::kSuccess);
  EXPECT_FALSE(b.tentative);
  b = {};
  ASSERT_EQ(d.decode(testing::lit_indexed(63, "", "other.example") + testing::indexed(62), &b),
            ParseState::kSuccess);
  EXPECT_TRUE(b.tentative);
  EXPECT_EQ(b.fields, (HeaderList{{":authority", "other.example"}, {":authority", "other.example"}}));
  // Past the end of the table: unknown (the gap may have inserted entries), not an error.
  b = {};
  ASSERT_EQ(d.decode(testing::indexed(70), &b), ParseState::kSuccess);
  EXPECT_TRUE(b.incomplete);
  d.lose_table();
  EXPECT_FALSE(d.has_tentative());
}

TEST(Hpack, HeaderListBoundsKeepTheTableInStep) {
  HpackDecoder d = fresh();
  Limits limits;
  limits.max_headers = 1;
  HeaderBlock b;
  ASSERT_EQ(d.decode(testing::indexed(2) + testing::lit_indexed(0, "k", "v"), &b, limits),
            ParseState::kSuccess);
  EXPECT_EQ(b.fields.size(), 1u);
  EXPECT_EQ(d.entry_count(), 1u);
}

TEST(Hpack, TruncatedBlocksFailCleanly) {
  const std::string block = unhex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
  for (size_t n = 0; n < block.size(); ++n) {
    HpackDecoder d;
    HeaderBlock b;
    d.decode(std::string_view(block).substr(0, n), &b);  // must not crash; fields before the cut are kept
    EXPECT_LE(b.fields.size(), 5u);
  }
}

}  // namespace
}  // namespace otelbpf::l7::http2
