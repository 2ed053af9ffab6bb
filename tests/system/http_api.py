"""Checks of webopsd's JSON API against a real daemon and PostgreSQL, run by
test_http_api.sh (which starts them and passes BASE, TOKEN, ...). Every
route of openapi.json is called and must answer a status it documents."""
import http.client
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

BASE = os.environ["BASE"]
TOKEN = os.environ["TOKEN"]
REPO = os.environ["REPO"]
U = urllib.parse.urlparse(BASE)
passed = failed = 0


def ok(desc):
    global passed
    passed += 1
    print(f"ok   - {desc}")


def bad(desc):
    global failed
    failed += 1
    print(f"FAIL - {desc}")


def check(cond, desc, extra=""):
    if cond:
        ok(desc)
    else:
        bad(f"{desc} {extra}")


def req(method, path, body=None, token=TOKEN, headers=None, raw=None, ctype="application/json"):
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None and ctype:
        h["Content-Type"] = ctype
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read()
    c.close()
    try:
        j = json.loads(text) if text and r.getheader("Content-Type", "").startswith("application/json") else None
    except ValueError:
        j = None
    return r.status, j, r, text


SECURITY = {
    "Content-Security-Policy": "script-src 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def headers_ok(r):
    return all(v in (r.getheader(k) or "") for k, v in SECURITY.items())


# ---- authentication ----
spec_status, spec, r, _ = req("GET", "/api/v1/openapi.json", token=None)
check(spec_status == 200 and spec["openapi"].startswith("3.1"), "openapi.json is public and OpenAPI 3.1")
check(headers_ok(r), "security headers on the API")
for path, ops in spec["paths"].items():
    for method, op in ops.items():
        if op.get("security") == []:
            continue
        concrete = path.replace("{name}", "x").replace("{id}", "1").replace("{action}", "start")
        st, j, r, _ = req(method.upper(), concrete, token=None)
        if st != 401 or not j or "message" not in j.get("error", {}):
            bad(f"{method.upper()} {path} without a token: {st}")
            break
    else:
        continue
    break
else:
    ok("every protected route answers 401 with an error document without a token")
st, _, r, _ = req("GET", "/api/v1/deployments", token="wo_" + "A" * 43)
check(st == 401 and "Bearer" in (r.getheader("WWW-Authenticate") or ""), "an unknown token is 401 with WWW-Authenticate")
st, _, _, _ = req("GET", "/api/v1/deployments", token=os.environ["REVOKED_TOKEN"])
check(st == 401, "a revoked token is 401")

# ---- routing and bodies ----
st, j, _, _ = req("GET", "/api/v1/nothing-here")
check(st == 404 and j["error"]["message"], "unknown route: 404 with an error document")
st, j, r, _ = req("PUT", "/api/v1/deployments")
check(st == 405 and "GET" in r.getheader("Allow", "") and "POST" in r.getheader("Allow", ""), "wrong method: 405 with Allow")
st, j, _, _ = req("POST", "/api/v1/deployments", raw=b"name=x", ctype="application/x-www-form-urlencoded")
check(st == 415, "form body on the API: 415")
st, j, _, _ = req("POST", "/api/v1/deployments", raw=b"{not json")
check(st == 400 and "not valid JSON" in j["error"]["message"], "broken JSON: 400 saying so")


def oversized(length, chunked=False):
    """Announces (or streams) a body over the cap; the server may answer and
    close before reading it, as it should."""
    s = socket.create_connection((U.hostname, U.port), timeout=30)
    te = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    s.sendall((f"POST /api/v1/deployments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
               f"Content-Type: application/json\r\n{te}\r\n\r\n").encode())
    try:
        if chunked:
            piece = b"a" * 65536
            for _ in range(length // 65536 + 1):
                s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        else:
            s.sendall(b"a" * length)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
            if b"\r\n\r\n" in data:
                break
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    return int(m.group(1)) if m else 0


check(oversized(1024 * 1024 + 10) == 413, "a body over 1 MiB (Content-Length): 413")
check(oversized(1024 * 1024 + 10, chunked=True) == 413, "a chunked body over 1 MiB: 413")

# ---- deployments ----
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "Bad Name", "repo_url": REPO})
check(st == 422 and "name" in j["error"]["fields"] and "Bad Name" in j["error"]["fields"]["name"],
      "create with a bad name: 422 with fields.name", str(j))
st, j, _, _ = req("GET", "/api/v1/deployments")
check(st == 200 and j == [], "nothing was stored by the failed create")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "x1", "repo_url": "ftp://nope", "port": 99999,
                                                   "env_vars": {"1BAD": "v"}})
