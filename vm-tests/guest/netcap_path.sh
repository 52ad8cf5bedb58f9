#!/bin/sh
# Live packet capture across two nodes, run by checks.sh after its own agent stopped. Busybox sh.
#   netcap_path.sh <kernel-name> <vm|host> <dir with otelbpf-agent, ip and tc> <work dir>
#
# Two node namespaces (i15nA, i15nB) joined by a veth underlay (uplinkA 192.168.100.1 <-> uplinkB
# 192.168.100.2, mtu 1600), and on top of it one tunnel of each kind the kernel has:
#   ipip  ipipA/ipipB (mode ipip)          pod A1 10.244.1.11 <-> pod B1 10.244.2.21
#   vxlan vxlanA/vxlanB (VNI 42, UDP 4789)  pod A2 10.244.1.12 <-> pod B2 10.244.2.22
#   gre   greA/greB (key 5)                 pod A3 10.244.1.13 <-> pod B3 10.244.2.23
# Pods are namespaces behind a veth whose node end (caliXN) has no global address, routed per /32 as
# Calico does (the pod's gateway 169.254.1.1 is a link-scope address on the node end). One agent per node
# taps the node's interfaces (pod veths, uplink, tunnels); node A's also loads the syscall probes (they
# see every namespace), node B's forwards its spans to node A's (the peer mechanism of
# tests/e2e/netcap_vxlan.sh), so node A's assembler holds the whole path.
# One uninstrumented call per tunnel (busybox wget -> busybox httpd) must come out as one trace:
#   sys CLIENT -> client-pod-nic -> client-tunnel -> client-node-nic -> server-node-nic -> server-tunnel
#   -> server-pod-nic -> sys SERVER
# with the tunnel type and the outer addresses on the node NIC and tunnel spans.
# Prints VMTEST <kernel> netcap_start|live_ipip|live_vxlan|live_gre|netcap_cleanup PASS|FAIL|SKIP <detail>.
K=$1 MODE=$2 BIN=$3 W=$4/netcap
IP=$BIN/ip
HERE=$(dirname "$0")
NA=i15nA NB=i15nB
PORT_A=38092 PORT_B=38093  # 38090 is the trace view's
mkdir -p $W/www/vmtest
result() { c=$1 r=$2; shift 2; echo "VMTEST $K $c $r $*"; }
# The tail of a log, without the instruction lines of a verifier dump (its summary stays).
show() {
  echo "---- tail of $1"
  grep -v -E '^([0-9]+: |; |$)' "$1" 2>/dev/null | tail -n "${2:-30}" | cut -c 1-300 | sed 's/^/    | /'
}
# Setup failed: every check of this script fails with the reason.
give_up() {
  result netcap_start FAIL "$*"
  for c in live_ipip live_vxlan live_gre netcap_cleanup; do result $c FAIL "netcap_start failed"; done
  for ns in $NA $NB i15pA1 i15pA2 i15pA3 i15pB1 i15pB2 i15pB3; do $IP netns del $ns 2>/dev/null; done
  exit 0
}
nsx() { ns=$1; shift; $IP netns exec "$ns" "$@"; }
sysctl_ns() { nsx "$1" sh -c "echo $3 >/proc/sys/$2"; }
stop() {  # pid [seconds]: SIGTERM, wait, SIGKILL
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt $((${2:-15} * 10)) ]; do usleep 100000; i=$((i + 1)); done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
metric() {  # ns port name
  nsx "$1" timeout 5 wget -q -O - "http://127.0.0.1:$2/metrics" 2>/dev/null | awk -v m="$3" '$1 == m { v = $2 } END { print v + 0 }'
}

# ------------------------------------------------------------------------------------- topology
for m in sch_ingress cls_bpf veth; do modprobe $m 2>/dev/null; done
TUNNELS=""
for t in ipip vxlan gre; do
  mod=$t
  [ $t = gre ] && mod=ip_gre
  if modprobe $mod 2>$W/modprobe-$t.log || [ -d /sys/module/$mod ]; then
    TUNNELS="$TUNNELS $t"
  else
    echo "$t: $(head -n 1 $W/modprobe-$t.log)" >>$W/missing-tunnels
  fi
done
(
  set -e
  for ns in $NA $NB; do $IP netns add $ns; $IP -n $ns link set lo up; sysctl_ns $ns net/ipv4/ip_forward 1; done
  $IP link add uplinkA mtu 1600 netns $NA type veth peer name uplinkB mtu 1600 netns $NB
  $IP -n $NA addr add 192.168.100.1/24 dev uplinkA
  $IP -n $NB addr add 192.168.100.2/24 dev uplinkB
  $IP -n $NA link set uplinkA up
  $IP -n $NB link set uplinkB up
) >$W/topology.log 2>&1 || give_up "underlay setup: $(tail -n 1 $W/topology.log)"

