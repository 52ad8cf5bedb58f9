// SPDX-License-Identifier: GPL-2.0
/* Socket I/O seen at the syscall boundary: every read/write/send/recv-family call on a TCP or UDP
 * socket becomes an OTELBPF_EV_DATA event with the 5-tuple, TCP sequence number and first payload
 * bytes; connect/accept/close give the connection lifecycle. Entry stashes the arguments per thread,
 * exit (when the return value and received bytes are known) builds the event. */
/* vmlinux.h first: the libbpf headers use its types. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"
#include "payload.bpf.h"
#include "sock_helpers.bpf.h"

#ifndef EINPROGRESS
#define EINPROGRESS 115
#endif

char LICENSE[] SEC("license") = "GPL";

/* Load-time config (rodata, set by the loader before load). */
const volatile __u32 payload_capture_bytes = 1024;
/* The agent's own tgid: its export traffic must never be traced, or it would trace itself forever. */
const volatile __u32 self_tgid = 0;
/* Kernels before 5.8 have no BPF ring buffer: the loader then sets this and events go through a per-CPU
 * perf buffer instead (one copy more per event, and order across CPUs is restored by timestamps). */
const volatile __u32 use_perf_buffer = 0;

/* Runtime filters: flags here (mmapped .bss, written by the loader), the sets in the maps below. */
__u32 filter_pids_enabled;
__u32 filter_only_ports_enabled;
__u32 filter_ignore_ports_enabled;
__u64 filter_cgroup_id;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} events_perf SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, OTELBPF_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32); /* tgid */
  __type(value, __u8);
} filter_pids SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, __u16); /* port, host byte order, matched against either end */
  __type(value, __u8);
} filter_ignore_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, __u16);
  __type(value, __u8);
} filter_only_ports SEC(".maps");

/* What a syscall's entry saw, for its exit. */
struct inflight_syscall {
  __u64 ts_enter_ns;
  __u64 fd;
  __u64 buf;  /* buffer, iovec array, user_msghdr or mmsghdr array, by syscall */
  __u64 len;  /* buffer length or iovec count */
  __u64 addr; /* user sockaddr (sendto/recvfrom) */
  struct otelbpf_socket_info sock;
  __u32 tcp_seq;
  __u8 syscall;
  __u8 direction;
  __u8 _pad[2];
};

/* Keyed by pid_tgid. LRU so that entries of threads killed inside a syscall age out. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 32768);
  __type(key, __u64);
  __type(value, struct inflight_syscall);
} inflight SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct event_scratch);
} scratch SEC(".maps");

static __always_inline void count(__u32 idx) {
  __u64* v = bpf_map_lookup_elem(&counters, &idx);
  if (v) *v += 1;
}

static __always_inline bool pass_task_filters(__u64 pid_tgid) {
  __u32 tgid = pid_tgid >> 32;
  if (self_tgid && tgid == self_tgid) return false;
  if (filter_pids_enabled && !bpf_map_lookup_elem(&filter_pids, &tgid)) goto filtered;
  if (filter_cgroup_id && bpf_get_current_cgroup_id() != filter_cgroup_id) goto filtered;
  return true;
filtered:
  count(OTELBPF_CNT_FILTERED);
  return false;
}

static __always_inline bool pass_port_filters(const struct otelbpf_socket_info* s) {
  __u16 sport = s->sport, dport = s->dport;
  if (filter_ignore_ports_enabled && (bpf_map_lookup_elem(&filter_ignore_ports, &sport) ||
                                      bpf_map_lookup_elem(&filter_ignore_ports, &dport)))
    goto filtered;
  if (filter_only_ports_enabled && !bpf_map_lookup_elem(&filter_only_ports, &sport) &&
      !bpf_map_lookup_elem(&filter_only_ports, &dport))
    goto filtered;
  return true;
filtered:
  count(OTELBPF_CNT_FILTERED);
  return false;
}

static __always_inline struct sock* lookup_inet_sock(__u64 fd) {
  enum fd_kind kind;
  struct sock* sk = fd_to_inet_sock(fd, &kind);
  if (kind == FD_NOT_SOCKET)
    count(OTELBPF_CNT_NON_SOCKET);
  else if (kind == FD_OTHER_SOCKET)
    count(OTELBPF_CNT_OTHER_SOCKET);
  return sk;
}

static __always_inline __u32 capture_limit(void) {
  __u32 cap = payload_capture_bytes;
  return cap > OTELBPF_MAX_PAYLOAD ? OTELBPF_MAX_PAYLOAD : cap;
}

/* ---- entry ---- */

