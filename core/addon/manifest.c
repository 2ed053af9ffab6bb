/* addon.yaml parsing and validation with libyaml's document API, so every
 * message can name the line it is about. No addon code is touched here. */
#include "addon/manifest.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "addon/field.h"
#include "util/buf.h"
#include "util/error.h"
#include "webops/addon.h"
#include "util/banned.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)

/* ---- events ---- */

static const char *const event_names[WO_EVENT__COUNT] = {
	"pre_deploy", "post_deploy", "health", "start", "stop", "delete", "restart", "notify",
	"daemon_start", "daemon_stop", "validate", "watch", "logs", "prune", "status", "renew",
};

const char *wo_event_name(enum wo_event ev)
{
	return (unsigned)ev < WO_EVENT__COUNT ? event_names[ev] : "?";
}

int wo_event_parse(enum wo_event *out, const char *name)
{
	static const struct { const char *alias; enum wo_event ev; } aliases[] = {
		{"pre_deployment", WO_EVENT_PRE_DEPLOY},
		{"post_deployment", WO_EVENT_POST_DEPLOY},
		{"service_health_check", WO_EVENT_HEALTH},
	};
	for (int i = 0; i < WO_EVENT__COUNT; i++) {
		if (strcmp(event_names[i], name) == 0) {
			*out = (enum wo_event)i;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcmp(aliases[i].alias, name) == 0) {
			*out = aliases[i].ev;
			return 0;
		}
	}
	return -1;
}

int wo_event_default_timeout_ms(enum wo_event ev)
{
	switch (ev) {
	case WO_EVENT_PRE_DEPLOY:
	case WO_EVENT_POST_DEPLOY:
		return 10 * 60 * 1000;
	case WO_EVENT_HEALTH:
	case WO_EVENT_NOTIFY:
		return 30 * 1000;
	case WO_EVENT_VALIDATE:
	case WO_EVENT_STATUS:
		return 10 * 1000;
	case WO_EVENT_WATCH:
	case WO_EVENT_LOGS:
		return 24 * 3600 * 1000;
	case WO_EVENT_RENEW:
		return 10 * 60 * 1000;
	default:
		return 2 * 60 * 1000;
	}
}

int wo_event_default_required(enum wo_event ev)
{
	return ev == WO_EVENT_PRE_DEPLOY || ev == WO_EVENT_POST_DEPLOY || ev == WO_EVENT_VALIDATE;
}

/* ---- manifest object ---- */

static void add_msg(char ***list, size_t *n, const char *prefix, const char *path, int line,
                    const char *fmt, va_list ap)
{
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_printf(&b, "%smanifest '%s': ", prefix, path);
	if (line > 0)
		wo_buf_printf(&b, "line %d: ", line);
	wo_buf_vprintf(&b, fmt, ap);
	char **nl = realloc(*list, (*n + 1) * sizeof(**list));
	if (!nl) {
		wo_buf_release(&b);
		return;
	}
	*list = nl;
	nl[(*n)++] = wo_buf_detach(&b);
}

void wo_addon_manifest_error(struct wo_addon_manifest *m, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_msg(&m->errors, &m->nerrors, "cannot load ", m->path, line, fmt, ap);
	va_end(ap);
}

static void manifest_warn(struct wo_addon_manifest *m, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void manifest_warn(struct wo_addon_manifest *m, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_msg(&m->warnings, &m->nwarnings, "", m->path, line, fmt, ap);
	va_end(ap);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void wo_addon_manifest_free(struct wo_addon_manifest *m)
{
	if (!m)
		return;
	free(m->path);
	free(m->dir);
	free(m->name);
	free(m->version);
	free(m->description);
	free(m->author);
	free(m->license);
	free_strv(m->capabilities, m->ncapabilities);
	free(m->library);
	free(m->library_path);
	for (size_t i = 0; i < m->nsettings; i++)
		wo_addon_field_release(&m->settings[i]);
	free(m->settings);
	for (size_t i = 0; i < m->nfields; i++)
		wo_addon_field_release(&m->fields[i]);
	free(m->fields);
	for (size_t i = 0; i < m->nhooks; i++) {
		free(m->hooks[i].handler);
		json_decref(m->hooks[i].conditions);
	}
	free(m->hooks);
	free_strv(m->errors, m->nerrors);
	free_strv(m->warnings, m->nwarnings);
	free(m);
}

const struct wo_addon_field *wo_addon_manifest_field(const struct wo_addon_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].name, name) == 0)
			return &m->fields[i];
	return NULL;
}

const struct wo_addon_field *wo_addon_manifest_setting(const struct wo_addon_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->nsettings; i++)
		if (strcmp(m->settings[i].name, name) == 0)
			return &m->settings[i];
	return NULL;
}

/* ---- YAML helpers ---- */

