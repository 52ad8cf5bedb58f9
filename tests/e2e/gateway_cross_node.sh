#!/usr/bin/env bash
# Issue 16 end to end, on the real kernel: three "nodes" (network namespaces on one underlay bridge, pod
# networks routed between them), one pod behind each, an agent per node and two gateway replicas. Each
# node agent traces only its own node (its pods' cgroup, as a DaemonSet sees only its node) and taps its
# node's interfaces. Uninstrumented HTTP calls between the pods in every direction (6) must come out
# assembled, one trace each: sys CLIENT -> net spans in path order -> sys SERVER, although the client's
# half is exported by one node and the server's by the gateway its TCP stitch key hashes to. Then one
# gateway stops: the node agents leave it out of the ring, calls after that are assembled by the
# survivor, and what was sent to the stopped one shortly before is counted as in flight at the rehash.
#   tests/e2e/gateway_cross_node.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the probes, tc and network namespaces"
CGROOT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
[ -n "$CGROOT" ] || fail "no cgroup v2 hierarchy mounted"
PY=/usr/bin/python3
SFX=$$
BR=otbgw$SFX
NODES=(otbgN1$SFX otbgN2$SFX otbgN3$SFX)
PODS=(otbgP1$SFX otbgP2$SFX otbgP3$SFX)
deadline=$((SECONDS + 150))

