# Shared by scripts/bench-*: Release build, process bookkeeping, ports, the agent, /metrics and /proc reads.
# Sourced; expects `set -euo pipefail` in the caller.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Not OTELBPF_*: the agent reads every OTELBPF_<SECTION>__<KEY> variable as config and refuses unknown ones.
BENCH_BUILD_DIR=${BENCH_BUILD_DIR:-$BENCH_ROOT/build-bench}
BENCH_RESULTS_DIR=${BENCH_RESULTS_DIR:-$BENCH_ROOT/bench-results}
BENCH_TMP=$(mktemp -d /tmp/otelbpf-bench.XXXXXX)
BENCH_PIDS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# Every process a bench starts is registered here and ended by its pid on exit, whatever the exit path.
bench_track() { BENCH_PIDS+=("$1"); }
# Commands run on exit, whatever the exit path (e.g. restoring a sysctl a bench changed).
BENCH_EXIT_HOOKS=()
bench_cleanup() {
  local rc=$? pid hook
  for hook in "${BENCH_EXIT_HOOKS[@]}"; do eval "$hook" || true; done
  for pid in "${BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$BENCH_TMP"
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_require_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root (the agent's eBPF probes, perf-free /proc reads of its status)"
}

# Release build of the agent and the bench targets into their own build dir (BENCH_NO_BUILD=1: use what
# is there, e.g. while the tree does not configure).
bench_build() {
  if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
    local target
    for target in "$@"; do
      [ -x "$BENCH_BUILD_DIR/$target" ] || [ -x "$BENCH_BUILD_DIR/bench/$target" ] || die "BENCH_NO_BUILD=1 but $target is not built"
    done
    log "using the existing build in $BENCH_BUILD_DIR (BENCH_NO_BUILD=1)"
    return 0
  fi
  command -v cmake >/dev/null && command -v ninja >/dev/null || die "cmake and ninja are needed"
  log "building $* (Release) in $BENCH_BUILD_DIR"
  cmake -S "$BENCH_ROOT" -B "$BENCH_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOTELBPF_BUILD_BENCH=ON \
    -DOTELBPF_BUILD_TESTS=OFF >"$BENCH_TMP/cmake.log" 2>&1 || { cat "$BENCH_TMP/cmake.log" >&2; die "cmake"; }
  ninja -C "$BENCH_BUILD_DIR" -j"${BENCH_JOBS:-2}" "$@" >"$BENCH_TMP/build.log" 2>&1 ||
    { tail -50 "$BENCH_TMP/build.log" >&2; die "build"; }
}

# A TCP port nothing listens on, on 127.0.0.1.
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$port" | grep -q .; then echo "$port"; return 0; fi
  done
  die "no free port"
}

wait_http_ok() {  # url timeout_s
  local url=$1 deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# Sum of the samples of a Prometheus metric whose labels contain every given `key="value"` (from a file).
metric_sum() {  # file name [label...]
  local file=$1 name=$2
  shift 2
  awk -v name="$name" -v want="$*" '
    BEGIN { n = split(want, labels, " ") }
    /^#/ { next }
    {
      split($1, parts, "{")
      if (parts[1] != name) next
      for (i = 1; i <= n; i++) if (index($1, labels[i]) == 0) next
      sum += $NF
    }
    END { printf "%.0f\n", sum + 0 }' "$file"
}

# Requests per second of a wrk report file, rounded to a whole number.
requests_per_second() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }

scrape() { curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" >"$2"; }  # port file

# Peak resident set (VmHWM, kB) and CPU seconds (user+sys) of a process.
vm_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
cpu_seconds() {
  local hz
  hz=$(getconf CLK_TCK)
  awk -v hz="$hz" -v ticks="$(stat_ticks "/proc/$1/stat")" 'BEGIN { printf "%.2f\n", ticks / hz }'
}

# utime + stime, in clock ticks, of a /proc stat file (a process's or one of its tasks'). The fields are
# counted after the ") " that ends the command name, which may itself hold spaces.
stat_ticks() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$1"
}

# CPU ticks of each thread of a process, summed by thread name: "name ticks" lines, sorted by name.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(stat_ticks "$t/stat")"
  done 2>/dev/null | awk '{ s[$1] += $2 } END { for (k in s) print k, s[k] }' | sort
}

# Millicores per 10k requests/s of each thread name between two thread_ticks snapshots taken `seconds`
# apart at `rps` requests/s, as "name=mc name=mc ..." (threads under 0.5 left out).
thread_split() {  # before-file after-file seconds rps
  local hz
  hz=$(getconf CLK_TCK)
  join "$1" "$2" | awk -v hz="$hz" -v secs="$3" -v rps="$4" '{
      mc = rps ? 1000 * ($3 - $2) / hz / secs / (rps / 1e4) : 0
      if (mc >= 0.5) { printf "%s%s=%.0f", sep, $1, mc; sep = " " } } END { print "" }'
}