struct parse {
	yaml_document_t *doc;
	struct wo_addon_manifest *m;
};

static int line_of(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 0;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar containing a NUL byte cannot be used as a C string. */
static int scalar_has_nul(const yaml_node_t *n)
{
	return strlen((const char *)n->data.scalar.value) != n->data.scalar.length;
}

static int is_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *node_kind(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* A scalar as a string; a plain `~`/`null`/empty is absent. Errors name `what`. */
static int want_string(struct parse *p, yaml_node_t *n, const char *what, char **out)
{
	const char *s = scalar(n);
	if (!s) {
		wo_addon_manifest_error(p->m, line_of(n), "%s: expected a string, got %s", what, node_kind(n));
		return -1;
	}
	if (scalar_has_nul(n)) {
		wo_addon_manifest_error(p->m, line_of(n), "%s: a NUL byte is not allowed", what);
		return -1;
	}
	char *d = strdup(s);
	if (!d)
		return -1;
	free(*out);
	*out = d;
	return 0;
}

static int want_int(struct parse *p, yaml_node_t *n, const char *what, int64_t lo, int64_t hi, int64_t *out)
{
	const char *s = scalar(n);
	int64_t v;
	if (!s || wo_addon_parse_int(&v, s) < 0) {
		if (s)
			wo_addon_manifest_error(p->m, line_of(n), "%s: expected an integer, got '%s'", what, s);
		else
			wo_addon_manifest_error(p->m, line_of(n), "%s: expected an integer, got %s", what, node_kind(n));
		return -1;
	}
	if (v < lo || v > hi) {
		wo_addon_manifest_error(p->m, line_of(n), "%s: expected an integer from %lld to %lld, got %lld",
		                        what, (long long)lo, (long long)hi, (long long)v);
		return -1;
	}
	*out = v;
	return 0;
}

static int want_bool(struct parse *p, yaml_node_t *n, const char *what, int *out)
{
	const char *s = scalar(n);
	int b = s ? wo_addon_parse_bool(s) : -1;
	if (b < 0) {
		wo_addon_manifest_error(p->m, line_of(n), "%s: expected true or false, got %s%s%s", what,
		                        s ? "'" : "", s ? s : node_kind(n), s ? "'" : "");
		return -1;
	}
	*out = b;
	return 0;
}

static int want_strv(struct parse *p, yaml_node_t *n, const char *what, char ***out, size_t *nout)
{
	if (!n || n->type != YAML_SEQUENCE_NODE) {
		wo_addon_manifest_error(p->m, line_of(n), "%s: expected a list of strings, got %s", what, node_kind(n));
		return -1;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	char **v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return -1;
	size_t k = 0;
	int bad = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(p->doc, *it);
		const char *s = scalar(item);
		if (!s || scalar_has_nul(item)) {
			wo_addon_manifest_error(p->m, line_of(item), "%s: expected a list of strings, got %s in it",
			                        what, node_kind(item));
			bad = 1;
			continue;
		}
		v[k++] = strdup(s);
	}
	if (bad) {
		free_strv(v, k);
		return -1;
	}
	free_strv(*out, *nout);
	*out = v;
	*nout = k;
	return 0;
}

/* A YAML node as a JSON value typed for a field (used for defaults and conditions). */
static json_t *yaml_to_typed(struct parse *p, yaml_node_t *n, enum wo_field_type t, const char *what)
{
	switch (t) {
	case WO_FIELD_BOOL: {
		int b;
		return want_bool(p, n, what, &b) < 0 ? NULL : json_boolean(b);
	}
	case WO_FIELD_INT: {
		int64_t v;
		return want_int(p, n, what, INT64_MIN, INT64_MAX, &v) < 0 ? NULL : json_integer((json_int_t)v);
	}
	case WO_FIELD_STRING:
	case WO_FIELD_ENUM: {
		char *s = NULL;
		if (want_string(p, n, what, &s) < 0)
			return NULL;
		json_t *j = json_string(s);
		if (!j)
			wo_addon_manifest_error(p->m, line_of(n), "%s: expected valid UTF-8 text", what);
		free(s);
		return j;
	}
	case WO_FIELD_LIST: {
		char **v = NULL;
		size_t nv = 0;
		if (want_strv(p, n, what, &v, &nv) < 0)
			return NULL;
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < nv; i++) {
			json_t *s = json_string(v[i]);
			if (!s) {
				wo_addon_manifest_error(p->m, line_of(n), "%s: expected valid UTF-8 text", what);
				json_decref(arr);
				arr = NULL;
				break;
			}
			json_array_append_new(arr, s);
		}
		free_strv(v, nv);
		return arr;
	}
	case WO_FIELD_MAP: {
		if (!n || n->type != YAML_MAPPING_NODE) {
			wo_addon_manifest_error(p->m, line_of(n), "%s: expected a mapping of strings, got %s", what, node_kind(n));
			return NULL;
		}
		json_t *obj = json_object();
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; obj && pr < n->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
			yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
			const char *ks = scalar(k), *vs = scalar(v);
			json_t *js = vs && !scalar_has_nul(v) ? json_string(vs) : NULL;
			if (!ks || !js || scalar_has_nul(k) || !*ks || json_object_set_new(obj, ks, js) < 0) {
				wo_addon_manifest_error(p->m, line_of(v ? v : k), "%s: expected a mapping of strings", what);
				json_decref(obj);
				return NULL;
			}
		}
		return obj;
	}
	}
	return NULL;
}

