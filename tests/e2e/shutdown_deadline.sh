#!/usr/bin/env bash
# A SIGTERM with a full assembler and an export endpoint that accepts connections but never answers: the
# agent must stop within export.shutdown_timeout_ms (one deadline for the assembler's final flush and the
# exporters together, plus at most one send in flight), count what it could not deliver, and exit 0.
# Before, the final flush waited up to 2 s per batch for the busy exporter before the deadline even began.
#   tests/e2e/shutdown_deadline.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HOLE=$(free_port)
PORT=$(free_port)
# The endpoint: takes connections and requests, answers nothing.
node -e 'require("net").createServer((s) => s.on("data", () => {})).listen(Number(process.argv[1]), "127.0.0.1")' \
  "$HOLE" >"$WORK/hole.log" 2>&1 &
PIDS+=($!)
start_agent agent --no-probes --no-grpc --http-port "$PORT" --set receiver.http.listen=127.0.0.1 \
  --export-file "$WORK/agent.jsonl" --otlp-http-endpoint "http://127.0.0.1:$HOLE/v1/traces" \
  --set export.otlp_http.timeout_ms=1000 --set export.queue_batches=2 --set export.spool_dir= \
  --set export.shutdown_timeout_ms=2000 --set assembler.link_window_ms=60000 \
  --set 'receiver.peer_agents=["192.0.2.1"]'
# (A configured peer agent may send sys spans, so the assembler holds app spans for their window even with
# the probes off; without one, app spans would pass straight through and nothing would be held.)
wait_http "http://127.0.0.1:$PORT/readyz" 60

# 100 requests of 400 spans: held by the assembler (60 s window) until the SIGTERM flushes them.
python3 - "$WORK/body.json" <<'PY'
import json, sys
spans = [{"traceId": "%032x" % (i + 1), "spanId": "%016x" % (i + 1), "name": "op", "kind": 2,
          "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000000001000"} for i in range(400)]
json.dump({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "burst"}}]},
                              "scopeSpans": [{"spans": spans}]}]}, open(sys.argv[1], "w"))
PY
for i in $(seq 1 100); do
  curl -fsS -o /dev/null -H 'content-type: application/json' --data-binary @"$WORK/body.json" \
    "http://127.0.0.1:$PORT/v1/traces" || fail "request $i was refused"
done
# The gauge follows the assembler stage's polls: wait for it instead of sleeping a fixed time.
deadline=$((SECONDS + 10))
until buffered=$(metric "http://127.0.0.1:$PORT" otelbpf_assembler_buffered_spans) && [ "$buffered" -gt 30000 ]; do
  [ $SECONDS -lt $deadline ] || fail "only $buffered spans buffered before the SIGTERM"
  sleep 0.1
done

start=$(date +%s%N)
stop_agent "$PID_agent"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "stopped in $elapsed_ms ms with $buffered spans buffered (deadline 2000 ms, one send may overrun by 1000 ms)"
[ "$elapsed_ms" -le 6000 ] || fail "the stop took $elapsed_ms ms, beyond the 2 s deadline (+1 s send, +3 s slack)"
grep -q "dropping\|not sent\|shutdown" "$WORK/agent.log" || fail "the undelivered spans were not reported"
echo "shutdown_deadline: ok"
