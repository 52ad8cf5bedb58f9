#!/usr/bin/env bash
# HTTP/2 and gRPC end to end, on the real kernel: an uninstrumented grpc-js server and client (five calls
# multiplexed on one connection: unary OK, unary NOT_FOUND, server streaming) and one h2c request from
# curl must come out as sys CLIENT and SERVER spans, the server's linked under the client's.
#   tests/e2e/grpc_sys_spans.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the eBPF probes"
ensure_node_clients
if [ ! -d "$E2E_DIR/node/node_modules/@grpc/grpc-js" ] || [ ! -d "$E2E_DIR/node/node_modules/@grpc/proto-loader" ]; then
  (cd "$E2E_DIR/node" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 || {
    cat "$WORK/npm.log"; fail "npm ci failed"; }
fi
GRPC_PORT=$(free_port)

start_agent agent --http-port 0 --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file "$WORK/agent.jsonl" --set assembler.link_window_ms=1500 --log-level debug
AGENT_PORT=$(agent_port agent)
wait_http http://127.0.0.1:$AGENT_PORT/readyz
[ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"

node "$E2E_DIR/node/grpc_server.js" $GRPC_PORT >"$WORK/grpc_server.log" 2>&1 &
SERVER_PID=$!
PIDS+=($SERVER_PID)
deadline=$((SECONDS + 20))
until grep -q "grpc server pid" "$WORK/grpc_server.log" 2>/dev/null; do
  kill -0 $SERVER_PID 2>/dev/null || fail "grpc server exited"
  [ $SECONDS -lt $deadline ] || fail "grpc server did not come up"
  sleep 0.1
done

node "$E2E_DIR/node/grpc_client.js" $GRPC_PORT "$WORK/client.json" >"$WORK/grpc_client.log" 2>&1 ||
  fail "grpc client failed: $(cat "$WORK/grpc_client.log")"
code=$(curl -sS -o /dev/null -w '%{http_code}' --http2-prior-knowledge "http://127.0.0.1:$GRPC_PORT/plain/check")
[ "$code" = 415 ] || fail "h2c request: HTTP $code"

# Let the probes' events drain and the tracer hand its spans over, then stop: SIGTERM flushes everything.
wait_drained "http://127.0.0.1:$AGENT_PORT"
stop_pid "$SERVER_PID"
stop_agent "$PID_agent"
node "$E2E_DIR/node/grpc_verify_sys_spans.js" "$WORK/agent.jsonl" "$WORK/client.json" $SERVER_PID $GRPC_PORT
echo "grpc_sys_spans: ok"