static __always_inline int enter_syscall(__u8 syscall, __u8 direction, __u64 fd, __u64 buf, __u64 len,
                                         __u64 addr) {
  __u64 id = bpf_get_current_pid_tgid();
  if (!pass_task_filters(id)) return 0;
  struct sock* sk = lookup_inet_sock(fd);
  if (!sk) return 0;

  struct inflight_syscall in = {};
  in.ts_enter_ns = bpf_ktime_get_ns();
  in.fd = fd;
  in.buf = buf;
  in.len = len;
  in.addr = addr;
  in.syscall = syscall;
  in.direction = direction;
  read_socket_info(sk, &in.sock);
  /* At entry: the syscall itself advances write_seq/copied_seq by the bytes it moves. */
  if (in.sock.protocol == IPPROTO_TCP) in.tcp_seq = tcp_next_seq(sk, direction);
  if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY)) count(OTELBPF_CNT_INFLIGHT_LOST);
  return 0;
}

/* accept's socket only exists at exit; entry only checks that the listener is worth tracing. */
static __always_inline int enter_accept(__u8 syscall, __u64 listen_fd) {
  __u64 id = bpf_get_current_pid_tgid();
  if (!pass_task_filters(id)) return 0;
  if (!lookup_inet_sock(listen_fd)) return 0;
  struct inflight_syscall in = {};
  in.ts_enter_ns = bpf_ktime_get_ns();
  in.fd = listen_fd;
  in.syscall = syscall;
  in.direction = OTELBPF_DIR_INGRESS;
  if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY)) count(OTELBPF_CNT_INFLIGHT_LOST);
  return 0;
}

/* ---- exit ---- */

static __always_inline struct event_scratch* start_event(const struct inflight_syscall* in, __u32 type,
                                                         __u64 pid_tgid, long ret) {
  __u32 zero = 0;
  struct event_scratch* ev = bpf_map_lookup_elem(&scratch, &zero);
  if (!ev) return NULL;
  __builtin_memset(&ev->hdr, 0, sizeof(ev->hdr));
  ev->hdr.type = type;
  ev->hdr.pid = pid_tgid >> 32;
  ev->hdr.tid = (__u32)pid_tgid;
  ev->hdr.fd = in->fd;
  ev->hdr.ts_enter_ns = in->ts_enter_ns;
  ev->hdr.ts_exit_ns = bpf_ktime_get_ns();
  ev->hdr.cgroup_id = bpf_get_current_cgroup_id();
  ev->hdr.sock = in->sock;
  ev->hdr.ret = ret;
  ev->hdr.tcp_seq = in->tcp_seq;
  ev->hdr.direction = in->direction;
  ev->hdr.syscall = in->syscall;
  bpf_get_current_comm(&ev->hdr.comm, sizeof(ev->hdr.comm));
  return ev;
}

static __always_inline void submit_event(void* ctx, struct event_scratch* ev, __u64 payload_len) {
  if (payload_len > OTELBPF_MAX_PAYLOAD) payload_len = OTELBPF_MAX_PAYLOAD;
  ev->hdr.payload_len = payload_len;
  barrier_var(payload_len);
  if (payload_len > OTELBPF_MAX_PAYLOAD) return;
  /* use_perf_buffer is rodata: the verifier sees one branch only, so the other helper is never checked. */
  long err = use_perf_buffer ? bpf_perf_event_output(ctx, &events_perf, BPF_F_CURRENT_CPU, ev, sizeof(ev->hdr) + payload_len)
                             : bpf_ringbuf_output(&events, ev, sizeof(ev->hdr) + payload_len, 0);
  if (err)
    count(OTELBPF_CNT_RINGBUF_DROPS);
  else
    count(OTELBPF_CNT_EVENTS);
}

/* The exit's entry record, or NULL when entry was filtered out or belongs to another syscall
 * (an exit program attached while its thread was already inside the call). */
