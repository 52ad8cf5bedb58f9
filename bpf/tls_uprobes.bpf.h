/* TLS plaintext: uprobes on OpenSSL's SSL_read/SSL_write (and the _ex variants) turn the bytes an
 * application hands to or gets from its TLS library into OTELBPF_EV_DATA events flagged OTELBPF_EVF_TLS,
 * so the protocol parsers see HTTP, HTTP/2, PostgreSQL, ... instead of ciphertext. Part of
 * syscalls.bpf.c (one object: the events share its ring buffer, counters and filters); attached per
 * library or executable by userspace/probes/tls_probes.cc (docs/design.md, TLS plaintext).
 *
 * Which socket a plaintext belongs to, in order of trust:
 * 1. a socket call the thread makes inside the SSL call (OpenSSL with a socket BIO: nginx, curl, libpq,
 *    PostgreSQL, Python): its fd, 5-tuple and TCP sequence number. That call's ciphertext is not sent
 *    (the plaintext replaces it) and the SSL* is bound to the socket;
 * 2. the SSL*'s binding from an earlier call, checked against the fd table (the fd still holds that
 *    socket);
 * 3. the thread's last socket call outside any SSL call (libraries with memory BIOs, Node.js: the event
 *    loop reads ciphertext, then SSL_read decrypts it; SSL_write encrypts into memory, then the loop writes
 *    it). The SSL* is bound to that socket for its later calls.
 * The TCP sequence number is the record's: (1) the inner call's; otherwise for SSL_write the socket's
 * write_seq now (the ciphertext of this write is sent next) and for SSL_read the last read's. */
#ifndef OTELBPF_TLS_UPROBES_BPF_H
#define OTELBPF_TLS_UPROBES_BPF_H

/* A TLS record header: OpenSSL (without read-ahead) reads each record as a 5-byte header, then its body. */
#define TLS_RECORD_HEADER_BYTES 5

/* Set by userspace once a TLS uprobe is attached: until then the socket hooks skip the lookup below. */
__u32 tls_uprobes_active;
/* Set by the first SSL call an uprobe sees (of a traced process): until then no thread has TLS state, so the
 * socket hooks skip asking for it (a task storage lookup per TCP call, ~20-25 ns). */
__u32 tls_calls_seen;
/* Set by userspace while it watches for new binaries to attach to (sched_process_exec events). */
__u32 exec_events_enabled;

/* A thread's state for the TLS probes: the SSL call it is in, and its last socket call outside one. */
struct tls_thread {
  __u64 ssl;
  __u64 buf;
  __u64 out_len;     /* size_t* of SSL_read_ex/SSL_write_ex; 0 for SSL_read/SSL_write */
  __u64 ts_enter_ns;
  __u32 depth;       /* SSL calls nested inside the tracked one (a library calling its own API) */
  __u8 active;
  __u8 direction;
  __u8 have_inner;   /* a socket call happened inside the SSL call */
  __u8 have_last;
  __u32 inner_fd;
  __u32 inner_seq;
  /* When the first and the last socket call in the SSL call's direction completed: the bytes' own times
   * (a read's data was there; a write's bytes had left), where SSL_read's entry may precede a wait for
   * data and SSL_write's return probe may run late on a busy CPU. */
  __u64 inner_first_ns;
  __u64 inner_last_ns;
  struct otelbpf_socket_info inner_sock;
  __u32 last_fd;
  __u32 last_seq;
  __u8 last_direction;
  __u8 _pad[7];
  struct otelbpf_socket_info last_sock;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* pid_tgid */
  __type(value, struct tls_thread);
} tls_threads SEC(".maps");
/* The same in the thread's own BPF local storage, where the kernel has it for these programs: with the
 * sock hooks (sock_hooks_loaded, Linux 6.3+; task storage from uprobes is not on every kernel the fallback
 * serves). Every TCP data call of every process asks whether its thread is inside an SSL call, and a task
 * storage lookup answers that without the hash lookup (~20-25 ns per call, bench_probes read/write with
 * and without --no-tls). It also dies with its thread instead of waiting for LRU eviction. */
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct tls_thread);
} tls_thread_storage SEC(".maps");

