// Configuration layering: embedded defaults < file < OTELBPF_* environment < --set, with unknown keys and
// bad values refused by name.
#include "config/agent_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace otelbpf {
namespace {

TEST(AgentConfig, DefaultsAreTheDocumentedOnes) {
  const auto config = parse_config(merge_config({}));
  EXPECT_TRUE(config.http.enabled);
  EXPECT_EQ(config.http.port, 38086);
  EXPECT_EQ(config.grpc.listen, "0.0.0.0:4317");
  EXPECT_TRUE(config.probes.enabled);
  EXPECT_TRUE(config.exporters.file.enabled);
  EXPECT_EQ(config.exporters.file.path, "otelbpf-spans.jsonl");
  EXPECT_FALSE(config.exporters.otlp_http.enabled);
  EXPECT_EQ(config.assembler.link_window_ms, 5000u);
  // The embedded default export is a file: it must not fill the disk on a long run (issue 13 item 13).
  EXPECT_GT(config.exporters.file.max_bytes, 0u);
  EXPECT_LE(config.exporters.file.max_bytes * (config.exporters.file.keep_files + 1), 2ull << 30);
  // ... nor hold what it wrote in the page cache, charged to the agent's memory cgroup.
  EXPECT_EQ(config.exporters.file.drop_behind_bytes, 8u << 20);
  EXPECT_EQ(config.assembler.max_link_wait_ms, 30000u);
  EXPECT_TRUE(config.peer_agents.empty()) << "no sender may claim sys or net sources unless configured";
  EXPECT_TRUE(config.redaction.url_query);
}

TEST(AgentConfig, LayersOverrideInOrder) {
  const std::string path = ::testing::TempDir() + "/otelbpf-config-test.yaml";
  {
    std::ofstream out(path);
    out << "receiver:\n  http:\n    port: 1111\n    threads: 3\nexport:\n  otlp_http:\n    headers:\n      "
           "x-token: abc\n";
  }
  ConfigSources sources;
  sources.file = path;
  sources.environment = {{"OTELBPF_RECEIVER__HTTP__PORT", "2222"}, {"OTELBPF_PROBES__PIDS", "[1, 2]"}};
  sources.set_overrides = {"receiver.http.port=3333", "export.spool_dir=", "log_level=debug"};
  const auto config = parse_config(merge_config(sources));
  EXPECT_EQ(config.http.port, 3333);
  EXPECT_EQ(config.http.threads, 3);
  EXPECT_EQ(config.probes.pids, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(config.exporters.otlp_http.headers.at("x-token"), "abc");
  EXPECT_EQ(config.exporters.spool_dir, "");
  EXPECT_EQ(config.log_level, "debug");
  std::remove(path.c_str());
}

TEST(AgentConfig, DeepflowCompatibilityKeys) {
  ConfigSources sources;
  sources.set_overrides = {"external_agent_http_proxy_enabled=1", "external_agent_http_proxy_port=38087"};
  const auto config = parse_config(merge_config(sources));
  EXPECT_TRUE(config.http.enabled);
  EXPECT_EQ(config.http.port, 38087);
  sources.set_overrides = {"external_agent_http_proxy_enabled=0"};
  EXPECT_FALSE(parse_config(merge_config(sources)).http.enabled);
}

// Writes `text` to a file in the test's temporary directory and returns its path.
std::string write_config_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The agent-group file of the DeepFlow OTel integration guide, as `deepflow-ctl agent-group-config list <id>
// -o yaml` exports it: the integration socket keys beside the group id and the group's other settings.
constexpr const char* kDeepflowAgentGroupFile = R"(vtap_group_id: g-4f3d2a1b0c
max_memory: 1024
max_cpus: 2
log_level: INFO
tap_interface_regex: ^(tap.*|cali.*|veth.*|eth.*|en[ospx].*|lxc.*|lo)$
capture_packet_size: 65535
l7_log_store_tap_types:
- 0
external_agent_http_proxy_enabled: 1
external_agent_http_proxy_port: 38087
domains:
- 0
static_config:
  log-level: info
  ebpf-disabled: false
)";

TEST(AgentConfig, DeepflowAgentGroupFileIsAcceptedAndItsOtherKeysAreListed) {
  ConfigSources sources;
  sources.file = write_config_file("deepflow-agent-group.yaml", kDeepflowAgentGroupFile);
  std::vector<std::string> ignored;
  const auto merged = merge_config(sources, &ignored);
  const auto config = parse_config(merged);
  // What otelbpf has: the integration socket is the OTLP/HTTP receiver, and the log level.
  EXPECT_TRUE(config.http.enabled);
  EXPECT_EQ(config.http.port, 38087);
  EXPECT_EQ(config.log_level, "info");
  // Everything else is named, once each, in file order, and stays out of the effective config.
  EXPECT_EQ(ignored, (std::vector<std::string>{"vtap_group_id", "max_memory", "max_cpus",
                                               "tap_interface_regex", "capture_packet_size",
                                               "l7_log_store_tap_types", "domains", "static_config"}));
  EXPECT_FALSE(merged["vtap_group_id"].IsDefined());
  EXPECT_FALSE(merged["static_config"].IsDefined());
  std::remove(sources.file.c_str());
}

TEST(AgentConfig, DeepflowFileCanDisableTheReceiverAndBeOverridden) {
  ConfigSources sources;
  sources.file = write_config_file("deepflow-disabled.yaml",
                                   "vtap_group_id: g-1\nexternal_agent_http_proxy_enabled: 0\n");
  EXPECT_FALSE(parse_config(merge_config(sources)).http.enabled);
  // The DeepFlow keys are ordinary keys for the later layers.
  sources.set_overrides = {"external_agent_http_proxy_enabled=1"};
  EXPECT_TRUE(parse_config(merge_config(sources)).http.enabled);
  std::remove(sources.file.c_str());
}

TEST(AgentConfig, TyposStayRefusedBesideDeepflowKeys) {
  // A misspelt otelbpf section in a DeepFlow file is still a typo.
  ConfigSources top_level_typo;
  top_level_typo.file =
      write_config_file("deepflow-typo.yaml", "vtap_group_id: g-1\nrecevier:\n  grpc: {}\n");
  try {
    merge_config(top_level_typo);
    FAIL() << "a typo beside DeepFlow keys must not pass";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("recevier"), std::string::npos) << e.what();
  }
  std::remove(top_level_typo.file.c_str());
  // DeepFlow keys are top-level keys of the file: inside an otelbpf section they are unknown keys.
  ConfigSources nested;
  nested.file = write_config_file("deepflow-nested.yaml", "receiver:\n  max_memory: 1024\n");
  EXPECT_THROW(merge_config(nested), ConfigError);
  std::remove(nested.file.c_str());
  // Only a file can be an agent-group config; a flag or variable naming a DeepFlow key is a mistake.
  ConfigSources flag;
  flag.set_overrides = {"vtap_group_id=g-1"};
  EXPECT_THROW(merge_config(flag), ConfigError);
  ConfigSources variable;
  variable.environment = {{"OTELBPF_MAX_MEMORY", "1024"}};
  EXPECT_THROW(merge_config(variable), ConfigError);
}

