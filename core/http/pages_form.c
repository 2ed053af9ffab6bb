/* The web UI's deployment form: what it shows (core fields, health
 * settings, every enabled addon's fields as its manifest declares them) and
 * what a posted form becomes (the record the store validates). */
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

/* ---- the deployment form ---- */


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

void pg_dform_release(struct dform *f)
{
	json_t *held[] = { f->fields, f->core, f->env, f->af, f->health, f->errors };
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		json_decref(held[i]);
	memset(f, 0, sizeof(*f));
}

/* The enabled addons' deployment fields; [] when there is no registry. */
static json_t *pg_load_fields(struct wo_req *req)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	json_t *fields = reg ? wo_addon_fields_json(reg) : NULL;
	if (reg)
		wo_http_registry_unlock(req);
	return fields ? fields : json_array();
}

static void pg_field_key(struct wo_buf *b, const json_t *f)
{
	wo_buf_clear(b);
	wo_buf_printf(b, "%s.%s", pg_jstr(f, "addon") ? pg_jstr(f, "addon") : "", pg_jstr(f, "name") ? pg_jstr(f, "name") : "");
}

/* Fills f from a deployment record, or with the fields' defaults when d is
 * NULL (a new deployment). */
void pg_dform_init(struct dform *f, struct wo_req *req, const json_t *d)
{
	static const char *const keys[] = { "name", "repo_url", "branch", "domain" };
	memset(f, 0, sizeof(*f));
	f->creating = d == NULL;
	f->fields = pg_load_fields(req);
	f->core = json_object();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		/* a password in a URL from before they were refused is never put
		 * in the page (saving the form then asks for credentials instead) */
		char *shown = i == 1 && d ? wo_url_redact(pg_jstr(d, keys[i])) : NULL;
		pg_set_text(f->core, keys[i], shown ? shown : d ? pg_jstr(d, keys[i]) : "");
		free(shown);
	}
	const json_t *port = json_object_get(d, "port");
	char pt[32] = "";
	if (json_is_integer(port))
		snprintf(pt, sizeof(pt), "%lld", (long long)json_integer_value(port));
	pg_set_text(f->core, "port", pt);

	f->env = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(d, "env_vars"), k, v)
		json_array_append_new(f->env, json_pack("[o, o]", pg_jtext(k), pg_jtext(json_string_value(v))));

	/* health: the record's values (defaults filled in by the store); empty
	 * for a new deployment, whose placeholders show the defaults */
	f->health = json_object();
	const json_t *h = json_object_get(d, "health");
	for (size_t i = 0; i < HEALTH_FORM_N; i++) {
		const json_t *hv = json_object_get(h, health_form[i].key);
		char *t = pg_value_text(json_is_null(hv) ? NULL : hv);
		pg_set_text(f->health, health_form[i].key, t);
		free(t);
	}

	f->af = json_object();
	struct wo_buf key = WO_BUF_INIT;
	size_t i;
	json_t *fd;
	json_array_foreach(f->fields, i, fd) {
		const json_t *val = d ? json_object_get(json_object_get(json_object_get(d, "addon_fields"),
									  pg_jstr(fd, "addon")),
							  pg_jstr(fd, "name"))
				      : NULL;
		if (!val)
			val = json_object_get(fd, "default");
		/* a secret is never sent back: its mask, given back, keeps it */
		char *t = wo_secret_is_sealed(json_string_value(val)) ? strdup(WO_FIELD_SECRET_MASK) : pg_value_text(val);
		pg_field_key(&key, fd);
		pg_set_text(f->af, key.ptr, t);
		free(t);
	}
	wo_buf_release(&key);
}

int pg_set_error(json_t **errors, const char *key, const char *msg)
{
	if (!*errors)
		*errors = json_object();
	json_object_set_new(*errors, key, pg_jtext(msg));
	return -1;
}

/* The same with the message before + what (made valid UTF-8) + after: what
 * was typed, quoted in the message. */
int pg_set_error_quoting(json_t **errors, const char *key, const char *before, const char *what, const char *after)
{
	struct wo_buf m = WO_BUF_INIT;
	wo_buf_puts(&m, before);
	pg_utf8_clean(&m, what);
	wo_buf_puts(&m, after);
	int rc = pg_set_error(errors, key, m.ptr);
	wo_buf_release(&m);
	return rc;
}

/* How a core text field posted empty goes into the input. */
enum pg_empty { PG_EMPTY_SENT, PG_EMPTY_LEFT_OUT, PG_EMPTY_CLEARS };

