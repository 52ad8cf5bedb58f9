#!/usr/bin/python3
"""Judges a scripts/soak run from its files: span accounting (acknowledged by the agent vs arrived at the
sink) and the RSS / descriptor curves of each agent incarnation.
   check.py <soak dir> <kill window s> <warm-up s> <rss tolerance %> <rss tolerance MiB> <fd tolerance>"""
import glob
import json
import os
import statistics
import sys

soak, kill_window, warmup, rss_pct, rss_mib, fd_tol = sys.argv[1], *map(float, sys.argv[2:])
failures = []

# --- spans: which the agent acknowledged (and when), which arrived
acked = {}  # span number -> ack time (ms)
with open(os.path.join(soak, "acks")) as f:
    for line in f:
        t, first, count = map(int, line.split())
        for n in range(first, first + count):
            acked[n] = t
arrived = {}
for path in sorted(glob.glob(os.path.join(soak, "sink_http.*.jsonl"))):
    with open(path) as f:
        for line in f:
            request = json.loads(line)
            for rs in request.get("resourceSpans", []):
                attrs = {a["key"]: a["value"] for a in rs.get("resource", {}).get("attributes", [])}
                if attrs.get("service.name", {}).get("stringValue") != "soak-load":
                    continue
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        n = int(span["spanId"], 16)
                        arrived[n] = arrived.get(n, 0) + 1
killed_at = int(open(os.path.join(soak, "killed_at_ms")).read())
missing = [n for n in acked if n not in arrived]
in_memory_at_kill = [n for n in missing if killed_at - kill_window * 1000 <= acked[n] <= killed_at]
lost = [n for n in missing if n not in set(in_memory_at_kill)]
duplicates = sum(c - 1 for c in arrived.values() if c > 1)
unknown = [n for n in arrived if n not in acked]
print(f"spans: {len(acked)} acknowledged by the agent, {len(acked) - len(missing)} arrived "
      f"({duplicates} duplicates re-sent after the SIGKILL)")
print(f"  missing: {len(missing)}; of them in memory at the SIGKILL (acknowledged <= {kill_window:.0f} s before it): "
      f"{len(in_memory_at_kill)}; lost otherwise: {len(lost)}")
if lost:
    failures.append(f"{len(lost)} spans lost outside the SIGKILL window (first: {sorted(lost)[:5]})")
if unknown:
    failures.append(f"{len(unknown)} spans arrived that were never acknowledged")
if len(acked) == 0:
    failures.append("no span was acknowledged")

# --- RSS and descriptors per incarnation
samples = {}
with open(os.path.join(soak, "samples")) as f:
    for line in f:
        t, n, rss, fds = map(int, line.split())
        if rss > 0:
            samples.setdefault(n, []).append((t, rss, fds))
print("RSS (MiB) and open descriptors, every 5 s:")
for n, rows in sorted(samples.items()):
    print(f"  agent {n}: " + " ".join(f"{t}s:{rss // 1024}/{fds}" for t, rss, fds in rows))
    start = rows[0][0]
    warm = [r for r in rows if r[0] - start >= (warmup if n == 1 else warmup / 2)]
    if len(warm) < 6:
        print(f"  agent {n}: too few samples after warm-up to judge growth")
        continue
    first = statistics.median(r[1] for r in warm[:3])
    last = statistics.median(r[1] for r in warm[-3:])
    allowed = max(first * rss_pct / 100, rss_mib * 1024)
    fd_first = statistics.median(r[2] for r in warm[:3])
    fd_last = statistics.median(r[2] for r in warm[-3:])
    print(f"  agent {n}: RSS {first / 1024:.0f} -> {last / 1024:.0f} MiB (allowed growth {allowed / 1024:.0f} MiB), "
          f"peak {max(r[1] for r in rows) / 1024:.0f} MiB; fds {fd_first:.0f} -> {fd_last:.0f} (allowed +{fd_tol:.0f})")
    if last - first > allowed:
        failures.append(f"agent {n}: RSS grew {(last - first) / 1024:.0f} MiB")
    if fd_last - fd_first > fd_tol:
        failures.append(f"agent {n}: descriptors grew by {fd_last - fd_first:.0f}")

if failures:
    for f in failures:
        print("SOAK FAIL:", f)
    sys.exit(1)
print("soak: ok")
