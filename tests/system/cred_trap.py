#!/usr/bin/env python3
"""A server a stored git credential must never reach, for test_pipeline.sh.
  cred_trap.py trap PORTFILE LOG          answers 401 (Basic) to everything and
                                          appends each Authorization header it
                                          got to LOG
  cred_trap.py redirect PORTFILE TARGET   answers 302 to TARGET + the path
Loopback only; writes the port it bound to PORTFILE."""
import http.server
import sys

mode, portfile, arg = sys.argv[1:4]


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def handle_any(self):
        if mode == "trap":
            with open(arg, "a") as f:
                f.write((self.headers.get("Authorization") or "-") + "\n")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="trap"')
        else:
            self.send_response(302)
            self.send_header("Location", arg + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = handle_any


s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