fields = (j or {}).get("error", {}).get("fields", {})
check(st == 422 and {"repo_url", "port", "env"} <= set(fields), "every bad field is named at once", str(fields))
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "x1", "repo_url": REPO, "colour": "red"})
check(st == 422 and "colour" in j["error"]["message"], "an unknown field is refused by name")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "x1", "repo_url": REPO,
                                                   "addon_fields": {"pipetest": {"pipetest_mode": "loud"}}})
check(st == 422 and "pipetest.pipetest_mode" in j["error"]["fields"], "a bad addon field: 422 naming addon.field", str(j))
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "x1", "repo_url": REPO,
                                                   "addon_fields": {"nosuch": {"a": 1}}})
check(st == 422, "an unknown addon: 422")
st, j, r, _ = req("POST", "/api/v1/deployments", {"name": "app", "repo_url": REPO, "port": 18999,
                                                   "env_vars": {"DEBUG": "0"},
                                                   "addon_fields": {"pipetest": {"pipetest_mode": "ticks"}}})
check(st == 201 and j["name"] == "app" and r.getheader("Location") == "/api/v1/deployments/app", "create: 201 with Location")
check(j["addon_fields"]["pipetest"]["pipetest_mode"] == "ticks", "addon fields are stored typed")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "app", "repo_url": REPO})
check(st == 409 and "already taken" in j["error"]["message"], "a taken name: 409")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "app2", "repo_url": REPO, "port": 18999})
check(st == 409 and "port" in j["error"]["fields"], "a taken port: 409 naming port")
st, j, _, _ = req("GET", "/api/v1/deployments/app")
check(st == 200 and j["env_vars"] == {"DEBUG": "0"}, "get one")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "pushy", "push_only": True})
check(st == 201 and j["push_only"] is True and j["repo_url"].startswith("file://"),
      "a push-only deployment needs no repo_url", str(j))
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "pushy2", "push_only": True, "repo_url": REPO})
check(st == 422 and "push_only" in j["error"]["fields"], "push_only with a repo_url: 422")
req("DELETE", "/api/v1/deployments/pushy")
st, j, _, _ = req("GET", "/api/v1/deployments/nope")
check(st == 404 and "not found" in j["error"]["message"], "get a missing one: 404")
st, j, _, _ = req("PATCH", "/api/v1/deployments/app", {"env_vars": {"DEBUG": "1"}, "port": None})
check(st == 200 and j["env_vars"] == {"DEBUG": "1"} and j["port"] is None, "patch")
st, j, _, _ = req("PATCH", "/api/v1/deployments/app", {"branch": "bad..branch"})
check(st == 422 and "branch" in j["error"]["fields"], "patch with a bad branch: 422")
st, j, _, _ = req("GET", "/api/v1/deployments/app")
check(j["branch"] == "main", "the failed patch changed nothing")
st, j, _, _ = req("PATCH", "/api/v1/deployments/app", {"name": "other"})
check(st == 422, "renaming is refused")
st, j, _, _ = req("PATCH", "/api/v1/deployments/nope", {"branch": "x"})
check(st == 404, "patch a missing one: 404")
# a secret field (secret: true in the manifest): answered masked, kept when
# given back as shown, removed by null
st, j, _, _ = req("PATCH", "/api/v1/deployments/app", {"addon_fields": {"pipetest": {"pipetest_secret": "hunter2 in clear"}}})
check(st == 200 and j["addon_fields"]["pipetest"]["pipetest_secret"] == "********", "a secret field is answered masked",
      json.dumps(j)[:300])
st, j, _, _ = req("GET", "/api/v1/deployments")
check(st == 200 and "hunter2" not in json.dumps(j) and "v1:" not in json.dumps(j),
      "... and listed masked, neither in clear nor sealed")
st, j, _, _ = req("GET", "/api/v1/deployments/app")
st, j, _, _ = req("PATCH", "/api/v1/deployments/app", {"addon_fields": {"pipetest": j["addon_fields"]["pipetest"]}})
check(st == 200 and j["addon_fields"]["pipetest"]["pipetest_secret"] == "********",
      "the record given back as shown keeps it", json.dumps(j)[:300])
st, j, _, _ = req("PATCH", "/api/v1/deployments/app", {"addon_fields": {"pipetest": {"pipetest_secret": None}}})
check(st == 200 and "pipetest_secret" not in j["addon_fields"]["pipetest"], "null removes it")