TEST(AgentConfig, LogLevelsInDeepflowSpellingAreUnderstoodAndUnknownOnesRefused) {
  ConfigSources sources;
  sources.set_overrides = {"log_level=WARNING"};
  EXPECT_EQ(parse_config(merge_config(sources)).log_level, "warn");
  sources.set_overrides = {"log_level=DEBUG"};
  EXPECT_EQ(parse_config(merge_config(sources)).log_level, "debug");
  // spdlog would silently turn an unknown name into "off".
  sources.set_overrides = {"log_level=loud"};
  EXPECT_THROW(parse_config(merge_config(sources)), ConfigError);
  sources.set_overrides = {"external_agent_http_proxy_enabled=maybe"};
  EXPECT_THROW(parse_config(merge_config(sources)), ConfigError);
}

TEST(AgentConfig, UnknownKeysAndBadValuesAreNamed) {
  ConfigSources typo;
  typo.set_overrides = {"receiver.htp.port=1"};
  try {
    merge_config(typo);
    FAIL() << "a typo must not pass";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("receiver.htp"), std::string::npos) << e.what();
  }
  ConfigSources range;
  range.set_overrides = {"receiver.http.port=70000"};
  EXPECT_THROW(parse_config(merge_config(range)), ConfigError);
  ConfigSources type;
  type.set_overrides = {"receiver.http.enabled=maybe"};
  EXPECT_THROW(parse_config(merge_config(type)), ConfigError);
  ConfigSources missing_file;
  missing_file.file = "/nonexistent/otelbpf.yaml";
  EXPECT_THROW(merge_config(missing_file), ConfigError);
  ConfigSources capture;
  capture.set_overrides = {"probes.payload_capture_bytes=9000"};
  EXPECT_THROW(parse_config(merge_config(capture)), ConfigError);
  // Port 0 is what a socket the kernel is done with reports: ignoring it would drop its last reads.
  ConfigSources port_zero;
  port_zero.set_overrides = {"probes.ignore_ports=[22, 0]"};
  EXPECT_THROW(parse_config(merge_config(port_zero)), ConfigError);
}

}  // namespace
}  // namespace otelbpf
