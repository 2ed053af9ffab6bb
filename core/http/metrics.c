/* /metrics in the Prometheus text exposition format (version 0.0.4): runs,
 * the queue, deployments, health and hooks, computed from PostgreSQL in one
 * read-only snapshot and kept for a second. Histograms and counters over
 * tables that grow (health checks, runs' hooks, restarts) are summed
 * incrementally: rows older than a few minutes are added once, when they
 * leave the window that is recomputed each time, so a scrape never rescans
 * the history and a pruned row does not make a counter go down (until the
 * HTTP process restarts, which Prometheus sees as a counter reset). */
#include "http/metrics.h"

#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "http/http.h"
#include "http/server_int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

#define CACHE_MS 1000
/* rows this old are final (their transactions have long committed) */
#define SETTLED "interval '5 minutes'"
#define MAX_ADDONS 128
#define NB_MAX 16

static const double run_bounds[] = { 1, 5, 10, 30, 60, 120, 300, 600 };
static const double hook_bounds[] = { 0.1, 0.5, 1, 5, 10, 30, 60, 300 };
static const double check_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* n[i]: observations in (bounds[i-1], bounds[i]]; n[nb]: above the last bound */
struct histo {
	unsigned long long n[NB_MAX];
	double sum;
	unsigned long long count;
};

struct addon_histo {
	char name[64];
	struct histo h;
};

/* What the settled rows add up to. */
struct acc {
	struct histo runs, checks;
	unsigned long long checks_ok, checks_fail, restarts;
	int nhooks;
	struct addon_histo hooks[MAX_ADDONS];
};

static struct {
	pthread_mutex_t lock;
	struct acc *settled;
	char settled_upto[64]; /* timestamptz text: rows before it are in settled */
	char *text;
	size_t len;
	long at_ms;
	int have;
} M = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void histo_add(struct histo *h, const double *bounds, int nb, double v, unsigned long long n)
{
	int i = 0;
	while (i < nb && v > bounds[i])
		i++;
	h->n[i] += n;
	h->sum += v * (double)n;
	h->count += n;
}

static struct histo *addon_histo(struct acc *a, const char *name)
{
	for (int i = 0; i < a->nhooks; i++)
		if (!strcmp(a->hooks[i].name, name))
			return &a->hooks[i].h;
	if (a->nhooks >= MAX_ADDONS || strlen(name) >= sizeof(a->hooks[0].name))
		return NULL;
	struct addon_histo *ah = &a->hooks[a->nhooks++];
	memset(ah, 0, sizeof(*ah));
	snprintf(ah->name, sizeof(ah->name), "%s", name);
	return &ah->h;
}

static unsigned long long ull(const char *s)
{
	return strtoull(s, NULL, 10);
}

/* One source over [from, ∞): rows of its statement carry "settled" (before
 * cut) first; settled ones go to s, the others to o. */
static int window(PGconn *c, const char *sql, const char *from, const char *cut, struct acc *s, struct acc *o,
		  void (*row)(struct acc *, PGresult *, int))
{
	const char *params[] = { from, cut };
	PGresult *res;
	if (wo_db_exec(&res, c, sql, 2, params) < 0)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		row(PQgetvalue(res, i, 0)[0] == 't' ? s : o, res, i);
	PQclear(res);
	return 0;
}

static void run_row(struct acc *a, PGresult *r, int i)
{
	histo_add(&a->runs, run_bounds, NB(run_bounds), strtod(PQgetvalue(r, i, 1), NULL) / 1000.0,
		  ull(PQgetvalue(r, i, 2)));
}

static void check_row(struct acc *a, PGresult *r, int i)
{
	unsigned long long n = ull(PQgetvalue(r, i, 3));
	histo_add(&a->checks, check_bounds, NB(check_bounds), strtod(PQgetvalue(r, i, 1), NULL) / 1000.0, n);
	if (PQgetvalue(r, i, 2)[0] == 't')
		a->checks_ok += n;
	else
		a->checks_fail += n;
}

static void restart_row(struct acc *a, PGresult *r, int i)
{
	a->restarts += ull(PQgetvalue(r, i, 1));
}

static void hook_row(struct acc *a, PGresult *r, int i)
{
	struct histo *h = addon_histo(a, PQgetvalue(r, i, 1));
	if (h)
		histo_add(h, hook_bounds, NB(hook_bounds), strtod(PQgetvalue(r, i, 2), NULL) / 1000.0,
			  ull(PQgetvalue(r, i, 3)));
}

