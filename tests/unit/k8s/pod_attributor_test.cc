#include "k8s/pod_attributor.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace otelbpf::k8s {
namespace {

const std::string kId = "4f1e9a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
const std::string kUid = "2b5a0a6e-1f0c-4c8e-9d3e-7a6b5c4d3e2f";

std::string resource_attr(const otlp::ResourceSpans& rs, const std::string& key) {
  for (const auto& kv : rs.resource().attributes())
    if (kv.key() == key) return kv.value().string_value();
  return "<none>";
}

int count_key(const otlp::ResourceSpans& rs, const std::string& key) {
  int n = 0;
  for (const auto& kv : rs.resource().attributes()) n += kv.key() == key;
  return n;
}

void add_attr(otlp::ResourceSpans& rs, const std::string& key, const std::string& value) {
  auto* kv = rs.mutable_resource()->add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}
// The tracer's resources carry process.pid as an integer; older agents' (and the tests below) as text.
void add_int_attr(otlp::ResourceSpans& rs, const std::string& key, std::int64_t value) {
  auto* kv = rs.mutable_resource()->add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_int_value(value);
}

otlp::ResourceSpans& add_resource(SpanBatch& batch, int spans = 2) {
  auto& rs = *batch.request().add_resource_spans();
  auto* ss = rs.add_scope_spans();
  for (int i = 0; i < spans; ++i) ss->add_spans()->set_name("span");
  return rs;
}

class PodAttributorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("otelbpf-attr-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    write_process(100, "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                           underscores(kUid) + ".slice/cri-containerd-" + kId + ".scope\n");
    write_process(200, "0::/system.slice/sshd.service\n");
    write_process(300, "0::/system.slice/docker-" + std::string(64, 'b') + ".scope\n");
    // A pod whose container started after the last status the cache has.
    write_process(400, "0::/kubepods/besteffort/pod" + kOtherUid + "/" + std::string(64, 'c') + "\n");
    // A pod the cache does not know (yet).
    write_process(500, "0::/kubepods/besteffort/pod" + kUnknownUid + "/" + std::string(64, 'd') + "\n");

