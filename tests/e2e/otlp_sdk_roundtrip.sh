#!/usr/bin/env bash
# The real OpenTelemetry JS SDK exporters (OTLP/HTTP protobuf and OTLP/HTTP JSON) send spans to the agent on
# both paths (/v1/traces and /api/v1/otel/trace); every span must leave through each exporter (file,
# OTLP/HTTP, OTLP/gRPC) unchanged, field by field, exactly once. The OTLP exporters deliver to a sink that
# is not an otelbpf agent (node/otlp_sink.js decodes with the JS SDK's own generated protobuf classes), so
# an encoding bug cannot be cancelled by the same bug in decoding. Every listener binds port 0.
#   tests/e2e/otlp_sdk_roundtrip.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
ensure_node_clients

start_otlp_sink "$WORK/sink_http.jsonl" "$WORK/sink_grpc.jsonl"

start_agent agent --no-probes --set receiver.http.listen=127.0.0.1 --set export.batch_delay_ms=50 --http-port 0 \
  --grpc-listen 127.0.0.1:0 --export-file "$WORK/agent.jsonl" \
  --otlp-http-endpoint "http://127.0.0.1:$SINK_HTTP/v1/traces" --otlp-grpc-endpoint "127.0.0.1:$SINK_GRPC"
deadline=$((SECONDS + 60))
until PORT=$(sed -n 's/.*http receiver listening on [^ ]*:\([0-9]*\) .*/\1/p' "$WORK/agent.log" | head -n 1) && [ -n "$PORT" ]; do
  kill -0 "$PID_agent" 2>/dev/null || { cat "$WORK/agent.log"; fail "the agent exited"; }
  [ $SECONDS -lt $deadline ] || fail "the agent did not start listening"
  sleep 0.1
done
wait_http "http://127.0.0.1:$PORT/readyz"

node "$E2E_DIR/node/otlp_send.js" proto "http://127.0.0.1:$PORT/v1/traces" "$WORK/expected_proto.json" proto
node "$E2E_DIR/node/otlp_send.js" json "http://127.0.0.1:$PORT/api/v1/otel/trace" "$WORK/expected_json.json" json

# SIGTERM flushes the agent's exporters before it exits; then the sink closes its file.
stop_agent "$PID_agent"
stop_pid "$SINK_PID"

for out in agent sink_http sink_grpc; do
  node "$E2E_DIR/node/otlp_verify.js" "$WORK/$out.jsonl" "$WORK/expected_proto.json" "$WORK/expected_json.json"
done
echo "otlp_sdk_roundtrip: ok"
