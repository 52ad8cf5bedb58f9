#!/usr/bin/env bash
# Issue 10 end to end: the SDK's spans and the probes' spans of one request join into one trace as real
# deployments send them. Pods are network namespaces on a bridge:
#   loadgen (curl, no SDK, 8 at a time) -> frontend (Node, real SDK with DEFAULT batching, only service.name;
#   mysql2, pg, ioredis instrumentations) -> backend (Python, no SDK: MariaDB and Redis calls)
#   and the frontend's spans reach the agent through a batching OTLP relay, so the agent never sees the
#   sender's address and the SDK's spans arrive seconds after the probes' spans.
# The agent runs with its default windows and keeps running well past them: the export file is checked
# while it runs (links must form in normal running, not in the shutdown flush), then after SIGTERM.
# Scenarios: default (old HTTP conventions, 200 requests), new_semconv (OTEL_SEMCONV_STABILITY_OPT_IN=http),
# pid_namespace (the frontend in its own PID namespace, reporting its namespaced process.pid).
#   tests/e2e/app_sys_join.sh <path to otelbpf-agent> [scenario...]
AGENT=$(realpath "$1")
shift
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces, eBPF probes)"
for cmd in mariadbd redis-server curl python3 unshare; do command -v $cmd >/dev/null || fail "$cmd is needed (scripts/install-deps)"; done
/usr/bin/python3 -c 'import pymysql, redis' 2>/dev/null || fail "python3-pymysql and python3-redis are needed (scripts/install-deps)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/postgres" ] || fail "PostgreSQL is not installed (scripts/install-deps)"
ensure_node_clients

NS=join-
BR=joinbr0
GW=10.244.7.1
FRONT_IP=10.244.7.11 BACK_IP=10.244.7.12 DB_IP=10.244.7.13 RELAY_IP=10.244.7.14 LOAD_IP=10.244.7.15
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'; }
SCENARIO_PIDS=()

teardown() {
  set +e
  for pod in front back db relay load; do ip netns pids $NS$pod 2>/dev/null | xargs -r kill -TERM 2>/dev/null; done
  sleep 0.3
  for pod in front back db relay load; do
    ip netns pids $NS$pod 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns del $NS$pod 2>/dev/null
  done
  ip link del $BR 2>/dev/null
  set -e
}
trap 'rc=$?; teardown; set +e; (exit $rc); cleanup' EXIT
teardown

