#include "export/exporter.h"

namespace otelbpf {

const char* to_string(ExportOutcome::Kind kind) {
  switch (kind) {
    case ExportOutcome::Kind::kOk:
      return "ok";
    case ExportOutcome::Kind::kRetryable:
      return "retryable";
    case ExportOutcome::Kind::kPermanent:
      return "permanent";
  }
  return "unknown";
}

}  // namespace otelbpf