/* A scalar guessed into JSON (for conditions on fields this manifest does not declare). */
static json_t *yaml_scalar_guess(yaml_node_t *n)
{
	const char *s = scalar(n);
	if (!s || scalar_has_nul(n))
		return NULL;
	if (is_plain(n)) {
		int64_t v;
		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
			return json_boolean(s[0] == 't');
		if (wo_addon_parse_int(&v, s) == 0)
			return json_integer((json_int_t)v);
	}
	return json_string(s);
}

static int valid_ident(const char *s, int allow_dash)
{
	if (!((*s >= 'a' && *s <= 'z')))
		return 0;
	size_t n = 0;
	for (; *s; s++, n++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (allow_dash && c == '-')))
			return 0;
	}
	return n <= 63;
}

int wo_addon_name_valid(const char *s)
{
	return s && valid_ident(s, 1);
}

static int valid_symbol(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	size_t n = 0;
	for (; *s; s++, n++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return n <= 255;
}

/* ---- fields and settings ---- */

static int parse_field_spec(struct parse *p, struct wo_addon_field *f, yaml_node_t *spec,
                            const char *section, int name_from_spec)
{
	char what[160];
	yaml_node_t *type_node = NULL, *dflt_node = NULL, *choices_node = NULL;
	int bad = 0;

	if (!spec || spec->type != YAML_MAPPING_NODE) {
		wo_addon_manifest_error(p->m, line_of(spec), "%s.%s: expected a mapping with 'type', got %s",
		                        section, f->name ? f->name : "?", node_kind(spec));
		return -1;
	}
	for (yaml_node_pair_t *pr = spec->data.mapping.pairs.start; pr < spec->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
		const char *ks = scalar(k);
		if (ks && strcmp(ks, "name") == 0 && name_from_spec)
			want_string(p, yaml_document_get_node(p->doc, pr->value), section, &f->name);
	}
	if (!f->name) {
		wo_addon_manifest_error(p->m, line_of(spec), "%s: missing 'name'", section);
		return -1;
	}
	if (!valid_ident(f->name, 0)) {
		wo_addon_manifest_error(p->m, f->line, "%s.%s: invalid name; expected lowercase letters, digits "
		                        "and '_', starting with a letter", section, f->name);
		bad = 1;
	}
	f->type = WO_FIELD_STRING;
	for (yaml_node_pair_t *pr = spec->data.mapping.pairs.start; pr < spec->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		const char *ks = scalar(k);
		if (!ks) {
			wo_addon_manifest_error(p->m, line_of(k), "%s.%s: keys must be strings", section, f->name);
			bad = 1;
			continue;
		}
		snprintf(what, sizeof(what), "%s.%s.%s", section, f->name, ks);
		int64_t iv;
		if (strcmp(ks, "name") == 0 && name_from_spec)
			continue;
		else if (strcmp(ks, "type") == 0)
			type_node = v;
		else if (strcmp(ks, "default") == 0)
			dflt_node = v;
		else if (strcmp(ks, "choices") == 0 || strcmp(ks, "options") == 0 || strcmp(ks, "enum") == 0)
			choices_node = v;
		else if (strcmp(ks, "label") == 0 || strcmp(ks, "title") == 0)
			bad |= want_string(p, v, what, &f->label) < 0;
		else if (strcmp(ks, "help") == 0 || strcmp(ks, "description") == 0)
			bad |= want_string(p, v, what, &f->help) < 0;
		else if (strcmp(ks, "pattern") == 0)
			bad |= want_string(p, v, what, &f->pattern) < 0;
		else if (strcmp(ks, "min") == 0 || strcmp(ks, "minimum") == 0) {
			if (want_int(p, v, what, INT64_MIN, INT64_MAX, &iv) < 0)
				bad = 1;
			else {
				f->has_min = 1;
				f->min = iv;
			}
		} else if (strcmp(ks, "max") == 0 || strcmp(ks, "maximum") == 0) {
			if (want_int(p, v, what, INT64_MIN, INT64_MAX, &iv) < 0)
				bad = 1;
			else {
				f->has_max = 1;
				f->max = iv;
			}
		} else if (strcmp(ks, "required") == 0)
			bad |= want_bool(p, v, what, &f->required) < 0;
		else if (strcmp(ks, "secret") == 0)
			bad |= want_bool(p, v, what, &f->secret) < 0;
		else if (strcmp(ks, "host_ports") == 0)
			bad |= want_bool(p, v, what, &f->host_ports) < 0;
		else if (strcmp(ks, "scope") == 0) {
			const char *sv = scalar(v);
			if (strcmp(section, "settings_schema") != 0) {
				wo_addon_manifest_error(p->m, line_of(k), "%s: 'scope' applies to settings_schema only", what);
				bad = 1;
			} else if (sv && !strcmp(sv, "host")) {
				f->host_scope = 1;
			} else if (!sv || strcmp(sv, "admin") != 0) {
				wo_addon_manifest_error(p->m, line_of(v), "%s: expected host or admin, not %s%s%s", what,
				                        sv ? "'" : "", sv ? sv : node_kind(v), sv ? "'" : "");
				bad = 1;
			}
		} else
			manifest_warn(p->m, line_of(k), "%s: unknown key '%s' ignored", section, ks);
	}
	if (type_node) {
		const char *ts = scalar(type_node);
		if (!ts || wo_field_type_parse(&f->type, ts) < 0) {
			wo_addon_manifest_error(p->m, line_of(type_node), "%s.%s.type: unknown type %s%s%s; expected "
			                        "bool, int, string, enum, list or map", section, f->name,
			                        ts ? "'" : "", ts ? ts : node_kind(type_node), ts ? "'" : "");
			return -1;
		}
	} else if (choices_node) {
		f->type = WO_FIELD_ENUM;
	}
	if (f->host_ports && f->type != (strcmp(section, "settings_schema") == 0 ? WO_FIELD_INT : WO_FIELD_LIST)) {
		wo_addon_manifest_error(p->m, f->line, "%s.%s.host_ports: applies to %s", section, f->name,
		                        strcmp(section, "settings_schema") == 0 ? "int settings (a port the addon listens on)"
		                        : "list fields of port mappings ([ip:]host:container[/proto])");
		bad = 1;
	}
	if (choices_node) {
		snprintf(what, sizeof(what), "%s.%s.choices", section, f->name);
		if (want_strv(p, choices_node, what, &f->choices, &f->nchoices) < 0)
			bad = 1;
		else if (f->type != WO_FIELD_ENUM && f->type != WO_FIELD_LIST) {
			wo_addon_manifest_error(p->m, line_of(choices_node), "%s: choices apply to enum and list fields, "
			                        "not %s", what, wo_field_type_name(f->type));
			bad = 1;
		}
	}
	if (f->type == WO_FIELD_ENUM && !f->nchoices && !bad) {
		wo_addon_manifest_error(p->m, f->line, "%s.%s: an enum needs 'choices' (a list of allowed values)",
		                        section, f->name);
		bad = 1;
	}
	if (f->pattern) {
		struct wo_buf err = WO_BUF_INIT;
		if (f->type == WO_FIELD_BOOL || f->type == WO_FIELD_INT) {
			wo_addon_manifest_error(p->m, f->line, "%s.%s.pattern: a pattern applies to string, enum, list "
			                        "and map fields, not %s", section, f->name, wo_field_type_name(f->type));
			free(f->pattern);
			f->pattern = NULL;
			bad = 1;
		} else if (wo_addon_field_compile(f, &err) < 0) {
			wo_addon_manifest_error(p->m, f->line, "%s.%s.pattern: %s", section, f->name, wo_buf_cstr(&err));
			bad = 1;
		}
		wo_buf_release(&err);
	}
	if ((f->has_min || f->has_max) && f->type == WO_FIELD_BOOL) {
		wo_addon_manifest_error(p->m, f->line, "%s.%s: min/max do not apply to a bool", section, f->name);
		bad = 1;
	}
	if (f->has_min && f->has_max && f->min > f->max) {
		wo_addon_manifest_error(p->m, f->line, "%s.%s: min %lld is above max %lld", section, f->name,
		                        (long long)f->min, (long long)f->max);
		bad = 1;
	}
	if (dflt_node && !bad) {
		snprintf(what, sizeof(what), "%s.%s.default", section, f->name);
		const char *ds = scalar(dflt_node);
		int null_default = ds && is_plain(dflt_node) && (!*ds || strcmp(ds, "~") == 0 || strcmp(ds, "null") == 0);
		if (!null_default) {
			json_t *d = yaml_to_typed(p, dflt_node, f->type, what);
			if (!d)
				return -1;
			struct wo_buf err = WO_BUF_INIT;
			if (wo_addon_field_check(f, d, &err) < 0) {
				wo_addon_manifest_error(p->m, line_of(dflt_node), "%s: %s", what, wo_buf_cstr(&err));
				json_decref(d);
				wo_buf_release(&err);
				return -1;
			}
			wo_buf_release(&err);
			f->dflt = d;
		}
	}
	return bad ? -1 : 0;
}

/* deployment_fields / settings_schema: a mapping name -> spec, or a list of specs with `name`. */
static void parse_fields(struct parse *p, yaml_node_t *n, const char *section,
                         struct wo_addon_field **out, size_t *nout)
{
	size_t cap;
	if (n->type == YAML_MAPPING_NODE)
		cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	else if (n->type == YAML_SEQUENCE_NODE)
		cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	else {
		const char *s = scalar(n);
		if (s && is_plain(n) && (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
			return;
		wo_addon_manifest_error(p->m, line_of(n), "%s: expected a mapping of names to field specs, got %s",
		                        section, node_kind(n));
		return;
	}
	struct wo_addon_field *fields = calloc(cap ? cap : 1, sizeof(*fields));
	if (!fields)
		return;
	size_t k = 0;
	for (size_t i = 0; i < cap; i++) {
		struct wo_addon_field *f = &fields[k];
		yaml_node_t *spec;
		if (n->type == YAML_MAPPING_NODE) {
			yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
			yaml_node_t *key = yaml_document_get_node(p->doc, pr->key);
			spec = yaml_document_get_node(p->doc, pr->value);
			f->line = line_of(key);
			if (want_string(p, key, section, &f->name) < 0)
				continue;
			if (parse_field_spec(p, f, spec, section, 0) < 0) {
				wo_addon_field_release(f);
				continue;
			}
		} else {
			spec = yaml_document_get_node(p->doc, n->data.sequence.items.start[i]);
			f->line = line_of(spec);
			if (parse_field_spec(p, f, spec, section, 1) < 0) {
				wo_addon_field_release(f);
				continue;
			}
		}
		int dup = 0;
		for (size_t j = 0; j < k; j++) {
			if (strcmp(fields[j].name, f->name) == 0) {
				wo_addon_manifest_error(p->m, f->line, "%s: duplicate name '%s' (first at line %d)",
				                        section, f->name, fields[j].line);
				dup = 1;
			}
		}
		if (dup) {
			wo_addon_field_release(f);
			continue;
		}
		k++;
	}
	*out = fields;
	*nout = k;
}

/* ---- hooks ---- */

static int parse_conditions(struct parse *p, struct wo_addon_hook *h, yaml_node_t *n, const char *what)
{
	if (!n || n->type != YAML_MAPPING_NODE) {
		wo_addon_manifest_error(p->m, line_of(n), "%s: expected a mapping of field names to values, got %s",
		                        what, node_kind(n));
		return -1;
	}
	json_t *cond = json_object();
	if (!cond)
		return -1;
	int bad = 0;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		const char *ks = scalar(k);
		if (!ks || scalar_has_nul(k) || !*ks) {
			wo_addon_manifest_error(p->m, line_of(k), "%s: expected a field name", what);
			bad = 1;
			continue;
		}
		/* typed by this addon's declaration when it has one */
		const struct wo_addon_field *f = strchr(ks, '.') ? NULL : wo_addon_manifest_field(p->m, ks);
		char cwhat[200];
		snprintf(cwhat, sizeof(cwhat), "%s.%s", what, ks);
		json_t *val = NULL;
		if (v && v->type == YAML_SEQUENCE_NODE) {
			/* a list: any of these values */
			val = json_array();
			for (yaml_node_item_t *it = v->data.sequence.items.start; val && it < v->data.sequence.items.top; it++) {
				yaml_node_t *item = yaml_document_get_node(p->doc, *it);
				json_t *j = f && f->type != WO_FIELD_LIST && f->type != WO_FIELD_MAP
				                ? yaml_to_typed(p, item, f->type, cwhat) : yaml_scalar_guess(item);
				if (!j) {
					if (!f)
						wo_addon_manifest_error(p->m, line_of(item), "%s: expected a scalar value", cwhat);
					json_decref(val);
					val = NULL;
					break;
				}
				json_array_append_new(val, j);
			}
		} else if (f) {
			val = yaml_to_typed(p, v, f->type, cwhat);
		} else {
			val = yaml_scalar_guess(v);
			if (!val)
				wo_addon_manifest_error(p->m, line_of(v), "%s: expected a scalar value, got %s", cwhat, node_kind(v));
		}
		if (!val) {
			bad = 1;
			continue;
		}
		if (!f && !strchr(ks, '.'))
			manifest_warn(p->m, line_of(k), "%s: '%s' is not a field this addon declares; it is looked up "
			              "among the deployment's columns", what, ks);
		json_object_set_new(cond, ks, val);
	}
	if (bad) {
		json_decref(cond);
		return -1;
	}
	json_decref(h->conditions); /* a repeated `conditions:` key: the last wins */
	h->conditions = cond;
	return 0;
}

static int parse_hook(struct parse *p, struct wo_addon_hook *h, yaml_node_t *n, const char *evname, size_t idx)
{
	char base[96], what[160];
	snprintf(base, sizeof(base), "hooks.%s[%zu]", evname, idx);
	h->priority = 100;
	h->timeout_ms = wo_event_default_timeout_ms(h->event);
	h->retries = 0;
	h->retry_initial_delay_ms = 1000;
	h->retry_backoff = 2.0;
	h->required = wo_event_default_required(h->event);
	h->line = line_of(n);

	if (n && n->type == YAML_SCALAR_NODE) {
		/* shorthand: `pre_deploy: my_handler` */
		if (want_string(p, n, base, &h->handler) < 0)
			return -1;
	} else if (!n || n->type != YAML_MAPPING_NODE) {
		wo_addon_manifest_error(p->m, line_of(n), "%s: expected a mapping with 'handler', got %s", base, node_kind(n));
		return -1;
	} else {
		int bad = 0;
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
			yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
			const char *ks = scalar(k);
			int64_t iv;
			if (!ks) {
				wo_addon_manifest_error(p->m, line_of(k), "%s: keys must be strings", base);
				bad = 1;
				continue;
			}
			snprintf(what, sizeof(what), "%s.%s", base, ks);
			if (strcmp(ks, "handler") == 0) {
				bad |= want_string(p, v, what, &h->handler) < 0;
			} else if (strcmp(ks, "priority") == 0) {
				if (want_int(p, v, what, -1000000, 1000000, &iv) < 0)
					bad = 1;
				else
					h->priority = (int)iv;
			} else if (strcmp(ks, "timeout_ms") == 0) {
				if (want_int(p, v, what, 1, 24LL * 3600 * 1000, &iv) < 0)
					bad = 1;
				else
					h->timeout_ms = (int)iv;
			} else if (strcmp(ks, "retries") == 0) {
				if (want_int(p, v, what, 0, 100, &iv) < 0)
					bad = 1;
				else
					h->retries = (int)iv;
			} else if (strcmp(ks, "retry_initial_delay_ms") == 0) {
				if (want_int(p, v, what, 0, 3600 * 1000, &iv) < 0)
					bad = 1;
				else
					h->retry_initial_delay_ms = (int)iv;
			} else if (strcmp(ks, "retry_backoff") == 0) {
				const char *s = scalar(v);
				char *end = NULL;
				double d = s ? strtod(s, &end) : 0;
				if (!s || !*s || *end || !(d >= 1.0 && d <= 100.0)) {
					wo_addon_manifest_error(p->m, line_of(v), "%s: expected a number from 1.0 to 100, got %s%s%s",
					                        what, s ? "'" : "", s ? s : node_kind(v), s ? "'" : "");
					bad = 1;
				} else {
					h->retry_backoff = d;
				}
			} else if (strcmp(ks, "enforcement") == 0) {
				const char *s = scalar(v);
				if (s && strcmp(s, "required") == 0)
					h->required = 1;
				else if (s && strcmp(s, "optional") == 0)
					h->required = 0;
				else {
					wo_addon_manifest_error(p->m, line_of(v), "%s: expected 'required' or 'optional', got %s%s%s",
					                        what, s ? "'" : "", s ? s : node_kind(v), s ? "'" : "");
					bad = 1;
				}
			} else if (strcmp(ks, "conditions") == 0) {
				bad |= parse_conditions(p, h, v, what) < 0;
			} else {
				manifest_warn(p->m, line_of(k), "%s: unknown key '%s' ignored", base, ks);
			}
		}
		if (bad)
			return -1;
	}
	if (!h->handler) {
		wo_addon_manifest_error(p->m, h->line, "%s: missing 'handler' (the symbol name in the library)", base);
		return -1;
	}
	if (!valid_symbol(h->handler)) {
		wo_addon_manifest_error(p->m, h->line, "%s.handler: '%s' is not a C symbol name", base, h->handler);
		return -1;
	}
	return 0;
}

static void parse_hooks(struct parse *p, yaml_node_t *n)
{
	if (n->type != YAML_MAPPING_NODE) {
		const char *s = scalar(n);
		if (s && is_plain(n) && (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
			return;
		wo_addon_manifest_error(p->m, line_of(n), "hooks: expected a mapping from event to a list of hooks, got %s",
		                        node_kind(n));
		return;
	}
	size_t cap = 0;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		cap += v && v->type == YAML_SEQUENCE_NODE
		           ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start) : 1;
	}
	struct wo_addon_hook *hooks = calloc(cap ? cap : 1, sizeof(*hooks));
	if (!hooks)
		return;
	size_t k = 0;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *key = yaml_document_get_node(p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		const char *evname = scalar(key);
		enum wo_event ev;
		if (!evname || wo_event_parse(&ev, evname) < 0) {
			wo_addon_manifest_error(p->m, line_of(key), "hooks: unknown event %s%s%s; expected pre_deploy, "
			                        "post_deploy, health, start, stop or delete (or pre_deployment, "
			                        "post_deployment, service_health_check)",
			                        evname ? "'" : "", evname ? evname : node_kind(key), evname ? "'" : "");
			continue;
		}
		if (v && v->type == YAML_SEQUENCE_NODE) {
			size_t idx = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++, idx++) {
				hooks[k].event = ev;
				if (parse_hook(p, &hooks[k], yaml_document_get_node(p->doc, *it), evname, idx) == 0)
					k++;
				else {
					free(hooks[k].handler);
					json_decref(hooks[k].conditions);
					memset(&hooks[k], 0, sizeof(hooks[k]));
				}
			}
		} else {
			hooks[k].event = ev;
			if (parse_hook(p, &hooks[k], v, evname, 0) == 0)
				k++;
			else {
				free(hooks[k].handler);
				json_decref(hooks[k].conditions);
				memset(&hooks[k], 0, sizeof(hooks[k]));
			}
		}
	}
	p->m->hooks = hooks;
	p->m->nhooks = k;
}