# ---- deploy, runs, live log ----
st, j, _, _ = req("POST", "/api/v1/deployments/app/deploy", {"ref": 5})
check(st == 422, "deploy with a non-string ref: 422")
st, run, r, _ = req("POST", "/api/v1/deployments/app/deploy")
check(st == 202 and run["status"] == "queued" and r.getheader("Location") == f"/api/v1/runs/{run['id']}",
      "deploy: 202 with the queued run")
rid = run["id"]


def sse(path, last_id=None, stop_after=None, timeout=60):
    """Reads an event stream; returns [(event, id, data, received_at)]."""
    s = socket.create_connection((U.hostname, U.port), timeout=timeout)
    extra = f"Last-Event-ID: {last_id}\r\n" if last_id is not None else ""
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
               f"Accept: text/event-stream\r\n{extra}Connection: close\r\n\r\n").encode())
    buf = b""
    events = []
    cur = {}
    head_done = False
    chunked = False
    raw = b""
    while True:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        raw += data
        if not head_done:
            if b"\r\n\r\n" not in raw:
                continue
            head, raw = raw.split(b"\r\n\r\n", 1)
            head_done = True
            chunked = b"chunked" in head.lower()
            if b"200" not in head.split(b"\r\n")[0]:
                events.append(("http-error", None, head.decode(), time.time()))
                break
        # de-chunk what is complete
        if chunked:
            while True:
                m = re.match(rb"([0-9a-fA-F]+)\r\n", raw)
                if not m:
                    break
                n = int(m.group(1), 16)
                if len(raw) < m.end() + n + 2:
                    break
                buf += raw[m.end():m.end() + n]
                raw = raw[m.end() + n + 2:]
        else:
            buf += raw
            raw = b""
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            cur = {}
            for line in block.decode().split("\n"):
                if line.startswith(":") or not line:
                    continue
                k, _, v = line.partition(": ")
                cur[k] = v
            if "data" in cur:
                events.append((cur.get("event", "message"), cur.get("id"), cur["data"], time.time()))
                if stop_after and len([e for e in events if e[0] == "line"]) >= stop_after:
                    s.close()
                    return events
                if cur.get("event") == "result":
                    s.close()
                    return events
    s.close()
    return events