pod() {  # node-ns node-letter index pod-ip
  p=i15p$2$3
  $IP netns add $p
  $IP -n $p link set lo up
  $IP -n $1 link add cali$2$3 type veth peer name eth0 netns $p
  $IP -n $1 addr add 169.254.1.1/32 dev cali$2$3 scope link
  $IP -n $1 link set cali$2$3 up
  $IP -n $1 route add $4/32 dev cali$2$3
  $IP -n $p addr add $4/32 dev eth0
  $IP -n $p link set eth0 up
  $IP -n $p route add 169.254.1.1 dev eth0 scope link
  $IP -n $p route add default via 169.254.1.1 dev eth0
}
tunnel() {  # kind index
  set -e
  case $1 in
    ipip)
      $IP -n $NA tunnel add ipipA mode ipip local 192.168.100.1 remote 192.168.100.2
      $IP -n $NB tunnel add ipipB mode ipip local 192.168.100.2 remote 192.168.100.1 ;;
    gre)
      $IP -n $NA tunnel add greA mode gre local 192.168.100.1 remote 192.168.100.2 key 5
      $IP -n $NB tunnel add greB mode gre local 192.168.100.2 remote 192.168.100.1 key 5 ;;
    vxlan)
      $IP -n $NA link add vxlanA type vxlan id 42 local 192.168.100.1 remote 192.168.100.2 dstport 4789 dev uplinkA
      $IP -n $NB link add vxlanB type vxlan id 42 local 192.168.100.2 remote 192.168.100.1 dstport 4789 dev uplinkB
      $IP -n $NA addr add 172.16.0.1/24 dev vxlanA
      $IP -n $NB addr add 172.16.0.2/24 dev vxlanB ;;
  esac
  $IP -n $NA link set ${1}A up
  $IP -n $NB link set ${1}B up
  pod $NA A $2 10.244.1.1$2
  pod $NB B $2 10.244.2.2$2
  if [ $1 = vxlan ]; then  # an L2 tunnel: routed via the far node's address on it
    $IP -n $NA route add 10.244.2.2$2/32 via 172.16.0.2 dev vxlanA
    $IP -n $NB route add 10.244.1.1$2/32 via 172.16.0.1 dev vxlanB
  else
    $IP -n $NA route add 10.244.2.2$2/32 dev ${1}A
    $IP -n $NB route add 10.244.1.1$2/32 dev ${1}B
  fi
}
index() { case $1 in ipip) echo 1 ;; vxlan) echo 2 ;; gre) echo 3 ;; esac; }
READY=""
for t in $TUNNELS; do
  if (tunnel $t "$(index $t)") >$W/tunnel-$t.log 2>&1; then READY="$READY $t"
  else echo "$t: setup failed: $(tail -n 1 $W/tunnel-$t.log)" >>$W/missing-tunnels; fi
done
[ -n "$READY" ] || give_up "no tunnel could be set up: $(cat $W/missing-tunnels 2>/dev/null | tr '\n' ';')"

# ---------------------------------------------------------------------------------------- agents
# Every interface of a node: the uplink, the tunnel devices that are up, one pod veth per tunnel.
ntaps=$((1 + 2 * $(echo $READY | wc -w)))
agent() {  # ns name port args...
  ns=$1 name=$2 port=$3
  shift 3
  # ip netns exec execs the agent: $! is the agent's pid, which stop() must signal (a backgrounded shell
  # function would be a subshell of its own, and SIGTERM would not reach the agent).
  $IP netns exec $ns "$BIN/otelbpf-agent" --http-port $port --no-grpc \
    --export-file $W/$name.jsonl --set node_name=$name --set netcap.enabled=true \
    --set netcap.state_dir=$W/state-$name --set export.batch_delay_ms=100 "$@" >$W/$name.log 2>&1 &
}
# Node A waits longer for partners than node B takes to pass its spans on (its link window + batching).
agent $NA nodeA $PORT_A --set assembler.link_window_ms=5000 --set 'receiver.peer_agents=["192.168.100.2"]'
AGENT_A=$!
agent $NB nodeB $PORT_B --no-probes --set assembler.link_window_ms=1000 \
  --otlp-http-endpoint http://192.168.100.1:$PORT_A/v1/traces