/* A core text field as posted (or, with always, also when it is not):
 * shown again as typed, trimmed into input; empty, it goes as how_empty
 * says (PG_EMPTY_CLEARS: null when updating, so it is cleared). */
static void pg_post_core_text(struct dform *f, struct wo_req *req, json_t *input, const char *key, int always,
			      enum pg_empty how_empty)
{
	const char *v = wo_http_form(req, key);
	if (!v && !always)
		return;
	char *t = pg_trimmed(v);
	pg_set_text(f->core, key, v ? v : "");
	if (how_empty == PG_EMPTY_SENT || *t)
		json_object_set_new(input, key, pg_jtext(t));
	else if (how_empty == PG_EMPTY_CLEARS && !f->creating)
		json_object_set_new(input, key, json_null()); /* cleared */
	free(t);
}

/* The port as posted: a whole number, or empty (cleared when updating);
 * -1 with the problem in f->errors when it is not a number. */
static int pg_post_port(struct dform *f, struct wo_req *req, json_t *input)
{
	const char *v = wo_http_form(req, "port");
	if (!v)
		return 0;
	int bad = 0;
	char *t = pg_trimmed(v);
	pg_set_text(f->core, "port", v);
	long long port = pg_parse_uint(t);
	if (*t && port < 0) {
		bad = pg_set_error_quoting(&f->errors, "port", "port '", t,
					   "' is invalid: use a whole number from 1 to 65535");
	} else if (*t) {
		json_object_set_new(input, "port", json_integer(port));
	} else if (!f->creating) {
		json_object_set_new(input, "port", json_null()); /* cleared */
	}
	free(t);
	return bad;
}

/* The health settings as posted, into input's "health" when any was: an
 * empty number is the default, an empty path, status or text is none
 * (null); text that is not a whole number goes to the store as text, which
 * refuses it naming the field and its range. */
static void pg_post_health(struct dform *f, struct wo_req *req, json_t *input)
{
	json_t *health = json_object(), *dflt = json_object();
	wo_deployment_health_fill(dflt);
	int health_posted = 0;
	for (size_t i = 0; i < HEALTH_FORM_N; i++) {
		const char *k = health_form[i].key;
		char fname[64];
		snprintf(fname, sizeof(fname), "health.%s", k);
		const char *v = wo_http_form(req, fname);
		if (!v)
			continue;
		health_posted = 1;
		pg_set_text(f->health, k, v);
		int is_body = !strcmp(k, "body");
		char *t = pg_trimmed(v);
		if (!*t) {
			json_t *dv = json_object_get(dflt, k);
			json_object_set_new(health, k, health_form[i].is_int && dv ? json_incref(dv) : json_null());
		} else if (is_body) {
			json_object_set_new(health, k, pg_jtext(v)); /* as typed: spaces may matter */
		} else if (health_form[i].is_int || !strcmp(k, "status")) {
			long long n = pg_parse_uint(t);
			json_object_set_new(health, k, n >= 0 ? json_integer(n) : pg_jtext(t));
		} else {
			json_object_set_new(health, k, pg_jtext(t));
		}
		free(t);
	}
	if (health_posted)
		json_object_set_new(input, "health", health);
	else
		json_decref(health);
	json_decref(dflt);
}

/* The environment rows as posted (env_key[i] goes with env_value[i]) into
 * input's "env_vars" and, as typed, f->env; -1 with the problem in
 * f->errors when a value is not text. */
static int pg_post_env(struct dform *f, struct wo_req *req, json_t *input)
{
	int bad = 0;
	json_t *env = json_object();
	json_t *rows = json_array();
	for (size_t i = 0;; i++) {
		const char *key = wo_http_form_nth(req, "env_key", i);
		const char *val = wo_http_form_nth(req, "env_value", i);
		if (!key && !val)
			break;
		char *k = pg_trimmed(key);
		json_t *vj = val ? json_string(val) : NULL;
		if (val && !vj) {
			/* refused, not silently "cleaned": the value is not text */
			char msg[160];
			snprintf(msg, sizeof(msg), "env '%.60s': the value is not valid UTF-8 text", k);
			bad = pg_set_error(&f->errors, "env", msg);
		}
		json_decref(vj);
		if (*k || (val && *val)) {
			json_t *kj = pg_jtext(k); /* a key jansson accepts (valid UTF-8) */
			json_object_set_new(env, json_string_value(kj), pg_jtext(val));
			json_decref(kj);
			json_array_append_new(rows, json_pack("[o, o]", pg_jtext(key), pg_jtext(val)));
		}
		free(k);
	}
	json_object_set_new(input, "env_vars", env);
	json_decref(f->env);
	f->env = rows;
	return bad;
}