events = sse(f"/api/v1/runs/{rid}/log")
lines = [e for e in events if e[0] == "line"]
result = [e for e in events if e[0] == "result"]
check(len(lines) > 20 and result, f"the stream carries the run's lines ({len(lines)}) and ends with a result")
res = json.loads(result[0][2]) if result else {}
check(res.get("status") == "succeeded", "the result event carries the run's final status", str(res.get("error")))
ids = [int(e[1]) for e in lines]
check(ids == sorted(ids) and len(set(ids)) == len(ids), "each line has an increasing id")
# latency: the database stamps each line when written; we stamp its arrival
lat = []
for e in lines:
    d = json.loads(e[2])
    if d["text"].startswith("pipetest: tick") or "tick" in d["text"]:
        at = time.mktime(time.strptime(d["at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + d["at"][20:23])
        lat.append((e[3] - at) * 1000)
lat.sort()
if lat:
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"# live log latency over {len(lat)} lines: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms")
    spread = lines[-1][3] - lines[0][3]
    check(spread > 1.0, f"lines arrived as they were written (over {spread:.1f} s), not at the end")
    check(p99 < 1000, "live lines arrive well within a second of being written", f"p99 {p99:.0f} ms")
else:
    bad("no tick lines seen")
# resume
mid = ids[len(ids) // 2]
events2 = sse(f"/api/v1/runs/{rid}/log", last_id=mid)
ids2 = [int(e[1]) for e in events2 if e[0] == "line"]
check(ids2 and ids2[0] == mid + 1 and ids2[-1] == ids[-1] and any(e[0] == "result" for e in events2),
      "Last-Event-ID resumes after that line and ends with the result")
events3 = sse(f"/api/v1/runs/{rid}/log?after={ids[-1]}")
check([e[0] for e in events3] == ["result"], "after the last line: only the result")
st, _, r, text = req("GET", f"/api/v1/runs/{rid}/log")
nd = [json.loads(x) for x in text.decode().splitlines()]
check(st == 200 and r.getheader("Content-Type") == "application/x-ndjson" and len(nd) == len(lines),
      "without text/event-stream: JSON lines")
st, j, _, _ = req("GET", f"/api/v1/runs/{rid}")
check(st == 200 and j["status"] == "succeeded" and j["trigger"] == "api", "get a run")
st, j, _, _ = req("GET", "/api/v1/runs/999999")
check(st == 404, "a missing run: 404")
st, j, _, _ = req("GET", "/api/v1/runs/abc")
check(st == 404, "a run id that is no number: 404")
st, j, _, _ = req("GET", "/api/v1/deployments/app/runs")
check(st == 200 and j[0]["id"] == rid, "runs of a deployment, newest first")
st, j, _, _ = req("GET", "/api/v1/deployments/app/runs?limit=0")
check(st == 400 and "limit" in j["error"]["fields"], "a bad limit: 400")
st, j, _, _ = req("POST", f"/api/v1/runs/{rid}/cancel")
check(st == 409 and "already finished" in j["error"]["message"], "cancelling a finished run: 409")

# a live stream of a run that has not started yet, then a cancel
st, run2, _, _ = req("POST", "/api/v1/deployments/app/deploy", {"ref": "main"})
got = {}


def follow():
    got["events"] = sse(f"/api/v1/runs/{run2['id']}/log")


t = threading.Thread(target=follow)
t.start()
time.sleep(1.2)
st, j, _, _ = req("POST", f"/api/v1/runs/{run2['id']}/cancel")
check(st == 202 and j["cancel"] in ("cancelled", "requested"), "cancel a queued or running run: 202")
t.join(60)
res2 = [json.loads(e[2]) for e in got.get("events", []) if e[0] == "result"]
check(res2 and res2[0]["status"] == "cancelled", "the stream of a cancelled run ends with status cancelled",
      str(res2[:1]))

# ---- lifecycle ----
for action in ("stop", "start", "restart"):
    st, j, _, _ = req("POST", f"/api/v1/deployments/app/{action}")
    check(st == 200 and "pipetest" in j.get("output", ""), f"{action}: 200 after the addons' hooks ran")
st, j, _, _ = req("GET", "/api/v1/deployments/app")
check(j["status"] == "running", "after restart the deployment is running")
st, j, _, _ = req("POST", "/api/v1/deployments/app/explode")
check(st == 404, "an unknown action: 404")
req("PATCH", "/api/v1/deployments/app", {"addon_fields": {"pipetest": {"pipetest_mode": "fail"}}})
st, j, _, _ = req("POST", "/api/v1/deployments/app/stop")
check(st == 409 and "pipetest refuses to stop" in j["error"]["message"], "a failing stop hook: 409 with its words")
st, j, _, _ = req("DELETE", "/api/v1/deployments/app")
check(st == 409, "a failing delete hook: 409, nothing deleted")
st, j, _, _ = req("GET", "/api/v1/deployments/app")
check(st == 200, "the deployment is still there")
req("POST", "/api/v1/deployments", {"name": "stuck", "repo_url": REPO,
                                     "addon_fields": {"pipetest": {"pipetest_mode": "fail"}}})
st, j, _, _ = req("DELETE", "/api/v1/deployments/stuck?force=1")
st2, _, _, _ = req("GET", "/api/v1/deployments/stuck")
check(st == 200 and st2 == 404 and "going on despite" in j.get("output", ""),
      "?force=1 deletes despite a failing hook, and says so", str(j))
req("PATCH", "/api/v1/deployments/app", {"addon_fields": {"pipetest": {"pipetest_mode": None}}})
st, j, _, _ = req("DELETE", "/api/v1/deployments/app")
check(st == 200 and j["deleted"] == "app", "delete: 200")
st, j, _, _ = req("GET", "/api/v1/deployments/app")
check(st == 404, "gone after delete")
st, j, _, _ = req("DELETE", "/api/v1/deployments/app")
check(st == 404, "delete a missing one: 404")

# ---- addons ----
st, j, _, _ = req("GET", "/api/v1/addons")
check(st == 200 and any(a["name"] == "pipetest" for a in j), "list addons")
st, j, _, _ = req("GET", "/api/v1/addons/pipetest")
check(st == 200 and j["hooks"] and j["settings"], "one addon with hooks and settings")
st, j, _, _ = req("GET", "/api/v1/addons/nope")
check(st == 404, "a missing addon: 404")
st, j, _, _ = req("PATCH", "/api/v1/addons/pipetest/settings", {"sleep_ms": -5})
check(st == 422 and "sleep_ms" in j["error"]["fields"], "an out-of-range setting: 422 naming it")
st, j, _, _ = req("PATCH", "/api/v1/addons/pipetest/settings", {"sleep_ms": 1500, "nope": 1})
check(st == 422 and "nope" in j["error"]["fields"], "an unknown setting: 422")
st, j, _, _ = req("GET", "/api/v1/addons/pipetest")
sv = {s["name"]: s for s in j["settings"]}
check(sv["sleep_ms"]["source"] != "stored", "nothing was stored by the failed settings change")
st, j, _, _ = req("PATCH", "/api/v1/addons/pipetest/settings", {"sleep_ms": 1500})
sv = {s["name"]: s for s in j["settings"]}
check(st == 200 and sv["sleep_ms"]["value"] == 1500, "set a setting")
st, j, _, _ = req("PATCH", "/api/v1/addons/pipetest/settings", {"sleep_ms": None})
sv = {s["name"]: s for s in j["settings"]}
check(st == 200 and sv["sleep_ms"]["source"] == "default", "null goes back to the default")
st, j, _, _ = req("POST", "/api/v1/addons/pipetest/disable")
check(st == 200 and j["enabled"] is False, "disable an addon")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "y1", "repo_url": REPO,
                                                   "addon_fields": {"pipetest": {"pipetest_mode": "none"}}})
check(st == 422, "a disabled addon's fields are refused")
st, j, _, _ = req("POST", "/api/v1/addons/pipetest/enable")
check(st == 200 and j["enabled"] is True, "enable it again")
st, j, _, _ = req("POST", "/api/v1/addons/pipetest/explode")
check(st == 404, "an unknown addon action: 404")

# ---- host settings are changed on the host only: 403 over HTTP ----
host_settings = [("proxy-nginx", "nginx_binary", "/tmp/evil"), ("proxy-nginx", "mode", "host"),
                 ("proxy-nginx", "include_dir", "/etc/nginx/conf.d"), ("proxy-nginx", "listen_address", "0.0.0.0"),
                 ("proxy-nginx", "data_dir", "/tmp/px"), ("proxy-nginx", "user", "root"),
                 ("docker", "allowed_volume_roots", ["/"]), ("docker", "docker_host", "tcp://192.0.2.1:2375"),
                 ("docker", "units_dir", "/etc/systemd/system"), ("docker", "docker_cli", "/bin/sh"),
                 ("docker", "systemd_enable", True)]
for addon, key, val in host_settings:
    st, j, _, _ = req("PATCH", f"/api/v1/addons/{addon}/settings", {key: val})
    msg = (j or {}).get("error", {}).get("message", "")
    check(st == 403 and key in j["error"]["fields"] and f"'webops addon config {addon} {key}=VALUE'" in msg,
          f"PATCH {addon}.{key} over the API: 403 naming it and the command", f"{st} {msg}")
st, j, _, _ = req("PATCH", "/api/v1/addons/proxy-nginx/settings", {"nginx_binary": "/tmp/evil", "client_max_body_size": "1m"})
check(st == 403, "a host setting beside an ordinary one: 403 for the whole change")
st, j, _, _ = req("GET", "/api/v1/addons/proxy-nginx")
sv = {s["name"]: s for s in j["settings"]}
check(sv["nginx_binary"].get("scope") == "host" and sv["nginx_binary"]["source"] != "stored"
      and sv["client_max_body_size"]["source"] != "stored", "...shown as scope host, and nothing was stored")
check("scope" not in sv["client_max_body_size"], "an ordinary setting has no host scope")

# ---- every documented route answers with a documented status ----
req("POST", "/api/v1/deployments", {"name": "doc", "repo_url": REPO})
st, r0, _, _ = req("POST", "/api/v1/deployments/doc/deploy")
samples = {"name": "doc", "id": str(r0["id"]), "action": "restart", "user": "nobody"}
bodies = {("post", "/api/v1/deployments"): {"name": "doc2", "repo_url": REPO},
          ("put", "/api/v1/deployments/{name}/shares/{user}"): {"role": "viewer"},
          ("patch", "/api/v1/deployments/{name}"): {"env_vars": {}},
          ("patch", "/api/v1/addons/{name}/settings"): {}}
for path, ops in spec["paths"].items():
    for method, op in ops.items():
        concrete = path
        for k, v in samples.items():
            concrete = concrete.replace("{" + k + "}", v)
        if "/addons/" in path:
            concrete = path.replace("{name}", "pipetest").replace("{action}", "enable")
        st, j, _, _ = req(method.upper(), concrete, bodies.get((method, path)))
        documented = set(op["responses"].keys())
        check(str(st) in documented, f"{method.upper()} {path} answers {st}, which openapi.json documents")
        if st < 300 and j is not None and "200" in op["responses"] and "content" in op["responses"]["200"]:
            sch = op["responses"]["200"]["content"].get("application/json", {}).get("schema", {})
            if sch.get("type") == "array":
                check(isinstance(j, list), f"{method.upper()} {path} returns an array")

# ---- browser sessions: cookie, CSRF, throttling, revocation ----


def login(user, password, address_hdr=None):
    body = urllib.parse.urlencode({"user": user, "password": password, "next": "/"}).encode()
    st, _, r, text = req("POST", "/login", token=None, raw=body, ctype="application/x-www-form-urlencoded")
    cookie = None
    for k, v in r.getheaders():
        if k.lower() == "set-cookie" and v.startswith("webops_session="):
            cookie = v
    return st, cookie, r


# login CSRF: a login form sent from another site is refused; the own site's works
body = urllib.parse.urlencode({"user": "alice", "password": "correct horse battery", "next": "/"}).encode()
st, _, r, _ = req("POST", "/login", token=None, raw=body, ctype="application/x-www-form-urlencoded",
                  headers={"Origin": "http://evil.example"})
check(st == 403 and not any(k.lower() == "set-cookie" for k, _ in r.getheaders()),
      "a cross-site login POST (Origin of another site): 403, no session")
st, _, r, _ = req("POST", "/login", token=None, raw=body, ctype="application/x-www-form-urlencoded",
                  headers={"Sec-Fetch-Site": "cross-site"})
check(st == 403, "a cross-site login POST (Sec-Fetch-Site): 403")
wrong = urllib.parse.urlencode({"user": "nobody-here", "password": "not the password", "next": "/"}).encode()
st, _, r, _ = req("POST", "/login", token=None, raw=wrong, ctype="application/x-www-form-urlencoded",
                  headers={"Origin": f"http://{U.hostname}:{U.port}"})
check(st == 401, "a login POST from webops' own page gets to the password check", str(st))
# two Content-Length headers that disagree: 400, not a guess
sk = socket.create_connection((U.hostname, U.port), timeout=10)
sk.sendall(b"POST /api/v1/deployments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
           b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}")
answer = b""
try:
    while b"\r\n\r\n" not in answer:
        chunk = sk.recv(4096)
        if not chunk:
            break
        answer += chunk
except OSError:
    pass
sk.close()
check(answer.startswith(b"HTTP/1.1 400"), "two different Content-Length headers: 400", repr(answer[:60]))

st, cookie, r = login("alice", "wrong-password")
check(st == 401 and not cookie, "a wrong password: 401, no cookie")
st, cookie, r = login("alice", "correct horse battery")
check(st == 303 and cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie,
      "login: 303 with an HttpOnly SameSite=Lax cookie", str(cookie))
sid = cookie.split(";")[0].split("=", 1)[1] if cookie else ""
ck = {"Cookie": f"webops_session={sid}"}
st, j, _, _ = req("GET", "/api/v1/deployments", token=None, headers=ck)
check(st == 200, "the session cookie works on the API for reading")
st, j, _, page = req("GET", "/account", token=None, headers=ck)
m = re.search(rb'name="_csrf" value="([^"]+)"', page)
csrf = m.group(1).decode() if m else ""
check(st == 200 and csrf, "pages carry the session's CSRF token")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "s1", "repo_url": REPO}, token=None, headers=ck)
check(st == 403, "an API write with a session but no X-CSRF-Token: 403")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "s1", "repo_url": REPO}, token=None,
                  headers=dict(ck, **{"X-CSRF-Token": "x" * 43}))
