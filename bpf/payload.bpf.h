/* Copying the first bytes of a syscall's user buffers into an event, in shapes the verifier accepts.
 * Include after vmlinux.h, bpf_helpers.h and events.h. */
#ifndef OTELBPF_PAYLOAD_BPF_H
#define OTELBPF_PAYLOAD_BPF_H

/* Bounds of the loops over user-supplied arrays; what lies beyond is not captured (ret still counts it). */
#define OTELBPF_MAX_IOVECS 8
#define OTELBPF_MAX_MMSGS 8

/* Event under construction. The payload area is twice the largest capture so that any write starting
 * below OTELBPF_MAX_PAYLOAD and at most OTELBPF_MAX_PAYLOAD long provably stays inside it. */
struct event_scratch {
  struct otelbpf_event_header hdr;
  __u8 payload[OTELBPF_MAX_PAYLOAD * 2];
};

/* Copies n bytes of user memory to payload + off; off < OTELBPF_MAX_PAYLOAD is the caller's promise.
 * Returns the bytes copied (0 when the user memory is unreadable). */
static __always_inline __u64 copy_user_chunk(__u8* payload, __u64 off, const void* src, __u64 n) {
  off &= OTELBPF_MAX_PAYLOAD - 1;
  if (n > OTELBPF_MAX_PAYLOAD) n = OTELBPF_MAX_PAYLOAD;
  /* Keep clang from folding the clamp into a form the verifier cannot follow. */
  barrier_var(n);
  if (n == 0 || n > OTELBPF_MAX_PAYLOAD) return 0;
  if (bpf_probe_read_user(payload + off, n, src)) return 0;
  return n;
}

/* The event under construction, one per CPU: a program runs to completion on its CPU. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct event_scratch);
} scratch SEC(".maps");

/* Gathers up to `want` bytes (<= OTELBPF_MAX_PAYLOAD) from the first iovecs of a user iovec array
 * (`uiov`, a user address) into this CPU's scratch event payload; returns the bytes gathered.
 * A global function: the verifier checks it once on its own instead of once per caller and per loop
 * iteration of sendmmsg/recvmmsg, which took seconds at load. Its arguments are scalars only, and it
 * finds the scratch event itself: verifiers before 5.13 or so refuse pointer arguments to global
 * functions ("Arg#0 type PTR in gather_user_iovecs() is not supported yet", Debian 5.10). */
__noinline int gather_user_iovecs(__u64 uiov, __u64 iovcnt, __u64 want) {
  __u32 zero = 0;
  struct event_scratch* ev = bpf_map_lookup_elem(&scratch, &zero);
  if (!ev) return 0;
  if (iovcnt > OTELBPF_MAX_IOVECS) iovcnt = OTELBPF_MAX_IOVECS;
  barrier_var(iovcnt);
  if (iovcnt == 0 || iovcnt > OTELBPF_MAX_IOVECS) return 0;
  /* The iovec array in one read (the call itself read all of it, so it is readable): one user copy
   * less per iovec than reading them one by one. */
  struct iovec iovs[OTELBPF_MAX_IOVECS] = {};
  if (bpf_probe_read_user(iovs, iovcnt * sizeof(struct iovec), (const void*)uiov)) return 0;
  __u64 off = 0;
  for (int i = 0; i < OTELBPF_MAX_IOVECS; i++) {
    if (i >= iovcnt || off >= want) break;
    __u64 n = want - off;
    if (iovs[i].iov_len < n) n = iovs[i].iov_len;
    if (n == 0) continue;
    __u64 copied = copy_user_chunk(ev->payload, off, iovs[i].iov_base, n);
    if (copied != n) break;
    off += copied;
  }
  return off;
}

#endif /* OTELBPF_PAYLOAD_BPF_H */
