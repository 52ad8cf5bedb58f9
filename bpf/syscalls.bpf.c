// SPDX-License-Identifier: GPL-2.0
/* Socket I/O: every read/write/send/recv-family call on a TCP or UDP socket becomes an OTELBPF_EV_DATA
 * event with the 5-tuple, TCP sequence number and first payload bytes; connect/accept/close give the
 * connection lifecycle.
 *
 * Two ways to see the data calls, chosen by the loader (userspace/probes/syscall_probes.cc):
 * - sock hooks (kernels with sock:sock_send_length/sock_recv_length, 6.3+): BTF tracepoints (tp_btf) at
 *   the end of sock_sendmsg/sock_recvmsg. They fire for socket I/O only, so file and pipe reads/writes cost
 *   nothing; the syscall's fd and user buffers come from the task's saved registers, and what a socket is
 *   (traced or not) is decided once and kept in the socket's BPF local storage (sock_verdicts).
 * - syscall tracepoints (fallback): sys_enter_X stashes the arguments per thread, sys_exit_X builds the
 *   event. They fire for every read/write of every process.
 * accept/connect/close and sendmmsg/recvmmsg stay on syscall tracepoints in both modes. */
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
/* Wake-up batching: events are committed without waking the consumer (it polls on a bounded interval)
 * except once per this many bytes written by a CPU; 0 wakes it whenever it has caught up (libbpf default). */
const volatile __u64 wakeup_bytes = 0;

/* Runtime filters: flags here (mmapped .bss, written by the loader), the sets in the maps below. */
__u32 filter_pids_enabled;
__u32 filter_only_ports_enabled;
__u32 filter_ignore_ports_enabled;
__u64 filter_cgroup_id;
/* Sock hooks: unconnected-UDP receives waiting in udp_recv_pending for their syscall's exit, node-wide.
 * While none waits, the exits of every other recvfrom/recvmsg (one per TCP read of that kind) return at
 * once instead of looking into task storage. A thread killed while one waited leaves it counted: the
 * exits then look as before, which costs time, never an event. */
__u64 udp_recvs_pending;
/* Closes of traced sockets between their entry and exit, node-wide. close() runs for every file, pipe and
 * socket on the node; while no traced socket's close is in flight, every exit returns at once instead of
 * looking for its entry in the inflight map. Like udp_recvs_pending, a thread killed inside close leaves
 * it counted, which costs time, never an event. */
__u64 closes_pending;

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

/* Port sets as bitmaps in .bss (bit p of word p / 64: port p, host byte order, matched against either end),
 * written by the loader. Every traced call asks them for both ends; a bit test is a load, where the hash
 * maps they replace cost a helper call and a hash per port (~8 % of the sock hooks' time: the agent's own
 * ports are always in ignore_ports). 8 KiB each. */
__u64 filter_ignore_port_bits[OTELBPF_PORT_BITMAP_WORDS];
__u64 filter_only_port_bits[OTELBPF_PORT_BITMAP_WORDS];

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

/* Sock hooks: what a socket is (traced or not) and what its events repeat (cgroup, comm), decided on its
 * first call and kept in the socket's own BPF local storage, which dies with the socket. Valid for the
 * (tgid, fd) that filled it: another fd or process on the same socket decides again. The 5-tuple is not
 * cached: it is read from the socket on every call (a UDP socket's peer changes with connect()). */
enum sock_kind {
  SOCK_TRACED = 1, /* TCP/UDP over IPv4/IPv6 */
  SOCK_OTHER,      /* unix, netlink, ...: counted, not traced */
};
struct sock_verdict {
  __u64 cgroup_id;
  char comm[OTELBPF_COMM_LEN];
  __u32 tgid;
  __u32 fd;
  __u8 kind; /* enum sock_kind; 0: not decided */
  __u8 _pad[7];
  /* When the socket's current TCP send began (tcp:tcp_sendmsg_locked), for ts_enter of its egress event:
   * the sock hooks themselves only fire when the call returns. Kept with the socket, not per CPU, so a
   * send that sleeps or is preempted and resumes on another CPU still finds its mark (a per-CPU mark
   * lost it and the send's start fell back to its end, after the peer had already read the bytes). */
  __u64 send_ts_ns;   /* 0: no send in progress */
  __u32 send_tid;     /* the thread that is sending */
  __u32 send_write_seq; /* at the first chunk: equals the send's first sequence number */
};
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct sock_verdict);
} sock_verdicts SEC(".maps");

