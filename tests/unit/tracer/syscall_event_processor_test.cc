// The tracer's userspace half driven with events shaped exactly as the kernel emits them: connection
// roles, HTTP pairing into sys spans, socket attributes, sequence numbers, thread links, connections that
// predate the agent, closes and the connection bound.
#include "tracer/syscall_event_processor.h"

#include "spans/sys_span_export.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <unistd.h>

namespace otelbpf {
namespace {

struct Recorder {
  std::vector<otlp::Span> spans;
  std::vector<otlp::Resource> resources;
  void operator()(SpanBatch batch) {
    EXPECT_EQ(batch.source, SpanSource::kSys);
    EXPECT_EQ(batch.request().resource_spans_size(), 0);  // compact sys spans, exported by the assembler
    // The bytes the pipeline charges at admission, summed span by span as they were made: what a walk of
    // the whole batch estimates.
    EXPECT_EQ(batch.admission_bytes, approx_resident_bytes(batch));
    export_sys_groups(batch);
    for (const auto& rs : batch.request().resource_spans())
      for (const auto& ss : rs.scope_spans())
        for (const auto& s : ss.spans()) {
          spans.push_back(s);
          resources.push_back(rs.resource());
        }
  }
};

const otlp::AnyValue* attr(const otlp::Span& s, std::string_view key) {
  for (const auto& kv : s.attributes())
    if (kv.key() == key) return &kv.value();
  return nullptr;
}

// Event timestamps are CLOCK_MONOTONIC like bpf_ktime_get_ns(), offset from the test's start, so the
// processor's idle eviction (which compares with the real clock) treats them as fresh.
std::uint64_t monotonic_base() {
  static const std::uint64_t base = [] {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
  }();
  return base;
}

class EventFactory {
 public:
  EventFactory(std::uint32_t pid, std::uint64_t sock_id, const char* local, std::uint16_t lport,
               const char* remote, std::uint16_t rport) {
    h_.pid = pid;
    h_.sock.sock_id = sock_id;
    h_.sock.family = AF_INET;
    h_.sock.protocol = IPPROTO_TCP;
    inet_pton(AF_INET, local, h_.sock.saddr);
    inet_pton(AF_INET, remote, h_.sock.daddr);
    h_.sock.sport = lport;
    h_.sock.dport = rport;
    std::strncpy(h_.comm, "testproc", sizeof h_.comm);
    h_.cgroup_id = 4242;  // bpf_get_current_cgroup_id()
  }
  otelbpf_event_header open(std::uint32_t type, std::uint64_t ts) {
    auto h = h_;
    h.type = type;
    h.tid = h_.pid;
    h.ts_enter_ns = h.ts_exit_ns = monotonic_base() + ts;
    return h;
  }
  otelbpf_event_header data(std::uint8_t dir, std::uint32_t tid, std::uint64_t ts, std::uint32_t seq,
                            std::size_t len) {
    auto h = h_;
    h.type = OTELBPF_EV_DATA;
    h.tid = tid;
    h.direction = dir;
    h.ts_enter_ns = monotonic_base() + ts;
    h.ts_exit_ns = monotonic_base() + ts + 10;
    h.tcp_seq = seq;
    h.ret = static_cast<std::int64_t>(len);
    h.payload_len = static_cast<std::uint32_t>(len);
    return h;
  }

