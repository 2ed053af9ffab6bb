/* The server-rendered web UI: login and first-run setup, deployments (list,
 * create, edit, deploy, start/stop/restart, delete, health with its charts),
 * runs with their logs, addons with their settings, and the account page
 * (sessions, API tokens).
 * Handlers are thin: they call the store and pipeline functions the CLI and
 * the API call, and render templates/web/<name>.mustache. Every value from a
 * user goes through the template's HTML escaping ({{x}}); only the health
 * charts are inserted as they are ({{{x}}}): SVG drawn from numbers by
 * http/chart.c, which escapes its few fixed texts itself. */
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

#define LOG_LINES_MAX 20000

/* ---- small helpers ---- */

/* Appends s with invalid UTF-8 replaced by U+FFFD, so any user text makes a
 * JSON string (jansson refuses invalid UTF-8). */
static void utf8_clean(struct wo_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = 0;
		if (*p < 0x80)
			n = 1;
		else if (*p >= 0xc2 && *p <= 0xdf)
			n = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 4;
		int ok = n > 0;
		for (size_t i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (ok && n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f)))
			ok = 0;
		if (ok && n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f)))
			ok = 0;
		if (ok) {
			wo_buf_add(b, p, n);
			p += n;
		} else {
			wo_buf_puts(b, "\xef\xbf\xbd");
			p++;
		}
	}
}

/* A JSON string of s ("" for NULL); never NULL for valid memory. */
static json_t *jtext(const char *s)
{
	json_t *j = json_string(s ? s : "");
	if (j)
		return j;
	struct wo_buf b = WO_BUF_INIT;
	utf8_clean(&b, s);
	j = json_string(wo_buf_cstr(&b));
	wo_buf_release(&b);
	return j ? j : json_string("");
}

static void set_text(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, jtext(s));
}

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Appends s percent-encoded as one path segment. */
static void put_segment(struct wo_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			wo_buf_putc(b, (char)*p);
		} else {
			wo_buf_putc(b, '%');
			wo_buf_putc(b, hex[*p >> 4]);
			wo_buf_putc(b, hex[*p & 15]);
		}
	}
}

/* prefix + encoded segment + suffix, as a JSON string. */
static json_t *jpath(const char *prefix, const char *segment, const char *suffix)
{
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_puts(&b, prefix);
	put_segment(&b, segment ? segment : "");
	wo_buf_puts(&b, suffix ? suffix : "");
	json_t *j = jtext(wo_buf_cstr(&b));
	wo_buf_release(&b);
	return j;
}

/* Redirects to prefix + encoded segment + suffix. */
static int redirect_to(struct wo_req *req, const char *prefix, const char *segment, const char *suffix)
{
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_puts(&b, prefix);
	put_segment(&b, segment ? segment : "");
	wo_buf_puts(&b, suffix ? suffix : "");
	int rc = wo_http_redirect(req, wo_buf_cstr(&b));
	wo_buf_release(&b);
	return rc;
}

static char *trim_dup(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

static char *trimmed(const char *s)
{
	return trim_dup(s ? s : "", s ? strlen(s) : 0);
}

/* A whole decimal number without sign; -1 when s is not one (or too big). */
static long long parse_uint(const char *s)
{
	if (!s || !*s || strlen(s) > 15 || strspn(s, "0123456789") != strlen(s))
		return -1;
	return strtoll(s, NULL, 10);
}

/* Renders a page; data is released here (wo_http_render copies what it needs). */
static int render(struct wo_req *req, int status, const char *name, json_t *data)
{
	int rc = wo_http_render(req, status, name, data);
	json_decref(data);
	return rc;
}

static int message_page(struct wo_req *req, int status, const char *heading, const char *alert, const char *text,
			const char *back_href, const char *back_text)
{
	json_t *data = json_object();
	set_text(data, "heading", heading);
	set_text(data, "alert", alert);
	set_text(data, "text", text);
	set_text(data, "back_href", back_href);
	set_text(data, "back_text", back_text);
	return render(req, status, "message", data);
}

static int not_found(struct wo_req *req, const char *text)
{
	return message_page(req, 404, "Not found", NULL, text, "/", "Back to the deployments");
}

/* Answers 503 when the database is away; 1 when it did. */
static int db_down(struct wo_req *req)
{
	if (req->conn)
		return 0;
	message_page(req, 503, "Database unavailable", "webops cannot reach its PostgreSQL database right now.",
		     "Try again in a moment. The daemon's log says why.", NULL, NULL);
	return 1;
}

/* Messages shown after a redirect: ?done=CODE picks one of these, so no
 * text from the query string is ever echoed. */
static const struct {
	const char *code, *kind, *text;
} notices[] = {
	{ "created", "ok", "Deployment %s created. Press Deploy to fetch the branch and run it." },
	{ "saved", "ok", "Changes to %s saved. They apply from the next deploy." },
	{ "started", "ok", "%s started." },
	{ "stopped", "ok", "%s stopped." },
	{ "restarted", "ok", "%s restarted." },
	{ "deleted", "ok", "Deployment deleted." },
	{ "cancelled", "ok", "Run cancelled." },
	{ "cancel_requested", "ok", "Cancel requested: the run stops at its next step." },
	{ "finished", "info", "The run had already finished; there was nothing to cancel." },
	{ "enabled", "ok", "Addon enabled." },
	{ "disabled", "ok", "Addon disabled." },
	{ "settings", "ok", "Settings saved." },
	{ "token_revoked", "ok", "Token revoked." },
	{ "session_revoked", "ok", "Session revoked." },
	{ "welcome", "ok", "Welcome! Your administrator account is ready. Create your first deployment." },
	{ "shared", "ok", "Sharing saved." },
	{ "user_created", "ok", "User created." },
	{ "user_saved", "ok", "User saved." },
	{ "user_deleted", "ok", "User deleted." },
};

static void add_notice(json_t *data, struct wo_req *req)
{
	const char *code = wo_http_query(req, "done");
	if (!code)
		return;
	for (size_t i = 0; i < sizeof(notices) / sizeof(notices[0]); i++)
		if (!strcmp(code, notices[i].code)) {
			/* a deployment's page: the message names it (from the record, never the query) */
			const char *name = jstr(json_object_get(data, "d"), "name");
			const char *mark = strstr(notices[i].text, "%s");
			char text[300];
			if (mark)
				snprintf(text, sizeof(text), "%.*s%s%s", (int)(mark - notices[i].text), notices[i].text,
					 name ? name : "The deployment", mark + 2);
			else
				snprintf(text, sizeof(text), "%s", notices[i].text);
			json_object_set_new(data, "notice", json_pack("{s:s, s:s}", "kind", notices[i].kind, "text", text));
			return;
		}
}

/* ---- times and durations ---- */

static long long parse_iso(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return -1;
	return (long long)timegm(&tm);
}

/* {iso, text, ago} for an ISO 8601 UTC time, false when there is none. */
static json_t *when_json(const json_t *v)
{
	const char *iso = json_string_value(v);
	long long t = parse_iso(iso);
	if (t < 0)
		return json_false();
	char text[64], ago[64];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
	long long d = (long long)time(NULL) - t;
	if (d < 0) {
		/* in the future: an expiry */
		long long f = -d;
		if (f < 3600)
			snprintf(ago, sizeof(ago), "in %lld minute%s", f / 60 + 1, f / 60 + 1 == 1 ? "" : "s");
		else if (f < 86400)
			snprintf(ago, sizeof(ago), "in %lld hour%s", f / 3600, f / 3600 == 1 ? "" : "s");
		else
			snprintf(ago, sizeof(ago), "in %lld day%s", f / 86400, f / 86400 == 1 ? "" : "s");
	} else if (d < 10) {
		snprintf(ago, sizeof(ago), "just now");
	} else if (d < 60) {
		snprintf(ago, sizeof(ago), "%lld seconds ago", d);
	} else if (d < 3600) {
		snprintf(ago, sizeof(ago), "%lld minute%s ago", d / 60, d / 60 == 1 ? "" : "s");
	} else if (d < 86400) {
		snprintf(ago, sizeof(ago), "%lld hour%s ago", d / 3600, d / 3600 == 1 ? "" : "s");
	} else if (d < 30 * 86400) {
		snprintf(ago, sizeof(ago), "%lld day%s ago", d / 86400, d / 86400 == 1 ? "" : "s");
	} else {
		strftime(ago, sizeof(ago), "%Y-%m-%d", &tm);
	}
	return json_pack("{s:s, s:s, s:s}", "iso", iso, "text", text, "ago", ago);
}

static void fmt_duration(char *out, size_t n, long long ms)
{
	if (ms < 0)
		snprintf(out, n, "-");
	else if (ms < 1000)
		snprintf(out, n, "%lld ms", ms);
	else if (ms < 60000)
		snprintf(out, n, "%.1f s", (double)ms / 1000.0);
	else if (ms < 3600000)
		snprintf(out, n, "%lldm %02llds", ms / 60000, ms / 1000 % 60);
	else
		snprintf(out, n, "%lldh %02lldm", ms / 3600000, ms / 60000 % 60);
}

/* A run's duration as text: "-" while it has not started. */
static json_t *run_duration(const json_t *run)
{
	char buf[32];
	const json_t *ms = json_object_get(run, "duration_ms");
	if (!json_is_integer(ms) || json_is_null(json_object_get(run, "started_at")))
		return json_string("-");
	fmt_duration(buf, sizeof(buf), (long long)json_integer_value(ms));
	return json_string(buf);
}

/* The first 7 characters of a commit id, false when there is none. */
static json_t *short_sha(const char *sha)
{
	if (!sha || !*sha)
		return json_false();
	return json_stringn(sha, strlen(sha) < 7 ? strlen(sha) : 7);
}

static int run_active(const char *status)
{
	return status && (!strcmp(status, "queued") || !strcmp(status, "running"));
}

/* ---- generic form fields (templates/web/field.mustache) ---- */

struct fv {
	const char *id, *name, *label, *help, *error, *value, *placeholder, *type_hint, *note, *clear_key;
	const char *controls;       /* id of the section a switch shows and hides */
	const char *kind;           /* "checkbox", "select", "textarea", "input" */
	const char *input_type, *inputmode, *autocomplete;
	json_t *choices;            /* [{value, text, selected}], stolen; NULL: none */
	int checked, required, rows;
};

/* Every key field.mustache uses is set, so nothing resolves in outer contexts. */
static json_t *field_view(const struct fv *f)
{
	json_t *o = json_object();
	char help_id[300], error_id[300];
	const char *kind = f->kind ? f->kind : "input";
	snprintf(help_id, sizeof(help_id), "%s-help", f->id);
	snprintf(error_id, sizeof(error_id), "%s-error", f->id);
	int has_help = f->help && *f->help, has_error = f->error && *f->error;
	struct wo_buf db = WO_BUF_INIT;
	if (has_help)
		wo_buf_puts(&db, help_id);
	if (has_error)
		wo_buf_printf(&db, "%s%s", db.len ? " " : "", error_id);
	set_text(o, "id", f->id);
	set_text(o, "name", f->name);
	set_text(o, "label", f->label);
	set_text(o, "help", f->help);
	set_text(o, "help_id", help_id);
	set_text(o, "error", f->error);
	set_text(o, "error_id", error_id);
	set_text(o, "describedby", wo_buf_cstr(&db));
	wo_buf_release(&db);
	json_object_set_new(o, "is_checkbox", json_boolean(!strcmp(kind, "checkbox")));
	json_object_set_new(o, "is_select", json_boolean(!strcmp(kind, "select")));
	json_object_set_new(o, "is_textarea", json_boolean(!strcmp(kind, "textarea")));
	json_object_set_new(o, "is_input", json_boolean(!strcmp(kind, "input")));
	json_object_set_new(o, "is_readonly", json_boolean(!strcmp(kind, "readonly")));
	set_text(o, "input_type", f->input_type ? f->input_type : "text");
	set_text(o, "inputmode", f->inputmode);
	set_text(o, "autocomplete", f->autocomplete ? f->autocomplete : "off");
	set_text(o, "value", f->value);
	json_object_set_new(o, "checked", json_boolean(f->checked));
	json_object_set_new(o, "choices", f->choices ? f->choices : json_array());
	set_text(o, "placeholder", f->placeholder);
	json_object_set_new(o, "required", json_boolean(f->required));
	json_object_set_new(o, "rows", json_integer(f->rows > 0 ? f->rows : 3));
	set_text(o, "type_hint", f->type_hint);
	set_text(o, "note", f->note);
	set_text(o, "clear_key", f->clear_key);
	set_text(o, "controls", f->controls);
	return o;
}

static void add_choice(json_t *choices, const char *value, const char *text, int selected)
{
	json_t *c = json_object();
	set_text(c, "value", value);
	set_text(c, "text", text);
	json_object_set_new(c, "selected", json_boolean(selected));
	json_array_append_new(choices, c);
}

/* "(a whole number from 1 to 60)" for an int field's label. */
static void int_hint(char *out, size_t n, int has_min, long long min, int has_max, long long max)
{
	if (has_min && has_max)
		snprintf(out, n, "(a whole number from %lld to %lld)", min, max);
	else if (has_min)
		snprintf(out, n, "(a whole number, at least %lld)", min);
	else if (has_max)
		snprintf(out, n, "(a whole number, at most %lld)", max);
	else
		snprintf(out, n, "(a whole number)");
}

static int line_count(const char *s)
{
	int n = 1;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* A typed value as the text a form shows: lists one item per line, maps
 * KEY=VALUE per line, the rest as wo_addon_field_format writes it. */
static char *value_text(const json_t *v)
{
	if (!v || json_is_null(v))
		return strdup("");
	if (json_is_array(v) || json_is_object(v)) {
		struct wo_buf b = WO_BUF_INIT;
		size_t i;
		const char *k;
		json_t *item;
		if (json_is_array(v)) {
			json_array_foreach(v, i, item) {
				char *t = wo_addon_field_format(item);
				wo_buf_printf(&b, "%s%s", i ? "\n" : "", t ? t : "");
				free(t);
			}
		} else {
			i = 0;
			json_object_foreach((json_t *)v, k, item) {
				char *t = wo_addon_field_format(item);
				wo_buf_printf(&b, "%s%s=%s", i++ ? "\n" : "", k, t ? t : "");
				free(t);
			}
		}
		return wo_buf_detach(&b);
	}
	char *t = wo_addon_field_format(v);
	return t ? t : strdup("");
}

/* Textarea text of a list field as addon text: a JSON array of the
 * non-empty trimmed lines ("" when there are none). */
static char *list_text(const char *text)
{
	json_t *arr = json_array();
	const char *p = text ? text : "";
	while (*p) {
		size_t n = strcspn(p, "\n");
		char *item = trim_dup(p, n);
		if (item && *item)
			json_array_append_new(arr, jtext(item));
		free(item);
		p += n + (p[n] == '\n');
	}
	char *out = json_array_size(arr) ? json_dumps(arr, JSON_COMPACT) : strdup("");
	json_decref(arr);
	return out;
}

/* Textarea text of a map field (KEY=VALUE per line) as a JSON object text;
 * NULL with a message naming the line in err when a line is not KEY=VALUE. */
static char *map_text(const char *text, const char *field, const char *addon, const char *what, struct wo_buf *err)
{
	json_t *obj = json_object();
	const char *p = text ? text : "";
	int line = 0;
	while (*p) {
		size_t n = strcspn(p, "\n");
		line++;
		char *l = trim_dup(p, n);
		p += n + (p[n] == '\n');
		if (!l || !*l) {
			free(l);
			continue;
		}
		char *eq = strchr(l, '=');
		char *key = eq ? trim_dup(l, (size_t)(eq - l)) : NULL;
		if (!eq || !key || !*key) {
			wo_buf_printf(err, "invalid value for %s '%s' (addon '%s', map): line %d '%.60s' is not KEY=VALUE",
				      what, field, addon, line, l);
			free(key);
			free(l);
			json_decref(obj);
			return NULL;
		}
		char *val = trimmed(eq + 1);
		json_object_set_new(obj, key, jtext(val));
		free(val);
		free(key);
		free(l);
	}
	char *out = json_object_size(obj) ? json_dumps(obj, JSON_COMPACT) : strdup("");
	json_decref(obj);
	return out;
}

/* ---- validation messages ---- */

/* {field: message} with every message a string (lines joined). */
static json_t *errors_from(const char *msg)
{
	json_t *e = wo_http_error_fields(msg && *msg ? msg : "the request could not be completed");
	if (!e)
		e = json_pack("{s:s}", "_", msg ? msg : "");
	const char *k;
	json_t *v;
	json_object_foreach(e, k, v) {
		if (json_is_array(v)) {
			struct wo_buf b = WO_BUF_INIT;
			size_t i;
			json_t *item;
			json_array_foreach(v, i, item)
				wo_buf_printf(&b, "%s%s", i ? "\n" : "", json_string_value(item) ? json_string_value(item) : "");
			json_object_set_new(e, k, jtext(wo_buf_cstr(&b)));
			wo_buf_release(&b);
		} else if (!json_is_string(v)) {
			json_object_set_new(e, k, json_string("invalid value"));
		}
	}
	return e;
}

/* Builds the error summary ({has_errors, summary: [{text, href}]}) in
 * data: first the keys of order ([[key, element id]], the form's order),
 * then any others (unlinked). errors and order may be NULL. */
static void add_summary(json_t *data, const json_t *errors, const json_t *order)
{
	json_t *summary = json_array();
	json_t *seen = json_object();
	size_t i;
	json_t *pair;
	json_array_foreach(order, i, pair) {
		const char *key = json_string_value(json_array_get(pair, 0));
		const char *id = json_string_value(json_array_get(pair, 1));
		const char *m = key ? jstr(errors, key) : NULL;
		if (!m || json_object_get(seen, key))
			continue;
		json_object_set_new(seen, key, json_true());
		struct wo_buf href = WO_BUF_INIT;
		wo_buf_printf(&href, "#%s", id ? id : "");
		json_array_append_new(summary, json_pack("{s:o, s:o}", "text", jtext(m), "href", jtext(href.ptr)));
		wo_buf_release(&href);
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)errors, k, v) {
		if (json_object_get(seen, k) || !json_is_string(v))
			continue;
		json_array_append_new(summary, json_pack("{s:o, s:s}", "text", jtext(json_string_value(v)), "href", ""));
	}
	json_decref(seen);
	json_object_set_new(data, "has_errors", json_boolean(json_array_size(summary) > 0));
	json_object_set_new(data, "summary", summary);
}

static void order_add(json_t *order, const char *key, const char *id)
{
	if (order)
		json_array_append_new(order, json_pack("[o, o]", jtext(key), jtext(id)));
}

/* ---- the deployment form ---- */

/* What the deployment form shows: the text of every field, from a record,
 * the addons' defaults or what was posted, plus the problems found. */
struct dform {
	int creating;
	json_t *fields;   /* the enabled addons' fields (wo_addon_fields_json) */
	json_t *core;     /* {name, repo_url, branch, domain, port}: text */
	json_t *env;      /* [[key, value]] */
	json_t *af;       /* {"addon.field": text} */
	json_t *health;   /* {key: text} for the keys of health_form */
	json_t *errors;   /* {key: message}; NULL when none */
};

/* The health settings in the form's order, integers first; their defaults
 * (wo_deployment_health_fill), ranges and messages are the store's. */
static const struct {
	const char *key, *label, *help, *placeholder;
	int is_int;
} health_form[] = {
	{ "interval_s", "Check every (seconds)", "How often a running deployment is checked.", NULL, 1 },
	{ "timeout_s", "Timeout (seconds)", "A check that takes longer fails. At most the interval.", NULL, 1 },
	{ "retries", "Failures before unhealthy",
	  "Failed checks in a row before the deployment is unhealthy (and restarted).", NULL, 1 },
	{ "start_period_s", "Start period (seconds)",
	  "After a deploy or a start, failed checks in this time do not count.", NULL, 1 },
	{ "restarts_per_hour", "Restarts per hour (at most)",
	  "Automatic restarts of an unhealthy deployment in an hour; 0: never restart it.", NULL, 1 },
	{ "path", "Probe path",
	  "Optional: webops requests this path from the deployment's port (or domain) at each check, e.g. "
	  "/healthz. Empty: only the addons' health checks count.", "none", 0 },
	{ "status", "Expected status",
	  "Optional: the HTTP status the probe must answer with. Empty: any status below 400.", "any below 400", 0 },
	{ "body", "Expected text",
	  "Optional: text the probe's answer must contain.", "any", 0 },
};
#define HEALTH_FORM_N (sizeof(health_form) / sizeof(health_form[0]))

static void dform_release(struct dform *f)
{
	json_decref(f->fields);
	json_decref(f->core);
	json_decref(f->env);
	json_decref(f->af);
	json_decref(f->health);
	json_decref(f->errors);
	memset(f, 0, sizeof(*f));
}

/* The enabled addons' deployment fields; [] when there is no registry. */
static json_t *load_fields(struct wo_req *req)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	json_t *fields = reg ? wo_addon_fields_json(reg) : NULL;
	if (reg)
		wo_http_registry_unlock(req);
	return fields ? fields : json_array();
}

