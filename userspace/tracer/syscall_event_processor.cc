#include "tracer/syscall_event_processor.h"

#include "common/clock.h"
#include "common/proc_file.h"

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <unistd.h>

#include <time.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace otelbpf {
namespace {}  // namespace

SyscallEventProcessor::SyscallEventProcessor(SyscallEventProcessorOptions options, BatchSink sink,
                                             MetricsRegistry& metrics)
    : options_(std::move(options)),
      sink_(std::move(sink)),
      metrics_(metrics),
      table_(options_.max_connections,
             static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.connection_idle).count()),
             [this](Connection& conn, std::uint64_t now_ns) {
               metrics_
                   .counter("otelbpf_tracer_connections_evicted_total",
                            "Connections forgotten for idleness or the bound")
                   .inc();
               close_connection(conn, now_ns);
             }),
      monotonic_to_wall_ns_(monotonic_to_wall_offset_ns()),
      events_(metrics.counter("otelbpf_tracer_events_total", "Syscall events processed")),
      spans_(metrics.counter("otelbpf_tracer_spans_total", "sys spans made from syscall events")),
      non_l7_connections_(metrics.counter("otelbpf_tracer_unrecognised_connections_total",
                                          "Connections whose bytes matched no supported protocol")),
      handler_errors_(metrics.counter("otelbpf_tracer_event_errors_total",
                                      "Kernel events dropped because handling them threw")),
      tls_ciphertext_dropped_(metrics.counter(
          "otelbpf_tracer_tls_ciphertext_events_total",
          "Socket events of TLS connections dropped unparsed (ciphertext; the TLS probes send the plaintext)")) {
  if (options_.host_name.empty()) options_.host_name = host_name();
}

const std::string& SyscallEventProcessor::executable_of(std::uint32_t pid, const std::string& comm) {
  auto it = executables_.find(pid);
  if (it != executables_.end()) return it->second;
  if (executables_.size() > 65536) executables_.clear();
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  // comm and file names are bytes, not text: made valid UTF-8 once here for every span and resource.
  return executables_[pid] = exportable_text(ec ? comm : exe.filename().string());
}

PidNamespace read_pid_namespace(std::uint32_t pid) {
  PidNamespace ns{pid, 0};
  const std::string dir = "/proc/" + std::to_string(pid);
  std::istringstream status(read_proc_file(dir + "/status").value_or(""));
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("NSpid:")) {
      std::istringstream fields(line.substr(6));
      for (std::uint32_t v; fields >> v;) ns.ns_pid = v;  // the innermost namespace is listed last
      break;
    }
  std::error_code ec;
  const auto link = std::filesystem::read_symlink(dir + "/ns/pid", ec).string();  // "pid:[4026531836]"
  if (!ec)
    if (auto open = link.find('['); open != std::string::npos)
      ns.namespace_inode = std::strtoull(link.c_str() + open + 1, nullptr, 10);
  return ns;
}

void SyscallEventProcessor::note_process(std::uint32_t pid, const std::string& comm) {
  if (executables_.contains(pid)) return;
  executable_of(pid, comm);
  if (pid_namespaces_.size() > 65536) pid_namespaces_.clear();
  pid_namespaces_[pid] = read_pid_namespace(pid);
  if (options_.on_new_process) options_.on_new_process(pid);
}

void SyscallEventProcessor::on_event(const otelbpf_event_header& event,
                                     std::span<const std::uint8_t> payload) {
  events_.inc();
  // One bad event (a parser bug, an allocation failure, a hook that throws) costs that event, not the
  // agent: the exception must not unwind through libbpf's C frames into std::terminate.
  try {
    dispatch(event, payload);
  } catch (const std::exception& e) {
    if (handler_errors_.value() == 0 || handler_errors_.value() % 10000 == 0)
      spdlog::warn("syscall tracer: event of pid {} dropped: {}", event.pid, e.what());
    handler_errors_.inc();
  }
}

