#include "netcap/interfaces.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <stdexcept>

#include "bpf/events.h"

namespace otelbpf::netcap {
namespace {

constexpr std::array<const char*, 9> kTunnelKinds = {"vxlan", "geneve", "ipip",   "sit",      "ip6tnl",
                                                     "gre",   "gretap", "ip6gre", "ip6gretap"};

bool is_tunnel_kind(const std::string& kind) {
  return std::find_if(kTunnelKinds.begin(), kTunnelKinds.end(), [&](const char* k) { return kind == k; }) !=
         kTunnelKinds.end();
}

std::string address_text(int family, const std::uint8_t* data, std::size_t len) {
  char text[INET6_ADDRSTRLEN] = {};
  if ((family == AF_INET && len >= 4) || (family == AF_INET6 && len >= 16))
    inet_ntop(family, data, text, sizeof text);
  return text;
}

// The endpoint attributes of ipip/sit/ip6tnl and the gre family: 4 bytes for IPv4, 16 for IPv6. A
// wildcard endpoint (Calico's tunl0, the fallback devices ipip and ip_gre create) is all zeros: the
// device has no fixed outer address, so none is reported.
std::string tunnel_endpoint(const std::uint8_t* v, std::size_t n) {
  if (n != 4 && n != 16) return {};
  if (std::all_of(v, v + n, [](std::uint8_t b) { return b == 0; })) return {};
  return address_text(n == 16 ? AF_INET6 : AF_INET, v, n);
}

}  // namespace

void read_tunnel_attributes(LinkInfo& link, const std::uint8_t* data, std::size_t len) {
  const bool vxlan = link.kind == "vxlan";
  const bool geneve = link.kind == "geneve";
  const bool iptun = link.kind == "ipip" || link.kind == "sit" || link.kind == "ip6tnl";
  const bool gre = link.kind.find("gre") != std::string::npos;
  if (!vxlan && !geneve && !iptun && !gre) return;
  for_each_attribute(data, len, [&](std::uint16_t type, const std::uint8_t* v, std::size_t n) {
    std::uint32_t u32 = 0;
    if (n >= 4) std::memcpy(&u32, v, 4);
    if (vxlan) {
      if (type == IFLA_VXLAN_ID && n >= 4) link.tunnel_id = u32;
      if (type == IFLA_VXLAN_GROUP) link.tunnel_remote = address_text(AF_INET, v, n);
      if (type == IFLA_VXLAN_GROUP6) link.tunnel_remote = address_text(AF_INET6, v, n);
      if (type == IFLA_VXLAN_LOCAL) link.tunnel_local = address_text(AF_INET, v, n);
      if (type == IFLA_VXLAN_LOCAL6) link.tunnel_local = address_text(AF_INET6, v, n);
    } else if (geneve) {
      if (type == IFLA_GENEVE_ID && n >= 4) link.tunnel_id = u32;
      if (type == IFLA_GENEVE_REMOTE) link.tunnel_remote = address_text(AF_INET, v, n);
      if (type == IFLA_GENEVE_REMOTE6) link.tunnel_remote = address_text(AF_INET6, v, n);
    } else if (iptun) {
      if (type == IFLA_IPTUN_LOCAL) link.tunnel_local = tunnel_endpoint(v, n);
      if (type == IFLA_IPTUN_REMOTE) link.tunnel_remote = tunnel_endpoint(v, n);
    } else {
      if (type == IFLA_GRE_LOCAL) link.tunnel_local = tunnel_endpoint(v, n);
      if (type == IFLA_GRE_REMOTE) link.tunnel_remote = tunnel_endpoint(v, n);
      // The key the device puts on what it sends (network byte order), which is what a request carries.
      if (type == IFLA_GRE_OKEY && n >= 4 && u32) link.tunnel_id = ntohl(u32);
    }
  });
}

const char* to_string(TapClass c) {
  switch (c) {
    case TapClass::kLoopback:
      return "loopback";
    case TapClass::kTunnel:
      return "tunnel";
    case TapClass::kPod:
      return "pod";
    case TapClass::kNode:
      return "node";
    case TapClass::kOther:
      break;
  }
  return "other";
}

bool LinkInfo::l3() const {
  return type != ARPHRD_ETHER && type != ARPHRD_LOOPBACK && type != ARPHRD_IEEE802;
}

TapClass LinkInfo::tap_class() const {
  if (type == ARPHRD_LOOPBACK) return TapClass::kLoopback;
  if (is_tunnel_kind(kind)) return TapClass::kTunnel;
  if (kind == "veth") return global_addresses.empty() ? TapClass::kPod : TapClass::kNode;
  if ((kind.empty() || kind == "bond") && type == ARPHRD_ETHER) return TapClass::kNode;
  return TapClass::kOther;
}

std::vector<LinkInfo> list_links(NetlinkSocket& nl) {
  std::map<std::uint32_t, LinkInfo> links;
  struct {
    nlmsghdr h;
    ifinfomsg i;
  } link_req{};
  link_req.h.nlmsg_len = sizeof link_req;
  link_req.h.nlmsg_type = RTM_GETLINK;
  link_req.i.ifi_family = AF_UNSPEC;
  int rc = nl.dump(link_req.h, [&](const nlmsghdr& h) {
    if (h.nlmsg_type != RTM_NEWLINK) return;
    const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(&h));
    LinkInfo link;
    link.ifindex = static_cast<std::uint32_t>(ifi->ifi_index);
    link.type = ifi->ifi_type;
    link.up = ifi->ifi_flags & IFF_UP;
    const std::uint8_t* info_data = nullptr;
    std::size_t info_data_len = 0;
    for_each_attribute(
        IFLA_RTA(ifi), IFLA_PAYLOAD(&h), [&](std::uint16_t type, const std::uint8_t* v, std::size_t n) {
          if (type == IFLA_IFNAME)
            link.name.assign(reinterpret_cast<const char*>(v), strnlen(reinterpret_cast<const char*>(v), n));
          if (type == IFLA_MASTER && n >= 4) std::memcpy(&link.master, v, 4);
          if (type == IFLA_LINKINFO) {
            for_each_attribute(v, n, [&](std::uint16_t t2, const std::uint8_t* v2, std::size_t n2) {
              if (t2 == IFLA_INFO_KIND)
                link.kind.assign(reinterpret_cast<const char*>(v2),
                                 strnlen(reinterpret_cast<const char*>(v2), n2));
              if (t2 == IFLA_INFO_DATA) {
                info_data = v2;
                info_data_len = n2;
              }
            });
          }
        });
    if (info_data) read_tunnel_attributes(link, info_data, info_data_len);
    links[link.ifindex] = std::move(link);
  });
  if (rc < 0) throw std::runtime_error(std::string("netlink link dump: ") + std::strerror(-rc));

