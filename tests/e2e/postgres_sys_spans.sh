#!/usr/bin/env bash
# PostgreSQL end to end, on the real kernel: the agent's eBPF probes watch a Debian PostgreSQL server (own
# data directory and port, trust authentication on 127.0.0.1) and its clients: psql over TCP (SSLRequest
# answered 'N', simple queries, a transaction block, an error) and the npm pg client (extended protocol:
# unnamed and named prepared statements, a transaction, an error). Every statement must come out as a
# CLIENT sys span in the client and a SERVER sys span in the backend process, paired by TCP sequence
# numbers, with statement attributes, obfuscated text, error status and shared transaction ids.
#   tests/e2e/postgres_sys_spans.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the eBPF probes"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/postgres" ] || fail "PostgreSQL is not installed (scripts/install-deps)"
id postgres >/dev/null 2>&1 || fail "no postgres OS user (the Debian package creates it)"
ensure_node_clients
if [ ! -d "$E2E_DIR/node/node_modules/pg" ]; then
  (cd "$E2E_DIR/node" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 || fail "npm ci failed"
fi
PG_PORT=$(free_port)

start_agent agent --http-port 0 --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file "$WORK/agent.jsonl" --set assembler.link_window_ms=1500 --log-level debug
AGENT_PORT=$(agent_port agent)
wait_http http://127.0.0.1:$AGENT_PORT/readyz
[ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"

# The server runs as the postgres OS user (it refuses root): its data and socket directories live in the
# test's directory, which that user must be able to reach.
chmod 755 "$WORK"
install -d -o postgres -g postgres -m 700 "$WORK/pg"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
as_postgres "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; fail "initdb"; }
# setpriv execs (no function or subshell in between): $! is the postmaster itself, which the trap's
# SIGTERM shuts down.
setpriv --reuid=postgres --regid=postgres --init-groups -- "$PGBIN/postgres" -D "$WORK/pg/data" -p $PG_PORT -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$WORK/pg" -c ssl=off -c fsync=off -c logging_collector=off >"$WORK/postgres.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 30))
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p $PG_PORT -U postgres -d postgres; do
  [ $SECONDS -lt $deadline ] || fail "postgres did not come up"
  sleep 0.1
done

export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE shop" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d shop -c "CREATE TABLE orders (id int PRIMARY KEY, item text)" >/dev/null
# A transaction block: psql sends each statement of the script as its own simple query.
psql -X -q -v ON_ERROR_STOP=1 -d shop >/dev/null <<'SQL'
BEGIN;
INSERT INTO orders VALUES (1, 'widget');
INSERT INTO orders VALUES (2, 'secret-gadget');
COMMIT;
SQL
[ "$(psql -X -A -t -d shop -c "SELECT count(*) FROM orders WHERE item <> 'secret-item'")" = 2 ] || fail "SELECT"
if psql -X -q -d shop -c "SELECT * FROM missing_table" >"$WORK/psql_error.out" 2>&1; then fail "expected an error"; fi
grep -q 'does not exist' "$WORK/psql_error.out" || { cat "$WORK/psql_error.out"; fail "psql error text"; }
node "$E2E_DIR/node/postgres_pg_client.js" $PG_PORT >"$WORK/pg_client.log" 2>&1 || { cat "$WORK/pg_client.log"; fail "pg client"; }

# Let the probes' events drain and the tracer hand its spans over, then stop: SIGTERM flushes everything.
wait_drained "http://127.0.0.1:$AGENT_PORT"
echo "tracer made $(metric http://127.0.0.1:$AGENT_PORT otelbpf_tracer_spans_total) sys spans so far"
# What the probes filtered, skipped or dropped: a failure's log then tells events lost in the kernel from
# events the tracer misread.
curl -fsS "http://127.0.0.1:$AGENT_PORT/metrics" |
  grep -E '^otelbpf_probe_(filtered|ringbuf_drops|inflight_lost|sock_cache_misses|tls_[a-z_]+)_total ' || true
stop_agent "$PID_agent"
node "$E2E_DIR/node/postgres_verify_sys_spans.js" "$WORK/agent.jsonl" $PG_PORT
echo "postgres_sys_spans: ok"
