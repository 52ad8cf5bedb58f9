/* Socket identity for a file descriptor of the current task, read in the kernel (CO-RE).
 * Include after vmlinux.h, bpf_helpers.h, bpf_core_read.h and events.h. */
#ifndef OTELBPF_SOCK_HELPERS_BPF_H
#define OTELBPF_SOCK_HELPERS_BPF_H

/* Macros that vmlinux.h cannot carry (it only has types and enums). */
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef S_IFMT
#define S_IFMT 00170000
#endif
#ifndef S_IFSOCK
#define S_IFSOCK 0140000
#endif

enum fd_kind {
  FD_INET_SOCKET = 0, /* AF_INET/AF_INET6 with TCP or UDP: traced */
  FD_NOT_SOCKET,      /* file, pipe, eventfd, ...: or not an open fd at all */
  FD_OTHER_SOCKET,    /* unix, netlink, raw, SCTP, ...: not traced */
};

/* Set by the loader when it chose the sock hooks (Linux 6.3+, so bpf_get_current_task_btf, 5.11+, is
 * there): fd lookups reach the fd table with plain loads (fd_to_file_btf), close's event leaves from its
 * entry, sys_exit_close not attached (syscalls.bpf.c, close_at_entry), and the TLS probes keep their
 * per-thread state in task storage (tls_uprobes.bpf.h). Rodata: on older kernels the verifier never sees
 * those branches. */
const volatile __u32 sock_hooks_loaded = 0;

static __always_inline struct file* fd_to_file(__u64 fd) {
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return NULL;
  /* The fd came from a syscall argument: it may be anything, the table bounds the read. */
  if (fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file** fds = BPF_CORE_READ(fdt, fd);
  struct file* file = NULL;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd])) return NULL;
  return file;
}

/* fd_to_file through the task's BTF pointer: task, files and fdtable are plain loads, where fd_to_file
 * reads each with bpf_probe_read_kernel (five calls and a bpf_get_current_task). The slot itself, an array
 * element indexed by a syscall argument, is out of reach of BTF loads. close() on every fd of the node
 * comes through here. */
static __always_inline struct file* fd_to_file_btf(__u64 fd) {
  struct task_struct* task = bpf_get_current_task_btf();
  struct files_struct* files = task->files;
  if (!files) return NULL;
  struct fdtable* fdt = files->fdt;
  if (!fdt || fd >= fdt->max_fds) return NULL;
  struct file** fds = fdt->fd;
  struct file* file = NULL;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd])) return NULL;
  return file;
}

/* Returns the struct sock behind fd when it is a TCP or UDP socket over IPv4/IPv6, else NULL and why.
 * `any_sk` (optional) receives the struct sock of any socket, traced or not (for the verdict cache). */
static __always_inline struct sock* fd_to_sock(__u64 fd, enum fd_kind* kind, struct sock** any_sk) {
  *kind = FD_NOT_SOCKET;
  struct file* file = sock_hooks_loaded ? fd_to_file_btf(fd) : fd_to_file(fd);
  if (!file) return NULL;
  /* The inode mode is the one check that holds for every socket type; f_op would need the
   * address of socket_file_ops, which is not in BTF. */
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) return NULL;
  *kind = FD_OTHER_SOCKET;
  struct socket* socket = (struct socket*)BPF_CORE_READ(file, private_data);
  if (!socket) return NULL;
  struct sock* sk = BPF_CORE_READ(socket, sk);
  if (!sk) return NULL;
  if (any_sk) *any_sk = sk;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return NULL;
  __u16 protocol = BPF_CORE_READ(sk, sk_protocol);
  if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) return NULL;
  *kind = FD_INET_SOCKET;
  return sk;
}

static __always_inline struct sock* fd_to_inet_sock(__u64 fd, enum fd_kind* kind) {
  return fd_to_sock(fd, kind, NULL);
}

static __always_inline void read_socket_info(struct sock* sk, struct otelbpf_socket_info* out) {
  __builtin_memset(out, 0, sizeof(*out));
  out->sock_id = (__u64)sk;
  out->family = BPF_CORE_READ(sk, __sk_common.skc_family);
  out->protocol = (__u8)BPF_CORE_READ(sk, sk_protocol);
  out->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  out->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  /* bpf_core_read() with explicit sizes: the destinations are byte arrays, BPF_CORE_READ_INTO would
   * copy only sizeof(*dst) == 1 byte. */
  if (out->family == AF_INET) {
    bpf_core_read(out->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
    bpf_core_read(out->daddr, 4, &sk->__sk_common.skc_daddr);
  } else {
    bpf_core_read(out->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
    bpf_core_read(out->daddr, 16, &sk->__sk_common.skc_v6_daddr);
  }
}

/* Sequence number of the next byte this process writes (egress) or reads (ingress) on a TCP socket. */
static __always_inline __u32 tcp_next_seq(struct sock* sk, __u8 direction) {
  struct tcp_sock* tp = (struct tcp_sock*)sk;
  if (direction == OTELBPF_DIR_EGRESS) return BPF_CORE_READ(tp, write_seq);
  return BPF_CORE_READ(tp, copied_seq);
}

/* Fills the remote end from a user sockaddr (sendto/recvfrom/msg_name): an unconnected UDP socket
 * has no peer in struct sock, the syscall argument is the only place DNS queries name their server. */
static __always_inline void peer_from_user_sockaddr(const void* uaddr, struct otelbpf_socket_info* info) {
  if (!uaddr) return;
  __u16 family = 0;
  if (bpf_probe_read_user(&family, sizeof(family), uaddr)) return;
  if (family == AF_INET) {
    struct sockaddr_in sin = {};
    if (bpf_probe_read_user(&sin, sizeof(sin), uaddr)) return;
    __builtin_memset(info->daddr, 0, sizeof(info->daddr));
    __builtin_memcpy(info->daddr, &sin.sin_addr.s_addr, 4);
    info->dport = bpf_ntohs(sin.sin_port);
  } else if (family == AF_INET6) {
    struct sockaddr_in6 sin6 = {};
    if (bpf_probe_read_user(&sin6, sizeof(sin6), uaddr)) return;
    __builtin_memcpy(info->daddr, &sin6.sin6_addr.in6_u.u6_addr8, 16);
    info->dport = bpf_ntohs(sin6.sin6_port);
  }
}

#endif /* OTELBPF_SOCK_HELPERS_BPF_H */