static void field_key(struct wo_buf *b, const json_t *f)
{
	wo_buf_clear(b);
	wo_buf_printf(b, "%s.%s", jstr(f, "addon") ? jstr(f, "addon") : "", jstr(f, "name") ? jstr(f, "name") : "");
}

/* Fills f from a deployment record, or with the fields' defaults when d is
 * NULL (a new deployment). */
static void dform_init(struct dform *f, struct wo_req *req, const json_t *d)
{
	static const char *const keys[] = { "name", "repo_url", "branch", "domain" };
	memset(f, 0, sizeof(*f));
	f->creating = d == NULL;
	f->fields = load_fields(req);
	f->core = json_object();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		/* a password in a URL from before they were refused is never put
		 * in the page (saving the form then asks for credentials instead) */
		char *shown = i == 1 && d ? wo_url_redact(jstr(d, keys[i])) : NULL;
		set_text(f->core, keys[i], shown ? shown : d ? jstr(d, keys[i]) : "");
		free(shown);
	}
	const json_t *port = json_object_get(d, "port");
	char pt[32] = "";
	if (json_is_integer(port))
		snprintf(pt, sizeof(pt), "%lld", (long long)json_integer_value(port));
	set_text(f->core, "port", pt);

	f->env = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(d, "env_vars"), k, v)
		json_array_append_new(f->env, json_pack("[o, o]", jtext(k), jtext(json_string_value(v))));

	/* health: the record's values (defaults filled in by the store); empty
	 * for a new deployment, whose placeholders show the defaults */
	f->health = json_object();
	const json_t *h = json_object_get(d, "health");
	for (size_t i = 0; i < HEALTH_FORM_N; i++) {
		const json_t *hv = json_object_get(h, health_form[i].key);
		char *t = value_text(json_is_null(hv) ? NULL : hv);
		set_text(f->health, health_form[i].key, t);
		free(t);
	}

	f->af = json_object();
	struct wo_buf key = WO_BUF_INIT;
	size_t i;
	json_t *fd;
	json_array_foreach(f->fields, i, fd) {
		const json_t *val = d ? json_object_get(json_object_get(json_object_get(d, "addon_fields"),
									  jstr(fd, "addon")),
							  jstr(fd, "name"))
				      : NULL;
		if (!val)
			val = json_object_get(fd, "default");
		/* a secret is never sent back: its mask, given back, keeps it */
		char *t = wo_secret_is_sealed(json_string_value(val)) ? strdup(WO_FIELD_SECRET_MASK) : value_text(val);
		field_key(&key, fd);
		set_text(f->af, key.ptr, t);
		free(t);
	}
	wo_buf_release(&key);
}

static int set_error(json_t **errors, const char *key, const char *msg)
{
	if (!*errors)
		*errors = json_object();
	json_object_set_new(*errors, key, jtext(msg));
	return -1;
}

/* Takes what was posted into f and builds the input of
 * wo_http_deployment_save: *input_out {name, repo_url, branch, domain,
 * port, env_vars} and *text_out {"addon.field": text}. Problems the form
 * itself can see (a port that is not a number, a map line without '=') go
 * to f->errors, and then nothing must be saved: returns -1. */
static int dform_post(struct dform *f, struct wo_req *req, json_t **input_out, json_t **text_out)
{
	int bad = 0;
	json_t *input = json_object();
	json_t *text = json_object();

	if (f->creating) {
		const char *v = wo_http_form(req, "name");
		char *t = trimmed(v);
		set_text(f->core, "name", v ? v : "");
		json_object_set_new(input, "name", jtext(t));
		free(t);
	}
	const char *v = wo_http_form(req, "repo_url");
	if (v || f->creating) {
		char *t = trimmed(v);
		set_text(f->core, "repo_url", v ? v : "");
		json_object_set_new(input, "repo_url", jtext(t));
		free(t);
	}
	v = wo_http_form(req, "branch");
	if (v) {
		char *t = trimmed(v);
		set_text(f->core, "branch", v);
		if (*t)
			json_object_set_new(input, "branch", jtext(t));
		free(t);
	}
	v = wo_http_form(req, "domain");
	if (v) {
		char *t = trimmed(v);
		set_text(f->core, "domain", v);
		if (*t)
			json_object_set_new(input, "domain", jtext(t));
		else if (!f->creating)
			json_object_set_new(input, "domain", json_null()); /* cleared */
		free(t);
	}
	v = wo_http_form(req, "port");
	if (v) {
		char *t = trimmed(v);
		set_text(f->core, "port", v);
		long long port = parse_uint(t);
		if (*t && port < 0) {
			struct wo_buf m = WO_BUF_INIT;
			wo_buf_puts(&m, "port '");
			utf8_clean(&m, t);
			wo_buf_puts(&m, "' is invalid: use a whole number from 1 to 65535");
			bad = set_error(&f->errors, "port", m.ptr);
			wo_buf_release(&m);
		} else if (*t) {
			json_object_set_new(input, "port", json_integer(port));
		} else if (!f->creating) {
			json_object_set_new(input, "port", json_null()); /* cleared */
		}
		free(t);
	}

	/* health settings: an empty number is the default, an empty path, status
	 * or text is none (null); text that is not a whole number goes to the
	 * store as text, which refuses it naming the field and its range */
	json_t *health = json_object(), *dflt = json_object();
	wo_deployment_health_fill(dflt);
	int health_posted = 0;
	for (size_t i = 0; i < HEALTH_FORM_N; i++) {
		const char *k = health_form[i].key;
		char fname[64];
		snprintf(fname, sizeof(fname), "health.%s", k);
		v = wo_http_form(req, fname);
		if (!v)
			continue;
		health_posted = 1;
		set_text(f->health, k, v);
		int is_body = !strcmp(k, "body");
		char *t = trimmed(v);
		if (!*t) {
			json_t *dv = json_object_get(dflt, k);
			json_object_set_new(health, k, health_form[i].is_int && dv ? json_incref(dv) : json_null());
		} else if (is_body) {
			json_object_set_new(health, k, jtext(v)); /* as typed: spaces may matter */
		} else if (health_form[i].is_int || !strcmp(k, "status")) {
			long long n = parse_uint(t);
			json_object_set_new(health, k, n >= 0 ? json_integer(n) : jtext(t));
		} else {
			json_object_set_new(health, k, jtext(t));
		}
		free(t);
	}
	if (health_posted)
		json_object_set_new(input, "health", health);
	else
		json_decref(health);
	json_decref(dflt);

	/* environment rows: env_key[i] goes with env_value[i] */
	json_t *env = json_object();
	json_t *rows = json_array();
	for (size_t i = 0;; i++) {
		const char *key = wo_http_form_nth(req, "env_key", i);
		const char *val = wo_http_form_nth(req, "env_value", i);
		if (!key && !val)
			break;
		char *k = trimmed(key);
		json_t *vj = val ? json_string(val) : NULL;
		if (val && !vj) {
			/* refused, not silently "cleaned": the value is not text */
			char msg[160];
			snprintf(msg, sizeof(msg), "env '%.60s': the value is not valid UTF-8 text", k);
			bad = set_error(&f->errors, "env", msg);
		}
		json_decref(vj);
		if (*k || (val && *val)) {
			json_t *kj = jtext(k); /* a key jansson accepts (valid UTF-8) */
			json_object_set_new(env, json_string_value(kj), jtext(val));
			json_decref(kj);
			json_array_append_new(rows, json_pack("[o, o]", jtext(key), jtext(val)));
		}
		free(k);
	}
	json_object_set_new(input, "env_vars", env);
	json_decref(f->env);
	f->env = rows;

	/* addon fields: only those posted (a switched-off section posts none) */
	struct wo_buf key = WO_BUF_INIT, name = WO_BUF_INIT, err = WO_BUF_INIT;
	size_t i;
	json_t *fd;
	json_array_foreach(f->fields, i, fd) {
		field_key(&key, fd);
		wo_buf_clear(&name);
		wo_buf_printf(&name, "af.%s", key.ptr);
		v = wo_http_form(req, name.ptr);
		if (!v)
			continue;
		set_text(f->af, key.ptr, v);
		const char *type = jstr(fd, "type") ? jstr(fd, "type") : "string";
		char *t = NULL;
		if (!strcmp(type, "list")) {
			t = list_text(v);
		} else if (!strcmp(type, "map")) {
			wo_buf_clear(&err);
			t = map_text(v, jstr(fd, "name"), jstr(fd, "addon"), "field", &err);
			if (!t)
				bad = set_error(&f->errors, key.ptr, err.ptr);
		} else {
			t = strdup(v);
		}
		if (t)
			json_object_set_new(text, key.ptr, jtext(t));
		free(t);
	}
	wo_buf_release(&key);
	wo_buf_release(&name);
	wo_buf_release(&err);
	*input_out = input;
	*text_out = text;
	return bad ? -1 : 0;
}

/* When the form found problems itself (and nothing is saved), the core
 * fields are still checked, so one answer lists every problem. base: the
 * current record when updating. */
static void dform_probe(struct dform *f, const json_t *base, const json_t *input)
{
	json_t *probe = base ? json_deep_copy(base) : json_object();
	json_object_update(probe, (json_t *)input);
	if (!json_object_get(probe, "branch"))
		json_object_set_new(probe, "branch", json_string("main")); /* the default on create */
	json_object_del(probe, "addon_fields");
	json_object_del(probe, "status");
	if (wo_deployment_validate(probe) < 0) {
		json_t *more = errors_from(wo_error_last());
		if (!f->errors)
			f->errors = json_object();
		json_object_update_missing(f->errors, more);
		json_decref(more);
	}
	json_decref(probe);
}

