#!/bin/sh
# The checks of one kernel, run inside the test VM by /init (vm-tests/guest/init), or on the host kernel
# by vm-tests/run inside private mount + network namespaces. Busybox sh; no bash, no node.
#   checks.sh <kernel-name> <vm|host> <dir with otelbpf-agent, kernel_tests, ip>
# Prints one line per check on stdout (the VM console):
#   VMTEST <kernel> <check> PASS|FAIL|SKIP|INFO <detail>     (only FAIL fails the run)
#   VMPROBE <kernel> <probe> attached|refused <reason>
# and finally "VMTEST <kernel> done PASS <seconds>", which tells the host the run finished.
K=$1 MODE=$2 BIN=$3
IP=$BIN/ip
W=${VMTEST_DIR:-/tmp/vmtest}
AGENT_PORT=38086
HTTP_PORT=48080
TUNNEL_PORT=48081
MYSQL_PORT=3306
mkdir -p $W
START=$(cut -d' ' -f1 /proc/uptime)

result() {  # check PASS|FAIL|SKIP detail...
  c=$1 r=$2
  shift 2
  echo "VMTEST $K $c $r $*"
}
# Shows the tail of a log on the console, indented, after a failure.
show() {  # file [lines]
  echo "---- tail of $1"
  tail -n "${2:-30}" "$1" 2>/dev/null | sed 's/^/    | /'
}
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
wait_url() {  # url seconds: polls until the URL answers 2xx or the deadline passes
  deadline=$(awk -v a="$(now)" -v b="$2" 'BEGIN { printf "%d", a + b }')
  while :; do
    timeout 5 wget -q -O /dev/null "$1" 2>/dev/null && return 0
    [ "$(awk -v a="$(now)" -v d="$deadline" 'BEGIN { print (a < d) }')" = 1 ] || return 1
    usleep 200000
  done
}
stop() {  # pid [seconds]: SIGTERM, wait, SIGKILL
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt $((${2:-15} * 10)) ]; do
    usleep 100000
    i=$((i + 1))
  done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
is_mounted() { awk -v p="$1" '$2 == p { f = 1 } END { exit !f }' /proc/mounts; }

# ---------------------------------------------------------------------------------------------- boot
btf=no
[ -r /sys/kernel/btf/vmlinux ] && btf=yes
fs=""
for p in /sys/kernel/tracing /sys/kernel/debug/tracing /sys/fs/bpf; do
  is_mounted $p && fs="$fs $p"
done
if [ $btf = yes ]; then
  result boot PASS "$(uname -r) up at ${START}s, BTF yes, mounted before tests:${fs:- none of tracefs/bpffs}"
else
  result boot FAIL "$(uname -r): no /sys/kernel/btf/vmlinux (CO-RE needs kernel BTF)"
fi

# ---------------------------------------------------------------------------------------- kernel_tests
# All 28 probes load and attach (EveryProbeAttachesOnThisKernel) and every event field is checked
# against real loopback traffic. The loader mounts tracefs and bpffs itself.
t=$(now)
# The packet-capture tests (PacketTc.*) need the source tree's scapy fixtures and the sch_ingress and
# cls_bpf modules, which this initramfs does not carry, and network namespaces, which the host entry's
# unshared namespace cannot make: the syscall probes are what the matrix covers (the packet tests run in
# the kernel suite of the default test run).
gtest_filter='-PacketTc.*'
timeout 300 "$BIN/kernel_tests" --gtest_color=no --gtest_filter="$gtest_filter" >$W/kernel_tests.log 2>&1
rc=$?
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' $W/kernel_tests.log)
failed=$(sed -n 's/^\[  FAILED  \] \([A-Za-z0-9_/.]*\).*/\1/p' $W/kernel_tests.log | sort -u | tr '\n' ' ')
attach=$(sed -n 's/.*load+attach of \([0-9]*\) probes took \([0-9]*\) ms.*/\1 probes in \2 ms/p' $W/kernel_tests.log)
if [ $rc -eq 0 ] && [ -n "$passed" ]; then
  result kernel_tests PASS "$passed tests passed in $(elapsed $t)s, load+attach of ${attach:-?}"
