// The kernel writes these structs byte for byte; any layout drift between clang -target bpf and the
// host compiler would corrupt every event, so the layout is pinned here.
#include <cstddef>

#include "bpf/events.h"

static_assert(sizeof(otelbpf_socket_info) == 48);
static_assert(offsetof(otelbpf_socket_info, saddr) == 8);
static_assert(offsetof(otelbpf_socket_info, daddr) == 24);
static_assert(offsetof(otelbpf_socket_info, sport) == 40);
static_assert(offsetof(otelbpf_socket_info, family) == 44);
static_assert(offsetof(otelbpf_socket_info, protocol) == 46);

static_assert(sizeof(otelbpf_event_header) == 128);
static_assert(offsetof(otelbpf_event_header, ts_enter_ns) == 16);
static_assert(offsetof(otelbpf_event_header, cgroup_id) == 32);
static_assert(offsetof(otelbpf_event_header, sock) == 40);
static_assert(offsetof(otelbpf_event_header, ret) == 88);
static_assert(offsetof(otelbpf_event_header, tcp_seq) == 96);
static_assert(offsetof(otelbpf_event_header, payload_len) == 100);
static_assert(offsetof(otelbpf_event_header, direction) == 104);
static_assert(offsetof(otelbpf_event_header, syscall) == 105);
static_assert(offsetof(otelbpf_event_header, flags) == 106);
static_assert(offsetof(otelbpf_event_header, comm) == 112);
static_assert(alignof(otelbpf_event_header) == 8);

static_assert(sizeof(otelbpf_data_event) == sizeof(otelbpf_event_header) + OTELBPF_MAX_PAYLOAD);
static_assert(offsetof(otelbpf_data_event, payload) == sizeof(otelbpf_event_header));
static_assert((OTELBPF_MAX_PAYLOAD & (OTELBPF_MAX_PAYLOAD - 1)) == 0,
              "the verifier masks need a power of two");
static_assert(OTELBPF_CNT_MAX == 10);

// Packet capture (bpf/packets.bpf.c).
static_assert(sizeof(otelbpf_packet_event) == 120);
static_assert(alignof(otelbpf_packet_event) == 8);
static_assert(offsetof(otelbpf_packet_event, ifindex) == 8);
static_assert(offsetof(otelbpf_packet_event, saddr) == 16);
static_assert(offsetof(otelbpf_packet_event, outer_saddr) == 48);
static_assert(offsetof(otelbpf_packet_event, sport) == 80);
static_assert(offsetof(otelbpf_packet_event, seq) == 84);
static_assert(offsetof(otelbpf_packet_event, window) == 92);
static_assert(offsetof(otelbpf_packet_event, tcp_flags) == 94);
static_assert(offsetof(otelbpf_packet_event, tunnel_id) == 96);
static_assert(offsetof(otelbpf_packet_event, payload_len) == 100);
static_assert(offsetof(otelbpf_packet_event, captured_len) == 104);
static_assert(offsetof(otelbpf_packet_event, direction) == 106);
static_assert(offsetof(otelbpf_packet_event, flags) == 111);
static_assert(offsetof(otelbpf_packet_event, vlan_id) == 112);
static_assert(offsetof(otelbpf_packet_event, outer_dport) == 114);
static_assert(offsetof(otelbpf_packet_data_event, payload) == sizeof(otelbpf_packet_event));
static_assert((OTELBPF_PKT_MAX_PAYLOAD & (OTELBPF_PKT_MAX_PAYLOAD - 1)) == 0,
              "the verifier masks need a power of two");
static_assert(OTELBPF_PKT_MAX_PAYLOAD <= 0xffff, "captured_len is 16 bits");
static_assert(OTELBPF_PKT_CNT_MAX == 7);
