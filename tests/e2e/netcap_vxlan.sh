#!/usr/bin/env bash
# Issue 5 end to end, on the real kernel: two "nodes" (network namespaces) joined by a VXLAN tunnel (VNI
# 42, UDP 4789) over a veth underlay, each with "pods" (namespaces behind veths on a bridge). One agent
# runs per node namespace, as a DaemonSet would: both tap their node's interfaces with the tc programs
# (automatic selection: pod veths, the node's uplink, the vxlan device); only node A's agent loads the
# syscall probes (they see every namespace, so a second copy would report each sys span twice).
# HTTP pod to pod across the nodes and on one node must come out as a chain of net spans with the right
# tap sides, tunnel, VNI and outer addresses, whose TCP sequence numbers equal the sys CLIENT and SERVER
# spans'. Then: after SIGTERM, and after SIGKILL + restart + SIGTERM, no tc filter or qdisc of ours
# remains on any interface.
#   tests/e2e/netcap_vxlan.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for tc and network namespaces"
command -v node >/dev/null || fail "needs node"
PY=/usr/bin/python3
SFX=$$
NA=otbnA$SFX NB=otbnB$SFX PA1=otbpA1$SFX PA2=otbpA2$SFX PB1=otbpB1$SFX
NSES=($NA $NB $PA1 $PA2 $PB1)
deadline=$((SECONDS + 85))

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
node_setup() {  # ns underlay-ip vxlan-ip remote-underlay pod-cidr-gw remote-pod-cidr remote-vxlan-ip
  local ns=$1
  ip -n "$ns" addr add "$2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link add vxlan0 type vxlan id 42 local "$2" remote "$4" dstport 4789 dev eth0
  ip -n "$ns" addr add "$3/24" dev vxlan0
  ip -n "$ns" link set vxlan0 up
  ip -n "$ns" link add br0 type bridge
  ip -n "$ns" addr add "$5/24" dev br0
  ip -n "$ns" link set br0 up
  ip -n "$ns" route add "$6" via "$7" dev vxlan0
  nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
}
node_setup $NA 192.168.100.1 172.16.0.1 192.168.100.2 10.244.1.1 10.244.2.0/24 172.16.0.2
node_setup $NB 192.168.100.2 172.16.0.2 192.168.100.1 10.244.2.1 10.244.1.0/24 172.16.0.1
pod_setup() {  # node-ns pod-ns host-veth ip gw
  ip -n "$1" link add "$3" type veth peer name eth0 netns "$2"
  ip -n "$1" link set "$3" master br0 up
  ip -n "$2" addr add "$4/24" dev eth0
  ip -n "$2" link set eth0 up
  ip -n "$2" route add default via "$5"
}
pod_setup $NA $PA1 vethA1 10.244.1.11 10.244.1.1
pod_setup $NB $PB1 vethB1 10.244.2.21 10.244.2.1

mkdir -p "$WORK/www"
echo "cross node" >"$WORK/www/cross.txt"
echo "same node" >"$WORK/www/same.txt"

