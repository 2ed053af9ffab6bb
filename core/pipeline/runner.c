/* The run process: one connection, a run log writer, the git fetch and the
 * hook dispatches, and the final record (status, timings, outputs, hooks). */
#include "pipeline/runner.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addon/addon.h"
#include "db/db.h"
#include "git/fetch.h"
#include "health/health.h"
#include "pipeline/runs.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

struct run {
	PGconn *conn;
	long long id;
	char ids[32];
	long long seq;
	json_t *deployment;
	json_t *timings;
	json_t *outputs;
	json_t *hooks;
	long last_cancel_check;
	int cancelled;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Appends one log row per line of text. */
static void run_log(struct run *r, const char *stream, const char *text)
{
	const char *p = text;
	do {
		size_t n = strcspn(p, "\n");
		char seq[32];
		snprintf(seq, sizeof(seq), "%lld", ++r->seq);
		char *line = strndup(p, n);
		const char *params[] = { r->ids, seq, stream, line };
		if (wo_db_exec(NULL, r->conn, "INSERT INTO run_logs (run_id, seq, stream, text) VALUES ($1::bigint, $2::int, $3, $4)",
			       4, params) < 0)
			fprintf(stderr, "run %lld: cannot write log: %s\n", r->id, wo_error_last());
		free(line);
		p += n;
		if (*p == '\n')
			p++;
	} while (*p);
}

static void run_logf(struct run *r, const char *stream, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void run_logf(struct run *r, const char *stream, const char *fmt, ...)
{
	struct wo_buf b = WO_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	wo_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	run_log(r, stream, wo_buf_cstr(&b));
	wo_buf_release(&b);
}

static int check_cancelled(void *ud)
{
	struct run *r = ud;
	if (r->cancelled)
		return 1;
	long now = now_ms();
	if (now - r->last_cancel_check < 500)
		return 0;
	r->last_cancel_check = now;
	const char *params[] = { r->ids };
	PGresult *res;
	if (wo_db_exec(&res, r->conn, "SELECT cancel_requested, status FROM runs WHERE id = $1::bigint", 1, params) < 0)
		return 0;
	if (PQntuples(res) == 1 &&
	    (!strcmp(PQgetvalue(res, 0, 0), "t") || strcmp(PQgetvalue(res, 0, 1), "running") != 0))
		r->cancelled = 1;
	PQclear(res);
	return r->cancelled;
}

static void set_stage(struct run *r, const char *stage)
{
	const char *params[] = { r->ids, stage };
	wo_db_exec(NULL, r->conn, "UPDATE runs SET stage = $2 WHERE id = $1::bigint AND status = 'running'", 2, params);
}

static void record_timing(struct run *r, const char *stage, long ms)
{
	json_object_set_new(r->timings, stage, json_integer(ms));
	char *t = json_dumps(r->timings, JSON_COMPACT);
	const char *params[] = { r->ids, t };
	wo_db_exec(NULL, r->conn, "UPDATE runs SET stage_timings = $2::jsonb WHERE id = $1::bigint", 2, params);
	free(t);
}

static void git_log(void *ud, const char *line)
{
	run_log(ud, "fetch", line);
}

static int load_credentials(struct wo_git_creds *c, char **store, struct run *r)
{
	const char *params[] = { r->ids };
	PGresult *res;
	memset(c, 0, sizeof(*c));
	if (wo_db_exec(&res, r->conn,
		       "SELECT c.https_username, c.https_token, c.ssh_username, c.ssh_private_key"
		       " FROM deployment_credentials c JOIN runs ON runs.deployment_id = c.deployment_id"
		       " WHERE runs.id = $1::bigint",
		       1, params) < 0)
		return -1;
	if (PQntuples(res) == 1) {
		for (int i = 0; i < 4; i++)
			store[i] = PQgetisnull(res, 0, i) ? NULL : strdup(PQgetvalue(res, 0, i));
		c->https_username = store[0];
		c->https_token = store[1];
		c->ssh_username = store[2];
		c->ssh_private_key = store[3];
	}
	PQclear(res);
	return 0;
}

static int stage_fetch(struct run *r, const struct wo_config *cfg, const json_t *run)
{
	long long dep_id = json_integer_value(json_object_get(r->deployment, "id"));
	struct wo_buf cache = WO_BUF_INIT, src = WO_BUF_INIT;
	wo_buf_printf(&cache, "%s/repos/%lld.git", cfg->data_dir, dep_id);
	wo_buf_printf(&src, "%s/builds/%lld/src", cfg->data_dir, dep_id);
	/* a pushed commit comes from webops' own staging repository. The cache
	 * is shared with fetches from repo_url: remotes are anonymous and every
	 * refspec is forced, so each fetch overwrites the remote-tracking refs
	 * with what its source has, and a push run names its exact commit */
	const json_t *source = json_object_get(run, "source_url");
	int pushed = json_is_string(source) && *json_string_value(source);
	const char *url = pushed ? json_string_value(source) : json_string_value(json_object_get(r->deployment, "repo_url"));
	struct wo_git_creds creds;
	char *store[4] = { 0 };
	int rc = load_credentials(&creds, store, r);
	const json_t *ref = json_object_get(run, "requested_ref");
	struct wo_git_sync_opts o = {
		.url = url,
		.cache_dir = cache.ptr,
		.source_dir = src.ptr,
		.branch = json_string_value(json_object_get(r->deployment, "branch")),
		.ref = json_is_string(ref) ? json_string_value(ref) : NULL,
		/* the deployment's credentials are for its repo_url only */
		.creds = pushed ? NULL : &creds,
		.log = git_log,
		.cancelled = check_cancelled,
		.ud = r,
	};
	if (pushed)
		run_logf(r, "fetch", "the commit was pushed to webops: taking it from webops' staging repository");
	struct wo_git_result g;
	long t0 = now_ms();
	if (rc == 0)
		rc = wo_git_sync(&g, &o);
	for (int i = 0; i < 4; i++) {
		if (store[i])
			sodium_memzero(store[i], strlen(store[i]));
		free(store[i]);
	}
	record_timing(r, "fetch", now_ms() - t0);
	if (rc < 0 && !pushed && json_is_true(json_object_get(r->deployment, "push_only")) && !o.ref &&
	    strstr(wo_error_last(), "not found")) {
		/* a push-only deployment that was never pushed to */
		const char *name = json_string_value(json_object_get(r->deployment, "name"));
		wo_error_set("nothing has been pushed to '%s' yet: push its branch '%s' first "
			     "(git push webops %s; see 'webops deployment create --help')",
			     name, o.branch, o.branch);
	}
	if (rc == 0) {
		const char *params[] = { r->ids, g.sha, g.subject, g.author };
		wo_db_exec(NULL, r->conn,
			   "UPDATE runs SET commit_sha = $2, commit_subject = $3, commit_author = $4 WHERE id = $1::bigint",
			   4, params);
	}
	wo_buf_release(&cache);
	wo_buf_release(&src);
	return rc;
}

static void hook_log(void *arg, const char *addon, int level, const char *line)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	struct run *r = arg;
	run_logf(r, addon, "%s%s%s", level >= 0 && level <= 3 && level != 1 ? names[level] : "",
		 level >= 0 && level <= 3 && level != 1 ? ": " : "", line);
}

static void hook_start(void *arg, const struct wo_hook_result *h)
{
	run_logf(arg, "hook", "-> %s %s (%s, priority %d, %s)", h->addon, wo_event_name(h->event), h->handler,
		 h->priority, h->required ? "required" : "optional");
}

static void hook_done(void *arg, const struct wo_hook_result *h)
{
	if (h->status == WO_HOOK_FAILED)
		run_logf(arg, "hook", "<- %s %s failed after %lld ms: %s", h->addon, wo_event_name(h->event),
			 (long long)h->duration_ms, h->error ? h->error : "");
	else if (h->status == WO_HOOK_SKIPPED)
		run_logf(arg, "hook", "<- %s %s skipped%s%s", h->addon, wo_event_name(h->event),
			 h->skip_reason ? ": " : "", h->skip_reason ? h->skip_reason : "");
	else
		run_logf(arg, "hook", "<- %s %s %s in %lld ms", h->addon, wo_event_name(h->event),
			 wo_hook_status_name(h->status), (long long)h->duration_ms);
}

/* Dispatches one event; returns 0 when no required hook failed. */
static int stage_hooks(struct run *r, struct wo_addon_registry *reg, enum wo_event ev, const char *source_dir,
		       const char *commit)
{
	const char *stage = wo_event_name(ev);
	set_stage(r, stage);
	struct wo_hook_ctx ctx = {
		.deployment = r->deployment,
		.source_dir = source_dir,
		.commit = commit,
		.run_id = r->ids,
		.outputs = r->outputs,
		.arg = r,
		.log = hook_log,
		.cancelled = check_cancelled,
		.hook_start = hook_start,
		.hook_done = hook_done,
	};
	long t0 = now_ms();
	struct wo_hook_report *rep = NULL;
	if (wo_hook_dispatch(&rep, reg, ev, &ctx) < 0) {
		record_timing(r, stage, now_ms() - t0);
		return wo_error_prefix("%s", stage);
	}
	record_timing(r, stage, now_ms() - t0);
	json_t *j = wo_hook_report_json(rep);
	json_array_append(r->hooks, j);
	char *hooks = json_dumps(r->hooks, JSON_COMPACT);
	char *outputs = json_dumps(r->outputs, JSON_COMPACT);
	const char *params[] = { r->ids, hooks, outputs };
	wo_db_exec(NULL, r->conn, "UPDATE runs SET hooks = $2::jsonb, outputs = $3::jsonb WHERE id = $1::bigint", 3,
		   params);
	free(hooks);
	free(outputs);
	json_decref(j);
	int rc = 0;
	if (rep->nresults == 0)
		run_logf(r, "hook", "no %s hooks", stage);
	if (rep->cancelled) {
		rc = wo_error_set("cancelled during %s", stage);
	} else if (!rep->ok) {
		for (size_t i = 0; i < rep->nresults; i++)
			if (rep->results[i].status == WO_HOOK_FAILED && rep->results[i].required) {
				rc = wo_error_set("%s", rep->results[i].error ? rep->results[i].error : "a required hook failed");
				break;
			}
		if (rc == 0)
			rc = wo_error_set("%s failed", stage);
	}
	wo_hook_report_free(rep);
	return rc;
}

/* Records the end of the run and the deployment's new state, in one transaction. */
static int finish(struct run *r, const char *status, const char *error)
{
	char *hooks = json_dumps(r->hooks, JSON_COMPACT);
	char *outputs = json_dumps(r->outputs, JSON_COMPACT);
	const char *params[] = { r->ids, status, error, hooks, outputs };
	int rc = wo_db_begin(r->conn);
	PGresult *res = NULL;
	if (rc == 0)
		rc = wo_db_exec(&res, r->conn,
				"UPDATE runs SET status = $2, error = $3, hooks = $4::jsonb, outputs = $5::jsonb,"
				" finished_at = clock_timestamp(), cancel_requested = false"
				" WHERE id = $1::bigint AND status = 'running' RETURNING deployment_id, commit_sha, trigger,"
				" (extract(epoch FROM finished_at - started_at) * 1000)::bigint",
				5, params);
	if (rc == 0 && PQntuples(res) == 1) {
		const char *p2[] = { PQgetvalue(res, 0, 0), r->ids, PQgetvalue(res, 0, 1),
				     !strcmp(status, "succeeded") ? "running" : "failed" };
		if (!strcmp(status, "succeeded"))
			rc = wo_db_exec(NULL, r->conn,
					"UPDATE deployments SET status = $4, current_commit = $3, current_run_id = $2::bigint,"
					" updated_at = now() WHERE id = $1::bigint",
					4, p2);
		else
			rc = wo_db_exec(NULL, r->conn,
					"UPDATE deployments SET status = $2, updated_at = now() WHERE id = $1::bigint", 2,
					(const char *const[]){ p2[0], p2[3] });
	}
	/* addons' notify hooks hear of it once this commits (never for cancelled runs) */
	json_t *doc = NULL;
	if (rc == 0 && PQntuples(res) == 1)
		doc = wo_notify_run_doc(json_string_value(json_object_get(r->deployment, "name")), r->id, status,
					PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), error,
					strtoll(PQgetvalue(res, 0, 3), NULL, 10));
	if (doc)
		rc = wo_notify_enqueue(r->conn, strtoll(PQgetvalue(res, 0, 0), NULL, 10),
				       json_string_value(json_object_get(r->deployment, "name")), doc);
	json_decref(doc);
	PQclear(res);
	if (rc == 0)
		rc = wo_db_commit(r->conn);
	else
		wo_db_rollback(r->conn);
	free(hooks);
	free(outputs);
	return rc;
}

