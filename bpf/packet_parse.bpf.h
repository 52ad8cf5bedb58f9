/* Header parsing for the tc packet programs: Ethernet (+ up to two VLAN tags), IPv4/IPv6 (with a few
 * IPv6 extension headers), one level of tunnel (IPIP/6in4, GRE with or without key, VXLAN on 4789 and
 * 8472, Geneve on 6081) and the inner TCP header, or the inner UDP header of a DNS datagram (port 53 at
 * either end). Include after vmlinux.h, bpf_helpers.h and events.h.
 *
 * Every read goes through bpf_skb_load_bytes rather than direct packet access: tunnel headers of
 * GRO'd or forwarded packets may sit in the non-linear part of the skb, and the helper handles that
 * (and the bounds) in one place. userspace/netcap/packet_parser.cc is the same parser for tests and
 * must stay in step with this file. */
#ifndef OTELBPF_PACKET_PARSE_BPF_H
#define OTELBPF_PACKET_PARSE_BPF_H

#define OTB_ETH_P_IP 0x0800
#define OTB_ETH_P_IPV6 0x86DD
#define OTB_ETH_P_8021Q 0x8100
#define OTB_ETH_P_8021AD 0x88A8
#define OTB_ETH_P_TEB 0x6558 /* transparent Ethernet bridging: an Ethernet frame inside GRE/Geneve */

#define OTB_AF_INET 2
#define OTB_AF_INET6 10

#define OTB_IPPROTO_IPIP 4
#define OTB_IPPROTO_TCP 6
#define OTB_IPPROTO_UDP 17
#define OTB_IPPROTO_IPV6 41
#define OTB_IPPROTO_GRE 47

#define OTB_VXLAN_PORT 4789
#define OTB_VXLAN_LINUX_PORT 8472
#define OTB_GENEVE_PORT 6081
#define OTB_DNS_PORT 53

#define OTB_MAX_VLAN_TAGS 2
#define OTB_MAX_IPV6_EXT 4

enum parse_result {
  PARSE_OK = 0,
  PARSE_OTHER,      /* well-formed, but neither TCP nor DNS over UDP (after decapsulation) */
  PARSE_UNPARSABLE, /* cut short or malformed */
};

struct ip_view {
  __u8 family;
  __u8 l4proto;
  __u16 _pad;
  __u32 l4_off; /* offset of the L4 header in the skb */
  __u32 end;    /* offset just past the datagram, from the IP length field (clamped to the skb) */
  __u8 saddr[16];
  __u8 daddr[16];
};

/* Everything up to the innermost IP header. */
struct packet_view {
  struct ip_view ip;    /* innermost */
  struct ip_view outer; /* valid when tunnel_type != NONE */
  __u32 tunnel_id;
  __u8 tunnel_type;
  __u8 flags;
  __u8 vlan_depth;
  __u8 _pad;
  __u16 vlan_id;
  __u16 outer_dport;
};

/* The innermost L4 header: TCP, or UDP (then seq, ack, window and tcp_flags stay 0). */
struct l4_view {
  __u16 sport;
  __u16 dport;
  __u32 seq;
  __u32 ack;
  __u16 window;
  __u8 tcp_flags;
  __u8 _pad;
  __u32 payload_off;
  __u32 payload_len;
};