/* The current thread's TLS state; created when `create` (an SSL call begins), else NULL when it has none. */
static __always_inline struct tls_thread* current_tls_thread(__u64 pid_tgid, bool create) {
  if (sock_hooks_loaded)
    return bpf_task_storage_get(&tls_thread_storage, bpf_get_current_task_btf(), NULL,
                                create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
  struct tls_thread* t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
  if (!t && create) {
    struct tls_thread fresh = {};
    bpf_map_update_elem(&tls_threads, &pid_tgid, &fresh, BPF_NOEXIST);
    t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
  }
  return t;
}

struct ssl_key {
  __u64 ssl;
  __u32 tgid;
  __u32 _pad;
};
struct ssl_socket {
  __u32 fd;
  __u32 _pad;
  struct otelbpf_socket_info sock;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ssl_key);
  __type(value, struct ssl_socket);
} ssl_sockets SEC(".maps");

/* A TLS socket's records read under SSL_read and not yet returned as plaintext, by where they start, for
 * the sequence numbers of the plaintext: OpenSSL with read-ahead (nginx) reads many records in one socket
 * call and returns them one SSL_read at a time, with no socket call under the later ones.
 * Memory-BIO libraries (Node.js) are not covered here: they read and write ciphertext outside SSL calls,
 * and what SSL_write encrypted may wait in memory behind handshake records the probes do not see; their
 * plaintext keeps the socket's position (rule 3 above), the same at both ends when both use one. */
#define TLS_MAX_QUEUED_RECORDS 8
#define TLS_MAX_RECORD_BYTES (TLS_RECORD_HEADER_BYTES + 16384 + 2048)
struct socket_key {
  __u64 sock_id;
  __u32 tgid;
  __u32 _pad;
};
struct tls_records {
  __u32 next_header; /* sequence number where the next record header starts */
  __u8 valid;
  __u8 count;
  __u8 _pad[2];
  __u32 seq[TLS_MAX_QUEUED_RECORDS];
  __u16 len[TLS_MAX_QUEUED_RECORDS]; /* the record's length field (ciphertext after the header) */
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct socket_key);
  __type(value, struct tls_records);
} tls_socket_records SEC(".maps");

static __always_inline struct tls_records* socket_records(__u64 sock_id, __u32 tgid) {
  struct socket_key key = {.sock_id = sock_id, .tgid = tgid};
  struct tls_records* q = bpf_map_lookup_elem(&tls_socket_records, &key);
  if (q) return q;
  struct tls_records fresh = {};
  bpf_map_update_elem(&tls_socket_records, &key, &fresh, BPF_NOEXIST);
  return bpf_map_lookup_elem(&tls_socket_records, &key);
}

/* A socket closed: its records go (another socket may reuse its address). */
static __always_inline void forget_socket_records(__u64 sock_id, __u32 tgid) {
  if (!tls_uprobes_active || !tls_calls_seen) return;
  struct socket_key key = {.sock_id = sock_id, .tgid = tgid};
  bpf_map_delete_elem(&tls_socket_records, &key);
}

static __always_inline void bind_ssl(__u64 ssl, __u32 tgid, __u32 fd, const struct otelbpf_socket_info* sock) {
  struct ssl_key key = {.ssl = ssl, .tgid = tgid};
  struct ssl_socket value = {.fd = fd};
  value.sock = *sock;
  bpf_map_update_elem(&ssl_sockets, &key, &value, BPF_ANY);
}


static __always_inline void drop_oldest_record(struct tls_records* q) {
  /* Constant indices only (unrolled): verifiers before 6.18 lose the bounds of a variable index here. */
#pragma unroll
  for (int k = 0; k < TLS_MAX_QUEUED_RECORDS - 1; k++) {
    q->seq[k] = q->seq[k + 1];
    q->len[k] = q->len[k + 1];
  }
  if (q->count) q->count--;
}

