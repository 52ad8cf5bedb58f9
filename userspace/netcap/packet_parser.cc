#include "netcap/packet_parser.h"

#include <algorithm>
#include <cstring>

namespace otelbpf::netcap {
namespace {

constexpr std::uint16_t kEthIp = 0x0800, kEthIpv6 = 0x86DD, kEth8021Q = 0x8100, kEth8021AD = 0x88A8,
                        kEthTeb = 0x6558;
constexpr std::uint8_t kIpip = 4, kTcp = 6, kUdp = 17, kIpv6InIp = 41, kGre = 47;
constexpr int kMaxVlanTags = 2, kMaxIpv6Ext = 4;
constexpr std::uint16_t kDnsPort = 53;

enum Result { kOk, kOther, kBad };

// bpf_skb_load_bytes: all of [off, off + n) inside the frame, or nothing.
struct Frame {
  std::span<const std::uint8_t> bytes;
  const std::uint8_t* at(std::uint32_t off, std::uint32_t n) const {
    if (off > bytes.size() || n > bytes.size() - off) return nullptr;
    return bytes.data() + off;
  }
  std::uint32_t len() const { return static_cast<std::uint32_t>(bytes.size()); }
};

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

struct IpView {
  std::uint8_t family = 0;
  std::uint8_t l4proto = 0;
  std::uint32_t l4_off = 0;
  std::uint32_t end = 0;
  std::uint8_t saddr[16] = {};
  std::uint8_t daddr[16] = {};
};

Result parse_ethernet(const Frame& f, std::uint32_t& off, std::uint16_t& proto, std::uint8_t& depth,
                      std::uint16_t& vlan_id) {
  const auto* eth = f.at(off, 14);
  if (!eth) return kBad;
  std::uint16_t p = be16(eth + 12);
  off += 14;
  for (int i = 0; i < kMaxVlanTags; ++i) {
    if (p != kEth8021Q && p != kEth8021AD) break;
    const auto* tag = f.at(off, 4);
    if (!tag) return kBad;
    if (depth == 0) vlan_id = be16(tag) & 0x0fff;
    ++depth;
    p = be16(tag + 2);
    off += 4;
  }
  proto = p;
  return kOk;
}

Result parse_ipv4(const Frame& f, std::uint32_t off, IpView& ip) {
  const auto* h = f.at(off, 20);
  if (!h || (h[0] >> 4) != 4) return kBad;
  const std::uint32_t ihl = (h[0] & 0x0f) * 4u;
  if (ihl < 20) return kBad;
  const std::uint32_t tot_len = be16(h + 2);
  if (be16(h + 6) & 0x3fff) return kOther;
  ip = IpView{};
  ip.family = 2;
  ip.l4proto = h[9];
  ip.l4_off = off + ihl;
  std::memcpy(ip.saddr, h + 12, 4);
  std::memcpy(ip.daddr, h + 16, 4);
  if (tot_len == 0) {
    ip.end = f.len();
  } else {
    if (tot_len < ihl) return kBad;
    ip.end = std::min(off + tot_len, f.len());
  }
  return ip.l4_off > ip.end ? kBad : kOk;
}

Result parse_ipv6(const Frame& f, std::uint32_t off, IpView& ip) {
  const auto* h = f.at(off, 40);
  if (!h || (h[0] >> 4) != 6) return kBad;
  const std::uint32_t plen = be16(h + 4);
  std::uint8_t next = h[6];
  std::uint32_t l4 = off + 40;
  ip = IpView{};
  ip.family = 10;
  std::memcpy(ip.saddr, h + 8, 16);
  std::memcpy(ip.daddr, h + 24, 16);
  ip.end = plen == 0 ? f.len() : std::min(off + 40 + plen, f.len());
  auto is_ext = [](std::uint8_t n) { return n == 0 || n == 43 || n == 60; };
  for (int i = 0; i < kMaxIpv6Ext; ++i) {
    if (next == 44) return kOther;
    if (!is_ext(next)) break;
    const auto* ext = f.at(l4, 2);
    if (!ext) return kBad;
    next = ext[0];
    l4 += (std::uint32_t(ext[1]) + 1) * 8;
  }
  if (is_ext(next) || next == 44) return kOther;
  ip.l4proto = next;
  ip.l4_off = l4;
  return ip.l4_off > ip.end ? kBad : kOk;
}

Result parse_ip(const Frame& f, std::uint32_t off, std::uint16_t proto, IpView& ip) {
  if (proto == kEthIp) return parse_ipv4(f, off, ip);
  if (proto == kEthIpv6) return parse_ipv6(f, off, ip);
  return kOther;
}

struct Tunnel {
  std::uint32_t inner_off = 0;
  std::uint16_t inner_proto = 0;
  bool inner_l2 = false;
};

Result parse_tunnel(const Frame& f, const IpView& ip, otelbpf_packet_event& ev, Tunnel& t) {
  const std::uint32_t off = ip.l4_off;
  switch (ip.l4proto) {
    case kIpip:
    case kIpv6InIp:
      ev.tunnel_type = OTELBPF_TUNNEL_IPIP;
      t.inner_off = off;
      t.inner_proto = ip.l4proto == kIpip ? kEthIp : kEthIpv6;
      return kOk;
    case kGre: {
      const auto* g = f.at(off, 4);
      if (!g) return kBad;
      if ((g[1] & 0x07) != 0 || (g[0] & 0x40)) return kOther;
      std::uint32_t hlen = 4;
      if (g[0] & 0x80) hlen += 4;
      if (g[0] & 0x20) {
        const auto* key = f.at(off + hlen, 4);
        if (!key) return kBad;
        ev.tunnel_id = be32(key);
        ev.flags |= OTELBPF_PKT_F_TUNNEL_ID;
        hlen += 4;
      }
      if (g[0] & 0x10) hlen += 4;
      const std::uint16_t p = be16(g + 2);
      if (p != kEthIp && p != kEthIpv6 && p != kEthTeb) return kOther;
      ev.tunnel_type = OTELBPF_TUNNEL_GRE;
      t.inner_off = off + hlen;
      t.inner_l2 = p == kEthTeb;
      t.inner_proto = p;
      return kOk;
    }
    case kUdp: {
      const auto* u = f.at(off, 8);
      if (!u) return kBad;
      const std::uint16_t dport = be16(u + 2);
      if (dport == 4789 || dport == 8472) {
        const auto* x = f.at(off + 8, 8);
        if (!x) return kBad;
        if (!(x[0] & 0x08)) return kOther;
        ev.tunnel_type = OTELBPF_TUNNEL_VXLAN;
        ev.tunnel_id = be32(x + 4) >> 8;
        ev.flags |= OTELBPF_PKT_F_TUNNEL_ID;
        ev.outer_dport = dport;
        t.inner_off = off + 16;
        t.inner_l2 = true;
        t.inner_proto = kEthTeb;
        return kOk;
      }
      if (dport == 6081) {
        const auto* g = f.at(off + 8, 8);
        if (!g) return kBad;
        if ((g[0] >> 6) != 0) return kOther;
        const std::uint16_t p = be16(g + 2);
        if (p != kEthIp && p != kEthIpv6 && p != kEthTeb) return kOther;
        ev.tunnel_type = OTELBPF_TUNNEL_GENEVE;
        ev.tunnel_id = be32(g + 4) >> 8;
        ev.flags |= OTELBPF_PKT_F_TUNNEL_ID;
        ev.outer_dport = dport;
        t.inner_off = off + 16 + std::uint32_t(g[0] & 0x3f) * 4;
        t.inner_l2 = p == kEthTeb;
        t.inner_proto = p;
        return kOk;
      }
      return kOk;  // plain UDP: parse_frame decides whether it is DNS
    }
    default:
      return kOk;
  }
}

}  // namespace

const char* to_string(ParseOutcome o) {
  switch (o) {
    case ParseOutcome::kEmit:
      return "emit";
    case ParseOutcome::kNoPayload:
      return "no_payload";
    case ParseOutcome::kOther:
      return "other";
    case ParseOutcome::kUnparsable:
      return "unparsable";
  }
  return "?";
}

ParseOutcome parse_frame(std::span<const std::uint8_t> bytes, const FrameContext& ctx, ParsedPacket& out) {
  const Frame f{bytes};
  auto verdict = [](Result r) { return r == kOther ? ParseOutcome::kOther : ParseOutcome::kUnparsable; };
  out = ParsedPacket{};
  auto& ev = out.event;
  std::uint32_t off = 0;
  std::uint16_t proto = ctx.l3_protocol;
  Result r;
  if (!ctx.l3) {
    if ((r = parse_ethernet(f, off, proto, ev.vlan_depth, ev.vlan_id)) != kOk) return verdict(r);
  }
  IpView ip, outer;
  if ((r = parse_ip(f, off, proto, ip)) != kOk) return verdict(r);
  Tunnel t;
  if ((r = parse_tunnel(f, ip, ev, t)) != kOk) return verdict(r);
  if (ev.tunnel_type != OTELBPF_TUNNEL_NONE) {
    outer = ip;
    if (t.inner_l2) {
      std::uint8_t depth = 0;
      std::uint16_t vid = 0;
      ev.flags |= OTELBPF_PKT_F_INNER_L2;
      if ((r = parse_ethernet(f, t.inner_off, t.inner_proto, depth, vid)) != kOk) return verdict(r);
    }
    if ((r = parse_ip(f, t.inner_off, t.inner_proto, ip)) != kOk) return verdict(r);
  }
  std::uint32_t payload_off = 0;
  if (ip.l4proto == kUdp) {
    // DNS only (port 53 at either end): one datagram is one whole message.
    const auto* udp = f.at(ip.l4_off, 8);
    if (!udp) return ParseOutcome::kUnparsable;
    ev.sport = be16(udp);
    ev.dport = be16(udp + 2);
    if (ev.sport != kDnsPort && ev.dport != kDnsPort) return ParseOutcome::kOther;
    const std::uint32_t udp_len = be16(udp + 4);
    if (udp_len < 8) return ParseOutcome::kUnparsable;
    payload_off = ip.l4_off + 8;
    if (payload_off > ip.end) return ParseOutcome::kUnparsable;
    ev.protocol = kUdp;
    ev.payload_len = std::min(ip.l4_off + udp_len, ip.end) - payload_off;
  } else if (ip.l4proto == kTcp) {
    const auto* tcp = f.at(ip.l4_off, 20);
    if (!tcp) return ParseOutcome::kUnparsable;
    const std::uint32_t doff = (tcp[12] >> 4) * 4u;
    if (doff < 20) return ParseOutcome::kUnparsable;
    payload_off = ip.l4_off + doff;
    if (payload_off > ip.end) return ParseOutcome::kUnparsable;
    ev.sport = be16(tcp);
    ev.dport = be16(tcp + 2);
    ev.seq = be32(tcp + 4);
    ev.ack = be32(tcp + 8);
    ev.tcp_flags = tcp[13];
    ev.window = be16(tcp + 14);
    ev.protocol = kTcp;
    ev.payload_len = ip.end - payload_off;
  } else {
    return ParseOutcome::kOther;
  }

  ev.ts_ns = ctx.ts_ns;
  ev.ifindex = ctx.ifindex;
  ev.pkt_len = f.len();
  std::memcpy(ev.saddr, ip.saddr, 16);
  std::memcpy(ev.daddr, ip.daddr, 16);
  if (ev.tunnel_type != OTELBPF_TUNNEL_NONE) {
    std::memcpy(ev.outer_saddr, outer.saddr, 16);
    std::memcpy(ev.outer_daddr, outer.daddr, 16);
    ev.outer_family = outer.family;
  }
  ev.direction = ctx.direction;
  ev.family = ip.family;

  const bool control = ev.protocol == kTcp &&
                       ((ev.tcp_flags & (OTELBPF_TCP_SYN | OTELBPF_TCP_FIN | OTELBPF_TCP_RST)) || ev.window == 0);
  if (ev.payload_len == 0 && !control) return ParseOutcome::kNoPayload;
  const std::uint32_t cap = std::min<std::uint32_t>(ctx.payload_capture_bytes, OTELBPF_PKT_MAX_PAYLOAD);
  const std::uint32_t n = std::min({ev.payload_len, cap, f.len() - payload_off});
  ev.captured_len = static_cast<std::uint16_t>(n);
  out.payload = bytes.subspan(payload_off, n);
  return ParseOutcome::kEmit;
}

}  // namespace otelbpf::netcap
