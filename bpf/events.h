/* Every event the kernel side sends to userspace, shared by the bpf/ probes and userspace/.
 * Fixed-width types and explicit padding only: userspace static_asserts the sizes (probes/events.cc). */
#ifndef OTELBPF_BPF_EVENTS_H
#define OTELBPF_BPF_EVENTS_H

#ifdef __VMLINUX_H__
typedef __u8 otb_u8;
typedef __u16 otb_u16;
typedef __u32 otb_u32;
typedef __u64 otb_u64;
typedef __s64 otb_s64;
#else
#include <stdint.h>
typedef uint8_t otb_u8;
typedef uint16_t otb_u16;
typedef uint32_t otb_u32;
typedef uint64_t otb_u64;
typedef int64_t otb_s64;
#endif

/* Upper bound of payload bytes captured per syscall; the runtime amount is the rodata
 * `payload_capture_bytes` (config `probes.payload_capture_bytes`). Power of two for the verifier. */
#define OTELBPF_MAX_PAYLOAD 4096
#define OTELBPF_COMM_LEN 16
/* The probes' port filters are bitmaps of 65536 bits in .bss, in 64-bit words. */
#define OTELBPF_PORT_BITMAP_WORDS 1024

enum otelbpf_event_type {
  OTELBPF_EV_DATA = 1,    /* a read/write-family syscall moved bytes on a socket */
  OTELBPF_EV_CONNECT = 2, /* connect() finished on a socket (client side opened) */
  OTELBPF_EV_ACCEPT = 3,  /* accept()/accept4() returned a socket (server side opened) */
  OTELBPF_EV_CLOSE = 4,   /* close() on a tracked socket */
  OTELBPF_EV_EXIT = 5,    /* a process (thread group leader) exited: every socket it held is gone without
                             a close() the probes would see; header only, sock is zero */
  OTELBPF_EV_EXEC = 6,    /* a process called execve (sched:sched_process_exec): header only, sent only
                             while the TLS probes watch for new binaries */
};

enum otelbpf_direction {
  OTELBPF_DIR_EGRESS = 0,  /* the process wrote/sent */
  OTELBPF_DIR_INGRESS = 1, /* the process read/received */
};

enum otelbpf_syscall {
  OTELBPF_SYS_READ = 1,
  OTELBPF_SYS_WRITE,
  OTELBPF_SYS_READV,
  OTELBPF_SYS_WRITEV,
  OTELBPF_SYS_SENDTO,
  OTELBPF_SYS_RECVFROM,
  OTELBPF_SYS_SENDMSG,
  OTELBPF_SYS_RECVMSG,
  OTELBPF_SYS_SENDMMSG,
  OTELBPF_SYS_RECVMMSG,
  OTELBPF_SYS_CONNECT,
  OTELBPF_SYS_ACCEPT,
  OTELBPF_SYS_ACCEPT4,
  OTELBPF_SYS_CLOSE,
  OTELBPF_SYS_SSL_READ,  /* plaintext returned by SSL_read/SSL_read_ex (uprobe, OTELBPF_EVF_TLS) */
  OTELBPF_SYS_SSL_WRITE, /* plaintext passed to SSL_write/SSL_write_ex (uprobe, OTELBPF_EVF_TLS) */
};

/* otelbpf_event_header.flags */
#define OTELBPF_EVF_TLS 0x01 /* DATA: plaintext from a TLS library's uprobes, not bytes of a socket call.
                                fd, sock and tcp_seq are those of the socket the library used (see
                                bpf/tls_uprobes.bpf.h for how they are found). */

/* Indexes of the per-CPU counter map of the syscall probes (userspace sums the CPUs). */
enum otelbpf_counter {
  OTELBPF_CNT_EVENTS = 0,       /* events written to the ring buffer */
  OTELBPF_CNT_RINGBUF_DROPS,    /* bpf_ringbuf_output failed: ring buffer full, event lost */
  OTELBPF_CNT_NON_SOCKET,       /* traced syscalls on fds that are not sockets (files, pipes, ...) */
  OTELBPF_CNT_OTHER_SOCKET,     /* sockets other than TCP/UDP over IPv4/IPv6 (unix, netlink, ...) */
  OTELBPF_CNT_FILTERED,         /* syscalls dropped by the pid, cgroup or port filters */
  OTELBPF_CNT_INFLIGHT_LOST,    /* syscall entry state could not be stored, its exit is not traced */
  OTELBPF_CNT_SOCK_CACHE_MISS,  /* sock hooks: a socket's verdict was not cached for this (tgid, fd): fd walk */
  OTELBPF_CNT_TLS_CIPHERTEXT,   /* socket calls made inside SSL_read/SSL_write: their ciphertext is not sent */
  OTELBPF_CNT_TLS_UNBOUND,      /* TLS plaintext whose socket could not be found: not sent */
  OTELBPF_CNT_TLS_EVENTS,       /* TLS plaintext events handed to the ring buffer */
  OTELBPF_CNT_MAX,
};

