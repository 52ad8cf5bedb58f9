#!/usr/bin/env bash
# Kafka end to end, on the real kernel: the agent's eBPF probes watch kafkajs (a real Kafka client)
# producing to a broker test double that answers in the Kafka wire format (Debian ships no Kafka broker);
# every request must come out as a CLIENT span in the producer and a SERVER span in the broker, linked.
#   tests/e2e/kafka_sys_spans.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the eBPF probes"
ensure_node_clients
[ -d "$E2E_DIR/node/node_modules/kafkajs" ] || (cd "$E2E_DIR/node" && npm ci --no-audit --no-fund --loglevel=error) \
  >"$WORK/npm.log" 2>&1 || fail "npm ci failed"
BROKER_PORT=$(free_port)

start_agent agent --http-port 0 --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file "$WORK/agent.jsonl" --set assembler.link_window_ms=1500 --log-level debug
AGENT_PORT=$(agent_port agent)
wait_http http://127.0.0.1:$AGENT_PORT/readyz
[ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"

node "$E2E_DIR/node/kafka_broker_double.js" $BROKER_PORT >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=($BROKER_PID)
deadline=$((SECONDS + 20))
until grep -q 'broker double on' "$WORK/broker.log" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "broker double did not come up"
  sleep 0.1
done

node "$E2E_DIR/node/kafka_client.js" $BROKER_PORT orders >"$WORK/client.log" 2>&1 &
CLIENT_PID=$!
wait $CLIENT_PID || { cat "$WORK/client.log"; fail "kafkajs producer"; }

# Let the probes' events drain and the tracer hand its spans over, then stop: SIGTERM flushes everything.
wait_drained "http://127.0.0.1:$AGENT_PORT"
spans=$(metric http://127.0.0.1:$AGENT_PORT otelbpf_tracer_spans_total)
echo "tracer made $spans sys spans so far"
stop_agent "$PID_agent"
node "$E2E_DIR/node/verify_kafka_sys_spans.js" "$WORK/agent.jsonl" $BROKER_PORT $CLIENT_PID $BROKER_PID
echo "kafka_sys_spans: ok"
