#!/usr/bin/env python3
"""A steady client loop for tests/cli/test_proxy_nginx.sh: THREADS threads
send GET / to URL, each on a new connection (the case a reload must not
drop: connections arriving while workers change), until the file STOPFILE
exists. Every request is written to OUT as a JSON line:
{"start": t, "end": t, "status": 200, "body": "v1", "error": null}
(times from time.monotonic(), seconds).

    proxy_load.py URL THREADS OUT STOPFILE
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
records = []
lock = threading.Lock()


def loop():
    while not os.path.exists(stop_path):
        t0 = time.monotonic()
        rec = {"start": t0, "status": None, "body": None, "error": None}
        try:
            c = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            c.request("GET", url.path or "/", headers={"Connection": "close"})
            r = c.getresponse()
            rec["status"] = r.status
            rec["body"] = r.read().decode("utf-8", "replace").strip()
            c.close()
        except Exception as e:  # every failure counts: refused, reset, timeout
            rec["error"] = "%s: %s" % (type(e).__name__, e)
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