/* ---- top level ---- */

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static void parse_abi(struct parse *p, yaml_node_t *n)
{
	const char *s = scalar(n);
	unsigned maj = 0, min = 0;
	char extra;
	int k = s ? sscanf(s, "%u.%u%c", &maj, &min, &extra) : 0;
	if (!s || (k != 1 && k != 2) || maj > 65535 || min > 65535) {
		wo_addon_manifest_error(p->m, line_of(n), "abi: expected MAJOR or MAJOR.MINOR (this webops provides %d.%d), "
		                        "got %s%s%s", WEBOPS_ADDON_ABI_MAJOR, WEBOPS_ADDON_ABI_MINOR,
		                        s ? "'" : "", s ? s : node_kind(n), s ? "'" : "");
		return;
	}
	p->m->abi_major = (int)maj;
	p->m->abi_minor = k == 2 ? (int)min : 0;
	if (p->m->abi_major != WEBOPS_ADDON_ABI_MAJOR)
		wo_addon_manifest_error(p->m, line_of(n), "abi: the addon is written for addon ABI %d.%d but this webops "
		                        "provides ABI %d.%d (the major versions must be equal)", p->m->abi_major,
		                        p->m->abi_minor, WEBOPS_ADDON_ABI_MAJOR, WEBOPS_ADDON_ABI_MINOR);
	else if (p->m->abi_minor > WEBOPS_ADDON_ABI_MINOR)
		wo_addon_manifest_error(p->m, line_of(n), "abi: the addon needs addon ABI %d.%d but this webops provides "
		                        "only %d.%d (upgrade webops)", p->m->abi_major, p->m->abi_minor,
		                        WEBOPS_ADDON_ABI_MAJOR, WEBOPS_ADDON_ABI_MINOR);
}

