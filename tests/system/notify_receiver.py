#!/usr/bin/env python3
"""A webhook receiver for test_notify_webhook.sh: records every request and
answers as its path says.

  notify_receiver.py LOG PORTFILE

Listens on 127.0.0.1, a free port written to PORTFILE once it listens. Each
request is appended to LOG as one JSON line: method, path, headers, body
(text) and body_b64 (the exact bytes). The path decides the answer:

  /ok/...              200 "ok"
  /fail/N/CODE/...     CODE with body "boom" for the first N requests to this
                       exact path, then 200
  /status/CODE/...     always CODE with body "nope"
  /slow/MS/...         waits MS milliseconds, then 200
  /redirect/TARGET     307 to TARGET ("ftp:..." or a path like /ok/after)
"""
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG, PORTFILE = sys.argv[1], sys.argv[2]
lock = threading.Lock()
seen = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, body=b"ok", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        with lock:
            seen[self.path] = seen.get(self.path, 0) + 1
            count = seen[self.path]
            with open(LOG, "a") as f:
                f.write(json.dumps({
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                    "body_b64": base64.b64encode(body).decode(),
                    "at": time.time(),
                }) + "\n")
        parts = self.path.split("/")
        kind = parts[1] if len(parts) > 1 else ""
        if kind == "fail" and len(parts) > 3:
            if count <= int(parts[2]):
                return self.answer(int(parts[3]), b"boom")
            return self.answer(200)
        if kind == "status" and len(parts) > 2:
            return self.answer(int(parts[2]), b"nope")
        if kind == "slow" and len(parts) > 2:
            time.sleep(int(parts[2]) / 1000.0)
            return self.answer(200)
        if kind == "redirect":
            target = self.path[len("/redirect/"):]
            return self.answer(307, b"", [("Location", target)])
        return self.answer(200)

    do_GET = do_POST


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
# renamed into place, so a reader never sees a partial port number
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
