/* The web UI's pages: helpers every page family uses (text, links, notices,
 * times and durations, the generic form field, validation messages). */
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

/* ---- small helpers ---- */

/* Appends s with invalid UTF-8 replaced by U+FFFD, so any user text makes a
 * JSON string (jansson refuses invalid UTF-8). */
void pg_utf8_clean(struct wo_buf *b, const char *s)
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
json_t *pg_jtext(const char *s)
{
	json_t *j = json_string(s ? s : "");
	if (j)
		return j;
	struct wo_buf b = WO_BUF_INIT;
	pg_utf8_clean(&b, s);
	j = json_string(wo_buf_cstr(&b));
	wo_buf_release(&b);
	return j ? j : json_string("");
}

void pg_set_text(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, pg_jtext(s));
}

const char *pg_jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Appends s percent-encoded as one path segment. */
void pg_put_segment(struct wo_buf *b, const char *s)
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
json_t *pg_jpath(const char *prefix, const char *segment, const char *suffix)
{
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_puts(&b, prefix);
	pg_put_segment(&b, segment ? segment : "");
	wo_buf_puts(&b, suffix ? suffix : "");
	json_t *j = pg_jtext(wo_buf_cstr(&b));
	wo_buf_release(&b);
	return j;
}

/* Redirects to prefix + encoded segment + suffix. */
int pg_redirect_to(struct wo_req *req, const char *prefix, const char *segment, const char *suffix)
{
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_puts(&b, prefix);
	pg_put_segment(&b, segment ? segment : "");
	wo_buf_puts(&b, suffix ? suffix : "");
	int rc = wo_http_redirect(req, wo_buf_cstr(&b));
	wo_buf_release(&b);
	return rc;
}