agent_args() {  # node-name port file state-dir
  echo --set node_name="$1" --http-port "$2" --no-grpc --export-file "$3" --set assembler.link_window_ms=1000 \
    --set netcap.enabled=true --set netcap.state_dir="$4" --set export.batch_delay_ms=100
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
ours_left() {  # ns -> prints any filter/qdisc of ours on any interface of the namespace
  local ns=$1 dev
  for dev in $(nsx "$ns" ls /sys/class/net); do
    for hook in ingress egress; do
      nsx "$ns" tc filter show dev "$dev" $hook 2>/dev/null | grep -E 'pref 3707|handle 0xe7b|tc_(ingress|egress)' \
        | sed "s/^/$ns $dev $hook: /" || true
    done
    nsx "$ns" tc qdisc show dev "$dev" 2>/dev/null | grep clsact | sed "s/^/$ns $dev: /" || true
  done
}

# Node A assembles for both nodes, so it waits longer for partners than node B's agent takes to pass its
# spans on (B's link window plus its export batching).
# Node B is a configured peer of node A: only a peer's spans may claim a sys or net source.
# Port 0 everywhere: each agent's port is read from its log.
start_in_ns agentA $NA $(agent_args nodeA 0 "$WORK/agentA.jsonl" "$WORK/stateA") \
  --set assembler.link_window_ms=5000 --set 'receiver.peer_agents=["192.168.100.2"]'
AGENT_PORT_A=$(agent_port agentA)
# Node B's agent also forwards its spans to node A's agent over the underlay (OTLP/HTTP), so one assembler
# sees the whole cross-node path.
start_in_ns agentB $NB $(agent_args nodeB 0 "$WORK/agentB.jsonl" "$WORK/stateB") --no-probes \
  --otlp-http-endpoint http://192.168.100.1:$AGENT_PORT_A/v1/traces
AGENT_PORT_B=$(agent_port agentB)
until nsx $NA curl -fsS -o /dev/null http://127.0.0.1:$AGENT_PORT_A/readyz 2>/dev/null &&
  nsx $NB curl -fsS -o /dev/null http://127.0.0.1:$AGENT_PORT_B/readyz 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "agents did not become ready"
  sleep 0.2
done
[ "$(ns_metric $NA $AGENT_PORT_A otelbpf_probes_enabled)" = 1 ] || fail "node A: syscall probes did not start"
[ "$(ns_metric $NA $AGENT_PORT_A otelbpf_netcap_enabled)" = 1 ] || fail "node A: packet capture did not start"
wait_tapped $NA $AGENT_PORT_A 3   # eth0, vxlan0, vethA1
wait_tapped $NB $AGENT_PORT_B 3   # eth0, vxlan0, vethB1

# A pod that appears while the agent runs: the netlink watch taps its veth.
pod_setup $NA $PA2 vethA2 10.244.1.12 10.244.1.1
wait_tapped $NA $AGENT_PORT_A 4

(cd "$WORK/www" && exec ip netns exec $PB1 $PY -m http.server 8080 --bind 10.244.2.21) >"$WORK/serverB1.log" 2>&1 &
PIDS+=($!)
(cd "$WORK/www" && exec ip netns exec $PA2 $PY -m http.server 8080 --bind 10.244.1.12) >"$WORK/serverA2.log" 2>&1 &
PIDS+=($!)
until nsx $PB1 curl -fsS -o /dev/null http://10.244.2.21:8080/ 2>/dev/null &&
  nsx $PA2 curl -fsS -o /dev/null http://10.244.1.12:8080/ 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "pod servers did not come up"
  sleep 0.2
done

nsx $PA1 curl -fsS http://10.244.2.21:8080/cross.txt | grep -q "cross node" || fail "cross-node call failed"
nsx $PA1 curl -fsS http://10.244.1.12:8080/same.txt | grep -q "same node" || fail "same-node call failed"
# Instead of a fixed sleep: each agent has processed every event its programs emitted up to now. The kernel
# counts are published on a tick, so a publication newer than the calls is awaited first (the count moved
# past what it was after them), then the agent's processed count (plus what the ring buffer dropped)
# catching up with it.
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
drained_in_ns $NA $AGENT_PORT_A otelbpf_probe_events_total otelbpf_tracer_events_total otelbpf_probe_ringbuf_drops_total
drained_in_ns $NA $AGENT_PORT_A otelbpf_netcap_kernel_events_total otelbpf_netcap_events_total otelbpf_netcap_ringbuf_drops_total
drained_in_ns $NB $AGENT_PORT_B otelbpf_netcap_kernel_events_total otelbpf_netcap_events_total otelbpf_netcap_ringbuf_drops_total
echo "node A: $(ns_metric $NA $AGENT_PORT_A otelbpf_netcap_spans_total) net spans, node B: $(ns_metric $NB $AGENT_PORT_B otelbpf_netcap_spans_total)"
# B first: SIGTERM flushes B's exporters into A, then A's assembler and exporters.
stop_agent "$PID_agentB"
stop_agent "$PID_agentA"
left=$( (ours_left $NA; ours_left $NB) )
[ -z "$left" ] || fail "tc objects of ours left after SIGTERM:
$left"

node "$E2E_DIR/node/netcap_verify.js" "$WORK/agentA.jsonl"

# ---- crash: SIGKILL leaves the filters; the next run removes them, and its SIGTERM leaves nothing ----
start_in_ns agentA2 $NA $(agent_args nodeA 0 "$WORK/agentA2.jsonl" "$WORK/stateA") --no-probes
wait_tapped $NA "$(agent_port agentA2)" 4
kill -KILL "$PID_agentA2"; wait "$PID_agentA2" 2>/dev/null || true
[ -n "$(ours_left $NA)" ] || fail "SIGKILL should have left our filters behind (test premise)"
start_in_ns agentA3 $NA $(agent_args nodeA 0 "$WORK/agentA3.jsonl" "$WORK/stateA") --no-probes
wait_tapped $NA "$(agent_port agentA3)" 4
grep -q "left by a previous run" "$WORK/agentA3.log" || fail "the restarted agent did not report the clean-up"
stop_agent "$PID_agentA3"
left=$(ours_left $NA)
[ -z "$left" ] || fail "tc objects of ours left after SIGKILL + restart + SIGTERM:
$left"
echo "netcap_vxlan: ok ($((SECONDS))s)"
