#!/usr/bin/python3
"""The soak's traced traffic: HTTP GETs to nginx and SET/GET/INCR to Redis, each at a steady rate, on
fresh and kept-alive connections alike, so the agent's probes, L7 parsers and assembler work all run long.
   traffic.py <nginx port> <redis port> <requests per second each> <stop file>"""
import http.client
import os
import sys
import time

import redis

nginx_port, redis_port, rate, stop = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
kv = redis.Redis(host="127.0.0.1", port=redis_port)
kept = http.client.HTTPConnection("127.0.0.1", nginx_port, timeout=5)
n = 0
due = time.monotonic()
while not os.path.exists(stop):
    n += 1
    try:
        if n % 10 == 0:  # every tenth on a new connection: connects, accepts and closes too
            fresh = http.client.HTTPConnection("127.0.0.1", nginx_port, timeout=5)
            fresh.request("GET", f"/soak?n={n}")
            fresh.getresponse().read()
            fresh.close()
        else:
            kept.request("GET", f"/soak?n={n}")
            kept.getresponse().read()
        kv.set(f"soak:{n % 100}", "v" * 32)
        kv.get(f"soak:{(n * 7) % 100}")
        kv.incr("soak:counter")
    except (OSError, http.client.HTTPException, redis.RedisError):
        kept.close()
        kept = http.client.HTTPConnection("127.0.0.1", nginx_port, timeout=5)
    due += 1.0 / rate
    time.sleep(max(0.0, due - time.monotonic()))
