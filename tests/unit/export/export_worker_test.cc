// ExportWorker, the queue/batch/retry/spool helper every exporter runs behind, driven by a scripted
// exporter: every span is delivered exactly once through an outage, the spool holds what the endpoint could
// not take and is replayed (also after a restart), its bound is exact, shutdown keeps its deadline, and
// enqueue never waits.
#include "export/export_worker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "export_test_support.h"

namespace otelbpf {
namespace {
using namespace std::chrono_literals;
using testing::make_batch;
using testing::range;
using testing::span_numbers;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

// What the scripted exporter saw; shared with the test because the worker owns the exporter.
struct Endpoint {
  std::mutex mutex;
  std::condition_variable changed;
  std::function<ExportOutcome(int call)> script = [](int) { return ExportOutcome::ok(); };
  int calls = 0;
  std::vector<Clock::time_point> call_times;
  std::vector<std::size_t> accepted_request_spans;
  std::vector<std::uint64_t> delivered;  // span numbers of accepted requests, in arrival order

  void set_script(std::function<ExportOutcome(int)> s) {
    std::lock_guard lock(mutex);
    script = std::move(s);
  }
  bool wait_delivered(std::size_t n, std::chrono::milliseconds timeout = 3s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return delivered.size() >= n; });
  }
  bool wait_calls(int n, std::chrono::milliseconds timeout = 3s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return calls >= n; });
  }
  std::vector<std::uint64_t> sorted_delivered() {
    std::lock_guard lock(mutex);
    auto out = delivered;
    std::sort(out.begin(), out.end());
    return out;
  }
};

class ScriptedExporter final : public SpanExporter {
 public:
  ScriptedExporter(std::shared_ptr<Endpoint> endpoint, std::string name = "scripted")
      : endpoint_(std::move(endpoint)), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  ExportOutcome send(const otlp::ExportRequest& request) override {
    std::function<ExportOutcome(int)> script;
    int call = 0;
    {
      std::lock_guard lock(endpoint_->mutex);
      call = endpoint_->calls;
      script = endpoint_->script;
    }
    ExportOutcome outcome = script(call);  // outside the lock: a script may block
    {
      std::lock_guard lock(endpoint_->mutex);
      ++endpoint_->calls;
      endpoint_->call_times.push_back(Clock::now());
      if (outcome.kind == ExportOutcome::Kind::kOk) {
        auto spans = span_numbers(request);
        endpoint_->accepted_request_spans.push_back(spans.size());
        endpoint_->delivered.insert(endpoint_->delivered.end(), spans.begin(), spans.end());
      }
    }
    endpoint_->changed.notify_all();
    return outcome;
  }

 private:
  std::shared_ptr<Endpoint> endpoint_;
  std::string name_;
};

ExportWorkerOptions fast_options() {
  ExportWorkerOptions options;
  options.max_batch_delay = 5ms;
  options.initial_backoff = 2ms;
  options.max_backoff = 10ms;
  options.max_retry_elapsed = 20ms;
  return options;
}

class ExportWorkerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ExportWorker> start(ExportWorkerOptions options) {
    return std::make_unique<ExportWorker>(std::make_unique<ScriptedExporter>(endpoint_), options, metrics_);
  }
  double metric(const std::string& name, const std::string& reason = "") {
    MetricLabels labels{{"exporter", "scripted"}};
    if (!reason.empty()) labels.emplace_back("reason", reason);
    return metrics_.value(name, labels);
  }
  double dropped(const std::string& reason) { return metric("otelbpf_exporter_dropped_spans_total", reason); }
  bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 3s) {
    auto until = Clock::now() + timeout;
    while (!condition()) {
      if (Clock::now() > until) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }
  std::size_t spool_files(const std::filesystem::path& dir) {
    std::size_t n = 0;
    for (const auto& item : std::filesystem::directory_iterator(dir / "scripted"))
      if (item.path().extension() == ".batch") ++n;
    return n;
  }

  // A worker started over a spool holding one corrupt file delivers a live batch (spans 0 and 1) past it,
  // counts the file, and shuts down.
  void replay_past_one_corrupt_file() {
    auto options = fast_options();
    options.spool_dir = dir_.path().string();
    auto worker = start(options);
    ASSERT_TRUE(worker->enqueue(make_batch(0, 2)));
    ASSERT_TRUE(endpoint_->wait_delivered(2));
    ASSERT_TRUE(wait_for([&] { return metric("otelbpf_exporter_spool_corrupt_files_total") == 1; }));
    worker->shutdown(1s);
  }

  std::shared_ptr<Endpoint> endpoint_ = std::make_shared<Endpoint>();
  MetricsRegistry metrics_;
  TempDir dir_;
};

