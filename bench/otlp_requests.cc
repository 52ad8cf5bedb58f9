#include "otlp_requests.h"

#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string_view>

namespace otelbpf::bench {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;

void add_string(google::protobuf::RepeatedPtrField<common::KeyValue>* attrs, const char* key,
                std::string value) {
  auto* kv = attrs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(std::move(value));
}

void add_int(google::protobuf::RepeatedPtrField<common::KeyValue>* attrs, const char* key,
             std::int64_t value) {
  auto* kv = attrs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_int_value(value);
}

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t r = rng() | 1;  // never all zero
    std::memcpy(out.data() + i, &r, std::min<std::size_t>(8, n - i));
  }
  return out;
}

}  // namespace

ExportRequest make_request(const RequestShape& shape) {
  std::mt19937_64 rng(shape.seed);
  ExportRequest request;
  auto* rs = request.add_resource_spans();
  auto* resource_attrs = rs->mutable_resource()->mutable_attributes();
  add_string(resource_attrs, "service.name", "checkout");
  add_string(resource_attrs, "service.version", "1.14.2");
  add_string(resource_attrs, "service.namespace", "shop");
  add_string(resource_attrs, "deployment.environment", "production");
  add_string(resource_attrs, "telemetry.sdk.name", "opentelemetry");
  add_string(resource_attrs, "telemetry.sdk.language", "nodejs");
  add_string(resource_attrs, "telemetry.sdk.version", "1.30.1");
  add_string(resource_attrs, "host.name", "node-7.eu-west-1.compute.internal");
  add_string(resource_attrs, "k8s.pod.name", "checkout-7d9f8b6c5-x2lqp");
  add_string(resource_attrs, "k8s.namespace.name", "shop");
  add_int(resource_attrs, "process.pid", 4711);
  rs->set_schema_url("https://opentelemetry.io/schemas/1.26.0");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("@opentelemetry/instrumentation-http");
  ss->mutable_scope()->set_version("0.57.1");

  const std::uint64_t now_ns =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  static const char* kPaths[] = {"/api/cart", "/api/orders/{id}", "/api/checkout", "/api/products",
                                 "/healthz"};
  std::string trace_id, root_id;
  for (int i = 0; i < shape.spans; ++i) {
    const bool root = i % shape.spans_per_trace == 0;
    if (root) trace_id = random_bytes(rng, 16);
    auto* span = ss->add_spans();
    span->set_trace_id(trace_id);
    span->set_span_id(random_bytes(rng, 8));
    const char* path = kPaths[rng() % std::size(kPaths)];
    const std::uint64_t start = now_ns - 5'000'000'000ull + rng() % 1'000'000'000ull;
    const std::uint64_t duration = 200'000 + rng() % 50'000'000;
    span->set_start_time_unix_nano(start);
    span->set_end_time_unix_nano(start + duration);
    auto* attrs = span->mutable_attributes();
    if (root) {
      root_id = span->span_id();
      span->set_kind(trace::Span::SPAN_KIND_SERVER);
      span->set_name(std::string("GET ") + path);
      add_string(attrs, "http.request.method", "GET");
      add_string(attrs, "url.path", path);
      add_string(attrs, "url.scheme", "http");
      add_string(attrs, "http.route", path);
      add_int(attrs, "http.response.status_code", 200);
      add_string(attrs, "server.address", "checkout.shop.svc.cluster.local");
      add_int(attrs, "server.port", 8080);
      add_string(attrs, "client.address", "10.42.3." + std::to_string(rng() % 250));
      add_string(attrs, "user_agent.original",
                 "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0");
      add_string(attrs, "network.protocol.version", "1.1");
    } else {
      span->set_parent_span_id(root_id);
      span->set_kind(trace::Span::SPAN_KIND_CLIENT);
      span->set_name("SELECT shop.orders");
      add_string(attrs, "db.system", "postgresql");
      add_string(attrs, "db.namespace", "shop");
      add_string(attrs, "db.operation.name", "SELECT");
      add_string(attrs, "db.collection.name", "orders");
      add_string(attrs, "db.query.text",
                 "SELECT id, total, status FROM orders WHERE customer_id = $1 LIMIT 50");
      add_string(attrs, "server.address", "postgres.shop.svc.cluster.local");
      add_int(attrs, "server.port", 5432);
      add_string(attrs, "network.peer.address", "10.43.0." + std::to_string(rng() % 250));
      add_int(attrs, "network.peer.port", 5432);
      add_int(attrs, "db.response.returned_rows", static_cast<std::int64_t>(rng() % 50));
    }
    auto* event = span->add_events();
    event->set_time_unix_nano(start + duration / 2);
    event->set_name(root ? "request.body.received" : "query.sent");
    add_int(event->mutable_attributes(), "message.uncompressed_size",
            static_cast<std::int64_t>(rng() % 4096));
    add_string(event->mutable_attributes(), "message.type", root ? "RECEIVED" : "SENT");
    span->mutable_status()->set_code(trace::Status::STATUS_CODE_UNSET);
  }
  return request;
}

IdOffsets find_id_offsets(const ExportRequest& request, const std::string& serialised) {
  IdOffsets out;
  const std::string_view haystack(serialised);
  auto locate = [&](const std::string& id, std::size_t from) {
    const std::size_t at = haystack.find(id, from);
    if (at == std::string_view::npos) throw std::runtime_error("id not found in the serialised request");
    out.offsets.push_back(at);
    return at + id.size();
  };
  // Fields are serialised in field-number order within a span (trace_id 1, span_id 2, parent 4) and
  // spans in order, so each search continues after the previous hit.
  std::size_t from = 0;
  for (const auto& rs : request.resource_spans())
    for (const auto& ss : rs.scope_spans())
      for (const auto& span : ss.spans()) {
        from = locate(span.trace_id(), from);
        from = locate(span.span_id(), from);
        if (!span.parent_span_id().empty()) from = locate(span.parent_span_id(), from);
      }
  return out;
}

void salt_ids(std::string& serialised, const IdOffsets& ids, std::uint32_t salt) {
  for (const std::size_t at : ids.offsets) {
    std::uint32_t head;
    std::memcpy(&head, serialised.data() + at, sizeof head);
    head ^= salt;
    std::memcpy(serialised.data() + at, &head, sizeof head);
  }
}

}  // namespace otelbpf::bench