ip link add $BR type bridge
ip addr add $GW/24 dev $BR
ip link set $BR up
i=0
for pair in front:$FRONT_IP back:$BACK_IP db:$DB_IP relay:$RELAY_IP load:$LOAD_IP; do
  pod=${pair%%:*} addr=${pair#*:} i=$((i + 1))
  ip netns add $NS$pod
  ip -n $NS$pod link set lo up
  ip link add vjoin$i type veth peer name eth0 netns $NS$pod
  ip link set vjoin$i master $BR up
  ip -n $NS$pod addr add $addr/24 dev eth0
  ip -n $NS$pod link set eth0 up
  ip -n $NS$pod route add default via $GW
done
# (Background processes are started with ip netns exec directly, so that $! is the process itself.)
in_pod() { local pod=$1; shift; ip netns exec $NS$pod "$@"; }
wait_until() {  # what seconds command...
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what did not come up"
    sleep 0.2
  done
}

# The database pod: MariaDB, PostgreSQL and Redis, started once for all scenarios.
mkdir -p "$WORK/mariadb/data" "$WORK/redis"
mariadb-install-db --no-defaults --user=root --datadir="$WORK/mariadb/data" --auth-root-authentication-method=normal \
  --skip-test-db >"$WORK/mariadb-install.log" 2>&1 || { cat "$WORK/mariadb-install.log"; fail "mariadb-install-db"; }
in_pod db mariadbd --no-defaults --user=root --datadir="$WORK/mariadb/data" --bind-address=$DB_IP --port=3306 \
  --socket="$WORK/mariadb/mysqld.sock" --pid-file="$WORK/mariadb/mysqld.pid" --skip-grant-tables --skip-ssl \
  --skip-name-resolve --innodb-buffer-pool-size=16M --log-error="$WORK/mariadbd.log" >"$WORK/mariadbd.out" 2>&1 &
PIDS+=($!)
in_pod db redis-server --port 6379 --bind $DB_IP --dir "$WORK/redis" --save '' --appendonly no --protected-mode no \
  >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
# PostgreSQL runs as the postgres OS user (it refuses root), which must reach the test directory.
chmod 755 "$WORK"
install -d -o postgres -g postgres -m 700 "$WORK/pg"
setpriv --reuid=postgres --regid=postgres --init-groups -- "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres -A trust \
  -E UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; fail "initdb"; }
echo "host all all 10.244.7.0/24 trust" >>"$WORK/pg/data/pg_hba.conf"
in_pod db setpriv --reuid=postgres --regid=postgres --init-groups -- "$PGBIN/postgres" -D "$WORK/pg/data" -p 5432 \
  -c listen_addresses=$DB_IP -c unix_socket_directories="$WORK/pg" -c ssl=off -c fsync=off \
  -c logging_collector=off >"$WORK/postgres.log" 2>&1 &
PIDS+=($!)
wait_until mariadbd 60 mariadb --no-defaults --socket="$WORK/mariadb/mysqld.sock" -uroot -e 'SELECT 1'
wait_until redis-server 20 in_pod db redis-cli -h $DB_IP ping
wait_until postgres 30 "$PGBIN/pg_isready" -h "$WORK/pg" -p 5432

# The agent traces every process of the machine: the export lines that hold this test's spans (an id or
# the frontend's service), from the live file and any it rotated, into one file for the verifier.
relevant() {
  local out="$1.relevant"
  cat "$1" "$1".[0-9]* 2>/dev/null | grep -E 'u[0-9]+z|join-frontend' >"$out" || true
  echo "$out"
}

# One scenario: a fresh agent and export file, the relay, the backend and the frontend; N requests from
# 8 concurrent clients; the checks while the agent runs past its windows; SIGTERM; the checks again.
run_scenario() {
  local name=$1 requests=$2 front_env=$3 front_wrap=$4
  local export="$WORK/$name.jsonl" base_pids=${#PIDS[@]} AGENT_PORT
  AGENT_PORT=$(free_port)
  echo "=== $name: $requests requests, 8 clients"
  start_agent "agent_$name" --http-port $AGENT_PORT --set receiver.http.listen=0.0.0.0 --no-grpc \
    --export-file "$export" --set export.file.keep_files=20 --log-level info
  local agent_pid=${PIDS[-1]}
  wait_http http://127.0.0.1:$AGENT_PORT/readyz 90
  [ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"
  ip netns exec ${NS}relay node "$E2E_DIR/node/otlp_relay.js" $RELAY_IP 4318 http://$GW:$AGENT_PORT/v1/traces 2000 \
    >"$WORK/relay-$name.log" 2>&1 &
  PIDS+=($!)
  # Debian's python3, with Debian's PyMySQL and redis (a pyenv python3 may come first on PATH).
  ip netns exec ${NS}back /usr/bin/python3 "$E2E_DIR/python/join_backend.py" $BACK_IP 8080 $DB_IP >"$WORK/backend-$name.log" 2>&1 &
  PIDS+=($!)
  env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://$RELAY_IP:4318/v1/traces $front_env \
    ip netns exec ${NS}front $front_wrap node "$E2E_DIR/node/join_frontend.js" $FRONT_IP 8080 \
    http://$BACK_IP:8080 $DB_IP >"$WORK/frontend-$name.log" 2>&1 &
  PIDS+=($!)
  wait_until relay 20 grep -q "relay on" "$WORK/relay-$name.log"
  wait_until backend 20 grep -q "backend on" "$WORK/backend-$name.log"
  wait_until frontend 30 grep -q "frontend on" "$WORK/frontend-$name.log"

  seq 1 "$requests" | xargs -P 8 -I{} ip netns exec ${NS}load curl -fsS --max-time 20 -o /dev/null \
    "http://$FRONT_IP:8080/order/u{}z?q=u{}z" || fail "$name: a request failed (see frontend-$name.log)"
  # The SDK exports every 5 s, the relay every 2 s, the agent's link window is 5 s: keep it running well
  # past all of them, and read what it has exported by then.
  sleep "${JOIN_SETTLE_SECONDS:-25}"
  node "$E2E_DIR/node/join_verify.js" "$(relevant "$export")" "$requests" "$name (while running)" \
    http://127.0.0.1:$AGENT_PORT/metrics || fail "$name: requests did not join while the agent ran"
  # Stop the services first (the frontend's SDK flushes), then the agent; it must exit cleanly.
  local p
  # (unshare --fork outlives a SIGTERM and passes nothing on: its child is signalled directly.)
  for p in "${PIDS[@]:$((base_pids + 1))}"; do pkill -TERM -P "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:$((base_pids + 1))}"; do wait "$p" 2>/dev/null || true; done
  stop_agent "$agent_pid"
  PIDS=("${PIDS[@]:0:$base_pids}")
  node "$E2E_DIR/node/join_verify.js" "$(relevant "$export")" "$requests" "$name (after shutdown)" ||
    fail "$name: requests are not joined in the final export"
}

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(default new_semconv pid_namespace)
for s in "${scenarios[@]}"; do
  case $s in
    default) run_scenario default 200 "" "" ;;
    new_semconv) run_scenario new_semconv 60 "OTEL_SEMCONV_STABILITY_OPT_IN=http" "" ;;
    pid_namespace) run_scenario pid_namespace 60 "JOIN_REPORT_PID=1" "unshare --pid --fork --kill-child=SIGTERM --mount-proc" ;;
    *) fail "unknown scenario $s" ;;
  esac
done
echo "app_sys_join: ok"