TEST_F(ExportWorkerTest, DeliversEverySpanExactlyOnceThroughAnOutage) {
  std::atomic<bool> down{true};
  endpoint_->set_script(
      [&](int) { return down ? ExportOutcome::retryable("503", 0ms) : ExportOutcome::ok(); });
  auto options = fast_options();
  options.max_batch_spans = 10;
  options.spool_dir = dir_.path().string();
  auto worker = start(options);

  for (int i = 0; i < 20; ++i) ASSERT_TRUE(worker->enqueue(make_batch(i * 5, 5)));
  // While down, everything ends up in the spool (the first request after its retries, the rest directly).
  ASSERT_TRUE(wait_for([&] { return metric("otelbpf_exporter_spooled_spans_total") == 100; }));
  EXPECT_GT(metric("otelbpf_exporter_spool_bytes"), 0);
  EXPECT_GT(metric("otelbpf_exporter_failed_attempts_total"), 1);

  down = false;
  for (int i = 20; i < 40; ++i) ASSERT_TRUE(worker->enqueue(make_batch(i * 5, 5)));
  ASSERT_TRUE(endpoint_->wait_delivered(200));
  ASSERT_TRUE(wait_for([&] { return metric("otelbpf_exporter_spool_bytes") == 0; }));
  worker->shutdown(1s);

  EXPECT_EQ(endpoint_->sorted_delivered(), range(0, 200));  // each span once, none missing
  EXPECT_EQ(metric("otelbpf_exporter_sent_spans_total"), 200);
  for (const char* reason : {"queue_full", "spool_full", "permanent", "shutdown"})
    EXPECT_EQ(dropped(reason), 0);
  EXPECT_EQ(spool_files(dir_.path()), 0u);
}

// The tracer's compact sys spans reach an exporter that takes only OTLP as OTLP (its worker's copy), also
// when the first attempt fails and the batch is retried from the merged request.
TEST_F(ExportWorkerTest, CompactSysSpansReachAnOtlpExporterAsOtlpThroughAFailure) {
  endpoint_->set_script(
      [](int call) { return call == 0 ? ExportOutcome::retryable("down") : ExportOutcome::ok(); });
  auto worker = start(fast_options());
  auto batch = std::make_shared<SpanBatch>();
  batch->source = SpanSource::kSys;
  auto& group = batch->sys_groups.emplace_back();
  group.pid = 7;
  group.executable = "srv";
  for (std::uint64_t n = 100; n < 103; ++n) {
    auto& span = group.spans.emplace_back();
    span.record.protocol = "http1";
    span.record.role = l7::Role::kServer;
    span.record.span_name = "GET /";
    const auto id = testing::span_id_for(n);
    std::copy(id.begin(), id.end(), span.span_id.begin());
    span.trace_id.fill(0x42);
  }
  ASSERT_TRUE(worker->enqueue(batch));
  ASSERT_TRUE(endpoint_->wait_delivered(3));
  EXPECT_EQ(endpoint_->sorted_delivered(), (std::vector<std::uint64_t>{100, 101, 102}));
  EXPECT_GE(endpoint_->calls, 2);
  EXPECT_EQ(batch->request().resource_spans_size(), 0) << "the shared batch is left as it is";
}

TEST_F(ExportWorkerTest, SpoolBoundOverflowIsCountedExactlyAndKeepsWhatItHolds) {
  endpoint_->set_script([](int) { return ExportOutcome::retryable("down"); });
  const auto file_bytes = BatchSpool::file_bytes(make_batch(0, 4)->request());
  auto options = fast_options();
  options.max_batch_spans = 4;  // one batch per request, so every spool file has the same size
  options.spool_dir = dir_.path().string();
  options.spool_max_bytes = 3 * file_bytes + file_bytes / 2;
  {
    auto worker = start(options);
    for (int i = 0; i < 10; ++i) worker->enqueue(make_batch(i * 4, 4));
    ASSERT_TRUE(wait_for(
        [&] { return metric("otelbpf_exporter_spooled_spans_total") + dropped("spool_full") == 40; }));
    EXPECT_EQ(metric("otelbpf_exporter_spooled_spans_total"), 12);
    EXPECT_EQ(dropped("spool_full"), 28);
    EXPECT_EQ(metric("otelbpf_exporter_spool_bytes"), static_cast<double>(3 * file_bytes));
    EXPECT_EQ(spool_files(dir_.path()), 3u);
    worker->shutdown(50ms);
  }
  EXPECT_EQ(dropped("shutdown"), 0);
  EXPECT_EQ(metric("otelbpf_exporter_sent_spans_total"), 0);
  EXPECT_EQ(spool_files(dir_.path()), 3u);

  // What the spool held survives the outage and the restart: the first three batches, in order.
  endpoint_->set_script([](int) { return ExportOutcome::ok(); });
  auto worker = start(options);
  ASSERT_TRUE(endpoint_->wait_delivered(12));
  worker->shutdown(1s);
  {
    std::lock_guard lock(endpoint_->mutex);
    EXPECT_EQ(endpoint_->delivered, range(0, 12));
  }
  EXPECT_EQ(spool_files(dir_.path()), 0u);
}