/* Socket identity and 5-tuple, read from the fd's struct sock in the kernel.
 * Addresses are in network byte order; IPv4 uses the first 4 bytes. Ports are host byte order. */
struct otelbpf_socket_info {
  otb_u64 sock_id;   /* kernel address of struct sock: unique while the socket lives */
  otb_u8 saddr[16];  /* local address */
  otb_u8 daddr[16];  /* remote address */
  otb_u16 sport;     /* local port */
  otb_u16 dport;     /* remote port */
  otb_u16 family;    /* AF_INET (2) or AF_INET6 (10) */
  otb_u8 protocol;   /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
  otb_u8 _pad0;
};

/* Header of every event. For DATA events `payload_len` bytes of payload follow the header
 * (struct otelbpf_data_event); other types carry no payload. */
struct otelbpf_event_header {
  otb_u32 type;       /* enum otelbpf_event_type */
  otb_u32 pid;        /* tgid */
  otb_u32 tid;        /* kernel thread id */
  otb_u32 fd;
  otb_u64 ts_enter_ns; /* bpf_ktime_get_ns() at syscall entry (CLOCK_MONOTONIC); with the sock hooks:
                          when a TCP send began (tcp:tcp_sendmsg_locked), else when the socket call
                          returned (reads: after the wait for data, not before it) */
  otb_u64 ts_exit_ns;  /* at syscall exit (sock hooks: when sock_sendmsg/sock_recvmsg returned) */
  otb_u64 cgroup_id;
  struct otelbpf_socket_info sock;
  otb_s64 ret;          /* syscall return: bytes moved (DATA), fd (ACCEPT), 0/-errno */
  otb_u32 tcp_seq;      /* TCP sequence number of the first byte: write_seq (egress) or copied_seq
                           (ingress) read at syscall entry; 0 for UDP */
  otb_u32 payload_len;  /* bytes of payload captured after this header (<= ret) */
  otb_u8 direction;     /* enum otelbpf_direction */
  otb_u8 syscall;       /* enum otelbpf_syscall */
  otb_u8 flags;         /* OTELBPF_EVF_* */
  otb_u8 _pad1[5];
  char comm[OTELBPF_COMM_LEN];
};

struct otelbpf_data_event {
  struct otelbpf_event_header hdr;
  otb_u8 payload[OTELBPF_MAX_PAYLOAD];
};

/* ---- Packet capture (bpf/packets.bpf.c, tc clsact ingress/egress) ---- */

/* Upper bound of payload bytes captured per TCP segment or DNS datagram; the runtime amount is the rodata
 * `packet_payload_bytes` (config `netcap.payload_capture_bytes`). Power of two for the verifier. */
#define OTELBPF_PKT_MAX_PAYLOAD 1024

/* Where the program is attached (the clsact hook), not the L7 direction. */
enum otelbpf_tc_direction {
  OTELBPF_TC_INGRESS = 0,
  OTELBPF_TC_EGRESS = 1,
};

enum otelbpf_tunnel_type {
  OTELBPF_TUNNEL_NONE = 0,
  OTELBPF_TUNNEL_IPIP = 1, /* IP protocol 4 (4in4, 4in6) or 41 (6in4, 6in6) */
  OTELBPF_TUNNEL_VXLAN = 2, /* UDP 4789 (IANA) or 8472 (Linux/flannel default) */
  OTELBPF_TUNNEL_GRE = 3,   /* GRE v0 carrying IP or transparent Ethernet (gretap) */
  OTELBPF_TUNNEL_GENEVE = 4, /* UDP 6081 */
};