/* $1: rows from (timestamptz), $2: settled before. Values in milliseconds,
 * grouped so that a million checks are a few hundred rows. */
static const char runs_sql[] =
	"SELECT finished_at < $2::timestamptz, round(extract(epoch FROM finished_at - started_at) * 1000)::float8, count(*)"
	"  FROM runs WHERE started_at IS NOT NULL AND finished_at >= $1::timestamptz GROUP BY 1, 2";
static const char checks_sql[] =
	"SELECT at < $2::timestamptz, latency_ms, ok, count(*)"
	"  FROM health_checks WHERE at >= $1::timestamptz GROUP BY 1, 2, 3";
static const char restarts_sql[] =
	"SELECT at < $2::timestamptz, count(*)"
	"  FROM health_events WHERE kind = 'restart' AND at >= $1::timestamptz GROUP BY 1";
/* runs.hooks: [{event, ok, hooks: [{addon, status, duration_ms, ...}]}] per stage */
static const char hooks_sql[] =
	"SELECT r.finished_at < $2::timestamptz, hk->>'addon', round((hk->>'duration_ms')::float8), count(*)"
	"  FROM runs r"
	"  CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(r.hooks) = 'array' THEN r.hooks"
	"                                               ELSE '[]'::jsonb END) ev"
	"  CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(ev->'hooks') = 'array' THEN ev->'hooks'"
	"                                               ELSE '[]'::jsonb END) hk"
	" WHERE r.finished_at >= $1::timestamptz AND hk->>'status' IN ('ok', 'failed')"
	"   AND jsonb_typeof(hk->'duration_ms') = 'number' AND hk->>'addon' IS NOT NULL"
	" GROUP BY 1, 2, 3";

static const char gauges_sql[] =
	"SELECT 'run', status, count(*) FROM runs GROUP BY 2"
	" UNION ALL SELECT 'deployment', status, count(*) FROM deployments GROUP BY 2"
	" UNION ALL SELECT 'health', coalesce(h.state, 'unknown'), count(*)"
	"             FROM deployments d LEFT JOIN health_state h ON h.deployment_id = d.id GROUP BY 2";
static const char addons_sql[] =
	"SELECT name, success_count, failure_count, last_duration_ms, status->>'state', status->>'certificates' FROM addons"
	" ORDER BY name";

/* ---- the text ---- */

static void label_value(struct wo_buf *b, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			wo_buf_puts(b, "\\\\");
		else if (*p == '"')
			wo_buf_puts(b, "\\\"");
		else if (*p == '\n')
			wo_buf_puts(b, "\\n");
		else
			wo_buf_putc(b, *p);
	}
}

static void family(struct wo_buf *b, const char *name, const char *type, const char *help)
{
	wo_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k="v"} value; label NULL: no labels */
static void sample(struct wo_buf *b, const char *name, const char *k, const char *v, double value)
{
	wo_buf_puts(b, name);
	if (k) {
		wo_buf_printf(b, "{%s=\"", k);
		label_value(b, v);
		wo_buf_puts(b, "\"}");
	}
	if (value == floor(value) && fabs(value) < 1e15)
		wo_buf_printf(b, " %.0f\n", value);
	else
		wo_buf_printf(b, " %.15g\n", value);
}

static void histo_text(struct wo_buf *b, const char *name, const char *k, const char *v, const struct histo *h,
		       const double *bounds, int nb)
{
	unsigned long long cum = 0;
	for (int i = 0; i <= nb; i++) {
		cum += h->n[i];
		wo_buf_printf(b, "%s_bucket{", name);
		if (k) {
			wo_buf_printf(b, "%s=\"", k);
			label_value(b, v);
			wo_buf_puts(b, "\",");
		}
		if (i < nb)
			wo_buf_printf(b, "le=\"%g\"} %llu\n", bounds[i], cum);
		else
			wo_buf_printf(b, "le=\"+Inf\"} %llu\n", h->count);
	}
	char n[128];
	snprintf(n, sizeof(n), "%s_sum", name);
	sample(b, n, k, v, h->sum);
	snprintf(n, sizeof(n), "%s_count", name);
	sample(b, n, k, v, (double)h->count);
}