TEST_F(ExportWorkerTest, RestartReplaysTheSpoolLeftOnDisk) {
  endpoint_->set_script([](int) { return ExportOutcome::retryable("down"); });
  auto options = fast_options();
  options.max_batch_delay = 10s;  // batches sit in the worker until shutdown
  options.spool_dir = dir_.path().string();
  {
    auto worker = start(options);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(worker->enqueue(make_batch(i * 3, 3)));
    worker->shutdown(0ms);  // nothing can be sent: all of it goes to disk
  }
  EXPECT_EQ(metric("otelbpf_exporter_spooled_spans_total"), 18);
  EXPECT_EQ(dropped("shutdown"), 0);
  EXPECT_GT(spool_files(dir_.path()), 0u);
  // A temporary file a crash left behind is not a batch.
  std::ofstream(dir_.path() / "scripted" / "00000000000000000099.batch.tmp") << "partial";

  endpoint_->set_script([](int) { return ExportOutcome::ok(); });
  auto worker = start(options);
  ASSERT_TRUE(endpoint_->wait_delivered(18));
  worker->shutdown(1s);
  EXPECT_EQ(endpoint_->sorted_delivered(), range(0, 18));
  EXPECT_EQ(spool_files(dir_.path()), 0u);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "scripted" / "00000000000000000099.batch.tmp"));
}

TEST_F(ExportWorkerTest, CorruptSpoolFileIsDiscardedAndCounted) {
  std::filesystem::create_directories(dir_.path() / "scripted");
  std::ofstream(dir_.path() / "scripted" / "00000000000000000001.batch") << "OBSPgarbage";
  replay_past_one_corrupt_file();
  EXPECT_EQ(spool_files(dir_.path()), 0u);
  EXPECT_EQ(dropped("spool_corrupt"), 0);  // no header: the spans it held are unknown
}

// A spooled batch damaged on disk is a loss of spans like any other drop: counted by the spans its header
// names, under its own reason.
TEST_F(ExportWorkerTest, CorruptSpoolFileCountsTheSpansItHeld) {
  {
    BatchSpool spool(dir_.path() / "scripted", 1 << 20);
    std::string error;
    ASSERT_EQ(spool.push(testing::make_request(100, 6), 6, error), BatchSpool::PushResult::kStored) << error;
  }
  std::filesystem::path file;
  for (const auto& item : std::filesystem::directory_iterator(dir_.path() / "scripted")) file = item.path();
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 3);
  replay_past_one_corrupt_file();
  EXPECT_EQ(dropped("spool_corrupt"), 6);
  EXPECT_EQ(endpoint_->sorted_delivered(), (std::vector<std::uint64_t>{0, 1}));
}

TEST_F(ExportWorkerTest, ShutdownFlushesQueuedBatchesWithinTheDeadline) {
  auto options = fast_options();
  options.max_batch_delay = 10s;  // without shutdown these would wait 10 s for more spans
  options.max_batch_spans = 1000;
  auto worker = start(options);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(worker->enqueue(make_batch(i * 7, 7)));
  auto started = Clock::now();
  worker->shutdown(2s);
  EXPECT_LT(Clock::now() - started, 500ms);
  EXPECT_EQ(endpoint_->sorted_delivered(), range(0, 70));
  EXPECT_EQ(metric("otelbpf_exporter_sent_spans_total"), 70);
  EXPECT_FALSE(worker->enqueue(make_batch(100, 1)));  // after shutdown: refused and counted
  EXPECT_EQ(dropped("shutdown"), 1);
}

