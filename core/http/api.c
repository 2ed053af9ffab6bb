/* The JSON API (/api/v1): thin handlers over the same store, queue and
 * lifecycle functions the CLI calls. Lists are JSON arrays, records objects,
 * errors {"error": {"message", "fields"}}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "addon/addon.h"
#include "addon/field.h"
#include "health/history.h"
#include "http/http.h"
#include "http/server_int.h"
#include "pipeline/releases.h"
#include "pipeline/runs.h"
#include "store/access.h"
#include "store/deployment.h"
#include "store/webhooks.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/url.h"
#include "util/banned.h"

/* The body as JSON: NULL (with a 400 answered) when it is not. An empty
 * body gives an empty object when allow_empty. */
static json_t *body_json(struct wo_req *req, int allow_empty)
{
	if (req->body.len == 0) {
		if (allow_empty)
			return json_object();
		wo_http_send_error(req, 400, "the request needs a JSON body", NULL);
		return NULL;
	}
	json_error_t e;
	json_t *j = json_loadb(req->body.ptr, req->body.len, 0, &e);
	if (!j) {
		char msg[256];
		snprintf(msg, sizeof(msg), "the body is not valid JSON: line %d, column %d: %s", e.line, e.column, e.text);
		wo_http_send_error(req, 400, msg, NULL);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		wo_http_send_error(req, 400, "the body must be a JSON object", NULL);
		return NULL;
	}
	return j;
}

/* An error answer with its {field: message} object (released here). */
static int send_error_fields(struct wo_req *req, int status, const char *msg, json_t *fields)
{
	int rc = wo_http_send_error(req, status, msg, fields);
	json_decref(fields);
	return rc;
}

/* The same for one member of the body: msg, and {field: field_msg}. */
static int send_field_error(struct wo_req *req, int status, const char *field, const char *msg,
			    const char *field_msg)
{
	return send_error_fields(req, status, msg, json_pack("{s:s}", field, field_msg));
}

/* Answers v with status; v is released here. */
static int send_owned(struct wo_req *req, int status, json_t *v)
{
	int rc = wo_http_send_json(req, status, v);
	json_decref(v);
	return rc;
}

/* Answers a store error by its code (util/error.h): 404, 409 naming the
 * field that is taken, 422 with the fields' problems; -1 (500, logged) for
 * a failure of our own. */
static int store_error(struct wo_req *req, int rc)
{
	const char *msg = wo_error_last();
	/* a function that returns a code says it; else the error set says it */
	int code = rc < -1 ? rc : wo_error_code();
	if (code == WO_EINVALID)
		return wo_http_send_validation(req, msg);
	if (code == WO_EEXISTS)
		return send_error_fields(req, 409, msg, wo_http_error_fields(msg));
	int status = wo_error_http_status(code);
	if (status >= 500)
		return -1;
	return wo_http_send_error(req, status, msg, NULL);
}

/* Answers what a store call gave: v (released here) with 200 when rc is 0,
 * else the store's error. Call the store first: v is its out-parameter. */
static int send_stored(struct wo_req *req, int rc, json_t *v)
{
	if (rc < 0)
		return store_error(req, rc);
	return send_owned(req, 200, v);
}

/* 202 with the run just queued (released here), Location naming it. */
static int send_queued_run(struct wo_req *req, json_t *run)
{
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/runs/%lld", (long long)json_integer_value(json_object_get(run, "id")));
	wo_http_add_header(req, "Location", loc);
	return send_owned(req, 202, run);
}

/* ?limit=N, 1-500, default 50; -1 after answering 400 */
static int query_limit(long *out, struct wo_req *req)
{
	long limit = 50;
	const char *l = wo_http_query(req, "limit");
	if (l) {
		char *end;
		limit = strtol(l, &end, 10);
		if (!*l || *end || limit < 1 || limit > 500) {
			send_field_error(req, 400, "limit", "limit: use 1-500", "limit: use 1-500");
			return -1;
		}
	}
	*out = limit;
	return 0;
}

