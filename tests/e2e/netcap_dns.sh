#!/usr/bin/env bash
# DNS over UDP on the packet path (issue 15), on the real kernel: two "nodes" (network namespaces) joined
# by a VXLAN tunnel (VNI 42) over a veth underlay; a client "pod" behind node A and a resolver pod
# (dnsmasq, uninstrumented) behind node B, each behind a veth whose node end has no global address and
# a /32 route (as Calico does). One agent per node taps the node's interfaces; node A's also loads the
# syscall probes and node B's forwards its spans to node A's (the peer mechanism of netcap_vxlan.sh).
# Each query of dig must come out as one trace in path order:
#   dig sys CLIENT -> client-pod-nic -> client-tunnel -> client-node-nic -> server-node-nic
#   -> server-tunnel -> server-pod-nic -> dnsmasq sys SERVER
# matched by the query's id, the client's port and the question (UDP has no sequence numbers), with
# the tunnel and its outer addresses on the node NIC and tunnel spans.
#   tests/e2e/netcap_dns.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for tc and network namespaces"
command -v node >/dev/null || fail "needs node"
command -v dnsmasq >/dev/null || fail "dnsmasq missing (scripts/install-deps)"
command -v dig >/dev/null || fail "dig missing (scripts/install-deps)"
SFX=$$
NA=i15dA$SFX NB=i15dB$SFX PC=i15dc$SFX PR=i15dr$SFX
NSES=($NA $NB $PC $PR)
deadline=$((SECONDS + 90))