/* otelbpf_packet_event.flags */
#define OTELBPF_PKT_F_TUNNEL_ID 0x01 /* tunnel_id is valid (VXLAN/Geneve VNI, GRE key present) */
#define OTELBPF_PKT_F_INNER_L2 0x02  /* the tunnel carried an Ethernet frame (VXLAN, Geneve, gretap) */

/* TCP flag bits as on the wire (otelbpf_packet_event.tcp_flags). */
#define OTELBPF_TCP_FIN 0x01
#define OTELBPF_TCP_SYN 0x02
#define OTELBPF_TCP_RST 0x04
#define OTELBPF_TCP_PSH 0x08
#define OTELBPF_TCP_ACK 0x10

/* Indexes of the per-CPU counter map of the packet programs. Every packet the programs see lands in
 * exactly one of EMITTED, NO_PAYLOAD, RATE_LIMITED, OTHER, UNPARSABLE (RINGBUF_DROPS are also EMITTED
 * attempts that failed: emitted = written + dropped). */
enum otelbpf_packet_counter {
  OTELBPF_PKT_CNT_SEEN = 0,      /* packets the programs ran on */
  OTELBPF_PKT_CNT_EMITTED,       /* events handed to the ring buffer (successfully or not) */
  OTELBPF_PKT_CNT_NO_PAYLOAD,    /* TCP segments without payload and nothing else of interest (pure ACKs),
                                  * empty DNS datagrams */
  OTELBPF_PKT_CNT_RATE_LIMITED,  /* events the per-CPU token bucket refused */
  OTELBPF_PKT_CNT_OTHER,         /* neither TCP nor DNS over UDP after decapsulation: ARP, other UDP, ICMP,
                                  * IP fragments */
  OTELBPF_PKT_CNT_UNPARSABLE,    /* headers cut short or malformed */
  OTELBPF_PKT_CNT_RINGBUF_DROPS, /* bpf_ringbuf_output failed: ring buffer full, event lost */
  OTELBPF_PKT_CNT_MAX,
};

/* One TCP segment or DNS datagram (UDP, port 53 at either end) seen at one tc hook. Addresses are in network byte order (IPv4 uses the first 4
 * bytes); ports, sequence numbers and the window are in host byte order. `captured_len` payload bytes
 * follow the header (struct otelbpf_packet_data_event). */
struct otelbpf_packet_event {
  otb_u64 ts_ns;           /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
  otb_u32 ifindex;         /* interface the hook is attached to */
  otb_u32 pkt_len;         /* skb->len */
  otb_u8 saddr[16];        /* inner (innermost) IP header */
  otb_u8 daddr[16];
  otb_u8 outer_saddr[16];  /* the encapsulating IP header when tunnel_type != NONE */
  otb_u8 outer_daddr[16];
  otb_u16 sport;
  otb_u16 dport;
  otb_u32 seq;
  otb_u32 ack;
  otb_u16 window;          /* as on the wire (not scaled) */
  otb_u8 tcp_flags;        /* OTELBPF_TCP_* */
  otb_u8 protocol;         /* inner L4 protocol: IPPROTO_TCP, or IPPROTO_UDP (seq/ack/window/flags 0) */
  otb_u32 tunnel_id;       /* VNI (VXLAN, Geneve) or GRE key, when OTELBPF_PKT_F_TUNNEL_ID */
  otb_u32 payload_len;     /* TCP payload bytes (from the IP length), or UDP payload bytes (from the UDP
                            * length, clamped to the IP length) */
  otb_u16 captured_len;    /* payload bytes copied after this header (<= payload_len) */
  otb_u8 direction;        /* enum otelbpf_tc_direction */
  otb_u8 tunnel_type;      /* enum otelbpf_tunnel_type */
  otb_u8 family;           /* inner: AF_INET (2) or AF_INET6 (10) */
  otb_u8 outer_family;     /* 0 without a tunnel */
  otb_u8 vlan_depth;       /* 802.1Q/802.1ad tags on the outer frame (0..2) */
  otb_u8 flags;            /* OTELBPF_PKT_F_* */
  otb_u16 vlan_id;         /* outermost VLAN id when vlan_depth > 0 */
  otb_u16 outer_dport;     /* UDP destination port of VXLAN/Geneve, else 0 */
  otb_u32 _pad0;
};

struct otelbpf_packet_data_event {
  struct otelbpf_packet_event hdr;
  otb_u8 payload[OTELBPF_PKT_MAX_PAYLOAD];
};

#endif /* OTELBPF_BPF_EVENTS_H */