static int parse_id(long long *out, const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

/* ---- deployments ---- */

/* Adds "health_state": {"state", "since"} to each record of arr (an array of
 * deployments, or one record): one query. ("health" is the record's health
 * settings, which a client may send back; the state is read-only.) A health
 * state change notifies like a deployment change, so the cached list stays
 * right. */
static int add_health_states(struct wo_req *req, json_t *arr, const char *name)
{
	json_t *states;
	if (wo_health_states(&states, req->conn, name) < 0)
		return -1;
	json_t *one = json_is_object(arr) ? arr : NULL;
	size_t i = 0;
	for (json_t *d = one ? one : json_array_get(arr, 0); d; d = one ? NULL : json_array_get(arr, ++i)) {
		json_t *h = json_object_get(states, json_string_value(json_object_get(d, "name")));
		if (h)
			json_object_set(d, "health_state", h);
	}
	json_decref(states);
	return 0;
}

/* Deployment records as they may be shown: repo_url through the one URL
 * redaction (a password from before they were refused becomes ***). */
static void redact_records(json_t *records)
{
	wo_url_redact_json(records, "repo_url");
	wo_addon_fields_mask(records);
}

/* Answers a deployment record (released here) as it may be shown. */
static int send_record(struct wo_req *req, int status, json_t *d)
{
	redact_records(d);
	return send_owned(req, status, d);
}

int wo_api_deployments_list(struct wo_req *req)
{
	/* served from memory until a deployment changes (NOTIFY webops_changes);
	 * the generation is read before the query, so a change during it is not
	 * missed */
	unsigned gen = wo_http__dep_gen(req->srv);
	int filtered = wo_access_filtered(&req->who);
	if (!filtered && wo_http__cache_send(req, &req->srv->deployments, gen, "application/json"))
		return 0;
	json_t *arr;
	if ((filtered ? wo_deployment_list_visible(&arr, req->conn, &req->who) : wo_deployment_list(&arr, req->conn)) < 0)
		return -1;
	if (add_health_states(req, arr, NULL) < 0) {
		json_decref(arr);
		return -1;
	}
	redact_records(arr);
	char *s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!s)
		return wo_error_set("cannot encode JSON");
	if (!filtered)
		wo_http__cache_put(&req->srv->deployments, gen, s, strlen(s), "application/json");
	int rc = wo_http_send(req, 200, "application/json", s, strlen(s));
	free(s);
	return rc;
}

/* Saves the body in (released here) as deployment name, or as a new one
 * when name is NULL (201, Location naming it), and answers the record. */
static int api_save(struct wo_req *req, const char *name, json_t *in)
{
	json_t *d = NULL;
	int rc = wo_http_deployment_save(&d, req, name, in, NULL);
	json_decref(in);
	if (rc < 0)
		return store_error(req, rc);
	if (name)
		return send_record(req, 200, d);
	char loc[128];
	snprintf(loc, sizeof(loc), "/api/v1/deployments/%s", json_string_value(json_object_get(d, "name")));
	wo_http_add_header(req, "Location", loc);
	return send_record(req, 201, d);
}

int wo_api_deployments_create(struct wo_req *req)
{
	json_t *in = body_json(req, 0);
	if (!in)
		return 0;
	/* the repository's default branch is asked without holding this thread */
	int w = wo_http_deployment_create_begin(req, in, wo_api_deployments_create);
	if (w != 0) {
		json_decref(in);
		return w < 0 ? -1 : 0;
	}
	return api_save(req, NULL, in);
}

int wo_api_deployment_get(struct wo_req *req)
{
	json_t *d;
	int rc = wo_deployment_get(&d, req->conn, req->params[0]);
	if (rc < 0)
		return store_error(req, rc);
	if (add_health_states(req, d, req->params[0]) < 0) {
		json_decref(d);
		return -1;
	}
	return send_record(req, 200, d);
}

int wo_api_deployment_patch(struct wo_req *req)
{
	json_t *in = body_json(req, 0);
	if (!in)
		return 0;
	return api_save(req, req->params[0], in);
}

