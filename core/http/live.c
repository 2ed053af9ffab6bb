/* The pages' live state as Server-Sent Events: each deployment's status,
 * health and newest run (its status, stage, commit), sent when it changes,
 * so the list and deployment pages follow a deploy started elsewhere (the
 * CLI, a push) without a reload. The stream reads the database once a
 * second while a page is open (one small query) and sends only changes. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/server_int.h"
#include "util/error.h"
#include "util/banned.h"

#define LIVE_EVERY_MS 1000

struct live {
	struct wo_http_stream st; /* first: the stream's callbacks get it */
	char *only;          /* one deployment, or NULL: every one in names */
	json_t *names;       /* the names the user may read; NULL: all */
	char *last;          /* the state last sent */
};

static void live_free(void *cls)
{
	struct live *l = cls;
	free(l->only);
	json_decref(l->names);
	free(l->last);
	wo_buf_release(&l->st.pending);
	free(l);
}

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* {name: {status, health, reason, run: {id, status, stage, trigger, sha,
 * subject, queued_at, duration_ms} | null}} */
static int snapshot(char **out, PGconn *conn, const struct live *l)
{
	const char *params[] = { l->only };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT coalesce(json_object_agg(d.name, json_build_object('status', d.status,"
		       " 'health', h.state, 'reason', h.reason, 'commit', d.current_commit,"
		       " 'run', (SELECT json_build_object('id', r.id, 'status', r.status, 'stage', r.stage,"
		       "   'trigger', r.trigger, 'sha', r.commit_sha, 'subject', r.commit_subject,"
		       "   'queued_at', " TS("r.queued_at") ","
		       "   'duration_ms', (extract(epoch FROM (coalesce(r.finished_at, clock_timestamp()) - r.started_at))"
		       "     * 1000)::bigint)"
		       "   FROM runs r WHERE r.deployment_id = d.id ORDER BY r.id DESC LIMIT 1)) ORDER BY d.name), '{}')::text"
		       " FROM deployments d LEFT JOIN health_state h ON h.deployment_id = d.id"
		       " WHERE $1::text IS NULL OR d.name = $1",
		       1, params) < 0)
		return -1;
	json_t *all = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (!all)
		return wo_error_set("cannot read the deployments' state");
	if (l->names) {
		/* what this user may read */
		json_t *kept = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(all, k, v)
			if (json_object_get(l->names, k))
				json_object_set(kept, k, v);
		json_decref(all);
		all = kept;
	}
	*out = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(all);
	return *out ? 0 : wo_error_set("out of memory");
}

/* The state, when it changed since it was last sent. */
static int live_fill(struct wo_http_stream *st, PGconn *conn)
{
	struct live *l = (struct live *)st;
	char *now = NULL;
	if (snapshot(&now, conn, l) < 0)
		return -1;
	if (!l->last || strcmp(now, l->last) != 0) {
		wo_buf_printf(&st->pending, "event: state\ndata: %s\n\n", now);
		free(l->last);
		l->last = now;
		return 1;
	}
	free(now);
	return 0;
}

/* Look again in a second (no run is ever -1: only the time wakes it). */
static int live_wait(struct wo_http_stream *st)
{
	pthread_mutex_lock(&st->srv->lock);
	MHD_suspend_connection(st->mhd);
	wo_http__wait_run(st->srv, st->mhd, -1, LIVE_EVERY_MS);
	pthread_mutex_unlock(&st->srv->lock);
	return 0;
}

int wo_http_live(struct wo_req *req, const char *only)
{
	struct live *l = calloc(1, sizeof(*l));
	if (!l)
		return wo_error_set("out of memory");
	l->only = only ? strdup(only) : NULL;
	if (wo_http_visible_names(&l->names, req) < 0) {
		live_free(l);
		return -1;
	}
	l->st.fill = live_fill;
	l->st.wait = live_wait;
	return wo_http__stream_start(req, &l->st, 3000, live_free, "no-cache");
}