static __always_inline __u16 be16_at(const __u8* p) { return ((__u16)p[0] << 8) | p[1]; }
static __always_inline __u32 be32_at(const __u8* p) {
  return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* Ethernet header and VLAN tags at *off; leaves *off at the L3 header and returns its EtherType. */
static __always_inline int parse_ethernet(struct __sk_buff* skb, __u32* off, __u16* proto, __u8* vlan_depth,
                                          __u16* vlan_id) {
  __u8 eth[14];
  if (bpf_skb_load_bytes(skb, *off, eth, sizeof(eth))) return PARSE_UNPARSABLE;
  __u16 p = be16_at(&eth[12]);
  *off += sizeof(eth);
#pragma unroll
  for (int i = 0; i < OTB_MAX_VLAN_TAGS; i++) {
    if (p != OTB_ETH_P_8021Q && p != OTB_ETH_P_8021AD) break;
    __u8 tag[4];
    if (bpf_skb_load_bytes(skb, *off, tag, sizeof(tag))) return PARSE_UNPARSABLE;
    if (*vlan_depth == 0) *vlan_id = be16_at(tag) & 0x0fff;
    *vlan_depth += 1;
    p = be16_at(&tag[2]);
    *off += sizeof(tag);
  }
  *proto = p;
  return PARSE_OK;
}

static __always_inline __u32 clamp_end(__u32 end, __u32 skb_len) { return end > skb_len ? skb_len : end; }

static __always_inline int parse_ipv4(struct __sk_buff* skb, __u32 off, struct ip_view* ip) {
  __u8 h[20];
  if (bpf_skb_load_bytes(skb, off, h, sizeof(h))) return PARSE_UNPARSABLE;
  if ((h[0] >> 4) != 4) return PARSE_UNPARSABLE;
  __u32 ihl = (h[0] & 0x0f) * 4;
  if (ihl < 20) return PARSE_UNPARSABLE;
  __u32 tot_len = be16_at(&h[2]);
  /* Later fragments carry no L4 header; first fragments are not worth reassembling for L7. */
  if (be16_at(&h[6]) & 0x3fff) return PARSE_OTHER;
  ip->family = OTB_AF_INET;
  ip->l4proto = h[9];
  ip->l4_off = off + ihl;
  __builtin_memset(ip->saddr, 0, sizeof(ip->saddr));
  __builtin_memset(ip->daddr, 0, sizeof(ip->daddr));
  __builtin_memcpy(ip->saddr, &h[12], 4);
  __builtin_memcpy(ip->daddr, &h[16], 4);
  /* tot_len 0: BIG TCP (> 64 KiB GSO packets); the skb length is then the only length there is. */
  if (tot_len == 0) {
    ip->end = skb->len;
  } else {
    if (tot_len < ihl) return PARSE_UNPARSABLE;
    ip->end = clamp_end(off + tot_len, skb->len);
  }
  if (ip->l4_off > ip->end) return PARSE_UNPARSABLE;
  return PARSE_OK;
}

static __always_inline int parse_ipv6(struct __sk_buff* skb, __u32 off, struct ip_view* ip) {
  __u8 h[40];
  if (bpf_skb_load_bytes(skb, off, h, sizeof(h))) return PARSE_UNPARSABLE;
  if ((h[0] >> 4) != 6) return PARSE_UNPARSABLE;
  __u32 plen = be16_at(&h[4]);
  __u8 next = h[6];
  __u32 l4 = off + 40;
  ip->family = OTB_AF_INET6;
  __builtin_memcpy(ip->saddr, &h[8], 16);
  __builtin_memcpy(ip->daddr, &h[24], 16);
  ip->end = plen == 0 ? skb->len : clamp_end(off + 40 + plen, skb->len); /* 0: jumbogram / BIG TCP */
#pragma unroll
  for (int i = 0; i < OTB_MAX_IPV6_EXT; i++) {
    if (next == 44) return PARSE_OTHER; /* fragment header */
    if (next != 0 && next != 43 && next != 60) break; /* hop-by-hop, routing, destination options */
    __u8 ext[2];
    if (bpf_skb_load_bytes(skb, l4, ext, sizeof(ext))) return PARSE_UNPARSABLE;
    next = ext[0];
    l4 += ((__u32)ext[1] + 1) * 8;
  }
  if (next == 0 || next == 43 || next == 60 || next == 44) return PARSE_OTHER; /* deeper than we walk */
  ip->l4proto = next;
  ip->l4_off = l4;
  if (ip->l4_off > ip->end) return PARSE_UNPARSABLE;
  return PARSE_OK;
}

static __always_inline int parse_ip(struct __sk_buff* skb, __u32 off, __u16 proto, struct ip_view* ip) {
  if (proto == OTB_ETH_P_IP) return parse_ipv4(skb, off, ip);
  if (proto == OTB_ETH_P_IPV6) return parse_ipv6(skb, off, ip);
  return PARSE_OTHER;
}

/* Recognises one level of encapsulation in v->ip. On PARSE_OK with a tunnel, *inner_off / *inner_proto
 * locate the encapsulated packet (*inner_l2: it starts with an Ethernet header). */
static __always_inline int parse_tunnel(struct __sk_buff* skb, struct packet_view* v, __u32* inner_off,
                                        __u16* inner_proto, bool* inner_l2) {
  __u32 off = v->ip.l4_off;
  switch (v->ip.l4proto) {
    case OTB_IPPROTO_IPIP:
    case OTB_IPPROTO_IPV6:
      v->tunnel_type = OTELBPF_TUNNEL_IPIP;
      *inner_off = off;
      *inner_proto = v->ip.l4proto == OTB_IPPROTO_IPIP ? OTB_ETH_P_IP : OTB_ETH_P_IPV6;
      *inner_l2 = false;
      return PARSE_OK;
    case OTB_IPPROTO_GRE: {
      __u8 g[4];
      if (bpf_skb_load_bytes(skb, off, g, sizeof(g))) return PARSE_UNPARSABLE;
      /* Version 1 is PPTP's enhanced GRE; the routing bit is obsolete (RFC 2784) and unsupported. */
      if ((g[1] & 0x07) != 0 || (g[0] & 0x40)) return PARSE_OTHER;
      __u32 hlen = 4;
      if (g[0] & 0x80) hlen += 4; /* checksum + reserved */
      if (g[0] & 0x20) {          /* key */
        __u8 key[4];
        if (bpf_skb_load_bytes(skb, off + hlen, key, sizeof(key))) return PARSE_UNPARSABLE;
        v->tunnel_id = be32_at(key);
        v->flags |= OTELBPF_PKT_F_TUNNEL_ID;
        hlen += 4;
      }
      if (g[0] & 0x10) hlen += 4; /* sequence number */
      __u16 p = be16_at(&g[2]);
      if (p != OTB_ETH_P_IP && p != OTB_ETH_P_IPV6 && p != OTB_ETH_P_TEB) return PARSE_OTHER;
      v->tunnel_type = OTELBPF_TUNNEL_GRE;
      *inner_off = off + hlen;
      *inner_l2 = p == OTB_ETH_P_TEB;
      *inner_proto = p;
      return PARSE_OK;
    }
    case OTB_IPPROTO_UDP: {
      __u8 u[8];
      if (bpf_skb_load_bytes(skb, off, u, sizeof(u))) return PARSE_UNPARSABLE;
      __u16 dport = be16_at(&u[2]);
      if (dport == OTB_VXLAN_PORT || dport == OTB_VXLAN_LINUX_PORT) {
        __u8 x[8];
        if (bpf_skb_load_bytes(skb, off + 8, x, sizeof(x))) return PARSE_UNPARSABLE;
        if (!(x[0] & 0x08)) return PARSE_OTHER; /* the I flag: a VNI is present (RFC 7348) */
        v->tunnel_type = OTELBPF_TUNNEL_VXLAN;
        v->tunnel_id = be32_at(&x[4]) >> 8;
        v->flags |= OTELBPF_PKT_F_TUNNEL_ID;
        v->outer_dport = dport;
        *inner_off = off + 16;
        *inner_l2 = true;
        *inner_proto = OTB_ETH_P_TEB;
        return PARSE_OK;
      }
      if (dport == OTB_GENEVE_PORT) {
        __u8 g[8];
        if (bpf_skb_load_bytes(skb, off + 8, g, sizeof(g))) return PARSE_UNPARSABLE;
        if ((g[0] >> 6) != 0) return PARSE_OTHER; /* version 0 only (RFC 8926) */
        __u16 p = be16_at(&g[2]);
        if (p != OTB_ETH_P_IP && p != OTB_ETH_P_IPV6 && p != OTB_ETH_P_TEB) return PARSE_OTHER;
        v->tunnel_type = OTELBPF_TUNNEL_GENEVE;
        v->tunnel_id = be32_at(&g[4]) >> 8;
        v->flags |= OTELBPF_PKT_F_TUNNEL_ID;
        v->outer_dport = dport;
        *inner_off = off + 8 + 8 + (__u32)(g[0] & 0x3f) * 4;
        *inner_l2 = p == OTB_ETH_P_TEB;
        *inner_proto = p;
        return PARSE_OK;
      }
      return PARSE_OK; /* plain UDP: the caller decides whether it is DNS */
    }
    default:
      return PARSE_OK; /* no tunnel: TCP or something the caller rejects */
  }
}

/* Fills v from the packet's headers down to the innermost IP header; `l3`: the device has no link-layer
 * header (IPIP/GRE/WireGuard devices), the packet starts at the IP header and skb->protocol names it.
 * The L4 header is parse_l4's. */
/* Where the IP header starts in a packet of a device without a link-layer header (ipip, gre, wireguard):
 * normally at 0. On 5.10 an ipip device's tc ingress sees skb->data pushed back by a stale mac_len (the
 * mac header still marks the outer Ethernet header after decapsulation, so cls_bpf pushes outer Ethernet +
 * outer IP back in front of the inner packet). The kernel's network header is right either way, so the
 * first bytes are compared with it, and when they differ the IP header's offset is found from the IP
 * length: it is what lies between skb->data and a datagram that ends at the end of the skb. */
static __always_inline __u32 l3_header_offset(struct __sk_buff* skb, __u16 proto) {
  __u64 at_data = 0;
  __u64 at_net = 0;
  if (bpf_skb_load_bytes(skb, 0, &at_data, sizeof(at_data))) return 0;
  if (bpf_skb_load_bytes_relative(skb, 0, &at_net, sizeof(at_net), BPF_HDR_START_NET)) return 0;
  if (at_data == at_net) return 0;
  const __u8* net = (const __u8*)&at_net;
  __u32 datagram = proto == OTB_ETH_P_IPV6 ? 40 + be16_at(&net[4]) : be16_at(&net[2]);
  if (datagram == 0 || datagram >= skb->len) return 0;
  __u32 off = skb->len - datagram;
  if (off > 128) return 0; /* no link-layer header stack is that long: not the case above */
  __u64 at_off = 0;
  if (bpf_skb_load_bytes(skb, off, &at_off, sizeof(at_off))) return 0;
  return at_off == at_net ? off : 0;
}

static __always_inline int parse_packet_headers(struct __sk_buff* skb, bool l3, struct packet_view* v) {
  __u32 off = 0;
  __u16 proto;
  int rc;
  if (l3) {
    proto = bpf_ntohs(skb->protocol);
    off = l3_header_offset(skb, proto);
  } else {
    rc = parse_ethernet(skb, &off, &proto, &v->vlan_depth, &v->vlan_id);
    if (rc) return rc;
  }
  /* Hardware VLAN offload keeps the outer tag out of the packet bytes. */
  if (skb->vlan_present && v->vlan_depth < OTB_MAX_VLAN_TAGS) {
    if (v->vlan_depth == 0) v->vlan_id = skb->vlan_tci & 0x0fff;
    v->vlan_depth += 1;
  }
  rc = parse_ip(skb, off, proto, &v->ip);
  if (rc) return rc;

  __u32 inner_off = 0;
  __u16 inner_proto = 0;
  bool inner_l2 = false;
  rc = parse_tunnel(skb, v, &inner_off, &inner_proto, &inner_l2);
  if (rc) return rc;
  if (v->tunnel_type != OTELBPF_TUNNEL_NONE) {
    v->outer = v->ip;
    if (inner_l2) {
      __u8 depth = 0;
      __u16 vid = 0;
      v->flags |= OTELBPF_PKT_F_INNER_L2;
      rc = parse_ethernet(skb, &inner_off, &inner_proto, &depth, &vid);
      if (rc) return rc;
    }
    rc = parse_ip(skb, inner_off, inner_proto, &v->ip);
    if (rc) return rc;
  }
  if (v->ip.l4proto != OTB_IPPROTO_TCP && v->ip.l4proto != OTB_IPPROTO_UDP) return PARSE_OTHER;
  return PARSE_OK;
}

/* The L4 header at l4_off of a datagram that ends at `end` (both from parse_packet_headers): TCP, or a
 * DNS message over UDP (port 53 at either end; other UDP is PARSE_OTHER). */
static __always_inline int parse_l4(struct __sk_buff* skb, __u8 l4proto, __u32 l4_off, __u32 end,
                                    struct l4_view* l) {
  if (l4proto == OTB_IPPROTO_UDP) {
    /* DNS only: a datagram is one whole message, so the userspace stitcher needs no reassembly. */
    __u8 u[8];
    if (bpf_skb_load_bytes(skb, l4_off, u, sizeof(u))) return PARSE_UNPARSABLE;
    l->sport = be16_at(&u[0]);
    l->dport = be16_at(&u[2]);
    if (l->sport != OTB_DNS_PORT && l->dport != OTB_DNS_PORT) return PARSE_OTHER;
    __u32 udp_len = be16_at(&u[4]);
    if (udp_len < 8) return PARSE_UNPARSABLE;
    l->payload_off = l4_off + 8;
    if (l->payload_off > end) return PARSE_UNPARSABLE;
    __u32 udp_end = l4_off + udp_len;
    if (udp_end > end) udp_end = end; /* cut short (or GSO'd): what the IP length holds */
    l->payload_len = udp_end - l->payload_off;
    return PARSE_OK;
  }
  if (l4proto != OTB_IPPROTO_TCP) return PARSE_OTHER;
  __u8 t[20];
  if (bpf_skb_load_bytes(skb, l4_off, t, sizeof(t))) return PARSE_UNPARSABLE;
  __u32 doff = (__u32)(t[12] >> 4) * 4;
  if (doff < 20) return PARSE_UNPARSABLE;
  l->sport = be16_at(&t[0]);
  l->dport = be16_at(&t[2]);
  l->seq = be32_at(&t[4]);
  l->ack = be32_at(&t[8]);
  l->tcp_flags = t[13];
  l->window = be16_at(&t[14]);
  l->payload_off = l4_off + doff;
  if (l->payload_off > end) return PARSE_UNPARSABLE;
  l->payload_len = end - l->payload_off;
  return PARSE_OK;
}

#endif /* OTELBPF_PACKET_PARSE_BPF_H */
