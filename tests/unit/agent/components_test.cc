// Each component's options come from its own config section, as config/otelbpf.yaml documents the keys:
// the embedded defaults and overrides map field by field, and the agent's own ports are excluded from
// tracing once, for the syscall probes and the packet path alike.
#include "agent/components.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace otelbpf {
namespace {

AgentConfig config_with(std::vector<std::string> overrides) {
  ConfigSources sources;
  sources.set_overrides = std::move(overrides);
  return parse_config(merge_config(sources));
}

TEST(ComponentsTest, ReceiversTakeTheirSections) {
  const auto config = config_with({"receiver.http.port=4999", "receiver.http.body_timeout_ms=1234",
                                   "receiver.http.tls.cert_file=/c.pem", "receiver.http.tls.key_file=/k.pem",
                                   "receiver.grpc.listen=127.0.0.1:5000", "receiver.grpc.max_concurrent_streams=7"});
  const auto http = http_server_options(config.http);
  EXPECT_EQ(http.port, 4999);
  EXPECT_EQ(http.body_timeout, std::chrono::milliseconds(1234));
  EXPECT_EQ(http.tls.cert_file, "/c.pem");
  EXPECT_TRUE(http.tls.enabled());
  const auto grpc = grpc_server_options(config.grpc);
  EXPECT_EQ(grpc.listen, "127.0.0.1:5000");
  EXPECT_EQ(grpc.max_concurrent_streams, 7);
  EXPECT_FALSE(grpc.tls.enabled());
}

TEST(ComponentsTest, TheAgentsOwnPortsAreNotTracedByEitherPath) {
  auto config = config_with({"receiver.http.port=4999", "receiver.grpc.listen=0.0.0.0:5000", "ui.port=5001",
                             "probes.ignore_ports=[22]"});
  EXPECT_EQ(own_ports(config), (std::vector<std::uint16_t>{4999, 5000, 5001}));
  config.grpc.enabled = false;
  config.ui.enabled = false;
  EXPECT_EQ(own_ports(config), (std::vector<std::uint16_t>{4999}));
  // "Any free port" is excluded once bound (the agent adds the bound port), never as 0: the kernel reports
  // local port 0 for a TCP socket it is done with, whose last answer can still wait to be read.
  EXPECT_EQ(own_ports(config_with({"receiver.http.port=0", "ui.port=0", "receiver.grpc.listen=127.0.0.1:0"})),
            std::vector<std::uint16_t>{});
#ifdef OTELBPF_WITH_BPF
  const auto own = own_ports(config);
  EXPECT_EQ(syscall_probe_options(config.probes, own).ignore_ports, (std::vector<std::uint16_t>{22, 4999}));
  EXPECT_FALSE(syscall_probe_options(config.probes, own).send_start_marks);
  EXPECT_TRUE(syscall_probe_options(config_with({"probes.send_start_marks=true"}).probes, own).send_start_marks);
  EXPECT_EQ(packet_capture_options(config.netcap, "node", own, nullptr).processing.ignore_ports,
            (std::vector<std::uint16_t>{4999}));
#endif
}

TEST(ComponentsTest, TraceViewSettings) {
  const auto config = config_with({"ui.listen=0.0.0.0", "ui.port=0", "ui.store_mib=8", "ui.max_traces=10"});
  const auto view = trace_view_options(config.ui);
  EXPECT_EQ(view.listen_address, "0.0.0.0");
  EXPECT_EQ(view.port, 0);
  EXPECT_EQ(view.store.max_bytes, 8u << 20);
  EXPECT_EQ(view.store.max_traces, 10u);
  EXPECT_THROW(config_with({"ui.store_mib=0"}), ConfigError);
}

TEST(ComponentsTest, ExportAndAssemblerSettings) {
  const auto config = config_with({"export.batch_delay_ms=77", "export.spool_dir=/var/spool/x",
                                   "export.otlp_http.tls.ca_file=/ca.pem", "assembler.link_window_ms=2500"});
  const auto worker = export_worker_options(config.exporters);
  EXPECT_EQ(worker.max_batch_delay, std::chrono::milliseconds(77));
  EXPECT_EQ(worker.spool_dir, "/var/spool/x");
  EXPECT_EQ(otlp_exporter_config(config.exporters.otlp_http).tls.ca_file, "/ca.pem");
  const auto assembler = assembler_options(config.assembler, true, false, false, nullptr);
  EXPECT_EQ(assembler.link_window, std::chrono::milliseconds(2500));
  EXPECT_TRUE(assembler.expect_net_spans);
}

}  // namespace
}  // namespace otelbpf
