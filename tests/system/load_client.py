#!/usr/bin/env python3
"""A steady client for the zero-downtime tests: GETs URL at RATE requests a
second (each on a new connection, as browsers behind different clients do)
until STOPFILE exists, and writes one line per request to LOG:

    <unix time> <status or ERR> <first line of the body, or the error>

  load_client.py URL LOG STOPFILE [RATE]

It never retries: a refused connection, a reset or a 5xx is a failed
request, which is what the tests count.
"""
import http.client
import sys
import time
import urllib.parse
import os

url, log, stop = sys.argv[1], sys.argv[2], sys.argv[3]
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 50.0
u = urllib.parse.urlsplit(url)
path = u.path or "/"
if u.query:
    path += "?" + u.query
interval = 1.0 / rate
with open(log, "w", buffering=1) as out:
    nxt = time.monotonic()
    while not os.path.exists(stop):
        t = time.time()
        try:
            c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
            c.request("GET", path, headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read().decode("utf-8", "replace").strip().splitlines()
            out.write("%.3f %d %s\n" % (t, r.status, body[0][:80] if body else ""))
            c.close()
        except Exception as e:  # noqa: BLE001 - every failure is a data point
            out.write("%.3f ERR %s\n" % (t, type(e).__name__ + ": " + str(e)[:60]))
        nxt += interval
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.monotonic()