/* The message for an addon field: under "addon.field" or the bare name. */
static const char *field_error(const json_t *errors, const char *key, const char *bare)
{
	const char *m = jstr(errors, key);
	return m ? m : jstr(errors, bare);
}

/* The form's view for deployment_form.mustache; appends [key, id] pairs in
 * form order to order (for the error summary). */
static json_t *dform_view(const struct dform *f, const char *action, const char *submit, const char *cancel,
			  json_t *order)
{
	static const struct {
		const char *key, *label, *help, *placeholder, *inputmode;
		int required, create_only;
	} core[] = {
		{ "name", "Name", "1-63 lowercase letters, digits and '-', starting with a letter. It names the "
				  "containers, units and host names made for it and cannot be changed later.",
		  "blog", NULL, 1, 1 },
		{ "repo_url", "Repository", "The git repository to deploy: https://, ssh://, user@host:path, "
					    "file:///path or an absolute path on this host.",
		  "https://github.com/you/app.git", "url", 1, 0 },
		{ "branch", "Branch", "The branch to deploy. Empty means main.", "main", NULL, 0, 0 },
		{ "domain", "Domain", "Optional: the host name people use to reach it.", "app.example.com", "url", 0, 0 },
		{ "port", "Port", "Optional: the port it listens on, 1-65535, unique across deployments.", "8000",
		  "numeric", 0, 0 },
	};
	const json_t *errors = f->errors;
	json_t *view = json_object();
	set_text(view, "action", action);
	set_text(view, "submit_label", submit);
	set_text(view, "cancel_href", cancel);

	json_t *cv = json_array();
	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
		if (core[i].create_only && !f->creating)
			continue;
		char id[64];
		snprintf(id, sizeof(id), "f-%s", core[i].key);
		struct fv fv = { 0 };
		fv.id = id;
		fv.name = core[i].key;
		fv.label = core[i].label;
		fv.help = core[i].help;
		fv.placeholder = core[i].placeholder;
		fv.inputmode = core[i].inputmode;
		fv.required = core[i].required;
		fv.value = jstr(f->core, core[i].key);
		fv.error = jstr(errors, core[i].key);
		json_array_append_new(cv, field_view(&fv));
		order_add(order, core[i].key, id);
	}
	json_object_set_new(view, "core", cv);

	/* environment: the rows, then empty ones to fill in (app.js adds more) */
	const char *env_error = jstr(errors, "env");
	if (!env_error)
		env_error = jstr(errors, "env_vars");
	json_t *rows = json_array();
	long first_invalid = -1;
	size_t n = json_array_size(f->env);
	for (size_t i = 0; i < n + 3; i++) {
		json_t *r = json_array_get(f->env, i);
		const char *k = r ? json_string_value(json_array_get(r, 0)) : "";
		const char *val = r ? json_string_value(json_array_get(r, 1)) : "";
		int invalid = 0;
		if (env_error && k && *k) {
			struct wo_buf q = WO_BUF_INIT;
			wo_buf_printf(&q, "env '%s'", k);
			invalid = strstr(env_error, q.ptr) != NULL;
			wo_buf_release(&q);
		}
		if (invalid && first_invalid < 0)
			first_invalid = (long)i;
		json_array_append_new(rows, json_pack("{s:I, s:I, s:o, s:o, s:b}", "i", (json_int_t)i, "n",
						      (json_int_t)i + 1, "key", jtext(k), "value", jtext(val), "invalid",
						      invalid));
	}
	json_object_set_new(view, "env", rows);
	set_text(view, "env_error", env_error);
	char env_id[48];
	snprintf(env_id, sizeof(env_id), "env-key-%ld", first_invalid < 0 ? 0L : first_invalid);
	order_add(order, "env", env_id);
	order_add(order, "env_vars", env_id);

	/* health checks: placeholders show the defaults */
	json_t *hv = json_array(), *dflt = json_object();
	wo_deployment_health_fill(dflt);
	for (size_t i = 0; i < HEALTH_FORM_N; i++) {
		char id[64], fname[64], ph[32], ekey[64];
		snprintf(id, sizeof(id), "f-health-%s", health_form[i].key);
		snprintf(fname, sizeof(fname), "health.%s", health_form[i].key);
		snprintf(ekey, sizeof(ekey), "health.%s", health_form[i].key);
		struct fv fv = { 0 };
		fv.id = id;
		fv.name = fname;
		fv.label = health_form[i].label;
		fv.help = health_form[i].help;
		fv.value = jstr(f->health, health_form[i].key);
		fv.error = jstr(errors, ekey);
		fv.placeholder = health_form[i].placeholder;
		if (health_form[i].is_int || !strcmp(health_form[i].key, "status"))
			fv.inputmode = "numeric";
		if (health_form[i].is_int) {
			const json_t *d = json_object_get(dflt, health_form[i].key);
			snprintf(ph, sizeof(ph), "%lld", (long long)json_integer_value(d));
			fv.placeholder = ph;
		}
		json_array_append_new(hv, field_view(&fv));
		order_add(order, ekey, id);
		if (i == 0)
			order_add(order, "health", id);
	}
	json_decref(dflt);
	json_object_set_new(view, "health_fields", hv);

	/* one fieldset per addon, in the order of the fields */
	json_t *groups = json_array();
	json_t *group = NULL;
	struct wo_buf key = WO_BUF_INIT, id = WO_BUF_INIT, name = WO_BUF_INIT, body = WO_BUF_INIT;
	size_t i;
	json_t *fd;
	json_array_foreach(f->fields, i, fd) {
		const char *addon = jstr(fd, "addon") ? jstr(fd, "addon") : "";
		const char *fname = jstr(fd, "name") ? jstr(fd, "name") : "";
		const char *type = jstr(fd, "type") ? jstr(fd, "type") : "string";
		int first = !group || strcmp(jstr(group, "addon"), addon) != 0;
		wo_buf_clear(&body);
		wo_buf_printf(&body, "af-%s--body", addon);
		if (first) {
			group = json_object();
			set_text(group, "addon", addon);
			struct wo_buf title = WO_BUF_INIT;
			wo_buf_printf(&title, "%s addon", addon);
			set_text(group, "title", title.ptr);
			wo_buf_release(&title);
			set_text(group, "body_id", body.ptr);
			json_object_set_new(group, "has_switch", json_false());
			json_object_set_new(group, "switch", json_false());
			json_object_set_new(group, "fields", json_array());
			json_array_append_new(groups, group);
		}
		field_key(&key, fd);
		wo_buf_clear(&id);
		wo_buf_printf(&id, "af-%s-%s", addon, fname);
		wo_buf_clear(&name);
		wo_buf_printf(&name, "af.%s", key.ptr);
		order_add(order, key.ptr, id.ptr);
		order_add(order, fname, id.ptr);

		const char *text = jstr(f->af, key.ptr) ? jstr(f->af, key.ptr) : "";
		struct fv fv = { 0 };
		fv.id = id.ptr;
		fv.name = name.ptr;
		fv.label = jstr(fd, "label") ? jstr(fd, "label") : fname;
		fv.help = jstr(fd, "help");
		fv.error = field_error(errors, key.ptr, fname);
		fv.required = json_is_true(json_object_get(fd, "required"));
		fv.value = text;
		char hint[96] = "";
		int is_switch = 0;
		if (!strcmp(type, "bool")) {
			fv.kind = "checkbox";
			fv.checked = wo_addon_parse_bool(text) == 1;
			fv.required = 0;
			/* The rule: when an addon's FIRST field is a bool, it is the
			 * switch of the addon's section; app.js shows the section's
			 * other fields only while it is checked. */
			if (first) {
				is_switch = 1;
				fv.controls = body.ptr;
			}
		} else if (!strcmp(type, "enum")) {
			fv.kind = "select";
			fv.choices = json_array();
			int found = 0;
			size_t j;
			json_t *c;
			json_array_foreach(json_object_get(fd, "choices"), j, c)
				found |= json_is_string(c) && !strcmp(json_string_value(c), text);
			if (!found)
				add_choice(fv.choices, "", "(not set)", 1);
			json_array_foreach(json_object_get(fd, "choices"), j, c)
				if (json_is_string(c))
					add_choice(fv.choices, json_string_value(c), json_string_value(c),
						   !strcmp(json_string_value(c), text));
		} else if (!strcmp(type, "int")) {
			/* text, not number: a wrong value typed must come back as typed */
			fv.inputmode = "numeric";
			int has_min = json_is_integer(json_object_get(fd, "min"));
			int has_max = json_is_integer(json_object_get(fd, "max"));
			int_hint(hint, sizeof(hint), has_min, (long long)json_integer_value(json_object_get(fd, "min")),
				 has_max, (long long)json_integer_value(json_object_get(fd, "max")));
			fv.type_hint = hint;
		} else if (!strcmp(type, "list")) {
			fv.kind = "textarea";
			fv.type_hint = "(one per line)";
			fv.rows = line_count(text) + 1;
		} else if (json_is_true(json_object_get(fd, "secret"))) {
			/* a key, a certificate: several lines, stored sealed */
			fv.kind = "textarea";
			fv.type_hint = "(stored encrypted; " WO_FIELD_SECRET_MASK " keeps what is stored, empty removes it)";
			fv.rows = 4;
		} else if (!strcmp(type, "map")) {
			fv.kind = "textarea";
			fv.type_hint = "(KEY=VALUE, one per line)";
			fv.placeholder = "KEY=value";
			fv.rows = line_count(text) + 1;
		}
		if (fv.rows > 12)
			fv.rows = 12;
		json_t *view_f = field_view(&fv);
		if (is_switch) {
			json_object_set_new(group, "has_switch", json_true());
			json_object_set_new(group, "switch", view_f);
		} else {
			json_array_append_new(json_object_get(group, "fields"), view_f);
		}
	}
	wo_buf_release(&key);
	wo_buf_release(&id);
	wo_buf_release(&name);
	wo_buf_release(&body);
	json_object_set_new(view, "addons", groups);
	return view;
}

/* ---- login, logout, first-run setup ---- */

/* Only a path of ours: "/" followed by neither "/" nor "\" (which browsers
 * read as another host), and no control characters. */
static int local_path(const char *s)
{
	if (!s || s[0] != '/' || s[1] == '/' || s[1] == '\\')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return strlen(s) < 2048;
}

static int login_page(struct wo_req *req, int status, const char *user, const char *next, const char *error)
{
	json_t *data = json_object();
	set_text(data, "user", user);
	set_text(data, "next", local_path(next) ? next : "");
	set_text(data, "error", error);
	add_notice(data, req);
	return render(req, status, "login", data);
}

WO_HANDLER(wo_page_login)
{
	if (req->auth == WO_AUTH_SESSION) {
		const char *next = wo_http_query(req, "next");
		return wo_http_redirect(req, local_path(next) ? next : "/");
	}
	return login_page(req, 200, "", wo_http_query(req, "next"), NULL);
}

static void wait_text(char *out, size_t n, int secs)
{
	if (secs < 60)
		snprintf(out, n, "%d second%s", secs, secs == 1 ? "" : "s");
	else
		snprintf(out, n, "%d minute%s", (secs + 59) / 60, (secs + 59) / 60 == 1 ? "" : "s");
}

/* Whether a form came from another site: its Origin (or, without one, the
 * browser's Sec-Fetch-Site) is not this server. Forms carry a CSRF token;
 * the login form cannot (there is no session yet), so a page elsewhere could
 * log a visitor in as the attacker (login CSRF): refused. */
static int cross_site(struct wo_req *req)
{
	const char *origin = wo_http_header(req, "Origin");
	if (!origin || !strcmp(origin, "null")) {
		const char *sfs = wo_http_header(req, "Sec-Fetch-Site");
		return (sfs && !strcmp(sfs, "cross-site")) || (origin && !strcmp(origin, "null"));
	}
	const char *host = wo_http_header(req, "Host");
	const char *o = strstr(origin, "://");
	if (o && host && !strcasecmp(o + 3, host))
		return 0;
	/* the public URL webopsd was told it is reached at (behind a proxy) */
	const char *pub = wo_http_public_url(req);
	if (pub) {
		size_t n = strlen(origin);
		if (!strncasecmp(pub, origin, n) && (pub[n] == '\0' || pub[n] == '/'))
			return 0;
	}
	return 1;
}

WO_HANDLER(wo_page_login_post)
{
	if (db_down(req))
		return 0;
	if (cross_site(req))
		return message_page(req, 403, "Not allowed", "This login form was sent from another site.",
				    "Open webops' own login page and sign in there.", "/login", "Go to the login page");
	const char *user = wo_http_form(req, "user");
	const char *password = wo_http_form(req, "password");
	const char *next = wo_http_form(req, "next");
	if (!user || !*user || !password || !*password)
		return login_page(req, 401, user, next, "Enter your user name and your password.");

	int retry = 0;
	int t = wo_login_throttled(&retry, req->conn, user, req->address);
	if (t < 0)
		return -1;
	if (t > 0) {
		char hdr[32], msg[160], wait[64];
		if (retry < 1)
			retry = 1;
		snprintf(hdr, sizeof(hdr), "%d", retry);
		wait_text(wait, sizeof(wait), retry);
		snprintf(msg, sizeof(msg), "Too many failed attempts. Wait %s, then try again.", wait);
		wo_http_add_header(req, "Retry-After", hdr);
		return login_page(req, 429, user, next, msg);
	}

	struct wo_principal who;
	memset(&who, 0, sizeof(who));
	if (wo_user_verify(&who, req->conn, user, password) < 0) {
		wo_login_failed(req->conn, user, req->address);
		return login_page(req, 401, user, next, "wrong user name or password");
	}
	wo_login_succeeded(req->conn, user, req->address);
	char sid[WO_SECRET_TEXT_LEN + 1];
	if (wo_session_create(sid, req->conn, who.user_id, wo_http_header(req, "User-Agent"), req->address) < 0)
		return -1;
	wo_http_set_session_cookie(req, sid);
	return wo_http_redirect(req, local_path(next) ? next : "/");
}

WO_HANDLER(wo_page_logout)
{
	if (req->conn && req->auth == WO_AUTH_SESSION) {
		wo_session_end(req->conn, req->sid);
		wo_http_auth_changed(req);
	}
	wo_http_set_session_cookie(req, NULL);
	return wo_http_redirect(req, "/login");
}

static int setup_gone(struct wo_req *req)
{
	return message_page(req, 404, "Setup link not valid", NULL,
			    "This setup link was already used, or a newer one replaced it. Log in with the account "
			    "that was created, or ask whoever runs webopsd for a new link (webopsd logs one when no "
			    "user exists yet).",
			    "/login", "Log in");
}

static int setup_page(struct wo_req *req, int status, const char *token, const char *user, json_t *errors)
{
	json_t *data = json_object();
	json_t *fields = json_array();
	json_t *order = json_array();
	struct fv fv = { 0 };
	fv.id = "setup-user";
	fv.name = "user";
	fv.label = "User name";
	fv.help = "Lowercase letters, digits, '.', '_' and '-', starting with a letter.";
	fv.value = user;
	fv.autocomplete = "username";
	fv.required = 1;
	fv.error = jstr(errors, "user");
	json_array_append_new(fields, field_view(&fv));
	order_add(order, "user", fv.id);

	memset(&fv, 0, sizeof(fv));
	fv.id = "setup-password";
	fv.name = "password";
	fv.label = "Password";
	fv.input_type = "password";
	fv.autocomplete = "new-password";
	fv.help = "At least 8 characters.";
	fv.required = 1;
	fv.error = jstr(errors, "password");
	json_array_append_new(fields, field_view(&fv));
	order_add(order, "password", fv.id);

	memset(&fv, 0, sizeof(fv));
	fv.id = "setup-password2";
	fv.name = "password2";
	fv.label = "Password again";
	fv.input_type = "password";
	fv.autocomplete = "new-password";
	fv.required = 1;
	fv.error = jstr(errors, "password2");
	json_array_append_new(fields, field_view(&fv));
	order_add(order, "password2", fv.id);

	set_text(data, "token", token);
	json_object_set_new(data, "fields", fields);
	add_summary(data, errors, order);
	json_decref(order);
	return render(req, status, "setup", data);
}