netns_cleanup() {
  for ns in "${NSES[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap 'rc=$?; for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; netns_cleanup; set +e; (exit $rc); cleanup' EXIT
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---- topology ----
for ns in "${NSES[@]}"; do ip netns add "$ns"; nsx "$ns" ip link set lo up; done
ip -n $NA link add eth0 mtu 1600 type veth peer name eth0 netns $NB
ip -n $NB link set eth0 mtu 1600
node_setup() {  # ns underlay-ip vxlan-ip remote-underlay
  ip -n "$1" addr add "$2/24" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" link add vxlan0 type vxlan id 42 local "$2" remote "$4" dstport 4789 dev eth0
  ip -n "$1" addr add "$3/24" dev vxlan0
  ip -n "$1" link set vxlan0 up
  nsx "$1" sysctl -qw net.ipv4.ip_forward=1
}
node_setup $NA 192.168.101.1 172.17.0.1 192.168.101.2
node_setup $NB 192.168.101.2 172.17.0.2 192.168.101.1
pod_setup() {  # node-ns pod-ns node-end-veth pod-ip
  ip -n "$1" link add "$3" type veth peer name eth0 netns "$2"
  ip -n "$1" addr add 169.254.1.1/32 dev "$3" scope link
  ip -n "$1" link set "$3" up
  ip -n "$1" route add "$4/32" dev "$3"
  ip -n "$2" addr add "$4/32" dev eth0
  ip -n "$2" link set eth0 up
  ip -n "$2" route add 169.254.1.1 dev eth0 scope link
  ip -n "$2" route add default via 169.254.1.1 dev eth0
}
pod_setup $NA $PC caliC 10.246.1.11
pod_setup $NB $PR caliR 10.246.2.53
ip -n $NA route add 10.246.2.53/32 via 172.17.0.2 dev vxlan0
ip -n $NB route add 10.246.1.11/32 via 172.17.0.1 dev vxlan0

agent_args() {  # node-name file state-dir
  echo --set node_name="$1" --http-port 0 --no-grpc --export-file "$2" --set netcap.enabled=true \
    --set netcap.state_dir="$3" --set export.batch_delay_ms=100
}
start_in_ns() {  # name ns args...
  local name=$1 ns=$2; shift 2
  ip netns exec "$ns" "$AGENT" "$@" >>"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_${name}=$!"
}
ns_metric() {  # ns port name
  nsx "$1" curl -fsS "http://127.0.0.1:$2/metrics" 2>/dev/null | awk -v m="$3" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}
wait_tapped() {  # ns port count
  until [ "$(ns_metric "$1" "$2" otelbpf_netcap_interfaces)" -ge "$3" ] 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "$1: fewer than $3 interfaces tapped"
    sleep 0.2
  done
}
# Node A assembles for both nodes; node B is its configured peer and forwards to it over the underlay.
start_in_ns agentA $NA $(agent_args nodeA "$WORK/agentA.jsonl" "$WORK/stateA") \
  --set assembler.link_window_ms=5000 --set 'receiver.peer_agents=["192.168.101.2"]'
PORT_A=$(agent_port agentA)
start_in_ns agentB $NB $(agent_args nodeB "$WORK/agentB.jsonl" "$WORK/stateB") --no-probes \
  --set assembler.link_window_ms=1000 --otlp-http-endpoint http://192.168.101.1:$PORT_A/v1/traces
PORT_B=$(agent_port agentB)
until nsx $NA curl -fsS -o /dev/null http://127.0.0.1:$PORT_A/readyz 2>/dev/null &&
  nsx $NB curl -fsS -o /dev/null http://127.0.0.1:$PORT_B/readyz 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "agents did not become ready"
  sleep 0.2
done
[ "$(ns_metric $NA $PORT_A otelbpf_probes_enabled)" = 1 ] || fail "node A: syscall probes did not start"
wait_tapped $NA $PORT_A 3  # eth0, vxlan0, caliC
wait_tapped $NB $PORT_B 3  # eth0, vxlan0, caliR

# The resolver: answers svc.i15.test (and below) with 10.96.0.20, NXDOMAIN for missing.i15.test.
nsx $PR dnsmasq --no-daemon --port=53 --listen-address=10.246.2.53 --bind-interfaces --no-resolv --no-hosts \
  --address=/svc.i15.test/10.96.0.20 --address=/missing.i15.test/ --pid-file="$WORK/dnsmasq.pid" \
  >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
until nsx $PR dig @10.246.2.53 +time=1 +tries=1 ready.svc.i15.test A >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "dnsmasq did not come up"
  sleep 0.2
done

[ "$(nsx $PC dig @10.246.2.53 +time=2 +tries=1 +short api.svc.i15.test A)" = 10.96.0.20 ] || fail "dig api.svc.i15.test"
nsx $PC dig @10.246.2.53 +time=2 +tries=1 nothing.missing.i15.test A | grep -q 'status: NXDOMAIN' || fail "dig nothing.missing.i15.test"

# Every event each agent's programs emitted up to now is processed (see netcap_vxlan.sh).
drained_in_ns() {  # ns port kernel-count processed-count drop-count
  local k0 k
  k0=$(ns_metric "$1" "$2" "$3")
  until k=$(ns_metric "$1" "$2" "$3") && [ "$k" -gt "$k0" ]; do
    [ $SECONDS -lt $deadline ] || fail "$1: $3 did not move"
    sleep 0.05
  done
  until [ $(( $(ns_metric "$1" "$2" "$4") + $(ns_metric "$1" "$2" "$5") )) -ge "$k" ]; do
    [ $SECONDS -lt $deadline ] || fail "$1: $4 did not catch up with $3 ($k)"
    sleep 0.05
  done
}
drained_in_ns $NA $PORT_A otelbpf_probe_events_total otelbpf_tracer_events_total otelbpf_probe_ringbuf_drops_total
drained_in_ns $NA $PORT_A otelbpf_netcap_kernel_events_total otelbpf_netcap_events_total otelbpf_netcap_ringbuf_drops_total
drained_in_ns $NB $PORT_B otelbpf_netcap_kernel_events_total otelbpf_netcap_events_total otelbpf_netcap_ringbuf_drops_total
echo "node A: $(ns_metric $NA $PORT_A otelbpf_netcap_spans_total) net spans, node B: $(ns_metric $NB $PORT_B otelbpf_netcap_spans_total)"
stop_agent "$PID_agentB"
stop_agent "$PID_agentA"
node "$E2E_DIR/node/netcap_dns_verify.js" "$WORK/agentA.jsonl"
echo "netcap_dns: ok ($((SECONDS))s)"
