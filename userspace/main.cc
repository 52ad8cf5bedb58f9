// otelbpf-agent: receives OTLP spans, traces what applications never instrumented with eBPF, stitches both
// into one trace, and exports the combined stream.
//
// This file is the command line, the configuration and the wait for SIGTERM/SIGINT; the agent itself (its
// components, their start and their stop) is userspace/agent.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <optional>

#include "agent/agent.h"
#include "config/agent_config.h"

// jemalloc's settings (CMakeLists.txt links it), read at its first allocation; MALLOC_CONF in the
// environment still overrides them. Freed pages go back to the kernel within a second, by a background
// thread, instead of after jemalloc's default 10 s and only when the freeing thread allocates again: under
// tracing load the facts, batches and JSON buffers that come and go left peak RSS ~25 MiB higher
// (wrk -> nginx, 8 s: 291 -> 265 MiB) and an idle agent at 153 MiB instead of 87 MiB for 10 s after it.
extern "C" {
// NOLINTNEXTLINE: the name and type jemalloc looks for.
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000";
}

namespace otelbpf {
namespace {

struct CommandLine {
  ConfigSources sources;
  bool print_config = false;
  bool print_defaults = false;
};

// Named flags are shorthands for --set; they are applied last, so they win.
int parse_command_line(int argc, char** argv, CommandLine& cl) {
  CLI::App app{"otelbpf-agent: OTLP + eBPF full-stack tracing node agent"};
  std::vector<std::string> sets;
  std::optional<int> http_port;
  std::optional<std::string> grpc_listen, export_file, otlp_http, otlp_grpc, log_level, spool_dir;
  bool no_grpc = false, no_probes = false, no_file = false;
  app.add_option("-c,--config", cl.sources.file, "YAML config file (keys as in --print-defaults)");
  app.add_option("--set", sets, "Override one key: section.key=value (repeatable)");
  app.add_option("--http-port", http_port, "OTLP/HTTP + /metrics port (receiver.http.port)");
  app.add_option("--grpc-listen", grpc_listen, "OTLP/gRPC address host:port (receiver.grpc.listen)");
  app.add_flag("--no-grpc", no_grpc, "Disable the OTLP/gRPC receiver");
  app.add_option("--export-file", export_file, "OTLP/JSON-lines output file (export.file.path)");
  app.add_flag("--no-file-export", no_file, "Disable the file exporter");
  app.add_option("--otlp-http-endpoint", otlp_http, "Also export OTLP/HTTP protobuf to this URL");
  app.add_option("--otlp-grpc-endpoint", otlp_grpc, "Also export OTLP/gRPC to this host:port");
  app.add_option("--spool-dir", spool_dir, "On-disk spool for exports while an endpoint is down");
  app.add_flag("--no-probes", no_probes, "OTel-only mode: do not load the eBPF probes");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  app.add_flag("--print-config", cl.print_config, "Print the effective configuration and exit");
  app.add_flag("--print-defaults", cl.print_defaults, "Print the documented defaults and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  cl.sources.set_overrides = sets;
  auto& s = cl.sources.set_overrides;
  if (http_port) s.push_back("receiver.http.port=" + std::to_string(*http_port));
  if (grpc_listen) s.push_back("receiver.grpc.listen=" + *grpc_listen);
  if (no_grpc) s.push_back("receiver.grpc.enabled=false");
  if (export_file) s.push_back("export.file.path=" + *export_file);
  if (no_file) s.push_back("export.file.enabled=false");
  if (otlp_http) {
    s.push_back("export.otlp_http.enabled=true");
    s.push_back("export.otlp_http.endpoint=" + *otlp_http);
  }
  if (otlp_grpc) {
    s.push_back("export.otlp_grpc.enabled=true");
    s.push_back("export.otlp_grpc.endpoint=" + *otlp_grpc);
  }
  if (spool_dir) s.push_back("export.spool_dir=" + *spool_dir);
  if (no_probes) s.push_back("probes.enabled=false");
  if (log_level) s.push_back("log_level=" + *log_level);
  cl.sources.environment = otelbpf_environment();
  return -1;
}

int run(const AgentConfig& config) {
  // Signals are taken synchronously by sigwait on this thread; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  Agent agent(config);
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("received {}, flushing", strsignal(signal));
  // One deadline (export.shutdown_timeout_ms) for the whole stop, so that it fits the pod's grace period.
  agent.stop(std::chrono::steady_clock::now() + std::chrono::milliseconds(config.exporters.shutdown_timeout_ms));
  spdlog::info("otelbpf-agent stopped");
  return 0;
}

}  // namespace
}  // namespace otelbpf

int main(int argc, char** argv) {
  using namespace otelbpf;
  CommandLine cl;
  if (int rc = parse_command_line(argc, argv, cl); rc >= 0) return rc;
  if (cl.print_defaults) {
    std::cout << default_config_yaml();
    return 0;
  }
  AgentConfig config;
  std::vector<std::string> ignored_deepflow_keys;
  try {
    auto merged = merge_config(cl.sources, &ignored_deepflow_keys);
    if (cl.print_config) {
      std::cout << YAML::Dump(merged) << "\n";
      return 0;
    }
    config = parse_config(merged);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (!ignored_deepflow_keys.empty())
    spdlog::warn("config: ignoring DeepFlow agent-group keys otelbpf has no use for: {}",
                 fmt::join(ignored_deepflow_keys, ", "));
  try {
    return run(config);
  } catch (const std::exception& e) {
    spdlog::critical("otelbpf-agent cannot start: {}", e.what());
    return 1;
  }
}
