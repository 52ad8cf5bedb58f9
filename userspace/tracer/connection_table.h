#pragma once
// Every socket the probes report, keyed by process and kernel socket: its 5-tuple, its role, and the
// protocol stitcher that turns its bytes into records. Bounded: the least recently used connection is
// evicted at the bound, and connections without traffic are evicted after an idle time; either way the
// stitcher is closed first so pending requests still leave as records.
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/events.h"
#include "common/hash_map.h"
#include "protocols/common/record.h"
#include "protocols/registry/l7_feed.h"
#include "protocols/registry/protocol.h"

namespace otelbpf {

struct ConnectionKey {
  std::uint32_t pid = 0;
  std::uint64_t sock_id = 0;
  bool operator==(const ConnectionKey&) const = default;
  template <class H>
  friend H AbslHashValue(H h, const ConnectionKey& k) {
    return H::combine(std::move(h), k.pid, k.sock_id);
  }
};

struct Connection {
  ConnectionKey key;
  otelbpf_socket_info sock{};
  std::string comm;
  std::uint64_t cgroup_id = 0;  // cgroup v2 id of the process when the connection was first seen
  // From accept (server) or connect (client); kUnknown for connections opened before the agent started,
  // whose role the stitcher infers from the first message.
  l7::Role role_hint = l7::Role::kUnknown;
  l7::L7Feed l7;  // protocol inference and the stitcher
  // kPlaintext: the TLS probes send this connection's plaintext (its socket events are ciphertext);
  // kCiphertext: TLS records seen on the socket and no plaintext (yet).
  enum class Tls : std::uint8_t { kNone, kCiphertext, kPlaintext } tls = Tls::kNone;
  std::uint64_t last_seen_ns = 0;
  // The socket's addresses as text, made once for all the connection's spans (sock never changes: a
  // socket address reused with other ends is a new Connection).
  std::string local_address_text, peer_address_text;

  l7::Role role() const;
};

// Whether bytes start a TLS record: a handshake (ClientHello/ServerHello) or, when `application_data`
// (a connection seen from its middle, whose protocol is not known yet), application data. Record versions
// 0x0301-0x0304; lengths at most 2^14 + 2048.
bool looks_like_tls_record(std::string_view bytes, bool application_data);

class ConnectionTable {
 public:
  using EvictHandler = std::function<void(Connection&, std::uint64_t now_ns)>;

  ConnectionTable(std::size_t max_connections, std::uint64_t idle_ns, EvictHandler on_evict);

  // Finds or creates the connection of an event; `created` tells which.
  Connection& upsert(const otelbpf_event_header& event, bool& created);
  Connection* find(const ConnectionKey& key);
  // Removes a connection without calling the evict handler (the caller closed it).
  std::unique_ptr<Connection> take(const ConnectionKey& key);
  // Evicts connections idle since before now - idle_ns.
  void evict_idle(std::uint64_t now_ns);
  // Removes every connection of a process (it exited), without the evict handler; the caller closes them.
  std::vector<std::unique_ptr<Connection>> take_all_of(std::uint32_t pid);

  std::size_t size() const { return index_.size(); }
  std::uint64_t evictions() const { return evictions_; }

 private:
  using Lru = std::list<std::unique_ptr<Connection>>;
  void evict(Lru::iterator it, std::uint64_t now_ns);

  std::size_t max_connections_;
  std::uint64_t idle_ns_;
  EvictHandler on_evict_;
  Lru lru_;  // most recently used first
  // Every data event looks its connection up: in a flat table the key and the list position sit in the
  // slot the hash names, one cache miss fewer than a node table's (its chain walk was ~5 % of the tracer).
  FlatHashMap<ConnectionKey, Lru::iterator> index_;
  // Connections per process: a process exit (frequent on a busy node, and mostly of processes without
  // sockets) looks through the table only when the process has some.
  FlatHashMap<std::uint32_t, std::uint32_t> per_process_;
  std::uint64_t evictions_ = 0;
  void forget(const ConnectionKey& key);
};

}  // namespace otelbpf
