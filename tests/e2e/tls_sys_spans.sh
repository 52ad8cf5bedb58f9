#!/usr/bin/env bash
# Issue 14 end to end, on the real kernel: TLS traffic traced through OpenSSL uprobes.
# - PostgreSQL with ssl=on, started BEFORE the agent (the agent finds its libssl at start), and psql with
#   sslmode=require: statements as CLIENT/SERVER sys spans, paired by TCP sequence numbers;
# - MariaDB with a certificate and the mariadb client with --ssl: the MySQL protocol starts in the clear
#   (greeting, SSL request), then continues in the plaintext the probes read;
# - nginx with a self-signed certificate, started AFTER the agent, and curl over HTTPS, HTTP/1.1 and
#   HTTP/2 (ALPN h2), both uninstrumented: a CLIENT and a SERVER span with method, path and status, linked
#   by TCP;
# - an uninstrumented Node.js HTTPS server and a Node.js client with the OTel SDK (default batch processor),
#   both started after the agent (OpenSSL linked into the node executable, memory BIOs): the SDK's
#   traceparent is read from the decrypted request, so the sys spans join the app trace; and a grpc-js
#   client and server over TLS (HTTP/2 frames and gRPC status in the plaintext).
# Every TLS sys span carries otelbpf.tls=true; the ciphertext of those sockets is never parsed.
#   tests/e2e/tls_sys_spans.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root for the eBPF probes"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/postgres" ] || fail "PostgreSQL is not installed (scripts/install-deps)"
ensure_node_clients
PG_PORT=$(free_port)
NGINX_PORT=$(free_port)
NODE_PORT=$(free_port)
NGINX_H2_PORT=$(free_port)
MYSQL_PORT=$(free_port)
GRPC_PORT=$(free_port)
command -v mariadbd >/dev/null && command -v mariadb >/dev/null || fail "mariadb-server/-client are not installed (scripts/install-deps)"

# One self-signed certificate for the three servers.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 1 \
  -subj /CN=localhost >"$WORK/openssl.log" 2>&1 || fail "openssl req"

# PostgreSQL first: it is running when the agent starts.
chmod 755 "$WORK"
install -d -o postgres -g postgres -m 700 "$WORK/pg"
install -o postgres -g postgres -m 600 "$WORK/cert.pem" "$WORK/key.pem" "$WORK/pg/"
setpriv --reuid=postgres --regid=postgres --init-groups -- "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres \
  -A trust -E UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 || fail "initdb"
setpriv --reuid=postgres --regid=postgres --init-groups -- "$PGBIN/postgres" -D "$WORK/pg/data" -p $PG_PORT \
  -c listen_addresses=127.0.0.1 -c unix_socket_directories="$WORK/pg" -c fsync=off -c logging_collector=off \
  -c ssl=on -c ssl_cert_file="$WORK/pg/cert.pem" -c ssl_key_file="$WORK/pg/key.pem" >"$WORK/postgres.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 30))
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p $PG_PORT -U postgres -d postgres; do
  [ $SECONDS -lt $deadline ] || fail "postgres did not come up"
  sleep 0.1
done

start_agent agent --http-port 0 --set receiver.http.listen=127.0.0.1 --no-grpc \
  --export-file "$WORK/agent.jsonl" --set assembler.link_window_ms=1500 --log-level debug
AGENT_PORT=$(agent_port agent)
wait_http http://127.0.0.1:$AGENT_PORT/readyz
[ "$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"
grep -q "TLS probes: attached to .*libssl.so.* seen in pid" "$WORK/agent.log" ||
  fail "the agent did not attach to the libssl of the PostgreSQL server running at its start"

# 1. psql over TLS (sslmode=require fails rather than fall back to plaintext).
PGCONN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres sslmode=require"
[ "$(psql "$PGCONN" -X -A -t -c "SELECT 40 + 2")" = 42 ] || fail "psql over TLS"
psql "$PGCONN" -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE vault (id int, secret text)" >/dev/null || fail "psql CREATE"
psql "$PGCONN" -X -A -t -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" >"$WORK/pg_ssl.out"
[ "$(cat "$WORK/pg_ssl.out")" = t ] || fail "psql session is not encrypted: $(cat "$WORK/pg_ssl.out")"

# 2. MariaDB over TLS (no grant tables: no passwords to manage).
mkdir -p "$WORK/my"
mariadb-install-db --no-defaults --user=root --datadir="$WORK/my/data" --auth-root-authentication-method=normal \
  --skip-test-db >"$WORK/mariadb-install.log" 2>&1 || fail "mariadb-install-db"
mariadbd --no-defaults --user=root --datadir="$WORK/my/data" --bind-address=127.0.0.1 --port=$MYSQL_PORT \
  --socket="$WORK/my/mysqld.sock" --pid-file="$WORK/my/mysqld.pid" --skip-grant-tables --skip-name-resolve \
  --ssl-cert="$WORK/cert.pem" --ssl-key="$WORK/key.pem" --innodb-buffer-pool-size=16M \
  --log-error="$WORK/mariadbd.log" >"$WORK/mariadbd.out" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 30))