  struct {
    nlmsghdr h;
    ifaddrmsg a;
  } addr_req{};
  addr_req.h.nlmsg_len = sizeof addr_req;
  addr_req.h.nlmsg_type = RTM_GETADDR;
  addr_req.a.ifa_family = AF_UNSPEC;
  rc = nl.dump(addr_req.h, [&](const nlmsghdr& h) {
    if (h.nlmsg_type != RTM_NEWADDR) return;
    const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(&h));
    if (ifa->ifa_scope != RT_SCOPE_UNIVERSE) return;
    auto it = links.find(ifa->ifa_index);
    if (it == links.end()) return;
    std::string address;
    for_each_attribute(IFA_RTA(ifa), IFA_PAYLOAD(&h),
                       [&](std::uint16_t type, const std::uint8_t* v, std::size_t n) {
                         if (type == IFA_LOCAL || (type == IFA_ADDRESS && address.empty()))
                           address = address_text(ifa->ifa_family, v, n);
                       });
    if (!address.empty()) it->second.global_addresses.push_back(address);
  });
  if (rc < 0) throw std::runtime_error(std::string("netlink address dump: ") + std::strerror(-rc));

  std::vector<LinkInfo> out;
  out.reserve(links.size());
  for (auto& [index, link] : links) out.push_back(std::move(link));
  return out;
}

bool InterfaceSelection::selected(const LinkInfo& link) const {
  if (link.tap_class() == TapClass::kLoopback && !include_loopback) {
    // An explicit name still wins over the loopback default.
    if (patterns.empty()) return false;
  }
  if (!patterns.empty()) {
    for (const auto& p : patterns)
      if (fnmatch(p.c_str(), link.name.c_str(), 0) == 0) return true;
    return link.tap_class() == TapClass::kLoopback && include_loopback;
  }
  const TapClass c = link.tap_class();
  return c == TapClass::kPod || c == TapClass::kNode || c == TapClass::kTunnel ||
         (c == TapClass::kLoopback && include_loopback);
}

const char* tunnel_type_name(std::uint8_t tunnel_type) {
  switch (tunnel_type) {
    case OTELBPF_TUNNEL_IPIP:
      return "ipip";
    case OTELBPF_TUNNEL_VXLAN:
      return "vxlan";
    case OTELBPF_TUNNEL_GRE:
      return "gre";
    case OTELBPF_TUNNEL_GENEVE:
      return "geneve";
    default:
      return "none";
  }
}

const char* tunnel_type_of_kind(const std::string& kind) {
  if (kind == "vxlan") return "vxlan";
  if (kind == "geneve") return "geneve";
  if (kind == "ipip" || kind == "sit" || kind == "ip6tnl") return "ipip";
  if (kind.find("gre") != std::string::npos) return "gre";
  return "none";
}

}  // namespace otelbpf::netcap