WO_HANDLER(wo_page_setup)
{
	if (db_down(req))
		return 0;
	const char *token = req->params[0];
	int ok = wo_setup_token_valid(req->conn, token);
	if (ok < 0)
		return -1;
	if (!ok)
		return setup_gone(req);
	return setup_page(req, 200, token, "", NULL);
}

WO_HANDLER(wo_page_setup_post)
{
	if (db_down(req))
		return 0;
	const char *token = req->params[0];
	const char *user = wo_http_form(req, "user");
	const char *password = wo_http_form(req, "password");
	const char *password2 = wo_http_form(req, "password2");
	int ok = wo_setup_token_valid(req->conn, token);
	if (ok < 0)
		return -1;
	if (!ok)
		return setup_gone(req);
	if (!password || !password2 || strcmp(password, password2) != 0) {
		json_t *errors = json_pack("{s:s}", "password2", "the two passwords do not match: type the same one twice");
		int rc = setup_page(req, 422, token, user, errors);
		json_decref(errors);
		return rc;
	}
	json_t *u = NULL;
	int rc = wo_setup_complete(&u, req->conn, token, user ? user : "", password);
	if (rc == WO_ENOTFOUND)
		return setup_gone(req);
	if (rc < 0) {
		json_t *errors = errors_from(wo_error_last());
		rc = setup_page(req, 422, token, user, errors);
		json_decref(errors);
		return rc;
	}
	long long uid = (long long)json_integer_value(json_object_get(u, "id"));
	json_decref(u);
	char sid[WO_SECRET_TEXT_LEN + 1];
	if (wo_session_create(sid, req->conn, uid, wo_http_header(req, "User-Agent"), req->address) < 0)
		return -1;
	wo_http_set_session_cookie(req, sid);
	return wo_http_redirect(req, "/?done=welcome");
}

/* ---- deployments ---- */

/* ---- health ---- */

static const struct {
	const char *state, *icon, *text;
} health_states[] = {
	{ "healthy", "\xe2\x9c\x93", "healthy" },        /* check mark */
	{ "unhealthy", "\xe2\x9c\x97", "unhealthy" },    /* ballot x */
	{ "pending", "\xe2\x80\xa6", "pending" },        /* ellipsis */
	{ "unknown", "?", "unknown" },
};

/* A health badge {state, icon, text, since} for a summary of
 * wo_health_list/wo_health_get; false when the deployment is not running
 * (it is not checked then, so its state says nothing). The state is one of
 * four known words (a class name); anything else shows as unknown. */
static json_t *health_badge(const json_t *h)
{
	const char *status = jstr(h, "status");
	if (!h || !status || !wo_deployment_status_checked(status))
		return json_false();
	const char *st = jstr(h, "state");
	size_t i = 0;
	while (i < 3 && (!st || strcmp(st, health_states[i].state) != 0))
		i++;
	json_t *b = json_object();
	set_text(b, "state", health_states[i].state);
	set_text(b, "icon", health_states[i].icon);
	set_text(b, "text", health_states[i].text);
	json_object_set_new(b, "since", when_json(json_object_get(h, "since")));
	return b;
}

static double jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

#define CHART_HOURS 24
#define CHART_BUCKET_S 900

/* The health section's charts from wo_health_series: latency (average,
 * slowest, intervals with failed checks) and, when an addon reports them,
 * CPU and memory. Built from numbers only (chart.c escapes the fixed texts),
 * so the templates insert them unescaped. */
static void health_charts(json_t *v, const json_t *series, long long interval_s)
{
	size_t n = json_array_size(series);
	long long *t = calloc(n ? n : 1, sizeof(*t));
	double *avg = calloc(n ? n : 1, sizeof(*avg)), *max = calloc(n ? n : 1, sizeof(*max));
	double *fail = calloc(n ? n : 1, sizeof(*fail)), *cpu = calloc(n ? n : 1, sizeof(*cpu));
	double *mem = calloc(n ? n : 1, sizeof(*mem));
	if (!t || !avg || !max || !fail || !cpu || !mem)
		n = 0;
	int has_cpu = 0, has_mem = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *p = json_array_get(series, i);
		t[i] = (long long)json_integer_value(json_object_get(p, "t"));
		avg[i] = jnum(p, "latency_avg_ms");
		max[i] = jnum(p, "latency_max_ms");
		fail[i] = jnum(p, "failures");
		cpu[i] = jnum(p, "cpu_percent");
		mem[i] = jnum(p, "memory_bytes");
		has_cpu |= !isnan(cpu[i]);
		has_mem |= !isnan(mem[i]);
	}
	long long now = (long long)time(NULL);
	long long t0 = (now - CHART_HOURS * 3600) / CHART_BUCKET_S * CHART_BUCKET_S;
	struct wo_buf b = WO_BUF_INIT;

	/* drawn in this order: the average over the slowest */
	struct wo_chart_series lat[] = {
		{ .label = "Slowest", .cls = "s-max", .kind = WO_CHART_LINE, .y = max },
		{ .label = "Average", .cls = "s-lat", .kind = WO_CHART_LINE, .y = avg },
		{ .label = "Failed checks", .cls = "s-fail", .kind = WO_CHART_MARKS, .y = fail },
	};
	/* a line goes on across intervals without a check when checks are that
	 * far apart; it breaks where two were missed */
	long long gap = 2 * (interval_s > CHART_BUCKET_S ? interval_s : CHART_BUCKET_S);
	struct wo_chart c = { .id = "chart-latency", .title = "Check latency, last 24 hours",
			      .empty_text = "no checks yet", .unit = WO_CHART_MS, .t0 = t0, .t1 = now, .t = t, .n = n,
			      .bucket_s = CHART_BUCKET_S, .gap_s = gap, .series = lat, .nseries = 3 };
	wo_chart_svg(&b, &c);
	set_text(v, "chart_latency", wo_buf_cstr(&b));

	struct wo_chart_series cs = { .label = "CPU", .cls = "s-cpu", .kind = WO_CHART_LINE, .y = cpu };
	wo_buf_clear(&b);
	c.id = "chart-cpu";
	c.title = "CPU usage, last 24 hours";
	c.empty_text = "no CPU usage reported";
	c.unit = WO_CHART_PERCENT;
	c.series = &cs;
	c.nseries = 1;
	if (has_cpu)
		wo_chart_svg(&b, &c);
	set_text(v, "chart_cpu", wo_buf_cstr(&b));

	struct wo_chart_series ms = { .label = "Memory", .cls = "s-mem", .kind = WO_CHART_LINE, .y = mem };
	wo_buf_clear(&b);
	c.id = "chart-memory";
	c.title = "Memory usage, last 24 hours";
	c.empty_text = "no memory usage reported";
	c.unit = WO_CHART_BYTES;
	c.series = &ms;
	if (has_mem)
		wo_chart_svg(&b, &c);
	set_text(v, "chart_memory", wo_buf_cstr(&b));
	json_object_set_new(v, "has_checks_24h", json_boolean(n > 0));
	json_object_set_new(v, "has_resources", json_boolean(has_cpu || has_mem));
	wo_buf_release(&b);
	free(t);
	free(avg);
	free(max);
	free(fail);
	free(cpu);
	free(mem);
}

/* "every 30 s, 5 s timeout, ..." and the probe, from the settings. */
static void health_settings_text(json_t *v, const json_t *set)
{
	char buf[256];
	long long retries = (long long)json_integer_value(json_object_get(set, "retries"));
	snprintf(buf, sizeof(buf), "every %lld s, %lld s timeout, unhealthy after %lld failed check%s in a row, "
		 "%lld s start period",
		 (long long)json_integer_value(json_object_get(set, "interval_s")),
		 (long long)json_integer_value(json_object_get(set, "timeout_s")), retries, retries == 1 ? "" : "s",
		 (long long)json_integer_value(json_object_get(set, "start_period_s")));
	set_text(v, "schedule", buf);
	json_object_set_new(v, "retries", json_integer(retries));
	json_object_set_new(v, "restart_cap", json_integer(json_integer_value(json_object_get(set, "restarts_per_hour"))));
	const char *path = jstr(set, "path");
	json_object_set_new(v, "probe_path", path ? jtext(path) : json_false());
	const json_t *status = json_object_get(set, "status");
	if (json_is_integer(status)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(status));
		set_text(v, "probe_status", buf);
	} else {
		set_text(v, "probe_status", "");
	}
	set_text(v, "probe_body", jstr(set, "body"));
}

static const char *event_text(const char *kind)
{
	if (!kind)
		return "event";
	if (!strcmp(kind, "state"))
		return "state changed";
	if (!strcmp(kind, "restart"))
		return "restarted";
	if (!strcmp(kind, "restart_failed"))
		return "restart failed";
	if (!strcmp(kind, "gave_up"))
		return "gave up restarting";
	if (!strcmp(kind, "reported"))
		return "reported by an addon";
	return kind;
}

/* The deployment page's Health section; {error} when it cannot be read
 * (the rest of the page still shows). */
