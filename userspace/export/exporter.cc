#include "export/exporter.h"

#include "spans/sys_span_export.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace otelbpf {

ExportOutcome SpanExporter::send_batches(std::span<const SpanBatch* const> batches) {
  std::vector<otlp::ExportRequest> exported(batches.size());  // stays put: parts point into it
  std::vector<const otlp::ExportRequest*> parts;
  parts.reserve(batches.size());
  for (std::size_t i = 0; i < batches.size(); ++i) parts.push_back(&otlp_form_of(*batches[i], exported[i]));
  return send_parts(parts);
}

ExportOutcome SpanExporter::send_parts(std::span<const otlp::ExportRequest* const> parts) {
  if (parts.size() == 1) return send(*parts.front());
  otlp::ExportRequest merged;
  for (const auto* part : parts) merged.MergeFrom(*part);
  return send(merged);
}

const char* to_string(ExportOutcome::Kind kind) {
  switch (kind) {
    case ExportOutcome::Kind::kOk:
      return "ok";
    case ExportOutcome::Kind::kRetryable:
      return "retryable";
    case ExportOutcome::Kind::kPermanent:
      return "permanent";
    case ExportOutcome::Kind::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

std::pair<otlp::ExportRequest, otlp::ExportRequest> split_request(const otlp::ExportRequest& request) {
  const std::size_t half = count_spans(request) / 2;
  std::pair<otlp::ExportRequest, otlp::ExportRequest> parts;
  std::size_t seen = 0;
  for (const auto& rs : request.resource_spans()) {
    otlp::ResourceSpans* out_rs[2] = {nullptr, nullptr};
    for (const auto& ss : rs.scope_spans()) {
      otlp::ScopeSpans* out_ss[2] = {nullptr, nullptr};
      for (const auto& span : ss.spans()) {
        const int side = seen++ < half ? 0 : 1;
        auto& target = side == 0 ? parts.first : parts.second;
        if (!out_rs[side]) {
          out_rs[side] = target.add_resource_spans();
          *out_rs[side]->mutable_resource() = rs.resource();
          out_rs[side]->set_schema_url(rs.schema_url());
        }
        if (!out_ss[side]) {
          out_ss[side] = out_rs[side]->add_scope_spans();
          *out_ss[side]->mutable_scope() = ss.scope();
          out_ss[side]->set_schema_url(ss.schema_url());
        }
        *out_ss[side]->add_spans() = span;
      }
    }
  }
  return parts;
}

PartialSuccessHandler::PartialSuccessHandler(MetricsRegistry& metrics, std::string exporter)
    : rejected_spans_(
          metrics.counter("otelbpf_exporter_rejected_spans_total",
                          "Spans the endpoint accepted the request for but rejected (partial success)",
                          {{"exporter", exporter}})),
      exporter_(std::move(exporter)) {}

ExportOutcome PartialSuccessHandler::outcome(const otlp::ExportResponse& answer, std::string_view endpoint) {
  if (!answer.has_partial_success()) return ExportOutcome::ok();
  const auto& partial = answer.partial_success();
  if (partial.rejected_spans() == 0 && partial.error_message().empty()) return ExportOutcome::ok();
  if (partial.rejected_spans() > 0) rejected_spans_.inc(static_cast<std::uint64_t>(partial.rejected_spans()));
  std::string note = fmt::format("partial success: {} spans rejected: {}", partial.rejected_spans(),
                                 partial.error_message());
  spdlog::warn("exporter {}: {} answered {}", exporter_, endpoint, note);
  return ExportOutcome::ok(std::move(note));
}

}  // namespace otelbpf
