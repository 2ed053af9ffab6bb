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

int wo_webhook_receive(struct wo_req *req)
{
	const char *name = req->params[0];
	struct wo_webhook_headers h = {
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
	if (!req->conn)
		return wo_http_send_error(req, 503, "the database is not reachable; the forge will retry", NULL);
	long long dep_id;
	char *branch = NULL, *secret = NULL;
	int r = find_target(req, name, 0, &dep_id, &branch, &secret);
	if (r == WO_ENOTFOUND) {
		/* answered as a delivery to an existing name that is not signed with
		 * its secret: a stranger cannot tell which names exist */
		char random_secret[WO_SECRET_TEXT_LEN + 1];
		wo_secret_new(random_secret);
		enum wo_forge f = wo_webhook_forge(&h);
		const char *why = NULL;
		const void *body = req->body.ptr ? req->body.ptr : "";
		if (wo_webhook_verify(&why, f, &h, random_secret, body, req->body.len) == 0 || !why)
			why = "the signature does not match this webhook's secret";
		int over_rc;
		if (over_budget(req, &over_rc))
			return over_rc;
		return wo_http_send_error(req, 401, why, NULL);
	}
	if (r == WO_EUNREADABLE) {
		/* the user sees why in the deliveries; the forge learns no path */
		char why_key[512];
		snprintf(why_key, sizeof(why_key), "%s", wo_error_last());
		struct wo_webhook_delivery bad = { .deployment_id = dep_id, .verdict = "rejected",
						   .provider = wo_forge_name(wo_webhook_forge(&h)),
						   .event = wo_webhook_event(wo_webhook_forge(&h), &h),
						   .reason = why_key };
		wo_log(WO_LOG_ERROR, "webhook", "'%s': %s", name, why_key);
		long long dup;
		wo_webhook_record(&dup, req->conn, &bad);
		free(branch);
		return wo_http_send_error(req, 500, "the webhook secret cannot be read on this server: see webopsd's log",
					  NULL);
	}
	if (r < 0)
		return -1;

	enum wo_forge forge = wo_webhook_forge(&h);
	const char *event = wo_webhook_event(forge, &h);
	const char *delivery = wo_webhook_delivery(forge, &h);
	const char *why = NULL;
	int rc;
	struct wo_webhook_delivery rec = {
		.deployment_id = dep_id,
		.provider = wo_forge_name(forge),
		.event = event,
		.delivery_id = delivery,
	};
	const void *body = req->body.ptr ? req->body.ptr : "";
	int verified = wo_webhook_verify(&why, forge, &h, secret, body, req->body.len);
	if (verified < 0) {
		/* the secret may have been rotated a moment ago: ask again */
		char *b2 = NULL, *s2 = NULL;
		if (find_target(req, name, 1, &dep_id, &b2, &s2) == 0) {
			free(branch);
			wo_secret_free(secret);
			branch = b2;
			secret = s2;
			verified = wo_webhook_verify(&why, forge, &h, secret, body, req->body.len);
		}
	}
	if (verified < 0) {
		if (over_budget(req, &rc))
			goto out;
		rec.verdict = "rejected";
		rec.reason = why;
		long long dup;
		wo_webhook_record(&dup, req->conn, &rec);
		wo_log(WO_LOG_WARN, "webhook", "'%s': refused a %s delivery from %s: %s", name, wo_forge_name(forge),
		       req->address, why);
		rc = wo_http_send_error(req, 401, why, NULL);
		goto out;
	}

	struct wo_push push;
	if (wo_webhook_parse_for(&push, &why, forge, event, req->content_type, body, req->body.len, branch) < 0) {
		if (over_budget(req, &rc))
			goto out;
		rec.verdict = "rejected";
		rec.reason = why;
		long long dup;
		wo_webhook_record(&dup, req->conn, &rec);
		rc = wo_http_send_error(req, 400, why, NULL);
		goto out;
	}
	rec.ref = push.ref[0] ? push.ref : NULL;
	rec.commit = push.after[0] ? push.after : NULL;
	char reason[512];
	int status = 202;
	switch (push.kind) {
	case WO_PUSH_PING:
		rec.verdict = "ping";
		snprintf(reason, sizeof(reason), "%s says hello%s: the webhook is set up", wo_forge_name(forge),
			 push.branch[0] ? " (a test delivery)" : "");
		status = 200;
		break;
	case WO_PUSH_BRANCH:
		if (!strcmp(push.branch, branch)) {
			/* Never an older commit than the one running: deliveries come
			 * out of order, and a captured body may be sent again with a
			 * new id. A push of what runs or of an ancestor of it starts
			 * nothing; any other deploys the branch as the run finds it
			 * (of C1 delivered after C2, both deploy C2). */
			char *current = wo_webhook_current_commit(req->conn, dep_id);
			if (wo_git_cached_is_behind(wo_http_config(req)->data_dir, dep_id, current, push.after)) {
				rec.verdict = "ignored";
				snprintf(reason, sizeof(reason), "%.12s is %s the deployed commit %.12s: nothing to deploy",
					 push.after, strcmp(current, push.after) ? "older than" : "already", current);
			} else {
				rec.verdict = "queued";
				snprintf(reason, sizeof(reason), "a push to '%s' (%.12s): deploying the branch as it is now",
					 branch, push.after);
			}
			free(current);
		} else {
			rec.verdict = "ignored";
			snprintf(reason, sizeof(reason), "a push to branch '%.100s', but '%s' deploys '%s'", push.branch,
				 name, branch);
		}
		break;
	case WO_PUSH_DELETE:
		rec.verdict = "ignored";
		snprintf(reason, sizeof(reason), "branch '%.100s' was deleted: nothing to deploy", push.branch);
		break;
	case WO_PUSH_TAG:
		rec.verdict = "ignored";
		snprintf(reason, sizeof(reason), "%s (%.100s): '%s' deploys branch '%s'", push.what[0] ? push.what : "a tag push",
			 push.ref, name, branch);
		break;
	default:
		rec.verdict = "ignored";
		snprintf(reason, sizeof(reason), "%s: nothing to deploy", push.what);
		break;
	}
	rec.reason = reason;

	/* what starts no run is recorded with others in one commit */
	if (strcmp(rec.verdict, "queued")) {
		r = wo_hook_writer_submit(wo_http_hook_writer(req), req, &rec, answer_recorded);
		if (r <= 0) {
			rc = r;
			goto out;
		}
	}

	/* record and enqueue in one transaction: a redelivery racing the
	 * first one finds its row and starts nothing */
	if (wo_db_begin(req->conn) < 0)
		return -1;
	long long dup_run = 0, run_id = 0;
	r = wo_webhook_record(&dup_run, req->conn, &rec);
	if (r < 0)
		goto fail;
	if (r == 1) {
		if (wo_db_commit(req->conn) < 0)
			goto fail;
		rc = answer(req, 200, "duplicate", "a redelivery of a delivery already handled: nothing started", dup_run);
		goto out;
	}
	if (!strcmp(rec.verdict, "queued")) {
		json_t *run = NULL;
		if (wo_run_enqueue(&run, req->conn, name, "webhook", NULL) < 0)
			goto fail;
		run_id = json_integer_value(json_object_get(run, "id"));
		json_decref(run);
		if (wo_webhook_set_run(req->conn, dep_id, rec.provider, delivery, run_id) < 0)
			goto fail;
	}
	if (wo_db_commit(req->conn) < 0)
		goto fail;
	if (run_id)
		wo_log(WO_LOG_INFO, "webhook", "'%s': %s push of %.12s queued run %lld", name, wo_forge_name(forge),
		       push.after, run_id);
	rc = answer(req, status, rec.verdict, reason, run_id);
	goto out;
fail:
	wo_db_rollback(req->conn);
	rc = -1;
out:
	free(branch);
	wo_secret_free(secret);
	return rc;
}
