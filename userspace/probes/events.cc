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
static_assert(offsetof(otelbpf_event_header, comm) == 112);
static_assert(alignof(otelbpf_event_header) == 8);

static_assert(sizeof(otelbpf_data_event) == sizeof(otelbpf_event_header) + OTELBPF_MAX_PAYLOAD);
static_assert(offsetof(otelbpf_data_event, payload) == sizeof(otelbpf_event_header));
static_assert((OTELBPF_MAX_PAYLOAD & (OTELBPF_MAX_PAYLOAD - 1)) == 0,
              "the verifier masks need a power of two");
static_assert(OTELBPF_CNT_MAX == 6);