/* Sock hooks: an unconnected-UDP receive waiting for its syscall's exit (the sender's address); empty when
 * syscall == 0. */
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct inflight_syscall);
} udp_recv_pending SEC(".maps");

/* Bytes this CPU wrote to the ring buffer since it last woke the consumer (batched wake-ups). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} wakeup_acc SEC(".maps");

/* Keyed by pid_tgid. LRU so that entries of threads killed inside a syscall age out. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 32768);
  __type(key, __u64);
  __type(value, struct inflight_syscall);
} inflight SEC(".maps");

/* `scratch`, the event under construction, is in payload.bpf.h. */

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

static __always_inline bool port_in(const __u64* bits, __u16 port) {
  return (bits[(port >> 6) & (OTELBPF_PORT_BITMAP_WORDS - 1)] >> (port & 63)) & 1;
}

static __always_inline bool pass_port_filters(const struct otelbpf_socket_info* s) {
  __u16 sport = s->sport, dport = s->dport;
  if (filter_ignore_ports_enabled &&
      (port_in(filter_ignore_port_bits, sport) || port_in(filter_ignore_port_bits, dport)))
    goto filtered;
  if (filter_only_ports_enabled && !port_in(filter_only_port_bits, sport) &&
      !port_in(filter_only_port_bits, dport))
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

/* What a call's entry knows of a traced socket, in `in` (zeroed by the caller); false when the task is
 * filtered out or fd is not a traced socket. */
static __always_inline bool read_entry(struct inflight_syscall* in, __u64 id, __u8 syscall, __u8 direction,
                                       __u64 fd, __u64 buf, __u64 len, __u64 addr) {
  if (!pass_task_filters(id)) return false;
  struct sock* sk = lookup_inet_sock(fd);
  if (!sk) return false;
  in->ts_enter_ns = bpf_ktime_get_ns();
  in->fd = fd;
  in->buf = buf;
  in->len = len;
  in->addr = addr;
  in->syscall = syscall;
  in->direction = direction;
  read_socket_info(sk, &in->sock);
  /* At entry: the syscall itself advances write_seq/copied_seq by the bytes it moves. */
  if (in->sock.protocol == IPPROTO_TCP) in->tcp_seq = tcp_next_seq(sk, direction);
  return true;
}

static __always_inline int enter_syscall(__u8 syscall, __u8 direction, __u64 fd, __u64 buf, __u64 len,
                                         __u64 addr) {
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall in = {};
  if (!read_entry(&in, id, syscall, direction, fd, buf, len, addr)) return 0;
  if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY))
    count(OTELBPF_CNT_INFLIGHT_LOST);
  else if (syscall == OTELBPF_SYS_CLOSE)
    __sync_fetch_and_add(&closes_pending, 1);
  return 0;
}

/* accept and connect: their exit reads the socket (accept's only exists then; connect's addresses and
 * initial sequence number are chosen inside the call), so the entry only checks that the fd is worth
 * tracing and notes when the call began. */
static __always_inline int enter_open(__u8 syscall, __u64 fd, __u8 direction) {
  __u64 id = bpf_get_current_pid_tgid();
  if (!pass_task_filters(id)) return 0;
  if (!lookup_inet_sock(fd)) return 0;
  struct inflight_syscall in = {};
  in.ts_enter_ns = bpf_ktime_get_ns();
  in.fd = fd;
  in.syscall = syscall;
  in.direction = direction;
  if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY)) count(OTELBPF_CNT_INFLIGHT_LOST);
  return 0;
}

/* ---- exit ---- */

/* Fills an event header from what the call's entry (or the sock hook) recorded. `cached` (sock hooks): the
 * socket's verdict, whose cgroup and comm the event repeats. */
