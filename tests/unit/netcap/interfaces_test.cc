#include "netcap/interfaces.h"

#include <gtest/gtest.h>
#include <linux/if_arp.h>

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

TEST(Interfaces, TunnelTypeNames) {
  EXPECT_STREQ(tunnel_type_of_kind("vxlan"), "vxlan");
  EXPECT_STREQ(tunnel_type_of_kind("ip6gretap"), "gre");
  EXPECT_STREQ(tunnel_type_of_kind("sit"), "ipip");
  EXPECT_STREQ(tunnel_type_name(OTELBPF_TUNNEL_GENEVE), "geneve");
  EXPECT_STREQ(tunnel_type_name(OTELBPF_TUNNEL_NONE), "none");
}

}  // namespace
}  // namespace otelbpf::netcap