static __always_inline void push_record(struct tls_records* q, __u32 seq, __u16 len) {
  /* Full (records never returned as plaintext: alerts, tickets): the oldest goes. */
  if (q->count >= TLS_MAX_QUEUED_RECORDS) drop_oldest_record(q);
  const __u8 count = q->count;
#pragma unroll
  for (int k = 0; k < TLS_MAX_QUEUED_RECORDS; k++)
    if (k == count) {
      q->seq[k] = seq;
      q->len[k] = len;
    }
  q->count = count + 1;
}

/* A TLS socket read of `bytes` at `seq` into the user buffer `buf`: queue the records whose headers it
 * holds. A read that starts inside a record (its body, after a 5-byte header read) only moves on. */
static __always_inline void queue_read_records(__u64 sock_id, __u32 tgid, __u32 seq, __u64 buf, long bytes) {
  if (!buf || bytes <= 0) return;
  struct tls_records* q = socket_records(sock_id, tgid);
  if (!q) return;
  __u32 offset = 0;
  if (q->valid) {
    const __s32 ahead = (__s32)(q->next_header - seq);
    if (ahead < 0 || ahead > TLS_MAX_RECORD_BYTES) {
      /* Bytes went by unseen, or the state is an earlier socket's at the same address: start again here. */
      q->count = 0;
    } else if (ahead >= (__s32)bytes) {
      return; /* all of it is the body of a record already queued */
    } else {
      offset = (__u32)ahead;
    }
  }
  for (int i = 0; i < TLS_MAX_QUEUED_RECORDS; i++) {
    if (offset + TLS_RECORD_HEADER_BYTES > (__u64)bytes) break;
    __u8 header[TLS_RECORD_HEADER_BYTES];
    if (bpf_probe_read_user(header, sizeof(header), (const void*)(buf + offset))) break;
    const __u16 len = ((__u16)header[3] << 8) | header[4];
    push_record(q, seq + offset, len);
    offset += TLS_RECORD_HEADER_BYTES + len;
  }
  q->next_header = seq + offset;
  q->valid = 1;
}

/* The record an SSL_read's plaintext of `bytes` came from: the oldest queued record whose length is that
 * plaintext plus an AEAD cipher's overhead (TLS 1.3: 16-byte tag + content type; TLS 1.2 GCM: 8-byte
 * explicit nonce + tag; ChaCha20-Poly1305: tag). Records before it (session tickets, alerts) are dropped. */
static __always_inline bool take_read_record(__u64 sock_id, __u32 tgid, long bytes, __u32* seq) {
  struct socket_key key = {.sock_id = sock_id, .tgid = tgid};
  struct tls_records* q = bpf_map_lookup_elem(&tls_socket_records, &key);
  if (!q) return false;
  const __u8 count = q->count;
  int taken = 0;
  __u32 found_seq = 0;
#pragma unroll
  for (int k = 0; k < TLS_MAX_QUEUED_RECORDS; k++) {
    const long overhead = (long)q->len[k] - bytes;
    if (!taken && k < count && (overhead == 16 || overhead == 17 || overhead == 24)) {
      taken = k + 1;
      found_seq = q->seq[k];
    }
  }
  if (!taken) return false;
  *seq = found_seq;
#pragma unroll
  for (int k = 0; k < TLS_MAX_QUEUED_RECORDS; k++)
    if (k < taken) drop_oldest_record(q);
  return true;
}

/* Called by the socket-call paths for every TCP data call once the TLS probes are attached. True when the
 * call runs inside an SSL call: its bytes are ciphertext the plaintext event replaces, so it is not sent.
 * Otherwise a thread that uses TLS remembers it as its last socket call (rule 3 above).
 * The record's sequence number (the plaintext event's tcp_seq): for SSL_write the first write inside the
 * call; for SSL_read the header read of the last record read inside the call, since the records before it
 * (TLS 1.3 session tickets, for one) carried no application data. */
