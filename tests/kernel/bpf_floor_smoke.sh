#!/usr/bin/env bash
# scripts/bench-bpf-floor's programs still load, attach and record: bench_bpf_floor at each level while curl
# talks to a loopback HTTP server; level 0 must record nothing, every other level (and the agent's own
# data programs, --level=probes) at least one record per request. Needs root and sock:sock_send_length (6.3+).
#   bpf_floor_smoke.sh BENCH_BPF_FLOOR
set -euo pipefail
FLOOR=$1
REQUESTS=20
grep -q btf_trace_sock_send_length <(bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -o 'btf_trace_sock_send_length' | head -1) ||
  { echo "SKIP: no sock:sock_send_length on this kernel"; exit 0; }
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$TMP" && echo ok >index.html && exec /usr/bin/python3 -m http.server --bind 127.0.0.1 "$PORT") >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done

fail=0
for level in 0 1 2 3 probes; do
  "$FLOOR" --level="$level" >"$TMP/floor-$level.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do grep -q '^ready' "$TMP/floor-$level.log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  grep -q '^ready' "$TMP/floor-$level.log" || { cat "$TMP/floor-$level.log"; echo "FAIL: level $level did not load"; exit 1; }
  for _ in $(seq "$REQUESTS"); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/"; done
  kill -TERM "$pid"
  wait "$pid" || { cat "$TMP/floor-$level.log"; echo "FAIL: level $level exited with an error"; exit 1; }
  records=$(awk '/^records/ { print $2 }' "$TMP/floor-$level.log")
  if [ "$level" = 0 ]; then
    [ "$records" = 0 ] || { echo "FAIL: level 0 recorded $records (it must return at once)"; fail=1; }
  elif [ "${records:-0}" -lt "$REQUESTS" ]; then
    echo "FAIL: level $level recorded ${records:-nothing} for $REQUESTS requests"; fail=1
  fi
  echo "level $level: $records records for $REQUESTS requests"
done
exit "$fail"
