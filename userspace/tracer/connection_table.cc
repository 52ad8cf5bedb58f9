#include "tracer/connection_table.h"

#include <netinet/in.h>

#include <cstring>

namespace otelbpf {

l7::Role Connection::role() const {
  if (role_hint != l7::Role::kUnknown) return role_hint;
  return l7.role();
}

ConnectionTable::ConnectionTable(std::size_t max_connections, std::uint64_t idle_ns, EvictHandler on_evict)
    : max_connections_(max_connections), idle_ns_(idle_ns), on_evict_(std::move(on_evict)) {}

Connection& ConnectionTable::upsert(const otelbpf_event_header& event, bool& created) {
  const ConnectionKey key{event.pid, event.sock.sock_id};
  if (auto it = index_.find(key); it != index_.end()) {
    created = false;
    lru_.splice(lru_.begin(), lru_, it->second);
    auto& conn = *lru_.front();
    // A kernel socket address reused by a new socket of the same process (missed close): start over.
    // A local port of 0 is the same socket after TCP is done with it: tcp_done() releases the port
    // (inet_put_port zeroes it) while data can still wait in the receive queue, e.g. a PostgreSQL
    // ReadyForQuery read after the client's Terminate and the server's FIN.
    const bool port_released = event.sock.sport == 0 && event.sock.protocol == IPPROTO_TCP;
    if (std::memcmp(conn.sock.daddr, event.sock.daddr, sizeof conn.sock.daddr) != 0 ||
        conn.sock.dport != event.sock.dport || (conn.sock.sport != event.sock.sport && !port_released)) {
      evict(lru_.begin(), event.ts_enter_ns);
      return upsert(event, created);
    }
    conn.last_seen_ns = event.ts_exit_ns;
    return conn;
  }
  if (index_.size() >= max_connections_ && !lru_.empty()) evict(std::prev(lru_.end()), event.ts_enter_ns);
  auto conn = std::make_unique<Connection>();
  conn->key = key;
  conn->sock = event.sock;
  conn->comm.assign(event.comm, strnlen(event.comm, sizeof event.comm));
  conn->cgroup_id = event.cgroup_id;
  conn->last_seen_ns = event.ts_exit_ns;
  lru_.push_front(std::move(conn));
  index_[key] = lru_.begin();
  ++per_process_[key.pid];
  created = true;
  return *lru_.front();
}

Connection* ConnectionTable::find(const ConnectionKey& key) {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : it->second->get();
}

std::unique_ptr<Connection> ConnectionTable::take(const ConnectionKey& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  auto conn = std::move(*it->second);
  lru_.erase(it->second);
  index_.erase(it);
  forget(key);
  return conn;
}

void ConnectionTable::forget(const ConnectionKey& key) {
  if (auto count = per_process_.find(key.pid); count != per_process_.end() && --count->second == 0)
    per_process_.erase(count);
}

std::vector<std::unique_ptr<Connection>> ConnectionTable::take_all_of(std::uint32_t pid) {
  std::vector<std::unique_ptr<Connection>> out;
  if (!per_process_.contains(pid)) return out;
  for (auto it = lru_.begin(); it != lru_.end();) {
    if ((*it)->key.pid != pid) {
      ++it;
      continue;
    }
    index_.erase((*it)->key);
    out.push_back(std::move(*it));
    it = lru_.erase(it);
  }
  per_process_.erase(pid);
  return out;
}

void ConnectionTable::evict(Lru::iterator it, std::uint64_t now_ns) {
  auto conn = std::move(*it);
  index_.erase(conn->key);
  lru_.erase(it);
  forget(conn->key);
  ++evictions_;
  if (on_evict_) on_evict_(*conn, now_ns);
}

void ConnectionTable::evict_idle(std::uint64_t now_ns) {
  while (!lru_.empty() && lru_.back()->last_seen_ns + idle_ns_ < now_ns) evict(std::prev(lru_.end()), now_ns);
}

}  // namespace otelbpf

namespace otelbpf {

bool looks_like_tls_record(std::string_view bytes, bool application_data) {
  if (bytes.size() < 5) return false;
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
  constexpr std::uint8_t kHandshake = 0x16, kApplicationData = 0x17;
  constexpr std::uint8_t kClientHello = 1, kServerHello = 2;
  if (byte(1) != 0x03 || byte(2) < 0x01 || byte(2) > 0x04) return false;
  const std::size_t length = (std::size_t{byte(3)} << 8) | byte(4);
  if (length == 0 || length > 16384 + 2048) return false;
  if (byte(0) == kHandshake) return bytes.size() < 6 || byte(5) == kClientHello || byte(5) == kServerHello;
  return application_data && byte(0) == kApplicationData;
}

}  // namespace otelbpf
