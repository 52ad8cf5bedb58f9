#include "k8s/pod_cache.h"

#include <gtest/gtest.h>

#include "fake_api_server.h"
#include "k8s/pod_json.h"

namespace otelbpf::k8s {
namespace {

std::string attr(const WorkloadAttributes& w, const std::string& key) {
  for (const auto& [k, v] : w)
    if (k == key) return v;
  return "<none>";
}

TEST(Workload, ReplicaSetOfADeployment) {
  auto w = derive_workload({{"ReplicaSet", "web-5d4f8c7b9", true}});
  EXPECT_EQ(attr(w, "k8s.replicaset.name"), "web-5d4f8c7b9");
  EXPECT_EQ(attr(w, "k8s.deployment.name"), "web");
  // With the pod-template-hash label the suffix is known exactly, even for names with dashes.
  w = derive_workload({{"ReplicaSet", "payment-api-7c9b8d6f5", true}}, "7c9b8d6f5");
  EXPECT_EQ(attr(w, "k8s.deployment.name"), "payment-api");
}

TEST(Workload, BareReplicaSetHasNoDeployment) {
  auto w = derive_workload({{"ReplicaSet", "standalone", true}});
  EXPECT_EQ(attr(w, "k8s.replicaset.name"), "standalone");
  EXPECT_EQ(attr(w, "k8s.deployment.name"), "<none>");
  // A label that does not match the name's suffix: not a Deployment's ReplicaSet.
  w = derive_workload({{"ReplicaSet", "web-abc", true}}, "5d4f8c7b9");
  EXPECT_EQ(attr(w, "k8s.deployment.name"), "<none>");
  // "-api" is not a template hash (vowel, too short).
  w = derive_workload({{"ReplicaSet", "payment-api", true}});
  EXPECT_EQ(attr(w, "k8s.deployment.name"), "<none>");
}

TEST(Workload, OtherControllers) {
  EXPECT_EQ(attr(derive_workload({{"DaemonSet", "node-exporter", true}}), "k8s.daemonset.name"),
            "node-exporter");
  EXPECT_EQ(attr(derive_workload({{"StatefulSet", "mysql", true}}), "k8s.statefulset.name"), "mysql");
  auto job = derive_workload({{"Job", "backup-28391040", true}});
  EXPECT_EQ(attr(job, "k8s.job.name"), "backup-28391040");
  EXPECT_EQ(attr(job, "k8s.cronjob.name"), "backup");
  auto manual = derive_workload({{"Job", "db-migrate-2", true}});
  EXPECT_EQ(attr(manual, "k8s.job.name"), "db-migrate-2");
  EXPECT_EQ(attr(manual, "k8s.cronjob.name"), "<none>");
  EXPECT_TRUE(derive_workload({{"Node", "node-a", true}}).empty());  // static (mirror) pods
  EXPECT_TRUE(derive_workload({}).empty());
}

TEST(Workload, ControllerOwnerWins) {
  auto w = derive_workload({{"ConfigMap", "x", false}, {"StatefulSet", "kafka", true}});
  EXPECT_EQ(attr(w, "k8s.statefulset.name"), "kafka");
}

PodInfo pod(const std::string& uid, const std::string& ip, std::vector<ContainerInfo> containers = {}) {
  PodInfo p;
  p.uid = uid;
  p.name = "pod-" + uid;
  p.namespace_name = "shop";
  p.node_name = "node-a";
  p.phase = "Running";
  if (!ip.empty()) p.pod_ips = {ip};
  p.containers = std::move(containers);
  p.owners = {{"ReplicaSet", "web-5d4f8c7b9", true}};
  return p;
}

TEST(PodCache, IndexesByUidIpAndContainer) {
  PodCache cache;
  cache.upsert(pod("u1", "10.1.0.5", {{"c1", "web", "containerd"}, {"c2", "sidecar", "containerd"}}));
  ASSERT_TRUE(cache.by_uid("u1"));
  EXPECT_EQ(cache.by_uid("u1")->name, "pod-u1");
  EXPECT_EQ(attr(cache.by_uid("u1")->workload, "k8s.deployment.name"), "web");
  ASSERT_TRUE(cache.by_ip("10.1.0.5"));
  auto match = cache.by_container("c2");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->pod->uid, "u1");
  EXPECT_EQ(match->container->name, "sidecar");
  EXPECT_FALSE(cache.by_container("c3"));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(PodCache, HostNetworkAndFinishedPodsAreNotFoundByIp) {
  PodCache cache;
  auto host = pod("u1", "192.168.1.10");
  host.host_network = true;
  cache.upsert(host);
  auto done = pod("u2", "10.1.0.9");
  done.phase = "Succeeded";
  cache.upsert(done);
  EXPECT_FALSE(cache.by_ip("192.168.1.10"));
  EXPECT_FALSE(cache.by_ip("10.1.0.9"));
  EXPECT_TRUE(cache.by_uid("u1"));
}

TEST(PodCache, UpdateMovesIndexes) {
  PodCache cache;
  cache.upsert(pod("u1", "10.1.0.5", {{"c1", "web", ""}}));
  cache.upsert(pod("u1", "10.1.0.6", {{"c9", "web", ""}}));  // restarted container, new IP
  EXPECT_FALSE(cache.by_ip("10.1.0.5"));
  EXPECT_TRUE(cache.by_ip("10.1.0.6"));
  EXPECT_FALSE(cache.by_container("c1"));
  EXPECT_TRUE(cache.by_container("c9"));
}

TEST(PodCache, DeletedPodIsKeptForLateSpansButLosesItsIp) {
  PodCache cache(PodCacheOptions{std::chrono::seconds(60)});
  const auto t0 = PodCache::Clock::now();
  cache.upsert(pod("u1", "10.1.0.5", {{"c1", "web", ""}}), t0);
  cache.remove("u1", t0);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.by_ip("10.1.0.5"));
  EXPECT_TRUE(cache.by_uid("u1"));
  EXPECT_TRUE(cache.by_container("c1"));
  // The IP goes to a new pod at once.
  cache.upsert(pod("u2", "10.1.0.5"), t0 + std::chrono::seconds(1));
  EXPECT_EQ(cache.by_ip("10.1.0.5")->uid, "u2");
  // After the retention the deleted pod is gone for good.
  cache.upsert(pod("u3", ""), t0 + std::chrono::seconds(61));
  EXPECT_FALSE(cache.by_uid("u1"));
  EXPECT_FALSE(cache.by_container("c1"));
  EXPECT_EQ(cache.size(), 2u);
}

TEST(PodCache, ReplaceAllDropsWhatTheListLacks) {
  PodCache cache;
  cache.upsert(pod("u1", "10.1.0.1"));
  cache.upsert(pod("u2", "10.1.0.2"));
  cache.replace_all({pod("u2", "10.1.0.2"), pod("u3", "10.1.0.3")});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.by_ip("10.1.0.1"));
  EXPECT_TRUE(cache.by_ip("10.1.0.3"));
}

