#include "netcap/net_span_builder.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <variant>

#include "bpf/events.h"

namespace otelbpf::netcap {
const char* tap_side(TapClass tap_class, std::uint8_t request_tc_direction) {
  const bool request_in = request_tc_direction == OTELBPF_TC_INGRESS;
  switch (tap_class) {
    case TapClass::kLoopback:
      return "loopback";
    case TapClass::kTunnel:
      // The request enters the tunnel device on the client's node (tc egress, before the encapsulated
      // packet leaves by the node NIC) and leaves it on the server's node (tc ingress, after the node NIC).
      return request_in ? "server-tunnel" : "client-tunnel";
    case TapClass::kPod:
      return request_in ? "client-pod-nic" : "server-pod-nic";
    case TapClass::kNode:
    case TapClass::kOther:
      break;
  }
  return request_in ? "server-node-nic" : "client-node-nic";
}

otlp::Span build_net_span(const l7::L7Record& record, const NetSpanOrigin& origin, SpanIdGenerator& ids) {
  // Neither end of the call: a point on the path between them.
  otlp::Span span =
      begin_record_span(record, otlp::Span::SPAN_KIND_INTERNAL, origin.monotonic_to_wall_ns, ids);

  const TapInterface* tap = origin.tap;
  const TapClass tap_class = tap ? tap->tap_class : TapClass::kOther;
  add_str(span, attr::kTapInterface, tap ? tap->name : std::string());
  add_int(span, "otelbpf.tap.ifindex", tap ? tap->ifindex : 0);
  add_str(span, attr::kTapSide, tap_side(tap_class, origin.request_tc_direction));

  // The tunnel: from the packets when they were encapsulated here, else from the tunnel device itself.
  if (origin.tunnel_type != OTELBPF_TUNNEL_NONE) {
    add_str(span, attr::kTunnelType, tunnel_type_name(origin.tunnel_type));
    if (origin.has_tunnel_id)
      add_int(span, origin.tunnel_type == OTELBPF_TUNNEL_GRE ? attr::kTunnelKey : attr::kTunnelVni,
              origin.tunnel_id);
    add_str(span, attr::kOuterSrc, format_address(origin.outer_src, origin.outer_family));
    add_str(span, attr::kOuterDst, format_address(origin.outer_dst, origin.outer_family));
  } else if (tap_class == TapClass::kTunnel && tap) {
    const std::string type = tunnel_type_of_kind(tap->kind);
    add_str(span, attr::kTunnelType, type);
    if (tap->tunnel_id) add_int(span, type == "gre" ? attr::kTunnelKey : attr::kTunnelVni, *tap->tunnel_id);
    // The device's configured endpoints, in the request's direction.
    const bool leaving = origin.request_tc_direction == OTELBPF_TC_EGRESS;
    const std::string& src = leaving ? tap->tunnel_local : tap->tunnel_remote;
    const std::string& dst = leaving ? tap->tunnel_remote : tap->tunnel_local;
    if (!src.empty()) add_str(span, attr::kOuterSrc, src);
    if (!dst.empty()) add_str(span, attr::kOuterDst, dst);
  } else {
    add_str(span, attr::kTunnelType, "none");
  }
  if (origin.vlan_id) add_int(span, "otelbpf.vlan.id", origin.vlan_id);

  const std::string client = format_address(origin.client.addr, origin.family);
  const std::string server = format_address(origin.server.addr, origin.family);
  add_str(span, "network.transport", origin.protocol == IPPROTO_UDP ? "udp" : "tcp");
  add_str(span, "network.type", origin.family == AF_INET6 ? "ipv6" : "ipv4");
  add_str(span, "network.peer.address", server);
  add_int(span, "network.peer.port", origin.server.port);
  add_str(span, "client.address", client);
  add_int(span, "client.port", origin.client.port);
  if (!l7::find_attribute(record, "server.address")) add_str(span, "server.address", server);
  if (!l7::find_attribute(record, "server.port")) add_int(span, "server.port", origin.server.port);
  for (const auto& [key, value] : record.attributes) add_span_attribute(span, key, value);
  add_str(span, otelbpf::attr::kL7Protocol, record.protocol);
  add_int(span, "otelbpf.req.bytes", static_cast<std::int64_t>(record.req_bytes));
  add_int(span, "otelbpf.resp.bytes", static_cast<std::int64_t>(record.resp_bytes));
  add_int(span, otelbpf::attr::kReqSeq, record.req_seq);
  add_int(span, otelbpf::attr::kRespSeq, record.resp_seq);
  add_int(span, attr::kRetransmissions, static_cast<std::int64_t>(origin.retransmissions));
  add_int(span, attr::kZeroWindows, static_cast<std::int64_t>(origin.zero_windows));
  if (record.response_missing) add_span_attribute(span, "otelbpf.response_missing", true);
  if (record.error) {
    span.mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
    span.mutable_status()->set_message(exportable_status_message(record));
  }
  return span;
}

}  // namespace otelbpf::netcap