else
  result kernel_tests FAIL "rc=$rc passed=${passed:-0} failed: ${failed:-?}"
  grep -E '^\[  FAILED|Failure|error|refused' $W/kernel_tests.log | head -n 40 | sed 's/^/    | /'
  show $W/kernel_tests.log 20
fi

# The loader mounted tracefs and bpffs for kernel_tests; take them away again so that the agent has to
# mount them itself. (On the host this happens in a private mount namespace.)
for p in /sys/kernel/debug/tracing /sys/kernel/tracing /sys/fs/bpf; do
  is_mounted $p && umount $p 2>/dev/null
done

# --------------------------------------------------------------------------------------------- agent
"$BIN/otelbpf-agent" --http-port $AGENT_PORT --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file $W/spans.jsonl --set assembler.link_window_ms=3000 --set export.batch_delay_ms=100 \
  --set "node_name=vmtest-$K" >$W/agent.log 2>&1 &
AGENT=$!
t=$(now)
if wait_url http://127.0.0.1:$AGENT_PORT/readyz 60; then
  timeout 10 wget -q -O $W/metrics.txt http://127.0.0.1:$AGENT_PORT/metrics
  enabled=$(awk '$1 == "otelbpf_probes_enabled" { print $2 }' $W/metrics.txt)
  mounted=$(sed -n 's/.*mounted \([a-z]*\) at \([^ ]*\).*/\1@\2/p' $W/agent.log | tr '\n' ' ')
  if [ "$enabled" = 1 ]; then
    result agent_start PASS "ready in $(elapsed $t)s, probes on; agent mounted: ${mounted:-nothing}"
  else
    result agent_start FAIL "ready but otelbpf_probes_enabled=${enabled:-absent} (OTel-only mode)"
    show $W/agent.log
  fi
  # Per-probe attach status, as the agent publishes it (otelbpf_probe_attached{probe="..."} 0|1).
  total=0 ok=0 refused=""
  for line in $(sed -n 's/^otelbpf_probe_attached{probe="\([^"]*\)"} \([0-9]*\).*/\1=\2/p' $W/metrics.txt); do
    name=${line%=*} v=${line#*=}
    total=$((total + 1))
    if [ "$v" = 1 ]; then
      ok=$((ok + 1))
    else
      refused="$refused $name"
      why=$(grep -F "probe $name:" $W/agent.log | head -n 1 | sed 's/.*probe [^:]*: //')
      echo "VMPROBE $K $name refused ${why:-see agent log}"
    fi
  done
  # The set depends on the kernel (sock hooks on 6.3+, else the syscall tracepoints of the data calls):
  # every probe the loader chose must attach.
  if [ $total -gt 0 ] && [ $ok -eq $total ]; then
    result probes_attached PASS "$ok/$total attached"
  else
    result probes_attached FAIL "$ok/$total attached; refused:${refused:- none}"
  fi
else
  result agent_start FAIL "no /readyz within 60s"
  show $W/agent.log
fi

# ------------------------------------------------------------------------------------ HTTP on loopback
mkdir -p $W/www/vmtest
echo "hello from $K" >$W/www/vmtest/hello
echo "through the tunnel" >$W/www/vmtest/tunnel
httpd -f -p 127.0.0.1:$HTTP_PORT -h $W/www >$W/httpd.log 2>&1 &
HTTPD=$!
if wait_url http://127.0.0.1:$HTTP_PORT/vmtest/hello 10; then
  # wait_url already made one /vmtest/hello exchange; these are the ones checked.
  timeout 10 wget -q -O $W/hello.out http://127.0.0.1:$HTTP_PORT/vmtest/hello
  timeout 10 wget -q -O $W/missing.out http://127.0.0.1:$HTTP_PORT/vmtest/missing 2>/dev/null
  body=$(cat $W/hello.out)
  [ "$body" = "hello from $K" ] && http_traffic=ok || http_traffic="wrong body: $body"
else
  http_traffic="busybox httpd did not answer"
fi
stop $HTTPD 5

# ---------------------------------------------------------------- HTTP over IPIP between two netns
# ns vt1 (veth 10.200.0.1) <-> ns vt2 (veth 10.200.0.2); ipip tunnel 10.201.0.1 <-> 10.201.0.2 on top.
tunnel=""
if ! modprobe ipip 2>$W/modprobe.log; then
  tunnel="modprobe ipip failed: $(head -n 1 $W/modprobe.log)"
fi
modprobe veth 2>/dev/null
if [ -z "$tunnel" ]; then
  result modprobe_ipip PASS "loaded:$(awk '$1 ~ /^(ipip|ip_tunnel|tunnel4|veth)$/ { printf " %s", $1 }' /proc/modules)"
  (
    set -e
    $IP netns add vt1
    $IP netns add vt2
    $IP link add vta type veth peer name vtb
    $IP link set vta netns vt1
    $IP link set vtb netns vt2
    $IP -n vt1 link set lo up
    $IP -n vt2 link set lo up
    $IP -n vt1 addr add 10.200.0.1/24 dev vta
    $IP -n vt2 addr add 10.200.0.2/24 dev vtb
    $IP -n vt1 link set vta up
    $IP -n vt2 link set vtb up
    $IP -n vt1 tunnel add ipip1 mode ipip local 10.200.0.1 remote 10.200.0.2
    $IP -n vt2 tunnel add ipip2 mode ipip local 10.200.0.2 remote 10.200.0.1
    $IP -n vt1 addr add 10.201.0.1/30 dev ipip1
    $IP -n vt2 addr add 10.201.0.2/30 dev ipip2
    $IP -n vt1 link set ipip1 up
    $IP -n vt2 link set ipip2 up
  ) >$W/tunnel.log 2>&1 || tunnel="tunnel setup failed: $(tail -n 1 $W/tunnel.log)"
elif [ "$MODE" = host ]; then
  result modprobe_ipip SKIP "host kernel: $tunnel"
else
  result modprobe_ipip FAIL "$tunnel"
fi
if [ -z "$tunnel" ]; then
  $IP netns exec vt2 httpd -f -p 10.201.0.2:$TUNNEL_PORT -h $W/www >$W/httpd-tunnel.log 2>&1 &
  TUNNEL_HTTPD=$!
  i=0
  until $IP netns exec vt1 timeout 5 wget -q -O $W/tunnel.out http://10.201.0.2:$TUNNEL_PORT/vmtest/tunnel 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 50 ] || break
    usleep 100000
  done
  if [ "$(cat $W/tunnel.out 2>/dev/null)" = "through the tunnel" ]; then
    rx=$($IP -n vt2 -s link show ipip2 | awk '/RX:/ { getline; print $2; exit }')
    tunnel_traffic="ok (ipip2 received ${rx:-?} packets)"
  else
    tunnel="no HTTP answer over the tunnel"
  fi
  stop $TUNNEL_HTTPD 5
fi

# ------------------------------------------------------------------------- MySQL-shaped exchange
# No mariadb in the VM (its server and datadir bootstrap are too heavy for an initramfs under TCG): busybox
# nc plays both ends of a MySQL protocol-41 conversation on :3306, one packet per write, in order:
# greeting, HandshakeResponse41 (user vmtest, db shop), OK, COM_QUERY "SET autocommit=1", OK.
sq() { printf "$@"; sleep 1; }
(
  sq '\120\000\000\000\0125.7.0-vmtest\000\001\000\000\000abcdefgh\000\377\367\010\002\000\377\201\025\000\000\000\000\000\000\000\000\000\000ijklmnopqrst\000mysql_native_password\000'
  sq '\007\000\000\002\000\000\000\002\000\000\000'
  sq '\007\000\000\001\000\000\000\002\000\000\000'
  sleep 1
) | timeout 12 nc -l -p $MYSQL_PORT >$W/mysql-server.got 2>&1 &
MYSQL=$!
usleep 300000
(
  sleep 0.5
  sq '\127\000\000\001\011\202\010\000\000\000\000\001\041\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000vmtest\000\024abcdefghijklmnopqrstshop\000mysql_native_password\000'
  sq '\021\000\000\000\003SET autocommit=1'
  sleep 1
) | timeout 10 nc 127.0.0.1 $MYSQL_PORT >$W/mysql-client.got 2>&1
wait $MYSQL 2>/dev/null
mysql_traffic=ok
grep -q 'SET autocommit=1' $W/mysql-server.got || mysql_traffic="server did not get the query"
grep -q mysql_native_password $W/mysql-client.got || mysql_traffic="client did not get the greeting"

# ------------------------------------------------------------------ stop the agent, check the spans
sleep 2
if kill -0 $AGENT 2>/dev/null; then
  timeout 10 wget -q -O /dev/null http://127.0.0.1:$AGENT_PORT/healthz && healthy=yes || healthy=no
  timeout 10 wget -q -O $W/metrics-end.txt http://127.0.0.1:$AGENT_PORT/metrics
  stop $AGENT 30
  alive=yes
else
  alive=no
  healthy=no
fi
wait $AGENT 2>/dev/null
tracer_spans=$(awk '$1 == "otelbpf_tracer_spans_total" { print $2 }' $W/metrics-end.txt 2>/dev/null)
lost=$(awk '$1 == "otelbpf_probe_ringbuf_drops_total" { print $2 }' $W/metrics-end.txt 2>/dev/null)

# One span per line: the text from its "traceId" up to the next span or resource, then " exe=" and the
# process.executable.name of its resource (the resource's, not repeated on each span).
awk '{ n = split($0, p, /\{"traceId"/); exe = ""
       for (i = 1; i <= n; i++) {
         s = p[i]
         if (i > 1) { t = s; sub(/"resource".*/, "", t); print t " exe=" exe }
         if (match(s, /"process.executable.name","value":\{"stringValue":"[^"]*"/)) {
           exe = substr(s, RSTART, RLENGTH); sub(/.*"stringValue":"/, "", exe); sub(/"$/, "", exe)
         }
       } }' \
  $W/spans.jsonl >$W/spans.txt 2>/dev/null
nspans=$(wc -l <$W/spans.txt)
str() { echo "\"key\":\"$1\",\"value\":{\"stringValue\":\"$2\"}"; }
int() { echo "\"key\":\"$1\",\"value\":{\"intValue\":\"$2\"}"; }
# spans KIND PATH [more fixed strings...]: the matching span lines (kind 2 = SERVER, 3 = CLIENT).
spans() {
  kind=$1 path=$2
  shift 2
  grep -F "\"kind\":$kind," $W/spans.txt | grep -F "$(str url.path "$path")" >$W/match.txt
  for s in "$@"; do
    grep -F "$s" $W/match.txt >$W/match2.txt
    mv $W/match2.txt $W/match.txt
  done
  cat $W/match.txt
}
exe() { sed -n 's/.* exe=\(.*\)$/\1/p' | head -n 1; }
trace() { sed -n 's/^:"\([0-9a-f]*\)".*/\1/p' | head -n 1; }
check_span() {  # check KIND PATH what-for [fixed strings...]
  c=$1 kind=$2 path=$3 what=$4
  shift 4
  line=$(spans $kind "$path" "$@" | head -n 1)
  if [ -n "$line" ]; then
    result $c PASS "$what: $(echo "$line" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p') by $(echo "$line" | exe)"
  else
    result $c FAIL "$what: no span with kind=$kind url.path=$path $* among $nspans spans"
  fi
}

if [ "$alive" = yes ] && [ -s $W/spans.jsonl ]; then
  result agent_export PASS "$nspans spans in the export file, tracer made ${tracer_spans:-?}, ring buffer drops ${lost:-?}, clean SIGTERM"
else
  result agent_export FAIL "agent alive=$alive, export file $(wc -c <$W/spans.jsonl 2>/dev/null || echo missing) bytes"
  show $W/agent.log
fi

if [ "$http_traffic" = ok ]; then
  check_span http_server_span 2 /vmtest/hello "loopback HTTP server span" "$(int http.response.status_code 200)" \
    "$(str http.request.method GET)"
  check_span http_client_span 3 /vmtest/hello "loopback HTTP client span" "$(int http.response.status_code 200)"
  check_span http_404_span 2 /vmtest/missing "404 server span" "$(int http.response.status_code 404)"
  # The TCP rule puts the server sys span under the client sys span of the same exchange. busybox wget and
  # the forked httpd child exit without close(): the probes' process-exit event ends their connections.
  srv=$(spans 2 /vmtest/hello | trace | head -n 1)
  if [ -z "$srv" ]; then
    result http_tcp_link FAIL "no /vmtest/hello server span to link"
  elif spans 3 /vmtest/hello | grep -q "^:\"$srv\""; then
    result http_tcp_link PASS "server and client span of /vmtest/hello share trace $srv"
  else
    result http_tcp_link FAIL "not linked: no client span in the server span's trace $srv (req/resp seqs below)"
    grep -F "$(str url.path /vmtest/hello)" $W/spans.txt | sed -e 's/"attributes".*"key":"otelbpf.tcp.req_seq"/ ... req_seq/' \
      -e 's/"key":"network.peer.address".*//' | cut -c 1-400 | sed 's/^/    | /'
  fi
else
  for c in http_server_span http_client_span http_404_span http_tcp_link; do result $c FAIL "no traffic: $http_traffic"; done
fi

if [ -z "$tunnel" ]; then
  result ipip_traffic PASS "$tunnel_traffic"
  check_span ipip_server_span 2 /vmtest/tunnel "server span over ipip" "$(str network.peer.address 10.201.0.1)" \
    "$(int http.response.status_code 200)"
  check_span ipip_client_span 3 /vmtest/tunnel "client span over ipip" "$(str network.peer.address 10.201.0.2)" \
    "$(int network.peer.port $TUNNEL_PORT)"
elif [ "$MODE" = host ] && [ -n "$(echo "$tunnel" | grep modprobe)" ]; then
  for c in ipip_traffic ipip_server_span ipip_client_span; do result $c SKIP "host kernel has no ipip"; done
else
  for c in ipip_traffic ipip_server_span ipip_client_span; do result $c FAIL "$tunnel"; done
  show $W/tunnel.log
fi

if [ "$mysql_traffic" = ok ]; then
  bogus=$(grep -F "$(int network.peer.port $MYSQL_PORT)" $W/spans.txt | grep -c -F "$(str network.protocol.name http)")
  mysql=$(grep -F "$(str db.system mysql)" $W/spans.txt | head -n 1)
  if [ "$healthy" != yes ] || [ "$bogus" != 0 ]; then
    result mysql_shaped FAIL "healthy=$healthy, $bogus HTTP spans made from MySQL bytes"
  elif [ -n "$mysql" ] && echo "$mysql" | grep -q -i 'autocommit'; then
    result mysql_shaped PASS "MySQL span: $(echo "$mysql" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p') by $(echo "$mysql" | exe), agent healthy"
  else
    result mysql_shaped FAIL "no db.system=mysql span of the nc exchange's SET autocommit=1 (${mysql:+found: $(echo "$mysql" | cut -c 1-200)})"
  fi
else
  result mysql_shaped FAIL "nc exchange: $mysql_traffic"
fi

# How this kernel is traced: the data hooks and event transport the loader chose (INFO, not a check).
hooks=$(sed -n 's/.*syscall probes: \([0-9]*\/[0-9]*\) attached, data calls via \([^,]*\),.*/\2 (\1 attached)/p' $W/agent.log | head -n 1)
transport="ring buffer"
grep -q "kernel has no BPF ring buffer" $W/agent.log && transport="perf buffer (no ring buffer)"
case $hooks in
  sock_send_length*) result data_hooks INFO "sock hooks: $hooks; events via $transport" ;;
  "") result data_hooks INFO "no syscall probes: $(grep -m 1 'probes unavailable' $W/agent.log | sed 's/.*\] //' | cut -c 1-160)" ;;
  *) result data_hooks INFO "syscall tracepoints (kernel has no sock:sock_send_length, Linux 6.3+): $hooks; events via $transport" ;;
esac

# ------------------------------------------------------------- live packet capture across two nodes
sh "$(dirname "$0")/netcap_path.sh" "$K" "$MODE" "$BIN" "$W"

result done PASS "$(elapsed $START)s of checks"