TEST_F(ExportWorkerTest, ShutdownGivesUpAtTheDeadlineAndCountsTheRest) {
  endpoint_->set_script([](int) { return ExportOutcome::retryable("down"); });
  auto options = fast_options();
  options.max_retry_elapsed = 10s;  // retries would go on far beyond the shutdown deadline
  options.max_batch_spans = 5;
  auto worker = start(options);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(worker->enqueue(make_batch(i * 5, 5)));
  ASSERT_TRUE(endpoint_->wait_calls(2));
  auto started = Clock::now();
  worker->shutdown(150ms);
  auto took = Clock::now() - started;
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 600ms);
  EXPECT_EQ(dropped("shutdown"), 20);
  EXPECT_EQ(metric("otelbpf_exporter_sent_spans_total"), 0);
}

TEST_F(ExportWorkerTest, EnqueueOnAFullQueueNeverBlocks) {
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool open = false;
  endpoint_->set_script([&](int) {
    std::unique_lock lock(gate_mutex);
    gate_cv.wait(lock, [&] { return open; });
    return ExportOutcome::ok();
  });
  auto options = fast_options();
  options.queue_batches = 2;
  options.max_batch_spans = 3;
  auto worker = start(options);
  ASSERT_TRUE(worker->enqueue(make_batch(0, 3)));
  // The worker is now stuck in send() with batch 0; the queue takes two more, then says no at once.
  ASSERT_TRUE(wait_for([&] { return metric("otelbpf_exporter_queue_batches") == 0; }));
  std::this_thread::sleep_for(20ms);
  std::vector<bool> accepted;
  auto started = Clock::now();
  for (int i = 1; i < 9; ++i) accepted.push_back(worker->enqueue(make_batch(i * 3, 3)));
  EXPECT_LT(Clock::now() - started, 50ms);
  EXPECT_EQ(accepted, (std::vector<bool>{true, true, false, false, false, false, false, false}));
  EXPECT_EQ(dropped("queue_full"), 18);
  EXPECT_EQ(metric("otelbpf_exporter_queue_batches"), 2);
  {
    std::lock_guard lock(gate_mutex);
    open = true;
  }
  gate_cv.notify_all();
  worker->shutdown(1s);
  EXPECT_EQ(endpoint_->sorted_delivered(), range(0, 9));
}

TEST_F(ExportWorkerTest, FullQueueSpillsIntoTheSpoolAndIsReplayed) {
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool open = false;
  endpoint_->set_script([&](int) {
    std::unique_lock lock(gate_mutex);
    gate_cv.wait(lock, [&] { return open; });
    return ExportOutcome::ok();
  });
  auto options = fast_options();
  options.queue_batches = 1;
  options.max_batch_spans = 2;
  options.spool_dir = dir_.path().string();
  auto worker = start(options);
  ASSERT_TRUE(worker->enqueue(make_batch(0, 2)));
  ASSERT_TRUE(wait_for([&] { return metric("otelbpf_exporter_queue_batches") == 0; }));
  std::this_thread::sleep_for(20ms);
  for (int i = 1; i < 10; ++i) worker->enqueue(make_batch(i * 2, 2));
  EXPECT_EQ(metric("otelbpf_exporter_spooled_spans_total"), 16);  // 1 queued, 8 spooled
  EXPECT_EQ(dropped("queue_full"), 0);
  {
    std::lock_guard lock(gate_mutex);
    open = true;
  }
  gate_cv.notify_all();
  ASSERT_TRUE(endpoint_->wait_delivered(20));
  worker->shutdown(1s);
  EXPECT_EQ(endpoint_->sorted_delivered(), range(0, 20));
  EXPECT_EQ(spool_files(dir_.path()), 0u);
}

TEST_F(ExportWorkerTest, PermanentFailuresAreDroppedWithTheirReason) {
  endpoint_->set_script([](int) { return ExportOutcome::permanent("HTTP 400: bad"); });
  auto options = fast_options();
  options.spool_dir = dir_.path().string();
  auto worker = start(options);
  ASSERT_TRUE(worker->enqueue(make_batch(0, 3)));
  ASSERT_TRUE(worker->enqueue(make_batch(3, 4)));
  ASSERT_TRUE(wait_for([&] { return dropped("permanent") == 7; }));
  worker->shutdown(1s);
  EXPECT_EQ(metric("otelbpf_exporter_failed_attempts_total"), 0);  // never retried
  EXPECT_EQ(metric("otelbpf_exporter_spooled_spans_total"), 0);
}

TEST_F(ExportWorkerTest, RetriesExhaustedWithoutSpoolAreCounted) {
  endpoint_->set_script([](int) { return ExportOutcome::retryable("down"); });
  auto worker = start(fast_options());
  ASSERT_TRUE(worker->enqueue(make_batch(0, 3)));
  ASSERT_TRUE(wait_for([&] { return dropped("retry_exhausted") == 3; }));
  worker->shutdown(1s);
  EXPECT_GE(metric("otelbpf_exporter_failed_attempts_total"), 2);
}

