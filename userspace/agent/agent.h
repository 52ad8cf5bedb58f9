#pragma once
// The running agent: every component built from its own config section (agent/components.h) and wired in
// data-flow order: exporters, pod attribution, assembler, pipeline, receivers, probes. Stopping runs the
// other way within one deadline: close the doors, drain the pipeline, flush the assembler, flush the
// exporters.
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "config/agent_config.h"

namespace otelbpf {

class Agent {
 public:
  // Builds and starts everything; throws (std::runtime_error, std::invalid_argument) when a component
  // that must run cannot (a port that cannot be bound, an unusable endpoint or TLS file). Optional parts
  // (probes, packet capture, the Kubernetes API) that the host refuses are logged and left out.
  explicit Agent(const AgentConfig& config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Stops every component; what is not exported by `deadline` is counted as lost by the exporters.
  void stop(std::chrono::steady_clock::time_point deadline);

 private:
  struct Components;  // defined in agent.cc, so this header needs none of theirs
  std::unique_ptr<Components> c_;
};

}  // namespace otelbpf