/* Every status a gauge knows, zero included, so a series never vanishes. */
static void by_label(struct wo_buf *b, const char *name, const char *k, const char *const *known, PGresult *g,
		     const char *kind)
{
	for (int i = 0; known[i]; i++) {
		double n = 0;
		for (int r = 0; r < PQntuples(g); r++)
			if (!strcmp(PQgetvalue(g, r, 0), kind) && !strcmp(PQgetvalue(g, r, 1), known[i]))
				n = strtod(PQgetvalue(g, r, 2), NULL);
		sample(b, name, k, known[i], n);
	}
	for (int r = 0; r < PQntuples(g); r++) {
		if (strcmp(PQgetvalue(g, r, 0), kind) != 0)
			continue;
		int seen = 0;
		for (int i = 0; known[i]; i++)
			seen |= !strcmp(PQgetvalue(g, r, 1), known[i]);
		if (!seen)
			sample(b, name, k, PQgetvalue(g, r, 1), strtod(PQgetvalue(g, r, 2), NULL));
	}
}

static void hook_text(struct wo_buf *b, const char *name, const char *addon, const char *result, const char *value)
{
	wo_buf_printf(b, "%s{addon=\"", name);
	label_value(b, addon);
	wo_buf_putc(b, '"');
	if (result)
		wo_buf_printf(b, ",result=\"%s\"", result);
	wo_buf_printf(b, "} %s\n", value);
}

static void addon_state_text(struct wo_buf *b, const char *addon, const char *state, int on)
{
	wo_buf_puts(b, "webops_addon_state{addon=\"");
	label_value(b, addon);
	wo_buf_puts(b, "\",state=\"");
	label_value(b, state);
	wo_buf_printf(b, "\"} %d\n", on);
}

/* Runs by status, the queue, how long runs took; g: the gauges query's rows. */
static void render_runs(struct wo_buf *b, const struct acc *a, PGresult *g)
{
	static const char *const run_statuses[] = { "queued", "running", "succeeded", "failed", "cancelled",
						    "superseded", NULL };
	family(b, "webops_runs", "gauge",
	       "Runs by status (runs are deleted with their deployment, so a count can go down).");
	by_label(b, "webops_runs", "status", run_statuses, g, "run");
	double queued = 0;
	for (int r = 0; r < PQntuples(g); r++)
		if (!strcmp(PQgetvalue(g, r, 0), "run") && !strcmp(PQgetvalue(g, r, 1), "queued"))
			queued = strtod(PQgetvalue(g, r, 2), NULL);
	family(b, "webops_queue_depth", "gauge", "Runs queued and not yet claimed by a worker.");
	sample(b, "webops_queue_depth", NULL, NULL, queued);
	family(b, "webops_run_duration_seconds", "histogram",
	       "How long finished runs took from start to finish (runs in the database when this HTTP process "
	       "read them; it starts over when the process restarts).");
	histo_text(b, "webops_run_duration_seconds", NULL, NULL, &a->runs, run_bounds, NB(run_bounds));
}

/* Deployments by status and health state, health checks, restarts. */
static void render_deployments(struct wo_buf *b, const struct acc *a, PGresult *g)
{
	static const char *const dep_statuses[] = { "pending", "building", "running", "deployed", "stopped", "failed", "deleting",
						    NULL };
	static const char *const states[] = { "unknown", "pending", "healthy", "unhealthy", NULL };
	family(b, "webops_deployments", "gauge", "Deployments by status.");
	by_label(b, "webops_deployments", "status", dep_statuses, g, "deployment");
	family(b, "webops_deployments_health", "gauge", "Deployments by health state.");
	by_label(b, "webops_deployments_health", "state", states, g, "health");

	family(b, "webops_health_check_duration_seconds", "histogram",
	       "How long health checks took (checks kept in health_checks when this HTTP process read them: "
	       "checks pruned before are not counted, and it starts over when the process restarts).");
	histo_text(b, "webops_health_check_duration_seconds", NULL, NULL, &a->checks, check_bounds, NB(check_bounds));
	family(b, "webops_health_checks_total", "counter",
	       "Health checks by result (from health_checks, like webops_health_check_duration_seconds: "
	       "lower after the HTTP process restarts once old checks were pruned).");
	sample(b, "webops_health_checks_total", "result", "ok", (double)a->checks_ok);
	sample(b, "webops_health_checks_total", "result", "fail", (double)a->checks_fail);
	family(b, "webops_restarts_total", "counter",
	       "Automatic restarts of unhealthy deployments (health events kept; lower after the HTTP process "
	       "restarts once events were pruned or deployments deleted).");
	sample(b, "webops_restarts_total", NULL, NULL, (double)a->restarts);
}

