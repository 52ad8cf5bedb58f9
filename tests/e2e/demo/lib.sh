# The webshop demo (issue 6), shared by scripts/demo and tests/e2e/demo_webshop.sh. Source it after
# tests/e2e/lib/common.sh (which gives WORK, PIDS, fail, wait_http, start_agent, stop_pid, stop_agent, metric) with AGENT
# set. It builds a one-node "cluster" on this machine:
#   - pods are network namespaces behind veths on a bridge (demobr0, 10.244.1.1/24, pod IPs 10.244.1.1x);
#   - each pod's processes live in a cgroup v2 directory laid out as a kubelet with the systemd driver and
#     containerd lay it out (kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
#     cri-containerd-<64 hex>.scope);
#   - a Kubernetes API double (demo/kube_api.js) serves those pods (namespace shop, node demo-node);
#   - the agent runs with kubernetes.mode=on against it, probes on, exporting to $DEMO_EXPORT;
#   - loadgen (curl, no SDK) -> frontend (Node + OTel SDK) -> orders (Node + OTel SDK) -> mariadb-0, redis-0.
# demo_up starts everything, demo_request makes one load-generator request, demo_down stops the agent
# (it flushes) and demo_teardown removes namespaces, links and cgroups (called from the EXIT trap).

DEMO_NODE=demo-node
DEMO_NS_PREFIX=demo-
DEMO_BRIDGE=demobr0
DEMO_GW=10.244.1.1
DEMO_AGENT_PORT=${DEMO_AGENT_PORT:-0}   # 0: the agent binds a free port, read from its log
DEMO_API_PORT=${DEMO_API_PORT:-$(free_port)}
DEMO_EXPORT=${DEMO_EXPORT:-$WORK/agent.jsonl}
DEMO_PODS=()          # pod names, in creation order
declare -A DEMO_IP DEMO_UID DEMO_CID DEMO_CG DEMO_NETNS
DEMO_CGROOT=""
DEMO_CG_CREATED=()    # the cgroup directories we made, deepest last
DEMO_AGENT_ARGS=(${DEMO_AGENT_ARGS[@]+"${DEMO_AGENT_ARGS[@]}"})  # more agent arguments (the caller's)

