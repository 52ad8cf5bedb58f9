#!/usr/bin/env bash
# Issue 13 item 12: the agent traces with exactly the capabilities the DaemonSet grants, no more. The list
# is read from deploy/kubernetes/daemonset.yaml; the agent runs as root but with its bounding set cut to
# that list and no_new_privs (allowPrivilegeEscalation: false), over a tracefs the "host" provides. It must
# attach every probe, read other processes' /proc entries (the executable and PID namespace of a server
# started by root with all capabilities), and export the sys spans of real HTTP requests.
#   tests/e2e/least_privilege.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root"
for cmd in setpriv capsh curl; do command -v $cmd >/dev/null || fail "$cmd is needed (scripts/install-deps)"; done
ROOT=$(cd "$E2E_DIR/../.." && pwd)

CAPS=$(sed -n 's/^ *add: \[\(.*\)\]$/\1/p' "$ROOT/deploy/kubernetes/daemonset.yaml" | tr -d '" ' | tr 'A-Z' 'a-z')
[ -n "$CAPS" ] || fail "no capabilities list in deploy/kubernetes/daemonset.yaml"
echo "capabilities from the DaemonSet: $CAPS"
BOUNDING=-all
for cap in ${CAPS//,/ }; do BOUNDING+=",+$cap"; done

# The DaemonSet mounts the host's tracefs; here the test plays the host.
if ! grep -q ' /sys/kernel/tracing tracefs ' /proc/mounts; then mount -t tracefs tracefs /sys/kernel/tracing; fi

# A server started by root with every capability: reading its /proc entries takes CAP_SYS_PTRACE.
SERVE_DIR=$WORK/www
mkdir -p "$SERVE_DIR"
echo ok >"$SERVE_DIR/lp-probe"
SERVER_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 -m http.server "$SERVER_PORT" --bind 127.0.0.1 --directory "$SERVE_DIR" >"$WORK/server.log" 2>&1 &
PIDS+=($!)

EXPORT=$WORK/export.jsonl
setpriv --bounding-set="$BOUNDING" --inh-caps=-all --no-new-privs -- \
  "$AGENT" --http-port 0 --set receiver.http.port=0 --no-grpc --export-file "$EXPORT" --log-level info \
  >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=($AGENT_PID)
# Port 0: the agent logs the port it bound.
deadline=$((SECONDS + 60))
until PORT=$(sed -n 's/.*http receiver listening on [^ ]*:\([0-9]*\) .*/\1/p' "$WORK/agent.log" | head -n 1) && [ -n "$PORT" ]; do
  kill -0 $AGENT_PID 2>/dev/null || { cat "$WORK/agent.log"; fail "the agent exited"; }
  [ $SECONDS -lt $deadline ] || fail "the agent did not start listening"
  sleep 0.1
done
wait_http "http://127.0.0.1:$PORT/readyz" 60

# It holds exactly the listed capabilities.
EFFECTIVE=$(awk '/^CapEff:/ {print $2}' /proc/$AGENT_PID/status)
HELD=$(capsh --decode="$EFFECTIVE" | sed 's/.*=//')
echo "agent effective capabilities: $HELD"
# Those of the list this machine's root has at all (a container runtime may withhold some: here
# cap_sys_resource, which kernels since 5.11 do not need for BPF maps), and none beyond the list.
MINE=$(capsh --decode="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)" | sed 's/.*=//')
for cap in ${CAPS//,/ }; do
  grep -qw "cap_$cap" <<<"$MINE" || { echo "(this machine has no cap_$cap to give)"; continue; }
  grep -qw "cap_$cap" <<<"$HELD" || fail "the agent lacks cap_$cap"
done
for cap in ${HELD//,/ }; do grep -qw "${cap#cap_}" <<<"${CAPS//,/ }" || fail "the agent holds $cap, beyond the DaemonSet's list"; done
grep -q "^NoNewPrivs:[[:space:]]*1" /proc/$AGENT_PID/status || fail "no_new_privs is not set"

[ "$(metric http://127.0.0.1:$PORT otelbpf_probes_enabled)" = 1 ] || { cat "$WORK/agent.log"; fail "the probes did not load"; }
if grep -q "refused" "$WORK/agent.log" && ! grep -q " 0 refused" "$WORK/agent.log"; then
  cat "$WORK/agent.log"
  fail "the kernel refused a probe with these capabilities"
fi

for i in 1 2 3; do curl -fsS -o /dev/null "http://127.0.0.1:$SERVER_PORT/lp-probe?i=$i" || fail "request $i"; done
# The tracer makes the spans within its tick; SIGTERM then flushes them through the assembler to the file.
deadline=$((SECONDS + 30))
until [ "$(metric http://127.0.0.1:$PORT otelbpf_tracer_spans_total)" -ge 6 ] 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "the tracer made $(metric http://127.0.0.1:$PORT otelbpf_tracer_spans_total) spans, not 6"
  sleep 0.2
done
stop_agent $AGENT_PID

server_spans=$(grep -o '"url.path","value":{"stringValue":"/lp-probe"}' "$EXPORT" | wc -l)
[ "$server_spans" -ge 6 ] || fail "expected the 3 requests' sys spans (client and server), found $server_spans"
# The server's executable (python3.11, not its comm "python3") and its PID namespace came from /proc.
grep '"/lp-probe"' "$EXPORT" | grep -q '"process.executable.name","value":{"stringValue":"python3' ||
  fail "no server span names its executable"
grep '"/lp-probe"' "$EXPORT" | grep -q 'otelbpf.process.pid_namespace' ||
  fail "the PID namespace of the traced processes was not readable"
exe=$(grep -o '"process.executable.name","value":{"stringValue":"python[^"]*"' "$EXPORT" | head -n 1)
grep -q 'python3\.[0-9]' <<<"$exe" || fail "the executable is the comm fallback ($exe): /proc/<pid>/exe was not readable"
echo "least_privilege: ok ($server_spans sys spans with the DaemonSet's capabilities)"
