/* Typed addon values: text parsing per declared type, rule checks (pattern,
 * min/max, choices) and text formatting, shared by fields and settings. */
#include "addon/field.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

static const char *const type_names[] = {
	[WO_FIELD_BOOL] = "bool", [WO_FIELD_INT] = "int", [WO_FIELD_STRING] = "string",
	[WO_FIELD_ENUM] = "enum", [WO_FIELD_LIST] = "list", [WO_FIELD_MAP] = "map",
};

const char *wo_field_type_name(enum wo_field_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "?";
}

int wo_field_type_parse(enum wo_field_type *out, const char *s)
{
	static const struct { const char *name; enum wo_field_type t; } names[] = {
		{"bool", WO_FIELD_BOOL}, {"boolean", WO_FIELD_BOOL},
		{"int", WO_FIELD_INT}, {"integer", WO_FIELD_INT},
		{"string", WO_FIELD_STRING}, {"str", WO_FIELD_STRING}, {"text", WO_FIELD_STRING},
		{"enum", WO_FIELD_ENUM}, {"choice", WO_FIELD_ENUM}, {"select", WO_FIELD_ENUM},
		{"list", WO_FIELD_LIST}, {"array", WO_FIELD_LIST},
		{"map", WO_FIELD_MAP}, {"object", WO_FIELD_MAP}, {"dict", WO_FIELD_MAP},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(names[i].name, s) == 0) {
			*out = names[i].t;
			return 0;
		}
	}
	return -1;
}

int wo_addon_parse_bool(const char *s)
{
	static const char *const yes[] = {"true", "1", "yes", "on", "y"};
	static const char *const no[] = {"false", "0", "no", "off", "n"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

int wo_addon_parse_int(int64_t *out, const char *s)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s || s[0] == ' ' || s[0] == '\t')
		return -1;
	*out = (int64_t)v;
	return 0;
}

void wo_addon_field_release(struct wo_addon_field *f)
{
	if (!f)
		return;
	free(f->name);
	json_decref(f->dflt);
	free(f->label);
	free(f->help);
	if (f->pattern)
		regfree(&f->re);
	free(f->pattern);
	for (size_t i = 0; i < f->nchoices; i++)
		free(f->choices[i]);
	free(f->choices);
	memset(f, 0, sizeof(*f));
}

int wo_addon_field_compile(struct wo_addon_field *f, struct wo_buf *err)
{
	if (!f->pattern)
		return 0;
	int rc = regcomp(&f->re, f->pattern, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char msg[256];
		regerror(rc, &f->re, msg, sizeof(msg));
		wo_buf_printf(err, "invalid pattern '%s': %s", f->pattern, msg);
		free(f->pattern);
		f->pattern = NULL;
		return -1;
	}
	return 0;
}

static int has_choice(const struct wo_addon_field *f, const char *s)
{
	for (size_t i = 0; i < f->nchoices; i++)
		if (strcmp(f->choices[i], s) == 0)
			return 1;
	return 0;
}

static void put_choices(const struct wo_addon_field *f, struct wo_buf *err)
{
	for (size_t i = 0; i < f->nchoices; i++)
		wo_buf_printf(err, "%s%s", i ? ", " : "", f->choices[i]);
}

static int check_string(const struct wo_addon_field *f, const char *s, const char *what, struct wo_buf *err)
{
	if (f->pattern && regexec(&f->re, s, 0, NULL, 0) != 0) {
		/* the field's help says in words what the pattern allows */
		if (f->help)
			wo_buf_printf(err, "%s'%s' is not allowed: %s", what, s, f->help);
		else
			wo_buf_printf(err, "%s'%s' does not match the pattern '%s'", what, s, f->pattern);
		return -1;
	}
	return 0;
}

static int check_count(const struct wo_addon_field *f, int64_t n, const char *unit, struct wo_buf *err)
{
	if (f->has_min && n < f->min) {
		wo_buf_printf(err, "expected at least %lld %s, got %lld", (long long)f->min, unit, (long long)n);
		return -1;
	}
	if (f->has_max && n > f->max) {
		wo_buf_printf(err, "expected at most %lld %s, got %lld", (long long)f->max, unit, (long long)n);
		return -1;
	}
	return 0;
}

