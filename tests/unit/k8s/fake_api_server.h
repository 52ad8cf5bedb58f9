#pragma once
// An in-test Kubernetes API server for /api/v1/pods that speaks the real wire format: PodList pages with
// metadata.resourceVersion and metadata.continue, watch streams as chunked newline-delimited WatchEvent
// JSON (ADDED, MODIFIED, DELETED, BOOKMARK, and ERROR carrying a metav1.Status with code 410 once the
// requested resourceVersion is compacted away), and the ways a real server goes away (dropped watch
// connections, the whole listener closing and coming back on the same port).
#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace otelbpf::k8s::testing {

struct FakePod {
  std::string name;
  std::string uid;
  std::string ip;
  std::string node = "node-a";
  std::string ns = "default";
  bool host_network = false;
  std::string phase = "Running";
  std::string owner_kind;
  std::string owner_name;
  std::string template_hash;
  std::vector<std::pair<std::string, std::string>> containers;  // name, "containerd://<id>"
};

inline std::string pod_json(const FakePod& p, std::int64_t rv) {
  std::string owners;
  if (!p.owner_kind.empty())
    owners = fmt::format(
        R"(,"ownerReferences":[{{"apiVersion":"apps/v1","kind":"{}","name":"{}","uid":"owner-{}","controller":true,"blockOwnerDeletion":true}}])",
        p.owner_kind, p.owner_name, p.owner_name);
  std::string labels = R"("app":")" + p.name + "\"";
  if (!p.template_hash.empty()) labels += R"(,"pod-template-hash":")" + p.template_hash + "\"";
  std::string spec_containers, statuses;
  for (const auto& [name, id] : p.containers) {
    if (!spec_containers.empty()) spec_containers += ",";
    spec_containers += fmt::format(
        R"({{"name":"{}","image":"nginx:1.25","ports":[{{"containerPort":80,"protocol":"TCP"}}]}})", name);
    if (!statuses.empty()) statuses += ",";
    statuses += fmt::format(
        R"({{"name":"{}","state":{{"running":{{"startedAt":"2024-05-01T10:00:00Z"}}}},"ready":true,"restartCount":0,"image":"docker.io/library/nginx:1.25","imageID":"docker.io/library/nginx@sha256:00","containerID":"{}","started":true}})",
        name, id);
  }
  const std::string ips =
      p.ip.empty() ? "" : fmt::format(R"(,"podIP":"{}","podIPs":[{{"ip":"{}"}}])", p.ip, p.ip);
  return fmt::format(
      R"({{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{}","generateName":"{}-","namespace":"{}","uid":"{}","resourceVersion":"{}","creationTimestamp":"2024-05-01T10:00:00Z","labels":{{{}}}{},"managedFields":[{{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{{"f:metadata":{{}}}}}}]}},"spec":{{"containers":[{}],"restartPolicy":"Always","nodeName":"{}","hostNetwork":{},"serviceAccountName":"default"}},"status":{{"phase":"{}","conditions":[{{"type":"Ready","status":"True"}}],"hostIP":"192.168.1.10"{},"startTime":"2024-05-01T10:00:00Z","containerStatuses":[{}],"qosClass":"BestEffort"}}}})",
      p.name, p.name, p.ns, p.uid, rv, labels, owners, spec_containers, p.node,
      p.host_network ? "true" : "false", p.phase, ips, statuses);
}

inline std::string status_json(int code, const std::string& reason, const std::string& message) {
  return fmt::format(
      R"({{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{}","reason":"{}","code":{}}})",
      message, reason, code);
}

class FakeApiServer {
 public:
  struct Request {
    std::string target;
    std::string path;
    std::map<std::string, std::string> query;
    std::string authorization;
  };

  FakeApiServer() { listen(0); }
  ~FakeApiServer() { shutdown(); }