until mariadb --no-defaults --socket="$WORK/my/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "mariadbd did not come up"
  sleep 0.2
done
mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P $MYSQL_PORT -uroot --ssl --ssl-verify-server-cert=0 \
  -e "SHOW STATUS LIKE 'Ssl_version'; SELECT 6 * 7;" >"$WORK/mariadb.out" 2>&1 || { cat "$WORK/mariadb.out"; fail "mariadb over TLS"; }
grep -q "Ssl_version.*TLS" "$WORK/mariadb.out" || { cat "$WORK/mariadb.out"; fail "the MariaDB session is not encrypted"; }

# 3. nginx over HTTPS, started after the agent: the exec watch finds its libssl.
mkdir -p "$WORK/nginx/logs"
{ nginx_config_head "$WORK/nginx"; cat <<CONF; } >"$WORK/nginx/nginx.conf"
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location /secure/ { return 200 "secure\n"; }
    location / { return 404; }
  }
  server {
    listen 127.0.0.1:$NGINX_H2_PORT ssl http2;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location /h2/ { return 200 "h2\n"; }
  }
}
CONF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
until curl -sk -o /dev/null "https://127.0.0.1:$NGINX_PORT/secure/ready" 2>/dev/null; do sleep 0.1; done
curl -fsSk "https://127.0.0.1:$NGINX_PORT/secure/hello" >/dev/null
curl -sSk -o /dev/null "https://127.0.0.1:$NGINX_PORT/missing"
[ "$(curl -sSk --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$NGINX_H2_PORT/h2/hello")" = 2 ] ||
  fail "curl did not speak HTTP/2 over TLS"

# 4. Node.js: the node executable (OpenSSL linked in) is attached when the server execs.
node "$E2E_DIR/node/https_server.js" $NODE_PORT "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/https_server.log" 2>&1 &
PIDS+=($!)
until curl -sk -o /dev/null "https://127.0.0.1:$NODE_PORT/ready" 2>/dev/null; do sleep 0.1; done
node "$E2E_DIR/node/sdk_https_client.js" "http://127.0.0.1:$AGENT_PORT/v1/traces" \
  "https://127.0.0.1:$NODE_PORT/api/secure-items" "$WORK/sdk_ids.json" >"$WORK/sdk_client.log" 2>&1 ||
  fail "sdk https client"

# 5. gRPC over TLS (grpc-js on both ends, one channel, multiplexed calls).
GRPC_TLS_CERT="$WORK/cert.pem" GRPC_TLS_KEY="$WORK/key.pem" node "$E2E_DIR/node/grpc_server.js" $GRPC_PORT \
  >"$WORK/grpc_server.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 20))
until grep -q "grpc server pid" "$WORK/grpc_server.log" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "grpc server did not start: $(cat "$WORK/grpc_server.log")"
  sleep 0.1
done
GRPC_TLS_CA="$WORK/cert.pem" node "$E2E_DIR/node/grpc_client.js" $GRPC_PORT "$WORK/grpc_client.json" \
  >"$WORK/grpc_client.log" 2>&1 || fail "grpc client over TLS: $(cat "$WORK/grpc_client.log")"

wait_drained "http://127.0.0.1:$AGENT_PORT"
attached=$(metric http://127.0.0.1:$AGENT_PORT otelbpf_tls_attached_binaries)
tls_events=$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probe_tls_events_total)
ciphertext=$(metric http://127.0.0.1:$AGENT_PORT otelbpf_probe_tls_ciphertext_skipped_total)
echo "TLS: $attached binaries attached, $tls_events plaintext events, $ciphertext ciphertext calls not sent"
grep "TLS probes: attached" "$WORK/agent.log" | sed 's/^/  /'
[ "$attached" -ge 2 ] || fail "expected libssl and node attached, got $attached"
grep -q "TLS probes: attached to /usr/bin/node\|TLS probes: attached to .*/node " "$WORK/agent.log" ||
  fail "the node executable was not attached"
stop_agent "$PID_agent"
# The TLS uprobes' detach is the slow part of a stop (~0.1 s per uprobe in the kernel): it comes after the
# last export, so that a DaemonSet's grace period running out costs no spans (docs/kernel-cost.md).
awk '/exporters stopped/ {out = NR} /TLS probes: detaching [0-9]+ uprobes/ {detach = NR}
     END {exit !(out && detach && out < detach)}' "$WORK/agent.log" ||
  fail "the TLS uprobes were not detached after the exporters stopped"
node "$E2E_DIR/node/verify_tls_sys_spans.js" "$WORK/agent.jsonl" "$WORK/sdk_ids.json" $PG_PORT $NGINX_PORT $NODE_PORT \
  $MYSQL_PORT $NGINX_H2_PORT $GRPC_PORT
echo "tls_sys_spans: ok"
