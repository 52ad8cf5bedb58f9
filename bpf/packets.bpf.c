// SPDX-License-Identifier: GPL-2.0
/* TCP segments and DNS datagrams seen at tc clsact hooks (ingress and egress of the interfaces the agent
 * selects): each TCP segment that carries payload, plus SYN/FIN/RST and zero-window segments, and each
 * UDP datagram to or from port 53 becomes an otelbpf_packet_event with the inner 5-tuple, the tunnel it came through (IPIP, GRE, VXLAN, Geneve),
 * the TCP header fields and the first payload bytes. Userspace reassembles the payload per flow and
 * feeds the same L7 parsers the syscall path uses. Traffic is never altered: every program returns
 * TC_ACT_OK. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "events.h"
#include "packet_parse.bpf.h"

#ifndef TC_ACT_OK
#define TC_ACT_OK 0
#endif

char LICENSE[] SEC("license") = "GPL";

/* Load-time config (rodata, set by the loader before load). */
const volatile __u32 packet_payload_bytes = 256;
/* Per-CPU token bucket over emitted events: refill rate (events/s, 0 = unlimited) and depth. */
const volatile __u32 rate_per_cpu = 0;
const volatile __u32 rate_burst = 0;
/* Wake the consumer only once this much is waiting (0: on every event). At tens of thousands of events
 * per second a wakeup each costs more than the parsing; the consumer also drains on a short timer, so
 * this bounds the batch, and the timer bounds the delay. */
const volatile __u32 wakeup_bytes = 0;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} packet_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, OTELBPF_PKT_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} packet_counters SEC(".maps");

/* Event under construction. The payload area is twice the largest capture so that the bounded length
 * the verifier sees always fits. */
struct packet_scratch {
  struct otelbpf_packet_event hdr;
  __u8 payload[OTELBPF_PKT_MAX_PAYLOAD * 2];
  /* Where the innermost L4 header is, handed from the header walk to the L4 parse through this map
   * value (see handle_packet). */
  __u32 l4_off;
  __u32 l4_end;
  __u8 l4proto;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct packet_scratch);
} packet_scratch SEC(".maps");

struct pkt_token_bucket {
  __u64 last_refill_ns;
  __u64 tokens;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct pkt_token_bucket);
} packet_rate SEC(".maps");

static __always_inline void count(__u32 idx) {
  __u64* v = bpf_map_lookup_elem(&packet_counters, &idx);
  if (v) *v += 1;
}

/* Per CPU, so no atomics: a CPU's bucket is only touched by programs running on that CPU. */
static __always_inline bool take_token(__u64 now) {
  if (rate_per_cpu == 0) return true;
  __u32 zero = 0;
  struct pkt_token_bucket* b = bpf_map_lookup_elem(&packet_rate, &zero);
  if (!b) return true;
  __u64 burst = rate_burst ? rate_burst : rate_per_cpu;
  __u64 elapsed = now - b->last_refill_ns;
  if (elapsed >= 1000000000ull) {
    b->tokens = burst;
    b->last_refill_ns = now;
  } else {
    /* elapsed < 1e9 and rate < 2^32: no overflow. The clock only advances when a whole token was
     * earned, so slow trickles of refill are not rounded away. */
    __u64 earned = elapsed * rate_per_cpu / 1000000000ull;
    if (earned) {
      b->tokens += earned;
      if (b->tokens > burst) b->tokens = burst;
      b->last_refill_ns = now;
    }
  }
  if (b->tokens == 0) return false;
  b->tokens -= 1;
  return true;
}

static __always_inline __u32 capture_limit(void) {
  __u32 cap = packet_payload_bytes;
  return cap > OTELBPF_PKT_MAX_PAYLOAD ? OTELBPF_PKT_MAX_PAYLOAD : cap;
}

static __always_inline void copy_addr(__u8* dst, const __u8* src) { __builtin_memcpy(dst, src, 16); }

