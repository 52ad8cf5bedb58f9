// Configuration layering: embedded defaults < file < OTELBPF_* environment < --set, with unknown keys and
// bad values refused by name.
#include "config/agent_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

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
}

}  // namespace
}  // namespace otelbpf