TEST_F(ExportWorkerTest, MergesBatchesUpToMaxBatchSpans) {
  auto options = fast_options();
  options.max_batch_spans = 10;
  options.max_batch_delay = 300ms;
  auto worker = start(options);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(worker->enqueue(make_batch(i * 2, 2)));
  ASSERT_TRUE(endpoint_->wait_delivered(10));
  worker->shutdown(1s);
  std::lock_guard lock(endpoint_->mutex);
  EXPECT_EQ(endpoint_->accepted_request_spans, (std::vector<std::size_t>{10, 2}));
  EXPECT_EQ(endpoint_->delivered, range(0, 12));
}

TEST_F(ExportWorkerTest, RetryWaitsAtLeastTheEndpointsRetryAfter) {
  endpoint_->set_script(
      [](int call) { return call == 0 ? ExportOutcome::retryable("429", 150ms) : ExportOutcome::ok(); });
  auto options = fast_options();
  options.max_retry_elapsed = 5s;
  auto worker = start(options);
  ASSERT_TRUE(worker->enqueue(make_batch(0, 1)));
  ASSERT_TRUE(endpoint_->wait_delivered(1));
  worker->shutdown(1s);
  std::lock_guard lock(endpoint_->mutex);
  ASSERT_EQ(endpoint_->call_times.size(), 2u);
  EXPECT_GE(endpoint_->call_times[1] - endpoint_->call_times[0], 150ms);
}

TEST_F(ExportWorkerTest, RequestsRefusedAsTooLargeAreSplitUntilTheyPassAndNeverWedgeTheQueue) {
  // An endpoint that takes at most 4 spans per request (a collector's 4 MiB gRPC limit, in miniature),
  // and refuses larger ones as too large, every time. Before, the batch was retried forever.
  endpoint_->set_script([](int) { return ExportOutcome::ok(); });
  auto exporter = std::make_unique<ScriptedExporter>(endpoint_);
  struct Limited final : SpanExporter {
    std::unique_ptr<ScriptedExporter> inner;
    const std::string& name() const override { return inner->name(); }
    ExportOutcome send(const otlp::ExportRequest& request) override {
      if (count_spans(request) > 4) return ExportOutcome::too_large("HTTP 413 from test: request too large");
      return inner->send(request);
    }
  };
  auto limited = std::make_unique<Limited>();
  limited->inner = std::move(exporter);
  auto options = fast_options();
  options.spool_dir = dir_.path().string();
  options.max_batch_spans = 100;
  ExportWorker worker(std::move(limited), options, metrics_);
  ASSERT_TRUE(worker.enqueue(make_batch(0, 13)));
  ASSERT_TRUE(worker.enqueue(make_batch(13, 2)));
  ASSERT_TRUE(endpoint_->wait_delivered(15));
  worker.shutdown(1s);
  EXPECT_EQ(endpoint_->sorted_delivered(), range(0, 15));
  EXPECT_EQ(dropped("too_large"), 0);
  EXPECT_EQ(metric("otelbpf_exporter_spooled_spans_total"), 0);
}

TEST_F(ExportWorkerTest, RequestsStayUnderTheByteLimitAndASpanAloneTooLargeIsDroppedCounted) {
  const std::size_t one = testing::make_request(0, 1).ByteSizeLong();
  const std::size_t per_span = testing::make_request(0, 2).ByteSizeLong() - one;
  auto options = fast_options();
  options.max_batch_spans = 100;
  options.max_request_bytes = (one - per_span) + 3 * per_span + per_span / 2;  // three spans and some
  auto worker = start(options);
  ASSERT_TRUE(worker->enqueue(make_batch(0, 10)));
  ASSERT_TRUE(endpoint_->wait_delivered(10));
  {
    std::lock_guard lock(endpoint_->mutex);
    for (auto n : endpoint_->accepted_request_spans) EXPECT_LE(n, 3u);
  }
  endpoint_->set_script([](int) { return ExportOutcome::too_large("gRPC RESOURCE_EXHAUSTED: larger than max"); });
  ASSERT_TRUE(worker->enqueue(make_batch(10, 1)));
  ASSERT_TRUE(wait_for([&] { return dropped("too_large") == 1; }));
  worker->shutdown(1s);
}

}  // namespace
}  // namespace otelbpf