netns_cleanup() {
  for ns in "${NODES[@]}" "${PODS[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  for ns in "${NODES[@]}" "${PODS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  for i in 1 2 3; do rmdir "$CGROOT/otbg$SFX-node$i" 2>/dev/null || true; done
}
trap 'rc=$?; for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; sleep 0.5; netns_cleanup; set +e; (exit $rc); cleanup' EXIT
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---- topology: underlay bridge 192.168.77.0/24 in this namespace, node i at .i, pods 10.77.i.10 ----
ip link add "$BR" type bridge
ip addr add 192.168.77.254/24 dev "$BR"
ip link set "$BR" up
for i in 1 2 3; do
  node=${NODES[$((i - 1))]} pod=${PODS[$((i - 1))]}
  ip netns add "$node"; ip netns add "$pod"
  nsx "$node" ip link set lo up; nsx "$pod" ip link set lo up
  ip link add "otbgu$i$SFX" type veth peer name eth0 netns "$node"
  ip link set "otbgu$i$SFX" master "$BR" up
  ip -n "$node" addr add 192.168.77.$i/24 dev eth0
  ip -n "$node" link set eth0 up
  ip -n "$node" link add br0 type bridge
  ip -n "$node" addr add 10.77.$i.1/24 dev br0
  ip -n "$node" link set br0 up
  nsx "$node" sysctl -qw net.ipv4.ip_forward=1
  for j in 1 2 3; do [ $i = $j ] || ip -n "$node" route add 10.77.$j.0/24 via 192.168.77.$j dev eth0; done
  ip -n "$node" link add "vethp$i" type veth peer name eth0 netns "$pod"
  ip -n "$node" link set "vethp$i" master br0 up
  ip -n "$pod" addr add 10.77.$i.10/24 dev eth0
  ip -n "$pod" link set eth0 up
  ip -n "$pod" route add default via 10.77.$i.1
  # The node's processes: a cgroup per node, which that node's agent traces.
  mkdir -p "$CGROOT/otbg$SFX-node$i"
done
cgroup_id() { stat -c %i "$CGROOT/otbg$SFX-node$1"; }
# in_pod I CMD...: runs CMD in pod I's network namespace and node I's cgroup.
in_pod() {
  local i=$1; shift
  sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CGROOT/otbg$SFX-node$i" ip netns exec "${PODS[$((i - 1))]}" "$@"
}

# ---- two gateway replicas (this namespace, on the underlay bridge) ----
G1_PORT=$(free_port)
G2_PORT=$(free_port)
gateway_args() {  # name port
  echo --set mode=gateway --set node_name="$1" --http-port "$2" --no-grpc --export-file "$WORK/$1.jsonl" \
    --set 'receiver.peer_agents=["192.168.77.0/24"]' --set assembler.link_window_ms=4000 \
    --set export.batch_delay_ms=100 --set ui.enabled=false
}
start_agent gw1 $(gateway_args gw1 $G1_PORT)
start_agent gw2 $(gateway_args gw2 $G2_PORT)
wait_http http://127.0.0.1:$G1_PORT/readyz
wait_http http://127.0.0.1:$G2_PORT/readyz
[ "$(metric http://127.0.0.1:$G1_PORT otelbpf_probes_enabled)" = 0 ] || fail "a gateway must not run probes"

# ---- a node agent per node: its cgroup's syscalls, its interfaces, the two gateways ----
ns_metric() {  # ns port name
  nsx "$1" curl -fsS "http://127.0.0.1:$2/metrics" 2>/dev/null | awk -v m="$3" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}
declare -A NODE_PORT
for i in 1 2 3; do
  node=${NODES[$((i - 1))]}
  port=$(free_port)
  NODE_PORT[$i]=$port
  ip netns exec "$node" "$AGENT" --set node_name=node$i --http-port "$port" --no-grpc \
    --export-file "$WORK/node$i.jsonl" --set probes.cgroup_id="$(cgroup_id $i)" \
    --set netcap.enabled=true --set netcap.state_dir="$WORK/state$i" --set ui.enabled=false \
    --set assembler.link_window_ms=1000 --set assembler.assumed_app_lag_ms=1000 --set export.batch_delay_ms=100 \
    --set "gateway.endpoints=[\"192.168.77.254:$G1_PORT\",\"192.168.77.254:$G2_PORT\"]" \
    --set gateway.refresh_seconds=1 --set gateway.down_seconds=600 >"$WORK/node$i.log" 2>&1 &
  PIDS+=($!)
  eval "PID_node$i=$!"
done
for i in 1 2 3; do
  node=${NODES[$((i - 1))]}
  until nsx "$node" curl -fsS -o /dev/null "http://127.0.0.1:${NODE_PORT[$i]}/readyz" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "node$i agent did not become ready: $(tail -5 "$WORK/node$i.log")"
    sleep 0.2
  done
  [ "$(ns_metric "$node" "${NODE_PORT[$i]}" otelbpf_probes_enabled)" = 1 ] || fail "node$i: probes did not start"
  [ "$(ns_metric "$node" "${NODE_PORT[$i]}" otelbpf_gateway_replicas)" = 2 ] || fail "node$i: gateway ring"
  until [ "$(ns_metric "$node" "${NODE_PORT[$i]}" otelbpf_netcap_interfaces)" -ge 2 ] 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "node$i: interfaces not tapped"
    sleep 0.2
  done
done

# ---- an uninstrumented HTTP server in each pod ----
mkdir -p "$WORK/www"
for i in 1 2 3; do
  (cd "$WORK/www" && in_pod $i $PY -m http.server 8080 --bind 10.77.$i.10) >"$WORK/server$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 1 2 3; do
  until nsx "${PODS[$((i - 1))]}" curl -fsS -o /dev/null http://10.77.$i.10:8080/ 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "pod $i server did not come up"
    sleep 0.2
  done
done
for i in 1 2 3; do for j in 1 2 3; do
  [ $i = $j ] || echo "$i to $j" >"$WORK/www/before-$i-$j.txt"
  [ $i = $j ] || echo "$i to $j" >"$WORK/www/after-$i-$j.txt"
done; done

calls() {  # phase
  for i in 1 2 3; do for j in 1 2 3; do
    [ $i = $j ] && continue
    in_pod $i curl -fsS "http://10.77.$j.10:8080/$1-$i-$j.txt" | grep -q "$i to $j" || fail "call $1 $i->$j"
  done; done
}
# The SERVER spans of `phase` calls exported by the gateways so far.
servers_at_gateways() {  # phase
  cat "$WORK"/gw*.jsonl 2>/dev/null | grep -o "\"/$1-[0-9]-[0-9].txt\"" | sort -u | wc -l
}
wait_assembled() {  # phase
  until [ "$(servers_at_gateways "$1")" -ge 6 ]; do
    [ $SECONDS -lt $deadline ] || fail "$1: only $(servers_at_gateways "$1") of 6 calls reached the gateways"
    sleep 0.5
  done
}

calls before
wait_assembled before
before_gw1=$(metric http://127.0.0.1:$G1_PORT otelbpf_receiver_spans_total{transport=\"http\"})
before_gw2=$(metric http://127.0.0.1:$G2_PORT otelbpf_receiver_spans_total{transport=\"http\"})
echo "before: gateway 1 received $before_gw1 spans, gateway 2 $before_gw2"
[ "$before_gw1" -gt 0 ] && [ "$before_gw2" -gt 0 ] || fail "the stitch keys should spread over both gateways"

# ---- one gateway goes away ----
stop_agent "$PID_gw1"
calls after
wait_assembled after
rehashes=0 in_flight=0 rerouted=0
for i in 1 2 3; do
  node=${NODES[$((i - 1))]} port=${NODE_PORT[$i]}
  until [ "$(ns_metric "$node" "$port" otelbpf_gateway_replicas)" = 1 ]; do
    [ $SECONDS -lt $deadline ] || fail "node$i still has 2 replicas in its ring"
    sleep 0.2
  done
  rehashes=$((rehashes + $(ns_metric "$node" "$port" otelbpf_gateway_rehashes_total)))
  in_flight=$((in_flight + $(ns_metric "$node" "$port" otelbpf_gateway_in_flight_spans_at_rehash_total)))
  rerouted=$((rerouted + $(ns_metric "$node" "$port" otelbpf_gateway_rerouted_spans_total)))
done
echo "after: $rehashes rehashes, $in_flight spans in flight at the rehash, $rerouted re-routed"
[ "$rehashes" -ge 3 ] || fail "every node agent should have rehashed once"
[ "$in_flight" -gt 0 ] || fail "spans sent to the stopped gateway shortly before must be counted as in flight"

for i in 1 2 3; do stop_agent "$(eval echo \$PID_node$i)"; done
stop_agent "$PID_gw2"
node "$E2E_DIR/node/verify_gateway_cross_node.js" "$WORK" before after
echo "gateway_cross_node: ok"