/* After `webops deployment ACTION NAME` ended: the record (or 204 after a
 * delete), or the CLI's error. */
static int action_done(struct wo_req *req)
{
	const char *action = req->state;
	struct wo_buf err = WO_BUF_INIT;
	int ok = WIFEXITED(req->child_status) && WEXITSTATUS(req->child_status) == 0;
	int rc;
	if (!ok) {
		const char *msg = wo_http_child_error(req, &err);
		int code = wo_http_child_code(req);
		/* the child's own failure (a crash, a database error) is ours: 500 */
		rc = wo_http_send_error(req, wo_error_http_status(code == WO_OK ? WO_ERROR : code), msg, NULL);
	} else if (!strcmp(action, "delete")) {
		json_t *o = json_pack("{s:s, s:s}", "deleted", req->params[0], "output", wo_buf_cstr(&req->child_output));
		rc = send_owned(req, 200, o);
	} else {
		json_t *d = NULL;
		rc = wo_deployment_get(&d, req->conn, req->params[0]);
		if (rc < 0) {
			rc = store_error(req, rc);
		} else {
			json_object_set_new(d, "output", json_string(wo_buf_cstr(&req->child_output)));
			rc = send_record(req, 200, d);
		}
	}
	wo_buf_release(&err);
	return rc;
}

static int start_action(struct wo_req *req, const char *action)
{
	json_t *d;
	int rc = wo_deployment_get(&d, req->conn, req->params[0]);
	if (rc < 0)
		return store_error(req, rc);
	json_decref(d);
	req->state = (void *)action; /* a string literal: nothing to free */
	const char *f = wo_http_query(req, "force");
	int force = f && (!strcmp(f, "1") || !strcmp(f, "true"));
	return wo_http_deployment_action(req, req->params[0], action, force, action_done);
}

int wo_api_deployment_delete(struct wo_req *req)
{
	return start_action(req, "delete");
}

/* POST .../rollback {"to": N}: N absent or null is the release before the
 * serving one. 202 with the run, as a deploy. */
static int api_rollback(struct wo_req *req)
{
	json_t *in = body_json(req, 1);
	if (!in)
		return 0;
	const json_t *to = json_object_get(in, "to");
	if (to && !json_is_null(to) && (!json_is_integer(to) || json_integer_value(to) < 1 ||
					 json_integer_value(to) > 1000000000)) {
		json_decref(in);
		return send_field_error(req, 422, "to", "to: must be a release number (see GET .../releases), or null",
					"to: must be a release number (see GET .../releases), or null");
	}
	int n = json_is_integer(to) ? (int)json_integer_value(to) : 0;
	json_decref(in);
	json_t *run = NULL;
	int rc = wo_release_rollback(&run, req->conn, req->params[0], n);
	/* the route found the deployment: what fails here is the release asked for */
	if (rc < 0)
		return wo_http_send_error(req, 409, wo_error_last(), NULL);
	return send_queued_run(req, run);
}

int wo_api_deployment_action(struct wo_req *req)
{
	static const char *const actions[] = { "start", "stop", "restart", NULL };
	for (int i = 0; actions[i]; i++)
		if (!strcmp(req->params[1], actions[i]))
			return start_action(req, actions[i]);
	if (!strcmp(req->params[1], "rollback"))
		return api_rollback(req);
	return wo_http_send_error(req, 404, "not found: the actions are deploy, rollback, start, stop and restart", NULL);
}

int wo_api_deployment_releases(struct wo_req *req)
{
	json_t *arr = NULL;
	int rc = wo_release_list(&arr, req->conn, req->params[0], 100);
	return send_stored(req, rc, arr);
}

int wo_api_deployment_deploy(struct wo_req *req)
{
	json_t *in = body_json(req, 1);
	if (!in)
		return 0;
	const json_t *ref = json_object_get(in, "ref");
	if (ref && !json_is_string(ref) && !json_is_null(ref)) {
		json_decref(in);
		return send_field_error(req, 422, "ref", "ref: must be a string (a branch, tag or commit)",
					"ref: must be a string (a branch, tag or commit)");
	}
	json_t *run = NULL;
	int rc = wo_http_deployment_deploy(&run, req, req->params[0], json_string_value(ref),
					   req->auth == WO_AUTH_SESSION ? "web" : "api");
	json_decref(in);
	if (rc < 0)
		return store_error(req, rc);
	return send_queued_run(req, run);
}

