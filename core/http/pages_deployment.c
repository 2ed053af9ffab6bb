/* The web UI's deployment page (its runs, releases, addresses, HTTPS,
 * webhook, sharing, health, the form) and its actions (deploy, start, stop,
 * restart, rollback, delete). */
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

static int pg_deployment_page_secret(struct wo_req *req, int status, const json_t *d, struct dform *f,
				     const char *action_title, const char *action_error, const char *secret);
static int pg_action_refused(struct wo_req *req, const char *name, int status, const char *title, const char *why);

/* The current release: {commit, commit_short, subject, run_id, run_href}, false before the first. */
/* A row's link to its run: run_href and run_id when rid is a run's id,
 * else both false. */
static void pg_set_run_link(json_t *row, const json_t *rid)
{
	if (!json_is_integer(rid)) {
		json_object_set_new(row, "run_href", json_false());
		json_object_set_new(row, "run_id", json_false());
		return;
	}
	char href[64];
	snprintf(href, sizeof(href), "/runs/%lld", (long long)json_integer_value(rid));
	pg_set_text(row, "run_href", href);
	json_object_set_new(row, "run_id", json_integer(json_integer_value(rid)));
}

/* After queueing a run: its page (run is released). */
static int pg_show_run(struct wo_req *req, json_t *run)
{
	char loc[64];
	snprintf(loc, sizeof(loc), "/runs/%lld", (long long)json_integer_value(json_object_get(run, "id")));
	json_decref(run);
	return wo_http_redirect(req, loc);
}

static json_t *pg_release_json(struct wo_req *req, const json_t *d, const json_t *runs)
{
	const char *commit = pg_jstr(d, "current_commit");
	if (!commit)
		return json_false();
	json_t *rel = json_object();
	pg_set_text(rel, "commit", commit);
	json_object_set_new(rel, "commit_short", pg_short_sha(commit));
	const json_t *rid = json_object_get(d, "current_run_id");
	const char *subject = NULL;
	json_t *fetched = NULL;
	if (json_is_integer(rid)) {
		size_t i;
		json_t *r;
		json_array_foreach(runs, i, r)
			if (json_integer_value(json_object_get(r, "id")) == json_integer_value(rid))
				subject = pg_jstr(json_object_get(r, "commit"), "subject");
		if (!subject && wo_run_get(&fetched, req->conn, (long long)json_integer_value(rid)) == 0)
			subject = pg_jstr(json_object_get(fetched, "commit"), "subject");
	}
	pg_set_run_link(rel, rid);
	pg_set_text(rel, "subject", subject);
	json_decref(fetched);
	return rel;
}

/* The releases section: every deploy that succeeded, newest first, each
 * but the serving one with a button that runs it again. */
static json_t *pg_releases_view(struct wo_req *req, const char *name)
{
	json_t *list = NULL, *rows = json_array();
	if (wo_release_list(&list, req->conn, name, 20) < 0)
		wo_error_clear();
	size_t i;
	json_t *r;
	json_array_foreach(list, i, r) {
		json_t *row = json_object();
		json_object_set_new(row, "number", json_integer(json_integer_value(json_object_get(r, "number"))));
		const json_t *c = json_object_get(r, "commit");
		pg_set_text(row, "commit", pg_jstr(c, "sha"));
		json_object_set_new(row, "commit_short", pg_short_sha(pg_jstr(c, "sha")));
		pg_set_text(row, "subject", pg_jstr(c, "subject"));
		json_object_set_new(row, "created", pg_when_json(json_object_get(r, "created_at")));
		pg_set_run_link(row, json_object_get(r, "run_id"));
		const char *img = pg_jstr(json_object_get(json_object_get(r, "outputs"), "docker"), "image_id");
		if (img && !strncmp(img, "sha256:", 7))
			img += 7;
		if (img) {
			char shorter[16];
			snprintf(shorter, sizeof(shorter), "%.12s", img);
			pg_set_text(row, "image", shorter);
		}
		const json_t *back = json_object_get(r, "rollback_of");
		json_object_set_new(row, "rollback_of", json_is_integer(back) ? json_integer(json_integer_value(back))
									    : json_false());
		json_object_set_new(row, "current", json_boolean(json_is_true(json_object_get(r, "current"))));
		json_array_append_new(rows, row);
	}
	json_decref(list);
	json_t *v = json_pack("{s:b,s:o}", "has_releases", json_array_size(rows) > 0, "list", rows);
	json_object_set_new(v, "action", pg_jpath("/deployments/", name, "/rollback"));
	return v;
}

