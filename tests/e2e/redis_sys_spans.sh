#!/usr/bin/env bash
# Redis end to end, on the real kernel: the agent's eBPF probes watch a Debian redis-server and its clients
# (redis-cli in RESP2 and RESP3, a --pipe pipeline, and the npm ioredis client with a pipeline and pub/sub);
# every command must come out as a CLIENT sys span in the client and a SERVER sys span in the server,
# paired by TCP sequence numbers, with obfuscated text and error status.
#   tests/e2e/redis_sys_spans.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the eBPF probes"
command -v redis-server >/dev/null || fail "redis-server is not installed (scripts/install-deps)"
ensure_node_clients
if [ ! -d "$E2E_DIR/node/node_modules/ioredis" ]; then
  (cd "$E2E_DIR/node" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 || fail "npm ci failed"
fi
REDIS_PORT=$(free_port)

start_agent agent --http-port 0 --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file "$WORK/agent.jsonl" --set assembler.link_window_ms=1500 --log-level debug
AGENT_PORT=$(agent_port agent)
wait_http http://127.0.0.1:$AGENT_PORT/readyz
[ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"

mkdir -p "$WORK/redis"
redis-server --port $REDIS_PORT --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no \
  --daemonize no --protected-mode no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 20))
until [ "$(redis-cli -p $REDIS_PORT ping 2>/dev/null)" = PONG ]; do
  [ $SECONDS -lt $deadline ] || fail "redis-server did not come up"
  sleep 0.1
done

cli() { redis-cli -h 127.0.0.1 -p $REDIS_PORT "$@"; }
cli SET e2e:key secretvalue >/dev/null
[ "$(cli GET e2e:key)" = secretvalue ] || fail "GET"
cli INCR e2e:key | grep -q "not an integer" || fail "INCR on a string should fail"
# RESP3: redis-cli -3 sends HELLO 3 first; HGETALL then answers with a map.
cli HSET e2e:hash field1 one field2 two >/dev/null
cli -3 HGETALL e2e:hash >/dev/null
# A pipeline: several commands in one write (redis-cli --pipe adds an ECHO of its own at the end).
printf '*3\r\n$3\r\nSET\r\n$7\r\npipe:k1\r\n$2\r\nv1\r\n*2\r\n$4\r\nINCR\r\n$9\r\npipe:ctr1\r\n*2\r\n$3\r\nGET\r\n$7\r\npipe:k1\r\nINCR pipe:ctr2\r\n' |
  cli --pipe >"$WORK/pipe.out" 2>&1 || { cat "$WORK/pipe.out"; fail "redis-cli --pipe"; }
node "$E2E_DIR/node/redis_ioredis_client.js" $REDIS_PORT >"$WORK/ioredis.log" 2>&1 || { cat "$WORK/ioredis.log"; fail "ioredis client"; }

# Let the probes' events drain and the tracer hand its spans over, then stop: SIGTERM flushes everything.
wait_drained "http://127.0.0.1:$AGENT_PORT"
echo "tracer made $(metric http://127.0.0.1:$AGENT_PORT otelbpf_tracer_spans_total) sys spans so far"
stop_agent "$PID_agent"
node "$E2E_DIR/node/redis_verify_sys_spans.js" "$WORK/agent.jsonl" $REDIS_PORT
echo "redis_sys_spans: ok"