static __always_inline bool tls_claim_socket_call(__u64 pid_tgid, __u64 fd, const struct otelbpf_socket_info* sock,
                                                  __u32 tcp_seq, __u8 direction, long bytes, __u64 now_ns,
                                                  __u64 flat_buf) {
  if (!tls_uprobes_active || !tls_calls_seen || sock->protocol != IPPROTO_TCP) return false;
  struct tls_thread* t = current_tls_thread(pid_tgid, false);
  if (!t) return false;
  if (t->active) {
    const bool own_direction = direction == t->direction;
    if (!t->have_inner) {
      t->inner_fd = fd;
      t->inner_sock = *sock;
    }
    /* have_inner: 0 nothing yet, 2 only calls in the other direction, 1 the record's start is known. */
    if (own_direction && (t->have_inner != 1 || (direction == OTELBPF_DIR_INGRESS &&
                                                  bytes == TLS_RECORD_HEADER_BYTES))) {
      if (t->have_inner != 1) t->inner_first_ns = now_ns;
      t->inner_seq = tcp_seq;
      t->have_inner = 1;
    } else if (!t->have_inner) {
      t->have_inner = 2;
    }
    if (own_direction) t->inner_last_ns = now_ns;
    if (own_direction && direction == OTELBPF_DIR_INGRESS)
      queue_read_records(sock->sock_id, pid_tgid >> 32, tcp_seq, flat_buf, bytes);
    count(OTELBPF_CNT_TLS_CIPHERTEXT);
    return true;
  }
  t->have_last = 1;
  t->last_fd = fd;
  t->last_seq = tcp_seq;
  t->last_direction = direction;
  t->last_sock = *sock;
  return false;
}

static __always_inline int tls_enter(__u8 direction, __u64 ssl, __u64 buf, __u64 out_len) {
  __u64 id = bpf_get_current_pid_tgid();
  if (!pass_task_filters(id)) return 0;
  if (!tls_calls_seen) tls_calls_seen = 1;
  struct tls_thread* t = current_tls_thread(id, true);
  if (!t) return 0;
  if (t->active) {
    t->depth++;
    return 0;
  }
  t->active = 1;
  t->depth = 0;
  t->direction = direction;
  t->ssl = ssl;
  t->buf = buf;
  t->out_len = out_len;
  t->have_inner = 0;
  t->inner_last_ns = 0;
  t->ts_enter_ns = bpf_ktime_get_ns();
  return 0;
}

/* The socket of a binding, if its fd still holds it in this process. */
static __always_inline struct sock* bound_socket(const struct ssl_socket* b) {
  enum fd_kind kind;
  struct sock* sk = fd_to_inet_sock(b->fd, &kind);
  return sk && (__u64)sk == b->sock.sock_id ? sk : NULL;
}

