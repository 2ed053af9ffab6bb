/* The web UI's pages (core/http/pages_*.c): what their files share. Each
 * page family lives in its own file; handlers are declared in handlers.h. */
#ifndef WO_HTTP_PAGES_INT_H
#define WO_HTTP_PAGES_INT_H

#include <jansson.h>

#include "addon/addon.h"
#include "http/http.h"
#include "util/buf.h"

#define LOG_LINES_MAX 20000

struct fv {
	const char *id, *name, *label, *help, *error, *value, *placeholder, *type_hint, *note, *clear_key;
	const char *controls;       /* id of the section a switch shows and hides */
	const char *kind;           /* "checkbox", "select", "textarea", "input" */
	const char *input_type, *inputmode, *autocomplete;
	json_t *choices;            /* [{value, text, selected}], stolen; NULL: none */
	int checked, required, rows;
};

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

void pg_utf8_clean(struct wo_buf *b, const char *s);
json_t *pg_jtext(const char *s);
void pg_set_text(json_t *o, const char *key, const char *s);
const char *pg_jstr(const json_t *o, const char *key);
void pg_put_segment(struct wo_buf *b, const char *s);
json_t *pg_jpath(const char *prefix, const char *segment, const char *suffix);
int pg_redirect_to(struct wo_req *req, const char *prefix, const char *segment, const char *suffix);
char *pg_trim_dup(const char *s, size_t n);
char *pg_trimmed(const char *s);
long long pg_parse_uint(const char *s);
int pg_render(struct wo_req *req, int status, const char *name, json_t *data);
int pg_render_section(struct wo_req *req, int status, const char *name, const char *nav, json_t *data);
int pg_message_page(struct wo_req *req, int status, const char *heading, const char *alert, const char *text,
			const char *back_href, const char *back_text);
int pg_not_found(struct wo_req *req, const char *text);
int pg_db_down(struct wo_req *req);
void pg_add_notice(json_t *data, struct wo_req *req);
json_t *pg_when_json(const json_t *v);
void pg_fmt_duration(char *out, size_t n, long long ms);
json_t *pg_run_duration(const json_t *run);
json_t *pg_short_sha(const char *sha);
int pg_run_active(const char *status);
json_t *pg_field_view(const struct fv *f);
void pg_field_append(json_t *fields, json_t *order, const json_t *errors, struct fv f);
void pg_add_choice(json_t *choices, const char *value, const char *text, int selected);
void pg_int_hint(char *out, size_t n, int has_min, long long min, int has_max, long long max);
int pg_line_count(const char *s);
char *pg_value_text(const json_t *v);
json_t *pg_lines_json(const char *s);
char *pg_list_text(const char *text);
char *pg_map_text(const char *text, const char *field, const char *addon, const char *what, struct wo_buf *err);
json_t *pg_errors_from(const char *msg);
void pg_add_summary(json_t *data, const json_t *errors, const json_t *order);
void pg_order_add(json_t *order, const char *key, const char *id);
void pg_dform_release(struct dform *f);
void pg_dform_init(struct dform *f, struct wo_req *req, const json_t *d);
int pg_set_error(json_t **errors, const char *key, const char *msg);
int pg_set_error_quoting(json_t **errors, const char *key, const char *before, const char *what, const char *after);
int pg_dform_post(struct dform *f, struct wo_req *req, json_t **input_out, json_t **text_out);
void pg_dform_probe(struct dform *f, const json_t *base, const json_t *input);
int pg_dform_save(json_t **out, struct dform *f, struct wo_req *req, const char *name, const json_t *base,
		  int posted, json_t *input, json_t *text);
json_t *pg_dform_view(const struct dform *f, const char *action, const char *submit, const char *cancel,
			  json_t *order);
json_t *pg_health_badge(const json_t *h);
json_t *pg_health_view(struct wo_req *req, const json_t *d);

#endif