static __always_inline int handle_packet(struct __sk_buff* skb, __u8 direction, bool l3) {
  count(OTELBPF_PKT_CNT_SEEN);
  struct packet_view v = {};
  int rc = parse_packet_headers(skb, l3, &v);
  if (rc == PARSE_OTHER) {
    count(OTELBPF_PKT_CNT_OTHER);
    return TC_ACT_OK;
  }
  if (rc != PARSE_OK) {
    count(OTELBPF_PKT_CNT_UNPARSABLE);
    return TC_ACT_OK;
  }

  __u32 zero = 0;
  struct packet_scratch* ev = bpf_map_lookup_elem(&packet_scratch, &zero);
  if (!ev) return TC_ACT_OK;
  struct otelbpf_packet_event* h = &ev->hdr;
  h->ifindex = skb->ifindex;
  h->pkt_len = skb->len;
  copy_addr(h->saddr, v.ip.saddr);
  copy_addr(h->daddr, v.ip.daddr);
  if (v.tunnel_type != OTELBPF_TUNNEL_NONE) {
    copy_addr(h->outer_saddr, v.outer.saddr);
    copy_addr(h->outer_daddr, v.outer.daddr);
    h->outer_family = v.outer.family;
  } else {
    __builtin_memset(h->outer_saddr, 0, 16);
    __builtin_memset(h->outer_daddr, 0, 16);
    h->outer_family = 0;
  }
  h->tunnel_id = v.tunnel_id;
  h->direction = direction;
  h->tunnel_type = v.tunnel_type;
  h->family = v.ip.family;
  h->vlan_depth = v.vlan_depth;
  h->flags = v.flags;
  h->vlan_id = v.vlan_id;
  h->outer_dport = v.outer_dport;
  h->_pad0 = 0;
  /* Every header walk (VLANs, IPv4/IPv6 and their extension headers, each tunnel kind) reaches this
   * point with offsets of its own, and the verifier would carry each of them through the L4 parse and
   * the copy below: with TCP and UDP after each that passes its 1M-instruction budget. Handed on through
   * the map value (the verifier does not track what a map value holds) and with nothing of `v` read
   * after here, the walks are one state from here on. */
  ev->l4proto = v.ip.l4proto;
  ev->l4_off = v.ip.l4_off;
  ev->l4_end = v.ip.end;
  asm volatile("" ::: "memory"); /* and the compiler must read them back, not reuse v's registers */

  struct l4_view l = {};
  rc = parse_l4(skb, ev->l4proto, ev->l4_off, ev->l4_end, &l);
  if (rc == PARSE_OTHER) {
    count(OTELBPF_PKT_CNT_OTHER);
    return TC_ACT_OK;
  }
  if (rc != PARSE_OK) {
    count(OTELBPF_PKT_CNT_UNPARSABLE);
    return TC_ACT_OK;
  }
  /* Control segments matter to the flow logic without payload: SYN names the client, FIN/RST end the
   * flow, a zero window is a stall worth reporting. Pure ACKs do not, nor do empty datagrams. */
  const bool tcp = ev->l4proto == OTB_IPPROTO_TCP;
  const bool control =
      tcp && ((l.tcp_flags & (OTELBPF_TCP_SYN | OTELBPF_TCP_FIN | OTELBPF_TCP_RST)) || (l.window == 0));
  if (l.payload_len == 0 && !control) {
    count(OTELBPF_PKT_CNT_NO_PAYLOAD);
    return TC_ACT_OK;
  }
  const __u64 now = bpf_ktime_get_ns();
  if (!take_token(now)) {
    count(OTELBPF_PKT_CNT_RATE_LIMITED);
    return TC_ACT_OK;
  }

  h->ts_ns = now;
  h->sport = l.sport;
  h->dport = l.dport;
  h->seq = l.seq;
  h->ack = l.ack;
  h->window = l.window;
  h->tcp_flags = l.tcp_flags;
  h->protocol = tcp ? OTB_IPPROTO_TCP : OTB_IPPROTO_UDP;
  h->payload_len = l.payload_len;

  __u64 n = l.payload_len;
  __u32 cap = capture_limit();
  if (n > cap) n = cap;
  if (n > skb->len - l.payload_off) n = skb->len - l.payload_off; /* parse_l4 keeps payload_off <= len */
  if (n > 0) {
    /* The clamps above already keep 1 <= n <= OTELBPF_PKT_MAX_PAYLOAD; this form is what the verifier
     * follows: [1, twice the maximum], which the scratch payload holds. The plain `n &= mask` after
     * `n > 0` is refused before Linux 6.2 or so ("invalid access to map value ... size=0": older
     * verifiers do not learn n >= 1 from the test), and the barrier keeps the compiler from folding
     * the form back into n. */
    barrier_var(n);
    n = ((n - 1) & (OTELBPF_PKT_MAX_PAYLOAD * 2 - 1)) + 1;
    if (bpf_skb_load_bytes(skb, l.payload_off, ev->payload, n)) n = 0;
  }
  h->captured_len = n;

  count(OTELBPF_PKT_CNT_EMITTED);
  __u64 wake = 0;
  if (wakeup_bytes)
    wake = bpf_ringbuf_query(&packet_events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                                               : BPF_RB_NO_WAKEUP;
  if (bpf_ringbuf_output(&packet_events, ev, sizeof(ev->hdr) + n, wake)) count(OTELBPF_PKT_CNT_RINGBUF_DROPS);
  return TC_ACT_OK;
}

/* Devices with an Ethernet header (Ethernet NICs, veth, bridges' ports, VXLAN/Geneve/gretap, lo). */
SEC("tc")
int tc_ingress(struct __sk_buff* skb) { return handle_packet(skb, OTELBPF_TC_INGRESS, false); }

SEC("tc")
int tc_egress(struct __sk_buff* skb) { return handle_packet(skb, OTELBPF_TC_EGRESS, false); }

/* Devices without a link-layer header (ipip/sit/gre/ip6tnl devices, WireGuard): the loader picks these
 * by the device type (ARPHRD_*). */
SEC("tc")
int tc_ingress_l3(struct __sk_buff* skb) { return handle_packet(skb, OTELBPF_TC_INGRESS, true); }

SEC("tc")
int tc_egress_l3(struct __sk_buff* skb) { return handle_packet(skb, OTELBPF_TC_EGRESS, true); }
