#pragma once
// Turns an L7 record seen at one capture point into a net span (docs/design.md, Span sources): the protocol's
// attributes from the shared parsers, the inner 5-tuple, the TCP sequence numbers the assembler links
// by, where the packets were seen (interface, tap side) and the tunnel they travelled in.
//
// Tap side = the interface's TapClass (interfaces.h) + which way the request crossed it:
//   pod NIC (host end of a pod's veth): the request arrives on tc ingress when the pod sent it
//     (client-pod-nic), leaves on tc egress when the pod receives it (server-pod-nic);
//   node NIC: the request leaves on tc egress from the client's node (client-node-nic), arrives on tc
//     ingress at the server's node (server-node-nic);
//   tunnel devices: the request leaves through the client node's tunnel device on tc egress
//     (client-tunnel: before the encapsulated packet leaves by the node NIC) and comes out of the server
//     node's on tc ingress (server-tunnel: after the node NIC);
//   lo: "loopback". Which side of the exchange is the client comes from the L7 parser (who sent the
//   request), not from ports or SYNs.
#include <cstdint>
#include <optional>
#include <string>

#include "model/span_batch.h"
#include "netcap/interfaces.h"
#include "protocols/common/record.h"
#include "spans/span_helpers.h"

namespace otelbpf::netcap {


// What the agent knows about a capture point.
struct TapInterface {
  std::uint32_t ifindex = 0;
  std::string name;
  std::string kind;
  TapClass tap_class = TapClass::kOther;
  std::optional<std::uint32_t> tunnel_id;  // tunnel devices' own VNI
  std::string tunnel_local;
  std::string tunnel_remote;
};

struct Endpoint {
  std::uint8_t addr[16] = {};
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

// Everything about the exchange that is not in the record.
struct NetSpanOrigin {
  const TapInterface* tap = nullptr;
  std::uint8_t family = 0;    // AF_INET / AF_INET6
  std::uint8_t protocol = 6;  // IPPROTO_TCP, or IPPROTO_UDP (DNS)
  Endpoint client;
  Endpoint server;
  std::uint8_t request_tc_direction = 0;  // enum otelbpf_tc_direction of the client's packets here
  // From the client's packets at this capture point.
  std::uint8_t tunnel_type = 0;  // enum otelbpf_tunnel_type
  bool has_tunnel_id = false;
  std::uint32_t tunnel_id = 0;
  std::uint8_t outer_family = 0;
  std::uint8_t outer_src[16] = {};
  std::uint8_t outer_dst[16] = {};
  std::uint16_t vlan_id = 0;  // 0 = none
  std::uint64_t retransmissions = 0;
  std::uint64_t zero_windows = 0;
  std::int64_t monotonic_to_wall_ns = 0;
};

// "client-pod-nic", ... (see above).
const char* tap_side(TapClass tap_class, std::uint8_t request_tc_direction);

otlp::Span build_net_span(const l7::L7Record& record, const NetSpanOrigin& origin, SpanIdGenerator& ids);

}  // namespace otelbpf::netcap
