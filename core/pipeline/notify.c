/* The notifications queue: documents telling addons' notify hooks that a run
 * finished or a health state changed, queued in the transaction that
 * recorded the fact and delivered later by a notify process of webopsd. */
#include "pipeline/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addon/addon.h"
#include "config/config.h"
#include "db/db.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

/* Now as a notify document's "at": 2026-11-24T10:00:00Z. */
static void now_utc(char at[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(at, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int wo_notify_enqueue(PGconn *conn, long long deployment_id, const char *deployment, const json_t *doc)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", deployment_id);
	char *text = json_dumps(doc, JSON_COMPACT);
	const json_t *ev = json_object_get(doc, "event");
	const char *params[] = { ids, deployment, json_is_string(ev) ? json_string_value(ev) : "?", text };
	int rc = wo_db_exec(NULL, conn,
			    "INSERT INTO notifications (deployment_id, deployment, event, document)"
			    " VALUES ($1::bigint, $2, $3, $4::jsonb)",
			    4, params);
	free(text);
	return rc;
}

json_t *wo_notify_run_doc(const char *deployment, long long run_id, const char *status, const char *commit,
			  const char *trigger, const char *error, long long duration_ms)
{
	if (strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0)
		return NULL;
	char at[32];
	now_utc(at);
	struct wo_buf s = WO_BUF_INIT;
	if (!strcmp(status, "succeeded"))
		wo_buf_printf(&s, "%s deployed %.12s (run %lld, %.1f s)", deployment, commit && *commit ? commit : "?",
			      run_id, duration_ms / 1000.0);
	else
		wo_buf_printf(&s, "%s: run %lld failed: %s", deployment, run_id, error && *error ? error : "?");
	json_t *doc = json_object();
	json_object_set_new(doc, "event", json_string(!strcmp(status, "succeeded") ? "run.succeeded" : "run.failed"));
	json_object_set_new(doc, "deployment", json_string(deployment));
	json_object_set_new(doc, "at", json_string(at));
	json_object_set_new(doc, "summary", json_string(s.ptr));
	json_object_set_new(doc, "run_id", json_integer(run_id));
	json_object_set_new(doc, "status", json_string(status));
	json_object_set_new(doc, "commit", commit && *commit ? json_string(commit) : json_null());
	json_object_set_new(doc, "trigger", trigger ? json_string(trigger) : json_null());
	if (error && *error)
		json_object_set_new(doc, "error", json_string(error));
	json_object_set_new(doc, "duration_ms", json_integer(duration_ms));
	wo_buf_release(&s);
	return doc;
}

int wo_notify_tls_expiring(PGconn *conn, const json_t *certs, int days)
{
	int n = 0;
	size_t i;
	json_t *c;
	json_array_foreach(certs, i, c) {
		const char *domain = json_string_value(json_object_get(c, "domain"));
		const char *err = json_string_value(json_object_get(c, "last_error"));
		json_t *left = json_object_get(c, "days_left");
		if (!domain || !err || !json_is_integer(left) || json_integer_value(left) > days)
			continue;
		/* the deployment that has the domain; one warning a day at most */
		char d[16];
		snprintf(d, sizeof(d), "%d", days);
		const char *p1[] = { domain };
		PGresult *res;
		if (wo_db_exec(&res, conn,
			       "SELECT d.id, d.name FROM deployments d WHERE d.domain = $1 AND NOT EXISTS (SELECT 1 FROM"
			       " notifications n WHERE n.deployment_id = d.id AND n.event = 'tls.expiring'"
			       " AND n.created_at > now() - interval '20 hours')",
			       1, p1) < 0)
			return -1;
		if (PQntuples(res) == 1) {
			long long id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			char *name = strdup(PQgetvalue(res, 0, 1));
			char at[32];
			now_utc(at);
			struct wo_buf s = WO_BUF_INIT;
			wo_buf_printf(&s, "%s: the certificate of %s expires in %lld day(s) and cannot be renewed: %s",
				      name, domain, (long long)json_integer_value(left), err);
			json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:s}", "event", "tls.expiring",
						"deployment", name, "at", at, "summary", s.ptr, "domain", domain,
						"days_left", left, "not_after", json_object_get(c, "not_after"), "error",
						err);
			if (doc && wo_notify_enqueue(conn, id, name, doc) == 0)
				n++;
			json_decref(doc);
			wo_buf_release(&s);
			free(name);
		}
		PQclear(res);
	}
	return n;
}

int wo_notify_pending(PGconn *conn, int *out)
{
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT count(*) FROM notifications WHERE done_at IS NULL"
		       " AND (claimed_until IS NULL OR claimed_until < clock_timestamp())",
		       0, NULL) < 0)
		return -1;
	*out = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* Claims the oldest waiting notification: 1 with *out = {id, deployment_id,
 * deployment, document}, 0 when none waits, -1 on error. */