demo_teardown() {
  set +e
  for pod in "${DEMO_PODS[@]}"; do
    ip netns pids "${DEMO_NETNS[$pod]}" 2>/dev/null | xargs -r kill -TERM 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 0.3
  for pod in "${DEMO_PODS[@]}"; do
    ip netns pids "${DEMO_NETNS[$pod]}" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    [ -n "${DEMO_CG[$pod]:-}" ] && [ -f "${DEMO_CG[$pod]}/cgroup.procs" ] &&
      xargs -r kill -KILL <"${DEMO_CG[$pod]}/cgroup.procs" 2>/dev/null
  done
  sleep 0.2
  for pod in "${DEMO_PODS[@]}"; do ip netns del "${DEMO_NETNS[$pod]}" 2>/dev/null; done
  ip link del "$DEMO_BRIDGE" 2>/dev/null
  local i
  for ((i = ${#DEMO_CG_CREATED[@]} - 1; i >= 0; i--)); do rmdir "${DEMO_CG_CREATED[$i]}" 2>/dev/null; done
  set -e
}

demo_cgroup_root() {
  DEMO_CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
  [ -n "$DEMO_CGROOT" ] || fail "no cgroup v2 hierarchy is mounted (looked for type cgroup2 in /proc/mounts)"
}

demo_mkcg() {  # path: mkdir -p, remembering what we created
  local p=$1 parts=() d
  while [ ! -d "$p" ]; do parts=("$p" "${parts[@]}"); p=$(dirname "$p"); done
  for d in "${parts[@]}"; do mkdir "$d" && DEMO_CG_CREATED+=("$d"); done
}

demo_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# demo_pod NAME IP OWNER_KIND OWNER_NAME CONTAINER IMAGE
demo_pod() {
  local name=$1 ip=$2 uid cid ns idx=$((${#DEMO_PODS[@]} + 1))
  uid=$(cat /proc/sys/kernel/random/uuid)
  cid=$(demo_hex 32)
  ns="$DEMO_NS_PREFIX$name"
  DEMO_PODS+=("$name"); DEMO_IP[$name]=$ip; DEMO_UID[$name]=$uid; DEMO_CID[$name]=$cid; DEMO_NETNS[$name]=$ns
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "vdemo$idx" type veth peer name eth0 netns "$ns"
  ip link set "vdemo$idx" master "$DEMO_BRIDGE" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$DEMO_GW"
  local slice="$DEMO_CGROOT/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid//-/_}.slice"
  DEMO_CG[$name]="$slice/cri-containerd-$cid.scope"
  demo_mkcg "${DEMO_CG[$name]}"
  printf '{"name":"%s","namespace":"shop","uid":"%s","ip":"%s","node":"%s","ownerKind":"%s","ownerName":"%s","templateHash":"%s","container":"%s","containerId":"%s","image":"%s","app":"%s"}\n' \
    "$name" "$uid" "$ip" "$DEMO_NODE" "$3" "$4" "$([ "$3" = ReplicaSet ] && echo "${4##*-}")" "$5" "$cid" "$6" "$5" \
    >>"$WORK/pods.lines"
}

# demo_run_in POD LOG CMD... : runs CMD in the pod's network namespace and container cgroup, in the background.
demo_run_in() {
  local pod=$1 log=$2; shift 2
  bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec ip netns exec "$@"' _ "${DEMO_CG[$pod]}" "${DEMO_NETNS[$pod]}" "$@" \
    >"$log" 2>&1 &
  PIDS+=($!)
}
# demo_exec_in POD CMD... : the same in the foreground.
demo_exec_in() {
  local pod=$1; shift
  bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec ip netns exec "$@"' _ "${DEMO_CG[$pod]}" "${DEMO_NETNS[$pod]}" "$@"
}

demo_wait() {  # what seconds command...
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what did not come up"
    sleep 0.1
  done
}

demo_up() {
  [ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces, cgroups, eBPF probes)"
  command -v mariadbd >/dev/null && command -v redis-server >/dev/null && command -v curl >/dev/null ||
    fail "mariadb-server, redis-server and curl are needed (scripts/install-deps)"
  ensure_node_clients
  demo_cgroup_root
  for ns in $(ip netns list | awk '{print $1}'); do
    case $ns in "$DEMO_NS_PREFIX"*) fail "network namespace $ns exists: is another demo running?" ;; esac
  done
  trap 'rc=$?; demo_teardown; set +e; (exit $rc); cleanup' EXIT

  # MariaDB's data dir takes a few seconds: in the background while the rest is set up.
  mkdir -p "$WORK/mariadb/data" "$WORK/redis"
  mariadb-install-db --no-defaults --user=root --datadir="$WORK/mariadb/data" --auth-root-authentication-method=normal \
    --skip-test-db >"$WORK/mariadb-install.log" 2>&1 &
  local install_pid=$!

  ip link add "$DEMO_BRIDGE" type bridge
  ip addr add "$DEMO_GW/24" dev "$DEMO_BRIDGE"
  ip link set "$DEMO_BRIDGE" up
  : >"$WORK/pods.lines"
  local rs
  demo_pod "frontend-7d9f8b6c5-x2k4p" 10.244.1.11 ReplicaSet frontend-7d9f8b6c5 frontend shop/frontend:1.0
  demo_pod "orders-5c8d7f9b4-q7m2n" 10.244.1.12 ReplicaSet orders-5c8d7f9b4 orders shop/orders:1.0
  demo_pod "mariadb-0" 10.244.1.13 StatefulSet mariadb mariadb docker.io/library/mariadb:10.11
  demo_pod "redis-0" 10.244.1.14 StatefulSet redis redis docker.io/library/redis:7.0
  demo_pod "loadgen-6b7c9d8f5-h3j9k" 10.244.1.15 ReplicaSet loadgen-6b7c9d8f5 loadgen docker.io/curlimages/curl:8.5.0
  FRONTEND=frontend-7d9f8b6c5-x2k4p ORDERS=orders-5c8d7f9b4-q7m2n LOADGEN=loadgen-6b7c9d8f5-h3j9k
  node -e 'const fs=require("fs");fs.writeFileSync(process.argv[2],JSON.stringify(fs.readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse),null,1))' \
    "$WORK/pods.lines" "$WORK/pods.json"

  node "$E2E_DIR/demo/kube_api.js" $DEMO_API_PORT "$WORK/pods.json" >"$WORK/kube-api.log" 2>&1 &
  PIDS+=($!)
  wait_http http://127.0.0.1:$DEMO_API_PORT/healthz

  start_agent agent --http-port $DEMO_AGENT_PORT --set receiver.http.listen=0.0.0.0 --no-grpc \
    --export-file "$DEMO_EXPORT" --set assembler.link_window_ms=2000 \
    --set kubernetes.mode=on --set kubernetes.api_url=http://127.0.0.1:$DEMO_API_PORT --set node_name=$DEMO_NODE \
    --set netcap.enabled=true --set 'netcap.interfaces=["vdemo*"]' --set netcap.state_dir="$WORK/netcap" \
    --log-level ${DEMO_LOG_LEVEL:-info} "${DEMO_AGENT_ARGS[@]}"
  [ "$DEMO_AGENT_PORT" != 0 ] || DEMO_AGENT_PORT=$(agent_port agent)
  wait_http http://127.0.0.1:$DEMO_AGENT_PORT/readyz 30
  [ "$(metric http://127.0.0.1:$DEMO_AGENT_PORT otelbpf_probes_enabled)" = 1 ] || fail "probes did not start"
  local deadline=$((SECONDS + 10))
  until grep -q "kubernetes: .* pods on node $DEMO_NODE" "$WORK/agent.log"; do
    [ $SECONDS -lt $deadline ] || fail "the agent did not list the pods"
    sleep 0.1
  done

  wait $install_pid || { cat "$WORK/mariadb-install.log"; fail "mariadb-install-db"; }
  demo_run_in mariadb-0 "$WORK/mariadbd.out" mariadbd --no-defaults --user=root --datadir="$WORK/mariadb/data" \
    --bind-address=0.0.0.0 --port=3306 --socket="$WORK/mariadb/mysqld.sock" --pid-file="$WORK/mariadb/mysqld.pid" \
    --skip-grant-tables --skip-ssl --skip-name-resolve --innodb-buffer-pool-size=16M --log-error="$WORK/mariadbd.log"
  demo_run_in redis-0 "$WORK/redis.log" redis-server --port 6379 --bind 0.0.0.0 --dir "$WORK/redis" --save '' \
    --appendonly no --daemonize no --protected-mode no
  # Set-up over the Unix socket (no TCP, no spans).
  demo_wait mariadbd 30 mariadb --no-defaults --socket="$WORK/mariadb/mysqld.sock" -uroot -e 'SELECT 1'
  mariadb --no-defaults --socket="$WORK/mariadb/mysqld.sock" -uroot -e \
    "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(32), qty INT) ENGINE=InnoDB"
  demo_wait redis-server 20 ip netns exec "${DEMO_NETNS[redis-0]}" redis-cli -h 10.244.1.14 ping

  local otlp="http://$DEMO_GW:$DEMO_AGENT_PORT/v1/traces"
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=$otlp demo_run_in "$ORDERS" "$WORK/orders.log" \
    node "$E2E_DIR/node/demo_orders.js" 10.244.1.12 8080 10.244.1.13 3306 10.244.1.14 6379
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=$otlp demo_run_in "$FRONTEND" "$WORK/frontend.log" \
    node "$E2E_DIR/node/demo_frontend.js" 10.244.1.11 8080 http://10.244.1.12:8080/orders
  demo_wait orders 20 grep -q "orders on" "$WORK/orders.log"
  demo_wait frontend 20 grep -q "frontend on" "$WORK/frontend.log"
}

# One load-generator request (curl, no SDK) from the loadgen pod; the order JSON goes to stdout.
demo_request() {
  demo_exec_in "$LOADGEN" curl -fsS --max-time 10 http://10.244.1.11:8080/checkout
}

# Waits for the SDKs' spans of every request (9 per order: frontend GET, checkout, POST; orders POST,
# place-order and its four database calls) and for the probes' events to drain, then stops the agent:
# SIGTERM flushes the link window.
demo_down() {
  local url=http://127.0.0.1:$DEMO_AGENT_PORT deadline=$((SECONDS + 30)) want=$((9 * ${DEMO_REQUESTS:-1}))
  until [ "$(metric "$url" 'otelbpf_receiver_spans_total{transport="http"}')" -ge "$want" ]; do
    [ $SECONDS -lt $deadline ] || fail "the services' SDKs sent $(metric "$url" 'otelbpf_receiver_spans_total{transport="http"}') spans, not $want"
    sleep 0.1
  done
  wait_drained "$url"
  stop_agent "$PID_agent"
}