int wo_addon_field_check(const struct wo_addon_field *f, const json_t *v, struct wo_buf *err)
{
	switch (f->type) {
	case WO_FIELD_BOOL:
		if (!json_is_boolean(v)) {
			wo_buf_puts(err, "expected true or false");
			return -1;
		}
		return 0;
	case WO_FIELD_INT: {
		if (!json_is_integer(v)) {
			wo_buf_puts(err, "expected an integer");
			return -1;
		}
		int64_t n = (int64_t)json_integer_value(v);
		if (f->has_min && n < f->min) {
			wo_buf_printf(err, "%lld is below the minimum %lld", (long long)n, (long long)f->min);
			return -1;
		}
		if (f->has_max && n > f->max) {
			wo_buf_printf(err, "%lld is above the maximum %lld", (long long)n, (long long)f->max);
			return -1;
		}
		return 0;
	}
	case WO_FIELD_STRING:
	case WO_FIELD_ENUM: {
		if (!json_is_string(v)) {
			wo_buf_puts(err, "expected a string");
			return -1;
		}
		const char *s = json_string_value(v);
		if (strlen(s) != json_string_length(v)) {
			wo_buf_puts(err, "a NUL byte is not allowed");
			return -1;
		}
		if (f->type == WO_FIELD_ENUM && !has_choice(f, s)) {
			wo_buf_printf(err, "'%s' is not one of: ", s);
			put_choices(f, err);
			return -1;
		}
		if (f->type == WO_FIELD_STRING && check_count(f, (int64_t)strlen(s), "characters", err) < 0)
			return -1;
		return check_string(f, s, "", err);
	}
	case WO_FIELD_LIST: {
		if (!json_is_array(v)) {
			wo_buf_puts(err, "expected a list");
			return -1;
		}
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item) {
			if (!json_is_string(item) || strlen(json_string_value(item)) != json_string_length(item)) {
				wo_buf_printf(err, "item %zu: expected a string", i + 1);
				return -1;
			}
			const char *s = json_string_value(item);
			if (f->nchoices && !has_choice(f, s)) {
				wo_buf_printf(err, "item '%s' is not one of: ", s);
				put_choices(f, err);
				return -1;
			}
			if (check_string(f, s, "item ", err) < 0)
				return -1;
		}
		return check_count(f, (int64_t)json_array_size(v), "items", err);
	}
	case WO_FIELD_MAP: {
		if (!json_is_object(v)) {
			wo_buf_puts(err, "expected a map");
			return -1;
		}
		const char *k;
		json_t *item;
		json_object_foreach((json_t *)v, k, item) {
			if (!*k) {
				wo_buf_puts(err, "an empty key is not allowed");
				return -1;
			}
			if (!json_is_string(item) || strlen(json_string_value(item)) != json_string_length(item)) {
				wo_buf_printf(err, "key '%s': expected a string value", k);
				return -1;
			}
			if (f->pattern && regexec(&f->re, json_string_value(item), 0, NULL, 0) != 0) {
				if (f->help)
					wo_buf_printf(err, "key '%s': value '%s' is not allowed: %s", k,
					              json_string_value(item), f->help);
				else
					wo_buf_printf(err, "key '%s': value '%s' does not match the pattern '%s'", k,
					              json_string_value(item), f->pattern);
				return -1;
			}
		}
		return check_count(f, (int64_t)json_object_size(v), "entries", err);
	}
	}
	wo_buf_puts(err, "unknown type");
	return -1;
}

static char *trim_dup(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return strndup(s, n);
}

/* list: "a,b,c" (items trimmed; "" is the empty list) */
static json_t *parse_csv_list(const char *text)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	const char *p = text;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return arr;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *item = trim_dup(p, n);
		if (!item || json_array_append_new(arr, json_string(item)) < 0) {
			free(item);
			json_decref(arr);
			return NULL;
		}
		free(item);
		if (!comma)
			break;
		p = comma + 1;
	}
	return arr;
}

/* map: "K=V,K=V" */
static json_t *parse_kv_map(const char *text, struct wo_buf *err)
{
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	const char *p = text;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return obj;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		if (!eq) {
			wo_buf_printf(err, "expected KEY=VALUE, got '%.*s'", (int)n, p);
			json_decref(obj);
			return NULL;
		}
		char *k = trim_dup(p, (size_t)(eq - p));
		char *v = trim_dup(eq + 1, n - (size_t)(eq - p) - 1);
		if (!k || !v || !*k) {
			if (k && !*k)
				wo_buf_puts(err, "an empty key is not allowed");
			free(k);
			free(v);
			json_decref(obj);
			return NULL;
		}
		json_object_set_new(obj, k, json_string(v));
		free(k);
		free(v);
		if (!comma)
			break;
		p = comma + 1;
	}
	return obj;
}

int wo_addon_field_parse(json_t **out, const struct wo_addon_field *f, const char *text, struct wo_buf *err)
{
	json_t *v = NULL;
	switch (f->type) {
	case WO_FIELD_BOOL: {
		int b = wo_addon_parse_bool(text);
		if (b < 0) {
			wo_buf_printf(err, "expected true or false (or yes/no, 1/0), got '%s'", text);
			return -1;
		}
		v = json_boolean(b);
		break;
	}
	case WO_FIELD_INT: {
		int64_t n;
		if (wo_addon_parse_int(&n, text) < 0) {
			wo_buf_printf(err, "expected an integer, got '%s'", text);
			return -1;
		}
		v = json_integer((json_int_t)n);
		break;
	}
	case WO_FIELD_STRING:
	case WO_FIELD_ENUM:
		v = json_string(text);
		if (!v) {
			wo_buf_puts(err, "expected valid UTF-8 text");
			return -1;
		}
		break;
	case WO_FIELD_LIST:
	case WO_FIELD_MAP: {
		const char *p = text;
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		int is_list = f->type == WO_FIELD_LIST;
		if (*p == (is_list ? '[' : '{')) {
			json_error_t jerr;
			v = json_loads(p, JSON_REJECT_DUPLICATES, &jerr);
			if (!v) {
				wo_buf_printf(err, "invalid JSON %s: %s", is_list ? "array" : "object", jerr.text);
				return -1;
			}
		} else {
			v = is_list ? parse_csv_list(text) : parse_kv_map(text, err);
			if (!v) {
				if (!err->len)
					wo_buf_puts(err, "out of memory");
				return -1;
			}
		}
		break;
	}
	}
	if (!v) {
		wo_buf_puts(err, "out of memory");
		return -1;
	}
	if (wo_addon_field_check(f, v, err) < 0) {
		json_decref(v);
		return -1;
	}
	*out = v;
	return 0;
}

char *wo_addon_field_format(const json_t *v)
{
	if (!v)
		return NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return strndup(json_string_value(v), json_string_length(v));
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	case JSON_NULL:
		return NULL;
	default:
		return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	}
}