/* GET one of a deployment's lists (its runs, its webhook deliveries),
 * ?limit=N entries long. */
static int deployment_list(struct wo_req *req, int (*list)(json_t **out, PGconn *conn, const char *name, int limit))
{
	json_t *d;
	int rc = wo_deployment_get(&d, req->conn, req->params[0]);
	if (rc < 0)
		return store_error(req, rc);
	json_decref(d);
	long limit;
	if (query_limit(&limit, req) < 0)
		return 0;
	json_t *arr;
	if (list(&arr, req->conn, req->params[0], (int)limit) < 0)
		return -1;
	return send_owned(req, 200, arr);
}

int wo_api_deployment_runs(struct wo_req *req)
{
	return deployment_list(req, wo_run_list);
}

int wo_api_deployment_webhooks(struct wo_req *req)
{
	return deployment_list(req, wo_webhook_deliveries);
}

/* ---- health ---- */

int wo_api_health_list(struct wo_req *req)
{
	json_t *arr, *names;
	if (wo_http_visible_names(&names, req) < 0)
		return -1;
	if (wo_health_list(&arr, req->conn) < 0) {
		json_decref(names);
		return -1;
	}
	arr = wo_http_filter_by_name(arr, names, "deployment");
	json_decref(names);
	return send_owned(req, 200, arr);
}

int wo_api_deployment_health(struct wo_req *req)
{
	long limit;
	if (query_limit(&limit, req) < 0)
		return 0;
	json_t *h;
	int rc = wo_health_get(&h, req->conn, req->params[0], (int)limit);
	return send_stored(req, rc, h);
}

/* ---- runs ---- */

static int run_id_param(long long *id, struct wo_req *req)
{
	if (parse_id(id, req->params[0]) < 0) {
		wo_http_send_error(req, 404, "not found: a run id is a positive whole number", NULL);
		return -1;
	}
	return 0;
}

/* The route's run ({id}) in *out (NULL: only whether it exists), its id in
 * *id: 0; 1 after answering (an id that is not one, a run that does not
 * exist); -1 on a failure of our own (store_error's). */
static int route_run(json_t **out, long long *id, struct wo_req *req)
{
	if (run_id_param(id, req) < 0)
		return 1;
	json_t *run = NULL;
	int rc = wo_run_get(&run, req->conn, *id);
	if (rc < 0)
		return store_error(req, rc) < 0 ? -1 : 1;
	if (out)
		*out = run;
	else
		json_decref(run);
	return 0;
}

int wo_api_run_get(struct wo_req *req)
{
	long long id;
	json_t *run;
	int rc = route_run(&run, &id, req);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return send_owned(req, 200, run);
}

int wo_api_run_cancel(struct wo_req *req)
{
	long long id;
	if (run_id_param(&id, req) < 0)
		return 0;
	const char *state;
	int rc = wo_run_cancel(&state, req->conn, id);
	if (rc < 0)
		return store_error(req, rc);
	if (strcmp(state, "cancelled") != 0 && strcmp(state, "requested") != 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "run %lld already finished (%s): nothing to cancel", id, state);
		return wo_http_send_error(req, 409, msg, NULL);
	}
	return send_owned(req, 202, json_pack("{s:I, s:s}", "id", (json_int_t)id, "cancel", state));
}

static int wants_sse(struct wo_req *req)
{
	const char *a = wo_http_header(req, "Accept");
	return a && strstr(a, "text/event-stream");
}

/* The log sequence number the lines wanted come after: ?after=N, or the
 * Last-Event-ID a reconnecting EventSource sends; 0 for the whole log. */
