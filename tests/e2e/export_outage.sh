#!/usr/bin/env bash
# The export endpoint is down for a while, then up: nothing is lost within the spool's bound, what does not
# fit is counted, and a spool survives an agent restart. Agent A exports OTLP/HTTP to a sink port where
# nothing listens yet; the real OpenTelemetry JS SDK (OTLP/HTTP protobuf) sends spans with distinct ids to A;
# then the sink (another otelbpf-agent writing what it receives to a file) comes up, and its file is checked
# span id by span id.
#   A  nothing lost: every span goes to the spool while the sink is down, and arrives exactly once after.
#   B  overflow counted: a tiny spool refuses what does not fit (dropped, reason="spool_full"); the spooled
#      spans arrive; sent + dropped == sent by the SDK, exactly.
#   C  restart: A is stopped (SIGTERM) with spans spooled and more still in flight; a new A on the same spool
#      directory, started once the sink is up, delivers all of them exactly once.
#   D  crash: A is killed (SIGKILL) with spans spooled; a new A delivers them; the leftovers of an interrupted
#      write are removed and a damaged batch file is discarded and counted, not sent.
#   E  up, down, up: the sink goes away under a kept-alive connection, and a new one takes over.
#   tests/e2e/export_outage.sh <path to otelbpf-agent>
AGENT=$(realpath "$1")
source "$(dirname "$0")/lib/common.sh"
ensure_node_clients
NODE="$E2E_DIR/node"