static __always_inline int tls_return(void* ctx, long rc) {
  __u64 id = bpf_get_current_pid_tgid();
  struct tls_thread* t = current_tls_thread(id, false);
  if (!t || !t->active) return 0;
  if (t->depth) {
    t->depth--;
    return 0;
  }
  t->active = 0;

  /* SSL_read/SSL_write return an int: bytes, or <= 0 on error or "want read/write". The _ex variants
   * return 1 on success with the byte count in *out_len. */
  __s64 bytes = (int)rc;
  if (t->out_len) {
    if ((int)rc != 1) return 0;
    __u64 n = 0;
    if (bpf_probe_read_user(&n, sizeof(n), (const void*)t->out_len)) return 0;
    bytes = (__s64)n;
  }
  if (bytes <= 0) return 0;

  struct inflight_syscall in = {};
  in.ts_enter_ns = t->ts_enter_ns;
  in.direction = t->direction;
  in.syscall = t->direction == OTELBPF_DIR_EGRESS ? OTELBPF_SYS_SSL_WRITE : OTELBPF_SYS_SSL_READ;
  __u64 ts_exit = bpf_ktime_get_ns();
  struct sock* sk = NULL;
  bool seq_known = false;
  if (t->have_inner == 1) {
    if (t->direction == OTELBPF_DIR_INGRESS && t->inner_first_ns >= in.ts_enter_ns)
      in.ts_enter_ns = t->inner_first_ns;
    else if (t->direction == OTELBPF_DIR_EGRESS && t->inner_last_ns && t->inner_last_ns <= ts_exit)
      ts_exit = t->inner_last_ns;
  }
  if (t->have_inner) {
    in.fd = t->inner_fd;
    in.sock = t->inner_sock;
    bind_ssl(t->ssl, id >> 32, t->inner_fd, &t->inner_sock);
    if (t->have_inner == 1) {
      in.tcp_seq = t->inner_seq;
      seq_known = true;
    } else {
      enum fd_kind kind;
      sk = fd_to_inet_sock(t->inner_fd, &kind);
    }
  } else {
    struct ssl_key key = {.ssl = t->ssl, .tgid = id >> 32};
    struct ssl_socket* b = bpf_map_lookup_elem(&ssl_sockets, &key);
    sk = b ? bound_socket(b) : NULL;
    if (b && sk) {
      in.fd = b->fd;
      in.sock = b->sock;
    } else if (t->have_last) {
      in.fd = t->last_fd;
      in.sock = t->last_sock;
      bind_ssl(t->ssl, id >> 32, t->last_fd, &t->last_sock);
      enum fd_kind kind;
      sk = fd_to_inet_sock(t->last_fd, &kind);
    } else {
      count(OTELBPF_CNT_TLS_UNBOUND);
      return 0;
    }
  }
  /* A read: the record the plaintext came from, when its header was read under an SSL_read. */
  if (t->direction == OTELBPF_DIR_INGRESS && take_read_record(in.sock.sock_id, id >> 32, bytes, &in.tcp_seq))
    seq_known = true;
  if (!seq_known) {
    if (t->direction == OTELBPF_DIR_INGRESS && t->have_last && t->last_direction == OTELBPF_DIR_INGRESS &&
        t->last_sock.sock_id == in.sock.sock_id)
      in.tcp_seq = t->last_seq;
    else if (sk)
      in.tcp_seq = tcp_next_seq(sk, t->direction);
  }
  if (!pass_port_filters(&in.sock)) return 0;

  struct event_scratch* ev = start_event(&in, OTELBPF_EV_DATA, id, bytes, ts_exit, NULL);
  if (!ev) return 0;
  ev->hdr.flags = OTELBPF_EVF_TLS;
  __u64 want = capture_limit();
  if ((__u64)bytes < want) want = bytes;
  __u64 captured = copy_user_chunk(ev->payload, 0, (const void*)t->buf, want);
  count(OTELBPF_CNT_TLS_EVENTS);
  submit_event(ctx, ev, captured);
  return 0;
}

/* int SSL_write(SSL *ssl, const void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void* ssl, const void* buf) {
  return tls_enter(OTELBPF_DIR_EGRESS, (__u64)ssl, (__u64)buf, 0);
}
/* int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written) */
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void* ssl, const void* buf, __u64 num, __u64* written) {
  return tls_enter(OTELBPF_DIR_EGRESS, (__u64)ssl, (__u64)buf, (__u64)written);
}
/* int SSL_read(SSL *ssl, void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void* ssl, void* buf) {
  return tls_enter(OTELBPF_DIR_INGRESS, (__u64)ssl, (__u64)buf, 0);
}
/* int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void* ssl, void* buf, __u64 num, __u64* readbytes) {
  return tls_enter(OTELBPF_DIR_INGRESS, (__u64)ssl, (__u64)buf, (__u64)readbytes);
}
/* The return of all four (the entry recorded which one it was). */
SEC("uretprobe")
int BPF_KRETPROBE(ssl_return, long rc) { return tls_return(ctx, rc); }

/* New processes, for the TLS probes to look at their executable and libraries. */
SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(void* ctx) {
  if (!exec_events_enabled) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  if (!pass_task_filters(id)) return 0;
  submit_process_event(ctx, id, OTELBPF_EV_EXEC);
  return 0;
}

#endif /* OTELBPF_TLS_UPROBES_BPF_H */
