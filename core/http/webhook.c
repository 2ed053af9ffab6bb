/* POST /hooks/{name}: a forge tells us about a push. The signature is
 * checked over the raw body first; then the delivery is recorded and, for a
 * push of the deployment's branch, a run is queued for exactly the pushed
 * commit. The handler only records and enqueues, so it answers at once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/http.h"
#include "http/webhook.h"
#include "http/webhook_writer.h"
#include "pipeline/runs.h"
#include "git/fetch.h"
#include "store/deployment.h"
#include "store/auth.h"
#include "store/validate.h"
#include "store/webhooks.h"
#include "util/error.h"
#include "util/log.h"
#include "util/secret.h"
#include "util/banned.h"

static int answer(struct wo_req *req, int status, const char *verdict, const char *reason, long long run_id)
{
	json_t *o = json_pack("{s:s, s:s}", "verdict", verdict, "reason", reason);
	if (run_id)
		json_object_set_new(o, "run", json_integer(run_id));
	int rc = wo_http_send_json(req, status, o);
	json_decref(o);
	return rc;
}

/* A delivery about to be refused (401, 400): past this address's budget of
 * rejected deliveries for the minute it is answered 429 and not recorded,
 * so a flood of bad ones costs nothing and hides nothing; returns 1 then.
 * Genuine deliveries from the same address still pass: the signature is
 * checked first. */
static int over_budget(struct wo_req *req, int *rc)
{
	int retry = 60;
	if (!wo_http_rejects_over(req, &retry)) {
		wo_http_rejects_count(req);
		return 0;
	}
	char hdr[16], msg[160];
	snprintf(hdr, sizeof(hdr), "%d", retry);
	snprintf(msg, sizeof(msg), "too many refused deliveries from this address; try again in %d s", retry);
	wo_http_add_header(req, "Retry-After", hdr);
	*rc = wo_http_send_error(req, 429, msg, NULL);
	return 1;
}

/* ---- the deployments deliveries are for, remembered ----
 * A delivery needs its deployment's id, branch and (opened) secret; asking
 * the database for them is most of a delivery's cost. They are kept while
 * the deployments do not change (any change to the table is announced and
 * bumps the generation; with no LISTEN connection nothing is kept). */
#define TARGET_SLOTS 64