/* The addons' hook counters and last durations; ad: the addons query's rows. */
static void render_hooks(struct wo_buf *b, PGresult *ad)
{
	family(b, "webops_hook_runs_total", "counter",
	       "Hook runs by addon and result, every event (the addons table's counters; they never go down).");
	for (int r = 0; r < PQntuples(ad); r++) {
		hook_text(b, "webops_hook_runs_total", PQgetvalue(ad, r, 0), "ok", PQgetvalue(ad, r, 1));
		hook_text(b, "webops_hook_runs_total", PQgetvalue(ad, r, 0), "failed", PQgetvalue(ad, r, 2));
	}
	family(b, "webops_hook_failures_total", "counter", "Failed hook runs by addon, every event.");
	for (int r = 0; r < PQntuples(ad); r++)
		hook_text(b, "webops_hook_failures_total", PQgetvalue(ad, r, 0), NULL, PQgetvalue(ad, r, 2));
	family(b, "webops_hook_last_duration_seconds", "gauge", "How long each addon's last hook run took.");
	for (int r = 0; r < PQntuples(ad); r++) {
		if (PQgetisnull(ad, r, 3))
			continue;
		char v[32];
		snprintf(v, sizeof(v), "%.3f", strtod(PQgetvalue(ad, r, 3), NULL) / 1000.0);
		hook_text(b, "webops_hook_last_duration_seconds", PQgetvalue(ad, r, 0), NULL, v);
	}
}

/* What each addon last said of itself: its state, the certificates it keeps. */
static void render_addon_states(struct wo_buf *b, PGresult *ad)
{
	family(b, "webops_addon_state", "gauge",
	       "1 for the state each addon last said it is in (its status hook, asked every minute: the docker "
	       "addon's engine running, unconfigured or failed), 0 for the others.");
	static const char *const addon_states[] = { "running", "unconfigured", "failed", NULL };
	for (int r = 0; r < PQntuples(ad); r++) {
		if (PQgetisnull(ad, r, 4))
			continue;
		const char *st = PQgetvalue(ad, r, 4);
		int known = 0;
		for (int k = 0; addon_states[k]; k++) {
			known |= !strcmp(st, addon_states[k]);
			addon_state_text(b, PQgetvalue(ad, r, 0), addon_states[k], !strcmp(st, addon_states[k]));
		}
		if (!known)
			addon_state_text(b, PQgetvalue(ad, r, 0), st, 1);
	}
	family(b, "webops_tls_certificate_expiry_seconds", "gauge",
	       "When each domain's TLS certificate expires (seconds since the epoch), as the addon keeping it "
	       "(proxy-nginx) last said; domains without a certificate are not listed.");
	for (int r = 0; r < PQntuples(ad); r++) {
		if (PQgetisnull(ad, r, 5))
			continue;
		json_t *list = json_loads(PQgetvalue(ad, r, 5), 0, NULL);
		size_t i;
		json_t *c;
		json_array_foreach(list, i, c) {
			const char *dom = json_string_value(json_object_get(c, "domain"));
			json_t *exp = json_object_get(c, "expires_at");
			if (!dom || !json_is_integer(exp))
				continue;
			wo_buf_puts(b, "webops_tls_certificate_expiry_seconds{domain=\"");
			label_value(b, dom);
			wo_buf_printf(b, "\"} %lld\n", (long long)json_integer_value(exp));
		}
		json_decref(list);
	}
}

static void render(struct wo_buf *b, const struct acc *a, PGresult *g, PGresult *ad, double compute_s)
{
	render_runs(b, a, g);
	render_deployments(b, a, g);
	render_hooks(b, ad);
	render_addon_states(b, ad);
	family(b, "webops_hook_duration_seconds", "histogram",
	       "How long the hooks of deploy runs took, by addon (from the runs kept when this HTTP process "
	       "read them; it starts over when the process restarts).");
	for (int i = 0; i < a->nhooks; i++)
		histo_text(b, "webops_hook_duration_seconds", "addon", a->hooks[i].name, &a->hooks[i].h, hook_bounds,
			   NB(hook_bounds));

	family(b, "webops_metrics_compute_seconds", "gauge", "How long computing these metrics took.");
	sample(b, "webops_metrics_compute_seconds", NULL, NULL, compute_s);
}

