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

enum otelbpf_event_type {
  OTELBPF_EV_DATA = 1,    /* a read/write-family syscall moved bytes on a socket */
  OTELBPF_EV_CONNECT = 2, /* connect() finished on a socket (client side opened) */
  OTELBPF_EV_ACCEPT = 3,  /* accept()/accept4() returned a socket (server side opened) */
  OTELBPF_EV_CLOSE = 4,   /* close() on a tracked socket */
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
};

/* Indexes of the per-CPU counter map of the syscall probes (userspace sums the CPUs). */
enum otelbpf_counter {
  OTELBPF_CNT_EVENTS = 0,       /* events written to the ring buffer */
  OTELBPF_CNT_RINGBUF_DROPS,    /* bpf_ringbuf_output failed: ring buffer full, event lost */
  OTELBPF_CNT_NON_SOCKET,       /* traced syscalls on fds that are not sockets (files, pipes, ...) */
  OTELBPF_CNT_OTHER_SOCKET,     /* sockets other than TCP/UDP over IPv4/IPv6 (unix, netlink, ...) */
  OTELBPF_CNT_FILTERED,         /* syscalls dropped by the pid, cgroup or port filters */
  OTELBPF_CNT_INFLIGHT_LOST,    /* syscall entry state could not be stored, its exit is not traced */
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
  otb_u64 ts_enter_ns; /* bpf_ktime_get_ns() at syscall entry (CLOCK_MONOTONIC) */
  otb_u64 ts_exit_ns;  /* at syscall exit */
  otb_u64 cgroup_id;
  struct otelbpf_socket_info sock;
  otb_s64 ret;          /* syscall return: bytes moved (DATA), fd (ACCEPT), 0/-errno */
  otb_u32 tcp_seq;      /* TCP sequence number of the first byte: write_seq (egress) or copied_seq
                           (ingress) read at syscall entry; 0 for UDP */
  otb_u32 payload_len;  /* bytes of payload captured after this header (<= ret) */
  otb_u8 direction;     /* enum otelbpf_direction */
  otb_u8 syscall;       /* enum otelbpf_syscall */
  otb_u8 _pad1[6];
  char comm[OTELBPF_COMM_LEN];
};

struct otelbpf_data_event {
  struct otelbpf_event_header hdr;
  otb_u8 payload[OTELBPF_MAX_PAYLOAD];
};

#endif /* OTELBPF_BPF_EVENTS_H */