/* The addon fields posted (a switched-off section posts none) as addon
 * text into text {"addon.field": text}; -1 with the problem in f->errors
 * when a map field has a line that is not KEY=VALUE. */
static int pg_post_addon_fields(struct dform *f, struct wo_req *req, json_t *text)
{
	int bad = 0;
	struct wo_buf key = WO_BUF_INIT, name = WO_BUF_INIT, err = WO_BUF_INIT;
	size_t i;
	json_t *fd;
	json_array_foreach(f->fields, i, fd) {
		pg_field_key(&key, fd);
		wo_buf_clear(&name);
		wo_buf_printf(&name, "af.%s", key.ptr);
		const char *v = wo_http_form(req, name.ptr);
		if (!v)
			continue;
		pg_set_text(f->af, key.ptr, v);
		const char *type = pg_jstr(fd, "type") ? pg_jstr(fd, "type") : "string";
		char *t = NULL;
		if (!strcmp(type, "list")) {
			t = pg_list_text(v);
		} else if (!strcmp(type, "map")) {
			wo_buf_clear(&err);
			t = pg_map_text(v, pg_jstr(fd, "name"), pg_jstr(fd, "addon"), "field", &err);
			if (!t)
				bad = pg_set_error(&f->errors, key.ptr, err.ptr);
		} else {
			t = strdup(v);
		}
		if (t)
			json_object_set_new(text, key.ptr, pg_jtext(t));
		free(t);
	}
	wo_buf_release(&key);
	wo_buf_release(&name);
	wo_buf_release(&err);
	return bad;
}

/* Takes what was posted into f and builds the input of
 * wo_http_deployment_save: *input_out {name, repo_url, branch, domain,
 * port, env_vars} and *text_out {"addon.field": text}. Problems the form
 * itself can see (a port that is not a number, a map line without '=') go
 * to f->errors, and then nothing must be saved: returns -1. */
int pg_dform_post(struct dform *f, struct wo_req *req, json_t **input_out, json_t **text_out)
{
	int bad = 0;
	json_t *input = json_object();
	json_t *text = json_object();
	if (f->creating)
		pg_post_core_text(f, req, input, "name", 1, PG_EMPTY_SENT);
	pg_post_core_text(f, req, input, "repo_url", f->creating, PG_EMPTY_SENT);
	pg_post_core_text(f, req, input, "branch", 0, PG_EMPTY_LEFT_OUT);
	pg_post_core_text(f, req, input, "domain", 0, PG_EMPTY_CLEARS);
	if (pg_post_port(f, req, input) < 0)
		bad = -1;
	pg_post_health(f, req, input);
	if (pg_post_env(f, req, input) < 0)
		bad = -1;
	if (pg_post_addon_fields(f, req, text) < 0)
		bad = -1;
	*input_out = input;
	*text_out = text;
	return bad ? -1 : 0;
}

/* When the form found problems itself (and nothing is saved), the core
 * fields are still checked, so one answer lists every problem. base: the
 * current record when updating. */
void pg_dform_probe(struct dform *f, const json_t *base, const json_t *input)
{
	json_t *probe = base ? json_deep_copy(base) : json_object();
	json_object_update(probe, (json_t *)input);
	if (!json_object_get(probe, "branch"))
		json_object_set_new(probe, "branch", json_string("main")); /* the default on create */
	json_object_del(probe, "addon_fields");
	json_object_del(probe, "status");
	if (wo_deployment_validate(probe) < 0) {
		json_t *more = pg_errors_from(wo_error_last());
		if (!f->errors)
			f->errors = json_object();
		json_object_update_missing(f->errors, more);
		json_decref(more);
	}
	json_decref(probe);
}

/* Saves what pg_dform_post gave (posted: its result; input and text are
 * released here) as deployment name (NULL: a new one) into *out. When the
 * form itself found problems nothing is saved and the core fields are
 * checked too (pg_dform_probe; base: the current record). Negative when
 * nothing was saved, f->errors saying why. */
int pg_dform_save(json_t **out, struct dform *f, struct wo_req *req, const char *name, const json_t *base,
		  int posted, json_t *input, json_t *text)
{
	int rc = posted;
	if (rc == 0)
		rc = wo_http_deployment_save(out, req, name, input, text);
	else
		pg_dform_probe(f, base, input);
	json_decref(input);
	json_decref(text);
	if (rc < 0 && !f->errors)
		f->errors = pg_errors_from(wo_error_last());
	return rc;
}