TEST(PodJson, DecodesARealPod) {
  testing::FakePod fake;
  fake.name = "web-5d4f8c7b9-x2x7q";
  fake.uid = "2b5a0a6e-1f0c-4c8e-9d3e-7a6b5c4d3e2f";
  fake.ip = "10.244.1.7";
  fake.ns = "shop";
  fake.owner_kind = "ReplicaSet";
  fake.owner_name = "web-5d4f8c7b9";
  fake.template_hash = "5d4f8c7b9";
  fake.containers = {{"web", "containerd://abc123"}, {"envoy", "cri-o://def456"}};
  const std::string list =
      R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"4711","continue":"tok","remainingItemCount":3},"items":[)" +
      testing::pod_json(fake, 4700) + "]}";
  PodJsonDecoder decoder;
  PodListPage page;
  std::string error;
  ASSERT_TRUE(decoder.decode_pod_list(list, page, error)) << error;
  EXPECT_EQ(page.resource_version, "4711");
  EXPECT_EQ(page.continue_token, "tok");
  ASSERT_EQ(page.items.size(), 1u);
  const auto& p = page.items[0];
  EXPECT_EQ(p.uid, fake.uid);
  EXPECT_EQ(p.name, fake.name);
  EXPECT_EQ(p.namespace_name, "shop");
  EXPECT_EQ(p.node_name, "node-a");
  EXPECT_EQ(p.resource_version, "4700");
  EXPECT_EQ(p.phase, "Running");
  EXPECT_EQ(p.pod_ips, std::vector<std::string>{"10.244.1.7"});
  EXPECT_FALSE(p.host_network);
  EXPECT_EQ(p.pod_template_hash, "5d4f8c7b9");
  ASSERT_EQ(p.owners.size(), 1u);
  EXPECT_EQ(p.owners[0].kind, "ReplicaSet");
  EXPECT_TRUE(p.owners[0].controller);
  ASSERT_EQ(p.containers.size(), 2u);
  EXPECT_EQ(p.containers[0].id, "abc123");
  EXPECT_EQ(p.containers[0].runtime, "containerd");
  EXPECT_EQ(p.containers[1].name, "envoy");
  EXPECT_EQ(p.containers[1].runtime, "cri-o");
}

TEST(PodJson, DecodesWatchEvents) {
  PodJsonDecoder decoder;
  WatchEvent event;
  std::string error;
  testing::FakePod fake;
  fake.name = "a";
  fake.uid = "u";
  ASSERT_TRUE(decoder.decode_watch_event(R"({"type":"MODIFIED","object":)" + testing::pod_json(fake, 9) + "}",
                                         event, error));
  EXPECT_EQ(event.type, WatchEventType::kModified);
  EXPECT_EQ(event.pod.uid, "u");
  ASSERT_TRUE(decoder.decode_watch_event(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12345"},"spec":{"containers":null},"status":{}}})",
      event, error));
  EXPECT_EQ(event.type, WatchEventType::kBookmark);
  EXPECT_EQ(event.pod.resource_version, "12345");
  ASSERT_TRUE(decoder.decode_watch_event(
      R"({"type":"ERROR","object":)" +
          testing::status_json(410, "Expired", "too old resource version: 1 (2)") + "}",
      event, error));
  EXPECT_EQ(event.type, WatchEventType::kError);
  EXPECT_EQ(event.status_code, 410);
  EXPECT_EQ(event.status_reason, "Expired");
  EXPECT_FALSE(decoder.decode_watch_event("{\"type\":\"ADDED\"", event, error));
  EXPECT_FALSE(decoder.decode_watch_event(R"({"type":"SOMETHING","object":{}})", event, error));
  EXPECT_FALSE(decoder.decode_pod_list(testing::status_json(403, "Forbidden", "no"),
                                       *std::make_unique<PodListPage>(), error));
  EXPECT_NE(error.find("Status"), std::string::npos);
}

}  // namespace
}  // namespace otelbpf::k8s