static void parse_root(struct parse *p, yaml_node_t *root, int check_files)
{
	struct wo_addon_manifest *m = p->m;
	yaml_node_t *fields_node = NULL, *settings_node = NULL, *hooks_node = NULL, *name_node = NULL;

	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		const char *ks = scalar(k);
		if (!ks) {
			wo_addon_manifest_error(m, line_of(k), "keys must be strings");
			continue;
		}
		for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < pr; q++) {
			const char *qs = scalar(yaml_document_get_node(p->doc, q->key));
			if (qs && strcmp(qs, ks) == 0) {
				wo_addon_manifest_error(m, line_of(k), "duplicate key '%s'", ks);
				break;
			}
		}
		if (strcmp(ks, "name") == 0) {
			name_node = v;
			want_string(p, v, "name", &m->name);
		} else if (strcmp(ks, "version") == 0)
			want_string(p, v, "version", &m->version);
		else if (strcmp(ks, "description") == 0)
			want_string(p, v, "description", &m->description);
		else if (strcmp(ks, "author") == 0)
			want_string(p, v, "author", &m->author);
		else if (strcmp(ks, "license") == 0)
			want_string(p, v, "license", &m->license);
		else if (strcmp(ks, "capabilities") == 0)
			want_strv(p, v, "capabilities", &m->capabilities, &m->ncapabilities);
		else if (strcmp(ks, "library") == 0) {
			m->library_line = line_of(v);
			want_string(p, v, "library", &m->library);
		} else if (strcmp(ks, "abi") == 0)
			parse_abi(p, v);
		else if (strcmp(ks, "settings_schema") == 0 || strcmp(ks, "settings") == 0)
			settings_node = v;
		else if (strcmp(ks, "deployment_fields") == 0)
			fields_node = v;
		else if (strcmp(ks, "hooks") == 0)
			hooks_node = v;
		else
			manifest_warn(m, line_of(k), "unknown key '%s' ignored", ks);
	}

	if (!m->name) {
		if (!name_node)
			wo_addon_manifest_error(m, 1, "missing 'name' (the addon's name, e.g. name: hello)");
	} else if (!valid_ident(m->name, 1)) {
		wo_addon_manifest_error(m, line_of(name_node), "name: '%s' is not a valid addon name; expected lowercase "
		                        "letters, digits, '_' and '-', starting with a letter, at most 63 characters",
		                        m->name);
	}
	if (!m->version)
		manifest_warn(m, 1, "missing 'version'");
	/* fields first: hook conditions are typed by them */
	if (fields_node)
		parse_fields(p, fields_node, "deployment_fields", &m->fields, &m->nfields);
	if (settings_node)
		parse_fields(p, settings_node, "settings_schema", &m->settings, &m->nsettings);
	if (hooks_node)
		parse_hooks(p, hooks_node);

	if (m->library) {
		if (!*m->library) {
			wo_addon_manifest_error(m, m->library_line, "library: expected the path of the addon's .so");
		} else {
			struct wo_buf b = WO_BUF_INIT;
			if (m->library[0] == '/')
				wo_buf_puts(&b, m->library);
			else
				wo_buf_printf(&b, "%s/%s", m->dir, m->library);
			m->library_path = wo_buf_detach(&b);
			struct stat st;
			if (check_files && m->library_path && stat(m->library_path, &st) != 0)
				wo_addon_manifest_error(m, m->library_line, "library '%s' not found (looked for '%s'): %s; "
				                        "is the addon built?", m->library, m->library_path, strerror(errno));
		}
	} else if (m->nhooks) {
		wo_addon_manifest_error(m, hooks_node ? line_of(hooks_node) : 1,
		                        "missing 'library' (the .so holding the hook handlers, relative to the manifest)");
	}
}