static __always_inline struct inflight_syscall* take_inflight(__u64 id, __u8 syscall) {
  struct inflight_syscall* in = bpf_map_lookup_elem(&inflight, &id);
  if (in && in->syscall != syscall) {
    bpf_map_delete_elem(&inflight, &id);
    return NULL;
  }
  return in;
}

enum buffer_shape {
  SHAPE_FLAT,   /* read/write/sendto/recvfrom: buf + len */
  SHAPE_IOVEC,  /* readv/writev: iovec array + count */
  SHAPE_MSGHDR, /* sendmsg/recvmsg: user_msghdr */
};

static __always_inline int exit_data(void* ctx, __u8 syscall, enum buffer_shape shape, long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall* in = take_inflight(id, syscall);
  if (!in) return 0;
  /* Errors and EOF move no bytes: nothing to trace (close tells the connection ended). */
  if (ret <= 0) goto out;

  struct event_scratch* ev = start_event(in, OTELBPF_EV_DATA, id, ret);
  if (!ev) goto out;
  const void* peer = (const void*)in->addr;
  const struct iovec* iov = (const struct iovec*)in->buf;
  __u64 iovcnt = in->len;
  if (shape == SHAPE_MSGHDR) {
    struct user_msghdr msg = {};
    if (bpf_probe_read_user(&msg, sizeof(msg), (const void*)in->buf)) goto out;
    peer = msg.msg_name;
    iov = msg.msg_iov;
    iovcnt = msg.msg_iovlen;
  }
  if (ev->hdr.sock.dport == 0) peer_from_user_sockaddr(peer, &ev->hdr.sock);
  if (!pass_port_filters(&ev->hdr.sock)) goto out;

  /* Received bytes are only in the buffer now; sent ones are still there. Either way ret bounds it. */
  __u64 want = capture_limit();
  if ((__u64)ret < want) want = ret;
  __u64 captured;
  if (shape == SHAPE_FLAT)
    captured = copy_user_chunk(ev->payload, 0, (const void*)in->buf, want);
  else
    captured = gather_user_iovecs(ev, (__u64)iov, iovcnt, want);
  submit_event(ctx, ev, captured);
out:
  bpf_map_delete_elem(&inflight, &id);
  return 0;
}

/* sendmmsg/recvmmsg: one event per message, each with its own msg_len, peer and payload. */
static __always_inline int exit_mmsg(void* ctx, __u8 syscall, long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall* in = take_inflight(id, syscall);
  if (!in) return 0;
  if (ret <= 0) goto out;

  struct event_scratch* ev = start_event(in, OTELBPF_EV_DATA, id, 0);
  if (!ev) goto out;
  const struct mmsghdr* msgs = (const struct mmsghdr*)in->buf;
  struct otelbpf_socket_info sock = in->sock;
  __u32 seq = in->tcp_seq;
  __u32 cap = capture_limit();
  for (int i = 0; i < OTELBPF_MAX_MMSGS; i++) {
    if (i >= ret) break;
    struct mmsghdr m = {};
    if (bpf_probe_read_user(&m, sizeof(m), &msgs[i])) break;
    ev->hdr.sock = sock;
    if (sock.dport == 0) peer_from_user_sockaddr(m.msg_hdr.msg_name, &ev->hdr.sock);
    ev->hdr.ret = m.msg_len;
    ev->hdr.tcp_seq = sock.protocol == IPPROTO_TCP ? seq : 0;
    seq += m.msg_len;
    if (!pass_port_filters(&ev->hdr.sock)) continue;
    __u64 want = m.msg_len < cap ? m.msg_len : cap;
    __u64 captured = gather_user_iovecs(ev, (__u64)m.msg_hdr.msg_iov, m.msg_hdr.msg_iovlen, want);
    submit_event(ctx, ev, captured);
  }
out:
  bpf_map_delete_elem(&inflight, &id);
  return 0;
}

