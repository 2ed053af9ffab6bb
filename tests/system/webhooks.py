"""Webhook deliveries through a real webopsd, shaped as each forge documents
them and signed with the deployment's secret (run by test_webhooks.sh)."""
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
import uuid

BASE = os.environ["BASE"]
TOKEN = os.environ["TOKEN"]
NAME = os.environ["NAME"]
SECRET = os.environ["SECRET"]
MAIN_SHA = os.environ["MAIN_SHA"]
DEV_SHA = os.environ["DEV_SHA"]
U = urllib.parse.urlparse(BASE)
passed = failed = 0
timings = []


def check(cond, desc, extra=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   - {desc}", flush=True)
    else:
        failed += 1
        print(f"FAIL - {desc} {extra}", flush=True)


def post(path, body, headers):
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
    t0 = time.monotonic()
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    text = r.read()
    timings.append((time.monotonic() - t0) * 1000)
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, None


def api(path):
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
    c.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    r = c.getresponse()
    j = json.loads(r.read())
    c.close()
    return j


def sig(body, secret=SECRET):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github(event, payload, secret=SECRET, delivery=None, form=False, signed=True):
    body = json.dumps(payload).encode()
    ctype = "application/json"
    if form:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        ctype = "application/x-www-form-urlencoded"
    h = {"Content-Type": ctype, "X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
         "User-Agent": "GitHub-Hookshot/test"}
    if signed:
        h["X-Hub-Signature-256"] = "sha256=" + sig(body, secret)
    return post(f"/hooks/{NAME}", body, h)


def wait_run(run_id, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        r = api(f"/api/v1/runs/{run_id}")
        if r["status"] not in ("queued", "running"):
            return r
        time.sleep(0.2)
    return r


def new_main_commit(msg):
    """A new commit on main in the deployment's repository; its id."""
    repo = os.environ["REPO"]
    subprocess.run(["git", "-C", repo, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-q", "--allow-empty",
                    "-m", msg], check=True)
    return subprocess.run(["git", "-C", repo, "rev-parse", "main"], check=True, capture_output=True,
                          text=True).stdout.strip()


def runs_count():
    return len(api(f"/api/v1/deployments/{NAME}/runs?limit=500"))


push_main = {"ref": "refs/heads/main", "before": "0" * 39 + "1", "after": MAIN_SHA, "deleted": False,
             "repository": {"full_name": "owner/site", "clone_url": "https://github.com/owner/site.git"},
             "pusher": {"name": "octocat"}, "head_commit": {"id": MAIN_SHA, "message": "v1"}}

# --- GitHub: ping, then a push of the branch deploys exactly 'after' ---
st, j = github("ping", {"zen": "Design for failure.", "hook_id": 1})
check(st == 200 and j["verdict"] == "ping", "GitHub ping: 200")
before = runs_count()
delivery = str(uuid.uuid4())
st, j = github("push", push_main, delivery=delivery)
check(st == 202 and j["verdict"] == "queued" and j.get("run"), "a signed push of the branch queues a run", str(j))
run = wait_run(j["run"])
HEAD_SHA = os.environ["HEAD_SHA"]
check(run["status"] == "succeeded" and run["trigger"] == "webhook" and run["commit"]["sha"] == HEAD_SHA,
      "the run deploys the branch as it is (its head, which holds the pushed commit), trigger webhook", str(run))
d = api(f"/api/v1/deployments/{NAME}")
check(d["current_commit"] == HEAD_SHA, "the deployment is at the branch's head")
# replay: same delivery id
st, j2 = github("push", push_main, delivery=delivery)
check(st == 200 and j2["verdict"] == "duplicate" and j2.get("run") == j["run"], "a redelivery starts nothing", str(j2))
check(runs_count() == before + 1, "exactly one run for the delivery and its replay")

# --- refusals: nothing starts ---
n0 = runs_count()
body = json.dumps(push_main).encode()
st, j = post(f"/hooks/{NAME}", body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                                      "X-GitHub-Delivery": str(uuid.uuid4())})
check(st == 401 and "not signed" in j["error"]["message"], "an unsigned delivery: 401")
st, j = github("push", push_main, secret="not-the-secret")
check(st == 401 and "does not match" in j["error"]["message"], "a wrongly signed delivery: 401")
st, j = post(f"/hooks/{NAME}", body, {"Content-Type": "application/json",
                                      "X-Hub-Signature-256": "sha256=" + sig(body)})
check(st == 401, "a delivery from no known forge: 401")
# the signature covers the raw bytes: re-serialised JSON fails
tampered = body.replace(b'"deleted": false', b'"deleted":false')
st, j = post(f"/hooks/{NAME}", tampered, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                                          "X-Hub-Signature-256": "sha256=" + sig(body)})
check(st == 401, "the same JSON with other bytes: 401 (raw-body signature)")
st, j = github("push", push_main | {"ref": "refs/heads/dev", "after": DEV_SHA})
check(st == 202 and j["verdict"] == "ignored" and "dev" in j["reason"], "a push to another branch: 202, ignored, says why")
st, j = github("push", push_main | {"after": "0" * 40, "deleted": True})
check(st == 202 and j["verdict"] == "ignored" and "deleted" in j["reason"], "a branch deletion: 202, ignored")
st, j = github("push", push_main | {"ref": "refs/tags/v1.0"})
check(st == 202 and j["verdict"] == "ignored" and "tag" in j["reason"], "a tag push: 202, ignored")
st, j = github("issues", {"action": "opened"})
check(st == 202 and j["verdict"] == "ignored", "a non-push event: 202, ignored")
st, j = post("/hooks/nosuch", body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                                     "X-Hub-Signature-256": "sha256=" + sig(body)})
st2, j2 = post(f"/hooks/{NAME}", body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                                        "X-Hub-Signature-256": "sha256=" + "0" * 64})
check(st == 401 and st2 == 401 and j == j2,
      "an unknown name answers as a wrong signature to a known one: names cannot be probed", f"{st} {j} / {st2} {j2}")
