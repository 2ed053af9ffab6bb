"""Who may do what, asked of a real webopsd by test_roles.sh: every route of
core/http/router.c for every kind of principal, from one table. An answer
is judged as one of
  ok      the route's handler ran (any status but 401, 403 and the access
          check's own 404 "not found")
  403     not allowed: the principal may see the subject but not do this
  404     hidden: the same answer as for a deployment that does not exist
Probes are chosen so that an allowed request changes nothing (a body the
handler refuses with 422, an unknown action, a finished run)."""
import base64
import html
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse

BASE = os.environ["BASE"]
U = urllib.parse.urlparse(BASE)
W = os.environ["W"]
REPO = os.environ["REPO"]
passed = failed = 0


def check(cond, desc, extra=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   - {desc}")
    else:
        failed += 1
        print(f"FAIL - {desc} {extra}")


def req(method, path, body=None, token=None, cookie=None, csrf=None, form=None, basic=None):
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
    h = {}
    data = None
    if token:
        h["Authorization"] = f"Bearer {token}"
    if basic:
        h["Authorization"] = "Basic " + base64.b64encode(f"x:{basic}".encode()).decode()
    if cookie:
        h["Cookie"] = f"webops_session={cookie}"
        if csrf and form is None:
            h["X-CSRF-Token"] = csrf
    if form is not None:
        f = dict(form)
        if csrf:
            f["_csrf"] = csrf
        data = urllib.parse.urlencode(f).encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    # an event stream goes on: its status is the answer
    text = b"" if (r.getheader("Content-Type") or "").startswith("text/event-stream") else r.read()
    c.close()
    return r.status, text.decode("utf-8", "replace")


def login(user):
    form = urllib.parse.urlencode({"user": user, "password": f"password-of-{user}", "next": "/"}).encode()
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
    c.request("POST", "/login", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    sid = None
    for k, v in r.getheaders():
        if k.lower() == "set-cookie" and v.startswith("webops_session="):
            sid = v.split(";")[0].split("=", 1)[1]
    c.close()
    st, page = req("GET", "/account", cookie=sid)
    m = re.search(r'name="_csrf" value="([^"]+)"', page)
    return sid, m.group(1) if m else ""


def cli(*args):
    return subprocess.run([W, *args], capture_output=True, text=True)


# ---- the world: deployments owned and shared ----
host = os.environ["TOK_HOST"]
alice_tok = os.environ["TOK_ALICE"]
st, _ = req("POST", "/api/v1/deployments", {"name": "site", "repo_url": REPO,
                                             "addon_fields": {"pipetest": {"pipetest_mode": "none"}}}, token=alice_tok)
check(st == 201, "alice (a member) creates 'site' over the API", str(st))
st, _ = req("POST", "/api/v1/deployments", {"name": "other", "repo_url": REPO}, token=os.environ["TOK_BOB"])
check(st == 201, "bob (a member) creates 'other'", str(st))
st, body = req("GET", "/api/v1/deployments/site", token=host)
check(st == 200 and json.loads(body).get("owner") == "alice", "site is owned by its creator, alice", body[:200])
st, body = req("PUT", "/api/v1/deployments/site/shares/carol", {"role": "member"}, token=alice_tok)
check(st == 200, "alice shares site with carol as a member", body[:200])
r = cli("deployment", "share", "site", "vic")
check(r.returncode == 0 and "as viewer" in r.stdout, "the CLI shares site with vic (viewer by default)", r.stderr)
r = cli("deployment", "owner", "site", "--json")
j = json.loads(r.stdout) if r.returncode == 0 else {}
check(j.get("owner") == "alice" and {s["user"]: s["role"] for s in j.get("shares", [])} == {"carol": "member", "vic": "viewer"},
      "deployment owner shows the owner and the shares", r.stdout + r.stderr)
st, body = req("PUT", "/api/v1/deployments/site/shares/alice", {"role": "viewer"}, token=host)
check(st == 422 and "owns deployment 'site' already" in body, "sharing with its owner is refused", body[:200])
# a finished run of site (deployed by the admin)
st, body = req("POST", "/api/v1/deployments/site/deploy", token=host)
RUN = json.loads(body)["id"] if st == 202 else 0
check(st == 202, "the host's token deploys site", body[:200])
r = subprocess.run([W, "runs", "site", "--json"], capture_output=True, text=True)
for _ in range(300):
    st, body = req("GET", f"/api/v1/runs/{RUN}", token=host)
    if st == 200 and json.loads(body)["status"] not in ("queued", "running"):
        break
    __import__("time").sleep(0.1)
check(json.loads(body)["status"] == "succeeded", f"run {RUN} of site finished", body[:200])

# a token limited to site that may deploy (made by the CLI; roles.py also
# makes one through the form below)
r = cli("token", "create", "site-ci", "--user", "alice", "--scope", "deploy", "--deployment", "site")
CI = r.stdout.strip()
check(r.returncode == 0 and CI.startswith("wo_"), "a deploy token limited to site", r.stderr)
r = cli("token", "list", "--json")
tl = {t["name"]: t for t in json.loads(r.stdout)}
check(tl["site-ci"]["scope"] == "deploy" and tl["site-ci"]["deployments"] == ["site"] and tl["site-ci"]["user"] == "alice",
      "token list shows its scope, user and deployments", json.dumps(tl.get("site-ci")))

# ---- principals ----
sessions = {u: login(u) for u in ("root", "alice", "carol", "vic", "bob")}
for u, (sid, csrf) in sessions.items():
    check(bool(sid and csrf), f"{u} logs in")
P = {
    # name: how to ask (API: token or session; pages: session only)
    "admin": {"token": host, "session": sessions["root"]},
    "owner": {"token": alice_tok, "session": sessions["alice"]},
    "member": {"session": sessions["carol"]},      # site shared with carol as member
    "viewer": {"token": os.environ["TOK_VIC"], "session": sessions["vic"]},
    "outsider": {"token": os.environ["TOK_BOB"], "session": sessions["bob"]},
    "read-token": {"token": os.environ["TOK_ALICE_READ"]},   # alice's, scope read
    "site-ci": {"token": CI},                                 # alice's, deploy, site only
}
API_ONLY = {"read-token", "site-ci"}

ok, F, H = "ok", "403", "404"
# route (method, pattern as in router.c), concrete path, body (JSON, or a
# form for pages), then the expected judgement per principal:
#   admin owner member viewer outsider read-token site-ci
NOT_FOUND_WORDS = ("not found", "There is no such", "could not be found")
T = [
    # ---- API ----
    ("GET", "/api/v1/deployments", "/api/v1/deployments", None, [ok, ok, ok, ok, ok, ok, F]),
    ("POST", "/api/v1/deployments", "/api/v1/deployments", {"name": "x", "repo_url": ""}, [ok, ok, ok, F, ok, F, F]),
    ("GET", "/api/v1/deployments/{name}", "/api/v1/deployments/site", None, [ok, ok, ok, ok, H, ok, ok]),
    ("PATCH", "/api/v1/deployments/{name}", "/api/v1/deployments/site", {"port": 0}, [ok, ok, ok, F, H, F, F]),
    ("DELETE", "/api/v1/deployments/{name}", "/api/v1/deployments/site", None, [None, None, F, F, H, F, F]),
    ("POST", "/api/v1/deployments/{name}/deploy", "/api/v1/deployments/site/deploy", {"ref": 5}, [ok, ok, ok, F, H, F, ok]),
    ("GET", "/api/v1/deployments/{name}/runs", "/api/v1/deployments/site/runs", None, [ok, ok, ok, ok, H, ok, ok]),
    ("GET", "/api/v1/deployments/{name}/releases", "/api/v1/deployments/site/releases", None, [ok, ok, ok, ok, H, ok, ok]),
    ("GET", "/api/v1/deployments/{name}/webhooks", "/api/v1/deployments/site/webhooks", None, [ok, ok, ok, ok, H, ok, ok]),
    ("GET", "/api/v1/deployments/{name}/health", "/api/v1/deployments/site/health", None, [ok, ok, ok, ok, H, ok, ok]),
    ("GET", "/api/v1/deployments/{name}/shares", "/api/v1/deployments/site/shares", None, [ok, ok, ok, ok, H, ok, ok]),
    ("PUT", "/api/v1/deployments/{name}/shares/{user}", "/api/v1/deployments/site/shares/bob", {"role": "boss"},
     [ok, ok, F, F, H, F, F]),
    ("DELETE", "/api/v1/deployments/{name}/shares/{user}", "/api/v1/deployments/site/shares/root", None,
     [ok, ok, F, F, H, F, F]),
    ("POST", "/api/v1/deployments/{name}/{action}", "/api/v1/deployments/site/explode", None, [ok, ok, ok, F, H, F, ok]),
    ("GET", "/api/v1/health", "/api/v1/health", None, [ok, ok, ok, ok, ok, ok, F]),
    ("GET", "/api/v1/runs/{id}", f"/api/v1/runs/{RUN}", None, [ok, ok, ok, ok, H, ok, ok]),
    ("POST", "/api/v1/runs/{id}/cancel", f"/api/v1/runs/{RUN}/cancel", None, [ok, ok, ok, F, H, F, ok]),
    ("GET", "/api/v1/runs/{id}/log", f"/api/v1/runs/{RUN}/log", None, [ok, ok, ok, ok, H, ok, ok]),
    ("GET", "/api/v1/addons", "/api/v1/addons", None, [ok, ok, ok, ok, ok, ok, F]),
    ("GET", "/api/v1/addons/{name}", "/api/v1/addons/pipetest", None, [ok, ok, ok, ok, ok, ok, F]),
    ("PATCH", "/api/v1/addons/{name}/settings", "/api/v1/addons/pipetest/settings", {"nope": 1}, [ok, F, F, F, F, F, F]),
    ("POST", "/api/v1/addons/{name}/{action}", "/api/v1/addons/pipetest/explode", None, [ok, F, F, F, F, F, F]),
    ("GET", "/api/v1/users", "/api/v1/users", None, [ok, F, F, F, F, F, F]),
    ("GET", "/metrics", "/metrics", None, [ok, F, F, F, F, F, F]),
    ("GET", "/git/{repo}/info/refs", "/git/site.git/info/refs?service=git-receive-pack", None, [ok, ok, ok, F, H, F, ok]),
    ("POST", "/git/{repo}/{service}", "/git/site.git/git-upload-pack", None, [ok, ok, ok, ok, H, ok, ok]),
    # ---- pages (sessions) ----
    ("POST", "/logout", None, None, None),
    ("GET", "/", "/", None, [ok, ok, ok, ok, ok]),
    ("GET", "/deployments/new", "/deployments/new", None, [ok, ok, ok, F, ok]),
    ("POST", "/deployments/new", "/deployments/new", {"name": "", "repo_url": ""}, [ok, ok, ok, F, ok]),
    ("GET", "/deployments/{name}", "/deployments/site", None, [ok, ok, ok, ok, H]),
    ("POST", "/deployments/{name}", "/deployments/site", {"port": "-1"}, [ok, ok, ok, F, H]),
    ("POST", "/deployments/{name}/deploy", "/deployments/site/deploy", {}, [None, None, None, F, H]),
    ("POST", "/deployments/{name}/webhook", "/deployments/site/webhook", {"action": "show"}, [ok, ok, ok, F, H]),
    ("POST", "/deployments/{name}/share", "/deployments/site/share", {"user": "bob", "role": "boss"}, [ok, ok, F, F, H]),
    ("GET", "/deployments/{name}/delete", "/deployments/site/delete", None, [ok, ok, F, F, H]),
    ("GET", "/live", "/live", None, [ok, ok, ok, ok, ok]),
    ("GET", "/deployments/{name}/live", "/deployments/site/live", None, [ok, ok, ok, ok, H]),
    ("GET", "/deployments/{name}/logs/stream", "/deployments/site/logs/stream", None, [ok, ok, ok, ok, H]),
    ("POST", "/deployments/{name}/delete", "/deployments/site/delete", {}, [None, None, F, F, H]),
    ("POST", "/deployments/{name}/{action}", "/deployments/site/explode", {}, [ok, ok, ok, F, H]),
    ("GET", "/runs/{id}", f"/runs/{RUN}", None, [ok, ok, ok, ok, H]),
    ("POST", "/runs/{id}/cancel", f"/runs/{RUN}/cancel", {}, [ok, ok, ok, F, H]),
    ("GET", "/addons", "/addons", None, [ok, ok, ok, ok, ok]),
    ("POST", "/addons/{name}/settings", "/addons/pipetest/settings", {"s.sleep_ms": "-5"}, [ok, F, F, F, F]),
    ("POST", "/addons/{name}/{action}", "/addons/pipetest/explode", {}, [ok, F, F, F, F]),
    ("GET", "/account", "/account", None, [ok, ok, ok, ok, ok]),
    ("POST", "/account/tokens", "/account/tokens", {"name": "bad name!"}, [ok, ok, ok, ok, ok]),
    ("POST", "/account/tokens/{name}/revoke", "/account/tokens/nope/revoke", {}, [ok, ok, ok, ok, ok]),
    ("POST", "/account/sessions/{id}/revoke", "/account/sessions/999999/revoke", {}, [ok, ok, ok, ok, ok]),
    ("GET", "/users", "/users", None, [ok, F, F, F, F]),
    ("POST", "/users", "/users", {"name": "", "password": ""}, [ok, F, F, F, F]),
    ("POST", "/users/{name}/{action}", "/users/nobody/role", {"role": "boss"}, [ok, F, F, F, F]),
]
ORDER = ["admin", "owner", "member", "viewer", "outsider", "read-token", "site-ci"]
PUBLIC = {("GET", "/api/v1/openapi.json"), ("GET", "/healthz"), ("POST", "/hooks/{name}"), ("GET", "/static/{file}"),
          ("GET", "/login"), ("POST", "/login"), ("GET", "/setup/{token}"), ("POST", "/setup/{token}")}

# every route of the table in router.c is here (or public)
src = open(os.path.join(os.environ["WEBOPS_SOURCE_DIR"], "core/http/router.c")).read()
routes = set(re.findall(r'\{ "([A-Z]+)", "([^"]+)",', src))
covered = {(m, p) for m, p, *_ in T}
missing = routes - covered - PUBLIC
check(not missing, f"the table covers all {len(routes)} routes of router.c", f"missing: {sorted(missing)}")


def judge(st, text, route_says_404):
    if st in (401,):
        return "401"
    if st == 403:
        return F
    if st == 404 and not route_says_404(text):
        return H
    return ok


for method, pattern, path, body, expect in T:
    if expect is None:
        continue
    is_api = path.startswith("/api/") or path.startswith("/git/") or path == "/metrics"
    for who, want in zip(ORDER, expect):
        if want is None:
            continue
        p = P[who]
        if is_api:
            if path.startswith("/git/"):
                st, text = req(method, path, basic=p.get("token") or None, cookie=None)
                if "token" not in p:
                    continue
            elif "token" in p:
                st, text = req(method, path, body=body, token=p["token"])
            else:
                sid, csrf = p["session"]
                st, text = req(method, path, body=body, cookie=sid, csrf=csrf)
        else:
            if "session" not in p:
                continue
            sid, csrf = p["session"]
            st, text = req(method, path, cookie=sid, csrf=csrf, form=body if method == "POST" else None)
        # a 404 of the handler itself (an unknown action, a token or user that
        # does not exist) is not the access check's: it does not name the
        # deployment or run as missing
        handler_404 = lambda t: not re.search(r"deployment 'site' not found|there is no deployment 'site'|run \d+ not found|"
                                              r"There is no such deployment", t)
        got = judge(st, html.unescape(text), handler_404)
        check(got == want, f"{method} {pattern} as {who}: {want}", f"(got {st}: {text[:160]!r})")

# ---- what lists show ----
def names(token=None, session=None):
    if token:
        st, body = req("GET", "/api/v1/deployments", token=token)
    else:
        st, body = req("GET", "/api/v1/deployments", cookie=session[0])
    return sorted(d["name"] for d in json.loads(body)) if st == 200 else st


check(names(token=host) == ["other", "site"], "the admin lists every deployment")
check(names(token=alice_tok) == ["site"], "alice lists hers")
check(names(token=os.environ["TOK_BOB"]) == ["other"], "bob lists his")
check(names(token=os.environ["TOK_VIC"]) == ["site"], "vic lists what is shared with him")
st, page = req("GET", "/", cookie=sessions["bob"][0])
check(st == 200 and "/deployments/other" in page and "/deployments/site" not in page,
      "the deployments page shows bob only his")
st, body = req("GET", "/api/v1/health", token=os.environ["TOK_BOB"])
check(st == 200 and all(h.get("deployment") != "site" for h in json.loads(body)), "the health list is filtered too")
st, page = req("GET", "/deployments/site", cookie=sessions["vic"][0])
check(st == 200 and "Save sharing" not in page, "a viewer is not offered the sharing form")
st, page = req("GET", "/deployments/site", cookie=sessions["alice"][0])
check(st == 200 and "Save sharing" in page and "carol" in page, "the owner sees the shares and the form")
st, page = req("GET", "/", cookie=sessions["root"][0])
check('href="/users"' in page, "admins have a Users link")
st, page = req("GET", "/", cookie=sessions["alice"][0])
check('href="/users"' not in page, "members do not")

# ---- tokens: one's own ----
sid, csrf = sessions["bob"]
st, page = req("POST", "/account/tokens", cookie=sid, csrf=csrf,
               form={"name": "bob-form", "scope": "read", "deployments": "other", "expires": "0"})
m = re.search(r"(wo_[A-Za-z0-9_-]{43})", page)
check(st == 201 and m, "the form makes a read token limited to bob's deployment", str(st))
bob_form = m.group(1) if m else ""
st, _ = req("GET", "/api/v1/deployments/other", token=bob_form)
st2, _ = req("POST", "/api/v1/deployments/other/deploy", token=bob_form)
check(st == 200 and st2 == 403, "...it reads 'other' and cannot deploy it", f"{st} {st2}")
st, page = req("POST", "/account/tokens", cookie=sid, csrf=csrf, form={"name": "bob-x", "deployments": "site"})
check(st == 422 and "that you may read" in page, "a token cannot be limited to a deployment one cannot read", str(st))
st, page = req("GET", "/account", cookie=sid)
check("bob-form" in page and "alice-all" not in page and "site-ci" not in page, "bob's account lists only his tokens")
st, page = req("GET", "/account", cookie=sessions["root"][0])
check("bob-form" in page and "alice-all" in page, "an admin's account lists every token")
st, _ = req("POST", "/account/tokens/alice-all/revoke", cookie=sid, csrf=csrf, form={})
st2, _ = req("GET", "/api/v1/deployments/site", token=alice_tok)
check(st == 404 and st2 == 200, "bob cannot revoke alice's token by its name", f"{st} {st2}")

# ---- a token never exceeds its owner's role ----
r = cli("user", "role", "alice", "viewer")
check(r.returncode == 0, "alice becomes a viewer", r.stderr)
# the HTTP process forgets what it remembered of her when the change's
# NOTIFY arrives: milliseconds after the CLI's commit
t_role = __import__("time").time()
for _ in range(200):
    st, body = req("PATCH", "/api/v1/deployments/site", {"port": 0}, token=alice_tok)
    if st == 403:
        break
    __import__("time").sleep(0.01)
check(st == 403, "her manage token may no longer change her own deployment",
      f"{st} {body[:200]} (after {__import__('time').time() - t_role:.2f} s)")
st, _ = req("GET", "/api/v1/deployments/site", token=alice_tok)
check(st == 200, "...but still reads it")
r = cli("user", "role", "alice", "member")
for _ in range(200):
    st, body = req("PATCH", "/api/v1/deployments/site", {"port": 0}, token=alice_tok)
    if st == 422:
        break
    __import__("time").sleep(0.01)
check(st == 422, "made a member again, her token may change her deployment again", f"{st} {body[:200]}")

# ---- the limited token: site and nothing else ----
st, _ = req("POST", "/api/v1/deployments/other/deploy", token=CI)
check(st == 404, "site-ci cannot see 'other'")
st, body = req("POST", "/api/v1/deployments/site/deploy", token=CI)
check(st == 202, "site-ci deploys site", f"{st} {body[:200]}")
st, body = req("DELETE", "/api/v1/deployments/site", token=CI)
check(st == 403 and "scope" in body, "site-ci cannot delete it, saying why", body[:200])

# ---- a repository on the host: only under the host's WEBOPS_LOCAL_REPO_ROOTS (/tmp here) ----
for bad_url in ("file:///etc", "/root", "file:///tmp/../etc"):
    st, body = req("POST", "/api/v1/deployments", {"name": "local1", "repo_url": bad_url, "branch": "main"},
                   token=host)
    check(st == 422 and "it is a repository on this host" in body and "WEBOPS_LOCAL_REPO_ROOTS" in body,
          f"repo_url {bad_url} over HTTP is refused, even for an admin", f"{st} {body[:300]}")
r = cli("deployment", "create", "local2", "--repo", "file:///etc", "--branch", "main")
check(r.returncode == 0, "the host's operator may use any local repository with the CLI", r.stderr)

# ---- container options that reach into the host: admins only ----
vols = os.environ["VOLS"]
def docker_create(token, name, **fields):
    af = {"docker": dict(use_docker=True, **fields)}
    return req("POST", "/api/v1/deployments", {"name": name, "repo_url": REPO, "addon_fields": af}, token=token)
st, body = docker_create(alice_tok, "hv1", docker_volumes=[f"{vols}/a:/data"])
check(st == 422 and "binds a host path, which only admins may do" in body and "alice" in body,
      "a member cannot bind a host path, even under an allowed root", f"{st} {body[:300]}")
st, body = docker_create(alice_tok, "hv2", docker_volumes=["appdata:/data"])
check(st == 201, "a member may use a named volume", f"{st} {body[:300]}")
st, body = docker_create(alice_tok, "hv3", docker_network_mode="host")
check(st == 422 and "host networking is for admins" in body, "a member cannot use host networking", f"{st} {body[:300]}")
st, body = docker_create(host, "hv4", docker_volumes=[f"{vols}/a:/data"], docker_network_mode="host")
check(st == 201, "an admin may, where the host allows it", f"{st} {body[:300]}")
st, body = docker_create(host, "hv5", docker_volumes=["/etc:/x"])
check(st == 422 and "not under an allowed volume root" in body, "not even an admin outside the allowed roots",
      f"{st} {body[:300]}")
r = subprocess.run([W, "deployment", "create", "hv6", "--repo", REPO, "--set", "use_docker=true",
                    "--set", "docker_network_mode=host"], capture_output=True, text=True,
                   env=dict(os.environ, WEBOPS_DOCKER_ALLOW_HOST_NETWORK="false"))
check(r.returncode != 0 and "host networking is not allowed on this host" in r.stderr
      and "allow_host_network=true" in r.stderr, "host networking needs the host's allow_host_network", r.stderr)
r = cli("deployment", "owner", "hv4", "alice")
st, body = req("PATCH", "/api/v1/deployments/hv4", {"env_vars": {"A": "1"}}, token=alice_tok)
check(st == 422 and "admins" in body, "a member cannot change a deployment that uses host options",
      f"{st} {body[:300]}")

# ---- owners delete; the admin sees it go ----
st, body = req("DELETE", "/api/v1/deployments/other", token=os.environ["TOK_BOB"])
check(st in (200, 202, 204), "bob deletes his deployment", f"{st} {body[:200]}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