int wo_runner_execute(const struct wo_config *cfg, const char *conninfo, long long run_id)
{
	struct run r;
	memset(&r, 0, sizeof(r));
	r.id = run_id;
	snprintf(r.ids, sizeof(r.ids), "%lld", run_id);
	if (wo_db_connect(&r.conn, conninfo) < 0)
		return -1;
	json_t *run = NULL;
	int rc = wo_run_get(&run, r.conn, run_id);
	if (rc < 0) {
		PQfinish(r.conn);
		return -1;
	}
	const char *name = json_string_value(json_object_get(run, "deployment"));
	if (wo_deployment_get(&r.deployment, r.conn, name) < 0) {
		wo_run_interrupt(r.conn, run_id, wo_error_last());
		json_decref(run);
		PQfinish(r.conn);
		return -1;
	}
	/* continue numbering after lines of an earlier attempt (a run handed back) */
	PGresult *res;
	const char *p1[] = { r.ids };
	if (wo_db_exec(&res, r.conn, "SELECT coalesce(max(seq), 0) FROM run_logs WHERE run_id = $1::bigint", 1, p1) == 0) {
		r.seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	r.timings = json_object();
	r.outputs = json_object();
	r.hooks = json_array();

	const json_t *ref = json_object_get(run, "requested_ref");
	run_logf(&r, "info", "run %lld of '%s' (trigger %s) on %s: %s %s", run_id, name,
		 json_string_value(json_object_get(run, "trigger")),
		 json_is_string(json_object_get(run, "worker")) ? json_string_value(json_object_get(run, "worker")) : "?",
		 json_is_string(ref) ? "ref" : "branch",
		 json_is_string(ref) ? json_string_value(ref) : json_string_value(json_object_get(r.deployment, "branch")));

	const char *status = "failed";
	char commit[41] = "";
	struct wo_buf err = WO_BUF_INIT;
	struct wo_addon_registry *reg = NULL;
	set_stage(&r, "fetch");
	if (stage_fetch(&r, cfg, run) < 0) {
		wo_buf_printf(&err, "fetch: %s", wo_error_last());
		goto done;
	}
	json_t *fresh = NULL;
	if (wo_run_get(&fresh, r.conn, run_id) < 0) {
		wo_buf_puts(&err, wo_error_last());
		goto done;
	}
	snprintf(commit, sizeof(commit), "%s",
		 json_string_value(json_object_get(json_object_get(fresh, "commit"), "sha")));
	json_decref(fresh);
	struct wo_buf src = WO_BUF_INIT;
	wo_buf_printf(&src, "%s/builds/%lld/src", cfg->data_dir,
		      (long long)json_integer_value(json_object_get(r.deployment, "id")));

	if (wo_addon_registry_load(&reg, cfg->addons_path, r.conn) < 0) {
		wo_buf_printf(&err, "cannot load addons: %s", wo_error_last());
		wo_buf_release(&src);
		goto done;
	}
	for (size_t i = 0; i < reg->naddons; i++)
		if (reg->addons[i]->load_error && reg->addons[i]->enabled)
			run_logf(&r, "warn", "addon '%s' is not loaded: %s", reg->addons[i]->name, reg->addons[i]->load_error);
	if (stage_hooks(&r, reg, WO_EVENT_PRE_DEPLOY, src.ptr, commit) < 0 ||
	    stage_hooks(&r, reg, WO_EVENT_POST_DEPLOY, src.ptr, commit) < 0) {
		wo_buf_puts(&err, wo_error_last());
		wo_buf_release(&src);
		goto done;
	}
	wo_buf_release(&src);
	status = "succeeded";
done:
	if (r.cancelled && strcmp(status, "succeeded") != 0) {
		status = "cancelled";
		wo_buf_clear(&err);
		wo_buf_puts(&err, "cancelled");
	}
	set_stage(&r, "done");
	if (!strcmp(status, "succeeded"))
		run_logf(&r, "info", "run %lld succeeded: '%s' is at %.12s", run_id, name, commit);
	else
		run_logf(&r, "error", "run %lld %s: %s", run_id, status, wo_buf_cstr(&err));
	rc = finish(&r, status, err.len ? err.ptr : NULL);
	wo_addon_registry_free(reg);
	wo_buf_release(&err);
	json_decref(run);
	json_decref(r.deployment);
	json_decref(r.timings);
	json_decref(r.outputs);
	json_decref(r.hooks);
	PQfinish(r.conn);
	if (rc < 0)
		return -1;
	return !strcmp(status, "succeeded") ? 0 : 1;
}