check(st == 403, "a wrong X-CSRF-Token: 403")
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "s1", "repo_url": REPO}, token=None,
                  headers=dict(ck, **{"X-CSRF-Token": csrf}))
check(st == 201, "with the session's X-CSRF-Token: 201")
form = urllib.parse.urlencode({"name": "s2", "repo_url": REPO}).encode()
st, _, _, _ = req("POST", "/deployments/new", token=None, headers=ck, raw=form,
                  ctype="application/x-www-form-urlencoded")
check(st == 403, "a form POST without _csrf: 403")
st, j, _, _ = req("GET", "/api/v1/deployments/s2", token=None, headers=ck)
check(st == 404, "...and nothing was created")
form = b"_csrf=" + csrf.encode() + b"&name=s4&repo_url=" + urllib.parse.quote(REPO).encode() + \
    b"&env_key=GREETING&env_value=caf%E9"
st, _, _, page = req("POST", "/deployments/new", token=None, headers=ck, raw=form,
                     ctype="application/x-www-form-urlencoded")
check(st == 422 and b"env &#39;GREETING&#39;" in page or b"env 'GREETING'" in page,
      "the form refuses an env value that is not UTF-8, naming it", str(st))
st, j, _, _ = req("GET", "/api/v1/deployments/s4", token=None, headers=ck)
check(st == 404, "...and stores nothing")
st, _, r, _ = req("GET", "/", token=None, headers={"Cookie": "webops_session=" + "A" * 43})
check(st == 303 and r.getheader("Location", "").startswith("/login"), "a made-up session cookie: off to /login")
st, j, _, _ = req("GET", "/api/v1/deployments", token=None, headers={"Cookie": "webops_session=" + "A" * 43})
check(st == 401, "a made-up session cookie on the API: 401")
# bob cannot end alice's session, alice's CSRF token is no good with bob's session
st, bcookie, _ = login("bob", "another good password")
bsid = bcookie.split(";")[0].split("=", 1)[1] if bcookie else ""
bck = {"Cookie": f"webops_session={bsid}"}
st, j, _, _ = req("POST", "/api/v1/deployments", {"name": "s3", "repo_url": REPO}, token=None,
                  headers=dict(bck, **{"X-CSRF-Token": csrf}))
