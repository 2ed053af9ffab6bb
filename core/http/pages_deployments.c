/* The web UI's deployments list and the new-deployment form. */
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

/* {list, health}: the deployments and {name: health summary}, read and
 * kept until a deployment or a health state changes (generation dg); NULL
 * on a failure. */
static json_t *pg_list_inputs(struct wo_req *req, unsigned dg)
{
	struct wo_http_server *srv = req->srv;
	json_t *l = NULL, *hl = NULL;
	if (wo_deployment_list(&l, req->conn) < 0)
		return NULL;
	/* {name: health summary}; without it the page still shows, uncached */
	json_t *hm = json_object();
	int health_ok = wo_health_list(&hl, req->conn) == 0;
	size_t k;
	json_t *hs;
	json_array_foreach(hl, k, hs)
		if (pg_jstr(hs, "deployment"))
			json_object_set(hm, pg_jstr(hs, "deployment"), hs);
	json_decref(hl);
	json_t *cached = json_pack("{s:o, s:o}", "list", l, "health", hm);
	if (health_ok)
		wo_http__json_cache_put(&srv->page_list, dg, 1, cached);
	return cached;
}

/* A row's last run: {id, href, status, when}, false when it never ran. */
static json_t *pg_last_run_view(const json_t *run)
{
	if (!run)
		return json_false();
	char href[64];
	snprintf(href, sizeof(href), "/runs/%lld", (long long)json_integer_value(json_object_get(run, "id")));
	const json_t *at = json_object_get(run, "finished_at");
	if (json_is_null(at) || !at)
		at = json_object_get(run, "started_at");
	if (json_is_null(at) || !at)
		at = json_object_get(run, "queued_at");
	return json_pack("{s:I, s:s, s:o, s:o}", "id", json_integer_value(json_object_get(run, "id")), "href", href,
			 "status", pg_jtext(pg_jstr(run, "status")), "when", pg_when_json(at));
}

/* The list's row of deployment d; latest: {name: latest run}, health:
 * {name: health summary}. */
static json_t *pg_deployment_row(const json_t *d, const json_t *latest, const json_t *health)
{
	const char *name = pg_jstr(d, "name") ? pg_jstr(d, "name") : "";
	const json_t *run = json_object_get(latest, name);
	json_t *row = json_object();
	pg_set_text(row, "name", name);
	json_object_set_new(row, "href", pg_jpath("/deployments/", name, NULL));
	pg_set_text(row, "status", pg_jstr(d, "status"));
	const char *commit = pg_jstr(d, "current_commit");
	pg_set_text(row, "commit", commit);
	json_object_set_new(row, "commit_short", pg_short_sha(commit));
	/* the release's subject: from its run, else the newest run's if it is that commit */
	const char *subject = pg_jstr(run, "current_commit_subject");
	const json_t *rc = json_object_get(run, "commit");
	if (!subject && commit && pg_jstr(rc, "sha") && !strcmp(pg_jstr(rc, "sha"), commit))
		subject = pg_jstr(rc, "subject");
	pg_set_text(row, "subject", subject);
	json_object_set_new(row, "last_run", pg_last_run_view(run));
	/* the deployment's status from the list: the badge goes with it */
	json_t *hs = json_deep_copy(json_object_get(health, name));
	if (hs)
		json_object_set_new(hs, "status", pg_jtext(pg_jstr(d, "status")));
	json_object_set_new(row, "health", pg_health_badge(hs));
	json_decref(hs);
	return row;
}

WO_HANDLER(wo_page_deployments)
{
	if (pg_db_down(req))
		return 0;
	/* both inputs come from memory until a deployment, a health state or a
	 * run changes (NOTIFY); the generations are read before the queries so a
	 * change during them is not missed */
	struct wo_http_server *srv = req->srv;
	unsigned dg = wo_http__dep_gen(srv), rg = wo_http__runs_gen(srv);
	json_t *cached = wo_http__json_cache_get(&srv->page_list, dg, 1);
	json_t *latest = wo_http__json_cache_get(&srv->page_runs, dg, rg);
	if (!cached && !(cached = pg_list_inputs(req, dg))) {
		json_decref(latest);
		return -1;
	}
	json_t *list = json_incref(json_object_get(cached, "list"));
	json_t *health = json_incref(json_object_get(cached, "health"));
	json_decref(cached);
	/* the cache holds every deployment: keep what this user may read */
	json_t *names = NULL;
	if (wo_http_visible_names(&names, req) < 0) {
		json_decref(list);
		json_decref(health);
		json_decref(latest);
		return -1;
	}
	if (names) {
		json_t *all = list;
		list = wo_http_filter_by_name(json_incref(all), names, "name");
		json_decref(all);
	}
	json_decref(names);
	if (!latest) {
		if (wo_run_latest_all(&latest, req->conn) < 0) {
			json_decref(list);
			json_decref(health);
			return -1;
		}
		wo_http__json_cache_put(&srv->page_runs, dg, rg, latest);
	}
	json_t *data = json_object();
	json_t *rows = json_array();
	size_t i;
	json_t *d;
	json_array_foreach(list, i, d)
		json_array_append_new(rows, pg_deployment_row(d, latest, health));
	char count[64];
	snprintf(count, sizeof(count), "%zu deployment%s", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
	json_object_set_new(data, "has_deployments", json_boolean(json_array_size(list) > 0));
	pg_set_text(data, "count_text", count);
	json_object_set_new(data, "deployments", rows);
	json_decref(list);
	json_decref(health);
	json_decref(latest);
	return pg_render_section(req, 200, "deployments", "nav_deployments", data);
}

static int pg_new_page(struct wo_req *req, int status, struct dform *f)
{
	json_t *data = json_object();
	json_t *order = json_array();
	json_object_set_new(data, "form", pg_dform_view(f, "/deployments/new", "Create deployment", "/", order));
	pg_add_summary(data, f->errors, order);
	json_decref(order);
	json_object_set_new(data, "nav_deployments", json_true());
	return pg_render(req, status, "deployment_new", data);
}

WO_HANDLER(wo_page_deployment_new)
{
	struct dform f;
	pg_dform_init(&f, req, NULL);
	int rc = pg_new_page(req, 200, &f);
	pg_dform_release(&f);
	return rc;
}

WO_HANDLER(wo_page_deployment_create)
{
	if (pg_db_down(req))
		return 0;
	struct dform f;
	json_t *input = NULL, *text = NULL, *d = NULL;
	pg_dform_init(&f, req, NULL);
	int rc = pg_dform_post(&f, req, &input, &text);
	if (rc == 0) {
		/* the repository's default branch is asked without holding this
		 * thread; this handler runs again when it is known */
		int w = wo_http_deployment_create_begin(req, input, wo_page_deployment_create);
		if (w != 0) {
			json_decref(input);
			json_decref(text);
			pg_dform_release(&f);
			return w < 0 ? -1 : 0;
		}
	}
	rc = pg_dform_save(&d, &f, req, NULL, NULL, rc, input, text);
	if (rc < 0) {
		rc = pg_new_page(req, 422, &f);
		pg_dform_release(&f);
		return rc;
	}
	pg_dform_release(&f);
	rc = pg_redirect_to(req, "/deployments/", pg_jstr(d, "name"), "?done=created");
	json_decref(d);
	return rc;
}