  std::uint16_t port() const { return port_; }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }

  // --- the cluster's state -------------------------------------------------------------------------
  void add(const FakePod& pod) { change("ADDED", pod); }
  void modify(const FakePod& pod) { change("MODIFIED", pod); }
  void remove(const std::string& uid) {
    std::lock_guard lock(mutex_);
    auto it = pods_.find(uid);
    if (it == pods_.end()) return;
    const auto rv = ++rv_;
    history_.push_back({rv, it->second.node, event_line("DELETED", pod_json(it->second, rv))});
    pods_.erase(it);
    changed_.notify_all();
  }
  void bookmark() {
    std::lock_guard lock(mutex_);
    const auto rv = ++rv_;
    history_.push_back(
        {rv, "",
         event_line(
             "BOOKMARK",
             fmt::format(
                 R"({{"kind":"Pod","apiVersion":"v1","metadata":{{"resourceVersion":"{}","annotations":{{"k8s.io/initial-events-end":"true"}}}},"spec":{{"containers":null}},"status":{{}}}})",
                 rv))});
    changed_.notify_all();
  }
  // A change made while history is compacted: no watcher ever sees it as an event, only a new LIST does.
  void add_silently(const FakePod& pod) {
    std::lock_guard lock(mutex_);
    pods_[pod.uid] = pod;
    pod_rv_[pod.uid] = ++rv_;
  }
  // etcd compaction: every resourceVersion up to now is too old; open watches get the ERROR 410 event.
  void compact() {
    std::lock_guard lock(mutex_);
    oldest_rv_ = rv_ + 1;
    history_.clear();
    ++compactions_;
    changed_.notify_all();
  }
  // Watch connections break without the terminating chunk (a load balancer or API server restart).
  void drop_watches() {
    std::lock_guard lock(mutex_);
    ++drops_;
    changed_.notify_all();
  }
  // The next LIST page request with a continue token gets HTTP 410 (the token expired).
  void expire_next_continue() {
    std::lock_guard lock(mutex_);
    expire_continue_ = true;
  }

  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int active_watches() const {
    std::lock_guard lock(mutex_);
    return active_watches_;
  }

  // --- the server going away and coming back ----------------------------------------------------
  void shutdown() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
      changed_.notify_all();
      // shutdown(2) wakes the threads blocked in accept or read; each thread closes its own socket.
      ::shutdown(acceptor_->native_handle(), SHUT_RDWR);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    for (auto& t : connection_threads_)
      if (t.joinable()) t.join();
    connection_threads_.clear();
    acceptor_.reset();
  }
  void restart() { listen(port_); }

 private:
  using tcp = boost::asio::ip::tcp;
  struct Event {
    std::int64_t rv;
    std::string node;  // "" = for every watcher (bookmarks)
    std::string line;
  };

  static std::string event_line(const char* type, const std::string& object) {
    return fmt::format(R"({{"type":"{}","object":{}}})", type, object) + "\n";
  }

  void change(const char* type, const FakePod& pod) {
    std::lock_guard lock(mutex_);
    const auto rv = ++rv_;
    pods_[pod.uid] = pod;
    pod_rv_[pod.uid] = rv;
    history_.push_back({rv, pod.node, event_line(type, pod_json(pod, rv))});
    changed_.notify_all();
  }

  void listen(std::uint16_t port) {
    acceptor_ = std::make_unique<tcp::acceptor>(io_);
    const tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"), port);
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(boost::asio::socket_base::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    {
      std::lock_guard lock(mutex_);
      stopped_ = false;
    }
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_->accept(*socket, ec);
      std::lock_guard lock(mutex_);
      if (ec || stopped_) return;
      open_fds_.push_back(socket->native_handle());
      connection_threads_.emplace_back([this, socket] { serve(*socket); });
    }
  }

  static std::map<std::string, std::string> parse_query(const std::string& q) {
    std::map<std::string, std::string> out;
    std::size_t start = 0;
    while (start < q.size()) {
      auto amp = q.find('&', start);
      auto pair = q.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      auto eq = pair.find('=');
      std::string value = eq == std::string::npos ? "" : pair.substr(eq + 1);
      std::string decoded;
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '%' && i + 2 < value.size()) {
          decoded += static_cast<char>(std::stoi(value.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          decoded += value[i];
        }
      }
      out[pair.substr(0, eq)] = decoded;
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
    return out;
  }

  static void write_all(tcp::socket& socket, const std::string& data) {
    boost::system::error_code ec;
    boost::asio::write(socket, boost::asio::buffer(data), ec);
  }

  static void respond(tcp::socket& socket, int status, const char* reason, const std::string& body) {
    write_all(socket, fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
                                  "Connection: close\r\n\r\n{}",
                                  status, reason, body.size(), body));
  }

  void serve(tcp::socket& socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    http::request<http::empty_body> req;
    boost::system::error_code ec;
    http::read(socket, buffer, req, ec);
    if (ec) return finish(socket);
    Request r;
    r.target = std::string(req.target());
    r.path = r.target.substr(0, r.target.find('?'));
    if (auto q = r.target.find('?'); q != std::string::npos) r.query = parse_query(r.target.substr(q + 1));
    r.authorization = std::string(req[http::field::authorization]);
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(r);
    }
    if (r.path != "/api/v1/pods") {
      respond(socket, 404, "Not Found",
              status_json(404, "NotFound", "the server could not find the requested resource"));
      return finish(socket);
    }
    std::string node;
    if (auto fs = r.query.find("fieldSelector");
        fs != r.query.end() && fs->second.starts_with("spec.nodeName="))
      node = fs->second.substr(std::string("spec.nodeName=").size());
    if (r.query.count("watch") && (r.query["watch"] == "1" || r.query["watch"] == "true"))
      watch(socket, node, r.query.count("resourceVersion") ? std::stoll(r.query["resourceVersion"]) : 0);
    else
      list(socket, node, r.query);
    finish(socket);
  }

  void finish(tcp::socket& socket) {
    std::lock_guard lock(mutex_);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), socket.native_handle()), open_fds_.end());
    boost::system::error_code ec;
    socket.close(ec);
  }

  void list(tcp::socket& socket, const std::string& node, std::map<std::string, std::string>& query) {
    std::string body;
    {
      std::lock_guard lock(mutex_);
      if (query.count("continue") && expire_continue_) {
        expire_continue_ = false;
        body =
            status_json(410, "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You "
                        "can start a new list without the continue parameter.");
      } else {
        std::vector<const FakePod*> selected;
        for (const auto& [uid, pod] : pods_)
          if (node.empty() || pod.node == node) selected.push_back(&pod);
        std::sort(selected.begin(), selected.end(), [](auto* a, auto* b) { return a->name < b->name; });
        std::size_t offset = query.count("continue") ? std::stoul(query["continue"].substr(5)) : 0;
        std::size_t limit = query.count("limit") ? std::stoul(query["limit"]) : selected.size();
        std::string items;
        std::size_t end = std::min(selected.size(), offset + limit);
        for (std::size_t i = offset; i < end; ++i) {
          if (!items.empty()) items += ",";
          items += pod_json(*selected[i], pod_rv_[selected[i]->uid]);
        }
        std::string more;
        if (end < selected.size())
          more = fmt::format(R"(,"continue":"page-{}","remainingItemCount":{})", end, selected.size() - end);
        body = fmt::format(
            R"({{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"{}"{}}},"items":[{}]}})",
            rv_, more, items);
      }
    }
    if (body.find("\"code\":410") != std::string::npos) return respond(socket, 410, "Gone", body);
    respond(socket, 200, "OK", body);
  }

  void watch(tcp::socket& socket, const std::string& node, std::int64_t from_rv) {
    write_all(socket,
              "HTTP/1.1 200 OK\r\nCache-Control: no-cache, private\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");
    auto chunk = [&](const std::string& data) {
      write_all(socket, fmt::format("{:x}\r\n{}\r\n", data.size(), data));
    };
    auto gone = [&](std::int64_t rv, std::int64_t oldest) {
      chunk(event_line("ERROR", status_json(410, "Expired",
                                            fmt::format("too old resource version: {} ({})", rv, oldest))));
      write_all(socket, "0\r\n\r\n");
    };
    std::unique_lock lock(mutex_);
    if (from_rv < oldest_rv_ - 1) {
      const auto oldest = oldest_rv_;
      lock.unlock();
      return gone(from_rv, oldest);
    }
    ++active_watches_;
    const int drops = drops_, compactions = compactions_;
    std::int64_t sent_rv = from_rv;
    for (;;) {
      changed_.wait(lock, [&] {
        return stopped_ || drops_ != drops || compactions_ != compactions ||
               (!history_.empty() && history_.back().rv > sent_rv);
      });
      if (stopped_ || drops_ != drops) break;  // abrupt: no terminating chunk
      if (compactions_ != compactions) {
        const auto oldest = oldest_rv_;
        lock.unlock();
        gone(sent_rv, oldest);
        lock.lock();
        break;
      }
      std::vector<std::string> lines;
      for (const auto& e : history_) {
        if (e.rv <= sent_rv) continue;
        sent_rv = e.rv;
        if (e.node.empty() || node.empty() || e.node == node) lines.push_back(e.line);
      }
      lock.unlock();
      // Chunk boundaries are not event boundaries: each event goes out in two chunks, the second of
      // which carries the start of nothing else.
      for (const auto& line : lines) {
        const auto half = line.size() / 2;
        chunk(line.substr(0, half));
        chunk(line.substr(half));
      }
      lock.lock();
    }
    --active_watches_;
  }

  boost::asio::io_context io_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
  std::thread accept_thread_;
  std::vector<std::thread> connection_threads_;
  std::vector<int> open_fds_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stopped_ = false;
  std::map<std::string, FakePod> pods_;
  std::map<std::string, std::int64_t> pod_rv_;
  std::int64_t rv_ = 1000;
  std::int64_t oldest_rv_ = 0;
  std::vector<Event> history_;
  int drops_ = 0;
  int compactions_ = 0;
  bool expire_continue_ = false;
  int active_watches_ = 0;
  std::vector<Request> requests_;
};

}  // namespace otelbpf::k8s::testing