/* The message for an addon field: under "addon.field" or the bare name. */
static const char *pg_field_error(const json_t *errors, const char *key, const char *bare)
{
	const char *m = pg_jstr(errors, key);
	return m ? m : pg_jstr(errors, bare);
}

/* The core fields (name only when creating), their [key, id] into order. */
static json_t *pg_core_fields_view(const struct dform *f, json_t *order)
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
	json_t *cv = json_array();
	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
		if (core[i].create_only && !f->creating)
			continue;
		char id[64];
		snprintf(id, sizeof(id), "f-%s", core[i].key);
		pg_field_append(cv, order, f->errors,
				(struct fv){ .id = id, .name = core[i].key, .label = core[i].label, .help = core[i].help,
					     .placeholder = core[i].placeholder, .inputmode = core[i].inputmode,
					     .required = core[i].required, .value = pg_jstr(f->core, core[i].key) });
	}
	return cv;
}

/* The environment into view: the rows, then empty ones to fill in (app.js
 * adds more), the first row its error names linked from the summary. */
static void pg_env_view(json_t *view, const struct dform *f, json_t *order)
{
	const char *env_error = pg_jstr(f->errors, "env");
	if (!env_error)
		env_error = pg_jstr(f->errors, "env_vars");
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
						      (json_int_t)i + 1, "key", pg_jtext(k), "value", pg_jtext(val), "invalid",
						      invalid));
	}
	json_object_set_new(view, "env", rows);
	pg_set_text(view, "env_error", env_error);
	char env_id[48];
	snprintf(env_id, sizeof(env_id), "env-key-%ld", first_invalid < 0 ? 0L : first_invalid);
	pg_order_add(order, "env", env_id);
	pg_order_add(order, "env_vars", env_id);
}

/* The health check settings; their placeholders show the defaults. */
static json_t *pg_health_fields_view(const struct dform *f, json_t *order)
{
	json_t *hv = json_array(), *dflt = json_object();
	wo_deployment_health_fill(dflt);
	for (size_t i = 0; i < HEALTH_FORM_N; i++) {
		char id[64], fname[64], ph[32];
		snprintf(id, sizeof(id), "f-health-%s", health_form[i].key);
		snprintf(fname, sizeof(fname), "health.%s", health_form[i].key);
		struct fv fv = { 0 };
		fv.id = id;
		fv.name = fname; /* also the key of its error */
		fv.label = health_form[i].label;
		fv.help = health_form[i].help;
		fv.value = pg_jstr(f->health, health_form[i].key);
		fv.placeholder = health_form[i].placeholder;
		if (health_form[i].is_int || !strcmp(health_form[i].key, "status"))
			fv.inputmode = "numeric";
		if (health_form[i].is_int) {
			const json_t *d = json_object_get(dflt, health_form[i].key);
			snprintf(ph, sizeof(ph), "%lld", (long long)json_integer_value(d));
			fv.placeholder = ph;
		}
		pg_field_append(hv, order, f->errors, fv);
		if (i == 0)
			pg_order_add(order, "health", id);
	}
	json_decref(dflt);
	return hv;
}

/* How an addon field of type type shows (fv's kind and hints, from the
 * field's declaration fd and its text). hint: room for the type hint. */
static void pg_addon_field_kind(struct fv *fv, const json_t *fd, const char *type, const char *text, char *hint,
				size_t hint_len)
{
	if (!strcmp(type, "bool")) {
		fv->kind = "checkbox";
		fv->checked = wo_addon_parse_bool(text) == 1;
		fv->required = 0;
	} else if (!strcmp(type, "enum")) {
		fv->kind = "select";
		fv->choices = json_array();
		int found = 0;
		size_t j;
		json_t *c;
		json_array_foreach(json_object_get(fd, "choices"), j, c)
			found |= json_is_string(c) && !strcmp(json_string_value(c), text);
		if (!found)
			pg_add_choice(fv->choices, "", "(not set)", 1);
		json_array_foreach(json_object_get(fd, "choices"), j, c)
			if (json_is_string(c))
				pg_add_choice(fv->choices, json_string_value(c), json_string_value(c),
					      !strcmp(json_string_value(c), text));
	} else if (!strcmp(type, "int")) {
		/* text, not number: a wrong value typed must come back as typed */
		fv->inputmode = "numeric";
		int has_min = json_is_integer(json_object_get(fd, "min"));
		int has_max = json_is_integer(json_object_get(fd, "max"));
		pg_int_hint(hint, hint_len, has_min, (long long)json_integer_value(json_object_get(fd, "min")), has_max,
			    (long long)json_integer_value(json_object_get(fd, "max")));
		fv->type_hint = hint;
	} else if (!strcmp(type, "list")) {
		fv->kind = "textarea";
		fv->type_hint = "(one per line)";
		fv->rows = pg_line_count(text) + 1;
	} else if (json_is_true(json_object_get(fd, "secret"))) {
		/* a key, a certificate: several lines, stored sealed */
		fv->kind = "textarea";
		fv->type_hint = "(stored encrypted; " WO_FIELD_SECRET_MASK " keeps what is stored, empty removes it)";
		fv->rows = 4;
	} else if (!strcmp(type, "map")) {
		fv->kind = "textarea";
		fv->type_hint = "(KEY=VALUE, one per line)";
		fv->placeholder = "KEY=value";
		fv->rows = pg_line_count(text) + 1;
	}
	if (fv->rows > 12)
		fv->rows = 12;
}