 private:
  otelbpf_event_header h_{};
};

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(SyscallEventProcessor, ServerRequestWithOutboundCallOnTheSameThread) {
  MetricsRegistry metrics;
  Recorder out;
  SyscallEventProcessor processor({}, std::ref(out), metrics);
  EventFactory inbound(100, 0xaaa, "10.0.0.2", 8080, "10.0.0.9", 40000);
  EventFactory outbound(100, 0xbbb, "10.0.0.2", 50000, "10.0.0.7", 3306);

  const std::string request =
      "GET /orders/7?x=1 HTTP/1.1\r\nHost: shop\r\ntraceparent: "
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
  const std::string call = "POST /stock HTTP/1.1\r\nHost: stock\r\nContent-Length: 2\r\n\r\n{}";
  const std::string call_response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const std::string response = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy!";

  auto accept = inbound.open(OTELBPF_EV_ACCEPT, 900);
  processor.on_event(accept, {});
  processor.on_event(inbound.data(OTELBPF_DIR_INGRESS, 101, 1000, 5000, request.size()), bytes(request));
  auto connect = outbound.open(OTELBPF_EV_CONNECT, 1100);
  processor.on_event(connect, {});
  processor.on_event(outbound.data(OTELBPF_DIR_EGRESS, 101, 1200, 7000, call.size()), bytes(call));
  processor.on_event(outbound.data(OTELBPF_DIR_INGRESS, 101, 1300, 9000, call_response.size()),
                     bytes(call_response));
  processor.on_event(inbound.data(OTELBPF_DIR_EGRESS, 101, 1400, 6000, response.size()), bytes(response));
  processor.tick();

  ASSERT_EQ(out.spans.size(), 2u);
  const auto& client = out.spans[0];
  const auto& server = out.spans[1];
  EXPECT_EQ(client.kind(), otlp::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(client.name(), "POST /stock");
  EXPECT_EQ(attr(client, "network.peer.address")->string_value(), "10.0.0.7");
  EXPECT_EQ(attr(client, "network.peer.port")->int_value(), 3306);
  EXPECT_EQ(attr(client, "otelbpf.tcp.req_seq")->int_value(), 7000);
  EXPECT_EQ(attr(client, "otelbpf.tcp.resp_seq")->int_value(), 9000);
  EXPECT_EQ(server.kind(), otlp::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(attr(server, "http.request.method")->string_value(), "GET");
  EXPECT_EQ(attr(server, "url.path")->string_value(), "/orders/7");
  EXPECT_EQ(attr(server, "http.response.status_code")->int_value(), 503);
  EXPECT_EQ(server.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(attr(server, "server.port")->int_value(), 8080);
  EXPECT_EQ(attr(server, "client.address")->string_value(), "10.0.0.9");
  EXPECT_EQ(attr(server, "thread.id")->int_value(), 101);
  // client.* name the far end of a server's connection; a client's span has its own end in network.local.*.
  EXPECT_EQ(attr(client, "client.address"), nullptr);
  EXPECT_EQ(attr(client, "network.local.address")->string_value(), "10.0.0.2");
  // The process is the resource's (an integer pid, as the semantic conventions have it), not each span's.
  EXPECT_EQ(attr(server, "process.pid"), nullptr);
  EXPECT_EQ(attr(server, "process.executable.name"), nullptr);
  EXPECT_EQ(attr(server, "otelbpf.req.bytes")->int_value(), static_cast<std::int64_t>(request.size()));
  EXPECT_EQ(attr(server, "otelbpf.resp.bytes")->int_value(), static_cast<std::int64_t>(response.size()));
  // The trace context the request carried names the trace and the parent.
  EXPECT_EQ(server.trace_id(),
            std::string("\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c", 16));
  EXPECT_EQ(server.parent_span_id(), std::string("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8));
  // Timing: request read start to response write end, in wall-clock time.
  EXPECT_EQ(server.end_time_unix_nano() - server.start_time_unix_nano(), 1410u - 1000u);
  // Thread link: the outbound call shares the inbound request's syscall trace id.
  ASSERT_NE(attr(server, "otelbpf.syscall_trace_id"), nullptr);
  ASSERT_NE(attr(client, "otelbpf.syscall_trace_id"), nullptr);
  EXPECT_EQ(attr(server, "otelbpf.syscall_trace_id")->string_value(),
            attr(client, "otelbpf.syscall_trace_id")->string_value());
  EXPECT_EQ(metrics.value("otelbpf_tracer_spans_total"), 2);
  // The process's cgroup as the kernel saw it, for pod attribution after the process is gone.
  const auto& resource = out.resources[1];
  const auto pid = std::find_if(resource.attributes().begin(), resource.attributes().end(),
                                [](const auto& kv) { return kv.key() == "process.pid"; });
  ASSERT_NE(pid, resource.attributes().end());
  EXPECT_EQ(pid->value().int_value(), 100);
  const auto cgroup = std::find_if(resource.attributes().begin(), resource.attributes().end(),
                                   [](const auto& kv) { return kv.key() == "otelbpf.cgroup.id"; });
  ASSERT_NE(cgroup, resource.attributes().end());
  EXPECT_EQ(cgroup->value().string_value(), "4242");
}

TEST(SyscallEventProcessor, CallsAfterTheAnswerAreNotChildren) {
  Recorder out;
  MetricsRegistry metrics;
  SyscallEventProcessor processor({}, std::ref(out), metrics);
  EventFactory inbound(1, 1, "127.0.0.1", 80, "127.0.0.1", 1234);
  EventFactory later(1, 2, "127.0.0.1", 1235, "127.0.0.1", 81);
  const std::string req = "GET / HTTP/1.1\r\n\r\n", resp = "HTTP/1.1 204 No Content\r\n\r\n";
  processor.on_event(inbound.open(OTELBPF_EV_ACCEPT, 1), {});
  processor.on_event(inbound.data(OTELBPF_DIR_INGRESS, 7, 10, 1, req.size()), bytes(req));
  processor.on_event(inbound.data(OTELBPF_DIR_EGRESS, 7, 20, 1, resp.size()), bytes(resp));
  processor.on_event(later.data(OTELBPF_DIR_EGRESS, 7, 30, 1, req.size()), bytes(req));
  processor.on_event(later.data(OTELBPF_DIR_INGRESS, 7, 40, 1, resp.size()), bytes(resp));
  processor.tick();
  ASSERT_EQ(out.spans.size(), 2u);
  EXPECT_NE(attr(out.spans[0], "otelbpf.syscall_trace_id"), nullptr);
  EXPECT_EQ(attr(out.spans[1], "otelbpf.syscall_trace_id"), nullptr);
}

TEST(SyscallEventProcessor, ConnectionOpenedBeforeTheAgentIsPickedUpAtTheNextMessage) {
  Recorder out;
  MetricsRegistry metrics;
  SyscallEventProcessor processor({}, std::ref(out), metrics);
  EventFactory conn(5, 9, "127.0.0.1", 8080, "127.0.0.1", 4444);
  // No accept seen; the first bytes are the tail of a body already in flight.
  const std::string tail = "ody of a previous request}";
  const std::string req = "PUT /item HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                    resp = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  processor.on_event(conn.data(OTELBPF_DIR_INGRESS, 5, 10, 100, tail.size()), bytes(tail));
  processor.on_event(conn.data(OTELBPF_DIR_INGRESS, 5, 20, 126, req.size()), bytes(req));
  processor.on_event(conn.data(OTELBPF_DIR_EGRESS, 5, 30, 1, resp.size()), bytes(resp));
  processor.tick();
  ASSERT_EQ(out.spans.size(), 1u);
  EXPECT_EQ(out.spans[0].kind(), otlp::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(attr(out.spans[0], "http.response.status_code")->int_value(), 201);
}

TEST(SyscallEventProcessor, AProcessThatExitsWithoutClosingEndsItsConnectionsAtOnce) {
  // busybox httpd answers HTTP/1.0 without Content-Length: the answer ends when the connection does, and
  // the forked child exits without close(). Its exit must end the exchange; another process's connection
  // stays.
  Recorder out;
  MetricsRegistry metrics;
  SyscallEventProcessor processor({}, std::ref(out), metrics);
  EventFactory server(7, 21, "127.0.0.1", 8080, "127.0.0.1", 40000);
  EventFactory other(8, 22, "127.0.0.1", 8081, "127.0.0.1", 40001);
  const std::string req = "GET /vmtest/hello HTTP/1.0\r\n\r\n";
  const std::string resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n";
  processor.on_event(server.open(OTELBPF_EV_ACCEPT, 1), {});
  processor.on_event(server.data(OTELBPF_DIR_INGRESS, 7, 10, 100, req.size()), bytes(req));
  processor.on_event(server.data(OTELBPF_DIR_EGRESS, 7, 20, 500, resp.size()), bytes(resp));
  processor.on_event(other.open(OTELBPF_EV_ACCEPT, 2), {});
  processor.on_event(other.data(OTELBPF_DIR_INGRESS, 8, 11, 100, req.size()), bytes(req));
  processor.tick();
  EXPECT_TRUE(out.spans.empty()) << "the answer may go on until the connection ends";
  EXPECT_EQ(processor.connections(), 2u);
  otelbpf_event_header exit{};
  exit.type = OTELBPF_EV_EXIT;
  exit.pid = exit.tid = 7;
  exit.ts_enter_ns = exit.ts_exit_ns = server.open(OTELBPF_EV_CLOSE, 30).ts_exit_ns;
  processor.on_event(exit, {});
  processor.tick();
  ASSERT_EQ(out.spans.size(), 1u);
  EXPECT_EQ(out.spans[0].kind(), otlp::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(attr(out.spans[0], "http.response.status_code")->int_value(), 200);
  EXPECT_EQ(attr(out.spans[0], "otelbpf.response_missing"), nullptr) << "the whole answer, ended by the exit";
  EXPECT_EQ(processor.connections(), 1u) << "only the exited process's connections end";
  exit.pid = exit.tid = 99;  // a process that had none
  processor.on_event(exit, {});
  EXPECT_EQ(processor.connections(), 1u);
}

TEST(SyscallEventProcessor, CloseFlushesPendingRequestAndGarbageIsCounted) {
  Recorder out;
  MetricsRegistry metrics;
  SyscallEventProcessorOptions options;
  options.max_failed_inferences = 3;
  SyscallEventProcessor processor(options, std::ref(out), metrics);
  EventFactory conn(5, 9, "127.0.0.1", 5555, "127.0.0.1", 80);
  EventFactory junk(5, 10, "127.0.0.1", 5556, "127.0.0.1", 9999);
  const std::string req = "GET /slow HTTP/1.1\r\n\r\n";
  processor.on_event(conn.open(OTELBPF_EV_CONNECT, 1), {});
  processor.on_event(conn.data(OTELBPF_DIR_EGRESS, 5, 10, 1, req.size()), bytes(req));
  for (int i = 0; i < 5; ++i) {
    const std::string garbage = "\x01\x02\x03 not a protocol";
    processor.on_event(junk.data(OTELBPF_DIR_EGRESS, 5, 20 + i, 1, garbage.size()), bytes(garbage));
  }
  auto close = conn.open(OTELBPF_EV_CLOSE, 50);
  processor.on_event(close, {});
  processor.tick();
  ASSERT_EQ(out.spans.size(), 1u);
  EXPECT_EQ(out.spans[0].kind(), otlp::Span::SPAN_KIND_CLIENT);
  ASSERT_NE(attr(out.spans[0], "otelbpf.response_missing"), nullptr);
  EXPECT_EQ(metrics.value("otelbpf_tracer_unrecognised_connections_total"), 1);
  EXPECT_EQ(processor.connections(), 1u);  // the junk connection stays known (and ignored) until it closes
}

TEST(SyscallEventProcessor, AnswerReadAfterTcpReleasedThePortEndsTheSameExchange) {
  // The client half-closed and the server answered and closed: the client's socket is done (TIME_WAIT)
  // and the kernel zeroed its local port before the client read the answer still in its queue. The read
  // and the close report port 0; they are the same connection, and the exchange gets its answer.
  Recorder out;
  MetricsRegistry metrics;
  SyscallEventProcessor processor({}, std::ref(out), metrics);
  EventFactory conn(5, 9, "127.0.0.1", 5555, "127.0.0.1", 80);
  EventFactory done(5, 9, "127.0.0.1", 0, "127.0.0.1", 80);
  const std::string req = "GET /last HTTP/1.1\r\nConnection: close\r\n\r\n";
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  processor.on_event(conn.open(OTELBPF_EV_CONNECT, 1), {});
  processor.on_event(conn.data(OTELBPF_DIR_EGRESS, 5, 10, 1, req.size()), bytes(req));
  processor.on_event(done.data(OTELBPF_DIR_INGRESS, 5, 20, 700, resp.size()), bytes(resp));
  processor.on_event(done.open(OTELBPF_EV_CLOSE, 30), {});
  processor.tick();
  ASSERT_EQ(out.spans.size(), 1u);
  EXPECT_EQ(out.spans[0].kind(), otlp::Span::SPAN_KIND_CLIENT);
  const auto* status = attr(out.spans[0], "http.response.status_code");
  ASSERT_NE(status, nullptr) << "the answer reached the exchange";
  EXPECT_EQ(status->int_value(), 200);
  EXPECT_EQ(attr(out.spans[0], "otelbpf.response_missing"), nullptr);
  const auto* local_port = attr(out.spans[0], "network.local.port");
  ASSERT_NE(local_port, nullptr);
  EXPECT_EQ(local_port->int_value(), 5555) << "the port the connection had";
  EXPECT_EQ(metrics.value("otelbpf_tracer_connections_evicted_total"), 0);
  EXPECT_EQ(processor.connections(), 0u);
}

TEST(SyscallEventProcessor, ConnectionTableIsBounded) {
  Recorder out;
  MetricsRegistry metrics;
  SyscallEventProcessorOptions options;
  options.max_connections = 8;
  SyscallEventProcessor processor(options, std::ref(out), metrics);
  const std::string req = "GET / HTTP/1.1\r\n\r\n";
  for (std::uint64_t i = 0; i < 20; ++i) {
    EventFactory conn(5, 100 + i, "127.0.0.1", static_cast<std::uint16_t>(6000 + i), "127.0.0.1", 80);
    processor.on_event(conn.data(OTELBPF_DIR_EGRESS, 5, 10 + i, 1, req.size()), bytes(req));
  }
  EXPECT_EQ(processor.connections(), 8u);
  EXPECT_EQ(metrics.value("otelbpf_tracer_connections_evicted_total"), 12);
  processor.tick();
  // Evicted connections' pending requests still leave as spans.
  EXPECT_EQ(out.spans.size(), 12u);
}

TEST(SyscallEventProcessor, AnEventWhoseHandlingThrowsIsCountedAndTracingGoesOn) {
  // The new-process hook (pod attribution reads /proc) throws for one process: its events are lost, and
  // counted; the agent neither terminates nor stops tracing the others.
  Recorder out;
  MetricsRegistry metrics;
  SyscallEventProcessorOptions options;
  options.on_new_process = [](std::uint32_t pid) {
    if (pid == 66) throw std::runtime_error("cannot read /proc/66/cgroup");
  };
  SyscallEventProcessor processor(options, std::ref(out), metrics);
  EventFactory bad(66, 1, "127.0.0.1", 5000, "127.0.0.1", 80);
  EventFactory good(67, 2, "127.0.0.1", 5001, "127.0.0.1", 80);
  const std::string req = "GET /ok HTTP/1.1\r\n\r\n", resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  EXPECT_NO_THROW(processor.on_event(bad.open(OTELBPF_EV_CONNECT, 1), {}));
  processor.on_event(good.open(OTELBPF_EV_CONNECT, 2), {});
  processor.on_event(good.data(OTELBPF_DIR_EGRESS, 67, 10, 1, req.size()), bytes(req));
  processor.on_event(good.data(OTELBPF_DIR_INGRESS, 67, 20, 1, resp.size()), bytes(resp));
  processor.tick();
  EXPECT_EQ(metrics.value("otelbpf_tracer_event_errors_total"), 1);
  ASSERT_EQ(out.spans.size(), 1u);
  EXPECT_EQ(attr(out.spans[0], "url.path")->string_value(), "/ok");
}

TEST(SyscallEventProcessor, NamespacedPidOfAProcessIsReadFromProc) {
  // This test process: in the host PID namespace its NSpid is its pid; the namespace inode is known.
  const auto self = read_pid_namespace(static_cast<std::uint32_t>(getpid()));
  EXPECT_GT(self.ns_pid, 0u);
  EXPECT_GT(self.namespace_inode, 0u);
  // A pid that does not exist reads as itself, namespace unknown.
  const auto gone = read_pid_namespace(0x7ffffff0u);
  EXPECT_EQ(gone.ns_pid, 0x7ffffff0u);
  EXPECT_EQ(gone.namespace_inode, 0u);
}

}  // namespace
}  // namespace otelbpf

namespace otelbpf {
namespace {

// A TLS record header with a ClientHello behind it, as a TLS client's first write carries it.
std::string client_hello() { return std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(40, 'r'); }
std::string application_record() { return std::string("\x17\x03\x03\x00\x45", 5) + std::string(69, '\xa5'); }

otelbpf_event_header as_tls(otelbpf_event_header h, std::uint8_t syscall) {
  h.flags = OTELBPF_EVF_TLS;
  h.syscall = syscall;
  return h;
}

TEST(SyscallEventProcessorTls, PlaintextMakesSpansAndTheConnectionsCiphertextIsNeverParsed) {
  MetricsRegistry metrics;
  Recorder out;
  SyscallEventProcessor processor({}, std::ref(out), metrics);
  EventFactory client(300, 0x51, "127.0.0.1", 50100, "127.0.0.1", 443);
  const std::string hello = client_hello(), record = application_record();
  const std::string request = "GET /secure HTTP/1.1\r\nHost: shop\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  processor.on_event(client.open(OTELBPF_EV_CONNECT, 10), {});
  // The handshake: socket calls outside SSL_read/SSL_write, sent as ordinary events.
  processor.on_event(client.data(OTELBPF_DIR_EGRESS, 300, 20, 1, hello.size()), bytes(hello));
  processor.on_event(client.data(OTELBPF_DIR_INGRESS, 300, 30, 1, record.size()), bytes(record));
  // The plaintext of the exchange, from the TLS probes; and ciphertext a memory-BIO library writes after it.
  processor.on_event(as_tls(client.data(OTELBPF_DIR_EGRESS, 300, 40, 500, request.size()), OTELBPF_SYS_SSL_WRITE),
                     bytes(request));
  processor.on_event(client.data(OTELBPF_DIR_EGRESS, 300, 41, 500, record.size()), bytes(record));
  processor.on_event(as_tls(client.data(OTELBPF_DIR_INGRESS, 300, 50, 900, response.size()), OTELBPF_SYS_SSL_READ),
                     bytes(response));
  processor.tick();

  ASSERT_EQ(out.spans.size(), 1u);
  const auto& span = out.spans[0];
  EXPECT_EQ(span.kind(), otlp::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(attr(span, "url.path")->string_value(), "/secure");
  EXPECT_EQ(attr(span, "http.response.status_code")->int_value(), 200);
  ASSERT_NE(attr(span, "otelbpf.tls"), nullptr);
  EXPECT_TRUE(attr(span, "otelbpf.tls")->bool_value());
  EXPECT_EQ(attr(span, "otelbpf.tcp.req_seq")->int_value(), 500);
  EXPECT_EQ(attr(span, "otelbpf.tcp.resp_seq")->int_value(), 900);
  // The handshake, the record read before the plaintext and the one written after it: all dropped unparsed.
  EXPECT_EQ(metrics.value("otelbpf_tracer_tls_ciphertext_events_total"), 3);
  EXPECT_EQ(metrics.value("otelbpf_tracer_unrecognised_connections_total"), 0);
}

TEST(SyscallEventProcessorTls, PostgresSslRequestThenPlaintextStartsTheProtocolAfresh) {
  MetricsRegistry metrics;
  Recorder out;
  SyscallEventProcessor processor({}, std::ref(out), metrics);
  EventFactory psql(400, 0x61, "127.0.0.1", 50200, "127.0.0.1", 5432);
  processor.on_event(psql.open(OTELBPF_EV_CONNECT, 10), {});
  // SSLRequest and the server's 'S', in the clear: the PostgreSQL parser sees them and goes opaque.
  const std::string ssl_request("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8), yes = "S";
  processor.on_event(psql.data(OTELBPF_DIR_EGRESS, 400, 20, 1, ssl_request.size()), bytes(ssl_request));
  processor.on_event(psql.data(OTELBPF_DIR_INGRESS, 400, 30, 1, yes.size()), bytes(yes));
  const std::string hello = client_hello();
  processor.on_event(psql.data(OTELBPF_DIR_EGRESS, 400, 40, 9, hello.size()), bytes(hello));
  // Then the start-up message and a query, decrypted.
  std::string startup("\x00\x00\x00\x00\x00\x03\x00\x00user\0postgres\0database\0shop\0\0", 37);
  startup[3] = static_cast<char>(startup.size());
  const std::string query = std::string("Q\x00\x00\x00\x0dSELECT 1\0", 14);
  const std::string ready = std::string("Z\x00\x00\x00\x05I", 6);
  const std::string result = std::string("C\x00\x00\x00\x0dSELECT 1\0", 14) + ready;
  processor.on_event(as_tls(psql.data(OTELBPF_DIR_EGRESS, 400, 50, 700, startup.size()), OTELBPF_SYS_SSL_WRITE),
                     bytes(startup));
  processor.on_event(as_tls(psql.data(OTELBPF_DIR_INGRESS, 400, 60, 800, ready.size()), OTELBPF_SYS_SSL_READ),
                     bytes(ready));
  processor.on_event(as_tls(psql.data(OTELBPF_DIR_EGRESS, 400, 70, 737, query.size()), OTELBPF_SYS_SSL_WRITE),
                     bytes(query));
  processor.on_event(as_tls(psql.data(OTELBPF_DIR_INGRESS, 400, 80, 806, result.size()), OTELBPF_SYS_SSL_READ),
                     bytes(result));
  processor.tick();
  ASSERT_EQ(out.spans.size(), 1u);
  EXPECT_EQ(attr(out.spans[0], "db.system.name")->string_value(), "postgresql");
  EXPECT_EQ(attr(out.spans[0], "db.namespace")->string_value(), "shop");
  EXPECT_TRUE(attr(out.spans[0], "otelbpf.tls")->bool_value());
  EXPECT_EQ(metrics.value("otelbpf_tracer_tls_ciphertext_events_total"), 1);
}

TEST(TlsRecordDetection, HandshakesAnywhereApplicationDataOnlyBeforeAProtocolIsKnown) {
  EXPECT_TRUE(looks_like_tls_record(client_hello(), false));
  EXPECT_TRUE(looks_like_tls_record(std::string("\x16\x03\x03\x00\x7a\x02", 6), false));  // ServerHello
  EXPECT_FALSE(looks_like_tls_record(std::string("\x16\x03\x03\x00\x7a\x0b", 6), false));  // Certificate
  EXPECT_TRUE(looks_like_tls_record(application_record(), true));
  EXPECT_FALSE(looks_like_tls_record(application_record(), false));
  EXPECT_FALSE(looks_like_tls_record(std::string("\x16\x03\x00\x00\x10\x01", 6), false));  // SSL 3.0
  EXPECT_FALSE(looks_like_tls_record(std::string("\x16\x03\x01\x48\x01\x01", 6), false));  // too long
  EXPECT_FALSE(looks_like_tls_record(std::string("\x16\x03\x01", 3), false));
  EXPECT_FALSE(looks_like_tls_record("GET / HTTP/1.1\r\n", true));
  // A MySQL packet of 0x000316 bytes starts 16 03 00: not a TLS version.
  EXPECT_FALSE(looks_like_tls_record(std::string("\x16\x03\x00\x01\x03", 5), true));
}

}  // namespace
}  // namespace otelbpf
