#!/usr/bin/env bash
# TLS on every door, against peers that are not otelbpf: the real OTel JS SDK sends over HTTPS to the
# agent's receiver (trusting the test CA through NODE_EXTRA_CA_CERTS, as a pod would); the agent exports
# OTLP/HTTP and OTLP/gRPC with TLS and a client certificate to a sink (Node's https and @grpc/grpc-js)
# that requires one (mutual TLS). Every span must arrive at both sinks exactly once. Then what TLS is for:
# an agent that does not trust the sink's CA delivers nothing and says why; plaintext to the HTTPS
# receiver is refused and counted. Certificates come from openssl, made here, valid for 127.0.0.1.
#   tests/e2e/otlp_tls.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
ensure_node_clients

# --- a CA, a server certificate for 127.0.0.1, a client certificate, and a CA nobody trusts
PKI="$WORK/pki"
mkdir -p "$PKI"
(
  cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=otelbpf-e2e-ca
  openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=untrusted
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=otelbpf-agent
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem
) >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log"; fail "openssl could not make the test certificates"; }

# --- the sink: HTTPS and gRPC over TLS, client certificate required
start_otlp_sink "$WORK/sink_http.jsonl" "$WORK/sink_grpc.jsonl" "$PKI"

# --- the agent: HTTPS receiver, TLS + client certificate on both exporters
start_agent agent --no-probes --set receiver.http.listen=127.0.0.1 --set export.batch_delay_ms=50 --http-port 0 \
  --set receiver.grpc.enabled=false --export-file "$WORK/agent.jsonl" \
  --set receiver.http.tls.cert_file="$PKI/server.pem" --set receiver.http.tls.key_file="$PKI/server.key" \
  --otlp-http-endpoint "https://127.0.0.1:$SINK_HTTP/v1/traces" \
  --set export.otlp_http.tls.ca_file="$PKI/ca.pem" --set export.otlp_http.tls.cert_file="$PKI/client.pem" \
  --set export.otlp_http.tls.key_file="$PKI/client.key" \
  --otlp-grpc-endpoint "https://127.0.0.1:$SINK_GRPC" \
  --set export.otlp_grpc.tls.ca_file="$PKI/ca.pem" --set export.otlp_grpc.tls.cert_file="$PKI/client.pem" \
  --set export.otlp_grpc.tls.key_file="$PKI/client.key"
PORT=$(agent_port agent)
grep -q "listening on 127.0.0.1:$PORT .* with TLS" "$WORK/agent.log" || fail "the receiver does not say it is TLS"
BASE="https://127.0.0.1:$PORT"
tls_metric() { curl -fsS --cacert "$PKI/ca.pem" "$BASE/metrics" | awk -v m="$1" '$1 == m {print $2; found=1} END {if (!found) print 0}'; }
deadline=$((SECONDS + 60))
until curl -fsS --cacert "$PKI/ca.pem" -o /dev/null "$BASE/readyz"; do
  [ $SECONDS -lt $deadline ] || fail "the agent's HTTPS /readyz did not come up"
  sleep 0.1
done

# Plaintext to the HTTPS port: no answer, a counted rejection.
curl -sS -o /dev/null --max-time 5 "http://127.0.0.1:$PORT/healthz" 2>/dev/null && fail "plaintext HTTP was answered on the TLS port"
[ "$(tls_metric 'otelbpf_receiver_rejected_requests_total{transport="http",reason="tls_handshake"}')" -ge 1 ] ||
  fail "the refused plaintext request was not counted"

# The SDK over HTTPS (both paths, both encodings), trusting the test CA as a pod's runtime would.
NODE_EXTRA_CA_CERTS="$PKI/ca.pem" node "$E2E_DIR/node/otlp_send.js" proto "$BASE/v1/traces" "$WORK/expected_proto.json" proto
NODE_EXTRA_CA_CERTS="$PKI/ca.pem" node "$E2E_DIR/node/otlp_send.js" json "$BASE/api/v1/otel/trace" "$WORK/expected_json.json" json

# --- an agent that trusts only the system's CAs: the sink's certificate must be refused, nothing delivered
: >"$WORK/untrusting.jsonl"
start_agent untrusting --no-probes --set receiver.http.listen=127.0.0.1 --set export.batch_delay_ms=50 --http-port 0 \
  --set receiver.grpc.enabled=false --export-file "$WORK/untrusting.jsonl" \
  --set export.max_retry_seconds=1 --set export.spool_dir="" \
  --otlp-http-endpoint "https://127.0.0.1:$SINK_HTTP/v1/traces"
UPORT=$(agent_port untrusting)
wait_http "http://127.0.0.1:$UPORT/readyz"
node "$E2E_DIR/node/otlp_send.js" proto "http://127.0.0.1:$UPORT/v1/traces" "$WORK/expected_untrusting.json" untrusted
deadline=$((SECONDS + 30))
until grep -q "certificate verify failed" "$WORK/untrusting.log"; do
  [ $SECONDS -lt $deadline ] || { tail -n 20 "$WORK/untrusting.log"; fail "no certificate verification failure reported"; }
  sleep 0.2
done
stop_agent "$PID_untrusting"

# SIGTERM flushes the agent's exporters; then the sink closes its files.
stop_agent "$PID_agent"
stop_pid "$SINK_PID"

for out in agent sink_http sink_grpc; do
  node "$E2E_DIR/node/otlp_verify.js" "$WORK/$out.jsonl" "$WORK/expected_proto.json" "$WORK/expected_json.json"
done
! grep -q "e2e-untrusted" "$WORK/sink_http.jsonl" || fail "the sink received spans from an agent that could not verify it"
grep -q "e2e-untrusted" "$WORK/untrusting.jsonl" || fail "the untrusting agent did not receive its spans"
echo "otlp_tls: ok"