AGENT_B=$!
t0=$(cut -d' ' -f1 /proc/uptime)
i=0
until [ "$(metric $NA $PORT_A otelbpf_netcap_interfaces)" -ge $ntaps ] &&
  [ "$(metric $NB $PORT_B otelbpf_netcap_interfaces)" -ge $ntaps ]; do
  i=$((i + 1))
  if [ $i -ge 300 ] || ! kill -0 $AGENT_A 2>/dev/null || ! kill -0 $AGENT_B 2>/dev/null; then
    why="agents did not tap $ntaps interfaces each within 60s (A: $(metric $NA $PORT_A otelbpf_netcap_interfaces), B: $(metric $NB $PORT_B otelbpf_netcap_interfaces))"
    show $W/nodeA.log
    show $W/nodeB.log
    stop $AGENT_A; stop $AGENT_B
    give_up "$why"
  fi
  usleep 200000
done
probes=$(metric $NA $PORT_A otelbpf_probes_enabled)
result netcap_start PASS "two agents up in $(awk -v a=$t0 -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')s, $ntaps interfaces tapped per node, syscall probes on node A: $probes; tunnels:$READY"

# ------------------------------------------------------------------------------------------ calls
for t in $READY; do
  n=$(index $t)
  echo "across the $t tunnel" >$W/www/vmtest/$t
  $IP netns exec i15pB$n httpd -f -p 10.244.2.2$n:8080 -h $W/www >$W/httpd-$t.log 2>&1 &
  echo $! >$W/httpd-$t.pid
done
for t in $READY; do
  n=$(index $t)
  # The first attempts may go before httpd listens; each try is a call of its own (and its own trace).
  i=0
  until nsx i15pA$n timeout 10 wget -q -O $W/$t.out http://10.244.2.2$n:8080/vmtest/$t 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 20 ] || break; usleep 200000
  done
done
# Until each agent's programs' events are all processed: the kernel's count, published on a tick, then
# the agent's processed count (plus ring buffer drops) catching up with it.
drained() {  # ns port
  i=0
  while :; do
    k=$(metric $1 $2 otelbpf_netcap_kernel_events_total)
    p=$(($(metric $1 $2 otelbpf_netcap_events_total) + $(metric $1 $2 otelbpf_netcap_ringbuf_drops_total)))
    [ "$p" -ge "$k" ] && [ $i -ge 3 ] && return 0
    i=$((i + 1)); [ $i -lt 100 ] || return 1
    usleep 200000
  done
}
drained $NA $PORT_A
drained $NB $PORT_B
netspans_a=$(metric $NA $PORT_A otelbpf_netcap_spans_total)
netspans_b=$(metric $NB $PORT_B otelbpf_netcap_spans_total)
for ns in $NA $NB; do  # what the tc programs did, for the failure report below
  port=$PORT_A; [ $ns = $NB ] && port=$PORT_B
  nsx $ns timeout 5 wget -q -O - "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -E '^otelbpf_netcap_kernel' >$W/kernel-counters-$ns.txt
done
for t in $READY; do stop "$(cat $W/httpd-$t.pid)" 5; done
# B first: its SIGTERM flushes its exporter into A; then A's assembler and exporters.
stop $AGENT_B 30
stop $AGENT_A 30
left=""
for ns in $NA $NB; do
  for dev in $(nsx $ns ls /sys/class/net); do
    nsx $ns $BIN/tc qdisc show dev $dev 2>/dev/null | grep -q clsact && left="$left $ns/$dev"
  done
done

