#!/usr/bin/env bash
# Issue 3 end to end, on the real kernel: the agent's eBPF probes watch curl, an uninstrumented nginx (from
# Debian) and an uninstrumented Node.js backend, plus a Node.js client instrumented with the real OTel
# SDK; every HTTP exchange must come out as linked sys spans in the exported stream.
#   tests/e2e/http_sys_spans.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the eBPF probes"
ensure_node_clients
NGINX_PORT=$(free_port)
BACKEND_PORT=$(free_port)

mkdir -p "$WORK/nginx/logs"
{ nginx_config_head "$WORK/nginx"; cat <<CONF; } >"$WORK/nginx/nginx.conf"
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /static/ { return 200 "static\n"; }
    location /api/ { proxy_pass http://127.0.0.1:$BACKEND_PORT; proxy_http_version 1.1; }
    location / { return 404; }
  }
}
CONF

start_agent agent --http-port 0 --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file "$WORK/agent.jsonl" --set assembler.link_window_ms=1500 --log-level debug
AGENT_PORT=$(agent_port agent)
wait_http http://127.0.0.1:$AGENT_PORT/readyz
[ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"

nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
node "$E2E_DIR/node/http_backend.js" $BACKEND_PORT "http://127.0.0.1:$NGINX_PORT/static/inner" >"$WORK/backend.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$NGINX_PORT/static/ready"
until curl -s -o /dev/null "http://127.0.0.1:$BACKEND_PORT/ready" 2>/dev/null; do sleep 0.1; done

curl -fsS "http://127.0.0.1:$NGINX_PORT/static/hello" >/dev/null
curl -sS -o /dev/null "http://127.0.0.1:$NGINX_PORT/missing"
node "$E2E_DIR/node/sdk_http_client.js" "http://127.0.0.1:$AGENT_PORT/v1/traces" \
  "http://127.0.0.1:$NGINX_PORT/api/items" "$WORK/sdk_ids.json"

# Let the probes' events drain and the tracer hand its spans over, then stop: SIGTERM flushes everything.
wait_drained "http://127.0.0.1:$AGENT_PORT"
spans=$(metric http://127.0.0.1:$AGENT_PORT otelbpf_tracer_spans_total)
echo "tracer made $spans sys spans so far"
stop_agent "$PID_agent"
node "$E2E_DIR/node/verify_http_sys_spans.js" "$WORK/agent.jsonl" "$WORK/sdk_ids.json" $NGINX_PORT $BACKEND_PORT
echo "http_sys_spans: ok"