static __always_inline void fill_header(struct otelbpf_event_header* hdr, const struct inflight_syscall* in,
                                        __u32 type, __u64 pid_tgid, long ret, __u64 ts_exit,
                                        const struct sock_verdict* cached) {
  __builtin_memset(hdr, 0, sizeof(*hdr));
  hdr->type = type;
  hdr->pid = pid_tgid >> 32;
  hdr->tid = (__u32)pid_tgid;
  hdr->fd = in->fd;
  hdr->ts_enter_ns = in->ts_enter_ns;
  hdr->ts_exit_ns = ts_exit;
  if (!cached) {
    hdr->cgroup_id = bpf_get_current_cgroup_id();
    bpf_get_current_comm(&hdr->comm, sizeof(hdr->comm));
  } else {
    hdr->cgroup_id = cached->cgroup_id;
    __builtin_memcpy(hdr->comm, cached->comm, sizeof(hdr->comm));
  }
  hdr->sock = in->sock;
  hdr->ret = ret;
  hdr->tcp_seq = in->tcp_seq;
  hdr->direction = in->direction;
  hdr->syscall = in->syscall;
}

/* The event under construction in this CPU's scratch, header filled. */
static __always_inline struct event_scratch* start_event(const struct inflight_syscall* in, __u32 type,
                                                         __u64 pid_tgid, long ret, __u64 ts_exit,
                                                         const struct sock_verdict* cached) {
  __u32 zero = 0;
  struct event_scratch* ev = bpf_map_lookup_elem(&scratch, &zero);
  if (!ev) return NULL;
  fill_header(&ev->hdr, in, type, pid_tgid, ret, ts_exit, cached);
  return ev;
}

/* Batched wake-ups: the traced thread does not pay a consumer wake-up (an IPI, costly in VMs) per event.
 * Each CPU wakes the consumer once per wakeup_bytes it wrote; otherwise the consumer finds the events at
 * its next poll timeout. Counted per CPU: asking the ring how full it is (BPF_RB_AVAIL_DATA) reads the
 * consumer's position, a cache line the consumer's CPU keeps writing. */
static __always_inline __u64 ring_wakeup_flags(__u64 size) {
  if (!wakeup_bytes) return 0;
  __u32 zero = 0;
  __u64* written = bpf_map_lookup_elem(&wakeup_acc, &zero);
  if (written && (*written += size) >= wakeup_bytes) {
    *written = 0;
    return BPF_RB_FORCE_WAKEUP;
  }
  return BPF_RB_NO_WAKEUP;
}

