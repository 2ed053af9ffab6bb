/* The web UI's run page (its log, live) and cancelling a run. */
#include "http/pages_int.h"

#include "http/http.h"
#include "http/server_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include "addon/addon.h"
#include "addon/field.h"
#include "health/history.h"
#include "http/chart.h"
#include "pipeline/releases.h"
#include "pipeline/runs.h"
#include "store/access.h"
#include "store/auth.h"
#include "store/deployment.h"
#include "store/webhooks.h"
#include "util/ansi.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/url.h"
#include "util/banned.h"

/* ---- runs ---- */

/* A log line for run.mustache: {seq, stream, text, cls, src}; app.js
 * builds the same from the live stream (keep the two in step). */
static json_t *pg_log_line(const json_t *l)
{
	static const char *const own[] = { "info", "fetch", "hook", "stdout", "stderr", "error", "system", NULL };
	const char *stream = pg_jstr(l, "stream") ? pg_jstr(l, "stream") : "";
	const char *text = pg_jstr(l, "text") ? pg_jstr(l, "text") : "";
	const char *cls = "";
	if (!strcmp(stream, "stderr") || !strcmp(stream, "error") || !strncmp(text, "error:", 6))
		cls = "ln-err";
	else if (!strncmp(text, "warning:", 8))
		cls = "ln-warn";
	int mine = 0;
	for (int i = 0; own[i]; i++)
		mine |= !strcmp(own[i], stream);
	/* the text as escaped HTML, its ANSI colours as classes (util/ansi.h) */
	struct wo_buf html = WO_BUF_INIT;
	if (wo_ansi_html(&html, text) < 0)
		wo_buf_clear(&html);
	json_t *o = json_pack("{s:I, s:o, s:o, s:s, s:o, s:s}", "seq", json_integer_value(json_object_get(l, "seq")),
			      "stream", pg_jtext(stream), "text", pg_jtext(text), "cls", cls, "src", pg_jtext(mine ? "" : stream),
			      "html", wo_buf_cstr(&html));
	wo_buf_release(&html);
	return o;
}

/* The route's run id ({id}) in *id, once a page about it can be made; else
 * *id is -1 and the handler returns what this returns (404 answered for an
 * id that is not one, 503 without the database). */
static int pg_route_run(long long *id, struct wo_req *req)
{
	*id = pg_parse_uint(req->params[0]);
	if (*id < 0)
		return pg_not_found(req, "There is no such run.");
	if (pg_db_down(req))
		*id = -1;
	return 0;
}

/* The handler's result after a store call about the route's run failed
 * with rc: 404 answered when there is no such run. */
static int pg_run_failed(struct wo_req *req, int rc)
{
	return rc == WO_ENOTFOUND ? pg_not_found(req, "There is no such run.") : -1;
}

/* The log so far, at most LOG_LINES_MAX lines, as the page shows them, into
 * *out; *last: the sequence number of the last, *truncated: whether there
 * is more. A live run's page continues it over SSE (app.js). */
static int pg_run_log(json_t **out, long long *last, int *truncated, struct wo_req *req, long long id)
{
	json_t *lines = json_array();
	*last = 0;
	*truncated = 0;
	for (;;) {
		json_t *chunk = NULL;
		if (wo_run_logs(&chunk, req->conn, id, *last) < 0) {
			json_decref(lines);
			return -1;
		}
		size_t i, n = json_array_size(chunk);
		json_t *l;
		json_array_foreach(chunk, i, l) {
			if (json_array_size(lines) >= LOG_LINES_MAX) {
				*truncated = 1;
				break;
			}
			*last = (long long)json_integer_value(json_object_get(l, "seq"));
			json_array_append_new(lines, pg_log_line(l));
		}
		json_decref(chunk);
		if (*truncated || n == 0 || n < 5000)
			break;
	}
	*out = lines;
	return 0;
}

/* The run's stages and how long each took: [{name, time}]. */
static json_t *pg_stages_view(const json_t *run)
{
	json_t *stages = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(run, "stage_timings"), k, v) {
		char t[32];
		pg_fmt_duration(t, sizeof(t), json_is_integer(v) ? (long long)json_integer_value(v) : -1);
		json_array_append_new(stages, json_pack("{s:o, s:s}", "name", pg_jtext(k), "time", t));
	}
	return stages;
}

WO_HANDLER(wo_page_run)
{
	long long id;
	int rc = pg_route_run(&id, req);
	if (id < 0)
		return rc;
	json_t *run = NULL, *lines = NULL;
	rc = wo_run_get(&run, req->conn, id);
	if (rc < 0)
		return pg_run_failed(req, rc);
	long long last;
	int truncated;
	if (pg_run_log(&lines, &last, &truncated, req, id) < 0) {
		json_decref(run);
		return -1;
	}

	json_t *data = json_object();
	const char *status = pg_jstr(run, "status") ? pg_jstr(run, "status") : "";
	const char *dep = pg_jstr(run, "deployment") ? pg_jstr(run, "deployment") : "";
	const json_t *c = json_object_get(run, "commit");
	int failed = !strcmp(status, "failed");
	json_object_set(data, "run", run);
	json_object_set_new(data, "deployment_href", pg_jpath("/deployments/", dep, NULL));
	pg_set_text(data, "commit", pg_jstr(c, "sha"));
	json_object_set_new(data, "commit_short", pg_short_sha(pg_jstr(c, "sha")));
	pg_set_text(data, "subject", pg_jstr(c, "subject"));
	pg_set_text(data, "author", pg_jstr(c, "author"));
	json_object_set_new(data, "active", json_boolean(pg_run_active(status)));
	json_object_set_new(data, "failed", json_boolean(failed));
	/* a cancelled or superseded run says why, without alarm */
	pg_set_text(data, "note", failed ? NULL : pg_jstr(run, "error"));
	json_object_set_new(data, "queued", pg_when_json(json_object_get(run, "queued_at")));
	json_object_set_new(data, "started", pg_when_json(json_object_get(run, "started_at")));
	json_object_set_new(data, "duration", pg_run_duration(run));

	json_t *stages = pg_stages_view(run);
	json_object_set_new(data, "has_stages", json_boolean(json_array_size(stages) > 0));
	json_object_set_new(data, "stages", stages);

	char api[96];
	snprintf(api, sizeof(api), "/api/v1/runs/%lld/log", id);
	json_object_set_new(data, "has_lines", json_boolean(json_array_size(lines) > 0));
	json_object_set_new(data, "line_count", json_integer((json_int_t)json_array_size(lines)));
	json_object_set_new(data, "lines", lines);
	json_object_set_new(data, "last_seq", json_integer(last));
	json_object_set_new(data, "truncated", json_boolean(truncated));
	pg_set_text(data, "log_api", api);
	json_decref(run);
	return pg_render_section(req, 200, "run", "nav_deployments", data);
}

WO_HANDLER(wo_page_run_cancel)
{
	long long id;
	const char *state = NULL;
	int rc = pg_route_run(&id, req);
	if (id < 0)
		return rc;
	rc = wo_run_cancel(&state, req->conn, id);
	if (rc < 0)
		return pg_run_failed(req, rc);
	char loc[96];
	snprintf(loc, sizeof(loc), "/runs/%lld?done=%s", id,
		 !strcmp(state, "cancelled") ? "cancelled" : !strcmp(state, "requested") ? "cancel_requested" : "finished");
	return wo_http_redirect(req, loc);
}