# Starts the agent (BENCH_AGENT, default the build's) with the given flags, logs to $BENCH_TMP/agent-<tag>.log;
# sets AGENT_PID.
# Waits for /readyz on the given HTTP port. OTELBPF_* variables of the caller's environment are not passed
# on: they are agent config, and a bench runs on the documented defaults plus its own flags.
start_agent() {  # tag port flags...
  local tag=$1 port=$2 unset=() var
  shift 2
  for var in $(compgen -e); do if [[ $var == OTELBPF_* ]]; then unset+=(-u "$var"); fi; done
  env "${unset[@]}" "${BENCH_AGENT:-$BENCH_BUILD_DIR/otelbpf-agent}" --http-port "$port" "$@" >"$BENCH_TMP/agent-$tag.log" 2>&1 &
  AGENT_PID=$!
  bench_track "$AGENT_PID"
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/readyz" 2>/dev/null; do
    if ! kill -0 "$AGENT_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      tail -20 "$BENCH_TMP/agent-$tag.log" >&2
      die "agent ($tag) not ready on :$port"
    fi
    sleep 0.1
  done
}

# SIGTERM and wait for the agent's flush; sets AGENT_STOP_SECONDS (not in a subshell: `wait` needs the parent).
stop_agent() {  # pid timeout_s
  local pid=$1 start=$EPOCHREALTIME deadline=$((SECONDS + $2)) status=0
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
    [ $SECONDS -lt $deadline ] || die "agent $pid did not exit within $2 s of SIGTERM"
    sleep 0.05
  done
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || die "agent $pid exited with status $status"
  AGENT_STOP_SECONDS=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
}

# BENCH_PERF=1: samples a process with perf record for `secs` seconds after `delay` (in the background);
# perf_top prints the top symbols of the recording.
perf_sample() {  # pid delay secs data-file
  [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null || return 0
  (sleep "$2"; exec perf record -F 499 -g -o "$4" -p "$1" -- sleep "$3") >"$4.log" 2>&1 &
  PERF_PID=$!
  bench_track "$PERF_PID"
}
perf_top() {  # data-file count
  [ -s "$1" ] || return 0
  perf report -i "$1" --no-children --stdio --sort dso,symbol -g none 2>/dev/null | grep -E '^ +[0-9.]+%' |
    head -"$2" | sed -E 's/ +- +- *$//; s/std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >/std::string/g' |
    cut -c1-160 | sed 's/^ */    /' || true  # head closes the pipe early: not a failure
}

# nginx with its own prefix, config and port; one worker, as a small service would run: `/` answers 200 "ok",
# /static/1k.txt is a 1 KiB file. Sets NGINX_DIR, NGINX_PORT, NGINX_PID.
start_nginx() {
  command -v nginx >/dev/null || die "nginx is needed (apt-get install nginx-light)"
  NGINX_DIR=$BENCH_TMP/nginx
  NGINX_PORT=$(free_port)
  mkdir -p "$NGINX_DIR"/{tmp,www/static,logs}
  head -c 1024 /dev/urandom | base64 -w 76 | head -c 1024 >"$NGINX_DIR/www/static/1k.txt"
  cat >"$NGINX_DIR/nginx.conf" <<CONF
worker_processes 1;
daemon off;
user root;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $NGINX_DIR/tmp/body;
  proxy_temp_path $NGINX_DIR/tmp/proxy;
  fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
  uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
  scgi_temp_path $NGINX_DIR/tmp/scgi;
  default_type text/plain;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = / { return 200 "ok"; }
    location /static/ { root $NGINX_DIR/www; }
  }
}
CONF
  nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" >"$NGINX_DIR/logs/stdout.log" 2>&1 &
  NGINX_PID=$!
  bench_track "$NGINX_PID"
  wait_http_ok "http://127.0.0.1:$NGINX_PORT/" 10 || { cat "$NGINX_DIR/logs/"* >&2; die "nginx did not start"; }
  wait_http_ok "http://127.0.0.1:$NGINX_PORT/static/1k.txt" 5 || die "nginx does not serve the static file"
  log "nginx (pid $NGINX_PID) on 127.0.0.1:$NGINX_PORT"
}

# eBPF run time of a process's programs (kernel.bpf_stats_enabled): prog_ids_of sets PROG_IDS to the ids of
# every program the process holds an fd of; bpf_snapshot prints "run_time_ns run_cnt" summed over them.
PROG_IDS="[]"
prog_ids_of() {  # pid
  local f ids=()
  for f in /proc/"$1"/fd/*; do
    [ "$(readlink "$f" 2>/dev/null)" = "anon_inode:bpf-prog" ] || continue
    ids+=("$(awk '/^prog_id:/ { print $2 }' "/proc/$1/fdinfo/${f##*/}")")
  done
  PROG_IDS="[$(printf '%s\n' "${ids[@]}" | sort -un | paste -sd, -)]"
}
bpf_snapshot() {
  bpftool prog show -j | jq -r --argjson ids "$PROG_IDS" \
    '[.[] | select(.id as $i | $ids | index($i))] | "\(map(.run_time_ns // 0) | add // 0) \(map(.run_cnt // 0) | add // 0)"'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.3f\n", a / b }'; }
