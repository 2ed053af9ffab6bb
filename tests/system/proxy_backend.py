#!/usr/bin/env python3
"""A release stand-in for tests/system/test_proxy_nginx.sh: an HTTP/1.1 server
(keep-alive, so nginx's upstream keepalive is used) on 127.0.0.1, on a port
of its own, answering GET / with BODY and GET /headers with the request's
headers as JSON.

    proxy_backend.py BODY PORTFILE   # writes the port to PORTFILE once listening
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/headers":
            body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        else:
            body = (BODY + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


BODY = sys.argv[1]
srv = Server(("127.0.0.1", 0), Handler)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