/* A new addon section: {addon, title, body_id, has_switch, switch, fields}. */
static json_t *pg_addon_group(const char *addon, const char *body_id)
{
	json_t *group = json_object();
	pg_set_text(group, "addon", addon);
	struct wo_buf title = WO_BUF_INIT;
	wo_buf_printf(&title, "%s addon", addon);
	pg_set_text(group, "title", title.ptr);
	wo_buf_release(&title);
	pg_set_text(group, "body_id", body_id);
	json_object_set_new(group, "has_switch", json_false());
	json_object_set_new(group, "switch", json_false());
	json_object_set_new(group, "fields", json_array());
	return group;
}

/* One fieldset per addon, in the order of the fields. */
static json_t *pg_addon_groups_view(const struct dform *f, json_t *order)
{
	json_t *groups = json_array();
	json_t *group = NULL;
	struct wo_buf key = WO_BUF_INIT, id = WO_BUF_INIT, name = WO_BUF_INIT, body = WO_BUF_INIT;
	size_t i;
	json_t *fd;
	json_array_foreach(f->fields, i, fd) {
		const char *addon = pg_jstr(fd, "addon") ? pg_jstr(fd, "addon") : "";
		const char *fname = pg_jstr(fd, "name") ? pg_jstr(fd, "name") : "";
		const char *type = pg_jstr(fd, "type") ? pg_jstr(fd, "type") : "string";
		int first = !group || strcmp(pg_jstr(group, "addon"), addon) != 0;
		wo_buf_clear(&body);
		wo_buf_printf(&body, "af-%s--body", addon);
		if (first) {
			group = pg_addon_group(addon, body.ptr);
			json_array_append_new(groups, group);
		}
		pg_field_key(&key, fd);
		wo_buf_clear(&id);
		wo_buf_printf(&id, "af-%s-%s", addon, fname);
		wo_buf_clear(&name);
		wo_buf_printf(&name, "af.%s", key.ptr);
		pg_order_add(order, key.ptr, id.ptr);
		pg_order_add(order, fname, id.ptr);

		const char *text = pg_jstr(f->af, key.ptr) ? pg_jstr(f->af, key.ptr) : "";
		struct fv fv = { 0 };
		fv.id = id.ptr;
		fv.name = name.ptr;
		fv.label = pg_jstr(fd, "label") ? pg_jstr(fd, "label") : fname;
		fv.help = pg_jstr(fd, "help");
		fv.error = pg_field_error(f->errors, key.ptr, fname);
		fv.required = json_is_true(json_object_get(fd, "required"));
		fv.value = text;
		char hint[96] = "";
		pg_addon_field_kind(&fv, fd, type, text, hint, sizeof(hint));
		/* The rule: when an addon's FIRST field is a bool, it is the
		 * switch of the addon's section; app.js shows the section's other
		 * fields only while it is checked. */
		int is_switch = first && !strcmp(type, "bool");
		if (is_switch)
			fv.controls = body.ptr;
		json_t *view_f = pg_field_view(&fv);
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
	return groups;
}

/* The form's view for deployment_form.mustache; appends [key, id] pairs in
 * form order to order (for the error summary). */
json_t *pg_dform_view(const struct dform *f, const char *action, const char *submit, const char *cancel,
			  json_t *order)
{
	json_t *view = json_object();
	pg_set_text(view, "action", action);
	pg_set_text(view, "submit_label", submit);
	pg_set_text(view, "cancel_href", cancel);
	json_object_set_new(view, "core", pg_core_fields_view(f, order));
	pg_env_view(view, f, order);
	json_object_set_new(view, "health_fields", pg_health_fields_view(f, order));
	json_object_set_new(view, "addons", pg_addon_groups_view(f, order));
	return view;
}