check(st == 403, "another user's CSRF token does not work with my session")
st, j, _, bpage = req("GET", "/account", token=None, headers=bck)
bcsrf = re.search(rb'name="_csrf" value="([^"]+)"', bpage).group(1).decode()
alice_sessions = json.loads(os.popen(os.environ["W"] + " session list --user alice --json").read())
aid = alice_sessions[0]["id"]
body = urllib.parse.urlencode({"_csrf": bcsrf}).encode()
st, _, _, _ = req("POST", f"/account/sessions/{aid}/revoke", token=None, headers=bck, raw=body,
                  ctype="application/x-www-form-urlencoded")
st2, j, _, _ = req("GET", "/api/v1/deployments", token=None, headers=ck)
check(st2 == 200, "bob cannot revoke alice's session", f"(revoke answered {st})")
# the addons page shows host settings read-only, and a crafted form is refused
# (alice, the first user, is an admin: even an admin cannot change them over HTTP)
st, j, _, page = req("GET", "/addons", token=None, headers=ck)
check(st == 200 and b'name="s.nginx_binary"' not in page and b'name="s.allowed_volume_roots"' not in page
      and b"A host setting" in page, "the addons page has no input for a host setting")
form = urllib.parse.urlencode({"_csrf": csrf, "s.nginx_binary": "/tmp/evil"}).encode()
st, _, _, page = req("POST", "/addons/proxy-nginx/settings", token=None, headers=ck, raw=form,
                     ctype="application/x-www-form-urlencoded")
