#!/usr/bin/env bash
# Issue 17 end to end: the webshop demo's trace in the agent's built-in trace view, drawn by a real browser
# (Debian's chromium, headless). One load-generator request goes through the demo (curl -> frontend ->
# orders -> MariaDB + Redis, the two services with the OTel SDK); the view's JSON API must list the trace
# with app, sys and net spans, and the page must draw one waterfall row per span with a bar of each
# source's colour. The screenshot is kept as a test artefact (ui-trace.png in $OTELBPF_TEST_ARTIFACTS,
# default build/test-artifacts).
#   tests/e2e/ui_trace_view.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
source "$E2E_DIR/demo/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || fail "chromium is needed (scripts/install-deps)"
# Headless, as root, and without the browser's own background traffic (update checks, DNS prefetch), which
# the agent would trace like any other.
CHROMIUM_QUIET="--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
  --disable-background-networking --disable-component-update --disable-sync --disable-default-apps
  --dns-prefetch-disable"
ARTIFACTS=${OTELBPF_TEST_ARTIFACTS:-$(dirname "$AGENT")/test-artifacts}
mkdir -p "$ARTIFACTS"

UI_PORT=$(free_port)
DEMO_AGENT_ARGS=(--set ui.port=$UI_PORT)
demo_up
UI=http://127.0.0.1:$UI_PORT
echo "loadgen: $(demo_request)"

# The trace leaves the assembler after its link window (and the SDKs' measured lag): poll the API for the
# trace that holds curl's sys CLIENT span, with spans of all three sources.
pick_trace() {
  curl -fsS "$UI/api/traces?namespace=shop" | node -e '
    const traces = JSON.parse(require("fs").readFileSync(0, "utf8")).traces;
    const t = traces.filter((t) => t.appSpans >= 9 && t.sysSpans > 0 && t.netSpans > 0)
                    .sort((a, b) => b.spans - a.spans)[0];
    if (!t) process.exit(1);
    console.log(t.traceId, t.spans, t.appSpans, t.sysSpans, t.netSpans);'
}
deadline=$((SECONDS + 60))
until read -r TRACE SPANS APP SYS NET < <(pick_trace); do
  [ $SECONDS -lt $deadline ] || { curl -sS "$UI/api/traces" | head -c 2000; fail "no trace with app, sys and net spans in the view"; }
  sleep 1
done
echo "trace $TRACE: $SPANS spans ($APP app, $SYS sys, $NET net)"
curl -fsS "$UI/api/traces/$TRACE" >"$WORK/trace.json"
node -e '
  const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const curl = t.spans.find((s) => s.source === "sys" && s.kind === "client" && /curl/.test(s.process));
  if (!curl) { console.error("no curl sys CLIENT span in the trace"); process.exit(1); }
  const pods = new Set(t.spans.map((s) => s.pod).filter(Boolean));
  for (const p of ["frontend-7d9f8b6c5-x2k4p", "orders-5c8d7f9b4-q7m2n", "mariadb-0", "redis-0"])
    if (!pods.has(p)) { console.error("no span of pod " + p); process.exit(1); }' "$WORK/trace.json" ||
  fail "the view's trace is not the demo's stitched trace"

# The page, as a browser renders it (the API calls included): one row per span, bars of every source.
browse() {
  timeout 90 "$CHROMIUM" $CHROMIUM_QUIET --hide-scrollbars --user-data-dir="$WORK/chromium" --window-size=1400,1000 --virtual-time-budget=15000 "$@" \
    "$UI/#/trace/$TRACE" 2>>"$WORK/chromium.log"
}
browse --dump-dom >"$WORK/dom.html" || fail "chromium could not load the page"
grep -q 'data-rendered="yes"' "$WORK/dom.html" || { head -c 3000 "$WORK/dom.html"; fail "the page did not render the trace"; }
rows=$(grep -o 'class="row"' "$WORK/dom.html" | wc -l)
[ "$rows" -eq "$SPANS" ] || fail "the waterfall has $rows rows for $SPANS spans"
for source in app sys net; do
  n=$(grep -o "data-source=\"$source\"" "$WORK/dom.html" | wc -l)
  echo "  $source bars: $n"
  [ "$n" -gt 0 ] || fail "no $source span drawn"
done
grep -q 'class="gap"' "$WORK/dom.html" || fail "no parent-to-child gap drawn"
browse --screenshot="$ARTIFACTS/ui-trace.png" >/dev/null || fail "chromium could not take the screenshot"
[ -s "$ARTIFACTS/ui-trace.png" ] || fail "no screenshot"
echo "screenshot: $ARTIFACTS/ui-trace.png"

# A span's attributes (what a click shows; the link to one span selects it the same way).
CURL_SPAN=$(node -e '
  const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(t.spans.find((s) => s.source === "sys" && s.kind === "client" && /curl/.test(s.process)).spanId);' "$WORK/trace.json")
timeout 90 "$CHROMIUM" $CHROMIUM_QUIET --user-data-dir="$WORK/chromium" --virtual-time-budget=15000 \
  --dump-dom "$UI/#/trace/$TRACE?span=$CURL_SPAN" \
  >"$WORK/span.html" 2>>"$WORK/chromium.log" || fail "chromium could not load the span link"
grep -o '<div id="details"[^>]*>' "$WORK/span.html" | grep -q "data-span-id=\"$CURL_SPAN\"" ||
  fail "the span's details are not shown"
for want in "otelbpf.span.source" "resource.process.executable.name" "loadgen-6b7c9d8f5-h3j9k"; do
  grep -q "$want" "$WORK/span.html" || fail "the span's details lack $want"
done

# The list page draws the trace too, filtered to the demo's namespace (the filter form's link).
timeout 90 "$CHROMIUM" $CHROMIUM_QUIET --user-data-dir="$WORK/chromium" --virtual-time-budget=15000 \
  --dump-dom "$UI/#/?namespace=shop" >"$WORK/list.html" 2>>"$WORK/chromium.log" || fail "chromium could not load the list"
grep -q "data-trace-id=\"$TRACE\"" "$WORK/list.html" || fail "the trace list does not show the trace"
grep -q 'name="namespace" placeholder="namespace" value="shop"' "$WORK/list.html" || fail "the list's filter is not shown"

demo_down
echo "ui_trace_view: ok"