static long long log_after(struct wo_req *req)
{
	long long after = 0;
	const char *a = wo_http_query(req, "after");
	const char *last = wo_http_header(req, "Last-Event-ID");
	if (last && *last)
		a = last; /* a reconnecting EventSource knows best */
	if (a && *a) {
		char *end;
		after = strtoll(a, &end, 10);
		if (*end || after < 0)
			after = 0;
	}
	return after;
}

/* The run's log after sequence number after, as JSON lines: everything
 * written so far. */
static int send_log_lines(struct wo_req *req, long long id, long long after)
{
	struct wo_buf out = WO_BUF_INIT;
	for (;;) {
		json_t *lines;
		if (wo_run_logs(&lines, req->conn, id, after) < 0) {
			wo_buf_release(&out);
			return -1;
		}
		size_t i;
		json_t *l;
		json_array_foreach(lines, i, l) {
			char *s = json_dumps(l, JSON_COMPACT);
			wo_buf_puts(&out, s);
			wo_buf_putc(&out, '\n');
			free(s);
			after = json_integer_value(json_object_get(l, "seq"));
		}
		size_t n = json_array_size(lines);
		json_decref(lines);
		if (n < 5000)
			break;
	}
	int rc = wo_http_send(req, 200, "application/x-ndjson", wo_buf_cstr(&out), out.len);
	wo_buf_release(&out);
	return rc;
}

int wo_api_run_log(struct wo_req *req)
{
	long long id;
	int rc = route_run(NULL, &id, req);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	long long after = log_after(req);
	if (wants_sse(req))
		return wo_http_sse_run_log(req, id, after);
	return send_log_lines(req, id, after);
}

/* ---- addons ---- */

int wo_api_addons_list(struct wo_req *req)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	if (!reg)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < reg->naddons; i++)
		json_array_append_new(arr, wo_addon_json(reg->addons[i]));
	wo_http_registry_unlock(req);
	return send_owned(req, 200, arr);
}

static int no_addon(struct wo_req *req)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "addon '%.80s' not found", req->params[0]);
	return wo_http_send_error(req, 404, msg, NULL);
}

int wo_api_addon_get(struct wo_req *req)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	if (!reg)
		return -1;
	struct wo_addon *a = wo_addon_registry_find(reg, req->params[0]);
	json_t *o = a ? wo_addon_json(a) : NULL;
	wo_http_registry_unlock(req);
	if (!o)
		return no_addon(req);
	return send_owned(req, 200, o);
}

int wo_api_addon_action(struct wo_req *req)
{
	int enable;
	if (!strcmp(req->params[1], "enable"))
		enable = 1;
	else if (!strcmp(req->params[1], "disable"))
		enable = 0;
	else
		return wo_http_send_error(req, 404, "not found: the actions are enable and disable", NULL);
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	if (!reg)
		return -1;
	struct wo_addon *a = wo_addon_registry_find(reg, req->params[0]);
	if (!a) {
		wo_http_registry_unlock(req);
		return no_addon(req);
	}
	int rc = wo_addon_set_enabled(reg, a, enable);
	json_t *o = rc == 0 ? wo_addon_json(a) : NULL;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", wo_error_last());
	wo_http_registry_unlock(req);
	if (rc < 0)
		return wo_http_send_error(req, 409, msg, NULL);
	return send_owned(req, 200, o);
}