check(st == 403 and b"webops addon config proxy-nginx nginx_binary=VALUE" in page,
      "a form that sets a host setting: 403 naming the command", str(st))
form = urllib.parse.urlencode({"_csrf": csrf, "unset": "allowed_volume_roots"}).encode()
st, _, _, page = req("POST", "/addons/docker/settings", token=None, headers=ck, raw=form,
                     ctype="application/x-www-form-urlencoded")
check(st == 403, "a form that removes a host setting: 403", str(st))
st, j, _, _ = req("GET", "/api/v1/addons/proxy-nginx", token=None, headers=ck)
check({s["name"]: s for s in j["settings"]}["nginx_binary"]["source"] != "stored", "...nothing stored")
os.system(os.environ["W"] + f" session revoke {aid} >/dev/null")
# the HTTP process drops what it remembered when the revocation's NOTIFY
# arrives: milliseconds after the CLI's commit, so allow it that long
t_rev = time.time()
for _ in range(200):
    st, j, _, _ = req("GET", "/api/v1/deployments", token=None, headers=ck)
    if st == 401:
        break
    time.sleep(0.01)
check(st == 401, "a revoked session is no longer valid", f"(still valid after {time.time() - t_rev:.2f} s)")
st, _, r, _ = req("POST", "/logout", token=None, headers=bck, raw=body, ctype="application/x-www-form-urlencoded")
st2, j, _, _ = req("GET", "/api/v1/deployments", token=None, headers=bck)
check(st == 303 and st2 == 401, "logout ends the session")
# throttling: a name that keeps failing is slowed, then refused with 429
codes = [login("carol", f"guess-{i}")[0] for i in range(6)]
check(codes[:3] == [401, 401, 401] and 429 in codes[3:], "repeated failed logins are answered 429", str(codes))
st, _, r = login("carol", "guess-x")
check(st == 429 and int(r.getheader("Retry-After", "0")) > 0, "429 carries Retry-After")

