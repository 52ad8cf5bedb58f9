#pragma once
// Drives a PostgreSQL stitcher the way the tracer does (one DataChunk per syscall, both directions on one
// clock, TCP sequence numbers advancing by total bytes), and builds protocol 3.0 messages byte by byte.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/record.h"
#include "protocols/postgres/stitcher.h"
#include "tests/unit/protocols/common/conversation.h"

namespace otelbpf::l7::postgres::testing {

constexpr uint32_t kEgressSeq0 = 3000;
constexpr uint32_t kIngressSeq0 = 800000;

using Conversation = l7::testing::BasicConversation<Stitcher, Limits, kEgressSeq0, kIngressSeq0>;

inline std::string Be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
}
inline std::string Be16(uint16_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; }
inline std::string Cstr(std::string_view s) { return std::string(s) + '\0'; }
inline std::string Msg(char type, const std::string& body) {
  return std::string(1, type) + Be32(4 + body.size()) + body;
}

// Frontend.
inline std::string Startup(const std::string& user, const std::string& db) {
  const std::string body = Be32(0x00030000) + Cstr("user") + Cstr(user) + Cstr("database") + Cstr(db) +
                           Cstr("application_name") + Cstr("psql") + std::string(1, '\0');
  return Be32(4 + body.size()) + body;
}
inline std::string SslRequest() { return Be32(8) + Be32(80877103); }
inline std::string CancelRequest() { return Be32(16) + Be32(80877102) + Be32(4242) + Be32(99); }
inline std::string Query(const std::string& sql) { return Msg('Q', Cstr(sql)); }
inline std::string Parse(const std::string& name, const std::string& sql) {
  return Msg('P', Cstr(name) + Cstr(sql) + Be16(1) + Be32(23));
}
inline std::string Bind(const std::string& portal, const std::string& stmt) {
  return Msg('B', Cstr(portal) + Cstr(stmt) + Be16(0) + Be16(1) + Be32(2) + "42" + Be16(0));
}
inline std::string Describe(char what, const std::string& name) {
  return Msg('D', std::string(1, what) + Cstr(name));
}
inline std::string Execute(const std::string& portal) { return Msg('E', Cstr(portal) + Be32(0)); }
inline std::string Close(char what, const std::string& name) {
  return Msg('C', std::string(1, what) + Cstr(name));
}
inline std::string Sync() { return Msg('S', ""); }
inline std::string Terminate() { return Msg('X', ""); }

// Backend.
inline std::string AuthOk() { return Msg('R', Be32(0)); }
inline std::string ParamStatus(const std::string& k, const std::string& v) {
  return Msg('S', Cstr(k) + Cstr(v));
}
inline std::string KeyData() { return Msg('K', Be32(4242) + Be32(99)); }
inline std::string Ready(char status) { return Msg('Z', std::string(1, status)); }
inline std::string RowDesc(const std::vector<std::string>& cols) {
  std::string body = Be16(static_cast<uint16_t>(cols.size()));
  for (const auto& c : cols)
    body += Cstr(c) + Be32(0) + Be16(0) + Be32(23) + Be16(4) + Be32(0xffffffff) + Be16(0);
  return Msg('T', body);
}
inline std::string DataRow(const std::vector<std::string>& vals) {
  std::string body = Be16(static_cast<uint16_t>(vals.size()));
  for (const auto& v : vals) body += Be32(static_cast<uint32_t>(v.size())) + v;
  return Msg('D', body);
}
inline std::string Complete(const std::string& tag) { return Msg('C', Cstr(tag)); }
inline std::string Error(const std::string& code, const std::string& message) {
  return Msg('E', Cstr("SERROR") + Cstr("VERROR") + Cstr("C" + code) + Cstr("M" + message) +
                      Cstr("Fparse.c") + std::string(1, '\0'));
}
inline std::string Notice(const std::string& message) {
  return Msg('N',
             Cstr("SNOTICE") + Cstr("VNOTICE") + Cstr("C00000") + Cstr("M" + message) + std::string(1, '\0'));
}
inline std::string ParseComplete() { return Msg('1', ""); }
inline std::string BindComplete() { return Msg('2', ""); }
inline std::string NoData() { return Msg('n', ""); }
inline std::string EmptyQuery() { return Msg('I', ""); }
// What a server answers to a StartupMessage under trust authentication.
inline std::string StartupReply() {
  return AuthOk() + ParamStatus("server_version", "15.14") + ParamStatus("client_encoding", "UTF8") +
         KeyData() + Ready('I');
}

inline std::string str_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v)
                                                                 : std::string("<none>");
}
inline int64_t int_attr(const L7Record& r, std::string_view key) {
  const AttributeValue* v = find_attribute(r, key);
  return v != nullptr && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : -1;
}
inline bool has_attr(const L7Record& r, std::string_view key) { return find_attribute(r, key) != nullptr; }

}  // namespace otelbpf::l7::postgres::testing
