// The pipeline's bounds and its back-pressure from the exporters.
#include "pipeline/span_pipeline.h"

#include <gtest/gtest.h>

namespace otelbpf {
namespace {

SpanBatch batch_of(int spans) {
  SpanBatch b;
  auto* ss = b.request().add_resource_spans()->add_scope_spans();
  for (int i = 0; i < spans; ++i) ss->add_spans()->set_name("s");
  return b;
}

TEST(SpanPipeline, BoundedBySpansAndPushedBackWhileExportersAreSaturatedForSendersThatRetry) {
  MetricsRegistry metrics;
  SpanPipeline pipeline(SpanPipelineOptions{16, 10}, metrics);
  EXPECT_EQ(pipeline.submit(batch_of(6)), SpanPipeline::Admission::kAccepted);
  EXPECT_EQ(pipeline.submit(batch_of(6)), SpanPipeline::Admission::kFull) << "span budget";
  bool saturated = true;
  pipeline.set_downstream_saturated([&] { return saturated; });
  EXPECT_EQ(pipeline.submit(batch_of(1)), SpanPipeline::Admission::kFull) << "an exporter queue is full";
  // The probes cannot send again: their batch takes the pipeline's room (the assembler paces its output
  // to the exporter), and only the pipeline's own bounds refuse it.
  EXPECT_EQ(pipeline.submit(batch_of(1), SpanPipeline::Sender::kCannotRetry),
            SpanPipeline::Admission::kAccepted);
  EXPECT_EQ(pipeline.submit(batch_of(6), SpanPipeline::Sender::kCannotRetry), SpanPipeline::Admission::kFull)
      << "span budget";
  saturated = false;
  EXPECT_EQ(pipeline.submit(batch_of(1)), SpanPipeline::Admission::kAccepted);
  EXPECT_EQ(pipeline.queued_spans(), 8u);
  pipeline.close();
  EXPECT_EQ(pipeline.submit(batch_of(1)), SpanPipeline::Admission::kClosed);
  EXPECT_TRUE(pipeline.next(std::chrono::milliseconds(10)));
  EXPECT_TRUE(pipeline.next(std::chrono::milliseconds(10)));
  EXPECT_TRUE(pipeline.next(std::chrono::milliseconds(10)));
  EXPECT_FALSE(pipeline.next(std::chrono::milliseconds(10)));
}

TEST(SpanPipeline, AdmitsByBytesAndTheBatchHoldsThemUntilItIsFreed) {
  MetricsRegistry metrics;
  MemoryBudget budget(64 * 1024, metrics);
  SpanPipeline pipeline(SpanPipelineOptions{16, 100000, &budget}, metrics);
  // ~500 bytes per span: a 64-span batch fits, three do not.
  EXPECT_EQ(pipeline.submit(batch_of(64)), SpanPipeline::Admission::kAccepted);
  const auto after_one = budget.held();
  EXPECT_GT(after_one, 64u * 300);
  EXPECT_EQ(pipeline.submit(batch_of(64)), SpanPipeline::Admission::kAccepted);
  EXPECT_EQ(pipeline.submit(batch_of(64)), SpanPipeline::Admission::kFull) << "the bytes do not fit";
  EXPECT_EQ(pipeline.queued_spans(), 128u) << "a refused batch holds no span budget either";
  {
    auto taken = pipeline.next(std::chrono::milliseconds(10));
    ASSERT_TRUE(taken);
    EXPECT_EQ(budget.held(), 2 * after_one) << "still held downstream while the batch lives";
  }
  EXPECT_EQ(budget.held(), after_one) << "released when it is freed";
  EXPECT_EQ(pipeline.submit(batch_of(64)), SpanPipeline::Admission::kAccepted);
}

TEST(SpanPipeline, ChargesTheBytesTheBatchsMakerCountedOnceAndForgetsThem) {
  MetricsRegistry metrics;
  MemoryBudget budget(1 << 20, metrics);
  SpanPipeline pipeline(SpanPipelineOptions{16, 100000, &budget}, metrics);
  auto counted = batch_of(8);
  const auto walked = approx_resident_bytes(counted);
  counted.admission_bytes = walked + 1000;  // as if the maker had counted more than a walk finds
  EXPECT_EQ(pipeline.submit(std::move(counted)), SpanPipeline::Admission::kAccepted);
  EXPECT_EQ(budget.held(), walked + 1000) << "the maker's count, not a walk";
  auto taken = pipeline.next(std::chrono::milliseconds(10));
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->admission_bytes, 0u) << "a count that later stages would not keep up to date";
  EXPECT_EQ(taken->charge.bytes(), walked + 1000);
}

}  // namespace
}  // namespace otelbpf
