#!/usr/bin/env bash
# DNS end to end, on the real kernel: the agent's eBPF probes watch dig (UDP and TCP) and Node's resolver
# (c-ares, UDP) asking an uninstrumented dnsmasq (from Debian) on a non-default port; every query must
# come out as a CLIENT span in the asker and a SERVER span in dnsmasq, TCP ones linked by the agent.
#   tests/e2e/dns_sys_spans.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the eBPF probes"
command -v dnsmasq >/dev/null || fail "dnsmasq missing (scripts/install-deps)"
command -v dig >/dev/null || fail "dig missing (scripts/install-deps)"
DNS_PORT=$(free_port)

start_agent agent --http-port 0 --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file "$WORK/agent.jsonl" --set assembler.link_window_ms=1500 --log-level debug
AGENT_PORT=$(agent_port agent)
wait_http http://127.0.0.1:$AGENT_PORT/readyz
[ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"

# example.test (and below) answers 10.1.2.3; nx.test (and below) is NXDOMAIN; anything else is REFUSED
# (no upstream servers).
dnsmasq --no-daemon --port=$DNS_PORT --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
  --address=/example.test/10.1.2.3 --address=/nx.test/ --pid-file="$WORK/dnsmasq.pid" --log-queries \
  >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 20))
until dig @127.0.0.1 -p $DNS_PORT +time=1 +tries=1 ready.example.test A >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "dnsmasq did not come up"
  sleep 0.1
done

# Each client's pid is recorded: a short-lived dig may be gone before the tracer reads /proc/<pid>/exe,
# and then its spans carry the thread's name (isc-net-0000) instead of "dig".
digq() {
  dig @127.0.0.1 -p $DNS_PORT +time=2 +tries=1 "$@" >"$WORK/dig.out" &
  local pid=$!
  wait $pid
  local rc=$?
  echo "$pid" >>"$WORK/dig.pids"
  cat "$WORK/dig.out"
  return $rc
}
[ "$(digq +short udp.example.test A)" = 10.1.2.3 ] || fail "dig udp.example.test"
digq udp.nx.test A | grep -q 'status: NXDOMAIN' || fail "dig udp.nx.test"
digq refused.other A | grep -q 'status: REFUSED' || fail "dig refused.other"
[ "$(digq +tcp +short tcp.example.test A)" = 10.1.2.3 ] || fail "dig +tcp tcp.example.test"
digq +tcp tcp.nx.test AAAA | grep -q 'status: NXDOMAIN' || fail "dig +tcp tcp.nx.test"
node "$E2E_DIR/node/dns_client.js" $DNS_PORT >"$WORK/node.log" 2>&1 &
NODE_PID=$!
wait $NODE_PID || { cat "$WORK/node.log"; fail "node resolver"; }

# Let the probes' events drain and the tracer hand its spans over, then stop: SIGTERM flushes everything.
wait_drained "http://127.0.0.1:$AGENT_PORT"
spans=$(metric http://127.0.0.1:$AGENT_PORT otelbpf_tracer_spans_total)
lost=$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probe_ringbuf_drops_total)
inflight=$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probe_inflight_lost_total)
echo "tracer made $spans sys spans so far (probe events lost: ring buffer $lost, in flight $inflight)"
stop_agent "$PID_agent"
node "$E2E_DIR/node/verify_dns_sys_spans.js" "$WORK/agent.jsonl" $DNS_PORT "$(paste -sd, "$WORK/dig.pids")" $NODE_PID
echo "dns_sys_spans: ok"
