// The resident-size estimate the memory budget charges, against protobuf's own account (SpaceUsedLong):
// never below it by more than a few percent, never far above, for the spans the agent holds.
#include "model/span_batch.h"

#include <gtest/gtest.h>

namespace otelbpf {
namespace {

void attr(otlp::Span& s, const std::string& key, const std::string& value) {
  auto* kv = s.add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

void int_attr(otlp::Span& s, const std::string& key, std::int64_t value) {
  auto* kv = s.add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_int_value(value);
}

otlp::ExportRequest sys_like(int spans) {
  otlp::ExportRequest r;
  auto* rs = r.add_resource_spans();
  for (const char* k : {"service.name", "process.executable.name", "process.pid", "host.name"}) {
    auto* kv = rs->mutable_resource()->add_attributes();
    kv->set_key(k);
    kv->mutable_value()->set_string_value("checkout-service-7d9f8b6c5");
  }
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("otelbpf.syscall");
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    s->set_trace_id(std::string(16, 'a'));
    s->set_span_id(std::string(8, 'b'));
    s->set_parent_span_id(std::string(8, 'c'));
    s->set_name("GET /api/orders/{id}");
    for (const char* k : {"http.request.method", "url.path", "network.peer.address", "network.local.address",
                          "user_agent.original", "otelbpf.l7.protocol", "server.address", "client.address"})
      attr(*s, k, std::string(k) + " value of some length");
    for (const char* k : {"network.peer.port", "http.response.status_code", "otelbpf.tcp.req_seq", "thread.id",
                          "otelbpf.req.bytes", "otelbpf.resp.bytes"})
      int_attr(*s, k, 12345);
  }
  return r;
}

otlp::ExportRequest large_values(int spans, std::size_t value_bytes) {
  otlp::ExportRequest r;
  auto* ss = r.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    s->set_name("upload");
    attr(*s, "payload", std::string(value_bytes, 'x'));
    auto* event = s->add_events();
    event->set_name("exception");
    auto* kv = event->add_attributes();
    kv->set_key("exception.stacktrace");
    kv->mutable_value()->set_string_value(std::string(value_bytes / 4, 'y'));
  }
  return r;
}

void expect_close(const otlp::ExportRequest& r, const char* what) {
  const double estimate = static_cast<double>(approx_resident_bytes(r));
  const double actual = static_cast<double>(r.SpaceUsedLong());
  EXPECT_GE(estimate, 0.95 * actual) << what;
  EXPECT_LE(estimate, 1.35 * actual) << what;
}

TEST(ApproxResidentBytes, CloseToProtobufsOwnAccount) {
  expect_close(sys_like(1), "one sys-like span");
  expect_close(sys_like(512), "a tracer batch");
  expect_close(large_values(16, 64 * 1024), "large attribute values");
  expect_close(otlp::ExportRequest(), "empty");
}

}  // namespace
}  // namespace otelbpf
