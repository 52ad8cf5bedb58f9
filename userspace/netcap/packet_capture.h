#pragma once
// The packet path as the agent runs it: the tc programs, their attachments to the selected interfaces
// of this network namespace (kept in step with a netlink watch, so a new pod's veth is tapped when it
// appears), a polling thread, the event processor and the hand-off of net spans to the pipeline.
//
// Nothing of ours outlives the agent in the kernel: stop() detaches every filter and removes the clsact
// qdiscs we created; after a crash, start() removes the filters the dead run left (they carry our fixed
// tc handle/priority) and the qdiscs it had created (remembered in a state file under state_dir).
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "netcap/interfaces.h"
#include "netcap/packet_event_processor.h"
#include "netcap/packet_probes.h"
#include "netcap/tc_hook.h"
#include "pipeline/span_pipeline.h"

namespace otelbpf::netcap {

struct PacketCaptureOptions {
  PacketProbeOptions probes;
  PacketEventProcessorOptions processing;
  InterfaceSelection selection;
  std::string state_dir = "/run/otelbpf";
};

class PacketCapture {
 public:
  PacketCapture(PacketCaptureOptions options, SpanPipeline& pipeline,
                MetricsRegistry& metrics = default_metrics());
  ~PacketCapture();
  PacketCapture(const PacketCapture&) = delete;
  PacketCapture& operator=(const PacketCapture&) = delete;

  // Loads the programs, cleans up after a crashed run, attaches to the selected interfaces and starts
  // the thread; false (with `error`) when the kernel refuses the programs.
  bool start(std::string& error);
  // Detaches everything, ends every flow (pending requests become spans) and flushes.
  void stop();
  bool running() const { return thread_.joinable(); }

 private:
  void run();
  void resync_interfaces();
  void clean_up_after_crash(const std::vector<LinkInfo>& links);
  void write_state();
  void publish_metrics();

  PacketCaptureOptions options_;
  SpanPipeline& pipeline_;
  MetricsRegistry& metrics_;
  PacketEventProcessor processor_;
  std::unique_ptr<PacketProbes> probes_;
  std::unique_ptr<NetlinkSocket> requests_;
  std::unique_ptr<NetlinkSocket> watch_;
  std::map<std::uint32_t, std::unique_ptr<TcAttachment>> attachments_;  // by ifindex
  std::map<std::uint32_t, std::string> names_;
  std::string state_file_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  PacketKernelCounters last_{};
  std::uint64_t last_malformed_ = 0;
};

}  // namespace otelbpf::netcap