/* The host name the page was asked for (its Host header, without a port),
 * for links to the deployment's port on the same host. */
static void pg_request_host(struct wo_req *req, char *out, size_t cap)
{
	const char *h = wo_http_header(req, "Host");
	snprintf(out, cap, "%s", h && *h ? h : "localhost");
	char *colon = out[0] == '[' ? strstr(out, "]:") : strrchr(out, ':');
	if (colon)
		colon[out[0] == '[' ? 1 : 0] = '\0';
	for (char *p = out; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr(".-[]:", *p))) {
			snprintf(out, cap, "localhost");
			break;
		}
}

/* Where the deployment is reached, as links: its domain, its port, the
 * ports its container publishes (loopback ones: this host only). */
/* The TLS line: the certificate of the deployment's domain as the addon
 * keeping it last said (its status, asked every minute), or why there is
 * none; NULL without a domain or a word from any addon. */
static json_t *pg_tls_view(struct wo_req *req, const json_t *d)
{
	const char *domain = pg_jstr(d, "domain");
	if (!domain || !*domain)
		return NULL;
	json_t *st = NULL, *view = NULL;
	if (wo_addon_status_read(&st, req->conn) < 0) {
		wo_error_clear();
		return NULL;
	}
	json_t *certs = wo_addon_certificates(st);
	size_t i;
	json_t *c;
	json_array_foreach(certs, i, c) {
		const char *cd = pg_jstr(c, "domain");
		if (!cd || strcmp(cd, domain) != 0)
			continue;
		view = json_object();
		const char *issuer = pg_jstr(c, "issuer");
		json_object_set_new(view, "secure", json_boolean(issuer != NULL));
		pg_set_text(view, "issuer", issuer);
		pg_set_text(view, "not_after", pg_jstr(c, "not_after"));
		json_t *days = json_object_get(c, "days_left");
		if (json_is_integer(days))
			json_object_set_new(view, "days_left", json_integer(json_integer_value(days)));
		if (pg_jstr(c, "last_error"))
			pg_set_text(view, "error", pg_jstr(c, "last_error"));
		break;
	}
	json_decref(certs);
	json_decref(st);
	return view;
}

static json_t *pg_addresses_view(struct wo_req *req, const json_t *d)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	json_t *list = wo_addon_addresses(reg, d);
	if (reg)
		wo_http_registry_unlock(req);
	else
		wo_error_clear();
	char host[300];
	pg_request_host(req, host, sizeof(host));
	json_t *rows = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a) {
		const char *kind = pg_jstr(a, "kind");
		char url[700] = "", label[400] = "";
		if (!strcmp(kind, "domain")) {
			snprintf(url, sizeof(url), "%s", pg_jstr(a, "url"));
			snprintf(label, sizeof(label), "%s", pg_jstr(a, "url"));
		} else if (!strcmp(kind, "port")) {
			snprintf(url, sizeof(url), "http://%s:%lld/", host, (long long)json_integer_value(json_object_get(a, "port")));
			snprintf(label, sizeof(label), "port %lld", (long long)json_integer_value(json_object_get(a, "port")));
		} else {
			int local = json_is_true(json_object_get(a, "local"));
			if (!local && !strcmp(pg_jstr(a, "proto"), "tcp"))
				snprintf(url, sizeof(url), "http://%s:%lld/", host,
					 (long long)json_integer_value(json_object_get(a, "port")));
			snprintf(label, sizeof(label), "%s%s", pg_jstr(a, "mapping"), local ? " (this host only)" : "");
		}
		json_array_append_new(rows, json_pack("{s:o,s:o}", "url", url[0] ? pg_jtext(url) : json_false(), "label",
						      pg_jtext(label)));
	}
	json_decref(list);
	json_t *v = json_pack("{s:b,s:o}", "any", json_array_size(rows) > 0, "list", rows);
	/* the Open button: the first address a browser can follow */
	json_array_foreach(rows, i, a)
		if (json_is_string(json_object_get(a, "url"))) {
			json_object_set(v, "open", json_object_get(a, "url"));
			break;
		}
	return v;
}

