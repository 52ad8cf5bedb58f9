// SPDX-License-Identifier: GPL-2.0
/* The floor under the sock hooks' cost: the least a program at the same attach points
 * (tp_btf/sock_send_length, tp_btf/sock_recv_length) can do, in steps, so that the probes' eBPF time per
 * request (docs/kernel-cost.md) can be read against what any design with one event per socket call must pay
 * on the machine at hand. Loaded by bench/bpf_floor.cc, driven by scripts/bench-bpf-floor.
 *
 * `floor_level` (rodata, set before load):
 *   0  return at once: the attach point and bpf_stats' own accounting;
 *   1  a ring record with the clock, the thread and the return value;
 *   2  + the call's first bytes copied from the caller's buffer (bpf_probe_read_user of the second syscall
 *      argument: for writev/sendmsg that is the iovec array or msghdr, not the payload, so this is a lower
 *      bound for vectored calls);
 *   3  + what an event needs to be useful, as the agent gets it: the task checks (kernel threads, the agent
 *      itself), the syscall registers, a per-socket verdict in socket storage, the port filter bitmap, the
 *      5-tuple, the TCP sequence number, a counter. No TLS, no record size classes, no payload gather. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 floor_level = 0;
const volatile __u32 self_tgid = 0;

#define FLOOR_PAYLOAD 192
#define FLOOR_PF_KTHREAD_OR_IO_WORKER 0x00200010

struct floor_record {
  __u32 pid, tid, fd, payload_len;
  __u64 ts_ns, cgroup_id, sock_id;
  __s64 ret;
  __u16 family, protocol, sport, dport;
  __u8 saddr[16], daddr[16];
  __u32 tcp_seq;
  __u8 direction, syscall_nr, _pad[2];
  char comm[16];
  __u8 payload[FLOOR_PAYLOAD];
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} floor_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} floor_counters SEC(".maps");

struct floor_verdict {
  __u64 cgroup_id;
  char comm[16];
  __u32 tgid, fd;
  __u8 kind, _pad[7];
};
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct floor_verdict);
} floor_verdicts SEC(".maps");

__u64 floor_ignore_port_bits[1024]; /* 65536 bits, none set: tested, never matched */

static __always_inline bool port_ignored(__u16 port) {
  return (floor_ignore_port_bits[(port >> 6) & 1023] >> (port & 63)) & 1;
}

static __always_inline int floor_event(struct sock* sk, int ret, __u8 direction) {
  if (floor_level == 0 || ret <= 0 || !sk) return 0;
  const __u64 id = bpf_get_current_pid_tgid();
  struct pt_regs* regs = NULL;
  struct floor_verdict* verdict = NULL;
  __u32 tcp_seq = 0;
  if (floor_level >= 2) {
    struct task_struct* task = bpf_get_current_task_btf();
    if (floor_level >= 3) {
      if (self_tgid && (id >> 32) == self_tgid) return 0;
      if (task->flags & FLOOR_PF_KTHREAD_OR_IO_WORKER) return 0;
    }
    regs = (struct pt_regs*)bpf_task_pt_regs(task);
    if (!regs) return 0;
  }
  if (floor_level >= 3) {
    if (regs->orig_ax > 47) return 0; /* read .. recvmsg */
    verdict = bpf_sk_storage_get(&floor_verdicts, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
    if (!verdict) return 0;
    if (!verdict->kind || verdict->tgid != (__u32)(id >> 32) || verdict->fd != (__u32)regs->di) {
      verdict->tgid = id >> 32;
      verdict->fd = regs->di;
      verdict->kind = 1;
      verdict->cgroup_id = bpf_get_current_cgroup_id();
      bpf_get_current_comm(verdict->comm, sizeof(verdict->comm));
    }
    if (port_ignored(sk->__sk_common.skc_num) || port_ignored(bpf_ntohs(sk->__sk_common.skc_dport))) return 0;
    struct tcp_sock* tp = bpf_skc_to_tcp_sock(sk);
    if (tp) tcp_seq = (direction ? tp->write_seq : tp->copied_seq) - (__u32)ret;
  }
  struct floor_record* r = bpf_ringbuf_reserve(&floor_events, sizeof(*r), 0);
  if (!r) return 0;
  r->ts_ns = bpf_ktime_get_ns();
  r->pid = id >> 32;
  r->tid = (__u32)id;
  r->ret = ret;
  r->direction = direction;
  r->payload_len = 0;
  if (verdict && regs) {
    r->fd = regs->di;
    r->syscall_nr = regs->orig_ax;
    r->cgroup_id = verdict->cgroup_id;
    __builtin_memcpy(r->comm, verdict->comm, sizeof(r->comm));
    r->sock_id = (__u64)sk;
    r->family = sk->__sk_common.skc_family;
    r->protocol = sk->sk_protocol;
    r->sport = sk->__sk_common.skc_num;
    r->dport = bpf_ntohs(sk->__sk_common.skc_dport);
    __u32 saddr = sk->__sk_common.skc_rcv_saddr, daddr = sk->__sk_common.skc_daddr;
    __builtin_memcpy(r->saddr, &saddr, 4);
    __builtin_memcpy(r->daddr, &daddr, 4);
    r->tcp_seq = tcp_seq;
  }
  if (regs) {
    __u64 want = (__u32)ret;
    if (want > FLOOR_PAYLOAD) want = FLOOR_PAYLOAD;
    barrier_var(want);
    if (want > FLOOR_PAYLOAD) {
      bpf_ringbuf_discard(r, 0);
      return 0;
    }
    if (want && !bpf_probe_read_user(r->payload, want, (const void*)regs->si)) r->payload_len = want;
  }
  bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
  if (floor_level >= 3) {
    __u32 zero = 0;
    __u64* events = bpf_map_lookup_elem(&floor_counters, &zero);
    if (events) *events += 1;
  }
  return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(floor_send, struct sock* sk, int ret, int flags) { return floor_event(sk, ret, 1); }

SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_recv, struct sock* sk, int ret, int flags) { return floor_event(sk, ret, 0); }