import re
import socket


def oversized(n):
    """A body over the cap; the server may answer 413 and close before reading it all."""
    s = socket.create_connection((U.hostname, U.port), timeout=30)
    s.sendall((f"POST /hooks/{NAME} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"X-GitHub-Event: push\r\nContent-Length: {n}\r\n\r\n").encode())
    try:
        s.sendall(b" " * n)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        data = s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    return int(m.group(1)) if m else 0


check(oversized(5 * 1024 * 1024 + 10) == 413, "a body over 5 MiB: 413")
st, j = github("ping", {"zen": "x" * (2 * 1024 * 1024)})
check(st == 200, "a 2 MiB delivery is within the webhook limit (over the API's 1 MiB)")
check(runs_count() == n0, "none of these started a run")

# --- form-encoded GitHub ---
st, j = github("push", push_main | {"ref": "refs/heads/dev", "after": DEV_SHA}, form=True)
check(st == 202 and j["verdict"] == "ignored" and "dev" in j["reason"], "GitHub's form-encoded payload= body is read")

# --- GitLab ---
# (each forge pushes a new commit: a push of what already runs deploys nothing)
sha = new_main_commit("for gitlab")
gl = {"object_kind": "push", "event_name": "push", "before": "0" * 39 + "1", "after": sha,
      "ref": "refs/heads/main", "checkout_sha": sha, "project": {"path_with_namespace": "group/site"}}
b = json.dumps(gl).encode()
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
                                   "X-Gitlab-Token": SECRET, "X-Gitlab-Event-UUID": str(uuid.uuid4())})
check(st == 202 and j["verdict"] == "queued", "GitLab: a push with the secret token queues a run", str(j))
wait_run(j["run"])
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
                                   "X-Gitlab-Token": "wrong"})
check(st == 401, "GitLab: a wrong token: 401")

# --- Gitea / Forgejo ---
gt = {"ref": "refs/heads/main", "before": "0" * 39 + "1", "after": new_main_commit("for gitea"), "commits": [],
      "repository": {"full_name": "o/site"}}
b = json.dumps(gt).encode()
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/json", "X-Gitea-Event": "push",
                                   "X-GitHub-Event": "push", "X-Gitea-Delivery": str(uuid.uuid4()),
                                   "X-Gitea-Signature": sig(b)})
check(st == 202 and j["verdict"] == "queued", "Gitea: a signed push queues a run", str(j))
wait_run(j["run"])
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/json", "X-Gitea-Event": "push",
                                   "X-Gitea-Signature": sig(b, "x")})
check(st == 401, "Gitea: a wrong signature: 401")

# --- Bitbucket Cloud ---
bb = {"push": {"changes": [{"old": {"type": "branch", "name": "main", "target": {"hash": "0" * 39 + "1"}},
                            "new": {"type": "branch", "name": "main", "target": {"hash": new_main_commit("for bb")}},
                            "closed": False, "created": False}]},
      "repository": {"full_name": "team/site"}}
b = json.dumps(bb).encode()
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/json", "X-Event-Key": "repo:push",
                                   "X-Request-UUID": str(uuid.uuid4()), "X-Hub-Signature": "sha256=" + sig(b)})
check(st == 202 and j["verdict"] == "queued", "Bitbucket: a signed push queues a run", str(j))
wait_run(j["run"])