/* Status and health as one statement: "running · unhealthy: exited with
 * code 3", with the class of the worse of the two. */
static json_t *pg_statement_view(const json_t *d, const json_t *health)
{
	const char *status = pg_jstr(d, "status") ? pg_jstr(d, "status") : "";
	const json_t *badge = json_object_get(health, "badge");
	struct wo_buf t = WO_BUF_INIT;
	wo_buf_puts(&t, status);
	const char *cls = status;
	const char *cls_prefix = "st-";
	if (json_is_object(badge)) {
		const char *st = pg_jstr(badge, "state");
		if (st && !strcmp(st, "unhealthy")) {
			const char *why = pg_jstr(health, "reason");
			wo_buf_printf(&t, " \xc2\xb7 unhealthy%s%s", why ? ": " : "", why ? why : "");
			cls = "unhealthy";
			cls_prefix = "h-";
		} else if (st && !strcmp(st, "healthy")) {
			wo_buf_puts(&t, " \xc2\xb7 healthy");
		} else {
			wo_buf_puts(&t, " \xc2\xb7 not checked yet");
		}
	} else if (!strcmp(status, "deployed")) {
		wo_buf_puts(&t, " \xc2\xb7 nothing runs it (no runtime addon acts on it)");
	}
	char c[64];
	snprintf(c, sizeof(c), "%s%s", cls_prefix, cls);
	json_t *v = json_pack("{s:o,s:o}", "text", pg_jtext(wo_buf_cstr(&t)), "class", pg_jtext(c));
	wo_buf_release(&t);
	return v;
}

/* The deployment page: the record d, its runs, the edit form f (with its
 * errors), and the error of a failed action (title and text) when given. */
