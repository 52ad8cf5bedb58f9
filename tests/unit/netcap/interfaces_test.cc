#include "netcap/interfaces.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/netlink.h>

#include <cstring>

#include "bpf/events.h"

namespace otelbpf::netcap {
namespace {

LinkInfo link(const char* name, const char* kind, std::uint16_t type = ARPHRD_ETHER,
              std::vector<std::string> addresses = {}) {
  LinkInfo l;
  l.ifindex = 5;
  l.name = name;
  l.kind = kind;
  l.type = type;
  l.up = true;
  l.global_addresses = std::move(addresses);
  return l;
}

TEST(Interfaces, TapClasses) {
  EXPECT_EQ(link("lo", "", ARPHRD_LOOPBACK).tap_class(), TapClass::kLoopback);
  EXPECT_EQ(link("veth1a2b", "veth").tap_class(), TapClass::kPod);
  EXPECT_EQ(link("eth0", "veth", ARPHRD_ETHER, {"192.168.100.1"}).tap_class(), TapClass::kNode);
  EXPECT_EQ(link("ens5", "").tap_class(), TapClass::kNode);
  EXPECT_EQ(link("bond0", "bond").tap_class(), TapClass::kNode);
  EXPECT_EQ(link("flannel.1", "vxlan").tap_class(), TapClass::kTunnel);
  EXPECT_EQ(link("tunl0", "ipip", ARPHRD_TUNNEL).tap_class(), TapClass::kTunnel);
  EXPECT_EQ(link("genev_sys_6081", "geneve").tap_class(), TapClass::kTunnel);
  EXPECT_EQ(link("cni0", "bridge").tap_class(), TapClass::kOther);
  EXPECT_EQ(link("docker0", "bridge").tap_class(), TapClass::kOther);
  EXPECT_TRUE(link("tunl0", "ipip", ARPHRD_TUNNEL).l3());
  EXPECT_TRUE(link("gre1", "gre", ARPHRD_IPGRE).l3());
  EXPECT_FALSE(link("gretap1", "gretap").l3());
  EXPECT_FALSE(link("lo", "", ARPHRD_LOOPBACK).l3());
}

TEST(Interfaces, AutomaticSelection) {
  InterfaceSelection automatic;
  EXPECT_TRUE(automatic.selected(link("veth1", "veth")));
  EXPECT_TRUE(automatic.selected(link("eth0", "")));
  EXPECT_TRUE(automatic.selected(link("vxlan0", "vxlan")));
  EXPECT_FALSE(automatic.selected(link("cni0", "bridge")));
  EXPECT_FALSE(automatic.selected(link("dummy0", "dummy")));
  EXPECT_FALSE(automatic.selected(link("lo", "", ARPHRD_LOOPBACK)));
  InterfaceSelection with_lo{{}, true};
  EXPECT_TRUE(with_lo.selected(link("lo", "", ARPHRD_LOOPBACK)));
}

TEST(Interfaces, NamesAndGlobs) {
  InterfaceSelection s{{"eth0", "cali*", "vxlan.?"}, false};
  EXPECT_TRUE(s.selected(link("eth0", "")));
  EXPECT_FALSE(s.selected(link("eth1", "")));
  EXPECT_TRUE(s.selected(link("cali12345", "veth")));
  EXPECT_TRUE(s.selected(link("vxlan.1", "vxlan")));
  EXPECT_FALSE(s.selected(link("veth9", "veth")));
  EXPECT_TRUE(InterfaceSelection({"lo"}, false).selected(link("lo", "", ARPHRD_LOOPBACK)));
}

// IFLA_INFO_DATA as the kernel sends it: nested attributes, each padded to 4 bytes.
struct Attributes {
  std::vector<std::uint8_t> bytes;
  Attributes& add(std::uint16_t type, const void* value, std::size_t len) {
    nlattr h{static_cast<std::uint16_t>(NLA_HDRLEN + len), type};
    const auto* p = reinterpret_cast<const std::uint8_t*>(&h);
    bytes.insert(bytes.end(), p, p + NLA_HDRLEN);
    const auto* v = static_cast<const std::uint8_t*>(value);
    bytes.insert(bytes.end(), v, v + len);
    bytes.resize(NLA_ALIGN(bytes.size()), 0);
    return *this;
  }
  Attributes& ipv4(std::uint16_t type, const char* text) {
    in_addr a{};
    inet_pton(AF_INET, text, &a);
    return add(type, &a, 4);
  }
};

TEST(Interfaces, TunnelDeviceEndpointsFromLinkInfo) {
  LinkInfo ipip = link("ipipA", "ipip", ARPHRD_TUNNEL);
  auto data = Attributes().ipv4(IFLA_IPTUN_LOCAL, "192.168.100.1").ipv4(IFLA_IPTUN_REMOTE, "192.168.100.2");
  read_tunnel_attributes(ipip, data.bytes.data(), data.bytes.size());
  EXPECT_EQ(ipip.tunnel_local, "192.168.100.1");
  EXPECT_EQ(ipip.tunnel_remote, "192.168.100.2");
  EXPECT_FALSE(ipip.tunnel_id);

  // Calico's tunl0: wildcard endpoints, so no outer address comes from the device.
  LinkInfo tunl0 = link("tunl0", "ipip", ARPHRD_TUNNEL);
  data = Attributes().ipv4(IFLA_IPTUN_LOCAL, "0.0.0.0").ipv4(IFLA_IPTUN_REMOTE, "0.0.0.0");
  read_tunnel_attributes(tunl0, data.bytes.data(), data.bytes.size());
  EXPECT_EQ(tunl0.tunnel_local, "");
  EXPECT_EQ(tunl0.tunnel_remote, "");

  LinkInfo gre = link("greA", "gre", ARPHRD_IPGRE);
  const std::uint32_t key = htonl(5);
  data = Attributes().ipv4(IFLA_GRE_LOCAL, "10.0.0.1").ipv4(IFLA_GRE_REMOTE, "10.0.0.2").add(IFLA_GRE_OKEY, &key, 4);
  read_tunnel_attributes(gre, data.bytes.data(), data.bytes.size());
  EXPECT_EQ(gre.tunnel_local, "10.0.0.1");
  EXPECT_EQ(gre.tunnel_remote, "10.0.0.2");
  EXPECT_EQ(gre.tunnel_id, 5u);

  LinkInfo ip6tnl = link("ip6tnl1", "ip6tnl", ARPHRD_TUNNEL6);
  in6_addr remote{};
  inet_pton(AF_INET6, "fd00::2", &remote);
  data = Attributes().add(IFLA_IPTUN_REMOTE, &remote, 16);
  read_tunnel_attributes(ip6tnl, data.bytes.data(), data.bytes.size());
  EXPECT_EQ(ip6tnl.tunnel_remote, "fd00::2");
}

TEST(Interfaces, MalformedTunnelAttributesAreIgnored) {
  LinkInfo ipip = link("ipipA", "ipip", ARPHRD_TUNNEL);
  // A 3-byte address, and an attribute whose length runs past the buffer.
  auto data = Attributes().add(IFLA_IPTUN_LOCAL, "\x0a\x00\x00", 3);
  nlattr runaway{200, IFLA_IPTUN_REMOTE};
  const auto* p = reinterpret_cast<const std::uint8_t*>(&runaway);
  data.bytes.insert(data.bytes.end(), p, p + NLA_HDRLEN);
  data.bytes.insert(data.bytes.end(), {10, 0, 0, 2});
  read_tunnel_attributes(ipip, data.bytes.data(), data.bytes.size());
  EXPECT_EQ(ipip.tunnel_local, "");
  EXPECT_EQ(ipip.tunnel_remote, "");
}

TEST(Interfaces, TunnelTypeNames) {
  EXPECT_STREQ(tunnel_type_of_kind("vxlan"), "vxlan");
  EXPECT_STREQ(tunnel_type_of_kind("ip6gretap"), "gre");
  EXPECT_STREQ(tunnel_type_of_kind("sit"), "ipip");
  EXPECT_STREQ(tunnel_type_name(OTELBPF_TUNNEL_GENEVE), "geneve");
  EXPECT_STREQ(tunnel_type_name(OTELBPF_TUNNEL_NONE), "none");
}

}  // namespace
}  // namespace otelbpf::netcap