/* connect/accept: the connection's identity and where its byte stream starts. */
static __always_inline int exit_open(void* ctx, __u8 syscall, __u32 type, long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall* in = take_inflight(id, syscall);
  if (!in) return 0;
  struct inflight_syscall copy = *in;
  bpf_map_delete_elem(&inflight, &id);

  if (type == OTELBPF_EV_CONNECT) {
    /* A non-blocking connect has already chosen its addresses and ISN when it returns EINPROGRESS. */
    if (ret != 0 && ret != -EINPROGRESS) return 0;
  } else {
    if (ret < 0) return 0;
    copy.fd = ret;
  }
  struct sock* sk = lookup_inet_sock(copy.fd);
  if (!sk) return 0;
  read_socket_info(sk, &copy.sock);
  /* connect: next byte we send; accept: next byte we read. Both equal the first data byte's seq. */
  copy.direction = type == OTELBPF_EV_CONNECT ? OTELBPF_DIR_EGRESS : OTELBPF_DIR_INGRESS;
  copy.tcp_seq = copy.sock.protocol == IPPROTO_TCP ? tcp_next_seq(sk, copy.direction) : 0;
  if (!pass_port_filters(&copy.sock)) return 0;
  struct event_scratch* ev = start_event(&copy, type, id, ret);
  if (ev) submit_event(ctx, ev, 0);
  return 0;
}

static __always_inline int exit_close(void* ctx, long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall* in = take_inflight(id, OTELBPF_SYS_CLOSE);
  if (!in) return 0;
  if (pass_port_filters(&in->sock)) {
    struct event_scratch* ev = start_event(in, OTELBPF_EV_CLOSE, id, ret);
    if (ev) submit_event(ctx, ev, 0);
  }
  bpf_map_delete_elem(&inflight, &id);
  return 0;
}

/* ---- hooks: args[] follow /sys/kernel/tracing/events/syscalls/sys_enter_X/format ---- */

/* The per-syscall tracepoints' own record layout (tracefs events/syscalls/<name>/format), deliberately
 * not CO-RE: vmlinux's trace_event_raw_sys_enter describes raw_syscalls, whose `long id` moves `args` to
 * offset 24 on PREEMPT_RT kernels (12-byte trace_entry), while syscalls/sys_enter_* keep an `int nr` and
 * `args` at 16 on every kernel. Reading through the raw struct there is refused with EACCES. */
struct syscall_enter_args {
  __u64 common;        /* common_type, flags, preempt_count, pid: 8 bytes (12 on RT, overlapping nr) */
  __u32 syscall_nr;    /* not read: its offset differs on RT */
  __u32 pad;
  unsigned long args[6];
};
struct syscall_exit_args {
  __u64 common;
  __u32 syscall_nr;
  __u32 pad;
  long ret;
};

#define ARG(n) (ctx->args[n])