static __always_inline void submit_event(void* ctx, struct event_scratch* ev, __u64 payload_len) {
  if (payload_len > OTELBPF_MAX_PAYLOAD) payload_len = OTELBPF_MAX_PAYLOAD;
  ev->hdr.payload_len = payload_len;
  barrier_var(payload_len);
  if (payload_len > OTELBPF_MAX_PAYLOAD) return;
  /* use_perf_buffer is rodata: the verifier sees one branch only, so the other helper is never checked. */
  long err;
  if (use_perf_buffer) {
    err = bpf_perf_event_output(ctx, &events_perf, BPF_F_CURRENT_CPU, ev, sizeof(ev->hdr) + payload_len);
  } else {
    const __u64 size = sizeof(ev->hdr) + payload_len;
    const __u64 flags = ring_wakeup_flags(size);
    err = bpf_ringbuf_output(&events, ev, size, flags);
  }
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

/* A header-only event about the current process (OTELBPF_EV_EXIT, OTELBPF_EV_EXEC): sock is zero. */
static __always_inline void submit_process_event(void* ctx, __u64 pid_tgid, __u32 type) {
  __u32 zero = 0;
  struct event_scratch* ev = bpf_map_lookup_elem(&scratch, &zero);
  if (!ev) return;
  __builtin_memset(&ev->hdr, 0, sizeof(ev->hdr));
  ev->hdr.type = type;
  ev->hdr.pid = pid_tgid >> 32;
  ev->hdr.tid = (__u32)pid_tgid;
  ev->hdr.ts_enter_ns = ev->hdr.ts_exit_ns = bpf_ktime_get_ns();
  ev->hdr.cgroup_id = bpf_get_current_cgroup_id();
  bpf_get_current_comm(&ev->hdr.comm, sizeof(ev->hdr.comm));
  submit_event(ctx, ev, 0);
}

#include "tls_uprobes.bpf.h"

enum buffer_shape {
  SHAPE_FLAT,   /* read/write/sendto/recvfrom: buf + len */
  SHAPE_IOVEC,  /* readv/writev: iovec array + count */
  SHAPE_MSGHDR, /* sendmsg/recvmsg: user_msghdr */
};

/* Builds and submits the DATA event of a call that moved ret > 0 bytes, from what its entry (or the sock
 * hook) recorded in `in`. */
static __always_inline void emit_data(void* ctx, const struct inflight_syscall* in, __u64 id,
                                      enum buffer_shape shape, long ret, __u64 ts_exit,
                                      const struct sock_verdict* cached) {
  struct event_scratch* ev = start_event(in, OTELBPF_EV_DATA, id, ret, ts_exit, cached);
  if (!ev) return;
  const void* peer = (const void*)in->addr;
  const struct iovec* iov = (const struct iovec*)in->buf;
  __u64 iovcnt = in->len;
  if (shape == SHAPE_MSGHDR) {
    struct user_msghdr msg = {};
    if (bpf_probe_read_user(&msg, sizeof(msg), (const void*)in->buf)) return;
    peer = msg.msg_name;
    iov = msg.msg_iov;
    iovcnt = msg.msg_iovlen;
  }
  if (ev->hdr.sock.dport == 0) peer_from_user_sockaddr(peer, &ev->hdr.sock);
  if (!pass_port_filters(&ev->hdr.sock)) return;

  /* Received bytes are only in the buffer now; sent ones are still there. Either way ret bounds it. */
  __u64 want = capture_limit();
  if ((__u64)ret < want) want = ret;
  __u64 captured;
  if (shape == SHAPE_FLAT)
    captured = copy_user_chunk(ev->payload, 0, (const void*)in->buf, want);
  else
    captured = gather_user_iovecs((__u64)iov, iovcnt, want);
  submit_event(ctx, ev, captured);
}

/* Sock hooks, plain buffers (read, write, sendto, recvfrom): the event is built in the ring buffer itself
 * instead of in the per-CPU scratch and then copied there. bpf_ringbuf_reserve takes constant sizes only,
 * so records come in size classes: small messages (most of a request's calls: an HTTP GET, its short
 * answer) take a small record, the rest one that holds the capture limit; the consumer reads payload_len,
 * not the record's size. A class never exceeds the capture limit, so the ring holds as many records as
 * with exact sizes when the limit is small. */
#define OTB_RECORD_CLASS_64 64
#define OTB_RECORD_CLASS_128 128
#define OTB_RECORD_CLASS_192 192
#define OTB_RECORD_CLASS_256 256
#define OTB_RECORD_CLASS_512 512

static __always_inline void emit_flat_sized(const struct inflight_syscall* in, __u64 id, long ret, __u64 ts_exit,
                                            const struct sock_verdict* cached, __u64 want, const __u64 room) {
  struct event_scratch* ev = bpf_ringbuf_reserve(&events, sizeof(ev->hdr) + room, 0);
  if (!ev) {
    count(OTELBPF_CNT_RINGBUF_DROPS);
    return;
  }
  fill_header(&ev->hdr, in, OTELBPF_EV_DATA, id, ret, ts_exit, cached);
  if (want > room) want = room;
  barrier_var(want);
  __u32 captured = 0;
  if (want && want <= room && !bpf_probe_read_user(ev->payload, want, (const void*)in->buf)) captured = want;
  ev->hdr.payload_len = captured;
  bpf_ringbuf_submit(ev, ring_wakeup_flags(sizeof(ev->hdr) + room));
  count(OTELBPF_CNT_EVENTS);
}

static __always_inline void emit_flat_in_ring(struct inflight_syscall* in, __u64 id, long ret, __u64 ts_exit,
                                              const struct sock_verdict* cached) {
  if (in->sock.dport == 0) peer_from_user_sockaddr((const void*)in->addr, &in->sock);
  if (!pass_port_filters(&in->sock)) return;
  const __u32 cap = capture_limit();
  __u64 want = (__u64)ret < cap ? (__u64)ret : cap;
  /* Steps of 64 bytes up to 256: a record is written to lines the consumer's CPU has just read, and each
   * line costs the writer a miss. With 64 and 256 only, nginx's ~155-byte answer to GET / took a 256-byte
   * record (docs/kernel-cost.md, "Record size classes"). */
  if (want <= OTB_RECORD_CLASS_64 && cap > OTB_RECORD_CLASS_64)
    emit_flat_sized(in, id, ret, ts_exit, cached, want, OTB_RECORD_CLASS_64);
  else if (want <= OTB_RECORD_CLASS_128 && cap > OTB_RECORD_CLASS_128)
    emit_flat_sized(in, id, ret, ts_exit, cached, want, OTB_RECORD_CLASS_128);
  else if (want <= OTB_RECORD_CLASS_192 && cap > OTB_RECORD_CLASS_192)
    emit_flat_sized(in, id, ret, ts_exit, cached, want, OTB_RECORD_CLASS_192);
  else if (want <= OTB_RECORD_CLASS_256 && cap > OTB_RECORD_CLASS_256)
    emit_flat_sized(in, id, ret, ts_exit, cached, want, OTB_RECORD_CLASS_256);
  else if (want <= OTB_RECORD_CLASS_512 && cap > OTB_RECORD_CLASS_512)
    emit_flat_sized(in, id, ret, ts_exit, cached, want, OTB_RECORD_CLASS_512);
  else
    emit_flat_sized(in, id, ret, ts_exit, cached, want, cap);
}

static __always_inline int exit_data(void* ctx, __u8 syscall, enum buffer_shape shape, long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall* in = take_inflight(id, syscall);
  if (!in) return 0;
  /* Errors and EOF move no bytes: nothing to trace (close tells the connection ended). Ciphertext under
   * an SSL call is replaced by the TLS probes' plaintext. */
  if (ret > 0) {
    const __u64 now = bpf_ktime_get_ns();
    if (!tls_claim_socket_call(id, in->fd, &in->sock, in->tcp_seq, in->direction, ret, now,
                               shape == SHAPE_FLAT ? in->buf : 0))
      emit_data(ctx, in, id, shape, ret, now, NULL);
  }
  bpf_map_delete_elem(&inflight, &id);
  return 0;
}

/* sendmmsg/recvmmsg: one event per message, each with its own msg_len, peer and payload. */
static __always_inline int exit_mmsg(void* ctx, __u8 syscall, long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall* in = take_inflight(id, syscall);
  if (!in) return 0;
  if (ret <= 0) goto out;

  struct event_scratch* ev = start_event(in, OTELBPF_EV_DATA, id, 0, bpf_ktime_get_ns(), NULL);
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
    __u64 captured = gather_user_iovecs((__u64)m.msg_hdr.msg_iov, m.msg_hdr.msg_iovlen, want);
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
  struct event_scratch* ev = start_event(&copy, type, id, ret, bpf_ktime_get_ns(), NULL);
  if (ev) submit_event(ctx, ev, 0);
  return 0;
}

/* The end of a traced socket's connection in this process: its records go, and its close event leaves
 * (from close's exit, or with the sock hooks from its entry: close_at_entry). */
static __always_inline void emit_close(void* ctx, struct inflight_syscall* in, __u64 id, long ret, __u64 ts) {
  forget_socket_records(in->sock.sock_id, id >> 32);
  if (!pass_port_filters(&in->sock)) return;
  struct event_scratch* ev = start_event(in, OTELBPF_EV_CLOSE, id, ret, ts, NULL);
  if (ev) submit_event(ctx, ev, 0);
}

static __always_inline int exit_close(void* ctx, long ret) {
  if (!closes_pending) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall* in = take_inflight(id, OTELBPF_SYS_CLOSE);
  if (!in) return 0;
  __sync_fetch_and_sub(&closes_pending, 1);
  emit_close(ctx, in, id, ret, bpf_ktime_get_ns());
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
  return enter_open(OTELBPF_SYS_CONNECT, ARG(0), OTELBPF_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct syscall_exit_args* ctx) {
  return exit_open(ctx, OTELBPF_SYS_CONNECT, OTELBPF_EV_CONNECT, ctx->ret);
}

/* accept/accept4(fd, upeer_sockaddr, upeer_addrlen[, flags]): ret is the new fd. */
SEC("tracepoint/syscalls/sys_enter_accept")
int sys_enter_accept(struct syscall_enter_args* ctx) {
  return enter_open(OTELBPF_SYS_ACCEPT, ARG(0), OTELBPF_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_accept")
int sys_exit_accept(struct syscall_exit_args* ctx) {
  return exit_open(ctx, OTELBPF_SYS_ACCEPT, OTELBPF_EV_ACCEPT, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int sys_enter_accept4(struct syscall_enter_args* ctx) {
  return enter_open(OTELBPF_SYS_ACCEPT4, ARG(0), OTELBPF_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_accept4")
int sys_exit_accept4(struct syscall_exit_args* ctx) {
  return exit_open(ctx, OTELBPF_SYS_ACCEPT4, OTELBPF_EV_ACCEPT, ctx->ret);
}

/* close(fd): the socket is gone at exit, so its identity is taken at entry.
 * Sock hooks: close's event is sent from its entry, with ret 0. close() runs for every file, pipe and
 * socket on the node, and its exit fired only to read a result nothing uses (the tracer ends the
 * connection either way, and close releases the fd even when it reports an error); without the exit
 * every non-socket close pays one tracepoint instead of two, and its entry walks the fd table with plain
 * loads (fd_to_file_btf). */
static __always_inline int close_at_entry(void* ctx, __u64 fd) {
  __u64 id = bpf_get_current_pid_tgid();
  struct inflight_syscall in = {};
  if (read_entry(&in, id, OTELBPF_SYS_CLOSE, OTELBPF_DIR_EGRESS, fd, 0, 0, 0))
    emit_close(ctx, &in, id, 0, in.ts_enter_ns);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int sys_enter_close(struct syscall_enter_args* ctx) {
  if (sock_hooks_loaded) return close_at_entry(ctx, ARG(0));
  return enter_syscall(OTELBPF_SYS_CLOSE, OTELBPF_DIR_EGRESS, ARG(0), 0, 0, 0);
}
SEC("tracepoint/syscalls/sys_exit_close")
int sys_exit_close(struct syscall_exit_args* ctx) { return exit_close(ctx, ctx->ret); }

/* A process that exits closes its sockets inside the kernel (no close() syscall): busybox tools, curl
 * and forked servers often exit without closing. The exit of a thread group leader tells userspace to end
 * that process's connections now, so their last exchanges (an HTTP/1.0 answer that ends at close) leave
 * at once instead of at idle eviction. One event per process exit, node-wide. */
SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void* ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  if ((__u32)id != (__u32)(id >> 32)) return 0; /* a thread, not the process */
  if (!pass_task_filters(id)) return 0;
  submit_process_event(ctx, id, OTELBPF_EV_EXIT);
  return 0;
}

/* ---- sock hooks: raw tracepoints at the end of sock_sendmsg/sock_recvmsg (Linux 6.3+) ---- */

#define OTB_PF_IO_WORKER 0x00000010
#define OTB_PF_KTHREAD 0x00200000
#define OTB_MSG_PEEK 2

/* x86-64 numbers of the syscalls whose socket I/O the sock hooks report (orig_ax of the saved user
 * registers). sendmmsg/recvmmsg stay on their syscall tracepoints (one event per message needs the index);
 * anything else (sendfile, splice, io_uring, 32-bit compat calls) is not traced, as on the fallback. */
#define OTB_NR_read 0
#define OTB_NR_write 1
#define OTB_NR_readv 19
#define OTB_NR_writev 20
#define OTB_NR_sendto 44
#define OTB_NR_recvfrom 45
#define OTB_NR_sendmsg 46
#define OTB_NR_recvmsg 47

/* The socket's verdict for this (tgid, fd), decided now if not yet; NULL when fd is not sk (a kernel
 * socket used inside some other syscall of this task, e.g. by NFS) or the storage cannot be had. */
static __always_inline struct sock_verdict* sock_verdict_for(struct sock* sk, __u32 tgid, __u64 fd) {
  struct sock_verdict* v = bpf_sk_storage_get(&sock_verdicts, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
  if (!v) return NULL;
  if (v->kind && v->tgid == tgid && v->fd == (__u32)fd) return v;

  count(OTELBPF_CNT_SOCK_CACHE_MISS);
  enum fd_kind kind;
  struct sock* any = NULL;
  struct sock* inet = fd_to_sock(fd, &kind, &any);
  if (!any || any != sk) return NULL;
  v->tgid = tgid;
  v->fd = fd;
  v->cgroup_id = bpf_get_current_cgroup_id();
  bpf_get_current_comm(v->comm, sizeof(v->comm));
  v->kind = inet ? SOCK_TRACED : SOCK_OTHER;
  return v;
}

/* read_socket_info() through the hook's trusted struct sock pointer: plain loads, no helper calls. */
static __always_inline void read_socket_info_btf(struct sock* sk, struct otelbpf_socket_info* out) {
  out->sock_id = (__u64)sk;
  out->family = sk->__sk_common.skc_family;
  out->protocol = (__u8)sk->sk_protocol;
  out->sport = sk->__sk_common.skc_num;
  out->dport = bpf_ntohs(sk->__sk_common.skc_dport);
  if (out->family == AF_INET) {
    __u32 s = sk->__sk_common.skc_rcv_saddr, d = sk->__sk_common.skc_daddr;
    __builtin_memcpy(out->saddr, &s, 4);
    __builtin_memcpy(out->daddr, &d, 4);
  } else {
    struct in6_addr s6 = sk->__sk_common.skc_v6_rcv_saddr, d6 = sk->__sk_common.skc_v6_daddr;
    __builtin_memcpy(out->saddr, &s6, 16);
    __builtin_memcpy(out->daddr, &d6, 16);
  }
}

static __always_inline int sock_data(void* ctx, struct sock* sk, int ret, __u32 msg_flags, __u8 direction) {
  /* Errors, EAGAIN and EOF move no bytes: nothing to trace. A failed TCP send may have marked its start:
   * cleared, or the thread's next send on the socket would look like a later chunk of it. */
  if (ret <= 0 || !sk) {
    if (sk && direction == OTELBPF_DIR_EGRESS) {
      struct sock_verdict* v = bpf_sk_storage_get(&sock_verdicts, sk, NULL, 0);
      if (v && v->send_ts_ns) v->send_ts_ns = 0;
    }
    return 0;
  }
  __u64 id = bpf_get_current_pid_tgid();
  if (!pass_task_filters(id)) return 0;
  struct task_struct* task = bpf_get_current_task_btf();
  if (task->flags & (OTB_PF_KTHREAD | OTB_PF_IO_WORKER)) return 0;
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(task);
  if (!regs) return 0;

  __u8 syscall;
  enum buffer_shape shape = SHAPE_FLAT;
  __u64 addr = 0;
  switch (regs->orig_ax) {
    case OTB_NR_read: syscall = OTELBPF_SYS_READ; break;
    case OTB_NR_write: syscall = OTELBPF_SYS_WRITE; break;
    case OTB_NR_readv: syscall = OTELBPF_SYS_READV; shape = SHAPE_IOVEC; break;
    case OTB_NR_writev: syscall = OTELBPF_SYS_WRITEV; shape = SHAPE_IOVEC; break;
    case OTB_NR_sendto: syscall = OTELBPF_SYS_SENDTO; addr = regs->r8; break;
    case OTB_NR_recvfrom: syscall = OTELBPF_SYS_RECVFROM; addr = regs->r8; break;
    case OTB_NR_sendmsg: syscall = OTELBPF_SYS_SENDMSG; shape = SHAPE_MSGHDR; break;
    case OTB_NR_recvmsg: syscall = OTELBPF_SYS_RECVMSG; shape = SHAPE_MSGHDR; break;
    default: return 0;
  }
  const __u64 fd = regs->di;
  struct sock_verdict* v = sock_verdict_for(sk, id >> 32, fd);
  if (!v) return 0;
  if (v->kind != SOCK_TRACED) {
    count(OTELBPF_CNT_OTHER_SOCKET);
    return 0;
  }

  const __u64 now = bpf_ktime_get_ns();
  struct inflight_syscall in = {};
  in.ts_enter_ns = now;
  in.fd = fd;
  in.buf = regs->si;
  in.len = regs->dx;
  in.addr = addr;
  read_socket_info_btf(sk, &in.sock);
  in.syscall = syscall;
  in.direction = direction;
  if (in.sock.protocol == IPPROTO_TCP) {
    struct tcp_sock* tp = bpf_skc_to_tcp_sock(sk);
    if (tp) {
      /* After the call: the sequence number has moved past the bytes it sent or consumed (not on MSG_PEEK). */
      __u32 next = direction == OTELBPF_DIR_EGRESS ? tp->write_seq : tp->copied_seq;
      in.tcp_seq = direction == OTELBPF_DIR_INGRESS && (msg_flags & OTB_MSG_PEEK) ? next : next - (__u32)ret;
      /* A read that reached the peer's FIN consumed its sequence number too (copied_seq + 1 past the data):
       * everything up to rcv_nxt is read and the FIN has been received (SOCK_DONE). */
      if (direction == OTELBPF_DIR_INGRESS && !(msg_flags & OTB_MSG_PEEK) && next == tp->rcv_nxt &&
          (sk->__sk_common.skc_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
        in.tcp_seq -= 1;
    }
    if (direction == OTELBPF_DIR_EGRESS) {
      /* This send's mark: set by this thread at this send's first byte (a stale one, left by a send that
       * failed, has another write_seq). */
      if (v->send_ts_ns) {
        if (v->send_tid == (__u32)id && v->send_write_seq == in.tcp_seq && v->send_ts_ns <= now)
          in.ts_enter_ns = v->send_ts_ns;
        v->send_ts_ns = 0; /* only when set: without marks (the default) no send stores to the verdict */
      }
    }
  }
  if (tls_claim_socket_call(id, fd, &in.sock, in.tcp_seq, direction, ret, now, shape == SHAPE_FLAT ? in.buf : 0))
    return 0;
  if (in.sock.dport == 0 && (syscall == OTELBPF_SYS_RECVFROM || syscall == OTELBPF_SYS_RECVMSG)) {
    /* Unconnected UDP: the sender's address reaches the caller's sockaddr only after sock_recvmsg returns;
     * the sock hooks' sys_exit_recvfrom/recvmsg finish the event from there (task storage: the exits of
     * every other recvfrom/recvmsg, e.g. on TCP, find nothing at the cost of a pointer lookup). */
    struct inflight_syscall* pending =
        bpf_task_storage_get(&udp_recv_pending, task, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (pending) {
      if (!pending->syscall) __sync_fetch_and_add(&udp_recvs_pending, 1);
      *pending = in;
    } else
      count(OTELBPF_CNT_INFLIGHT_LOST);
    return 0;
  }
  /* The sock hooks exist from 6.3, so the ring buffer does too; use_perf_buffer is only a test's choice. */
  if (shape == SHAPE_FLAT && !use_perf_buffer)
    emit_flat_in_ring(&in, id, ret, now, v);
  else
    emit_data(ctx, &in, id, shape, ret, now, v);
  return 0;
}

/* Finishes an unconnected-UDP receive the sock hook left for this syscall's exit. */
static __always_inline int exit_udp_recv(void* ctx, __u8 syscall, enum buffer_shape shape, long ret) {
  if (!udp_recvs_pending) return 0;
  struct task_struct* task = bpf_get_current_task_btf();
  struct inflight_syscall* in = bpf_task_storage_get(&udp_recv_pending, task, NULL, 0);
  if (!in || in->syscall != syscall) return 0;
  if (ret > 0) emit_data(ctx, in, bpf_get_current_pid_tgid(), shape, ret, bpf_ktime_get_ns(), NULL);
  in->syscall = 0;
  __sync_fetch_and_sub(&udp_recvs_pending, 1);
  return 0;
}

/* The sock hooks' exits of recvfrom/recvmsg (the fallback has its own, paired with sys_enter_X). */
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int sys_exit_recvfrom_udp(struct syscall_exit_args* ctx) {
  return exit_udp_recv(ctx, OTELBPF_SYS_RECVFROM, SHAPE_FLAT, ctx->ret);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int sys_exit_recvmsg_udp(struct syscall_exit_args* ctx) {
  return exit_udp_recv(ctx, OTELBPF_SYS_RECVMSG, SHAPE_MSGHDR, ctx->ret);
}

/* TP_PROTO(struct sock *sk, int ret, int flags) */
SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock* sk, int ret, int flags) {
  return sock_data(ctx, sk, ret, flags, OTELBPF_DIR_EGRESS);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock* sk, int ret, int flags) {
  return sock_data(ctx, sk, ret, flags, OTELBPF_DIR_INGRESS);
}

/* TP_PROTO(const struct sock *sk, const struct msghdr *msg, const struct sk_buff *skb, int size_goal):
 * fires per chunk inside tcp_sendmsg_locked, before the chunk is copied; the first marks when the send
 * began, for the egress event's ts_enter. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(tcp_sendmsg_locked, const struct sock* sk) {
  struct sock_verdict* v =
      bpf_sk_storage_get(&sock_verdicts, (struct sock*)sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
  if (!v) return 0;
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  /* A later chunk of the same send: the mark stands (the send's sock hook clears it, also when it fails). */
  if (v->send_ts_ns && v->send_tid == tid) return 0;
  struct tcp_sock* tp = bpf_skc_to_tcp_sock((void*)sk);
  if (!tp) return 0;
  v->send_tid = tid;
  v->send_ts_ns = bpf_ktime_get_ns();
  v->send_write_seq = tp->write_seq;
  return 0;
}
