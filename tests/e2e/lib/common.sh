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

metric() {  # url name-with-labels -> value (0 when absent)
  curl -fsS "$1/metrics" | awk -v m="$2" '$1 == m {print $2; found=1} END {if (!found) print 0}'
}
