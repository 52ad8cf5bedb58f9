#include "k8s/kube_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fake_api_server.h"

namespace otelbpf::k8s {
namespace {

using testing::FakeApiServer;
using testing::FakePod;
using namespace std::chrono_literals;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

FakePod make_pod(const std::string& name, const std::string& ip, const std::string& node = "node-a") {
  FakePod p;
  p.name = name;
  p.uid = "uid-" + name;
  p.ip = ip;
  p.node = node;
  p.owner_kind = "ReplicaSet";
  p.owner_name = "web-5d4f8c7b9";
  p.template_hash = "5d4f8c7b9";
  p.containers = {{"app", "containerd://" + std::string(63, '0') + name.substr(name.size() - 1)}};
  return p;
}

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_file_ = std::filesystem::temp_directory_path() /
                  ("otelbpf-token-" + std::to_string(getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    write_token("token-1");
    server_.add_silently(make_pod("web-1", "10.1.0.1"));
    server_.add_silently(make_pod("web-2", "10.1.0.2"));
    server_.add_silently(make_pod("web-3", "10.1.0.3"));
    server_.add_silently(make_pod("other-1", "10.2.0.1", "node-b"));
  }
  void TearDown() override {
    client_.reset();
    std::filesystem::remove(token_file_);
  }
  void write_token(const std::string& token) { std::ofstream(token_file_) << token << "\n"; }

  KubeClientOptions options() {
    KubeClientOptions o;
    o.api_url = server_.url();
    o.token_file = token_file_.string();
    o.node_name = "node-a";
    o.page_size = 2;
    o.initial_backoff = 50ms;
    o.max_backoff = 200ms;
    o.watch_timeout = 30s;
    return o;
  }
  void start(KubeClientOptions o) {
    client_ = std::make_unique<KubeClient>(std::move(o), cache_, metrics_);
    client_->start();
    ASSERT_TRUE(client_->wait_synced(10s));
  }
  std::vector<FakeApiServer::Request> lists() const {
    std::vector<FakeApiServer::Request> out;
    for (auto& r : server_.requests())
      if (!r.query.count("watch")) out.push_back(r);
    return out;
  }
  std::vector<FakeApiServer::Request> watches() const {
    std::vector<FakeApiServer::Request> out;
    for (auto& r : server_.requests())
      if (r.query.count("watch")) out.push_back(r);
    return out;
  }
  double restarts(const char* reason) const {
    return metrics_.value("otelbpf_k8s_watch_restarts_total", {{"reason", reason}});
  }

  FakeApiServer server_;
  std::filesystem::path token_file_;
  MetricsRegistry metrics_;
  PodCache cache_;
  std::unique_ptr<KubeClient> client_;
};

TEST_F(KubeClientTest, ListsInPagesThenWatchesUpdates) {
  start(options());
  EXPECT_EQ(cache_.size(), 3u);
  EXPECT_TRUE(cache_.by_ip("10.1.0.2"));
  EXPECT_FALSE(cache_.by_uid("uid-other-1"));  // another node's pod
  EXPECT_EQ(metrics_.value("otelbpf_k8s_pods"), 3);

  // Two pages (limit=2, then continue), each with the node's field selector and the bearer token.
  auto listed = lists();
  ASSERT_EQ(listed.size(), 2u);
  for (const auto& r : listed) {
    EXPECT_NE(r.target.find("fieldSelector=spec.nodeName%3Dnode-a"), std::string::npos) << r.target;
    EXPECT_EQ(r.query.at("fieldSelector"), "spec.nodeName=node-a");
    EXPECT_EQ(r.query.at("limit"), "2");
    EXPECT_EQ(r.authorization, "Bearer token-1");
  }
  EXPECT_FALSE(listed[0].query.count("continue"));
  EXPECT_EQ(listed[1].query.at("continue"), "page-2");

  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  auto watched = watches();
  ASSERT_EQ(watched.size(), 1u);
  EXPECT_EQ(watched[0].query.at("resourceVersion"), "1004");  // the list's metadata.resourceVersion
  EXPECT_EQ(watched[0].query.at("allowWatchBookmarks"), "true");
  EXPECT_EQ(watched[0].query.at("fieldSelector"), "spec.nodeName=node-a");
  EXPECT_EQ(watched[0].authorization, "Bearer token-1");

  server_.add(make_pod("web-4", "10.1.0.4"));
  ASSERT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.4") != nullptr; }));
  EXPECT_EQ(cache_.by_ip("10.1.0.4")->name, "web-4");
  auto moved = make_pod("web-1", "10.1.0.11");
  server_.modify(moved);
  ASSERT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.11") != nullptr; }));
  EXPECT_FALSE(cache_.by_ip("10.1.0.1"));
  server_.remove("uid-web-2");
  ASSERT_TRUE(eventually([&] { return cache_.size() == 3; }));
  EXPECT_FALSE(cache_.by_ip("10.1.0.2"));
  server_.add(make_pod("other-2", "10.2.0.2", "node-b"));  // the selector keeps it out
  server_.bookmark();
  server_.add(make_pod("web-5", "10.1.0.5"));
  ASSERT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.5") != nullptr; }));
  EXPECT_FALSE(cache_.by_uid("uid-other-2"));
  EXPECT_EQ(metrics_.value("otelbpf_k8s_pods"), 4);
  EXPECT_EQ(lists().size(), 2u);  // no relist was needed
}

TEST_F(KubeClientTest, RelistsAfter410GoneErrorEvent) {
  start(options());
  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  // A change the watch never delivers, then compaction: the watch ends with ERROR 410 (a Status object).
  server_.add_silently(make_pod("web-9", "10.1.0.9"));
  server_.compact();
  ASSERT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.9") != nullptr; }));
  EXPECT_EQ(restarts("gone"), 1);
  EXPECT_EQ(lists().size(), 4u);  // two pages, twice
  // Watching again from the new list's resourceVersion, and it works.
  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  EXPECT_EQ(watches().back().query.at("resourceVersion"), "1005");
  server_.add(make_pod("web-6", "10.1.0.6"));
  EXPECT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.6") != nullptr; }));
}

TEST_F(KubeClientTest, WatchFromACompactedVersionRelists) {
  start(options());
  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  // The watch breaks, and while it is away the history it would resume from is compacted.
  server_.shutdown();
  server_.add_silently(make_pod("web-7", "10.1.0.7"));
  server_.compact();
  server_.restart();
  ASSERT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.7") != nullptr; }));
  EXPECT_GE(restarts("gone"), 1);
}

TEST_F(KubeClientTest, ExpiredContinueTokenRestartsTheList) {
  server_.expire_next_continue();
  start(options());
  EXPECT_EQ(cache_.size(), 3u);
  // page 1, page 2 (410 Gone), then page 1 and page 2 again.
  auto listed = lists();
  ASSERT_EQ(listed.size(), 4u);
  EXPECT_FALSE(listed[2].query.count("continue"));
}

TEST_F(KubeClientTest, DroppedWatchReconnectsFromItsResourceVersion) {
  start(options());
  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  server_.add(make_pod("web-4", "10.1.0.4"));
  ASSERT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.4") != nullptr; }));
  server_.drop_watches();
  ASSERT_TRUE(eventually([&] { return restarts("disconnected") == 1; }));
  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  EXPECT_EQ(watches().back().query.at("resourceVersion"), "1005");  // the last event's, no relist
  EXPECT_EQ(lists().size(), 2u);
  server_.add(make_pod("web-5", "10.1.0.5"));
  EXPECT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.5") != nullptr; }));
}

TEST_F(KubeClientTest, ServerGoneAndBackReconnectsWithBackoffKeepingTheCache) {
  start(options());
  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  const double errors_before = metrics_.value("otelbpf_k8s_api_errors_total", {{"reason", "connect"}});
  server_.shutdown();
  std::this_thread::sleep_for(1500ms);
  // Attribution goes on from the cache while the API is away.
  EXPECT_EQ(cache_.size(), 3u);
  EXPECT_TRUE(cache_.by_ip("10.1.0.3"));
  // Backoff: 50 ms doubling to 200 ms with jitter gives roughly 7 to 15 attempts in 1.5 s, not thousands.
  const double attempts =
      metrics_.value("otelbpf_k8s_api_errors_total", {{"reason", "connect"}}) - errors_before;
  EXPECT_GE(attempts, 3);
  EXPECT_LE(attempts, 30);
  // Changes made while the agent could not see them arrive on reconnect, from the watch's resourceVersion.
  server_.add(make_pod("web-8", "10.1.0.8"));
  server_.restart();
  ASSERT_TRUE(eventually([&] { return cache_.by_ip("10.1.0.8") != nullptr; }));
  EXPECT_EQ(lists().size(), 2u);
  EXPECT_GE(restarts("disconnected") + restarts("error"), 1);
}

TEST_F(KubeClientTest, TokenIsReadAgain) {
  auto o = options();
  o.token_reread = 0s;
  start(o);
  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  write_token("token-2");
  server_.drop_watches();
  ASSERT_TRUE(eventually([&] { return watches().size() == 2; }));
  EXPECT_EQ(watches().back().authorization, "Bearer token-2");
}

TEST_F(KubeClientTest, StartsWhileTheApiIsDownAndStopsPromptly) {
  server_.shutdown();
  client_ = std::make_unique<KubeClient>(options(), cache_, metrics_);
  client_->start();
  EXPECT_FALSE(client_->wait_synced(300ms));
  server_.restart();
  EXPECT_TRUE(client_->wait_synced(10s));
  ASSERT_TRUE(eventually([&] { return server_.active_watches() == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  client_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(Backoff, DoublesToTheCapWithJitter) {
  EXPECT_EQ(backoff_delay(0, 100ms, 10s, 0.0), 50ms);
  EXPECT_EQ(backoff_delay(0, 100ms, 10s, 0.999), 99ms);
  EXPECT_EQ(backoff_delay(3, 100ms, 10s, 0.0), 400ms);
  EXPECT_EQ(backoff_delay(30, 100ms, 10s, 0.0), 5s);
  EXPECT_LE(backoff_delay(1000, 100ms, 10s, 1.0), 10s);
}

TEST(KubeConfig, InClusterFromEnvironment) {
  auto o = in_cluster_options({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->api_url, "https://10.96.0.1:443");
  EXPECT_EQ(o->token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(o->ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  EXPECT_EQ(in_cluster_options({{"KUBERNETES_SERVICE_HOST", "fd00::1"}})->api_url, "https://[fd00::1]:443");
  EXPECT_FALSE(in_cluster_options({}));
}

TEST(KubeConfig, Modes) {
  const std::map<std::string, std::string> cluster{{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                                   {"KUBERNETES_SERVICE_PORT", "6443"}};
  KubeClientOptions none;
  EXPECT_FALSE(resolve_kube_client_options(KubernetesMode::kAuto, none, {}));  // bare-metal host mode
  EXPECT_THROW(resolve_kube_client_options(KubernetesMode::kOn, none, {}), std::runtime_error);
  EXPECT_FALSE(resolve_kube_client_options(KubernetesMode::kOff, none, cluster));
  auto in = resolve_kube_client_options(KubernetesMode::kAuto, none, cluster);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->api_url, "https://10.96.0.1:6443");
  EXPECT_EQ(in->ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  KubeClientOptions proxy;
  proxy.api_url = "http://127.0.0.1:8001";
  auto explicit_url = resolve_kube_client_options(KubernetesMode::kAuto, proxy, cluster);
  ASSERT_TRUE(explicit_url);
  EXPECT_EQ(explicit_url->api_url, "http://127.0.0.1:8001");
  EXPECT_EQ(explicit_url->token_file, "");
  EXPECT_EQ(parse_kubernetes_mode("on"), KubernetesMode::kOn);
  EXPECT_THROW(parse_kubernetes_mode("yes"), std::invalid_argument);
  EXPECT_EQ(resolve_node_name("n1", {{"NODE_NAME", "n2"}}), "n1");
  EXPECT_EQ(resolve_node_name("", {{"NODE_NAME", "n2"}}), "n2");
  EXPECT_FALSE(resolve_node_name("", {}).empty());
}

TEST(KubeConfig, BadUrlAndCaAreStartupErrors) {
  PodCache cache;
  MetricsRegistry metrics;
  KubeClientOptions o;
  o.api_url = "ftp://x";
  EXPECT_THROW(KubeClient(o, cache, metrics), std::invalid_argument);
  o.api_url = "https://10.96.0.1:443";
  o.ca_file = "/nonexistent/ca.crt";
  EXPECT_THROW(KubeClient(o, cache, metrics), std::invalid_argument);
}

}  // namespace
}  // namespace otelbpf::k8s