free_port() {  # a port nothing listens on right now (127.0.0.1)
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

# wait_for SECONDS URL DESCRIPTION COMMAND... : polls COMMAND every 0.1 s; on timeout fails with DESCRIPTION
# and the exporter metrics of the agent at URL as they are then.
wait_for() {
  local seconds=$1 url=$2 what=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || fail "timed out after $seconds s: $what; $url/metrics: $(exporter_metrics "$url")"
    sleep 0.1
  done
}

X='exporter="otlp_http"'
SENT="otelbpf_exporter_sent_spans_total{$X}"
SPOOLED="otelbpf_exporter_spooled_spans_total{$X}"
FAILED="otelbpf_exporter_failed_attempts_total{$X}"
SPOOL_BYTES="otelbpf_exporter_spool_bytes{$X}"
QUEUE="otelbpf_exporter_queue_batches{$X}"
RECEIVED='otelbpf_receiver_spans_total{transport="http"}'
dropped() {  # url reason -> spans dropped by the OTLP/HTTP exporter for that reason
  metric "$1" "otelbpf_exporter_dropped_spans_total{$X,reason=\"$2\"}"
}
dropped_total() {  # url -> spans dropped by the OTLP/HTTP exporter, all reasons
  curl -fsS "$1/metrics" | awk -v p="otelbpf_exporter_dropped_spans_total{$X," 'index($1, p) == 1 {s += $2} END {print s + 0}'
}
exporter_metrics() {  # url -> the exporter's lines of /metrics, for failure messages
  curl -fsS "$1/metrics" 2>/dev/null | grep -E '^otelbpf_(exporter|receiver_spans)' | tr '\n' ' ' || true
}
metric_is() { local v; v=$(metric "$1" "$2" 2>/dev/null) || return 1; [ "$v" = "$3" ]; }
# Nothing left to do for the exporter: spool and queue are empty.
drained() { metric_is "$1" "$SPOOL_BYTES" 0 && metric_is "$1" "$QUEUE" 0; }
# Every span the agent received is accounted for as spooled or dropped (the sink is down, nothing sent).
all_parked() {  # url n
  local s d
  s=$(metric "$1" "$SPOOLED" 2>/dev/null) && d=$(dropped_total "$1" 2>/dev/null) || return 1
  [ $((s + d)) -eq "$2" ]
}
# Every span is accounted for as sent or dropped, and nothing is left in the spool or the queue.
all_done() {  # url n
  local s d
  s=$(metric "$1" "$SENT" 2>/dev/null) && d=$(dropped_total "$1" 2>/dev/null) || return 1
  [ $((s + d)) -eq "$2" ] && drained "$1"
}
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
batch_files() { find "$1" -name '*.batch' 2>/dev/null | wc -l; }
spool_spans() {  # dir -> spans held by the spool files (header: "OBSP" u32 length, u32 spans, u32 crc)
  find "$1" -name '*.batch' -exec od -An -tu4 -j8 -N4 {} \; 2>/dev/null | awk '{s += $1} END {print s + 0}'
}
stop_checked() {  # name pid : SIGTERM, wait, fail on a non-zero exit
  local rc=0
  kill -TERM "$2" 2>/dev/null || true
  wait "$2" || rc=$?
  [ $rc -eq 0 ] || fail "$1 exited with $rc after SIGTERM (log: $WORK/$1.log)"
}

COMMON=(--no-probes --no-grpc --set receiver.http.listen=127.0.0.1 --set assembler.link_window_ms=100
        --set export.batch_delay_ms=50)
# Short backoffs, so that the outage is noticed within a second and the recovery within half a second.
FAST_RETRY=(--set export.initial_backoff_ms=50 --set export.max_backoff_ms=500 --set export.max_retry_seconds=1
            --set export.shutdown_timeout_ms=3000)
N=2000

start_sink() {  # name port
  start_agent "$1" "${COMMON[@]}" --http-port "$2" --export-file "$WORK/$1.jsonl"
  wait_http "http://127.0.0.1:$2/readyz"
}
start_source() {  # name port sink-port spool-dir extra-args...
  local name=$1 port=$2 sink=$3 spool=$4; shift 4
  start_agent "$name" "${COMMON[@]}" "${FAST_RETRY[@]}" --http-port "$port" --no-file-export \
    --otlp-http-endpoint "http://127.0.0.1:$sink/v1/traces" --spool-dir "$spool" "$@"
  wait_http "http://127.0.0.1:$port/readyz"
}

# ---------------------------------------------------------------------------------------------------------
# A: nothing lost. 2000 spans in 10 requests while the sink is down; all go to the spool; all arrive once.
t0=$SECONDS
PA=$(free_port); SA=$(free_port)
A=http://127.0.0.1:$PA
start_source a "$PA" "$SA" "$WORK/spool_a"
node "$NODE/spans_send.js" "$A/v1/traces" $N 200 "$WORK/ids_a.json" outage-a ||
  fail "A: the agent refused spans while its export endpoint was down"
wait_for 15 "$A" "A: the agent did not spool all $N spans while the sink was down" \
  metric_is "$A" "$SPOOLED" $N
[ "$(metric "$A" "$RECEIVED")" = $N ] || fail "A: receiver counted $(metric "$A" "$RECEIVED") spans, sent $N"
[ "$(metric "$A" "$FAILED")" -gt 0 ] || fail "A: no failed attempts counted while the sink was down"
[ "$(metric "$A" "$SENT")" = 0 ] || fail "A: $(metric "$A" "$SENT") spans counted as sent to a port nobody listens on"
[ "$(metric "$A" "$SPOOL_BYTES")" -gt 0 ] || fail "A: spool_bytes is 0 with $N spans spooled"
files=$(batch_files "$WORK/spool_a")
[ "$files" -gt 0 ] || fail "A: no *.batch files in $WORK/spool_a"
[ "$(spool_spans "$WORK/spool_a")" = $N ] || fail "A: spool files hold $(spool_spans "$WORK/spool_a") spans, want $N"
[ "$(dropped_total "$A")" = 0 ] || fail "A: spans dropped within the spool's bound: $(exporter_metrics "$A")"
failed_down=$(metric "$A" "$FAILED")

start_sink sink_a "$SA"
t_up=$(now_ms)
wait_for 15 "$A" "A: the spool did not drain into the sink" all_done "$A" $N
t_drain=$(($(now_ms) - t_up))
# The spool's oldest batch probes every max_backoff_ms (500 ms, jittered) at most.
[ $t_drain -lt 5000 ] || fail "A: the spool took $t_drain ms to drain after the sink came up"
[ "$(metric "$A" "$SENT")" = $N ] || fail "A: sent $(metric "$A" "$SENT"), want $N"
[ "$(batch_files "$WORK/spool_a")" = 0 ] || fail "A: spool files left after the drain"
echo "A: $N spans spooled in $files files ($failed_down failed attempts); drained $t_drain ms after the sink came up"
stop_checked a "$PID_a"
stop_checked sink_a "$PID_sink_a"
node "$NODE/spans_verify.js" all $N "$WORK/ids_a.json" -- "$WORK/sink_a.jsonl" || fail "A: the sink did not get every span exactly once"
echo "A: ok ($((SECONDS - t0)) s)"

# ---------------------------------------------------------------------------------------------------------
# B: overflow counted. A spool of 50 kB (three requests of 100 spans, about 14.5 kB each) and a queue of two
# batches; 2000 spans in 20 requests while the sink is down.
t0=$SECONDS
PB=$(free_port); SB=$(free_port)
B=http://127.0.0.1:$PB
SPOOL_MAX=50000
start_source b "$PB" "$SB" "$WORK/spool_b" --set export.spool_max_bytes=$SPOOL_MAX \
  --set export.queue_batches=2 --set export.max_batch_spans=100
node "$NODE/spans_send.js" "$B/v1/traces" $N 100 "$WORK/ids_b.json" outage-b ||
  fail "B: the agent refused spans while its export endpoint was down"
wait_for 15 "$B" "B: not every span was spooled or dropped while the sink was down" \
  all_parked "$B" $N
[ "$(metric "$B" "$RECEIVED")" = $N ] || fail "B: receiver counted $(metric "$B" "$RECEIVED") spans, sent $N"
spooled_b=$(metric "$B" "$SPOOLED")
full_b=$(dropped "$B" spool_full)
[ "$full_b" -gt 0 ] || fail "B: nothing counted as dropped with reason spool_full: $(exporter_metrics "$B")"
[ "$spooled_b" -gt 0 ] || fail "B: nothing spooled: $(exporter_metrics "$B")"
[ "$((spooled_b + full_b))" = $N ] ||
  fail "B: spooled $spooled_b + dropped(spool_full) $full_b != $N: $(exporter_metrics "$B")"
[ "$(metric "$B" "$SENT")" = 0 ] || fail "B: spans counted as sent to a port nobody listens on"
bytes_b=$(metric "$B" "$SPOOL_BYTES")
if [ "$bytes_b" -le 0 ] || [ "$bytes_b" -gt $SPOOL_MAX ]; then fail "B: spool_bytes $bytes_b not in (0, $SPOOL_MAX]"; fi
disk_b=$(find "$WORK/spool_b" -name '*.batch' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
[ "$disk_b" = "$bytes_b" ] || fail "B: spool files hold $disk_b bytes, spool_bytes says $bytes_b"
[ "$(spool_spans "$WORK/spool_b")" = "$spooled_b" ] ||
  fail "B: spool files hold $(spool_spans "$WORK/spool_b") spans, spooled_spans_total says $spooled_b"

start_sink sink_b "$SB"
wait_for 15 "$B" "B: the spool did not drain into the sink" all_done "$B" $N
sent_b=$(metric "$B" "$SENT")
dropped_b=$(dropped_total "$B")
[ "$sent_b" = "$spooled_b" ] || fail "B: sent $sent_b != spooled $spooled_b (every spooled span must arrive)"
[ "$((sent_b + dropped_b))" = $N ] || fail "B: sent $sent_b + dropped $dropped_b != $N"
stop_checked b "$PID_b"
stop_checked sink_b "$PID_sink_b"
node "$NODE/spans_verify.js" subset "$sent_b" "$WORK/ids_b.json" -- "$WORK/sink_b.jsonl" ||
  fail "B: the sink did not get exactly the $sent_b spooled spans, once each"
echo "B: ok: sent $sent_b (all via the spool, $bytes_b bytes of $SPOOL_MAX), dropped spool_full $full_b ($((SECONDS - t0)) s)"

# ---------------------------------------------------------------------------------------------------------
# C: restart. 1000 spans are spooled; 1000 more are sent and the agent is stopped at once, while they are
# still in the pipeline or the exporter's queue. The spool on disk must then hold all 2000; a new agent on
# the same spool directory, started after the sink, delivers them.
t0=$SECONDS
PC=$(free_port); SC=$(free_port)
C=http://127.0.0.1:$PC
HALF=$((N / 2))
start_source c1 "$PC" "$SC" "$WORK/spool_c"
node "$NODE/spans_send.js" "$C/v1/traces" $HALF 200 "$WORK/ids_c1.json" outage-c1 || fail "C: first send refused"
wait_for 15 "$C" "C: the first $HALF spans were not spooled" metric_is "$C" "$SPOOLED" $HALF
node "$NODE/spans_send.js" "$C/v1/traces" $HALF 200 "$WORK/ids_c2.json" outage-c2 || fail "C: second send refused"
t_stop=$(now_ms)
stop_checked c1 "$PID_c1"
t_stopped=$(($(now_ms) - t_stop))
[ $t_stopped -lt 5000 ] || fail "C: SIGTERM took $t_stopped ms with export.shutdown_timeout_ms=3000"
grep -q 'otelbpf-agent stopped' "$WORK/c1.log" || fail "C: the first agent did not stop cleanly"
on_disk=$(spool_spans "$WORK/spool_c")
[ "$on_disk" = $N ] || fail "C: after SIGTERM the spool holds $on_disk spans, want $N (the rest were lost at shutdown)"
files_c=$(batch_files "$WORK/spool_c")

start_sink sink_c "$SC"
start_source c2 "$PC" "$SC" "$WORK/spool_c"
grep -q 'left by a previous run will be replayed' "$WORK/c2.log" || fail "C: the new agent did not pick up the spool"
wait_for 15 "$C" "C: the new agent did not deliver the spool" all_done "$C" $N
[ "$(metric "$C" "$SENT")" = $N ] || fail "C: the new agent sent $(metric "$C" "$SENT"), want $N"
stop_checked c2 "$PID_c2"
stop_checked sink_c "$PID_sink_c"
node "$NODE/spans_verify.js" all $N "$WORK/ids_c1.json" "$WORK/ids_c2.json" -- "$WORK/sink_c.jsonl" ||
  fail "C: the sink did not get every span exactly once after the restart"
echo "C: ok: $N spans in $files_c spool files survived a restart (SIGTERM took ${t_stopped} ms) ($((SECONDS - t0)) s)"

# ---------------------------------------------------------------------------------------------------------
# D: crash. 1000 spans are spooled and the agent is killed (SIGKILL). What a crash can leave besides whole
# batches is planted too: a temporary file of an interrupted write and a truncated batch file. A new agent
# started after the sink delivers the 1000 spans once each, removes the temporary, and discards and counts the
# truncated file: as a file, and as the spans its header names (dropped, reason spool_corrupt).
t0=$SECONDS
PD=$(free_port); SD=$(free_port)
D=http://127.0.0.1:$PD
start_source d1 "$PD" "$SD" "$WORK/spool_d"
node "$NODE/spans_send.js" "$D/v1/traces" $HALF 200 "$WORK/ids_d.json" outage-d || fail "D: send refused"
wait_for 15 "$D" "D: the $HALF spans were not spooled" metric_is "$D" "$SPOOLED" $HALF
kill -KILL "$PID_d1"; wait "$PID_d1" 2>/dev/null || true
[ "$(spool_spans "$WORK/spool_d")" = $HALF ] || fail "D: after SIGKILL the spool holds $(spool_spans "$WORK/spool_d") spans, want $HALF"
dir_d="$WORK/spool_d/otlp_http"
first=$(find "$dir_d" -name '*.batch' | sort | head -n 1)
head -c 100 "$first" >"$dir_d/00000000000000009998.batch"        # truncated: fails its length check
head -c 100 "$first" >"$dir_d/00000000000000009999.batch.tmp"    # an interrupted write
planted=$(od -An -tu4 -j8 -N4 "$first" | tr -d ' ')                 # the spans the truncated file claims
start_sink sink_d "$SD"
start_source d2 "$PD" "$SD" "$WORK/spool_d"
wait_for 15 "$D" "D: the new agent did not deliver the spool" all_done "$D" $((HALF + planted))
[ "$(metric "$D" "$SENT")" = $HALF ] || fail "D: the new agent sent $(metric "$D" "$SENT"), want $HALF"
corrupt=$(metric "$D" "otelbpf_exporter_spool_corrupt_files_total{$X}")
[ "$corrupt" = 1 ] || fail "D: spool_corrupt_files_total is $corrupt, want 1 (the truncated file)"
lost=$(metric "$D" "otelbpf_exporter_dropped_spans_total{$X,reason=\"spool_corrupt\"}")
[ "$lost" = "$planted" ] || fail "D: the truncated file's $planted spans were counted as $lost dropped"
[ -z "$(ls -A "$dir_d")" ] || fail "D: files left in the spool after the drain: $(ls "$dir_d" | tr '\n' ' ')"
stop_checked d2 "$PID_d2"
stop_checked sink_d "$PID_sink_d"
node "$NODE/spans_verify.js" all $HALF "$WORK/ids_d.json" -- "$WORK/sink_d.jsonl" ||
  fail "D: the sink did not get every span exactly once after the crash"
echo "D: ok: $HALF spans survived SIGKILL; a truncated file was discarded and counted ($((SECONDS - t0)) s)"

# ---------------------------------------------------------------------------------------------------------
# E: up, down, up. The exporter has a kept-alive connection to a live sink when the sink goes away; spans sent
# then are spooled, and delivered to the sink's successor. Together the two sinks hold every span once.
t0=$SECONDS
PE=$(free_port); SE=$(free_port)
E=http://127.0.0.1:$PE
start_sink sink_e1 "$SE"
start_source e "$PE" "$SE" "$WORK/spool_e"
node "$NODE/spans_send.js" "$E/v1/traces" 200 100 "$WORK/ids_e1.json" outage-e1 || fail "E: first send refused"
wait_for 15 "$E" "E: the first 200 spans were not sent" metric_is "$E" "$SENT" 200
stop_checked sink_e1 "$PID_sink_e1"
node "$NODE/spans_send.js" "$E/v1/traces" $HALF 200 "$WORK/ids_e2.json" outage-e2 || fail "E: second send refused"
wait_for 15 "$E" "E: the $HALF spans were not spooled" metric_is "$E" "$SPOOLED" $HALF
start_sink sink_e2 "$SE"
wait_for 15 "$E" "E: the spool did not drain into the new sink" all_done "$E" $((HALF + 200))
stop_checked e "$PID_e"
stop_checked sink_e2 "$PID_sink_e2"
node "$NODE/spans_verify.js" all $((HALF + 200)) "$WORK/ids_e1.json" "$WORK/ids_e2.json" -- \
  "$WORK/sink_e1.jsonl" "$WORK/sink_e2.jsonl" || fail "E: the two sinks did not get every span exactly once"
echo "E: ok: 200 spans before the outage, $HALF during it, each delivered once ($((SECONDS - t0)) s)"
echo "export_outage: ok"