void SyscallEventProcessor::dispatch(const otelbpf_event_header& event,
                                     std::span<const std::uint8_t> payload) {
  switch (event.type) {
    case OTELBPF_EV_DATA:
      return on_data(event, payload);
    case OTELBPF_EV_ACCEPT:
    case OTELBPF_EV_CONNECT: {
      bool created = false;
      auto& conn = table_.upsert(event, created);
      if (created) note_process(event.pid, conn.comm);
      conn.role_hint = event.type == OTELBPF_EV_ACCEPT ? l7::Role::kServer : l7::Role::kClient;
      return;
    }
    case OTELBPF_EV_CLOSE:
      if (auto conn = table_.take({event.pid, event.sock.sock_id})) close_connection(*conn, event.ts_exit_ns);
      return;
    case OTELBPF_EV_EXIT:
      // Its sockets died with it; and its pid may be reused, so what /proc said of it is forgotten.
      for (auto& conn : table_.take_all_of(event.pid)) close_connection(*conn, event.ts_exit_ns);
      executables_.erase(event.pid);
      pid_namespaces_.erase(event.pid);
      return;
    case OTELBPF_EV_EXEC:
      if (options_.on_exec) options_.on_exec(event.pid);
      return;
    default:
      metrics_.counter("otelbpf_tracer_bad_events_total", "Events of an unknown type from the kernel").inc();
  }
}

void SyscallEventProcessor::on_data(const otelbpf_event_header& event,
                                    std::span<const std::uint8_t> payload) {
  if (event.ret <= 0) return;
  bool created = false;
  auto& conn = table_.upsert(event, created);
  if (created) note_process(event.pid, conn.comm);
  const auto direction =
      event.direction == OTELBPF_DIR_INGRESS ? l7::Direction::kIngress : l7::Direction::kEgress;
  const std::string_view captured(reinterpret_cast<const char*>(payload.data()),
                                  std::min<std::size_t>(payload.size(), event.payload_len));
  if (!admit_tls(conn, event, captured)) return;
  l7::InferenceInput inference;
  inference.first_bytes = captured;
  inference.direction = direction;
  inference.udp = event.sock.protocol == IPPROTO_UDP;
  inference.local_port = event.sock.sport;
  inference.remote_port = event.sock.dport;

  l7::DataChunk chunk;
  chunk.direction = direction;
  chunk.ts_enter_ns = event.ts_enter_ns;
  chunk.ts_exit_ns = event.ts_exit_ns;
  chunk.tid = event.tid;
  chunk.tcp_seq = event.tcp_seq;
  chunk.total_bytes = static_cast<std::uint64_t>(event.ret);
  chunk.captured = captured;
  records_.clear();
  switch (conn.l7.feed(inference, chunk, records_, options_.max_failed_inferences)) {
    case l7::L7Feed::Outcome::kParsed:
      break;
    case l7::L7Feed::Outcome::kGaveUp:
      non_l7_connections_.inc();
      return;
    case l7::L7Feed::Outcome::kUnknownYet:
    case l7::L7Feed::Outcome::kIgnored:
      return;
  }
  const bool message_start = l7::is_message_start(conn.l7.protocol(), inference);

  // Thread links (docs/design.md, Linking, rule 3): reading a request starts the thread's syscall trace id;
  // writing the answer ends it. Any write on a server connection is an answer, whatever the protocol, so it
  // needs no message-start test.
  if (conn.role() == l7::Role::kServer) {
    if (direction == l7::Direction::kIngress && message_start)
      thread_links_.begin_request(event.pid, event.tid, event.ts_enter_ns);
    else if (direction == l7::Direction::kEgress)
      thread_links_.end_request(event.pid, event.tid, event.ts_enter_ns);
  }
  finish_records(conn, records_);
  if (pending_spans_ >= options_.max_batch_spans) flush();
}

bool SyscallEventProcessor::admit_tls(Connection& conn, const otelbpf_event_header& event,
                                      std::string_view captured) {
  if (event.flags & OTELBPF_EVF_TLS) {
    if (conn.tls != Connection::Tls::kPlaintext) {
      // What the connection's socket calls showed before (a PostgreSQL SSLRequest, a MySQL SSL request, a
      // TLS handshake) is not where its plaintext starts: the parser starts again on the decrypted bytes.
      records_.clear();
      conn.l7.restart(event.ts_enter_ns, records_, metrics_, "sys");
      finish_records(conn, records_);
      conn.tls = Connection::Tls::kPlaintext;
    }
    return true;
  }
  if (conn.tls == Connection::Tls::kNone && looks_like_tls_record(captured, !conn.l7.parsing()))
    conn.tls = Connection::Tls::kCiphertext;
  if (conn.tls == Connection::Tls::kNone) return true;
  tls_ciphertext_dropped_.inc();
  return false;
}