static json_t *health_view(struct wo_req *req, const json_t *d)
{
	const char *name = jstr(d, "name") ? jstr(d, "name") : "";
	json_t *v = json_object();
	json_t *h = NULL, *series = NULL;
	if (wo_health_get(&h, req->conn, name, 10) < 0 ||
	    wo_health_series(&series, req->conn, name, CHART_HOURS, CHART_BUCKET_S) < 0) {
		set_text(v, "error", wo_error_last());
		json_decref(h);
		return v;
	}
	set_text(v, "error", "");
	const char *status = jstr(d, "status") ? jstr(d, "status") : "";
	json_object_set_new(v, "running", json_boolean(wo_deployment_status_checked(status)));
	set_text(v, "status", status);
	/* the deployment's own status: h's may be older than d */
	json_object_set_new(h, "status", jtext(status));
	json_object_set_new(v, "badge", health_badge(h));
	const char *st = jstr(h, "state");
	set_text(v, "state", st);
	json_object_set_new(v, "since", when_json(json_object_get(h, "since")));
	set_text(v, "reason", jstr(h, "reason"));
	long long failures = (long long)json_integer_value(json_object_get(h, "failures"));
	json_object_set_new(v, "failures", json_integer(failures));
	json_object_set_new(v, "restarts", json_integer(json_integer_value(json_object_get(h, "restarts_last_hour"))));
	json_object_set_new(v, "gave_up", json_boolean(json_is_true(json_object_get(h, "gave_up"))));
	json_object_set_new(v, "last_check", when_json(json_object_get(h, "last_check_at")));
	json_object_set_new(v, "next_check",
			    wo_deployment_status_checked(status) ? when_json(json_object_get(h, "next_check_at")) : json_false());
	health_settings_text(v, json_object_get(h, "settings"));

	json_t *rows = json_array();
	int res_cols = 0;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(h, "checks"), i, c) {
		json_t *row = json_object();
		char buf[64];
		json_object_set_new(row, "at", when_json(json_object_get(c, "at")));
		json_object_set_new(row, "ok", json_boolean(json_is_true(json_object_get(c, "ok"))));
		json_object_set_new(row, "uncounted", json_boolean(json_is_false(json_object_get(c, "counted"))));
		fmt_duration(buf, sizeof(buf), (long long)json_integer_value(json_object_get(c, "latency_ms")));
		set_text(row, "latency", buf);
		set_text(row, "failed", jstr(c, "failed"));
		set_text(row, "reason", jstr(c, "reason"));
		double cpu = jnum(c, "cpu_percent"), mem = jnum(c, "memory_bytes");
		buf[0] = 0;
		if (!isnan(cpu))
			wo_chart_format(buf, sizeof(buf), cpu, WO_CHART_PERCENT);
		set_text(row, "cpu", buf);
		buf[0] = 0;
		if (!isnan(mem))
			wo_chart_format(buf, sizeof(buf), mem, WO_CHART_BYTES);
		set_text(row, "memory", buf);
		res_cols |= !isnan(cpu) || !isnan(mem);
		json_array_append_new(rows, row);
	}
	json_object_set_new(v, "has_checks", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(v, "resource_columns", json_boolean(res_cols));
	json_object_set_new(v, "checks", rows);

	rows = json_array();
	json_array_foreach(json_object_get(h, "events"), i, c) {
		json_t *row = json_object();
		const char *kind = jstr(c, "kind");
		json_object_set_new(row, "at", when_json(json_object_get(c, "at")));
		set_text(row, "kind", event_text(kind));
		int is_state = kind && !strcmp(kind, "state");
		json_object_set_new(row, "is_state", json_boolean(is_state));
		set_text(row, "previous", jstr(c, "previous") ? jstr(c, "previous") : "unknown");
		set_text(row, "state", jstr(c, "state"));
		set_text(row, "reason", jstr(c, "reason"));
		json_array_append_new(rows, row);
	}
	json_object_set_new(v, "has_events", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(v, "events", rows);

	health_charts(v, series, (long long)json_integer_value(json_object_get(json_object_get(h, "settings"),
									       "interval_s")));
	json_decref(series);
	json_decref(h);
	return v;
}

WO_HANDLER(wo_page_deployments)
{
	if (db_down(req))
		return 0;
	/* both inputs come from memory until a deployment, a health state or a
	 * run changes (NOTIFY); the generations are read before the queries so a
	 * change during them is not missed */
	struct wo_http_server *srv = req->srv;
	unsigned dg = wo_http__dep_gen(srv), rg = wo_http__runs_gen(srv);
	json_t *cached = wo_http__json_cache_get(&srv->page_list, dg, 1);
	json_t *latest = wo_http__json_cache_get(&srv->page_runs, dg, rg);
	if (!cached) {
		json_t *l = NULL, *hl = NULL;
		if (wo_deployment_list(&l, req->conn) < 0) {
			json_decref(latest);
			return -1;
		}
		/* {name: health summary}; without it the page still shows, uncached */
		json_t *hm = json_object();
		int health_ok = wo_health_list(&hl, req->conn) == 0;
		size_t k;
		json_t *hs;
		json_array_foreach(hl, k, hs)
			if (jstr(hs, "deployment"))
				json_object_set(hm, jstr(hs, "deployment"), hs);
		json_decref(hl);
		cached = json_pack("{s:o, s:o}", "list", l, "health", hm);
		if (health_ok)
			wo_http__json_cache_put(&srv->page_list, dg, 1, cached);
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
	json_array_foreach(list, i, d) {
		const char *name = jstr(d, "name") ? jstr(d, "name") : "";
		const json_t *run = json_object_get(latest, name);
		json_t *row = json_object();
		set_text(row, "name", name);
		json_object_set_new(row, "href", jpath("/deployments/", name, NULL));
		set_text(row, "status", jstr(d, "status"));
		const char *commit = jstr(d, "current_commit");
		set_text(row, "commit", commit);
		json_object_set_new(row, "commit_short", short_sha(commit));
		/* the release's subject: from its run, else the newest run's if it is that commit */
		const char *subject = jstr(run, "current_commit_subject");
		const json_t *rc = json_object_get(run, "commit");
		if (!subject && commit && jstr(rc, "sha") && !strcmp(jstr(rc, "sha"), commit))
			subject = jstr(rc, "subject");
		set_text(row, "subject", subject);
		if (run) {
			char href[64];
			snprintf(href, sizeof(href), "/runs/%lld", (long long)json_integer_value(json_object_get(run, "id")));
			const json_t *at = json_object_get(run, "finished_at");
			if (json_is_null(at) || !at)
				at = json_object_get(run, "started_at");
			if (json_is_null(at) || !at)
				at = json_object_get(run, "queued_at");
			json_object_set_new(row, "last_run",
					    json_pack("{s:I, s:s, s:o, s:o}", "id", json_integer_value(json_object_get(run, "id")),
						      "href", href, "status", jtext(jstr(run, "status")), "when", when_json(at)));
		} else {
			json_object_set_new(row, "last_run", json_false());
		}
		/* the deployment's status from the list: the badge goes with it */
		json_t *hs = json_deep_copy(json_object_get(health, name));
		if (hs)
			json_object_set_new(hs, "status", jtext(jstr(d, "status")));
		json_object_set_new(row, "health", health_badge(hs));
		json_decref(hs);
		json_array_append_new(rows, row);
	}
	char count[64];
	snprintf(count, sizeof(count), "%zu deployment%s", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
	json_object_set_new(data, "has_deployments", json_boolean(json_array_size(list) > 0));
	set_text(data, "count_text", count);
	json_object_set_new(data, "deployments", rows);
	json_object_set_new(data, "nav_deployments", json_true());
	add_notice(data, req);
	json_decref(list);
	json_decref(health);
	json_decref(latest);
	return render(req, 200, "deployments", data);
}

static int new_page(struct wo_req *req, int status, struct dform *f)
{
	json_t *data = json_object();
	json_t *order = json_array();
	json_object_set_new(data, "form", dform_view(f, "/deployments/new", "Create deployment", "/", order));
	add_summary(data, f->errors, order);
	json_decref(order);
	json_object_set_new(data, "nav_deployments", json_true());
	return render(req, status, "deployment_new", data);
}

WO_HANDLER(wo_page_deployment_new)
{
	struct dform f;
	dform_init(&f, req, NULL);
	int rc = new_page(req, 200, &f);
	dform_release(&f);
	return rc;
}

WO_HANDLER(wo_page_deployment_create)
{
	if (db_down(req))
		return 0;
	struct dform f;
	json_t *input = NULL, *text = NULL, *d = NULL;
	dform_init(&f, req, NULL);
	int rc = dform_post(&f, req, &input, &text);
	if (rc == 0) {
		/* the repository's default branch is asked without holding this
		 * thread; this handler runs again when it is known */
		int w = wo_http_deployment_create_begin(req, input, wo_page_deployment_create);
		if (w != 0) {
			json_decref(input);
			json_decref(text);
			dform_release(&f);
			return w < 0 ? -1 : 0;
		}
	}
	if (rc == 0)
		rc = wo_http_deployment_save(&d, req, NULL, input, text);
	else
		dform_probe(&f, NULL, input);
	json_decref(input);
	json_decref(text);
	if (rc < 0) {
		if (!f.errors)
			f.errors = errors_from(wo_error_last());
		rc = new_page(req, 422, &f);
		dform_release(&f);
		return rc;
	}
	dform_release(&f);
	rc = redirect_to(req, "/deployments/", jstr(d, "name"), "?done=created");
	json_decref(d);
	return rc;
}

/* The current release: {commit, commit_short, subject, run_id, run_href}, false before the first. */
/* A row's link to its run: run_href and run_id when rid is a run's id,
 * else both false. */
static void set_run_link(json_t *row, const json_t *rid)
{
	if (!json_is_integer(rid)) {
		json_object_set_new(row, "run_href", json_false());
		json_object_set_new(row, "run_id", json_false());
		return;
	}
	char href[64];
	snprintf(href, sizeof(href), "/runs/%lld", (long long)json_integer_value(rid));
	set_text(row, "run_href", href);
	json_object_set_new(row, "run_id", json_integer(json_integer_value(rid)));
}

/* After queueing a run: its page (run is released). */
static int show_run(struct wo_req *req, json_t *run)
{
	char loc[64];
	snprintf(loc, sizeof(loc), "/runs/%lld", (long long)json_integer_value(json_object_get(run, "id")));
	json_decref(run);
	return wo_http_redirect(req, loc);
}

static json_t *release_json(struct wo_req *req, const json_t *d, const json_t *runs)
{
	const char *commit = jstr(d, "current_commit");
	if (!commit)
		return json_false();
	json_t *rel = json_object();
	set_text(rel, "commit", commit);
	json_object_set_new(rel, "commit_short", short_sha(commit));
	const json_t *rid = json_object_get(d, "current_run_id");
	const char *subject = NULL;
	json_t *fetched = NULL;
	if (json_is_integer(rid)) {
		size_t i;
		json_t *r;
		json_array_foreach(runs, i, r)
			if (json_integer_value(json_object_get(r, "id")) == json_integer_value(rid))
				subject = jstr(json_object_get(r, "commit"), "subject");
		if (!subject && wo_run_get(&fetched, req->conn, (long long)json_integer_value(rid)) == 0)
			subject = jstr(json_object_get(fetched, "commit"), "subject");
	}
	set_run_link(rel, rid);
	set_text(rel, "subject", subject);
	json_decref(fetched);
	return rel;
}

/* The releases section: every deploy that succeeded, newest first, each
 * but the serving one with a button that runs it again. */
static json_t *releases_view(struct wo_req *req, const char *name)
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
		set_text(row, "commit", jstr(c, "sha"));
		json_object_set_new(row, "commit_short", short_sha(jstr(c, "sha")));
		set_text(row, "subject", jstr(c, "subject"));
		json_object_set_new(row, "created", when_json(json_object_get(r, "created_at")));
		set_run_link(row, json_object_get(r, "run_id"));
		const char *img = jstr(json_object_get(json_object_get(r, "outputs"), "docker"), "image_id");
		if (img && !strncmp(img, "sha256:", 7))
			img += 7;
		if (img) {
			char shorter[16];
			snprintf(shorter, sizeof(shorter), "%.12s", img);
			set_text(row, "image", shorter);
		}
		const json_t *back = json_object_get(r, "rollback_of");
		json_object_set_new(row, "rollback_of", json_is_integer(back) ? json_integer(json_integer_value(back))
									    : json_false());
		json_object_set_new(row, "current", json_boolean(json_is_true(json_object_get(r, "current"))));
		json_array_append_new(rows, row);
	}
	json_decref(list);
	json_t *v = json_pack("{s:b,s:o}", "has_releases", json_array_size(rows) > 0, "list", rows);
	json_object_set_new(v, "action", jpath("/deployments/", name, "/rollback"));
	return v;
}

/* The host name the page was asked for (its Host header, without a port),
 * for links to the deployment's port on the same host. */
static void request_host(struct wo_req *req, char *out, size_t cap)
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
static json_t *tls_view(struct wo_req *req, const json_t *d)
{
	const char *domain = jstr(d, "domain");
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
		const char *cd = jstr(c, "domain");
		if (!cd || strcmp(cd, domain) != 0)
			continue;
		view = json_object();
		const char *issuer = jstr(c, "issuer");
		json_object_set_new(view, "secure", json_boolean(issuer != NULL));
		set_text(view, "issuer", issuer);
		set_text(view, "not_after", jstr(c, "not_after"));
		json_t *days = json_object_get(c, "days_left");
		if (json_is_integer(days))
			json_object_set_new(view, "days_left", json_integer(json_integer_value(days)));
		if (jstr(c, "last_error"))
			set_text(view, "error", jstr(c, "last_error"));
		break;
	}
	json_decref(certs);
	json_decref(st);
	return view;
}

