#!/usr/bin/env python3
"""The uninstrumented backend of the app_sys_join e2e: no SDK, a thread per request (ThreadingHTTPServer),
a MariaDB query (PyMySQL) and a Redis GET per request, the request's id in an identifier and a key.
   join_backend.py <listen ip> <port> <db host>"""
import http.server
import re
import sys
import threading

import pymysql
import redis

ip, port, db_host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
local = threading.local()


def clients():
    # One connection each per thread: the calls of a request happen on the thread that read it.
    if not hasattr(local, "db"):
        local.db = pymysql.connect(host=db_host, port=3306, user="root", autocommit=True)
        local.redis = redis.Redis(host=db_host, port=6379)
    return local.db, local.redis


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        match = re.fullmatch(r"/stock/(u\d+z)\?q=(u\d+z)", self.path)
        if self.path == "/ready":
            body = b"ok"
        elif not match:
            self.send_error(404)
            return
        else:
            rid = match.group(1)
            db, cache = clients()
            with db.cursor() as cursor:
                cursor.execute(f"SELECT 2 AS b_{rid}")
                cursor.fetchall()
            cache.get(f"stock:{rid}")
            body = f"in stock: {rid}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer((ip, port), Handler)
print(f"backend on {ip}:{port}", flush=True)
server.serve_forever()
