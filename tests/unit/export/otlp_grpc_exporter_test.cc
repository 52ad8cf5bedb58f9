// OtlpGrpcExporter against a real grpc::Server implementing TraceService on an ephemeral loopback port:
// the request and metadata arrive intact, status codes map to the OTLP spec's retry classes (RetryInfo
// honoured), partial success is counted, and an ExportWorker retries UNAVAILABLE until it goes through.
#include "export/otlp_grpc_exporter.h"

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <thread>

#include "export/export_worker.h"
#include "export_test_support.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace otelbpf {
namespace {
using namespace std::chrono_literals;
using testing::make_request;
using testing::span_numbers;
using TraceService = opentelemetry::proto::collector::trace::v1::TraceService;

struct ScriptedAnswer {
  grpc::Status status = grpc::Status::OK;
  otlp::ExportResponse response{};
};

class FakeTraceService final : public TraceService::Service {
 public:
  grpc::Status Export(grpc::ServerContext* context, const otlp::ExportRequest* request,
                      otlp::ExportResponse* response) override {
    std::lock_guard lock(mutex);
    requests.push_back(*request);
    std::map<std::string, std::string> md;
    for (const auto& [k, v] : context->client_metadata())
      md[std::string(k.data(), k.size())] = std::string(v.data(), v.size());
    metadata.push_back(md);
    if (script.empty()) return grpc::Status::OK;
    ScriptedAnswer answer = std::move(script.front());
    script.pop_front();
    *response = answer.response;
    return answer.status;
  }

  std::mutex mutex;
  std::deque<ScriptedAnswer> script;
  std::vector<otlp::ExportRequest> requests;
  std::vector<std::map<std::string, std::string>> metadata;
};

// grpc::Status details for google.rpc.RetryInfo{retry_delay}, encoded by hand like the exporter decodes it.
std::string retry_info_details(std::chrono::milliseconds delay) {
  google::protobuf::Duration duration;
  duration.set_seconds(delay.count() / 1000);
  duration.set_nanos(static_cast<int>(delay.count() % 1000) * 1000000);
  std::string inner = duration.SerializeAsString();
  std::string retry_info = std::string(1, '\x0a') + static_cast<char>(inner.size()) + inner;
  google::rpc::Status status;
  status.set_code(grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto* any = status.add_details();
  any->set_type_url("type.googleapis.com/google.rpc.RetryInfo");
  any->set_value(retry_info);
  return status.SerializeAsString();
}

class OtlpGrpcExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now() + 1s); }

  std::unique_ptr<OtlpGrpcExporter> exporter(OtlpGrpcExporterOptions options = {}) {
    options.endpoint = "127.0.0.1:" + std::to_string(port_);
    return std::make_unique<OtlpGrpcExporter>(options, "otlp_grpc", metrics_);
  }
  void script(std::vector<ScriptedAnswer> answers) {
    std::lock_guard lock(service_.mutex);
    for (auto& a : answers) service_.script.push_back(std::move(a));
  }

  FakeTraceService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  MetricsRegistry metrics_;
};

TEST_F(OtlpGrpcExporterTest, UnavailableIsRetryableThenOkDelivers) {
  script({{grpc::Status(grpc::StatusCode::UNAVAILABLE, "collector starting")}, {}});
  auto client = exporter({.gzip = true, .headers = {{"X-Tenant", "team-a"}}});
  const auto request = make_request(0, 4);
  auto outcome = client->send(request);
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable);
  EXPECT_NE(outcome.reason.find("UNAVAILABLE"), std::string::npos) << outcome.reason;
  EXPECT_NE(outcome.reason.find("collector starting"), std::string::npos) << outcome.reason;
  outcome = client->send(request);
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kOk) << outcome.reason;

  std::lock_guard lock(service_.mutex);
  ASSERT_EQ(service_.requests.size(), 2u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(service_.requests[1], request));
  EXPECT_EQ(service_.metadata[1]["x-tenant"], "team-a");
}

TEST_F(OtlpGrpcExporterTest, StatusCodesMapToTheSpecsRetryClasses) {
  script({{grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad span")},
          {grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "who are you")},
          {grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow")},
          {grpc::Status(grpc::StatusCode::ABORTED, "conflict")},
          {grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "memory limit", retry_info_details(1500ms))}});
  auto client = exporter();
  auto outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kPermanent);
  EXPECT_NE(outcome.reason.find("INVALID_ARGUMENT"), std::string::npos) << outcome.reason;
  EXPECT_NE(outcome.reason.find("bad span"), std::string::npos) << outcome.reason;
  EXPECT_EQ(client->send(make_request(0, 1)).kind, ExportOutcome::Kind::kPermanent);
  EXPECT_EQ(client->send(make_request(0, 1)).kind, ExportOutcome::Kind::kRetryable);
  EXPECT_EQ(client->send(make_request(0, 1)).kind, ExportOutcome::Kind::kRetryable);
  outcome = client->send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable);
  EXPECT_EQ(outcome.retry_after, 1500ms);
}

TEST_F(OtlpGrpcExporterTest, PartialSuccessIsOkAndCountsRejectedSpans) {
  ScriptedAnswer partial;
  partial.response.mutable_partial_success()->set_rejected_spans(3);
  partial.response.mutable_partial_success()->set_error_message("3 spans without name");
  script({partial});
  auto outcome = exporter()->send(make_request(0, 5));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kOk);
  EXPECT_NE(outcome.reason.find("3 spans without name"), std::string::npos);
  EXPECT_EQ(metrics_.value("otelbpf_exporter_rejected_spans_total", {{"exporter", "otlp_grpc"}}), 3);
}

TEST_F(OtlpGrpcExporterTest, UnreachableEndpointIsRetryableWithinTheTimeout) {
  OtlpGrpcExporter client({.endpoint = "127.0.0.1:1", .timeout = 300ms}, "otlp_grpc", metrics_);
  auto started = std::chrono::steady_clock::now();
  auto outcome = client.send(make_request(0, 1));
  EXPECT_EQ(outcome.kind, ExportOutcome::Kind::kRetryable) << outcome.reason;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

TEST_F(OtlpGrpcExporterTest, WorkerRetriesUnavailableUntilDelivered) {
  script({{grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")},
          {grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")}});
  ExportWorkerOptions options;
  options.initial_backoff = 5ms;
  options.max_batch_delay = 5ms;
  ExportWorker worker(exporter(), options, metrics_);
  ASSERT_TRUE(worker.enqueue(testing::make_batch(0, 6)));
  for (int i = 0;
       i < 300 && metrics_.value("otelbpf_exporter_sent_spans_total", {{"exporter", "otlp_grpc"}}) < 6; ++i)
    std::this_thread::sleep_for(10ms);
  worker.shutdown(1s);
  EXPECT_EQ(metrics_.value("otelbpf_exporter_sent_spans_total", {{"exporter", "otlp_grpc"}}), 6);
  EXPECT_EQ(metrics_.value("otelbpf_exporter_failed_attempts_total", {{"exporter", "otlp_grpc"}}), 2);
  std::lock_guard lock(service_.mutex);
  ASSERT_EQ(service_.requests.size(), 3u);
  EXPECT_EQ(span_numbers(service_.requests[2]), testing::range(0, 6));
}

}  // namespace
}  // namespace otelbpf
