# Shared helpers of the end-to-end suites: start agents, wait for ports, clean up whatever was started.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/otelbpf-e2e.XXXXXX)
PIDS=()

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    echo "--- e2e failed (rc=$rc); logs in $WORK:"
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 40 "$f"; }; done
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Installs the pinned npm clients; again whenever package-lock.json changed since the last install.
ensure_node_clients() {
  local stamp="$E2E_DIR/node/node_modules/.otelbpf-lock.sha256" want
  want=$(sha256sum "$E2E_DIR/node/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd "$E2E_DIR/node" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 || {
      cat "$WORK/npm.log"; fail "npm ci failed"; }
    echo "$want" >"$stamp"
  fi
}

wait_http() {  # url [seconds]
  local url=$1 deadline=$((SECONDS + ${2:-60}))  # probes can take seconds to load on a busy machine
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "$url did not come up"
    sleep 0.1
  done
}

# start_agent NAME ARGS... : runs the agent in the background, logs to $WORK/NAME.log, records its pid.
start_agent() {
  local name=$1; shift
  "$AGENT" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_${name}=$!"
}

# stop_pid PID : SIGTERM and wait, whatever the exit (servers and clients the suites started).
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# stop_agent PID : SIGTERM an agent and wait; it must flush and exit 0 (a crash at shutdown fails the suite).
stop_agent() {
  kill -TERM "$1" 2>/dev/null || fail "the agent (pid $1) was gone before SIGTERM"
  local rc=0
  wait "$1" || rc=$?
  [ $rc -eq 0 ] || fail "the agent (pid $1) exited with $rc after SIGTERM"
}

# free_port: a TCP port the kernel handed out and released just now, for servers that need a number up
# front (fixed numbers inside the ephemeral range collide with clients' source ports).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# agent_port NAME: the HTTP port an agent started with --http-port 0 bound, from its log.
agent_port() {
  local log="$WORK/$1.log" pid_var="PID_$1" port deadline=$((SECONDS + 60))
  until port=$(sed -n 's/.*http receiver listening on [^ ]*:\([0-9]*\) .*/\1/p' "$log" | head -n 1) && [ -n "$port" ]; do
    kill -0 "${!pid_var}" 2>/dev/null || { cat "$log" >&2; fail "agent $1 exited before listening"; }
    [ $SECONDS -lt $deadline ] || fail "agent $1 did not start listening"
    sleep 0.05
  done
  echo "$port"
}

# wait_drained URL: the tracer has handled every event the probes wrote up to now. A UDP datagram to the
# discard port makes one event of our own; the kernel's count is published on the tracer's tick, so a
# publication that includes it is awaited, then the tracer's own count catching up with it.
wait_drained() {
  local url=$1 deadline=$((SECONDS + 30)) before written
  before=$(metric "$url" otelbpf_probe_events_total)
  until written=$(metric "$url" otelbpf_probe_events_total) && [ "$written" -gt "$before" ]; do
    echo marker >/dev/udp/127.0.0.1/9 2>/dev/null || true
    [ $SECONDS -lt $deadline ] || fail "the probes' event count did not move"
    sleep 0.05
  done
  until [ "$(metric "$url" otelbpf_tracer_events_total)" -ge "$written" ]; do
    [ $SECONDS -lt $deadline ] || fail "the tracer did not catch up with the probes ($written events written)"
    sleep 0.05
  done
}

# start_otlp_sink HTTP_OUT GRPC_OUT [TLS_DIR]: node/otlp_sink.js (an OTLP endpoint that is not an otelbpf
# agent) on ports 0; sets SINK_PID, SINK_HTTP and SINK_GRPC once both listen.
start_otlp_sink() {
  : >"$WORK/sink.out"
  node "$E2E_DIR/node/otlp_sink.js" "$@" >"$WORK/sink.out" 2>"$WORK/sink.log" &
  SINK_PID=$!
  PIDS+=($SINK_PID)
  local deadline=$((SECONDS + 30))
  until read -r _ _ SINK_HTTP _ SINK_GRPC <"$WORK/sink.out" 2>/dev/null && [ -n "${SINK_GRPC:-}" ]; do
    kill -0 $SINK_PID 2>/dev/null || { cat "$WORK/sink.log"; fail "the sink exited"; }
    [ $SECONDS -lt $deadline ] || fail "the sink did not start"
    sleep 0.1
  done
}

metric() {  # url name-with-labels -> value (0 when absent)
  curl -fsS "$1/metrics" | awk -v m="$2" '$1 == m {print $2; found=1} END {if (!found) print 0}'
}

# nginx_config_head DIR: the start of an nginx.conf whose files all live in DIR (DIR/logs must exist; one
# worker, no access log) up to and including "http {"; the caller writes its server blocks and the
# closing brace.
nginx_config_head() {
  local dir=$1
  cat <<CONF
worker_processes 1;
error_log $dir/logs/error.log;
pid $dir/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
CONF
}