static json_t *addresses_view(struct wo_req *req, const json_t *d)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	json_t *list = wo_addon_addresses(reg, d);
	if (reg)
		wo_http_registry_unlock(req);
	else
		wo_error_clear();
	char host[300];
	request_host(req, host, sizeof(host));
	json_t *rows = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a) {
		const char *kind = jstr(a, "kind");
		char url[700] = "", label[400] = "";
		if (!strcmp(kind, "domain")) {
			snprintf(url, sizeof(url), "%s", jstr(a, "url"));
			snprintf(label, sizeof(label), "%s", jstr(a, "url"));
		} else if (!strcmp(kind, "port")) {
			snprintf(url, sizeof(url), "http://%s:%lld/", host, (long long)json_integer_value(json_object_get(a, "port")));
			snprintf(label, sizeof(label), "port %lld", (long long)json_integer_value(json_object_get(a, "port")));
		} else {
			int local = json_is_true(json_object_get(a, "local"));
			if (!local && !strcmp(jstr(a, "proto"), "tcp"))
				snprintf(url, sizeof(url), "http://%s:%lld/", host,
					 (long long)json_integer_value(json_object_get(a, "port")));
			snprintf(label, sizeof(label), "%s%s", jstr(a, "mapping"), local ? " (this host only)" : "");
		}
		json_array_append_new(rows, json_pack("{s:o,s:o}", "url", url[0] ? jtext(url) : json_false(), "label",
						      jtext(label)));
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
static json_t *statement_view(const json_t *d, const json_t *health)
{
	const char *status = jstr(d, "status") ? jstr(d, "status") : "";
	const json_t *badge = json_object_get(health, "badge");
	struct wo_buf t = WO_BUF_INIT;
	wo_buf_puts(&t, status);
	const char *cls = status;
	const char *cls_prefix = "st-";
	if (json_is_object(badge)) {
		const char *st = jstr(badge, "state");
		if (st && !strcmp(st, "unhealthy")) {
			const char *why = jstr(health, "reason");
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
	json_t *v = json_pack("{s:o,s:o}", "text", jtext(wo_buf_cstr(&t)), "class", jtext(c));
	wo_buf_release(&t);
	return v;
}

/* The deployment page: the record d, its runs, the edit form f (with its
 * errors), and the error of a failed action (title and text) when given. */
/* The webhook section: URL, the secret when asked for, recent deliveries. */
static json_t *webhook_view(struct wo_req *req, const char *name, const char *secret)
{
	json_t *v = json_object();
	char *url = NULL;
	if (asprintf(&url, "%s/hooks/%s", wo_http_public_url(req), name) >= 0) {
		set_text(v, "url", url);
		free(url);
	}
	set_text(v, "secret", secret);
	json_t *list = NULL, *rows = json_array();
	if (wo_webhook_deliveries(&list, req->conn, name, 10) == 0) {
		size_t i;
		json_t *w;
		json_array_foreach(list, i, w) {
			json_t *row = json_object();
			set_text(row, "provider", jstr(w, "provider"));
			set_text(row, "event", jstr(w, "event"));
			set_text(row, "verdict", jstr(w, "verdict"));
			set_text(row, "reason", jstr(w, "reason"));
			json_object_set_new(row, "commit_short", short_sha(jstr(w, "commit")));
			set_text(row, "commit", jstr(w, "commit"));
			json_object_set_new(row, "received", when_json(json_object_get(w, "received_at")));
			set_run_link(row, json_object_get(w, "run_id"));
			json_array_append_new(rows, row);
		}
	}
	json_decref(list);
	json_object_set_new(v, "has_deliveries", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(v, "deliveries", rows);
	return v;
}

static int deployment_page_secret(struct wo_req *req, int status, const json_t *d, struct dform *f,
				  const char *action_title, const char *action_error, const char *secret);

static int deployment_page(struct wo_req *req, int status, const json_t *d, struct dform *f,
			   const char *action_title, const char *action_error)
{
	return deployment_page_secret(req, status, d, f, action_title, action_error, NULL);
}

/* Who owns the deployment and whom it is shared with; the form to share
 * it when the user may (its owner, an admin). */
static json_t *sharing_view(struct wo_req *req, const char *name)
{
	json_t *v = json_object(), *list = NULL;
	if (wo_share_list(&list, req->conn, name) < 0)
		return v;
	const char *owner = jstr(list, "owner");
	json_object_set_new(v, "owner", owner ? jtext(owner) : json_false());
	json_t *rows = json_array();
	size_t i;
	json_t *sh;
	json_array_foreach(json_object_get(list, "shares"), i, sh) {
		json_t *row = json_object();
		set_text(row, "user", jstr(sh, "user"));
		set_text(row, "role", jstr(sh, "role"));
		json_array_append_new(rows, row);
	}
	json_object_set_new(v, "has_shares", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(v, "shares", rows);
	json_object_set_new(v, "can_share",
			    json_boolean(wo_access_check(req->conn, &req->who, WO_PERM_DEP_SHARE, name) == 0));
	wo_error_clear();
	json_object_set_new(v, "href", jpath("/deployments/", name, "/share"));
	json_decref(list);
	return v;
}

static int deployment_page_secret(struct wo_req *req, int status, const json_t *d, struct dform *f,
				  const char *action_title, const char *action_error, const char *secret)
{
	const char *name = jstr(d, "name") ? jstr(d, "name") : "";
	json_t *runs = NULL;
	int rc = wo_run_list(&runs, req->conn, name, 50);
	if (rc < 0)
		return rc == WO_ENOTFOUND ? not_found(req, "There is no such deployment.") : -1;

	json_t *data = json_object();
	json_t *shown = json_copy((json_t *)d);
	char *url = wo_url_redact(jstr(d, "repo_url"));
	if (shown && url && jstr(d, "repo_url"))
		json_object_set_new(shown, "repo_url", json_string(url));
	free(url);
	json_object_set_new(data, "d", shown ? shown : json_incref((json_t *)d));
	json_t *base = jpath("/deployments/", name, NULL);
	json_object_set_new(data, "base", base);
	const char *status_s = jstr(d, "status") ? jstr(d, "status") : "";
	json_object_set_new(data, "can_start", json_boolean(!strcmp(status_s, "stopped")));
	/* Stop and Restart only once something was deployed */
	json_object_set_new(data, "deployed_once", json_boolean(jstr(d, "current_commit") != NULL));
	json_object_set_new(data, "release", release_json(req, d, runs));
	json_object_set_new(data, "releases", releases_view(req, name));
	json_object_set_new(data, "addresses", addresses_view(req, d));
	json_t *tls = tls_view(req, d);
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
		set_text(row, "href", href);
		set_text(row, "status", jstr(r, "status"));
		const json_t *c = json_object_get(r, "commit");
		set_text(row, "commit", jstr(c, "sha"));
		json_object_set_new(row, "commit_short", short_sha(jstr(c, "sha")));
		set_text(row, "subject", jstr(c, "subject"));
		set_text(row, "trigger", jstr(r, "trigger"));
		json_object_set_new(row, "duration", run_duration(r));
		json_object_set_new(row, "queued", when_json(json_object_get(r, "queued_at")));
		json_array_append_new(rows, row);
	}
	json_object_set_new(data, "has_runs", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(data, "runs", rows);
	json_decref(runs);

	json_t *order = json_array();
	json_object_set_new(data, "form", dform_view(f, json_string_value(base), "Save changes", NULL, order));
	add_summary(data, f->errors, order);
	json_decref(order);
	set_text(data, "action_title", action_title);
	set_text(data, "action_error", action_error);
	json_object_set_new(data, "hook", webhook_view(req, name, secret));
	json_object_set_new(data, "health", health_view(req, d));
	json_object_set_new(data, "statement", statement_view(d, json_object_get(data, "health")));
	json_object_set_new(data, "sharing", sharing_view(req, name));
	json_object_set_new(data, "nav_deployments", json_true());
	add_notice(data, req);
	return render(req, status, "deployment", data);
}

/* POST /deployments/{name}/webhook: action=show shows the secret on the
 * page (never in a URL); action=rotate makes a new one and shows it. */
WO_HANDLER(wo_page_deployment_webhook)
{
	if (db_down(req))
		return 0;
	const char *action = wo_http_form(req, "action");
	int rotate = action && !strcmp(action, "rotate");
	json_t *d = NULL;
	int rc = wo_deployment_get(&d, req->conn, req->params[0]);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such deployment.");
	if (rc < 0)
		return -1;
	char *secret = NULL;
	if (wo_webhook_secret(&secret, req->conn, req->params[0], rotate) < 0) {
		json_decref(d);
		return -1;
	}
	struct dform f;
	dform_init(&f, req, d);
	rc = deployment_page_secret(req, 200, d, &f, NULL, NULL, secret);
	dform_release(&f);
	json_decref(d);
	memset(secret, 0, strlen(secret));
	free(secret);
	return rc;
}

WO_HANDLER(wo_page_deployment)
{
	if (db_down(req))
		return 0;
	json_t *d = NULL;
	int rc = wo_deployment_get(&d, req->conn, req->params[0]);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such deployment.");
	if (rc < 0)
		return -1;
	struct dform f;
	dform_init(&f, req, d);
	rc = deployment_page(req, 200, d, &f, NULL, NULL);
	dform_release(&f);
	json_decref(d);
	return rc;
}

WO_HANDLER(wo_page_deployment_update)
{
	if (db_down(req))
		return 0;
	const char *name = req->params[0];
	json_t *d = NULL, *input = NULL, *text = NULL, *saved = NULL;
	int rc = wo_deployment_get(&d, req->conn, name);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such deployment.");
	if (rc < 0)
		return -1;
	struct dform f;
	dform_init(&f, req, d);
	rc = dform_post(&f, req, &input, &text);
	if (rc == 0)
		rc = wo_http_deployment_save(&saved, req, name, input, text);
	else
		dform_probe(&f, d, input);
	json_decref(input);
	json_decref(text);
	json_decref(saved);
	if (rc == WO_ENOTFOUND) {
		rc = not_found(req, "There is no such deployment.");
	} else if (rc < 0) {
		if (!f.errors)
			f.errors = errors_from(wo_error_last());
		rc = deployment_page(req, 422, d, &f, NULL, NULL);
	} else {
		rc = redirect_to(req, "/deployments/", name, "?done=saved");
	}
	dform_release(&f);
	json_decref(d);
	return rc;
}

static int action_refused(struct wo_req *req, const char *name, int status, const char *title, const char *why);

WO_HANDLER(wo_page_deployment_deploy)
{
	if (db_down(req))
		return 0;
	json_t *run = NULL;
	/* ref: a release's commit, built again (the Releases tab) */
	const char *ref = wo_http_form(req, "ref");
	int rc = wo_http_deployment_deploy(&run, req, req->params[0], ref && *ref ? ref : NULL, "web");
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such deployment.");
	if (rc < 0 && ref && *ref && strncmp(wo_error_last(), "database", 8) != 0) {
		char why[600];
		snprintf(why, sizeof(why), "%s", wo_error_last());
		return action_refused(req, req->params[0], 422, "Could not deploy that commit", why);
	}
	if (rc < 0)
		return -1;
	return show_run(req, run);
}

/* start, stop, restart and delete run as `webops deployment ACTION NAME`
 * children; the request waits, suspended, and action_resume answers. */
struct action_state {
	char *name;
	char action[16];
};

static void action_state_free(void *p)
{
	struct action_state *st = p;
	if (st)
		free(st->name);
	free(st);
}

static int delete_page(struct wo_req *req, int status, const char *name, const char *error)
{
	json_t *data = json_object();
	set_text(data, "name", name);
	json_object_set_new(data, "base", jpath("/deployments/", name, NULL));
	set_text(data, "action_error", error);
	json_object_set_new(data, "nav_deployments", json_true());
	return render(req, status, "deployment_delete", data);
}

static int action_resume(struct wo_req *req)
{
	struct action_state *st = req->state;
	int st_code = req->child_status;
	if (WIFEXITED(st_code) && WEXITSTATUS(st_code) == 0) {
		if (!strcmp(st->action, "delete"))
			return wo_http_redirect(req, "/?done=deleted");
		const char *done = !strcmp(st->action, "start") ? "?done=started"
				   : !strcmp(st->action, "stop") ? "?done=stopped"
								  : "?done=restarted";
		return redirect_to(req, "/deployments/", st->name, done);
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
		rc = delete_page(req, status, st->name, msg.ptr);
	} else {
		json_t *d = NULL;
		rc = req->conn ? wo_deployment_get(&d, req->conn, st->name) : -1;
		if (rc == 0) {
			struct dform f;
			char title[64];
			snprintf(title, sizeof(title), "Could not %s the deployment", st->action);
			dform_init(&f, req, d);
			rc = deployment_page(req, status, d, &f, title, msg.ptr);
			dform_release(&f);
			json_decref(d);
		} else {
			rc = message_page(req, status, "The action failed", msg.ptr, NULL, "/", "Back to the deployments");
		}
	}
	wo_buf_release(&buf);
	wo_buf_release(&msg);
	return rc;
}

static int start_action(struct wo_req *req, const char *name, const char *action, int force)
{
	json_t *d = NULL;
	int rc = wo_deployment_get(&d, req->conn, name);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such deployment.");
	if (rc < 0)
		return -1;
	json_decref(d);
	struct action_state *st = calloc(1, sizeof(*st));
	if (!st || !(st->name = strdup(name))) {
		free(st);
		return wo_error_set("out of memory");
	}
	snprintf(st->action, sizeof(st->action), "%s", action);
	req->state = st;
	req->state_free = action_state_free;
	return wo_http_deployment_action(req, name, action, force, action_resume);
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
	if (db_down(req))
		return 0;
	return wo_http_live(req, NULL);
}

WO_HANDLER(wo_page_deployment_live)
{
	if (db_down(req))
		return 0;
	return wo_http_live(req, req->params[0]);
}

/* The deployment page again, with why an action was refused. */
static int action_refused(struct wo_req *req, const char *name, int status, const char *title, const char *why)
{
	json_t *d = NULL;
	int rc = wo_deployment_get(&d, req->conn, name);
	if (rc < 0)
		return rc == WO_ENOTFOUND ? not_found(req, "There is no such deployment.") : -1;
	struct dform f;
	dform_init(&f, req, d);
	rc = deployment_page(req, status, d, &f, title, why);
	dform_release(&f);
	json_decref(d);
	return rc;
}

/* POST /deployments/{name}/rollback (release=N): queues the rollback and
 * shows its run. */
static int rollback_action(struct wo_req *req, const char *name)
{
	const char *n = wo_http_form(req, "release");
	char *end = NULL;
	long num = n ? strtol(n, &end, 10) : 0;
	if (!n || !*n || *end || num < 1 || num > 1000000000)
		return action_refused(req, name, 422, "Could not roll back the deployment",
				      "release: give the number of a release from the Releases list");
	json_t *run = NULL;
	if (wo_release_rollback(&run, req->conn, name, (int)num) < 0) {
		/* no such release, or nothing to roll back to (a deployment gone
		 * meanwhile: action_refused answers 404) */
		char why[1024];
		snprintf(why, sizeof(why), "%s", wo_error_last());
		return action_refused(req, name, 409, "Could not roll back the deployment", why);
	}
	return show_run(req, run);
}

WO_HANDLER(wo_page_deployment_action)
{
	const char *action = req->params[1];
	if (action && !strcmp(action, "rollback")) {
		if (db_down(req))
			return 0;
		return rollback_action(req, req->params[0]);
	}
	if (!action || (strcmp(action, "start") && strcmp(action, "stop") && strcmp(action, "restart")))
		return not_found(req, "There is no such page.");
	if (db_down(req))
		return 0;
	return start_action(req, req->params[0], action, 0);
}

WO_HANDLER(wo_page_deployment_delete_confirm)
{
	if (db_down(req))
		return 0;
	json_t *d = NULL;
	int rc = wo_deployment_get(&d, req->conn, req->params[0]);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such deployment.");
	if (rc < 0)
		return -1;
	rc = delete_page(req, 200, jstr(d, "name"), NULL);
	json_decref(d);
	return rc;
}

WO_HANDLER(wo_page_deployment_delete)
{
	if (db_down(req))
		return 0;
	/* "Delete anyway" on the page of a failed delete: the CLI's --force */
	const char *force = wo_http_form(req, "force");
	return start_action(req, req->params[0], "delete", force && !strcmp(force, "1"));
}

/* ---- runs ---- */

/* A log line for run.mustache: {seq, stream, text, cls, src}; app.js
 * builds the same from the live stream (keep the two in step). */
static json_t *log_line(const json_t *l)
{
	static const char *const own[] = { "info", "fetch", "hook", "stdout", "stderr", "error", "system", NULL };
	const char *stream = jstr(l, "stream") ? jstr(l, "stream") : "";
	const char *text = jstr(l, "text") ? jstr(l, "text") : "";
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
			      "stream", jtext(stream), "text", jtext(text), "cls", cls, "src", jtext(mine ? "" : stream),
			      "html", wo_buf_cstr(&html));
	wo_buf_release(&html);
	return o;
}

static long long run_id_param(struct wo_req *req)
{
	return parse_uint(req->params[0]);
}

WO_HANDLER(wo_page_run)
{
	long long id = run_id_param(req);
	if (id < 0)
		return not_found(req, "There is no such run.");
	if (db_down(req))
		return 0;
	json_t *run = NULL;
	int rc = wo_run_get(&run, req->conn, id);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such run.");
	if (rc < 0)
		return -1;

	/* the log so far; a live run's page continues it over SSE (app.js) */
	json_t *lines = json_array();
	long long last = 0;
	int truncated = 0;
	for (;;) {
		json_t *chunk = NULL;
		if (wo_run_logs(&chunk, req->conn, id, last) < 0) {
			json_decref(lines);
			json_decref(run);
			return -1;
		}
		size_t i, n = json_array_size(chunk);
		json_t *l;
		json_array_foreach(chunk, i, l) {
			if (json_array_size(lines) >= LOG_LINES_MAX) {
				truncated = 1;
				break;
			}
			last = (long long)json_integer_value(json_object_get(l, "seq"));
			json_array_append_new(lines, log_line(l));
		}
		json_decref(chunk);
		if (truncated || n == 0 || n < 5000)
			break;
	}

	json_t *data = json_object();
	const char *status = jstr(run, "status") ? jstr(run, "status") : "";
	const char *dep = jstr(run, "deployment") ? jstr(run, "deployment") : "";
	const json_t *c = json_object_get(run, "commit");
	int failed = !strcmp(status, "failed");
	json_object_set(data, "run", run);
	json_object_set_new(data, "deployment_href", jpath("/deployments/", dep, NULL));
	set_text(data, "commit", jstr(c, "sha"));
	json_object_set_new(data, "commit_short", short_sha(jstr(c, "sha")));
	set_text(data, "subject", jstr(c, "subject"));
	set_text(data, "author", jstr(c, "author"));
	json_object_set_new(data, "active", json_boolean(run_active(status)));
	json_object_set_new(data, "failed", json_boolean(failed));
	/* a cancelled or superseded run says why, without alarm */
	set_text(data, "note", failed ? NULL : jstr(run, "error"));
	json_object_set_new(data, "queued", when_json(json_object_get(run, "queued_at")));
	json_object_set_new(data, "started", when_json(json_object_get(run, "started_at")));
	json_object_set_new(data, "duration", run_duration(run));

	json_t *stages = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(run, "stage_timings"), k, v) {
		char t[32];
		fmt_duration(t, sizeof(t), json_is_integer(v) ? (long long)json_integer_value(v) : -1);
		json_array_append_new(stages, json_pack("{s:o, s:s}", "name", jtext(k), "time", t));
	}
	json_object_set_new(data, "has_stages", json_boolean(json_array_size(stages) > 0));
	json_object_set_new(data, "stages", stages);

	char api[96];
	snprintf(api, sizeof(api), "/api/v1/runs/%lld/log", id);
	json_object_set_new(data, "has_lines", json_boolean(json_array_size(lines) > 0));
	json_object_set_new(data, "line_count", json_integer((json_int_t)json_array_size(lines)));
	json_object_set_new(data, "lines", lines);
	json_object_set_new(data, "last_seq", json_integer(last));
	json_object_set_new(data, "truncated", json_boolean(truncated));
	set_text(data, "log_api", api);
	json_object_set_new(data, "nav_deployments", json_true());
	add_notice(data, req);
	json_decref(run);
	return render(req, 200, "run", data);
}

WO_HANDLER(wo_page_run_cancel)
{
	long long id = run_id_param(req);
	if (id < 0)
		return not_found(req, "There is no such run.");
	if (db_down(req))
		return 0;
	const char *state = NULL;
	int rc = wo_run_cancel(&state, req->conn, id);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such run.");
	if (rc < 0)
		return -1;
	char loc[96];
	snprintf(loc, sizeof(loc), "/runs/%lld?done=%s", id,
		 !strcmp(state, "cancelled") ? "cancelled" : !strcmp(state, "requested") ? "cancel_requested" : "finished");
	return wo_http_redirect(req, loc);
}

/* ---- addons ---- */

static json_t *lines_json(const char *s)
{
	json_t *arr = json_array();
	const char *p = s ? s : "";
	while (*p) {
		size_t n = strcspn(p, "\n");
		char *l = trim_dup(p, n);
		if (l && *l)
			json_array_append_new(arr, jtext(l));
		free(l);
		p += n + (p[n] == '\n');
	}
	return arr;
}

/* One setting as a form field. typed: what was posted ({key: text}) when
 * the form comes back with errors, else NULL. */
static json_t *setting_view(const struct wo_addon *a, const struct wo_addon_field *f, const json_t *typed,
			    const json_t *errors, json_t *order)
{
	struct wo_buf id = WO_BUF_INIT, name = WO_BUF_INIT, note = WO_BUF_INIT;
	wo_buf_printf(&id, "s-%s-%s", a->name, f->name);
	wo_buf_printf(&name, "s.%s", f->name);
	const json_t *stored = json_object_get(a->settings_stored, f->name);
	const char *source = json_string_value(json_object_get(a->settings_source, f->name));
	char *stored_text = f->secret ? strdup("") : value_text(stored);
	char *dflt = value_text(f->dflt);
	const char *value = jstr(typed, f->name) ? jstr(typed, f->name) : stored_text;
	char hint[96] = "";
	struct fv fv = { 0 };
	fv.id = id.ptr;
	fv.name = name.ptr;
	fv.label = f->label ? f->label : f->name;
	fv.help = f->help;
	fv.error = jstr(errors, f->name);
	fv.value = value;
	fv.placeholder = *dflt ? dflt : NULL;
	order_add(order, f->name, id.ptr);
	if (source && !strcmp(source, "env")) {
		char *env = wo_addon_setting_env_name(a->name, f->name);
		char *cur = f->secret ? NULL : value_text(json_object_get(a->settings, f->name));
		wo_buf_printf(&note, "%s in webopsd's environment overrides this%s%s%s.", env ? env : "a variable",
			      cur ? " (now: " : "", cur ? cur : "", cur ? ")" : "");
		free(env);
		free(cur);
		fv.note = note.ptr;
	}
	char *host_value = NULL;
	if (f->host_scope) {
		/* shown, never sent back: only the host changes it */
		host_value = f->secret ? strdup("(secret)") : value_text(json_object_get(a->settings, f->name));
		fv.kind = "readonly";
		fv.value = host_value && *host_value ? host_value : "(empty)";
		wo_buf_clear(&note);
		wo_buf_printf(&note, "A host setting: changed on the host only ('webops addon config %s %s=VALUE' or "
			      "webopsd's environment).", a->name, f->name);
		fv.note = note.ptr;
	} else if (f->secret) {
		fv.input_type = "password";
		fv.autocomplete = "new-password";
		fv.value = "";
		fv.placeholder = stored ? "stored (leave blank to keep it)" : "not set";
		fv.clear_key = stored ? f->name : NULL;
	} else if (f->type == WO_FIELD_BOOL || f->type == WO_FIELD_ENUM) {
		struct wo_buf d = WO_BUF_INIT;
		wo_buf_printf(&d, "Default%s%s%s", *dflt ? " (" : "", dflt, *dflt ? ")" : "");
		fv.kind = "select";
		fv.choices = json_array();
		add_choice(fv.choices, "", d.ptr, !*value);
		wo_buf_release(&d);
		if (f->type == WO_FIELD_BOOL) {
			int b = *value ? wo_addon_parse_bool(value) : -1;
			add_choice(fv.choices, "true", "true", b == 1);
			add_choice(fv.choices, "false", "false", b == 0);
		} else {
			for (size_t i = 0; i < f->nchoices; i++)
				add_choice(fv.choices, f->choices[i], f->choices[i], !strcmp(value, f->choices[i]));
		}
	} else if (f->type == WO_FIELD_INT) {
		fv.inputmode = "numeric";
		int_hint(hint, sizeof(hint), f->has_min, (long long)f->min, f->has_max, (long long)f->max);
		fv.type_hint = hint;
	} else if (f->type == WO_FIELD_LIST || f->type == WO_FIELD_MAP) {
		fv.kind = "textarea";
		fv.type_hint = f->type == WO_FIELD_LIST ? "(one per line)" : "(KEY=VALUE, one per line)";
		fv.rows = line_count(value) + 1;
		if (fv.rows > 12)
			fv.rows = 12;
	}
	json_t *v = field_view(&fv);
	wo_buf_release(&id);
	wo_buf_release(&name);
	wo_buf_release(&note);
	free(host_value);
	free(stored_text);
	free(dflt);
	return v;
}

/* The addons page's data; focus is the addon whose settings form came back
 * with typed values and errors. Call with the registry locked. */
static json_t *addons_data(const struct wo_addon_registry *reg, const char *focus, const json_t *typed,
			   const json_t *errors)
{
	json_t *data = json_object();
	json_t *list = json_array();
	json_t *order = json_array();
	for (size_t i = 0; i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		json_t *j = wo_addon_json(a);
		if (!j)
			continue;
		int mine = focus && !strcmp(focus, a->name);
		json_t *v = json_object();
		set_text(v, "name", a->name);
		set_text(v, "version", jstr(j, "version"));
		set_text(v, "description", jstr(j, "description"));
		set_text(v, "state", jstr(j, "state"));
		json_object_set_new(v, "base", jpath("/addons/", a->name, NULL));
		set_text(v, "toggle_action", a->enabled ? "disable" : "enable");
		set_text(v, "toggle_label", a->enabled ? "Disable" : "Enable");
		set_text(v, "toggle_class", a->enabled ? "" : "primary");

		json_t *hooks = json_array();
		size_t k;
		json_t *h;
		json_array_foreach(json_object_get(j, "hooks"), k, h)
			json_array_append_new(hooks, json_pack("{s:o, s:o, s:O, s:b}", "event", jtext(jstr(h, "event")),
							       "handler", jtext(jstr(h, "handler")), "priority",
							       json_object_get(h, "priority"), "required",
							       jstr(h, "enforcement") && !strcmp(jstr(h, "enforcement"), "required")));
		json_object_set_new(v, "has_hooks", json_boolean(json_array_size(hooks) > 0));
		json_object_set_new(v, "hooks", hooks);

		json_t *load_error = lines_json(jstr(j, "load_error"));
		json_t *errs = json_array();
		json_array_foreach(json_object_get(j, "errors"), k, h)
			json_array_append_new(errs, jtext(json_string_value(h)));
		if (a->duplicate && json_array_size(load_error) == 0)
			json_array_append_new(load_error,
					      jtext("another addon of the same name comes first in the addons path"));
		json_object_set_new(v, "has_problems",
				    json_boolean(json_array_size(load_error) > 0 || json_array_size(errs) > 0));
		json_object_set_new(v, "load_error", load_error);
		json_object_set_new(v, "errors", errs);
		json_t *warns = json_array();
		json_array_foreach(json_object_get(j, "warnings"), k, h)
			json_array_append_new(warns, jtext(json_string_value(h)));
		json_object_set_new(v, "has_warnings", json_boolean(json_array_size(warns) > 0));
		json_object_set_new(v, "warnings", warns);

		json_t *settings = json_array();
		for (size_t s = 0; s < a->manifest->nsettings; s++)
			json_array_append_new(settings, setting_view(a, &a->manifest->settings[s], mine ? typed : NULL,
								     mine ? errors : NULL, mine ? order : NULL));
		json_object_set_new(v, "has_settings", json_boolean(json_array_size(settings) > 0));
		json_object_set_new(v, "settings", settings);
		json_object_set_new(v, "settings_open", json_boolean(mine));
		json_array_append_new(list, v);
		json_decref(j);
	}
	json_t *warns = json_array();
	for (size_t i = 0; i < reg->nwarnings; i++)
		json_array_append_new(warns, jtext(reg->warnings[i]));
	json_object_set_new(data, "has_reg_warnings", json_boolean(json_array_size(warns) > 0));
	json_object_set_new(data, "reg_warnings", warns);
	json_object_set_new(data, "has_addons", json_boolean(json_array_size(list) > 0));
	json_object_set_new(data, "addons", list);
	add_summary(data, errors, order);
	json_decref(order);
	json_object_set_new(data, "nav_addons", json_true());
	return data;
}

static const struct wo_addon_registry empty_registry;

/* What each addon last said of its own state (its status hook, asked by
 * webopsd every minute), beside its card: {state, detail, at}. */
static void addons_status(json_t *data, PGconn *conn)
{
	json_t *all = NULL;
	if (!conn || wo_addon_status_read(&all, conn) < 0) {
		wo_error_clear();
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(data, "addons"), i, v) {
		const json_t *st = json_object_get(all, jstr(v, "name"));
		if (!st)
			continue;
		struct wo_buf d = WO_BUF_INIT;
		const char *reason = jstr(st, "reason");
		if (reason) {
			wo_buf_puts(&d, reason);
		} else {
			static const char *const keys[][2] = {
				{ "version", "version " }, { "api_version", "API " }, { "storage_driver", "storage " },
				{ "cgroup_version", "cgroup v" }, { "host", "at " },
			};
			for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
				if (jstr(st, keys[k][0]))
					wo_buf_printf(&d, "%s%s%s", d.len ? ", " : "", keys[k][1], jstr(st, keys[k][0]));
			if (jstr(st, "nvidia"))
				wo_buf_printf(&d, "%snvidia runtime %s", d.len ? ", " : "",
					      !strcmp(jstr(st, "nvidia"), "true") ? "present" : "absent");
		}
		json_object_set_new(v, "status", json_pack("{s:o,s:o,s:o}", "state", jtext(jstr(st, "state")), "detail",
							   jtext(wo_buf_cstr(&d)), "at", when_json(json_object_get(st, "at"))));
		wo_buf_release(&d);
	}
	json_decref(all);
}

WO_HANDLER(wo_page_addons)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	json_t *data = addons_data(reg ? reg : &empty_registry, NULL, NULL, NULL);
	addons_status(data, req->conn);
	if (reg) {
		wo_http_registry_unlock(req);
	} else {
		/* say why there is nothing to list */
		json_object_set_new(data, "has_reg_warnings", json_true());
		json_object_set_new(data, "reg_warnings", json_pack("[o]", jtext(wo_error_last())));
	}
	add_notice(data, req);
	return render(req, 200, "addons", data);
}

static int redirect_addon(struct wo_req *req, const char *done, const char *name)
{
	struct wo_buf loc = WO_BUF_INIT;
	wo_buf_printf(&loc, "/addons?done=%s#addon-", done);
	put_segment(&loc, name);
	int rc = wo_http_redirect(req, loc.ptr);
	wo_buf_release(&loc);
	return rc;
}

WO_HANDLER(wo_page_addon_action)
{
	const char *name = req->params[0], *action = req->params[1];
	int enable = action && !strcmp(action, "enable");
	if (!action || (!enable && strcmp(action, "disable")))
		return not_found(req, "There is no such page.");
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	struct wo_addon *a = reg ? wo_addon_registry_find(reg, name) : NULL;
	if (!a) {
		if (reg)
			wo_http_registry_unlock(req);
		return not_found(req, "There is no such addon.");
	}
	if (wo_addon_set_enabled(reg, a, enable) < 0) {
		json_t *errors = json_pack("{s:s}", "_", wo_error_last());
		json_t *data = addons_data(reg, NULL, NULL, errors);
		wo_http_registry_unlock(req);
		json_decref(errors);
		return render(req, 409, "addons", data);
	}
	wo_http_registry_unlock(req);
	return redirect_addon(req, enable ? "enabled" : "disabled", name);
}

WO_HANDLER(wo_page_addon_settings)
{
	const char *name = req->params[0];
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	struct wo_addon *a = reg ? wo_addon_registry_find(reg, name) : NULL;
	if (!a) {
		if (reg)
			wo_http_registry_unlock(req);
		return not_found(req, "There is no such addon.");
	}
	const struct wo_addon_manifest *m = a->manifest;
	json_t *typed = json_object(), *errors = json_object();
	json_t *ops = json_array(); /* [key, text] to set, [key, null] to unset */
	struct wo_buf key = WO_BUF_INIT, err = WO_BUF_INIT;
	int host_only = 0;
	for (size_t i = 0; i < m->nsettings; i++) {
		const struct wo_addon_field *f = &m->settings[i];
		wo_buf_clear(&key);
		wo_buf_printf(&key, "s.%s", f->name);
		const char *v = wo_http_form(req, key.ptr);
		const json_t *stored = json_object_get(a->settings_stored, f->name);
		int unset = 0;
		for (size_t n = 0; wo_http_form_nth(req, "unset", n); n++)
			unset |= !strcmp(wo_http_form_nth(req, "unset", n), f->name);
		if (f->host_scope) {
			/* shown read-only, never submitted by the form itself */
			if (v || unset) {
				char *why = wo_addon_setting_host_only(a, f);
				set_text(errors, f->name, why);
				free(why);
				host_only = 1;
			}
			continue;
		}
		if (f->secret) {
			/* never shown; blank keeps the stored value */
			if (unset && stored)
				json_array_append_new(ops, json_pack("[s, n]", f->name));
			else if (v && *v)
				json_array_append_new(ops, json_pack("[s, o]", f->name, jtext(v)));
			continue;
		}
		if (!v)
			continue;
		set_text(typed, f->name, v);
		char *t;
		wo_buf_clear(&err);
		if (f->type == WO_FIELD_LIST) {
			t = list_text(v);
		} else if (f->type == WO_FIELD_MAP) {
			t = map_text(v, f->name, a->name, "setting", &err);
		} else {
			t = trimmed(v);
		}
		if (!t) {
			set_text(errors, f->name, err.ptr);
			continue;
		}
		if (!*t) {
			if (stored)
				json_array_append_new(ops, json_pack("[s, n]", f->name));
			free(t);
			continue;
		}
		char *cur = stored ? wo_addon_field_format(stored) : NULL;
		json_t *parsed = NULL;
		if (wo_addon_field_parse(&parsed, f, t, &err) < 0) {
			struct wo_buf m2 = WO_BUF_INIT;
			wo_buf_printf(&m2, "invalid value for setting '%s' (addon '%s', %s): %s", f->name, a->name,
				      wo_field_type_name(f->type), wo_buf_cstr(&err));
			set_text(errors, f->name, m2.ptr);
			wo_buf_release(&m2);
		} else {
			char *now = wo_addon_field_format(parsed);
			if (!cur || !now || strcmp(cur, now) != 0)
				json_array_append_new(ops, json_pack("[s, o]", f->name, jtext(t)));
			free(now);
		}
		json_decref(parsed);
		free(cur);
		free(t);
	}
	wo_buf_release(&key);
	wo_buf_release(&err);

	/* all or nothing: nothing is stored while any value is refused */
	if (json_object_size(errors) == 0) {
		size_t i;
		json_t *op;
		json_array_foreach(ops, i, op) {
			const char *k = json_string_value(json_array_get(op, 0));
			const json_t *t = json_array_get(op, 1);
			int rc = json_is_null(t) ? wo_addon_setting_unset(reg, a, k)
						 : wo_addon_setting_set(reg, a, k, json_string_value(t));
			if (rc < 0)
				set_text(errors, k, wo_error_last());
		}
	}
	json_decref(ops);
	if (json_object_size(errors) > 0) {
		json_t *data = addons_data(reg, name, typed, errors);
		wo_http_registry_unlock(req);
		json_decref(typed);
		json_decref(errors);
		return render(req, host_only ? 403 : 422, "addons", data);
	}
	wo_http_registry_unlock(req);
	json_decref(typed);
	json_decref(errors);
	return redirect_addon(req, "settings", name);
}

/* ---- account: sessions and API tokens ---- */

/* "Firefox on Linux" from a User-Agent header. */
static void agent_summary(char *out, size_t n, const char *ua)
{
	static const char *const browsers[][2] = {
		{ "Edg/", "Edge" },       { "OPR/", "Opera" },     { "Firefox/", "Firefox" },
		{ "HeadlessChrome/", "Headless Chrome" }, { "Chromium/", "Chromium" }, { "Chrome/", "Chrome" },
		{ "Safari/", "Safari" },  { "curl/", "curl" },      { "Wget/", "Wget" },
	};
	static const char *const systems[][2] = {
		{ "Windows", "Windows" }, { "Android", "Android" }, { "iPhone", "iOS" }, { "iPad", "iPadOS" },
		{ "CrOS", "ChromeOS" },   { "Mac OS X", "macOS" },  { "Linux", "Linux" },
	};
	const char *b = NULL, *s = NULL;
	if (!ua || !*ua) {
		snprintf(out, n, "Unknown browser");
		return;
	}
	for (size_t i = 0; !b && i < sizeof(browsers) / sizeof(browsers[0]); i++)
		if (strstr(ua, browsers[i][0]))
			b = browsers[i][1];
	for (size_t i = 0; !s && i < sizeof(systems) / sizeof(systems[0]); i++)
		if (strstr(ua, systems[i][0]))
			s = systems[i][1];
	if (!b)
		snprintf(out, n, "%.40s%s", ua, strlen(ua) > 40 ? "..." : "");
	else if (s)
		snprintf(out, n, "%s on %s", b, s);
	else
		snprintf(out, n, "%s", b);
}

static int account_page(struct wo_req *req, int status, const char *tname, const char *texpires, json_t *errors)
{
	json_t *sessions = NULL, *tokens = NULL;
	if (wo_session_list(&sessions, req->conn, req->who.user_id) < 0)
		return -1;
	/* one's own tokens; an admin sees everyone's */
	long long whose = wo_access_role(&req->who) == WO_ROLE_ADMIN ? 0 : req->who.user_id;
	if (wo_token_list(&tokens, req->conn, whose ? whose : 0) < 0) {
		json_decref(sessions);
		return -1;
	}
	json_t *data = json_object();
	set_text(data, "account_user", req->who.user);

	json_t *srows = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(sessions, i, s) {
		char agent[96];
		const char *ua = jstr(s, "user_agent");
		agent_summary(agent, sizeof(agent), ua);
		long long id = (long long)json_integer_value(json_object_get(s, "id"));
		json_t *row = json_object();
		json_object_set_new(row, "id", json_integer(id));
		set_text(row, "agent", agent);
		set_text(row, "user_agent", ua);
		set_text(row, "address", jstr(s, "address"));
		json_object_set_new(row, "created", when_json(json_object_get(s, "created_at")));
		json_object_set_new(row, "seen", when_json(json_object_get(s, "last_seen_at")));
		json_object_set_new(row, "current", json_boolean(id == req->who.session_id));
		json_array_append_new(srows, row);
	}
	json_object_set_new(data, "sessions", srows);

	json_t *trows = json_array();
	json_array_foreach(tokens, i, s) {
		json_t *row = json_object();
		const char *name = jstr(s, "name") ? jstr(s, "name") : "";
		set_text(row, "name", name);
		json_object_set_new(row, "user", jstr(s, "user") ? jtext(jstr(s, "user")) : json_false());
		json_object_set_new(row, "created", when_json(json_object_get(s, "created_at")));
		json_object_set_new(row, "expires", when_json(json_object_get(s, "expires_at")));
		json_object_set_new(row, "used", when_json(json_object_get(s, "last_used_at")));
		json_object_set_new(row, "expired", json_boolean(json_is_true(json_object_get(s, "expired"))));
		set_text(row, "scope", jstr(s, "scope") ? jstr(s, "scope") : "manage");
		/* limited: the deployments it may act on ("none left" once all are gone) */
		const json_t *deps = json_object_get(s, "deployments");
		if (json_is_array(deps)) {
			struct wo_buf db = WO_BUF_INIT;
			size_t k;
			json_t *dn;
			json_array_foreach(deps, k, dn)
				wo_buf_printf(&db, "%s%s", k ? ", " : "", json_string_value(dn));
			set_text(row, "limited_to", db.len ? db.ptr : "none left");
			wo_buf_release(&db);
		}
		json_object_set_new(row, "revoke_href", jpath("/account/tokens/", name, "/revoke"));
		json_array_append_new(trows, row);
	}
	json_object_set_new(data, "has_tokens", json_boolean(json_array_size(trows) > 0));
	json_object_set_new(data, "tokens", trows);
	json_decref(sessions);
	json_decref(tokens);

	json_t *fields = json_array();
	json_t *order = json_array();
	struct fv fv = { 0 };
	fv.id = "t-name";
	fv.name = "name";
	fv.label = "Name";
	fv.help = "What uses it, e.g. ci-deploy: letters, digits, '.', '_' and '-'.";
	fv.value = tname;
	fv.required = 1;
	fv.error = jstr(errors, "name");
	json_array_append_new(fields, field_view(&fv));
	order_add(order, "name", fv.id);
	memset(&fv, 0, sizeof(fv));
	fv.id = "t-expires";
	fv.name = "expires";
	fv.label = "Expires after (days)";
	fv.help = "0 means it never expires.";
	fv.value = texpires ? texpires : "90";
	fv.inputmode = "numeric";
	fv.error = jstr(errors, "expires");
	json_array_append_new(fields, field_view(&fv));
	order_add(order, "expires", fv.id);
	memset(&fv, 0, sizeof(fv));
	fv.id = "t-scope";
	fv.name = "scope";
	fv.label = "Scope";
	fv.help = "read: look only; deploy: also deploy, start, stop and cancel runs; manage: everything your role allows.";
	fv.kind = "select";
	fv.choices = json_array();
	const char *sc_in = wo_http_form(req, "scope");
	add_choice(fv.choices, "manage", "manage", !sc_in || !strcmp(sc_in, "manage"));
	add_choice(fv.choices, "deploy", "deploy", sc_in && !strcmp(sc_in, "deploy"));
	add_choice(fv.choices, "read", "read", sc_in && !strcmp(sc_in, "read"));
	fv.error = jstr(errors, "scope");
	json_array_append_new(fields, field_view(&fv));
	order_add(order, "scope", fv.id);
	memset(&fv, 0, sizeof(fv));
	fv.id = "t-deployments";
	fv.name = "deployments";
	fv.label = "Only these deployments";
	fv.help = "Names separated by commas; empty: every deployment you may act on. A CI token usually deploys one.";
	fv.value = wo_http_form(req, "deployments");
	fv.error = jstr(errors, "deployments");
	json_array_append_new(fields, field_view(&fv));
	order_add(order, "deployments", fv.id);
	json_object_set_new(data, "token_fields", fields);
	add_summary(data, errors, order);
	json_decref(order);
	json_object_set_new(data, "nav_account", json_true());
	add_notice(data, req);
	return render(req, status, "account", data);
}

WO_HANDLER(wo_page_account)
{
	if (db_down(req))
		return 0;
	return account_page(req, 200, "", NULL, NULL);
}

WO_HANDLER(wo_page_token_create)
{
	if (db_down(req))
		return 0;
	const char *name_in = wo_http_form(req, "name");
	const char *exp_in = wo_http_form(req, "expires");
	char *name = trimmed(name_in);
	char *exp = trimmed(exp_in);
	json_t *errors = NULL;
	struct wo_buf err = WO_BUF_INIT;
	if (wo_validate_token_name(name, &err) < 0)
		set_error(&errors, "name", err.len ? err.ptr : "the name is invalid");
	long long days = *exp ? parse_uint(exp) : 0;
	if (days < 0 || days > 36500) {
		struct wo_buf m = WO_BUF_INIT;
		wo_buf_puts(&m, "expires '");
		utf8_clean(&m, exp);
		wo_buf_puts(&m, "' is invalid: use a whole number of days from 0 (never) to 36500");
		set_error(&errors, "expires", m.ptr);
		wo_buf_release(&m);
	}
	wo_buf_release(&err);
	const char *scope = wo_http_form(req, "scope");
	if (!scope || !*scope)
		scope = "manage";
	int sc;
	if (wo_scope_parse(&sc, scope) < 0)
		set_error(&errors, "scope", wo_error_last());
	/* deployments: names separated by commas or spaces; none: not limited */
	json_t *deps = NULL;
	const char *deps_in = wo_http_form(req, "deployments");
	if (deps_in && strspn(deps_in, " ,\t\r\n") < strlen(deps_in)) {
		deps = json_array();
		char *copy = strdup(deps_in), *save = NULL;
		for (char *t = copy ? strtok_r(copy, " ,\t\r\n", &save) : NULL; t; t = strtok_r(NULL, " ,\t\r\n", &save)) {
			/* a token may be limited only to deployments its owner may read */
			if (wo_access_check(req->conn, &req->who, WO_PERM_DEP_READ, t) != 0) {
				struct wo_buf m = WO_BUF_INIT;
				wo_buf_puts(&m, "deployments: no deployment named '");
				utf8_clean(&m, t);
				wo_buf_puts(&m, "' that you may read");
				set_error(&errors, "deployments", m.ptr);
				wo_buf_release(&m);
				break;
			}
			json_array_append_new(deps, json_string(t));
		}
		free(copy);
	}
	char *token = NULL;
	json_t *rec = NULL;
	if (!errors && wo_token_create(&token, &rec, req->conn, name, req->who.user_id, (int)days, scope, deps) < 0)
		set_error(&errors, "name", wo_error_last());
	json_decref(deps);
	if (errors) {
		int rc = account_page(req, 422, name_in, exp_in, errors);
		json_decref(errors);
		free(name);
		free(exp);
		return rc;
	}
	json_t *data = json_object();
	set_text(data, "name", name);
	set_text(data, "token", token);
	json_object_set_new(data, "expires", when_json(json_object_get(rec, "expires_at")));
	struct wo_buf url = WO_BUF_INIT;
	const char *pub = wo_http_public_url(req) ? wo_http_public_url(req) : "";
	size_t pl = strlen(pub);
	while (pl > 0 && pub[pl - 1] == '/')
		pl--;
	wo_buf_printf(&url, "%.*s/api/v1/deployments", (int)pl, pub);
	set_text(data, "api_url", url.ptr);
	wo_buf_release(&url);
	json_object_set_new(data, "nav_account", json_true());
	explicit_bzero(token, strlen(token));
	free(token);
	json_decref(rec);
	free(name);
	free(exp);
	/* the answer holds the secret: it must not be cached */
	wo_http_add_header(req, "Cache-Control", "no-store");
	return render(req, 201, "token_created", data);
}

WO_HANDLER(wo_page_token_revoke)
{
	if (db_down(req))
		return 0;
	/* one's own; an admin any */
	int rc = wo_token_revoke(req->conn, req->params[0],
				 wo_access_role(&req->who) == WO_ROLE_ADMIN ? 0 : req->who.user_id);
	wo_http_auth_changed(req);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such token.");
	if (rc < 0)
		return -1;
	return wo_http_redirect(req, "/account?done=token_revoked");
}

WO_HANDLER(wo_page_session_revoke)
{
	if (db_down(req))
		return 0;
	long long id = parse_uint(req->params[0]);
	if (id < 0)
		return not_found(req, "There is no such session.");
	int rc = wo_session_revoke(req->conn, id, req->who.user_id);
	wo_http_auth_changed(req);
	if (rc == WO_ENOTFOUND)
		return not_found(req, "There is no such session.");
	if (rc < 0)
		return -1;
	if (id == req->who.session_id) {
		wo_http_set_session_cookie(req, NULL);
		return wo_http_redirect(req, "/login");
	}
	return wo_http_redirect(req, "/account?done=session_revoked");
}

/* ---- sharing a deployment; users (admins) ---- */

/* POST /deployments/{name}/share: user, role (member, viewer, or none to
 * stop sharing). The route checked that the user may share it. */
WO_HANDLER(wo_page_deployment_share)
{
	if (db_down(req))
		return 0;
	const char *name = req->params[0];
	char *user = trimmed(wo_http_form(req, "user"));
	const char *role = wo_http_form(req, "role");
	int rc = role && !strcmp(role, "none") ? wo_share_remove(req->conn, name, user)
					       : wo_share_set(req->conn, name, user, role ? role : "");
	free(user);
	if (rc < 0) {
		struct wo_buf m = WO_BUF_INIT;
		utf8_clean(&m, wo_error_last());
		struct wo_buf back = WO_BUF_INIT;
		wo_buf_puts(&back, "/deployments/");
		put_segment(&back, name);
		int r = message_page(req, rc == WO_ENOTFOUND ? 404 : 422, "Not shared", m.ptr, NULL, back.ptr,
				     "Back to the deployment");
		wo_buf_release(&m);
		wo_buf_release(&back);
		return r;
	}
	return redirect_to(req, "/deployments/", name, "?done=shared");
}

/* The three roles as select options, `selected` chosen. */
static json_t *role_choices(const char *selected)
{
	static const char *const roles[] = { "admin", "member", "viewer" };
	json_t *choices = json_array();
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		add_choice(choices, roles[i], roles[i], !strcmp(selected, roles[i]));
	return choices;
}

static int users_page(struct wo_req *req, int status, const char *alert, const char *new_name, const char *new_role)
{
	json_t *users = NULL;
	if (wo_user_list(&users, req->conn) < 0)
		return -1;
	json_t *data = json_object();
	json_t *rows = json_array();
	size_t i;
	json_t *u;
	json_array_foreach(users, i, u) {
		const char *name = jstr(u, "name") ? jstr(u, "name") : "";
		const char *role = jstr(u, "role") ? jstr(u, "role") : "member";
		json_t *row = json_object();
		set_text(row, "name", name);
		set_text(row, "role", role);
		json_object_set_new(row, "created", when_json(json_object_get(u, "created_at")));
		json_object_set_new(row, "is_me", json_boolean(!strcmp(name, req->who.user)));
		json_object_set_new(row, "role_href", jpath("/users/", name, "/role"));
		json_object_set_new(row, "password_href", jpath("/users/", name, "/password"));
		json_object_set_new(row, "delete_href", jpath("/users/", name, "/delete"));
		json_object_set_new(row, "roles", role_choices(role));
		json_array_append_new(rows, row);
	}
	json_decref(users);
	json_object_set_new(data, "users", rows);
	set_text(data, "new_name", new_name);
	json_object_set_new(data, "new_roles", role_choices(new_role && *new_role ? new_role : "member"));
	if (alert)
		set_text(data, "alert", alert);
	json_object_set_new(data, "nav_users", json_true());
	add_notice(data, req);
	return render(req, status, "users", data);
}

WO_HANDLER(wo_page_users)
{
	if (db_down(req))
		return 0;
	return users_page(req, 200, NULL, "", NULL);
}

/* POST /users: name, password, role */
WO_HANDLER(wo_page_user_create)
{
	if (db_down(req))
		return 0;
	char *name = trimmed(wo_http_form(req, "name"));
	const char *password = wo_http_form(req, "password");
	const char *role = wo_http_form(req, "role");
	int rc = wo_user_create(NULL, req->conn, name, password ? password : "", role && *role ? role : "member");
	if (rc < 0) {
		struct wo_buf m = WO_BUF_INIT;
		utf8_clean(&m, wo_error_last());
		rc = users_page(req, strstr(m.ptr, "already exists") ? 409 : 422, m.ptr, name, role);
		wo_buf_release(&m);
		free(name);
		return rc;
	}
	free(name);
	wo_http_auth_changed(req);
	return wo_http_redirect(req, "/users?done=user_created");
}

/* POST /users/{name}/{action}: role (role), password (password), delete */
WO_HANDLER(wo_page_user_action)
{
	if (db_down(req))
		return 0;
	const char *name = req->params[0], *action = req->params[1];
	int rc;
	if (!strcmp(action, "role")) {
		rc = wo_user_set_role(req->conn, name, wo_http_form(req, "role") ? wo_http_form(req, "role") : "");
	} else if (!strcmp(action, "password")) {
		const char *pw = wo_http_form(req, "password");
		rc = wo_user_set_password(req->conn, name, pw ? pw : "");
	} else if (!strcmp(action, "delete")) {
		if (!strcmp(name, req->who.user))
			rc = wo_error_set("you cannot delete your own account here: another admin can");
		else
			rc = wo_user_delete(req->conn, name);
	} else {
		return not_found(req, "There is no such page.");
	}
	wo_http_auth_changed(req);
	if (rc < 0) {
		struct wo_buf m = WO_BUF_INIT;
		utf8_clean(&m, wo_error_last());
		rc = users_page(req, rc == WO_ENOTFOUND ? 404 : 422, m.ptr, "", NULL);
		wo_buf_release(&m);
		return rc;
	}
	return wo_http_redirect(req, !strcmp(action, "delete") ? "/users?done=user_deleted" : "/users?done=user_saved");
}