# --- as the forges really send them (issue 22) ---
# Bitbucket: git push --follow-tags updates main, creates a branch and a tag in one delivery
sha = new_main_commit("for bb3")
bb3 = {"push": {"changes": [
    {"old": {"type": "branch", "name": "main", "target": {"hash": "0" * 39 + "1"}},
     "new": {"type": "branch", "name": "main", "target": {"hash": sha}}, "closed": False},
    {"old": None, "new": {"type": "branch", "name": "feature", "target": {"hash": DEV_SHA}}, "closed": False},
    {"old": None, "new": {"type": "tag", "name": "v0.1", "target": {"hash": MAIN_SHA}}, "closed": False}]}}
b = json.dumps(bb3).encode()
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/json", "X-Event-Key": "repo:push",
                                   "X-Request-UUID": str(uuid.uuid4()), "X-Hub-Signature": "sha256=" + sig(b)})
check(st == 202 and j["verdict"] == "queued" and sha[:12] in j["reason"],
      "Bitbucket: a delivery with a branch, a new branch and a tag deploys the deployment's branch", str(j))
wait_run(j["run"])
b = json.dumps({"push": {"changes": []}}).encode()
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/json", "X-Event-Key": "repo:push",
                                   "X-Request-UUID": str(uuid.uuid4()), "X-Hub-Signature": "sha256=" + sig(b)})
check(st == 202 and j["verdict"] == "ignored", "Bitbucket: a delivery with no changes is not a failed delivery", f"{st} {j}")
# GitLab: a retry keeps its Idempotency-Key and gets a new event UUID
sha = new_main_commit("for gitlab retry")
b = json.dumps(gl | {"after": sha, "checkout_sha": sha}).encode()
key = str(uuid.uuid4())
n = runs_count()
gh = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET,
      "Idempotency-Key": key}
st, j = post(f"/hooks/{NAME}", b, gh | {"X-Gitlab-Event-UUID": str(uuid.uuid4())})
check(st == 202 and j["verdict"] == "queued", "GitLab: a push with an Idempotency-Key queues a run", str(j))
wait_run(j["run"])
st, j = post(f"/hooks/{NAME}", b, gh | {"X-Gitlab-Event-UUID": str(uuid.uuid4())})
check(st == 200 and j["verdict"] == "duplicate" and runs_count() == n + 1,
      "GitLab: its retry (same Idempotency-Key, new event UUID) starts nothing", str(j))
# Gitea with "POST Content Type: form": payload=JSON, the JSON signed
gjs = json.dumps(gt | {"after": new_main_commit("for gitea form")})
b = urllib.parse.urlencode({"payload": gjs}).encode()
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/x-www-form-urlencoded", "X-Gitea-Event": "push",
                                   "X-Gitea-Delivery": str(uuid.uuid4()), "X-Gitea-Signature": sig(gjs.encode())})
check(st == 202 and j["verdict"] == "queued", "Gitea: a form delivery (the JSON signed) queues a run", f"{st} {j}")
if j and j.get("run"):
    wait_run(j["run"])
# Gitea's Test Delivery: an all-zero commit on the default branch
b = json.dumps(gt | {"after": "0" * 40, "before": "0" * 40}).encode()
st, j = post(f"/hooks/{NAME}", b, {"Content-Type": "application/json", "X-Gitea-Event": "push",
                                   "X-Gitea-Delivery": str(uuid.uuid4()), "X-Gitea-Signature": sig(b)})
