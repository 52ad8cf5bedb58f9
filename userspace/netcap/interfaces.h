#pragma once
// The network interfaces of the agent's network namespace, which of them the packet capture taps, and
// what each tap point is on the path of a call (docs/design.md, Span sources: otelbpf.tap.side).
//
// Tap classes (the heuristic; see also NetSpanBuilder for the client/server half):
//   loopback  `lo` (ARPHRD_LOOPBACK)
//   tunnel    vxlan, geneve, ipip, sit, ip6tnl, gre, gretap, ip6gre, ip6gretap devices: the packets on
//             them are the inner ones
//   pod       a veth without a global address: the host end of a pod's veth pair (bridge ports,
//             Calico's cali*, Cilium's lxc* all have none)
//   node      a physical Ethernet NIC (no link kind), a bond, or a veth that holds a global address
//             (the node's own uplink in netns-based setups such as kind or our e2e test)
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netcap/netlink.h"

namespace otelbpf::netcap {

enum class TapClass : std::uint8_t { kOther, kLoopback, kTunnel, kPod, kNode };
const char* to_string(TapClass c);

struct LinkInfo {
  std::uint32_t ifindex = 0;
  std::string name;
  std::string kind;        // IFLA_INFO_KIND: "veth", "vxlan", ... ("" for physical NICs)
  std::uint16_t type = 0;  // ARPHRD_*
  std::uint32_t master = 0;
  bool up = false;
  std::vector<std::string> global_addresses;
  // Tunnel devices (vxlan, geneve, ipip/sit/ip6tnl, the gre family): their VNI or GRE key and their
  // fixed endpoints, from IFLA_INFO_DATA.
  std::optional<std::uint32_t> tunnel_id;
  std::string tunnel_local;
  std::string tunnel_remote;

  // No link-layer header: tc sees packets starting at the IP header.
  bool l3() const;
  TapClass tap_class() const;
};

// Fills link.tunnel_id / tunnel_local / tunnel_remote from a tunnel device's IFLA_INFO_DATA (nested
// netlink attributes of the device's kind); other kinds and unknown attributes are ignored.
void read_tunnel_attributes(LinkInfo& link, const std::uint8_t* data, std::size_t len);

// Every link and its global addresses, by RTM_GETLINK and RTM_GETADDR dumps. Throws std::runtime_error.
std::vector<LinkInfo> list_links(NetlinkSocket& nl);

// Which interfaces to tap: config patterns (names and fnmatch globs; empty = automatic: veths, physical
// NICs, tunnel devices), loopback only when asked for.
struct InterfaceSelection {
  std::vector<std::string> patterns;
  bool include_loopback = false;

  bool selected(const LinkInfo& link) const;
};

// "otelbpf.tunnel.type" values.
const char* tunnel_type_name(std::uint8_t tunnel_type);    // enum otelbpf_tunnel_type
const char* tunnel_type_of_kind(const std::string& kind);  // for a tunnel device's own packets

}  // namespace otelbpf::netcap
