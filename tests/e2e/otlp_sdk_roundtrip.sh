#!/usr/bin/env bash
# The real OpenTelemetry JS SDK exporters (OTLP/HTTP protobuf and OTLP/HTTP JSON) send spans to the agent on
# both paths (/v1/traces and /api/v1/otel/trace); every span must leave through each exporter (file,
# OTLP/HTTP, OTLP/gRPC) unchanged, field by field. The HTTP and gRPC exporters deliver to two more agents
# acting as OTLP sinks, which write what they receive to their own files.
#   tests/e2e/otlp_sdk_roundtrip.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
ensure_node_clients
COMMON=(--no-probes --set receiver.http.listen=127.0.0.1 --set export.batch_delay_ms=50)

start_agent sink_http "${COMMON[@]}" --http-port 48187 --no-grpc --export-file "$WORK/sink_http.jsonl"
start_agent sink_grpc "${COMMON[@]}" --http-port 48188 --grpc-listen 127.0.0.1:44318 --export-file "$WORK/sink_grpc.jsonl"
wait_http http://127.0.0.1:48187/healthz
wait_http http://127.0.0.1:48188/healthz
start_agent agent "${COMMON[@]}" --http-port 48186 --grpc-listen 127.0.0.1:44317 --export-file "$WORK/agent.jsonl" \
  --otlp-http-endpoint http://127.0.0.1:48187/v1/traces --otlp-grpc-endpoint 127.0.0.1:44318
wait_http http://127.0.0.1:48186/readyz

node "$E2E_DIR/node/otlp_send.js" proto http://127.0.0.1:48186/v1/traces "$WORK/expected_proto.json" proto
node "$E2E_DIR/node/otlp_send.js" json http://127.0.0.1:48186/api/v1/otel/trace "$WORK/expected_json.json" json

# SIGTERM flushes the agent's exporters before it exits; then the sinks flush their files.
stop_agent "$PID_agent"
stop_pid "$PID_sink_http"
stop_pid "$PID_sink_grpc"

for out in agent sink_http sink_grpc; do
  node "$E2E_DIR/node/otlp_verify.js" "$WORK/$out.jsonl" "$WORK/expected_proto.json" "$WORK/expected_json.json"
done
echo "otlp_sdk_roundtrip: ok"