char *pg_trim_dup(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

char *pg_trimmed(const char *s)
{
	return pg_trim_dup(s ? s : "", s ? strlen(s) : 0);
}

/* A whole decimal number without sign; -1 when s is not one (or too big). */
long long pg_parse_uint(const char *s)
{
	if (!s || !*s || strlen(s) > 15 || strspn(s, "0123456789") != strlen(s))
		return -1;
	return strtoll(s, NULL, 10);
}

/* Renders a page; data is released here (wo_http_render copies what it needs). */
int pg_render(struct wo_req *req, int status, const char *name, json_t *data)
{
	int rc = wo_http_render(req, status, name, data);
	json_decref(data);
	return rc;
}

/* Renders a page of one section of the navigation (nav: "nav_account",
 * ...), with the notice ?done= asks for; data is released here. */
int pg_render_section(struct wo_req *req, int status, const char *name, const char *nav, json_t *data)
{
	json_object_set_new(data, nav, json_true());
	pg_add_notice(data, req);
	return pg_render(req, status, name, data);
}

int pg_message_page(struct wo_req *req, int status, const char *heading, const char *alert, const char *text,
			const char *back_href, const char *back_text)
{
	json_t *data = json_object();
	pg_set_text(data, "heading", heading);
	pg_set_text(data, "alert", alert);
	pg_set_text(data, "text", text);
	pg_set_text(data, "back_href", back_href);
	pg_set_text(data, "back_text", back_text);
	return pg_render(req, status, "message", data);
}

int pg_not_found(struct wo_req *req, const char *text)
{
	return pg_message_page(req, 404, "Not found", NULL, text, "/", "Back to the deployments");
}

/* Answers 503 when the database is away; 1 when it did. */
int pg_db_down(struct wo_req *req)
{
	if (req->conn)
		return 0;
	pg_message_page(req, 503, "Database unavailable", "webops cannot reach its PostgreSQL database right now.",
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

void pg_add_notice(json_t *data, struct wo_req *req)
{
	const char *code = wo_http_query(req, "done");
	if (!code)
		return;
	for (size_t i = 0; i < sizeof(notices) / sizeof(notices[0]); i++)
		if (!strcmp(code, notices[i].code)) {
			/* a deployment's page: the message names it (from the record, never the query) */
			const char *name = pg_jstr(json_object_get(data, "d"), "name");
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

static long long pg_parse_iso(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return -1;
	return (long long)timegm(&tm);
}

/* {iso, text, ago} for an ISO 8601 UTC time, false when there is none. */
json_t *pg_when_json(const json_t *v)
{
	const char *iso = json_string_value(v);
	long long t = pg_parse_iso(iso);
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

void pg_fmt_duration(char *out, size_t n, long long ms)
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
json_t *pg_run_duration(const json_t *run)
{
	char buf[32];
	const json_t *ms = json_object_get(run, "duration_ms");
	if (!json_is_integer(ms) || json_is_null(json_object_get(run, "started_at")))
		return json_string("-");
	pg_fmt_duration(buf, sizeof(buf), (long long)json_integer_value(ms));
	return json_string(buf);
}

/* The first 7 characters of a commit id, false when there is none. */
json_t *pg_short_sha(const char *sha)
{
	if (!sha || !*sha)
		return json_false();
	return json_stringn(sha, strlen(sha) < 7 ? strlen(sha) : 7);
}

int pg_run_active(const char *status)
{
	return status && (!strcmp(status, "queued") || !strcmp(status, "running"));
}

/* ---- generic form fields (templates/web/field.mustache) ---- */


/* Every key field.mustache uses is set, so nothing resolves in outer contexts. */
json_t *pg_field_view(const struct fv *f)
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
	pg_set_text(o, "id", f->id);
	pg_set_text(o, "name", f->name);
	pg_set_text(o, "label", f->label);
	pg_set_text(o, "help", f->help);
	pg_set_text(o, "help_id", help_id);
	pg_set_text(o, "error", f->error);
	pg_set_text(o, "error_id", error_id);
	pg_set_text(o, "describedby", wo_buf_cstr(&db));
	wo_buf_release(&db);
	json_object_set_new(o, "is_checkbox", json_boolean(!strcmp(kind, "checkbox")));
	json_object_set_new(o, "is_select", json_boolean(!strcmp(kind, "select")));
	json_object_set_new(o, "is_textarea", json_boolean(!strcmp(kind, "textarea")));
	json_object_set_new(o, "is_input", json_boolean(!strcmp(kind, "input")));
	json_object_set_new(o, "is_readonly", json_boolean(!strcmp(kind, "readonly")));
	pg_set_text(o, "input_type", f->input_type ? f->input_type : "text");
	pg_set_text(o, "inputmode", f->inputmode);
	pg_set_text(o, "autocomplete", f->autocomplete ? f->autocomplete : "off");
	pg_set_text(o, "value", f->value);
	json_object_set_new(o, "checked", json_boolean(f->checked));
	json_object_set_new(o, "choices", f->choices ? f->choices : json_array());
	pg_set_text(o, "placeholder", f->placeholder);
	json_object_set_new(o, "required", json_boolean(f->required));
	json_object_set_new(o, "rows", json_integer(f->rows > 0 ? f->rows : 3));
	pg_set_text(o, "type_hint", f->type_hint);
	pg_set_text(o, "note", f->note);
	pg_set_text(o, "clear_key", f->clear_key);
	pg_set_text(o, "controls", f->controls);
	return o;
}

/* Appends the view of f to fields, its message taken from errors under its
 * name, and [name, id] to order (the error summary's links). */
void pg_field_append(json_t *fields, json_t *order, const json_t *errors, struct fv f)
{
	f.error = pg_jstr(errors, f.name);
	json_array_append_new(fields, pg_field_view(&f));
	pg_order_add(order, f.name, f.id);
}

void pg_add_choice(json_t *choices, const char *value, const char *text, int selected)
{
	json_t *c = json_object();
	pg_set_text(c, "value", value);
	pg_set_text(c, "text", text);
	json_object_set_new(c, "selected", json_boolean(selected));
	json_array_append_new(choices, c);
}

/* "(a whole number from 1 to 60)" for an int field's label. */
void pg_int_hint(char *out, size_t n, int has_min, long long min, int has_max, long long max)
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

int pg_line_count(const char *s)
{
	int n = 1;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* A typed value as the text a form shows: lists one item per line, maps
 * KEY=VALUE per line, the rest as wo_addon_field_format writes it. */
char *pg_value_text(const json_t *v)
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

/* The non-empty lines of s, trimmed, as a JSON array of strings. */
json_t *pg_lines_json(const char *s)
{
	json_t *arr = json_array();
	const char *p = s ? s : "";
	while (*p) {
		size_t n = strcspn(p, "\n");
		char *l = pg_trim_dup(p, n);
		if (l && *l)
			json_array_append_new(arr, pg_jtext(l));
		free(l);
		p += n + (p[n] == '\n');
	}
	return arr;
}

/* Textarea text of a list field as addon text: a JSON array of the
 * non-empty trimmed lines ("" when there are none). */
char *pg_list_text(const char *text)
{
	json_t *arr = pg_lines_json(text);
	char *out = json_array_size(arr) ? json_dumps(arr, JSON_COMPACT) : strdup("");
	json_decref(arr);
	return out;
}

/* Textarea text of a map field (KEY=VALUE per line) as a JSON object text;
 * NULL with a message naming the line in err when a line is not KEY=VALUE. */
char *pg_map_text(const char *text, const char *field, const char *addon, const char *what, struct wo_buf *err)
{
	json_t *obj = json_object();
	const char *p = text ? text : "";
	int line = 0;
	while (*p) {
		size_t n = strcspn(p, "\n");
		line++;
		char *l = pg_trim_dup(p, n);
		p += n + (p[n] == '\n');
		if (!l || !*l) {
			free(l);
			continue;
		}
		char *eq = strchr(l, '=');
		char *key = eq ? pg_trim_dup(l, (size_t)(eq - l)) : NULL;
		if (!eq || !key || !*key) {
			wo_buf_printf(err, "invalid value for %s '%s' (addon '%s', map): line %d '%.60s' is not KEY=VALUE",
				      what, field, addon, line, l);
			free(key);
			free(l);
			json_decref(obj);
			return NULL;
		}
		char *val = pg_trimmed(eq + 1);
		json_object_set_new(obj, key, pg_jtext(val));
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
json_t *pg_errors_from(const char *msg)
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
			json_object_set_new(e, k, pg_jtext(wo_buf_cstr(&b)));
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
void pg_add_summary(json_t *data, const json_t *errors, const json_t *order)
{
	json_t *summary = json_array();
	json_t *seen = json_object();
	size_t i;
	json_t *pair;
	json_array_foreach(order, i, pair) {
		const char *key = json_string_value(json_array_get(pair, 0));
		const char *id = json_string_value(json_array_get(pair, 1));
		const char *m = key ? pg_jstr(errors, key) : NULL;
		if (!m || json_object_get(seen, key))
			continue;
		json_object_set_new(seen, key, json_true());
		struct wo_buf href = WO_BUF_INIT;
		wo_buf_printf(&href, "#%s", id ? id : "");
		json_array_append_new(summary, json_pack("{s:o, s:o}", "text", pg_jtext(m), "href", pg_jtext(href.ptr)));
		wo_buf_release(&href);
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)errors, k, v) {
		if (json_object_get(seen, k) || !json_is_string(v))
			continue;
		json_array_append_new(summary, json_pack("{s:o, s:s}", "text", pg_jtext(json_string_value(v)), "href", ""));
	}
	json_decref(seen);
	json_object_set_new(data, "has_errors", json_boolean(json_array_size(summary) > 0));
	json_object_set_new(data, "summary", summary);
}

void pg_order_add(json_t *order, const char *key, const char *id)
{
	if (order)
		json_array_append_new(order, json_pack("[o, o]", pg_jtext(key), pg_jtext(id)));
}