check(st == 200 and j["verdict"] == "ping", "Gitea: its Test Delivery is answered 200 as a ping", f"{st} {j}")
# GitHub: a tag deletion says so; a SHA-1-only signature is told what is needed
st, j = github("push", push_main | {"ref": "refs/tags/v1.0", "after": "0" * 40, "deleted": True})
check(st == 202 and "tag deletion" in j["reason"], "a tag deletion is described as one", str(j))
body1 = json.dumps(push_main).encode()
st, j = post(f"/hooks/{NAME}", body1, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                                       "X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), body1, hashlib.sha1).hexdigest()})
check(st == 401 and "SHA-256" in j["error"]["message"], "a SHA-1-only GitHub delivery is told SHA-256 is needed", str(j))
# a SHA-256 repository's commit id is read (a branch webops does not deploy: nothing starts)
st, j = github("push", push_main | {"ref": "refs/heads/other", "after": "ab" * 32})
check(st == 202 and j["verdict"] == "ignored", "a 64-hex commit id (SHA-256 repository) is read", f"{st} {j}")

# never an older commit than the one running: out of order, or a captured body sent again
c1 = new_main_commit("c1")
c2 = new_main_commit("c2")
st, j = github("push", push_main | {"after": c1, "head_commit": {"id": c1}})
check(st == 202 and j["verdict"] == "queued", "a push of c1 while main is already at c2: queued", str(j))
run = wait_run(j["run"])
check(run["status"] == "succeeded" and run["commit"]["sha"] == c2,
      "...it deploys the branch as it is (c2), not the older c1", f"{run['commit']} c1={c1[:12]} c2={c2[:12]}")
n = runs_count()
st, j = github("push", push_main | {"after": c1, "head_commit": {"id": c1}})
check(st == 202 and j["verdict"] == "ignored" and "older than the deployed commit" in j["reason"] and runs_count() == n,
      "c1's delivery sent again with a new id (or late): ignored, saying it is older than what runs", str(j))
st, j = github("push", push_main | {"after": c2, "head_commit": {"id": c2}})
check(st == 202 and j["verdict"] == "ignored" and "already" in j["reason"] and runs_count() == n,
      "a push of the commit that runs: ignored", str(j))

# --- the record ---
deliveries = api(f"/api/v1/deployments/{NAME}/webhooks")
verdicts = [x["verdict"] for x in deliveries]
check({"queued", "ignored", "duplicate", "ping", "rejected"} <= set(verdicts), "every delivery is recorded with its verdict",
      str(verdicts))
rej = [x for x in deliveries if x["verdict"] == "rejected"]
check(any("does not match" in x["reason"] for x in rej), "rejections are recorded with the reason")
# --- a burst at once: each delivery is answered after it is recorded, the
# same id twice in one burst is one delivery and one duplicate ---
import concurrent.futures
push_dev = dict(push_main, ref="refs/heads/burst", after=DEV_SHA)
burst_ids = [str(uuid.uuid4()) for _ in range(40)] + ["burst-twice", "burst-twice"]
n_before = runs_count()
with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
    answers = list(ex.map(lambda d: github("push", push_dev, delivery=d), burst_ids))
codes = sorted(st for st, _ in answers)
check(codes.count(202) == 41 and codes.count(200) == 1,
      "42 deliveries at once: 41 recorded (202) and the repeated id a duplicate (200)", str(codes))
seen = api(f"/api/v1/deployments/{NAME}/webhooks?limit=200")
ids = [d["delivery_id"] for d in seen if d["verdict"] == "ignored"]
check(all(i in ids for i in burst_ids) and ids.count("burst-twice") == 1,
      "every delivery of the burst is in the history by the time it was answered, the repeated one once")
check(runs_count() == n_before, "a burst of pushes to another branch starts no run")

# --- a flood of unsigned requests pushes no genuine delivery out of the history ---
statuses = [github("push", push_main, signed=False)[0] for i in range(210)]
first_429 = statuses.index(429) if 429 in statuses else None
check(first_429 is not None and set(statuses[:first_429]) == {401} and set(statuses[first_429:]) == {429},
      f"refused deliveries are rate-limited per address: {first_429} answered 401, then 429 "
      f"(WEBOPS_WEBHOOK_REJECTS_PER_MIN, 30 a minute with the earlier ones)", str(statuses[:40]))
c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
c.request("POST", f"/hooks/{NAME}", body=b"{}", headers={"Content-Type": "application/json", "X-GitHub-Event": "push"})
r = c.getresponse()
r.read()
check(r.status == 429 and 0 < int(r.getheader("Retry-After", "0")) <= 60, "...with Retry-After",
      f"{r.status} {r.getheader('Retry-After')}")
c.close()
st, j = post("/hooks/no-such-name", b"{}", {"Content-Type": "application/json", "X-GitHub-Event": "push"})
check(st == 429, "...a missing name answers the same", str(st))
st, j = github("ping", {"zen": "Still here.", "hook_id": 1})
check(st == 200 and j["verdict"] == "ping", "...while a signed delivery from the same address still gets through",
      f"{st} {j}")
deliveries = api(f"/api/v1/deployments/{NAME}/webhooks?limit=500")
ids = [x.get("delivery_id") for x in deliveries]
check(delivery in ids, "after 210 unsigned requests the genuine delivery is still in the history",
      f"{len(deliveries)} kept")
check(sum(1 for x in deliveries if x["verdict"] == "rejected") <= 50, "rejected ones are kept apart, at most 50")
n = runs_count()
st, j3 = github("push", push_main, delivery=delivery)
check(st == 200 and j3["verdict"] == "duplicate" and runs_count() == n,
      "...so its redelivery still starts nothing", str(j3))

timings.sort()
print(f"# webhook answer times over {len(timings)} deliveries: p50 {timings[len(timings)//2]:.1f} ms, "
      f"max {timings[-2]:.1f} ms (without the 5 MiB one)")
check(timings[len(timings) // 2] < 100, "the answer comes well within 100 ms (median)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
