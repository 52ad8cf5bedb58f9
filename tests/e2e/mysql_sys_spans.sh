#!/usr/bin/env bash
# MySQL end to end, on the real kernel: the agent's eBPF probes watch a Debian MariaDB server started in a
# throwaway data dir, the uninstrumented `mariadb` CLI (a transaction with SET autocommit=0, a SELECT, an
# error) and the npm mysql2 client (server-side prepared statements); every statement must come out as a
# CLIENT sys span in the client and a SERVER sys span in mariadbd, paired by TCP sequence numbers and
# linked by the assembler, with obfuscated text, transaction ids, row counts and error status.
#   tests/e2e/mysql_sys_spans.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the eBPF probes"
command -v mariadbd >/dev/null && command -v mariadb >/dev/null || fail "mariadb-server/-client are not installed (scripts/install-deps)"
ensure_node_clients
if [ ! -d "$E2E_DIR/node/node_modules/mysql2" ]; then
  (cd "$E2E_DIR/node" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 || fail "npm ci failed"
fi
MYSQL_PORT=$(free_port)
DB="$WORK/mariadb"
mkdir -p "$DB/data"

# The data dir first (a few seconds of bootstrap, no TCP), then the agent, then the server.
mariadb-install-db --no-defaults --user=root --datadir="$DB/data" --auth-root-authentication-method=normal \
  --skip-test-db >"$WORK/install.log" 2>&1 || fail "mariadb-install-db"

start_agent agent --http-port 0 --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file "$WORK/agent.jsonl" --set assembler.link_window_ms=1500 --log-level debug
AGENT_PORT=$(agent_port agent)
wait_http http://127.0.0.1:$AGENT_PORT/readyz
[ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"

# No grant tables (no passwords to manage) and no TLS, so the classic protocol is on the wire.
mariadbd --no-defaults --user=root --datadir="$DB/data" --bind-address=127.0.0.1 --port=$MYSQL_PORT \
  --socket="$DB/mysqld.sock" --pid-file="$DB/mysqld.pid" --skip-grant-tables --skip-ssl --skip-name-resolve \
  --innodb-buffer-pool-size=16M --log-error="$WORK/mariadbd.log" >"$WORK/mariadbd.out" 2>&1 &
PIDS+=($!)
# Set-up goes over the Unix socket: it makes no TCP spans.
admin() { mariadb --no-defaults --socket="$DB/mysqld.sock" -uroot "$@"; }
deadline=$((SECONDS + 30))
until admin -e 'SELECT 1' >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "mariadbd did not come up"
  sleep 0.2
done
admin -e "CREATE DATABASE e2e; CREATE TABLE e2e.t (id INT PRIMARY KEY, name VARCHAR(32))"

cli() { mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P $MYSQL_PORT -uroot --skip-ssl e2e "$@"; }
# The reference transaction, then a SELECT on the same connection (autocommit still off: a new transaction).
cli -e "SET autocommit=0; INSERT INTO t VALUES (1, 'secret-one'); COMMIT; SELECT id, name FROM t;" >"$WORK/cli.out" \
  || fail "mariadb CLI transaction"
grep -q secret-one "$WORK/cli.out" || fail "the SELECT did not see the committed row"
if cli -e "SELECT * FROM missing_table" >"$WORK/cli_err.out" 2>&1; then fail "a missing table should fail"; fi
grep -q 1146 "$WORK/cli_err.out" || { cat "$WORK/cli_err.out"; fail "expected ERROR 1146"; }
node "$E2E_DIR/node/mysql_client.js" $MYSQL_PORT >"$WORK/mysql2.log" 2>&1 || { cat "$WORK/mysql2.log"; fail "mysql2 client"; }

# Let the probes' events drain and the tracer hand its spans over, then stop: SIGTERM flushes everything.
wait_drained "http://127.0.0.1:$AGENT_PORT"
echo "tracer made $(metric http://127.0.0.1:$AGENT_PORT otelbpf_tracer_spans_total) sys spans so far"
stop_agent "$PID_agent"
node "$E2E_DIR/node/mysql_verify_sys_spans.js" "$WORK/agent.jsonl" $MYSQL_PORT
echo "mysql_sys_spans: ok"