# ---- one address holding hundreds of connections does not stop the others ----
hogs = []
for _ in range(300):
    try:
        h = socket.create_connection((U.hostname, U.port), timeout=5)
        h.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
        hogs.append(h)
    except OSError:
        break
t0 = time.time()
other = socket.socket()
other.settimeout(10)
other.bind(("127.0.0.2", 0))
try:
    other.connect((U.hostname, U.port))
    other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = other.recv(64)
except OSError as e:
    got = repr(e).encode()
other.close()
check(got.startswith(b"HTTP/1.1 200"), f"with {len(hogs)} connections held open from 127.0.0.1, "
      f"127.0.0.2 is answered ({time.time() - t0:.2f} s)", repr(got[:60]))
refused = 0
for h in hogs:
    try:
        h.settimeout(0.05)
        if h.recv(1) == b"":
            refused += 1
    except socket.timeout:
        pass
    except OSError:
        refused += 1
    h.close()
# (a connection is counted once MHD set it up: a few may slip past the count)
check(len(hogs) - refused <= 132, f"...at most 128 (+ a few in flight) of them stayed open ({len(hogs) - refused} of {len(hogs)})")

# a client trickling its headers a byte a second is cut off at the header
# deadline (WEBOPS_HTTP_HEADER_TIMEOUT_S, 3 s here), however often it sends
deadline = int(os.environ.get("WEBOPS_HTTP_HEADER_TIMEOUT_S", "30"))
slow = socket.create_connection((U.hostname, U.port), timeout=2)
slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
t0 = time.time()
closed_after = None
while time.time() - t0 < deadline + 10:
    try:
        slow.sendall(b"X")
        slow.settimeout(1)
        got = slow.recv(64)
        if got == b"" or got.startswith(b"HTTP/1.1 4"):
            closed_after = time.time() - t0
            break
    except socket.timeout:
        continue
    except OSError:
        closed_after = time.time() - t0
        break
slow.close()
check(closed_after is not None and closed_after < deadline + 3,
      f"a client trickling header bytes is cut off at the {deadline} s header deadline "
      f"({'%.1f s' % closed_after if closed_after is not None else 'never'})")

# creating deployments whose repository never answers holds no HTTP thread:
# the default-branch lookup waits with the request suspended
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(64)
silent_port = silent.getsockname()[1]
held_by_silent = []
def accept_silently():
    while True:
        try:
            c, _ = silent.accept()
        except OSError:
            return
        held_by_silent.append(c)
threading.Thread(target=accept_silently, daemon=True).start()
creates = {}
def create_silent(i):
    st, j, _, _ = req("POST", "/api/v1/deployments", {"name": f"silent{i}", "repo_url": f"http://127.0.0.1:{silent_port}/r{i}.git"})
    creates[i] = (st, j)
workers = [threading.Thread(target=create_silent, args=(i,)) for i in range(8)]
for w in workers:
    w.start()
for _ in range(100):
    if len(held_by_silent) >= 8:
        break
    time.sleep(0.1)
t0 = time.time()
h = req("GET", "/healthz", token=None)[0]
dt = time.time() - t0
check(len(held_by_silent) >= 8 and h == 200 and dt < 2,
      f"8 creates waiting on a silent repository, /healthz answers in {dt:.2f} s", f"{len(held_by_silent)} waiting, {h}")
t0 = time.time()
st = req("GET", "/api/v1/deployments")[0]
dt = time.time() - t0
check(st == 200 and dt < 2, f"...and the API too ({dt:.2f} s)", str(st))
for w in workers:
    w.join(60)
check(all(creates.get(i, (0,))[0] == 201 for i in range(8)),
      "...then each create finishes (201, on the default branch 'main' when the repository cannot say)",
      repr({i: creates.get(i, (None,))[0] for i in range(8)}))
check(all((creates.get(i, (0, {}))[1] or {}).get("branch") == "main" for i in range(8)), "...with branch main",
      repr([(creates.get(i, (0, {}))[1] or {}).get("branch") for i in range(8)]))
silent.close()
for c in held_by_silent:
    c.close()
# and with a repository that answers, the create takes its default branch
git_repo = os.environ.get("TRUNK_REPO")
if git_repo:
    st, j, _, text = req("POST", "/api/v1/deployments", {"name": "trunky", "repo_url": git_repo})
    check(st == 201 and (j or {}).get("branch") == "trunk",
          "a create without a branch takes the repository's default branch (trunk)", f"{st} {text[:200]!r}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