void SyscallEventProcessor::finish_records(Connection& conn, std::vector<l7::L7Record>& records) {
  if (records.empty()) return;
  auto [it, inserted] = pending_.try_emplace(conn.key.pid);
  auto& group = it->second;
  if (inserted) {
    // Room for as many as the process had last time, and a quarter more (a sys span is a few hundred
    // bytes, and a growing vector moves them all); a few dozen for a process not seen lately.
    const auto last = last_group_spans_.find(conn.key.pid);
    const std::size_t room = last == last_group_spans_.end() ? 64 : last->second + last->second / 4 + 1;
    group.spans.reserve(std::min<std::size_t>(room, options_.max_batch_spans));
    group.pid = conn.key.pid;
    group.executable = executable_of(conn.key.pid, conn.comm);
    auto& resource = group.resource;
    add_resource_attribute(resource, "service.name", group.executable);
    add_resource_attribute(resource, "process.executable.name", group.executable);
    add_resource_attribute(resource, attr::kProcessPid, std::int64_t{conn.key.pid});
    add_resource_attribute(resource, "host.name", options_.host_name);
    if (auto ns = pid_namespaces_.find(conn.key.pid); ns != pid_namespaces_.end()) {
      if (ns->second.ns_pid != conn.key.pid)
        add_resource_attribute(resource, attr::kNsPid, std::int64_t{ns->second.ns_pid});
      if (ns->second.namespace_inode)
        add_resource_attribute(resource, attr::kPidNamespace, std::to_string(ns->second.namespace_inode));
    }
    // Pod attribution reads the process's cgroup by this id: a short-lived client is gone from /proc by
    // the time its spans reach it.
    if (conn.cgroup_id) add_resource_attribute(resource, attr::kCgroupId, std::to_string(conn.cgroup_id));
  }
  if (conn.local_address_text.empty()) {
    conn.local_address_text = format_address(conn.sock.saddr, conn.sock.family);
    conn.peer_address_text = format_address(conn.sock.daddr, conn.sock.family);
  }
  for (auto& record : records) {
    SysSpanOrigin origin;
    origin.sock = &conn.sock;
    origin.local_address = conn.local_address_text;
    origin.peer_address = conn.peer_address_text;
    origin.monotonic_to_wall_ns = monotonic_to_wall_ns_;
    origin.syscall_trace_id = thread_links_.id_at(conn.key.pid, record.req_tid, record.start_ns);
    origin.tls = conn.tls == Connection::Tls::kPlaintext;
    // The record moves into the span: its attributes are not copied (the caller clears the list).
    auto& span = group.spans.emplace_back();
    fill_sys_span(span, std::move(record), origin, ids_);
    pending_span_bytes_ += approx_resident_bytes(span);  // while the span is in the cache
    ++pending_spans_;
    spans_.inc();
  }
}

void SyscallEventProcessor::close_connection(Connection& conn, std::uint64_t ts_ns) {
  if (!conn.l7.parsing()) return;
  records_.clear();
  conn.l7.close(ts_ns, records_, metrics_, "sys");
  finish_records(conn, records_);
}

void SyscallEventProcessor::flush() {
  if (pending_.empty()) return;
  SpanBatch batch;
  batch.source = SpanSource::kSys;
  batch.sys_groups.reserve(pending_.size());
  constexpr std::size_t kMaxRememberedGroupSizes = 4096;  // processes; beyond, forgotten all at once
  if (last_group_spans_.size() + pending_.size() > kMaxRememberedGroupSizes) last_group_spans_.clear();
  std::size_t bytes = approx_resident_bytes(batch.request()) + pending_span_bytes_;
  for (auto& [pid, group] : pending_) {
    last_group_spans_[pid] = static_cast<std::uint32_t>(group.spans.size());
    bytes += approx_resident_bytes_without_spans(group);
    batch.sys_groups.push_back(std::move(group));
  }
  batch.admission_bytes = bytes;
  pending_.clear();
  pending_spans_ = 0;
  pending_span_bytes_ = 0;
  sink_(std::move(batch));
}

void SyscallEventProcessor::tick() {
  table_.evict_idle(now_monotonic_ns());
  // A connection, its stitcher and the requests it holds until their answers (bounded per protocol).
  constexpr std::size_t kBytesPerConnection = sizeof(Connection) + 2048;
  table_charge_.adjust(options_.memory, table_.size() * kBytesPerConnection);
  monotonic_to_wall_ns_ = monotonic_to_wall_offset_ns();
  metrics_.gauge("otelbpf_tracer_connections", "Connections in the connection table")
      .set(static_cast<std::int64_t>(table_.size()));
  flush();
}

void SyscallEventProcessor::close_all() {
  table_.evict_idle(UINT64_MAX);
  flush();
}

}  // namespace otelbpf