SEC("tracepoint/syscalls/sys_enter_read")
int sys_enter_read(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_READ, OTELBPF_DIR_INGRESS, ARG(0), ARG(1), ARG(2), 0);
}
SEC("tracepoint/syscalls/sys_exit_read")
int sys_exit_read(struct syscall_exit_args* ctx) {
  return exit_data(ctx, OTELBPF_SYS_READ, SHAPE_FLAT, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_write")
int sys_enter_write(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_WRITE, OTELBPF_DIR_EGRESS, ARG(0), ARG(1), ARG(2), 0);
}
SEC("tracepoint/syscalls/sys_exit_write")
int sys_exit_write(struct syscall_exit_args* ctx) {
  return exit_data(ctx, OTELBPF_SYS_WRITE, SHAPE_FLAT, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int sys_enter_readv(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_READV, OTELBPF_DIR_INGRESS, ARG(0), ARG(1), ARG(2), 0);
}
SEC("tracepoint/syscalls/sys_exit_readv")
int sys_exit_readv(struct syscall_exit_args* ctx) {
  return exit_data(ctx, OTELBPF_SYS_READV, SHAPE_IOVEC, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int sys_enter_writev(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_WRITEV, OTELBPF_DIR_EGRESS, ARG(0), ARG(1), ARG(2), 0);
}
SEC("tracepoint/syscalls/sys_exit_writev")
int sys_exit_writev(struct syscall_exit_args* ctx) {
  return exit_data(ctx, OTELBPF_SYS_WRITEV, SHAPE_IOVEC, ctx->ret);
}

/* sendto(fd, buf, len, flags, addr, addrlen) */
SEC("tracepoint/syscalls/sys_enter_sendto")
int sys_enter_sendto(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_SENDTO, OTELBPF_DIR_EGRESS, ARG(0), ARG(1), ARG(2), ARG(4));
}
SEC("tracepoint/syscalls/sys_exit_sendto")
int sys_exit_sendto(struct syscall_exit_args* ctx) {
  return exit_data(ctx, OTELBPF_SYS_SENDTO, SHAPE_FLAT, ctx->ret);
}

/* recvfrom(fd, buf, size, flags, addr, addrlen): addr is filled in by the time of exit. */
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int sys_enter_recvfrom(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_RECVFROM, OTELBPF_DIR_INGRESS, ARG(0), ARG(1), ARG(2), ARG(4));
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int sys_exit_recvfrom(struct syscall_exit_args* ctx) {
  return exit_data(ctx, OTELBPF_SYS_RECVFROM, SHAPE_FLAT, ctx->ret);
}

/* sendmsg/recvmsg(fd, msg, flags) */
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sys_enter_sendmsg(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_SENDMSG, OTELBPF_DIR_EGRESS, ARG(0), ARG(1), 0, 0);
}
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int sys_exit_sendmsg(struct syscall_exit_args* ctx) {
  return exit_data(ctx, OTELBPF_SYS_SENDMSG, SHAPE_MSGHDR, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int sys_enter_recvmsg(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_RECVMSG, OTELBPF_DIR_INGRESS, ARG(0), ARG(1), 0, 0);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int sys_exit_recvmsg(struct syscall_exit_args* ctx) {
  return exit_data(ctx, OTELBPF_SYS_RECVMSG, SHAPE_MSGHDR, ctx->ret);
}

/* sendmmsg/recvmmsg(fd, mmsg, vlen, flags[, timeout]): ret is the number of messages. */
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int sys_enter_sendmmsg(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_SENDMMSG, OTELBPF_DIR_EGRESS, ARG(0), ARG(1), ARG(2), 0);
}
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int sys_exit_sendmmsg(struct syscall_exit_args* ctx) {
  return exit_mmsg(ctx, OTELBPF_SYS_SENDMMSG, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int sys_enter_recvmmsg(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_RECVMMSG, OTELBPF_DIR_INGRESS, ARG(0), ARG(1), ARG(2), 0);
}
SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int sys_exit_recvmmsg(struct syscall_exit_args* ctx) {
  return exit_mmsg(ctx, OTELBPF_SYS_RECVMMSG, ctx->ret);
}

/* connect(fd, uservaddr, addrlen) */
SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_CONNECT, OTELBPF_DIR_EGRESS, ARG(0), 0, 0, 0);
}
SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct syscall_exit_args* ctx) {
  return exit_open(ctx, OTELBPF_SYS_CONNECT, OTELBPF_EV_CONNECT, ctx->ret);
}

/* accept/accept4(fd, upeer_sockaddr, upeer_addrlen[, flags]): ret is the new fd. */
SEC("tracepoint/syscalls/sys_enter_accept")
int sys_enter_accept(struct syscall_enter_args* ctx) {
  return enter_accept(OTELBPF_SYS_ACCEPT, ARG(0));
}
SEC("tracepoint/syscalls/sys_exit_accept")
int sys_exit_accept(struct syscall_exit_args* ctx) {
  return exit_open(ctx, OTELBPF_SYS_ACCEPT, OTELBPF_EV_ACCEPT, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int sys_enter_accept4(struct syscall_enter_args* ctx) {
  return enter_accept(OTELBPF_SYS_ACCEPT4, ARG(0));
}
SEC("tracepoint/syscalls/sys_exit_accept4")
int sys_exit_accept4(struct syscall_exit_args* ctx) {
  return exit_open(ctx, OTELBPF_SYS_ACCEPT4, OTELBPF_EV_ACCEPT, ctx->ret);
}

/* close(fd): the socket is gone at exit, so its identity is taken at entry. */
SEC("tracepoint/syscalls/sys_enter_close")
int sys_enter_close(struct syscall_enter_args* ctx) {
  return enter_syscall(OTELBPF_SYS_CLOSE, OTELBPF_DIR_EGRESS, ARG(0), 0, 0, 0);
}
SEC("tracepoint/syscalls/sys_exit_close")
int sys_exit_close(struct syscall_exit_args* ctx) { return exit_close(ctx, ctx->ret); }