static void acc_merge(struct acc *into, const struct acc *from)
{
	const struct histo *fh[] = { &from->runs, &from->checks };
	struct histo *ih[] = { &into->runs, &into->checks };
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < NB_MAX; i++)
			ih[k]->n[i] += fh[k]->n[i];
		ih[k]->sum += fh[k]->sum;
		ih[k]->count += fh[k]->count;
	}
	into->checks_ok += from->checks_ok;
	into->checks_fail += from->checks_fail;
	into->restarts += from->restarts;
	for (int j = 0; j < from->nhooks; j++) {
		struct histo *h = addon_histo(into, from->hooks[j].name);
		if (!h)
			continue;
		for (int i = 0; i < NB_MAX; i++)
			h->n[i] += from->hooks[j].h.n[i];
		h->sum += from->hooks[j].h.sum;
		h->count += from->hooks[j].h.count;
	}
}

static int by_name(const void *x, const void *y)
{
	return strcmp(((const struct addon_histo *)x)->name, ((const struct addon_histo *)y)->name);
}

/* With M.lock held: a fresh text in M.text. */
static int compute(PGconn *c)
{
	long t0 = wo_http__now_ms();
	struct acc *settled = calloc(1, sizeof(*settled)), *now = calloc(1, sizeof(*now));
	PGresult *cut = NULL, *g = NULL, *ad = NULL;
	struct wo_buf b = WO_BUF_INIT;
	int rc = -1, in_tx = 0;
	if (!settled || !now) {
		wo_error_set("out of memory");
		goto out;
	}
	if (M.settled)
		*settled = *M.settled;
	const char *from = M.settled_upto[0] ? M.settled_upto : "-infinity";
	/* one snapshot: every number of a scrape describes the same moment */
	if (wo_db_exec(NULL, c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL) < 0)
		goto out;
	in_tx = 1;
	if (wo_db_exec(&cut, c, "SELECT (clock_timestamp() - " SETTLED ")::text", 0, NULL) < 0)
		goto out;
	const char *upto = PQgetvalue(cut, 0, 0);
	if (window(c, runs_sql, from, upto, settled, now, run_row) < 0 ||
	    window(c, checks_sql, from, upto, settled, now, check_row) < 0 ||
	    window(c, restarts_sql, from, upto, settled, now, restart_row) < 0 ||
	    window(c, hooks_sql, from, upto, settled, now, hook_row) < 0)
		goto out;
	if (wo_db_exec(&g, c, gauges_sql, 0, NULL) < 0 || wo_db_exec(&ad, c, addons_sql, 0, NULL) < 0)
		goto out;
	if (wo_db_exec(NULL, c, "COMMIT", 0, NULL) < 0)
		goto out;
	in_tx = 0;
	qsort(settled->hooks, (size_t)settled->nhooks, sizeof(settled->hooks[0]), by_name);
	/* the settled part is kept; the recent part is recomputed next time */
	free(M.settled);
	M.settled = settled;
	snprintf(M.settled_upto, sizeof(M.settled_upto), "%s", upto);
	settled = NULL;
	/* shown: the settled part plus the recent one, addons in name order */
	struct acc *sum = calloc(1, sizeof(*sum));
	if (!sum) {
		wo_error_set("out of memory");
		goto out;
	}
	*sum = *M.settled;
	acc_merge(sum, now);
	qsort(sum->hooks, (size_t)sum->nhooks, sizeof(sum->hooks[0]), by_name);
	render(&b, sum, g, ad, (double)(wo_http__now_ms() - t0) / 1000.0);
	free(sum);
	free(M.text);
	M.len = b.len;
	M.text = wo_buf_detach(&b);
	M.at_ms = wo_http__now_ms();
	M.have = 1;
	rc = 0;
out:
	if (in_tx)
		wo_db_rollback(c);
	if (rc < 0)
		wo_error_prefix("cannot compute the metrics");
	PQclear(cut);
	PQclear(g);
	PQclear(ad);
	wo_buf_release(&b);
	free(settled);
	free(now);
	return rc;
}

