// Whole TCP conversations (scapy fixtures, each in a different tunnel) through the packet parser and the
// event processor: one net span per exchange with the L7 attributes of the shared parsers, the TCP
// sequence numbers of the request and response, the tap side, the tunnel, and retransmissions / zero
// windows seen during the exchange.
#include "netcap/packet_event_processor.h"

#include <gtest/gtest.h>

#include <map>

#include "netcap/packet_parser.h"
#include "pcap_fixtures.h"

namespace otelbpf::netcap {
namespace {

using testing::fixture_path;
using testing::FixtureLine;
using testing::read_lines;
using testing::read_pcap;

struct Conversation {
  std::vector<std::pair<std::vector<std::uint8_t>, std::uint8_t>> frames;  // frame, tc direction
  FixtureLine expect;
};

std::map<std::string, Conversation> load_conversations(const std::string& name = "flows") {
  const auto frames = read_pcap(fixture_path(name + ".pcap"));
  std::map<std::string, Conversation> out;
  std::size_t i = 0;
  for (const auto& line : read_lines(fixture_path(name + ".txt"))) {
    if (line.name == "expect") {
      FixtureLine e = line;
      out[line.word].expect = e;
      continue;
    }
    out[line.name].frames.emplace_back(frames.at(i++),
                                       line.word == "egress" ? OTELBPF_TC_EGRESS : OTELBPF_TC_INGRESS);
  }
  EXPECT_EQ(i, frames.size());
  return out;
}

const otlp::AnyValue* find(const otlp::Span& span, const std::string& key) {
  for (const auto& kv : span.attributes())
    if (kv.key() == key) return &kv.value();
  return nullptr;
}
std::string str(const otlp::Span& span, const std::string& key) {
  const auto* v = find(span, key);
  return v ? v->string_value() : "<absent>";
}
std::int64_t num(const otlp::Span& span, const std::string& key) {
  const auto* v = find(span, key);
  return v ? v->int_value() : -1;
}

struct Harness {
  MetricsRegistry metrics;
  std::vector<SpanBatch> batches;
  PacketEventProcessor processor{PacketEventProcessorOptions{},
                                 [this](SpanBatch b) { batches.push_back(std::move(b)); }, metrics};
  std::vector<otlp::Span> spans() {
    std::vector<otlp::Span> out;
    for (const auto& b : batches) {
      EXPECT_EQ(b.source, SpanSource::kNet);
      for (const auto& rs : b.request().resource_spans())
        for (const auto& ss : rs.scope_spans())
          for (const auto& s : ss.spans()) out.push_back(s);
    }
    return out;
  }
  void feed(const Conversation& c, std::uint32_t ifindex, bool flip_directions = false,
            std::size_t skip_first = 0) {
    std::uint64_t ts = 1000;
    for (std::size_t i = skip_first; i < c.frames.size(); ++i) {
      FrameContext ctx;
      ctx.ifindex = ifindex;
      ctx.direction = flip_directions ? 1 - c.frames[i].second : c.frames[i].second;
      ctx.ts_ns = ts += 1000;
      ParsedPacket parsed;
      if (parse_frame(c.frames[i].first, ctx, parsed) == ParseOutcome::kEmit)
        processor.on_event(parsed.event, parsed.payload);
    }
    processor.tick();
  }
};

TEST(PacketEventProcessor, EveryConversationBecomesOneNetSpan) {
  const auto conversations = load_conversations();
  ASSERT_EQ(conversations.size(), 5u);
  for (const auto& [name, c] : conversations) {
    SCOPED_TRACE(name);
    Harness h;
    h.processor.set_interface(TapInterface{3, "eth0", "", TapClass::kNode, {}, "", ""});
    h.feed(c, 3);
    const auto spans = h.spans();
    ASSERT_EQ(spans.size(), 1u);
    const auto& s = spans[0];
    const auto& e = c.expect;
    EXPECT_EQ(s.name(), "GET /items");
    EXPECT_EQ(s.kind(), otlp::Span::SPAN_KIND_INTERNAL);
    EXPECT_EQ(str(s, "http.request.method"), e.at("method"));
    EXPECT_EQ(str(s, "url.path"), e.at("path"));
    EXPECT_EQ(num(s, "http.response.status_code"), static_cast<std::int64_t>(e.num("status")));
    EXPECT_EQ(num(s, "otelbpf.tcp.req_seq"), static_cast<std::int64_t>(e.num("req_seq")));
    EXPECT_EQ(num(s, "otelbpf.tcp.resp_seq"), static_cast<std::int64_t>(e.num("resp_seq")));
    EXPECT_EQ(num(s, "otelbpf.req.bytes"), static_cast<std::int64_t>(e.num("req_bytes")));
    EXPECT_EQ(num(s, "otelbpf.resp.bytes"), static_cast<std::int64_t>(e.num("resp_bytes")));
    EXPECT_EQ(str(s, "otelbpf.tunnel.type"), e.at("tunnel"));
    EXPECT_EQ(num(s, "otelbpf.tcp.retransmissions"), static_cast<std::int64_t>(e.num("retransmissions")));
    EXPECT_EQ(num(s, "otelbpf.tcp.zero_windows"), static_cast<std::int64_t>(e.num("zero_windows")));
    EXPECT_EQ(str(s, "client.address") + ":" + std::to_string(num(s, "client.port")), e.at("client"));
    EXPECT_EQ(str(s, "network.peer.address") + ":" + std::to_string(num(s, "network.peer.port")),
              e.at("server"));
    EXPECT_EQ(str(s, "otelbpf.l7.protocol"), "http1");
    EXPECT_EQ(str(s, "otelbpf.tap.interface"), "eth0");
    // The client's packets left through tc egress of a node NIC: the client's node.
    EXPECT_EQ(str(s, "otelbpf.tap.side"), "client-node-nic");
    if (e.at("tunnel") != "none") {
      EXPECT_EQ(str(s, "otelbpf.tunnel.outer.src_address"), "192.168.100.1");
      EXPECT_EQ(str(s, "otelbpf.tunnel.outer.dst_address"), "192.168.100.2");
    }
    if (e.at("tunnel") == "vxlan") EXPECT_EQ(num(s, "otelbpf.tunnel.vni"), 42);
    if (e.at("tunnel") == "geneve") EXPECT_EQ(num(s, "otelbpf.tunnel.vni"), 77);
    if (e.at("tunnel") == "gre") EXPECT_EQ(num(s, "otelbpf.tunnel.gre_key"), 5);
    EXPECT_LE(s.start_time_unix_nano(), s.end_time_unix_nano());
    EXPECT_EQ(h.processor.flows(), 0u) << "FIN from both sides ends the flow";
  }
}

TEST(PacketEventProcessor, TapSidesFollowTheInterfaceClassAndTheRequestDirection) {
  const auto conversations = load_conversations();
  const auto& c = conversations.at("http_plain");
  struct Case {
    TapClass tap_class;
    bool flip;
    const char* side;
  } cases[] = {
      {TapClass::kNode, false, "client-node-nic"}, {TapClass::kNode, true, "server-node-nic"},
      {TapClass::kPod, false, "server-pod-nic"},   {TapClass::kPod, true, "client-pod-nic"},
      {TapClass::kTunnel, false, "client-tunnel"}, {TapClass::kTunnel, true, "server-tunnel"},
      {TapClass::kLoopback, false, "loopback"},
  };
  for (const auto& tc : cases) {
    Harness h;
    h.processor.set_interface(
        TapInterface{9, "if9", "vxlan", tc.tap_class, 42, "192.168.100.1", "192.168.100.2"});
    h.feed(c, 9, tc.flip);
    const auto spans = h.spans();
    ASSERT_EQ(spans.size(), 1u);
    EXPECT_EQ(str(spans[0], "otelbpf.tap.side"), tc.side);
    if (tc.tap_class == TapClass::kTunnel) {
      // Inner packets on a tunnel device: the tunnel comes from the device.
      EXPECT_EQ(str(spans[0], "otelbpf.tunnel.type"), "vxlan");
      EXPECT_EQ(num(spans[0], "otelbpf.tunnel.vni"), 42);
      // The device's endpoints in the request's direction: out of the local end on the client's node.
      EXPECT_EQ(str(spans[0], "otelbpf.tunnel.outer.src_address"), tc.flip ? "192.168.100.2" : "192.168.100.1");
      EXPECT_EQ(str(spans[0], "otelbpf.tunnel.outer.dst_address"), tc.flip ? "192.168.100.1" : "192.168.100.2");
    }
  }
}

TEST(PacketEventProcessor, GreTunnelDeviceSpansCarryTheDevicesKey) {
  const auto conversations = load_conversations();
  Harness h;
  h.processor.set_interface(TapInterface{9, "greA", "gre", TapClass::kTunnel, 5, "192.168.100.1", "192.168.100.2"});
  h.feed(conversations.at("http_plain"), 9, false);
  const auto spans = h.spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(str(spans[0], "otelbpf.tap.side"), "client-tunnel");
  EXPECT_EQ(str(spans[0], "otelbpf.tunnel.type"), "gre");
  EXPECT_EQ(num(spans[0], "otelbpf.tunnel.gre_key"), 5);
  EXPECT_EQ(str(spans[0], "otelbpf.tunnel.outer.dst_address"), "192.168.100.2");
}

TEST(PacketEventProcessor, AFlowAlreadyRunningIsPickedUpAtTheNextRequest) {
  const auto conversations = load_conversations();
  Harness h;
  h.feed(conversations.at("http_plain"), 4, false, /*skip the handshake*/ 3);
  const auto spans = h.spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(num(spans[0], "otelbpf.tcp.req_seq"), 100001);
  EXPECT_EQ(str(spans[0], "client.address"), "10.244.1.11");
  EXPECT_EQ(str(spans[0], "otelbpf.tap.interface"), "if4");
}

TEST(PacketEventProcessor, CapturePointsAreSeparateFlows) {
  const auto conversations = load_conversations();
  Harness h;
  h.feed(conversations.at("http_plain"), 4);
  h.feed(conversations.at("http_plain"), 5, true);
  const auto spans = h.spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(num(spans[0], "otelbpf.tcp.req_seq"), num(spans[1], "otelbpf.tcp.req_seq"));
  EXPECT_EQ(num(spans[0], "otelbpf.tcp.retransmissions"), 0);
}

TEST(PacketEventProcessor, TheFlowTableIsBounded) {
  MetricsRegistry metrics;
  PacketEventProcessorOptions options;
  options.max_flows = 8;
  std::size_t spans = 0;
  PacketEventProcessor p(
      options, [&](SpanBatch b) { spans += b.span_count(); }, metrics);
  for (std::uint16_t port = 1; port <= 100; ++port) {
    otelbpf_packet_event ev{};
    ev.protocol = 6;
    ev.family = 2;
    ev.saddr[0] = 10;
    ev.daddr[0] = 11;
    ev.sport = port;
    ev.dport = 80;
    ev.seq = 1;
    ev.tcp_flags = OTELBPF_TCP_PSH | OTELBPF_TCP_ACK;
    ev.window = 100;
    const std::string req = "GET / HTTP/1.1\r\n\r\n";
    ev.payload_len = ev.captured_len = static_cast<std::uint16_t>(req.size());
    p.on_event(ev, {reinterpret_cast<const std::uint8_t*>(req.data()), req.size()});
    EXPECT_LE(p.flows(), 8u);
  }
  p.close_all();
  EXPECT_EQ(spans, 100u) << "evicted flows still report their pending request (response missing)";
}

// DNS over UDP: the query and its answer at one capture point make one net span with the DNS parser's
// attributes, the client's port and the query id (what the assembler matches the client's and the
// resolver's sys spans by), in each tunnel.
TEST(PacketEventProcessor, DnsOverUdpBecomesOneNetSpanPerQuery) {
  const auto conversations = load_conversations("dns_flows");
  ASSERT_EQ(conversations.size(), 3u);
  for (const auto& [name, c] : conversations) {
    SCOPED_TRACE(name);
    Harness h;
    h.processor.set_interface(TapInterface{3, "eth0", "", TapClass::kNode, {}, "", ""});
    h.feed(c, 3);
    const auto spans = h.spans();
    ASSERT_EQ(spans.size(), 1u);
    const auto& s = spans[0];
    const auto& e = c.expect;
    EXPECT_EQ(s.name(), "A " + e.at("question"));
    EXPECT_EQ(str(s, "network.transport"), "udp");
    EXPECT_EQ(str(s, "otelbpf.l7.protocol"), "dns");
    EXPECT_EQ(str(s, "dns.question.name"), e.at("question"));
    EXPECT_EQ(num(s, "otelbpf.dns.id"), static_cast<std::int64_t>(e.num("id")));
    EXPECT_EQ(str(s, "otelbpf.dns.rcode"), e.at("rcode"));
    EXPECT_EQ(num(s, "otelbpf.dns.answer_count"), static_cast<std::int64_t>(e.num("answers")));
    EXPECT_EQ(str(s, "client.address") + ":" + std::to_string(num(s, "client.port")), e.at("client"));
    EXPECT_EQ(str(s, "network.peer.address") + ":" + std::to_string(num(s, "network.peer.port")), e.at("server"));
    EXPECT_EQ(str(s, "otelbpf.tap.side"), "client-node-nic");
    EXPECT_EQ(str(s, "otelbpf.tunnel.type"), e.at("tunnel"));
    // NXDOMAIN is an answer, not a failure (the DNS parser's rule, same as on the sys spans).
    EXPECT_NE(s.status().code(), otlp::Status::STATUS_CODE_ERROR);
  }
}

// A datagram that is not DNS on a DNS port (garbage, or cut to a few bytes) makes no span and no crash;
// the flow is given up on like any unrecognised TCP flow.
TEST(PacketEventProcessor, GarbageOnTheDnsPortIsCountedNotParsed) {
  Harness h;
  otelbpf_packet_event ev{};
  ev.ifindex = 3;
  ev.family = 2;
  ev.protocol = 17;
  ev.saddr[0] = 10, ev.saddr[3] = 1;
  ev.daddr[0] = 10, ev.daddr[3] = 2;
  ev.sport = 40000;
  ev.dport = 53;
  const std::uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{5}, sizeof junk}) {
    ev.payload_len = static_cast<std::uint32_t>(n == 0 ? 700 : n);  // 0: claims more than was captured
    ev.captured_len = static_cast<std::uint16_t>(n);
    ev.ts_ns += 1000;
    for (int i = 0; i < 20; ++i) h.processor.on_event(ev, std::span<const std::uint8_t>(junk, n));
  }
  ev.protocol = 132;  // SCTP: not ours
  h.processor.on_event(ev, {});
  h.processor.close_all();
  EXPECT_TRUE(h.spans().empty());
  EXPECT_EQ(h.metrics.counter("otelbpf_netcap_unknown_protocol_events_total", "").value(), 1u);
}

}  // namespace
}  // namespace otelbpf::netcap