int wo_api_addon_settings(struct wo_req *req)
{
	json_t *in = body_json(req, 0);
	if (!in)
		return 0;
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	if (!reg) {
		json_decref(in);
		return -1;
	}
	struct wo_addon *a = wo_addon_registry_find(reg, req->params[0]);
	if (!a) {
		wo_http_registry_unlock(req);
		json_decref(in);
		return no_addon(req);
	}
	/* check every value first: all are stored, or none */
	struct wo_buf err = WO_BUF_INIT;
	json_t *fields = json_object();
	const char *k;
	json_t *v;
	int host_only = 0;
	json_object_foreach(in, k, v) {
		const struct wo_addon_field *f = wo_addon_manifest_setting(a->manifest, k);
		if (!f) {
			wo_buf_printf(&err, "%s%s: addon '%s' has no such setting", err.len ? "\n" : "", k, a->name);
			json_object_set_new(fields, k, json_string("no such setting"));
			continue;
		}
		char *host = wo_addon_setting_host_only(a, f);
		if (host) {
			wo_buf_printf(&err, "%s%s: %s", err.len ? "\n" : "", k, host);
			json_object_set_new(fields, k, json_string(host));
			free(host);
			host_only = 1;
			continue;
		}
		if (json_is_null(v))
			continue;
		char *text = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		json_t *parsed = NULL;
		struct wo_buf why = WO_BUF_INIT;
		if (wo_addon_field_parse(&parsed, f, text, &why) < 0) {
			wo_buf_printf(&err, "%s%s: %s", err.len ? "\n" : "", k, wo_buf_cstr(&why));
			json_object_set_new(fields, k, json_string(wo_buf_cstr(&why)));
		}
		json_decref(parsed);
		wo_buf_release(&why);
		free(text);
	}
	int rc = 0;
	if (!err.len) {
		json_object_foreach(in, k, v) {
			char *text = json_is_null(v) ? NULL
				     : json_is_string(v) ? strdup(json_string_value(v))
							 : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			rc = text ? wo_addon_setting_set(reg, a, k, text) : wo_addon_setting_unset(reg, a, k);
			free(text);
			if (rc < 0)
				break;
		}
	}
	json_t *o = !err.len && rc == 0 ? wo_addon_json(a) : NULL;
	wo_http_registry_unlock(req);
	json_decref(in);
	if (err.len) {
		rc = wo_http_send_error(req, host_only ? 403 : 422, err.ptr, fields);
	} else if (rc < 0) {
		rc = -1;
	} else {
		rc = wo_http_send_json(req, 200, o);
	}
	json_decref(o);
	json_decref(fields);
	wo_buf_release(&err);
	return rc;
}

/* ---- documents ---- */

int wo_api_openapi(struct wo_req *req)
{
	char *path = NULL, *data = NULL;
	size_t len = 0;
	if (asprintf(&path, "%s/openapi.json", wo_http_config(req)->web_dir) < 0)
		return wo_error_set("out of memory");
	int rc = wo_fs_read_file(&data, &len, path, 4 * 1024 * 1024);
	free(path);
	if (rc < 0)
		return -1;
	wo_http_add_header(req, "Cache-Control", "public, max-age=300");
	rc = wo_http_send(req, 200, "application/json", data, len);
	free(data);
	return rc;
}

int wo_api_healthz(struct wo_req *req)
{
	PGconn *c = req->conn;
	int db = c && PQstatus(c) == CONNECTION_OK;
	return send_owned(req, db ? 200 : 503, json_pack("{s:s, s:b}", "status", db ? "ok" : "degraded", "database", db));
}

/* ---- sharing and users ---- */

int wo_api_deployment_shares(struct wo_req *req)
{
	json_t *l = NULL;
	int rc = wo_share_list(&l, req->conn, req->params[0]);
	return send_stored(req, rc, l);
}

int wo_api_deployment_share_put(struct wo_req *req)
{
	json_t *in = body_json(req, 0);
	if (!in)
		return 0;
	const char *role = json_string_value(json_object_get(in, "role"));
	if (!role) {
		json_decref(in);
		return send_field_error(req, 422, "role", "role: give member or viewer", "role: member or viewer");
	}
	int rc = wo_share_set(req->conn, req->params[0], req->params[1], role);
	json_decref(in);
	if (rc < 0)
		return store_error(req, rc);
	return wo_api_deployment_shares(req);
}

int wo_api_deployment_share_delete(struct wo_req *req)
{
	int rc = wo_share_remove(req->conn, req->params[0], req->params[1]);
	if (rc < 0)
		return store_error(req, rc);
	return wo_http_send(req, 204, NULL, NULL, 0);
}

int wo_api_users_list(struct wo_req *req)
{
	json_t *l = NULL;
	if (wo_user_list(&l, req->conn) < 0)
		return -1;
	return send_owned(req, 200, l);
}
