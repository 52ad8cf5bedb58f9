// libFuzzer target for the MySQL stitcher, its SQL helpers and the shared obfuscators. The input is a
// script: the first byte picks how the connection is recognised (a greeting either way, or a command),
// then each step's control byte picks the direction, how many bytes the syscall moved and how many were
// captured, so the fuzzer explores splits and capture truncation as well as byte content.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/obfuscate.h"
#include "protocols/common/record.h"
#include "protocols/mysql/parse.h"
#include "protocols/mysql/sql.h"
#include "protocols/mysql/stitcher.h"

using namespace otelbpf::l7;

namespace {

// A MariaDB greeting and a COM_PING, the two ways a connection is first recognised.
std::string packet(std::string_view payload) {
  std::string p;
  p += static_cast<char>(payload.size() & 0xff);
  p += static_cast<char>((payload.size() >> 8) & 0xff);
  p += '\0';
  p += '\0';
  p.append(payload);
  return p;
}
constexpr char kGreetingPayload[] =
    "\x0a"
    "5.5.5-10.11.6-MariaDB\0"
    "\x2a\0\0\0abcdefgh\0\xfe\xff\x2d\x02\0\xff\x81\x15\0\0\0\0\0\0\0\0\0\0ijklmnopqrst";
const std::string kGreeting = packet(std::string_view(kGreetingPayload, sizeof kGreetingPayload));
const std::string kPing = packet(std::string_view("\x0e", 1));

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty()) return 0;
  const uint8_t mode = static_cast<uint8_t>(in.front());
  in.remove_prefix(1);

  mysql::Limits limits;
  limits.max_payload_keep = 256;  // small bounds reach the bound paths with small inputs
  limits.max_pending_requests = 4;
  limits.max_statements = 4;
  limits.max_query_text = 64;
  mysql::Stitcher stitcher(limits);
  std::vector<L7Record> out;
  uint64_t clock = 0;
  uint32_t seq[2] = {0, 0};
  auto feed = [&](Direction dir, std::string_view captured, uint64_t total) {
    DataChunk c{dir, clock, clock + 1, 1, seq[static_cast<int>(dir)], total, captured};
    seq[static_cast<int>(dir)] += static_cast<uint32_t>(total);
    clock += 2;
    stitcher.on_chunk(c, out);
  };
  switch (mode & 3) {
    case 0:
      feed(Direction::kIngress, kGreeting, kGreeting.size());
      break;
    case 1:
      feed(Direction::kEgress, kGreeting, kGreeting.size());
      break;
    case 2:
      feed(Direction::kEgress, kPing, kPing.size());
      break;
    default:
      break;  // recognised from the fuzzer's own bytes, or never
  }
  while (!in.empty()) {
    const uint8_t ctl = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    const size_t len = std::min<size_t>(in.size(), 1 + (ctl & 0x3f));
    const auto dir = (ctl & 0x80) != 0 ? Direction::kIngress : Direction::kEgress;
    const size_t captured = (ctl & 0x40) != 0 ? len / 2 : len;
    const uint64_t total = (ctl & 0x40) != 0 ? len + (ctl & 0x0f) * 1000 : len;
    feed(dir, in.substr(0, captured), total);
    in.remove_prefix(len);
  }
  stitcher.on_close(clock, out);
  if (out.size() > stitcher.stats().records) __builtin_trap();
  for (const L7Record& r : out) {
    if (r.start_ns > r.end_ns) __builtin_trap();
    if (const auto* t = find_attribute(r, "db.query.text"))
      if (std::get<std::string>(*t).size() > limits.max_query_text) __builtin_trap();
  }

  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  const std::string a = obfuscate_sql(whole, SqlDialect::kMysql);
  const std::string b = obfuscate_sql(whole, SqlDialect::kPostgres);
  if (a.size() > whole.size() || b.size() > whole.size()) __builtin_trap();  // literals only ever shrink
  const std::string op = mysql::sql_operation(whole);
  mysql::sql_collection(whole, op);
  mysql::sql_transaction_effect(whole);
  mysql::sql_use_database(whole);
  std::vector<std::string> args;
  for (size_t i = 0; i < whole.size(); i += 7) args.emplace_back(whole.substr(i, 7));
  obfuscate_redis(args);
  uint8_t cmd = 0;
  mysql::parse_command_start(whole, &cmd);
  mysql::parse_greeting_start(whole);
  mysql::HandshakeResponse hr;
  mysql::parse_handshake_response(whole, &hr);
  return 0;
}