int wo_addon_manifest_parse(struct wo_addon_manifest **out, const char *path,
                            const char *text, size_t len, int check_files)
{
	struct wo_addon_manifest *m = calloc(1, sizeof(*m));
	if (!m)
		return wo_error_set("out of memory");
	m->path = strdup(path);
	m->dir = dir_of(path);
	m->abi_major = m->abi_minor = -1;
	if (!m->path || !m->dir) {
		wo_addon_manifest_free(m);
		return wo_error_set("out of memory");
	}

	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser)) {
		wo_addon_manifest_free(m);
		return wo_error_set("out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		wo_addon_manifest_error(m, (int)parser.problem_mark.line + 1, "invalid YAML: %s%s%s",
		                        parser.problem ? parser.problem : "syntax error",
		                        parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		*out = m;
		return 0;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	struct parse p = {&doc, m};
	if (!root) {
		wo_addon_manifest_error(m, 1, "the manifest is empty; expected a mapping with at least 'name'");
	} else if (root->type != YAML_MAPPING_NODE) {
		wo_addon_manifest_error(m, line_of(root), "expected a mapping at the top (name: ..., hooks: ...), got %s",
		                        node_kind(root));
	} else {
		parse_root(&p, root, check_files);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	*out = m;
	return 0;
}

int wo_addon_manifest_load(struct wo_addon_manifest **out, const char *path)
{
	FILE *f = fopen(path, "rbe");
	struct wo_buf b;
	wo_buf_init(&b, MANIFEST_MAX_BYTES);
	int rc = 0;
	if (f) {
		char chunk[8192];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
			if (wo_buf_add(&b, chunk, n) < 0) {
				rc = -1;
				break;
			}
		}
		if (ferror(f))
			rc = -2;
		fclose(f);
	}
	if (!f || rc < 0) {
		struct wo_addon_manifest *m = calloc(1, sizeof(*m));
		if (!m) {
			wo_buf_release(&b);
			return wo_error_set("out of memory");
		}
		m->path = strdup(path);
		m->dir = dir_of(path);
		m->abi_major = m->abi_minor = -1;
		if (!f)
			wo_addon_manifest_error(m, 0, "%s", strerror(errno));
		else if (rc == -1)
			wo_addon_manifest_error(m, 0, "larger than %d bytes", MANIFEST_MAX_BYTES);
		else
			wo_addon_manifest_error(m, 0, "read error");
		wo_buf_release(&b);
		*out = m;
		return 0;
	}
	rc = wo_addon_manifest_parse(out, path, wo_buf_cstr(&b), b.len, 1);
	wo_buf_release(&b);
	return rc;
}