/* The webhook section: URL, the secret when asked for, recent deliveries. */
static json_t *pg_webhook_view(struct wo_req *req, const char *name, const char *secret)
{
	json_t *v = json_object();
	char *url = NULL;
	if (asprintf(&url, "%s/hooks/%s", wo_http_public_url(req), name) >= 0) {
		pg_set_text(v, "url", url);
		free(url);
	}
	pg_set_text(v, "secret", secret);
	json_t *list = NULL, *rows = json_array();
	if (wo_webhook_deliveries(&list, req->conn, name, 10) == 0) {
		size_t i;
		json_t *w;
		json_array_foreach(list, i, w) {
			json_t *row = json_object();
			pg_set_text(row, "provider", pg_jstr(w, "provider"));
			pg_set_text(row, "event", pg_jstr(w, "event"));
			pg_set_text(row, "verdict", pg_jstr(w, "verdict"));
			pg_set_text(row, "reason", pg_jstr(w, "reason"));
			json_object_set_new(row, "commit_short", pg_short_sha(pg_jstr(w, "commit")));
			pg_set_text(row, "commit", pg_jstr(w, "commit"));
			json_object_set_new(row, "received", pg_when_json(json_object_get(w, "received_at")));
			pg_set_run_link(row, json_object_get(w, "run_id"));
			json_array_append_new(rows, row);
		}
	}
	json_decref(list);
	json_object_set_new(v, "has_deliveries", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(v, "deliveries", rows);
	return v;
}


static int pg_deployment_page(struct wo_req *req, int status, const json_t *d, struct dform *f,
			   const char *action_title, const char *action_error)
{
	return pg_deployment_page_secret(req, status, d, f, action_title, action_error, NULL);
}

/* The same with the form showing the record as it is (nothing posted). */
static int pg_deployment_page_fresh(struct wo_req *req, int status, const json_t *d, const char *action_title,
				    const char *action_error, const char *secret)
{
	struct dform f;
	pg_dform_init(&f, req, d);
	int rc = pg_deployment_page_secret(req, status, d, &f, action_title, action_error, secret);
	pg_dform_release(&f);
	return rc;
}

/* The deployment name in *out: 0. Else *out is NULL and the handler returns
 * what this returns (404 answered when there is no such deployment). */
static int pg_deployment_get(json_t **out, struct wo_req *req, const char *name)
{
	json_t *d = NULL;
	int rc = wo_deployment_get(&d, req->conn, name);
	*out = rc < 0 ? NULL : d;
	if (rc == WO_ENOTFOUND)
		return pg_not_found(req, "There is no such deployment.");
	return rc < 0 ? -1 : 0;
}

/* Who owns the deployment and whom it is shared with; the form to share
 * it when the user may (its owner, an admin). */
static json_t *pg_sharing_view(struct wo_req *req, const char *name)
{
	json_t *v = json_object(), *list = NULL;
	if (wo_share_list(&list, req->conn, name) < 0)
		return v;
	const char *owner = pg_jstr(list, "owner");
	json_object_set_new(v, "owner", owner ? pg_jtext(owner) : json_false());
	json_t *rows = json_array();
	size_t i;
	json_t *sh;
	json_array_foreach(json_object_get(list, "shares"), i, sh) {
		json_t *row = json_object();
		pg_set_text(row, "user", pg_jstr(sh, "user"));
		pg_set_text(row, "role", pg_jstr(sh, "role"));
		json_array_append_new(rows, row);
	}
	json_object_set_new(v, "has_shares", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(v, "shares", rows);
	json_object_set_new(v, "can_share",
			    json_boolean(wo_access_check(req->conn, &req->who, WO_PERM_DEP_SHARE, name) == 0));
	wo_error_clear();
	json_object_set_new(v, "href", pg_jpath("/deployments/", name, "/share"));
	json_decref(list);
	return v;
}

static int pg_deployment_page_secret(struct wo_req *req, int status, const json_t *d, struct dform *f,
				  const char *action_title, const char *action_error, const char *secret)
{
	const char *name = pg_jstr(d, "name") ? pg_jstr(d, "name") : "";
	json_t *runs = NULL;
	int rc = wo_run_list(&runs, req->conn, name, 50);
	if (rc < 0)
		return rc == WO_ENOTFOUND ? pg_not_found(req, "There is no such deployment.") : -1;

	json_t *data = json_object();
	json_t *shown = json_copy((json_t *)d);
	char *url = wo_url_redact(pg_jstr(d, "repo_url"));
	if (shown && url && pg_jstr(d, "repo_url"))
		json_object_set_new(shown, "repo_url", json_string(url));
	free(url);
	json_object_set_new(data, "d", shown ? shown : json_incref((json_t *)d));
	json_t *base = pg_jpath("/deployments/", name, NULL);
	json_object_set_new(data, "base", base);
	const char *status_s = pg_jstr(d, "status") ? pg_jstr(d, "status") : "";
	json_object_set_new(data, "can_start", json_boolean(!strcmp(status_s, "stopped")));
	/* Stop and Restart only once something was deployed */
	json_object_set_new(data, "deployed_once", json_boolean(pg_jstr(d, "current_commit") != NULL));
	json_object_set_new(data, "release", pg_release_json(req, d, runs));
	json_object_set_new(data, "releases", pg_releases_view(req, name));
	json_object_set_new(data, "addresses", pg_addresses_view(req, d));
	json_t *tls = pg_tls_view(req, d);
	if (tls)
		json_object_set_new(data, "tls", tls);
	/* said when it is made and after: nothing will run it */
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	json_object_set_new(data, "no_runtime", json_boolean(reg && !wo_addon_runtime_of(reg, d)));
	if (reg)
		wo_http_registry_unlock(req);
	else
		wo_error_clear();

	json_t *rows = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(runs, i, r) {
		json_t *row = json_object();
		long long id = (long long)json_integer_value(json_object_get(r, "id"));
		char href[64];
		snprintf(href, sizeof(href), "/runs/%lld", id);
		json_object_set_new(row, "id", json_integer(id));
		pg_set_text(row, "href", href);
		pg_set_text(row, "status", pg_jstr(r, "status"));
		const json_t *c = json_object_get(r, "commit");
		pg_set_text(row, "commit", pg_jstr(c, "sha"));
		json_object_set_new(row, "commit_short", pg_short_sha(pg_jstr(c, "sha")));
		pg_set_text(row, "subject", pg_jstr(c, "subject"));
		pg_set_text(row, "trigger", pg_jstr(r, "trigger"));
		json_object_set_new(row, "duration", pg_run_duration(r));
		json_object_set_new(row, "queued", pg_when_json(json_object_get(r, "queued_at")));
		json_array_append_new(rows, row);
	}
	json_object_set_new(data, "has_runs", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(data, "runs", rows);
	json_decref(runs);

	json_t *order = json_array();
	json_object_set_new(data, "form", pg_dform_view(f, json_string_value(base), "Save changes", NULL, order));
	pg_add_summary(data, f->errors, order);
	json_decref(order);
	pg_set_text(data, "action_title", action_title);
	pg_set_text(data, "action_error", action_error);
	json_object_set_new(data, "hook", pg_webhook_view(req, name, secret));
	json_object_set_new(data, "health", pg_health_view(req, d));
	json_object_set_new(data, "statement", pg_statement_view(d, json_object_get(data, "health")));
	json_object_set_new(data, "sharing", pg_sharing_view(req, name));
	return pg_render_section(req, status, "deployment", "nav_deployments", data);
}

/* Answers a page about the route's deployment ({name}): show's, given the
 * record; 503 without the database, 404 when there is no such deployment. */
static int pg_deployment_route(struct wo_req *req, int (*show)(struct wo_req *req, const json_t *d))
{
	if (pg_db_down(req))
		return 0;
	json_t *d;
	int rc = pg_deployment_get(&d, req, req->params[0]);
	if (!d)
		return rc;
	rc = show(req, d);
	json_decref(d);
	return rc;
}

/* POST /deployments/{name}/webhook: action=show shows the secret on the
 * page (never in a URL); action=rotate makes a new one and shows it. */
static int pg_webhook_secret_page(struct wo_req *req, const json_t *d)
{
	const char *action = wo_http_form(req, "action");
	int rotate = action && !strcmp(action, "rotate");
	char *secret = NULL;
	if (wo_webhook_secret(&secret, req->conn, req->params[0], rotate) < 0)
		return -1;
	int rc = pg_deployment_page_fresh(req, 200, d, NULL, NULL, secret);
	memset(secret, 0, strlen(secret));
	free(secret);
	return rc;
}

WO_HANDLER(wo_page_deployment_webhook)
{
	return pg_deployment_route(req, pg_webhook_secret_page);
}

static int pg_show_deployment(struct wo_req *req, const json_t *d)
{
	return pg_deployment_page_fresh(req, 200, d, NULL, NULL, NULL);
}

WO_HANDLER(wo_page_deployment)
{
	return pg_deployment_route(req, pg_show_deployment);
}

/* POST /deployments/{name}: the form saved, or shown again with why not. */
static int pg_update_deployment(struct wo_req *req, const json_t *d)
{
	const char *name = req->params[0];
	json_t *input = NULL, *text = NULL, *saved = NULL;
	struct dform f;
	pg_dform_init(&f, req, d);
	int rc = pg_dform_post(&f, req, &input, &text);
	rc = pg_dform_save(&saved, &f, req, name, d, rc, input, text);
	json_decref(saved);
	if (rc == WO_ENOTFOUND) {
		rc = pg_not_found(req, "There is no such deployment.");
	} else if (rc < 0) {
		rc = pg_deployment_page(req, 422, d, &f, NULL, NULL);
	} else {
		rc = pg_redirect_to(req, "/deployments/", name, "?done=saved");
	}
	pg_dform_release(&f);
	return rc;
}

WO_HANDLER(wo_page_deployment_update)
{
	return pg_deployment_route(req, pg_update_deployment);
}


WO_HANDLER(wo_page_deployment_deploy)
{
	if (pg_db_down(req))
		return 0;
	json_t *run = NULL;
	/* ref: a release's commit, built again (the Releases tab) */
	const char *ref = wo_http_form(req, "ref");
	int rc = wo_http_deployment_deploy(&run, req, req->params[0], ref && *ref ? ref : NULL, "web");
	if (rc == WO_ENOTFOUND)
		return pg_not_found(req, "There is no such deployment.");
	if (rc < 0 && ref && *ref && strncmp(wo_error_last(), "database", 8) != 0) {
		char why[600];
		snprintf(why, sizeof(why), "%s", wo_error_last());
		return pg_action_refused(req, req->params[0], 422, "Could not deploy that commit", why);
	}
	if (rc < 0)
		return -1;
	return pg_show_run(req, run);
}

/* start, stop, restart and delete run as `webops deployment ACTION NAME`
 * children; the request waits, suspended, and pg_action_resume answers. */
struct action_state {
	char *name;
	char action[16];
};

static void pg_action_state_free(void *p)
{
	struct action_state *st = p;
	if (st)
		free(st->name);
	free(st);
}

static int pg_delete_page(struct wo_req *req, int status, const char *name, const char *error)
{
	json_t *data = json_object();
	pg_set_text(data, "name", name);
	json_object_set_new(data, "base", pg_jpath("/deployments/", name, NULL));
	pg_set_text(data, "action_error", error);
	json_object_set_new(data, "nav_deployments", json_true());
	return pg_render(req, status, "deployment_delete", data);
}

static int pg_action_resume(struct wo_req *req)
{
	struct action_state *st = req->state;
	int st_code = req->child_status;
	if (WIFEXITED(st_code) && WEXITSTATUS(st_code) == 0) {
		if (!strcmp(st->action, "delete"))
			return wo_http_redirect(req, "/?done=deleted");
		const char *done = !strcmp(st->action, "start") ? "?done=started"
				   : !strcmp(st->action, "stop") ? "?done=stopped"
								  : "?done=restarted";
		return pg_redirect_to(req, "/deployments/", st->name, done);
	}

	struct wo_buf buf = WO_BUF_INIT, msg = WO_BUF_INIT;
	/* the child's last "webops: ..." line, else how it ended ("failed (exit status 1)") */
	const char *e = wo_http_child_error(req, &buf);
	if (e && !strncmp(e, "webops: ", 8))
		e += 8;
	if (e && (!strncmp(e, "failed (", 8) || !strncmp(e, "was killed", 10) || !strcmp(e, "done")))
		wo_buf_printf(&msg, "webops deployment %s %s %s", st->action, st->name, e);
	else if (e && *e)
		wo_buf_puts(&msg, e);
	else if (WIFSIGNALED(st_code))
		wo_buf_printf(&msg, "webops deployment %s was killed by signal %d", st->action, WTERMSIG(st_code));
	else
		wo_buf_printf(&msg, "webops deployment %s failed with exit status %d", st->action,
			      WIFEXITED(st_code) ? WEXITSTATUS(st_code) : -1);
	int rc, code = wo_http_child_code(req);
	int status = wo_error_http_status(code == WO_OK ? WO_ERROR : code);
	if (!strcmp(st->action, "delete")) {
		rc = pg_delete_page(req, status, st->name, msg.ptr);
	} else {
		json_t *d = NULL;
		rc = req->conn ? wo_deployment_get(&d, req->conn, st->name) : -1;
		if (rc == 0) {
			char title[64];
			snprintf(title, sizeof(title), "Could not %s the deployment", st->action);
			rc = pg_deployment_page_fresh(req, status, d, title, msg.ptr, NULL);
			json_decref(d);
		} else {
			rc = pg_message_page(req, status, "The action failed", msg.ptr, NULL, "/", "Back to the deployments");
		}
	}
	wo_buf_release(&buf);
	wo_buf_release(&msg);
	return rc;
}

static int pg_start_action(struct wo_req *req, const char *name, const char *action, int force)
{
	json_t *d;
	int rc = pg_deployment_get(&d, req, name);
	if (!d)
		return rc;
	json_decref(d);
	struct action_state *st = calloc(1, sizeof(*st));
	if (!st || !(st->name = strdup(name))) {
		free(st);
		return wo_error_set("out of memory");
	}
	snprintf(st->action, sizeof(st->action), "%s", action);
	req->state = st;
	req->state_free = pg_action_state_free;
	return wo_http_deployment_action(req, name, action, force, pg_action_resume);
}

/* GET /deployments/{name}/logs/stream: what the running release prints, as
 * server-sent events, from `webops logs NAME --runtime --follow --sse` (the
 * runtime addon's logs hook runs there, never in this process); the child
 * ends when the browser goes away. */
WO_HANDLER(wo_page_deployment_logs_stream)
{
	char *argv[] = { (char *)wo_http_cli_path(req->srv), "logs", (char *)req->params[0], "--runtime", "--follow",
			 "--tail", "200", "--sse", NULL };
	return wo_http_cgi(req, argv, NULL);
}

WO_HANDLER(wo_page_live)
{
	if (pg_db_down(req))
		return 0;
	return wo_http_live(req, NULL);
}

WO_HANDLER(wo_page_deployment_live)
{
	if (pg_db_down(req))
		return 0;
	return wo_http_live(req, req->params[0]);
}

/* The deployment page again, with why an action was refused. */
static int pg_action_refused(struct wo_req *req, const char *name, int status, const char *title, const char *why)
{
	json_t *d;
	int rc = pg_deployment_get(&d, req, name);
	if (!d)
		return rc;
	rc = pg_deployment_page_fresh(req, status, d, title, why, NULL);
	json_decref(d);
	return rc;
}

/* POST /deployments/{name}/rollback (release=N): queues the rollback and
 * shows its run. */
static int pg_rollback_action(struct wo_req *req, const char *name)
{
	const char *n = wo_http_form(req, "release");
	char *end = NULL;
	long num = n ? strtol(n, &end, 10) : 0;
	if (!n || !*n || *end || num < 1 || num > 1000000000)
		return pg_action_refused(req, name, 422, "Could not roll back the deployment",
				      "release: give the number of a release from the Releases list");
	json_t *run = NULL;
	if (wo_release_rollback(&run, req->conn, name, (int)num) < 0) {
		/* no such release, or nothing to roll back to (a deployment gone
		 * meanwhile: action_refused answers 404) */
		char why[1024];
		snprintf(why, sizeof(why), "%s", wo_error_last());
		return pg_action_refused(req, name, 409, "Could not roll back the deployment", why);
	}
	return pg_show_run(req, run);
}

WO_HANDLER(wo_page_deployment_action)
{
	const char *action = req->params[1];
	if (action && !strcmp(action, "rollback")) {
		if (pg_db_down(req))
			return 0;
		return pg_rollback_action(req, req->params[0]);
	}
	if (!action || (strcmp(action, "start") && strcmp(action, "stop") && strcmp(action, "restart")))
		return pg_not_found(req, "There is no such page.");
	if (pg_db_down(req))
		return 0;
	return pg_start_action(req, req->params[0], action, 0);
}

static int pg_delete_confirm_page(struct wo_req *req, const json_t *d)
{
	return pg_delete_page(req, 200, pg_jstr(d, "name"), NULL);
}

WO_HANDLER(wo_page_deployment_delete_confirm)
{
	return pg_deployment_route(req, pg_delete_confirm_page);
}

WO_HANDLER(wo_page_deployment_delete)
{
	if (pg_db_down(req))
		return 0;
	/* "Delete anyway" on the page of a failed delete: the CLI's --force */
	const char *force = wo_http_form(req, "force");
	return pg_start_action(req, req->params[0], "delete", force && !strcmp(force, "1"));
}