# ------------------------------------------------------------------------------------------ verify
awk -f $HERE/span_fields.awk $W/nodeA.jsonl >$W/spans.tsv 2>/dev/null
# verify TUNNEL: the chain of one call, by the sys CLIENT span's req_seq; prints the failure or the chain.
verify() {
  t=$1 n=$(index $1)
  client=$(awk -F'\t' -v p=/vmtest/$t '$6 == "sys" && $5 == 3 && $14 == p' $W/spans.tsv | tail -n 1)
  if [ -n "$client" ]; then
    seq=$(echo "$client" | cut -f12)
    trace=$(echo "$client" | cut -f2)
    parent=$(echo "$client" | cut -f3)
  else
    # No sys spans (the syscall probes did not load here): the net path alone is still checked, from
    # the client pod NIC's span of the call, so that the matrix says which half works.
    first=$(awk -F'\t' -v p=/vmtest/$t -v i=caliA$n '$6 == "net" && $8 == i && $14 == p' $W/spans.tsv | tail -n 1)
    [ -n "$first" ] || { echo "FAIL no sys CLIENT span and no net span at caliA$n for /vmtest/$t"; return; }
    seq=$(echo "$first" | cut -f12)
    trace=$(echo "$first" | cut -f2)
    parent=$(echo "$first" | cut -f4)
  fi
  chain=""
  up=$(echo $t | tr a-z A-Z)
  for hop in "nodeA caliA$n client-pod-nic none" "nodeA ${t}A client-tunnel $t" "nodeA uplinkA client-node-nic $t" \
    "nodeB uplinkB server-node-nic $t" "nodeB ${t}B server-tunnel $t" "nodeB caliB$n server-pod-nic none"; do
    set -- $hop
    span=$(awk -F'\t' -v h=$1 -v i=$2 -v s=$3 -v q="$seq" '$6 == "net" && $1 == h && $8 == i && $7 == s && $12 == q' $W/spans.tsv)
    count=$(echo "$span" | grep -c .)
    [ "$count" = 1 ] || { echo "FAIL $count net spans at $1/$2 ($3) with req_seq $seq"; return; }
    [ "$(echo "$span" | cut -f9)" = "$4" ] || { echo "FAIL $1/$2: tunnel type $(echo "$span" | cut -f9), not $4"; return; }
    if [ "$4" != none ]; then
      src=$(echo "$span" | cut -f10) dst=$(echo "$span" | cut -f11)
      [ "$src $dst" = "192.168.100.1 192.168.100.2" ] || { echo "FAIL $1/$2: outer $src -> $dst, not 192.168.100.1 -> 192.168.100.2"; return; }
    fi
    [ "$(echo "$span" | cut -f2)" = "$trace" ] || { echo "FAIL $1/$2 is not in the sys CLIENT span's trace"; return; }
    [ "$(echo "$span" | cut -f4)" = "$parent" ] || { echo "FAIL $1/$2 ($3) is not under the previous hop"; return; }
    parent=$(echo "$span" | cut -f3)
    chain="$chain -> $2"
  done
  [ -n "$client" ] || { echo "FAIL no sys CLIENT span of /vmtest/$t (are the syscall probes loaded?); the net path alone is right:$chain in one trace"; return; }
  server=$(awk -F'\t' -v p=/vmtest/$t -v q="$seq" '$6 == "sys" && $5 == 2 && $14 == p && $12 == q' $W/spans.tsv)
  [ "$(echo "$server" | grep -c .)" = 1 ] || { echo "FAIL no sys SERVER span with req_seq $seq"; return; }
  [ "$(echo "$server" | cut -f4)" = "$parent" ] || { echo "FAIL the sys SERVER span is not under the server pod NIC's span"; return; }
  echo "PASS trace $trace: sys CLIENT$chain -> sys SERVER, outer 192.168.100.1 -> 192.168.100.2"
}
for t in ipip vxlan gre; do
  case " $READY " in
    *" $t "*)
      if [ "$(cat $W/$t.out 2>/dev/null)" != "across the $t tunnel" ]; then
        result live_$t FAIL "no HTTP answer across the $t tunnel"
        show $W/httpd-$t.log 5
        continue
      fi
      v=$(verify $t)
      result live_$t ${v%% *} "${v#* }"
      if [ "${v%% *}" = FAIL ]; then
        echo "---- spans of /vmtest/$t and the net spans (host trace span parent kind source side if tunnel outer req_seq)"
        awk -F'\t' -v p=/vmtest/$t '$14 == p || $6 == "net"' $W/spans.tsv | cut -f1-12 | sed 's/^/    | /' | head -n 40
        for ns in $NA $NB; do echo "---- $ns tc programs: $(tr '\n' ' ' <$W/kernel-counters-$ns.txt)"; done
        show $W/nodeA.log 15
        show $W/nodeB.log 15
      fi ;;
    *)
      why=$(grep "^$t:" $W/missing-tunnels 2>/dev/null | head -n 1)
      if [ "$MODE" = host ]; then result live_$t SKIP "host kernel: ${why:-no $t}"
      else result live_$t FAIL "${why:-no $t}"; fi ;;
  esac
done
if [ -z "$left" ]; then result netcap_cleanup PASS "no clsact qdisc left on either node after SIGTERM"
else
  result netcap_cleanup FAIL "clsact qdiscs left after SIGTERM on:$left"
  show $W/nodeA.log 8
  show $W/nodeB.log 8
fi
result netcap_spans INFO "net spans made: node A $netspans_a, node B $netspans_b"
for ns in $NA $NB i15pA1 i15pA2 i15pA3 i15pB1 i15pB2 i15pB3; do $IP netns del $ns 2>/dev/null; done
exit 0