static int claim(json_t **out, PGconn *conn, const char *owner)
{
	const char *params[] = { owner };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "WITH n AS (SELECT id FROM notifications WHERE done_at IS NULL"
		       "   AND (claimed_until IS NULL OR claimed_until < clock_timestamp())"
		       "   ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
		       " UPDATE notifications x SET claimed_by = $1, claimed_until = clock_timestamp() + interval '5 minutes',"
		       "   attempts = x.attempts + 1"
		       " FROM n WHERE x.id = n.id"
		       " RETURNING json_build_object('id', x.id, 'deployment_id', x.deployment_id, 'deployment', x.deployment,"
		       "   'attempts', x.attempts, 'document', x.document)::text",
		       1, params) < 0)
		return -1;
	int got = PQntuples(res) == 1;
	if (got) {
		json_error_t jerr;
		*out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
		got = *out != NULL;
	}
	PQclear(res);
	return got;
}

static void finish(PGconn *conn, long long id, const char *error, int retry)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = { ids, error, retry ? "true" : "false" };
	if (wo_db_exec(NULL, conn,
		       "UPDATE notifications SET error = $2, claimed_by = NULL,"
		       "  claimed_until = CASE WHEN $3::boolean THEN clock_timestamp() + interval '1 minute' END,"
		       "  done_at = CASE WHEN $3::boolean THEN NULL ELSE clock_timestamp() END"
		       " WHERE id = $1::bigint",
		       3, params) < 0)
		wo_log(WO_LOG_ERROR, "notify", "cannot record notification %lld: %s", id, wo_error_last());
}

static void hook_log(void *arg, const char *addon, int level, const char *line)
{
	const char *id = arg;
	wo_log(level >= 3 ? WO_LOG_WARN : WO_LOG_INFO, "notify", "notification %s: %s: %s", id, addon, line);
}

int wo_notify_deliver(const struct wo_config *cfg, PGconn *conn, const char *owner, int max)
{
	struct wo_addon_registry *reg = NULL;
	int done = 0;
	while (done < max) {
		json_t *n = NULL;
		int got = claim(&n, conn, owner);
		if (got <= 0) {
			wo_addon_registry_free(reg);
			return got;
		}
		done++;
		long long id = json_integer_value(json_object_get(n, "id"));
		const char *name = json_string_value(json_object_get(n, "deployment"));
		int attempts = (int)json_integer_value(json_object_get(n, "attempts"));
		if (!reg && wo_addon_registry_load(&reg, cfg->addons_path, conn) < 0) {
			finish(conn, id, wo_error_last(), attempts < 3);
			json_decref(n);
			return -1;
		}
		/* the deployment as it is now; a deleted one is described by its name */
		json_t *d = NULL;
		if (wo_deployment_get(&d, conn, name) < 0) {
			wo_error_clear();
			d = json_pack("{s:s}", "name", name);
		}
		char ids[32];
		snprintf(ids, sizeof(ids), "%lld", id);
		json_t *outputs = json_object();
		struct wo_hook_ctx ctx = {
			.deployment = d,
			.source_dir = "",
			.commit = "",
			.run_id = "",
			.outputs = outputs,
			.event_data = json_object_get(n, "document"),
			.arg = ids,
			.log = hook_log,
		};
		struct wo_hook_report *rep = NULL;
		struct wo_buf err = WO_BUF_INIT;
		if (wo_hook_dispatch(&rep, reg, WO_EVENT_NOTIFY, &ctx) < 0) {
			wo_buf_puts(&err, wo_error_last());
		} else {
			for (size_t i = 0; i < rep->nresults; i++)
				if (rep->results[i].status == WO_HOOK_FAILED) {
					if (err.len)
						wo_buf_puts(&err, "; ");
					wo_buf_puts(&err, rep->results[i].error ? rep->results[i].error : "failed");
				}
		}
		if (err.len)
			wo_log(WO_LOG_WARN, "notify", "notification %lld (%s of '%s'): %s", id,
			       json_string_value(json_object_get(json_object_get(n, "document"), "event")), name, err.ptr);
		/* addons retry deliveries themselves; a failed dispatch is not
		 * repeated (it would repeat what did reach other addons) */
		finish(conn, id, err.len ? err.ptr : NULL, 0);
		wo_buf_release(&err);
		wo_hook_report_free(rep);
		json_decref(outputs);
		json_decref(d);
		json_decref(n);
	}
	wo_addon_registry_free(reg);
	return 0;
}
