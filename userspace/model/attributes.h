#pragma once
// The agent's own attribute names (docs/design.md, Span sources), in one place for every part that writes
// or reads them: the span builders, the assembler, pod attribution. Semantic-convention names are written
// where they are used.
namespace otelbpf::attr {

inline constexpr const char* kSpanSource = "otelbpf.span.source";
inline constexpr const char* kSyscallTraceId = "otelbpf.syscall_trace_id";
inline constexpr const char* kTraceContextSource = "otelbpf.trace_context.source";
inline constexpr const char* kL7Protocol = "otelbpf.l7.protocol";
// true on sys spans made of TLS plaintext (the TLS probes: SSL_read/SSL_write uprobes).
inline constexpr const char* kTls = "otelbpf.tls";
// Gateway routing (docs/gateway.md): the stitch key of the call a span waits on, set by a node agent's
// assembler on the spans it sends to the gateway tier; and on the copies of the client end of such a call
// (sys CLIENT and its net spans), which the gateway uses to link and does not export.
inline constexpr const char* kGatewayKey = "otelbpf.gateway.key";
inline constexpr const char* kGatewayReference = "otelbpf.gateway.reference";
inline constexpr const char* kReqSeq = "otelbpf.tcp.req_seq";
inline constexpr const char* kRespSeq = "otelbpf.tcp.resp_seq";
inline constexpr const char* kOriginalParent = "otelbpf.original_parent_span_id";
inline constexpr const char* kProcessPid = "process.pid";
// Resource attributes of sys spans: what /proc and the kernel said of the process.
inline constexpr const char* kNsPid = "otelbpf.process.ns_pid";
inline constexpr const char* kPidNamespace = "otelbpf.process.pid_namespace";
inline constexpr const char* kCgroupId = "otelbpf.cgroup.id";
// net spans: where the packets were seen.
inline constexpr const char* kTapInterface = "otelbpf.tap.interface";
inline constexpr const char* kTapSide = "otelbpf.tap.side";
inline constexpr const char* kTunnelType = "otelbpf.tunnel.type";
inline constexpr const char* kTunnelVni = "otelbpf.tunnel.vni";
inline constexpr const char* kTunnelKey = "otelbpf.tunnel.gre_key";
inline constexpr const char* kOuterSrc = "otelbpf.tunnel.outer.src_address";
inline constexpr const char* kOuterDst = "otelbpf.tunnel.outer.dst_address";
inline constexpr const char* kRetransmissions = "otelbpf.tcp.retransmissions";
inline constexpr const char* kZeroWindows = "otelbpf.tcp.zero_windows";

}  // namespace otelbpf::attr