    PodInfo web;
    web.uid = kUid;
    web.name = "web-5d4f8c7b9-x2x7q";
    web.namespace_name = "shop";
    web.node_name = "node-a";
    web.phase = "Running";
    web.pod_ips = {"10.1.0.5"};
    web.owners = {{"ReplicaSet", "web-5d4f8c7b9", true}};
    web.pod_template_hash = "5d4f8c7b9";
    web.containers = {{kId, "web", "containerd"}, {std::string(64, 'e'), "envoy", "containerd"}};
    cache_.upsert(web);
    PodInfo worker;
    worker.uid = kOtherUid;
    worker.name = "backup-28391040-abcde";
    worker.namespace_name = "ops";
    worker.node_name = "node-a";
    worker.phase = "Running";
    worker.pod_ips = {"10.1.0.6"};
    worker.owners = {{"Job", "backup-28391040", true}};
    cache_.upsert(worker);
    PodInfo host;
    host.uid = "host-pod";
    host.name = "node-exporter-abcde";
    host.namespace_name = "monitoring";
    host.phase = "Running";
    host.pod_ips = {"192.168.1.10"};
    host.host_network = true;
    host.owners = {{"DaemonSet", "node-exporter", true}};
    cache_.upsert(host);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  static std::string underscores(std::string s) {
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
  }
  void write_process(std::uint32_t pid, const std::string& cgroup) {
    const auto dir = root_ / std::to_string(pid);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "stat") << pid << " (x) S 1 1 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 " << pid * 7
                                << " 1 1\n";
    std::ofstream(dir / "cgroup") << cgroup;
  }
  PodAttributor attributor(bool kubernetes = true) {
    return PodAttributor(PodAttributorOptions{kubernetes, "node-a", "node-a.example"}, cache_, cgroups_,
                         metrics_);
  }
  double attributed(const char* source, const char* how) const {
    return metrics_.value("otelbpf_k8s_attributed_spans_total", {{"source", source}, {"how", how}});
  }
  double unattributed(const char* source) const {
    return metrics_.value("otelbpf_k8s_unattributed_spans_total", {{"source", source}});
  }

  const std::string kOtherUid = "9f8e7d6c-5b4a-4321-8765-0fedcba98765";
  const std::string kUnknownUid = "11111111-2222-3333-4444-555555555555";
  std::filesystem::path root_;
  MetricsRegistry metrics_;
  PodCache cache_;
  ProcessCgroups cgroups_{(std::filesystem::temp_directory_path() /
                           ("otelbpf-attr-" + std::to_string(getpid()) + "-" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                              .string()};
};

TEST_F(PodAttributorTest, SysSpansByPidThroughCgroupAndContainer) {
  SpanBatch batch;
  batch.source = SpanSource::kSys;
  auto& rs = add_resource(batch, 3);
  add_int_attr(rs, "process.pid", 100);
  add_attr(rs, "host.name", "node-a");
  attributor().annotate(batch);
  EXPECT_EQ(resource_attr(rs, "k8s.pod.name"), "web-5d4f8c7b9-x2x7q");
  EXPECT_EQ(resource_attr(rs, "k8s.pod.uid"), kUid);
  EXPECT_EQ(resource_attr(rs, "k8s.namespace.name"), "shop");
  EXPECT_EQ(resource_attr(rs, "k8s.node.name"), "node-a");
  EXPECT_EQ(resource_attr(rs, "k8s.container.name"), "web");
  EXPECT_EQ(resource_attr(rs, "container.id"), kId);
  EXPECT_EQ(resource_attr(rs, "container.runtime"), "containerd");
  EXPECT_EQ(resource_attr(rs, "k8s.deployment.name"), "web");
  EXPECT_EQ(resource_attr(rs, "k8s.replicaset.name"), "web-5d4f8c7b9");
  EXPECT_EQ(resource_attr(rs, "host.name"), "node-a");  // the processor's value stays
  EXPECT_EQ(count_key(rs, "host.name"), 1);
  EXPECT_EQ(count_key(rs, "container.id"), 1);
  EXPECT_EQ(attributed("sys", "cgroup"), 3);
}

TEST_F(PodAttributorTest, SysSpanOfANewContainerFindsThePodByUid) {
  SpanBatch batch;
  batch.source = SpanSource::kSys;
  auto& rs = add_resource(batch);
  add_attr(rs, "process.pid", "400");
  attributor().annotate(batch);
  EXPECT_EQ(resource_attr(rs, "k8s.pod.name"), "backup-28391040-abcde");
  EXPECT_EQ(resource_attr(rs, "k8s.job.name"), "backup-28391040");
  EXPECT_EQ(resource_attr(rs, "k8s.cronjob.name"), "backup");
  EXPECT_EQ(resource_attr(rs, "container.id"), std::string(64, 'c'));
  EXPECT_EQ(resource_attr(rs, "k8s.container.name"), "<none>");
  EXPECT_EQ(resource_attr(rs, "host.name"), "node-a.example");
}

TEST_F(PodAttributorTest, SysSpansOfHostAndUnknownProcesses) {
  SpanBatch batch;
  batch.source = SpanSource::kSys;
  auto& host = add_resource(batch, 1);
  add_attr(host, "process.pid", "200");
  auto& unknown_pod = add_resource(batch, 1);
  add_attr(unknown_pod, "process.pid", "500");
  auto& gone = add_resource(batch, 1);
  add_attr(gone, "process.pid", "999");
  attributor().annotate(batch);
  EXPECT_EQ(resource_attr(host, "k8s.pod.name"), "<none>");
  EXPECT_EQ(resource_attr(host, "container.id"), "<none>");
  EXPECT_EQ(resource_attr(host, "k8s.node.name"), "node-a");
  EXPECT_EQ(resource_attr(unknown_pod, "k8s.pod.uid"), kUnknownUid);
  EXPECT_EQ(resource_attr(unknown_pod, "k8s.pod.name"), "<none>");
  EXPECT_EQ(resource_attr(unknown_pod, "container.id"), std::string(64, 'd'));
  EXPECT_EQ(resource_attr(gone, "k8s.pod.name"), "<none>");
  EXPECT_EQ(unattributed("sys"), 3);
}

TEST_F(PodAttributorTest, ASysSpanOfAProcessAlreadyGoneFindsItsPodByTheCgroupId) {
  // curl in a pod made its call and exited before its events were read: /proc/<pid> is gone, the span
  // carries the cgroup id the probes recorded, and the pod's cgroup directory is still there.
  const auto tree = root_ / "cgroup2";
  const auto container = tree / "kubepods.slice" / "kubepods-burstable.slice" /
                         ("kubepods-burstable-pod" + underscores(kUid) + ".slice") /
                         ("cri-containerd-" + kId + ".scope");
  std::filesystem::create_directories(container);
  struct stat st {};
  ASSERT_EQ(::stat(container.c_str(), &st), 0);
  ProcessCgroups cgroups(root_.string(), 16, tree.string());
  PodAttributor attributor(PodAttributorOptions{true, "node-a", "node-a.example"}, cache_, cgroups, metrics_);
  SpanBatch batch;
  batch.source = SpanSource::kSys;
  auto& rs = add_resource(batch, 1);
  add_attr(rs, "process.pid", "999");  // no such process any more
  add_attr(rs, "otelbpf.cgroup.id", std::to_string(st.st_ino));
  attributor.annotate(batch);
  EXPECT_EQ(resource_attr(rs, "k8s.pod.name"), "web-5d4f8c7b9-x2x7q");
  EXPECT_EQ(resource_attr(rs, "container.id"), kId);
  EXPECT_EQ(attributed("sys", "cgroup"), 1);
}

TEST_F(PodAttributorTest, AppSpansByAppHostIp) {
  SpanBatch batch;
  batch.source = SpanSource::kApp;
  batch.peer_address = "10.1.0.6";  // a collector's address must not win over the SDK's own
  auto& rs = add_resource(batch);
  add_attr(rs, "service.name", "web");
  add_attr(rs, "app.host.ip", "10.1.0.5");
  attributor().annotate(batch);
  EXPECT_EQ(resource_attr(rs, "k8s.pod.name"), "web-5d4f8c7b9-x2x7q");
  EXPECT_EQ(resource_attr(rs, "k8s.deployment.name"), "web");
  EXPECT_EQ(resource_attr(rs, "k8s.container.name"),
            "<none>");  // an address names the pod, not the container
  EXPECT_EQ(resource_attr(rs, "host.name"), "node-a.example");
  EXPECT_EQ(attributed("app", "app.host.ip"), 2);
}

TEST_F(PodAttributorTest, AppSpansByK8sPodIp) {
  SpanBatch batch;
  batch.source = SpanSource::kApp;
  auto& rs = add_resource(batch);
  add_attr(rs, "k8s.pod.ip", "10.1.0.6");
  add_attr(rs, "host.name", "backup-pod");
  attributor().annotate(batch);
  EXPECT_EQ(resource_attr(rs, "k8s.pod.name"), "backup-28391040-abcde");
  EXPECT_EQ(resource_attr(rs, "k8s.namespace.name"), "ops");
  EXPECT_EQ(resource_attr(rs, "host.name"), "backup-pod");
  EXPECT_EQ(attributed("app", "k8s.pod.ip"), 2);
}

TEST_F(PodAttributorTest, AppSpansByPeerAddress) {
  for (const std::string peer : {"10.1.0.5", "::ffff:10.1.0.5", "[::ffff:10.1.0.5]"}) {
    SpanBatch batch;
    batch.source = SpanSource::kApp;
    batch.peer_address = peer;
    auto& rs = add_resource(batch, 1);
    attributor().annotate(batch);
    EXPECT_EQ(resource_attr(rs, "k8s.pod.uid"), kUid) << peer;
  }
  EXPECT_EQ(attributed("app", "peer_address"), 3);
}

TEST_F(PodAttributorTest, AppSpansKeepTheirOwnK8sAttributes) {
  SpanBatch batch;
  batch.source = SpanSource::kApp;
  batch.peer_address = "10.1.0.5";
  auto& rs = add_resource(batch);
  add_attr(rs, "k8s.pod.name", "sdk-says");
  add_attr(rs, "k8s.namespace.name", "sdk-ns");
  attributor().annotate(batch);
  EXPECT_EQ(resource_attr(rs, "k8s.pod.name"), "sdk-says");
  EXPECT_EQ(resource_attr(rs, "k8s.namespace.name"), "sdk-ns");
  EXPECT_EQ(resource_attr(rs, "k8s.pod.uid"), "<none>");
  EXPECT_EQ(attributed("app", "resource"), 2);

  // Only a namespace from the SDK: the pod is looked up, the SDK's namespace stays.
  SpanBatch partial;
  partial.source = SpanSource::kApp;
  auto& p = add_resource(partial, 1);
  add_attr(p, "k8s.namespace.name", "sdk-ns");
  add_attr(p, "app.host.ip", "10.1.0.5");
  attributor().annotate(partial);
  EXPECT_EQ(resource_attr(p, "k8s.pod.name"), "web-5d4f8c7b9-x2x7q");
  EXPECT_EQ(resource_attr(p, "k8s.namespace.name"), "sdk-ns");
  EXPECT_EQ(count_key(p, "k8s.namespace.name"), 1);
}

TEST_F(PodAttributorTest, HostNetworkAndUnknownAddressesAreUnattributed) {
  SpanBatch batch;
  batch.source = SpanSource::kApp;
  batch.peer_address = "192.168.1.10";  // node IP, shared by every hostNetwork pod
  auto& rs = add_resource(batch);
  add_attr(rs, "app.host.ip", "10.9.9.9");
  attributor().annotate(batch);
  EXPECT_EQ(resource_attr(rs, "k8s.pod.name"), "<none>");
  EXPECT_EQ(unattributed("app"), 2);
}

TEST_F(PodAttributorTest, HostModeAddsOnlyHostAndContainer) {
  SpanBatch sys;
  sys.source = SpanSource::kSys;
  auto& docker = add_resource(sys, 1);
  add_attr(docker, "process.pid", "300");
  auto& in_pod = add_resource(sys, 1);
  add_attr(in_pod, "process.pid", "100");
  auto a = attributor(false);
  a.annotate(sys);
  EXPECT_EQ(resource_attr(docker, "container.id"), std::string(64, 'b'));
  EXPECT_EQ(resource_attr(docker, "container.runtime"), "docker");
  EXPECT_EQ(resource_attr(docker, "host.name"), "node-a.example");
  EXPECT_EQ(resource_attr(in_pod, "k8s.pod.name"), "<none>");
  EXPECT_EQ(resource_attr(in_pod, "k8s.node.name"), "<none>");

  SpanBatch app;
  app.source = SpanSource::kApp;
  app.peer_address = "10.1.0.5";
  auto& rs = add_resource(app, 1);
  a.annotate(app);
  EXPECT_EQ(resource_attr(rs, "k8s.pod.name"), "<none>");
  EXPECT_EQ(resource_attr(rs, "host.name"), "node-a.example");
  EXPECT_FALSE(a.attribute_ip("10.1.0.5"));
  EXPECT_EQ(metrics_.value("otelbpf_k8s_unattributed_spans_total", {{"source", "app"}}), 0);
}

TEST_F(PodAttributorTest, NetHelpersByIpAndIfindex) {
  auto a = attributor();
  ASSERT_TRUE(a.attribute_ip("10.1.0.5"));
  EXPECT_EQ(a.attribute_ip("10.1.0.5")->uid, kUid);
  EXPECT_FALSE(a.attribute_ip("192.168.1.10"));
  EXPECT_FALSE(a.attribute_ifindex(17));
  a.set_interface_pod(17, kOtherUid);
  ASSERT_TRUE(a.attribute_ifindex(17));
  EXPECT_EQ(a.attribute_ifindex(17)->name, "backup-28391040-abcde");
  a.forget_interface(17);
  EXPECT_FALSE(a.attribute_ifindex(17));
}

}  // namespace
}  // namespace otelbpf::k8s
