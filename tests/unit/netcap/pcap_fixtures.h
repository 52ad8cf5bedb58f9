#pragma once
// Reads the scapy-made fixtures of tests/e2e/fixtures/netcap (see make_fixtures.py there): the frames of
// a classic pcap file and the expectations written beside them. Shared by the unit and kernel tests.
#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf/events.h"

namespace otelbpf::netcap::testing {

inline std::string fixture_path(const std::string& name) {
  return std::string(OTELBPF_SOURCE_DIR) + "/tests/e2e/fixtures/netcap/" + name;
}

// Frames of a pcap (microsecond or nanosecond, either byte order).
inline std::vector<std::vector<std::uint8_t>> read_pcap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<char> all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() < 24) throw std::runtime_error("short pcap " + path);
  std::uint32_t magic;
  std::memcpy(&magic, all.data(), 4);
  const bool swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
  if (!swapped && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) throw std::runtime_error("not a pcap: " + path);
  auto u32 = [&](std::size_t off) {
    std::uint32_t v;
    std::memcpy(&v, all.data() + off, 4);
    return swapped ? __builtin_bswap32(v) : v;
  };
  std::vector<std::vector<std::uint8_t>> frames;
  for (std::size_t off = 24; off + 16 <= all.size();) {
    const std::uint32_t incl = u32(off + 8);
    off += 16;
    if (off + incl > all.size()) throw std::runtime_error("cut pcap record in " + path);
    frames.emplace_back(all.begin() + static_cast<long>(off), all.begin() + static_cast<long>(off + incl));
    off += incl;
  }
  return frames;
}

// "name word field=value ..." lines; comments (#) skipped.
struct FixtureLine {
  std::string name;
  std::string word;
  std::map<std::string, std::string> fields;
  bool has(const std::string& k) const { return fields.contains(k); }
  const std::string& at(const std::string& k) const { return fields.at(k); }
  std::uint64_t num(const std::string& k, std::uint64_t fallback = 0) const {
    auto it = fields.find(k);
    return it == fields.end() ? fallback : std::stoull(it->second, nullptr, 0);
  }
};

inline std::vector<FixtureLine> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<FixtureLine> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    FixtureLine l;
    words >> l.name >> l.word;
    for (std::string kv; words >> kv;) {
      auto eq = kv.find('=');
      if (eq != std::string::npos) l.fields[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    lines.push_back(std::move(l));
  }
  return lines;
}

inline std::string address_text(const std::uint8_t* addr, std::uint8_t family) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 10 ? AF_INET6 : AF_INET, addr, text, sizeof text);
  return text;
}

inline const char* tunnel_name(std::uint8_t t) {
  switch (t) {
    case OTELBPF_TUNNEL_IPIP:
      return "ipip";
    case OTELBPF_TUNNEL_VXLAN:
      return "vxlan";
    case OTELBPF_TUNNEL_GRE:
      return "gre";
    case OTELBPF_TUNNEL_GENEVE:
      return "geneve";
  }
  return "none";
}

// Differences between an event and a packets.txt line ("" when it matches).
inline std::string compare_event(const otelbpf_packet_event& ev, const FixtureLine& want) {
  std::ostringstream diff;
  auto check = [&](const char* key, const std::string& got) {
    if (want.has(key) && want.at(key) != got)
      diff << key << ": want " << want.at(key) << " got " << got << "; ";
  };
  auto checkn = [&](const char* key, std::uint64_t got) {
    if (want.has(key) && want.num(key) != got)
      diff << key << ": want " << want.at(key) << " got " << got << "; ";
  };
  check("tunnel", tunnel_name(ev.tunnel_type));
  check("family", ev.family == 10 ? "ipv6" : "ipv4");
  check("saddr", address_text(ev.saddr, ev.family));
  check("daddr", address_text(ev.daddr, ev.family));
  if (ev.tunnel_type != OTELBPF_TUNNEL_NONE) {
    check("outer_saddr", address_text(ev.outer_saddr, ev.outer_family));
    check("outer_daddr", address_text(ev.outer_daddr, ev.outer_family));
  }
  checkn("sport", ev.sport);
  checkn("dport", ev.dport);
  checkn("seq", ev.seq);
  checkn("ack", ev.ack);
  checkn("flags", ev.tcp_flags);
  checkn("window", ev.window);
  checkn("payload_len", ev.payload_len);
  checkn("captured_len", ev.captured_len);
  checkn("vlan_depth", ev.vlan_depth);
  checkn("vlan_id", ev.vlan_id);
  checkn("outer_dport", ev.outer_dport);
  if (want.has("tunnel_id")) {
    checkn("tunnel_id", ev.tunnel_id);
    if (!(ev.flags & OTELBPF_PKT_F_TUNNEL_ID)) diff << "tunnel_id flag missing; ";
  } else if (ev.flags & OTELBPF_PKT_F_TUNNEL_ID) {
    diff << "unexpected tunnel_id " << ev.tunnel_id << "; ";
  }
  // TCP unless the line says otherwise (DNS datagrams: protocol=17).
  if (ev.protocol != want.num("protocol", 6)) diff << "protocol " << int(ev.protocol) << "; ";
  return diff.str();
}

}  // namespace otelbpf::netcap::testing