int wo_metrics_render(struct wo_buf *out, PGconn *conn)
{
	pthread_mutex_lock(&M.lock);
	int rc = 0;
	if (!M.have || wo_http__now_ms() - M.at_ms >= CACHE_MS)
		rc = compute(conn);
	if (rc == 0 && wo_buf_add(out, M.text, M.len) < 0)
		rc = wo_error_set("cannot compute the metrics: out of memory");
	pthread_mutex_unlock(&M.lock);
	return rc;
}

/* GET /metrics on the main server (an API token, as the API). */
int wo_http_metrics(struct wo_req *req)
{
	struct wo_buf out = WO_BUF_INIT;
	if (wo_metrics_render(&out, req->conn) < 0) {
		wo_buf_release(&out);
		return -1;
	}
	int rc = wo_http_send(req, 200, WO_METRICS_CONTENT_TYPE, wo_buf_cstr(&out), out.len);
	wo_buf_release(&out);
	return rc;
}

/* ---- the metrics-only server (--metrics-listen) ---- */

struct wo_metrics_server {
	struct MHD_Daemon *mhd;
	char *conninfo;
	PGconn *conn; /* the server's one thread's */
	long last_complaint;
};

static PGconn *ms_conn(struct wo_metrics_server *ms)
{
	if (ms->conn && PQstatus(ms->conn) == CONNECTION_OK && PQtransactionStatus(ms->conn) == PQTRANS_IDLE)
		return ms->conn;
	PQfinish(ms->conn);
	ms->conn = NULL;
	if (wo_db_connect(&ms->conn, ms->conninfo) < 0) {
		long now = wo_http__now_ms();
		if (now - ms->last_complaint > 10000) {
			ms->last_complaint = now;
			wo_log(WO_LOG_ERROR, "metrics", "%s", wo_error_last());
		}
		return NULL;
	}
	return ms->conn;
}

static enum MHD_Result ms_send(struct MHD_Connection *c, unsigned status, const char *type, const char *data,
			       size_t len, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	wo_http__add_security_headers(r);
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	enum MHD_Result q = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return q;
}

#define TEXT "text/plain; charset=utf-8"

static enum MHD_Result ms_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	static int started;
	struct wo_metrics_server *ms = cls;
	if (!*con_cls) {
		*con_cls = &started;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body means nothing here */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0) {
		static const char msg[] = "not found: this address serves only /metrics\n";
		return ms_send(c, 404, TEXT, msg, sizeof(msg) - 1, NULL);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char msg[] = "method not allowed: use GET\n";
		return ms_send(c, 405, TEXT, msg, sizeof(msg) - 1, "GET, HEAD");
	}
	PGconn *conn = ms_conn(ms);
	struct wo_buf out = WO_BUF_INIT;
	enum MHD_Result q;
	if (!conn) {
		static const char msg[] = "the database is not reachable; try again shortly\n";
		q = ms_send(c, 503, TEXT, msg, sizeof(msg) - 1, NULL);
	} else if (wo_metrics_render(&out, conn) < 0) {
		wo_log(WO_LOG_ERROR, "metrics", "%s", wo_error_last());
		wo_buf_clear(&out);
		wo_buf_printf(&out, "%s\n", wo_error_last());
		q = ms_send(c, 500, TEXT, wo_buf_cstr(&out), out.len, NULL);
	} else {
		q = ms_send(c, 200, WO_METRICS_CONTENT_TYPE, wo_buf_cstr(&out), out.len, NULL);
	}
	wo_buf_release(&out);
	return q;
}

static void ms_log(void *cls, const char *fmt, va_list ap)
{
	wo_http__mhd_message(WO_LOG_WARN, "metrics", fmt, ap);
}

void wo_metrics_server_stop(struct wo_metrics_server *ms)
{
	if (!ms)
		return;
	MHD_stop_daemon(ms->mhd);
	PQfinish(ms->conn);
	free(ms->conninfo);
	free(ms);
}

int wo_metrics_server_start(struct wo_metrics_server **out, int listen_fd, const char *conninfo)
{
	struct wo_metrics_server *ms = calloc(1, sizeof(*ms));
	if (!ms || !(ms->conninfo = strdup(conninfo))) {
		free(ms);
		return wo_error_set("out of memory");
	}
	ms->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				   ms_request, ms, MHD_OPTION_EXTERNAL_LOGGER, ms_log, NULL,
				   MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	if (!ms->mhd) {
		free(ms->conninfo);
		free(ms);
		return wo_error_set("cannot start the metrics server (libmicrohttpd refused the options)");
	}
	*out = ms;
	return 0;
}