static struct target {
	unsigned gen;
	char name[WO_NAME_MAX + 1];
	long long id;
	char *branch, *secret;
} targets[TARGET_SLOTS];
static pthread_mutex_t targets_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned slot_of(const char *name)
{
	unsigned h = 5381;
	for (const char *p = name; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return h % TARGET_SLOTS;
}

static int target_cached(unsigned gen, const char *name, long long *id, char **branch, char **secret)
{
	if (!gen || strlen(name) > WO_NAME_MAX)
		return 0;
	int hit = 0;
	pthread_mutex_lock(&targets_lock);
	struct target *t = &targets[slot_of(name)];
	if (t->gen == gen && !strcmp(t->name, name)) {
		*id = t->id;
		*branch = strdup(t->branch);
		*secret = t->secret ? strdup(t->secret) : NULL;
		hit = *branch && (!t->secret || *secret);
		if (!hit) {
			free(*branch);
			wo_secret_free(*secret);
		}
	}
	pthread_mutex_unlock(&targets_lock);
	return hit;
}

static void target_remember(unsigned gen, const char *name, long long id, const char *branch, const char *secret)
{
	if (!gen || strlen(name) > WO_NAME_MAX)
		return;
	char *b = strdup(branch), *sec = secret ? strdup(secret) : NULL;
	if (!b || (secret && !sec)) {
		free(b);
		wo_secret_free(sec);
		return;
	}
	pthread_mutex_lock(&targets_lock);
	struct target *t = &targets[slot_of(name)];
	free(t->branch);
	wo_secret_free(t->secret);
	t->gen = gen;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->id = id;
	t->branch = b;
	t->secret = sec;
	pthread_mutex_unlock(&targets_lock);
}

/* wo_webhook_target, from memory when it can be */
static int find_target(struct wo_req *req, const char *name, int fresh, long long *id, char **branch, char **secret)
{
	unsigned gen = wo_http_deployments_gen(req);
	if (!fresh && target_cached(gen, name, id, branch, secret))
		return 0;
	int r = wo_webhook_target(id, branch, secret, req->conn, name);
	if (r == 0)
		target_remember(gen, name, *id, *branch, *secret);
	return r;
}

/* Answers a delivery the writer recorded (or could not). */
static int answer_recorded(struct wo_req *req)
{
	const struct wo_webhook_delivery *rec = NULL;
	long long dup_run = 0;
	const char *error = NULL;
	switch (wo_hook_writer_outcome(req, &rec, &dup_run, &error)) {
	case WO_DELIVERY_RECORDED:
		return answer(req, !strcmp(rec->verdict, "ping") ? 200 : 202, rec->verdict, rec->reason, 0);
	case WO_DELIVERY_DUPLICATE:
		return answer(req, 200, "duplicate", "a redelivery of a delivery already handled: nothing started",
			      dup_run);
	default:
		return wo_http_send_error(req, 503, error, NULL);
	}
}

/* A delivery being handled: its deployment and what the forge says. */
struct delivery {
	const char *name;      /* the deployment's, from the route */
	long long dep_id;
	char *branch, *secret; /* the deployment's (owned; secret opened) */
	struct wo_webhook_headers h;
	enum wo_forge forge;
	struct wo_webhook_delivery rec; /* what is recorded of it */
	struct wo_push push;
	char reason[512];
};

/* The request headers forges send a delivery with. */
static struct wo_webhook_headers delivery_headers(struct wo_req *req)
{
	return (struct wo_webhook_headers){
		.github_event = wo_http_header(req, "X-GitHub-Event"),
		.github_delivery = wo_http_header(req, "X-GitHub-Delivery"),
		.hub_signature_256 = wo_http_header(req, "X-Hub-Signature-256"),
		.hub_signature = wo_http_header(req, "X-Hub-Signature"),
		.gitea_event = wo_http_header(req, "X-Gitea-Event"),
		.gitea_delivery = wo_http_header(req, "X-Gitea-Delivery"),
		.gitea_signature = wo_http_header(req, "X-Gitea-Signature"),
		.forgejo_signature = wo_http_header(req, "X-Forgejo-Signature"),
		.gitlab_event = wo_http_header(req, "X-Gitlab-Event"),
		.gitlab_token = wo_http_header(req, "X-Gitlab-Token"),
		.gitlab_uuid = wo_http_header(req, "X-Gitlab-Event-UUID"),
		.idempotency_key = wo_http_header(req, "Idempotency-Key"),
		.event_key = wo_http_header(req, "X-Event-Key"),
		.request_uuid = wo_http_header(req, "X-Request-UUID"),
		.content_type = req->content_type,
	};
}

/* The body as the signature covers it. */
static const void *delivery_body(struct wo_req *req)
{
	return req->body.ptr ? req->body.ptr : "";
}

/* A delivery to a name no deployment has: answered as one to an existing
 * name that is not signed with its secret, so a stranger cannot tell which
 * names exist. */
static int refuse_unknown(struct wo_req *req, const struct wo_webhook_headers *h)
{
	char random_secret[WO_SECRET_TEXT_LEN + 1];
	wo_auth_secret_new(random_secret);
	enum wo_forge f = wo_http_webhook_forge(h);
	const char *why = NULL;
	if (wo_http_webhook_verify(&why, f, h, random_secret, delivery_body(req), req->body.len) == 0 || !why)
		why = "the signature does not match this webhook's secret";
	int over_rc;
	if (over_budget(req, &over_rc))
		return over_rc;
	return wo_http_send_error(req, 401, why, NULL);
}

/* The deployment's secret cannot be opened on this server: the user sees
 * why in the deliveries; the forge learns no path. */
static int refuse_unreadable(struct wo_req *req, const struct delivery *dv)
{
	char why_key[512];
	snprintf(why_key, sizeof(why_key), "%s", wo_error_last());
	struct wo_webhook_delivery bad = { .deployment_id = dv->dep_id, .verdict = "rejected",
					   .provider = wo_forge_name(wo_http_webhook_forge(&dv->h)),
					   .event = wo_http_webhook_event(wo_http_webhook_forge(&dv->h), &dv->h),
					   .reason = why_key };
	wo_log(WO_LOG_ERROR, "webhook", "'%s': %s", dv->name, why_key);
	long long dup;
	wo_webhook_record(&dup, req->conn, &bad);
	return wo_http_send_error(req, 500, "the webhook secret cannot be read on this server: see webopsd's log",
				  NULL);
}

/* Refuses a delivery (401: not signed with the secret, logged; 400: a body
 * that cannot be read), recorded as rejected with why; past the address's
 * budget of refusals it is answered 429 and not recorded (over_budget). */
static int refuse(struct wo_req *req, struct delivery *dv, int status, const char *why)
{
	int rc;
	if (over_budget(req, &rc))
		return rc;
	dv->rec.verdict = "rejected";
	dv->rec.reason = why;
	long long dup;
	wo_webhook_record(&dup, req->conn, &dv->rec);
	if (status == 401)
		wo_log(WO_LOG_WARN, "webhook", "'%s': refused a %s delivery from %s: %s", dv->name,
		       wo_forge_name(dv->forge), req->address, why);
	return wo_http_send_error(req, status, why, NULL);
}

/* 0 when the body is signed with the deployment's secret; when it is not,
 * the secret may have been rotated a moment ago: asked again (dv's target
 * replaced) and checked once more. -1 with *why when it still is not. */
static int verify_signature(const char **why, struct wo_req *req, struct delivery *dv)
{
	int verified = wo_http_webhook_verify(why, dv->forge, &dv->h, dv->secret, delivery_body(req), req->body.len);
	if (verified < 0) {
		char *b2 = NULL, *s2 = NULL;
		if (find_target(req, dv->name, 1, &dv->dep_id, &b2, &s2) == 0) {
			free(dv->branch);
			wo_secret_free(dv->secret);
			dv->branch = b2;
			dv->secret = s2;
			verified = wo_http_webhook_verify(why, dv->forge, &dv->h, dv->secret, delivery_body(req),
							  req->body.len);
		}
	}
	return verified;
}

/* A push of the deployment's own branch: queued, unless what was pushed is
 * what runs or older. Never an older commit than the one running:
 * deliveries come out of order, and a captured body may be sent again with
 * a new id. A push of what runs or of an ancestor of it starts nothing; any
 * other deploys the branch as the run finds it (of C1 delivered after C2,
 * both deploy C2). */
static void branch_verdict(struct wo_req *req, struct delivery *dv)
{
	char *current = wo_webhook_current_commit(req->conn, dv->dep_id);
	if (wo_git_cached_is_behind(wo_http_config(req)->data_dir, dv->dep_id, current, dv->push.after)) {
		dv->rec.verdict = "ignored";
		snprintf(dv->reason, sizeof(dv->reason), "%.12s is %s the deployed commit %.12s: nothing to deploy",
			 dv->push.after, strcmp(current, dv->push.after) ? "older than" : "already", current);
	} else {
		dv->rec.verdict = "queued";
		snprintf(dv->reason, sizeof(dv->reason), "a push to '%s' (%.12s): deploying the branch as it is now",
			 dv->branch, dv->push.after);
	}
	free(current);
}

/* What a verified delivery means for the deployment: rec's verdict and its
 * reason (dv->reason); the status to answer with. */
static int push_verdict(struct wo_req *req, struct delivery *dv)
{
	const struct wo_push *push = &dv->push;
	switch (push->kind) {
	case WO_PUSH_PING:
		dv->rec.verdict = "ping";
		snprintf(dv->reason, sizeof(dv->reason), "%s says hello%s: the webhook is set up", wo_forge_name(dv->forge),
			 push->branch[0] ? " (a test delivery)" : "");
		return 200;
	case WO_PUSH_BRANCH:
		if (!strcmp(push->branch, dv->branch)) {
			branch_verdict(req, dv);
		} else {
			dv->rec.verdict = "ignored";
			snprintf(dv->reason, sizeof(dv->reason), "a push to branch '%.100s', but '%s' deploys '%s'",
				 push->branch, dv->name, dv->branch);
		}
		return 202;
	case WO_PUSH_DELETE:
		dv->rec.verdict = "ignored";
		snprintf(dv->reason, sizeof(dv->reason), "branch '%.100s' was deleted: nothing to deploy", push->branch);
		return 202;
	case WO_PUSH_TAG:
		dv->rec.verdict = "ignored";
		snprintf(dv->reason, sizeof(dv->reason), "%s (%.100s): '%s' deploys branch '%s'",
			 push->what[0] ? push->what : "a tag push", push->ref, dv->name, dv->branch);
		return 202;
	default:
		dv->rec.verdict = "ignored";
		snprintf(dv->reason, sizeof(dv->reason), "%s: nothing to deploy", push->what);
		return 202;
	}
}

/* Records the delivery and enqueues its run (when it is "queued") in one
 * transaction: a redelivery racing the first one finds its row and starts
 * nothing. Then answers with status. */
static int record_and_enqueue(struct wo_req *req, struct delivery *dv, int status)
{
	if (wo_db_begin(req->conn) < 0)
		return -1;
	long long dup_run = 0, run_id = 0;
	int r = wo_webhook_record(&dup_run, req->conn, &dv->rec);
	if (r < 0)
		goto fail;
	if (r == 1) {
		if (wo_db_commit(req->conn) < 0)
			goto fail;
		return answer(req, 200, "duplicate", "a redelivery of a delivery already handled: nothing started",
			      dup_run);
	}
	if (!strcmp(dv->rec.verdict, "queued")) {
		json_t *run = NULL;
		if (wo_run_enqueue(&run, req->conn, dv->name, "webhook", NULL) < 0)
			goto fail;
		run_id = json_integer_value(json_object_get(run, "id"));
		json_decref(run);
		if (wo_webhook_set_run(req->conn, dv->dep_id, dv->rec.provider, dv->rec.delivery_id, run_id) < 0)
			goto fail;
	}
	if (wo_db_commit(req->conn) < 0)
		goto fail;
	if (run_id)
		wo_log(WO_LOG_INFO, "webhook", "'%s': %s push of %.12s queued run %lld", dv->name,
		       wo_forge_name(dv->forge), dv->push.after, run_id);
	return answer(req, status, dv->rec.verdict, dv->reason, run_id);
fail:
	wo_db_rollback(req->conn);
	return -1;
}

/* A delivery for a deployment that exists (its target in dv): checked,
 * read, recorded and, for a push of its branch, its run queued. */
static int take_delivery(struct wo_req *req, struct delivery *dv)
{
	dv->forge = wo_http_webhook_forge(&dv->h);
	const char *event = wo_http_webhook_event(dv->forge, &dv->h);
	const char *why = NULL;
	dv->rec = (struct wo_webhook_delivery){
		.deployment_id = dv->dep_id,
		.provider = wo_forge_name(dv->forge),
		.event = event,
		.delivery_id = wo_http_webhook_delivery(dv->forge, &dv->h),
	};
	if (verify_signature(&why, req, dv) < 0)
		return refuse(req, dv, 401, why);
	if (wo_http_webhook_parse_for(&dv->push, &why, dv->forge, event, req->content_type, delivery_body(req),
				      req->body.len, dv->branch) < 0)
		return refuse(req, dv, 400, why);
	dv->rec.ref = dv->push.ref[0] ? dv->push.ref : NULL;
	dv->rec.commit = dv->push.after[0] ? dv->push.after : NULL;
	int status = push_verdict(req, dv);
	dv->rec.reason = dv->reason;

	/* what starts no run is recorded with others in one commit */
	if (strcmp(dv->rec.verdict, "queued")) {
		int r = wo_hook_writer_submit(wo_http_hook_writer(req), req, &dv->rec, answer_recorded);
		if (r <= 0)
			return r;
	}
	return record_and_enqueue(req, dv, status);
}

int wo_http_webhook_receive(struct wo_req *req)
{
	struct delivery dv = { .name = req->params[0], .h = delivery_headers(req) };
	if (!req->conn)
		return wo_http_send_error(req, 503, "the database is not reachable; the forge will retry", NULL);
	int r = find_target(req, dv.name, 0, &dv.dep_id, &dv.branch, &dv.secret);
	if (r == WO_ENOTFOUND)
		return refuse_unknown(req, &dv.h);
	if (r == WO_EUNREADABLE) {
		r = refuse_unreadable(req, &dv);
		free(dv.branch);
		return r;
	}
	if (r < 0)
		return -1;
	int rc = take_delivery(req, &dv);
	free(dv.branch);
	wo_secret_free(dv.secret);
	return rc;
}
