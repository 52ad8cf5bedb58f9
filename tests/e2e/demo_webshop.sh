#!/usr/bin/env bash
# Issue 6 end to end: the webshop demo (tests/e2e/demo/lib.sh, the same code scripts/demo runs). One
# load-generator request (curl, no SDK) must become ONE trace from curl through the frontend and the order
# service (both with the OpenTelemetry SDK) down to the MariaDB transaction and the Redis call, every span
# attributed to its pod (sys spans by cgroup, app spans by address) through the Kubernetes API double.
#   tests/e2e/demo_webshop.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
source "$E2E_DIR/demo/lib.sh"
demo_up
echo "loadgen: $(demo_request)"
demo_down
node "$E2E_DIR/node/demo_print_trace.js" "$DEMO_EXPORT" || true
node "$E2E_DIR/node/demo_verify.js" "$DEMO_EXPORT" || fail "the demo's trace is not connected (see above)"
echo "demo_webshop: ok"
