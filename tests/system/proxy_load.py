#!/usr/bin/env python3
"""A steady client loop for tests/system/test_proxy_nginx.sh: THREADS threads
send GET / to URL, each on a new connection (the case a reload must not
drop: connections arriving while workers change), until the file STOPFILE
exists. With "keepalive", each thread keeps its connection for the next
request (as browsers do) and opens a new one only after the server closed it
or a request failed; nothing is retried. Every request is written to OUT as a
JSON line:
{"start": t, "end": t, "status": 200, "body": "v1", "error": null, "reused": false}
(times from time.monotonic(), seconds; reused: sent on a kept connection).

    proxy_load.py URL THREADS OUT STOPFILE [keepalive]
"""
import http.client
import json
import os
import sys
import threading
import time
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
threads = int(sys.argv[2])
out_path, stop_path = sys.argv[3], sys.argv[4]
keepalive = len(sys.argv) > 5 and sys.argv[5] == "keepalive"
records = []
lock = threading.Lock()


def loop():
    c = None
    while not os.path.exists(stop_path):
        t0 = time.monotonic()
        rec = {"start": t0, "status": None, "body": None, "error": None, "reused": c is not None}
        try:
            if c is None:
                c = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            c.request("GET", url.path or "/", headers={} if keepalive else {"Connection": "close"})
            r = c.getresponse()
            rec["status"] = r.status
            rec["body"] = r.read().decode("utf-8", "replace").strip()
            if not keepalive or (r.getheader("Connection") or "").lower() == "close":
                c.close()
                c = None
        except Exception as e:  # every failure counts: refused, reset, timeout
            rec["error"] = "%s: %s" % (type(e).__name__, e)
            if c is not None:
                c.close()
            c = None
        rec["end"] = time.monotonic()
        with lock:
            records.append(rec)


ts = [threading.Thread(target=loop) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
with open(out_path, "w") as f:
    for r in records:
        f.write(json.dumps(r) + "\n")
