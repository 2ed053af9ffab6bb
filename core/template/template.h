/* Mustache templates over jansson values: compile once, render many times,
 * with partials and template inheritance loaded by name from a directory. */
#ifndef WO_TEMPLATE_TEMPLATE_H
#define WO_TEMPLATE_TEMPLATE_H

#include <stddef.h>

#include <jansson.h>

#include "util/buf.h"

/* A compiled template. Immutable once compiled, so one template may be
 * rendered from several threads at once. */
struct wo_tpl;

/* A templates directory plus a cache of compiled templates by name.
 * Not thread-safe: rendering may load partials into the cache, so use an
 * env (and every render that is given it) from one thread at a time. */
struct wo_tpl_env;

/* Writes the escaped form of s[0..len) to out; 0 or negative (the render
 * then fails; the escaper may set a wo_error message saying why). */
typedef int (*wo_tpl_escape_fn)(struct wo_buf *out, const char *s, size_t len, void *ud);

/* & < > " ' become entities. */
int wo_tpl_escape_html(struct wo_buf *out, const char *s, size_t len, void *ud);
/* Copies as is. */
int wo_tpl_escape_none(struct wo_buf *out, const char *s, size_t len, void *ud);
/* The escaper for every {{value}} in a Dockerfile template. Values are only
 * placed inside JSON strings of exec-form arrays, after FROM/COPY/ENV, or in
 * single quotes of a `sh -c` string, so the escaper admits only characters
 * that mean nothing in any of those: letters, digits and _ . , : / @ % + = -.
 * Anything else (quotes, '$', '\', spaces, newlines...) fails the render
 * with a message naming the value. */
int wo_tpl_escape_dockerfile(struct wo_buf *out, const char *s, size_t len, void *ud);
/* The escaper for every {{value}} in an nginx.conf template: like the
 * Dockerfile's, it admits letters, digits and _ . , : / @ % + = - only, so
 * no value can end a directive (';'), open or close a block, start a
 * comment, expand a variable ('$') or leave a quoted string. */
int wo_tpl_escape_nginx(struct wo_buf *out, const char *s, size_t len, void *ud);
/*
 * The escaper for every {{value}} in a systemd unit template. It looks at the line it
 * is writing into (the output so far) to pick the rules of that directive:
 *  - Environment=: the value becomes one double-quoted word; '\' '"' and
 *    control characters are C-escaped ("\n" for a newline), '%' becomes "%%";
 *    '$' stays as is (systemd does not expand variables there).
 *  - Exec*=: the same, and '$' becomes "$$" (systemd expands $VAR there).
 *  - any other line: the value is written as is with '%' doubled; a control
 *    character or a backslash (a line continuation) is refused.
 * So a value can never end its line, start a directive, or be expanded.
 */
int wo_tpl_escape_systemd(struct wo_buf *out, const char *s, size_t len, void *ud);
/* The escaper called name: html, none, dockerfile, nginx, systemd; NULL
 * for another name. */
wo_tpl_escape_fn wo_tpl_escaper(const char *name);

#define WO_TPL_OPTS_VERSION 1

struct wo_tpl_opts {
	int version;              /* WO_TPL_OPTS_VERSION */
	wo_tpl_escape_fn escape;  /* for {{name}}; NULL means wo_tpl_escape_html */
	void *escape_ud;          /* passed to escape */
	int strict;               /* a missing {{name}} or partial is an error */
	size_t max_steps;         /* 0: unlimited; else fail after rendering this many nodes */
};

#define WO_TPL_OPTS_INIT { WO_TPL_OPTS_VERSION, wo_tpl_escape_html, NULL, 0, 0 }

/* Returned by wo_tpl_env_get when no template has that name. */
#define WO_TPL_ENOTFOUND (-2)

/* Compiles src[0..len) (need not be NUL-terminated); name is used in error
 * messages ("template 'NAME', line L, column C: ..."). */
int wo_tpl_compile(struct wo_tpl **out, const char *name, const char *src, size_t len);
void wo_tpl_free(struct wo_tpl *tpl);
/* The name given to wo_tpl_compile; borrowed. */
const char *wo_tpl_name(const struct wo_tpl *tpl);

/* dir may be NULL: then only templates added with wo_tpl_env_add exist.
 * dir is copied. */
int wo_tpl_env_new(struct wo_tpl_env **out, const char *dir);
void wo_tpl_env_free(struct wo_tpl_env *env);
/* Compiles source (NUL-terminated) and caches it under name, replacing
 * (and freeing) any template of that name: pointers returned earlier for
 * that name are then invalid. */
int wo_tpl_env_add(struct wo_tpl_env *env, const char *name, const char *source);
/* The template called name: from the cache, else compiled from
 * "<dir>/<name>.mustache", else from "<dir>/<name>". The result is borrowed
 * from env and lives until env is freed (or name is replaced).
 * Names are relative paths that may contain '/' but no ".." component and
 * no leading '/'. Returns WO_TPL_ENOTFOUND when there is no such template. */
int wo_tpl_env_get(const struct wo_tpl **out, struct wo_tpl_env *env, const char *name);

/* Appends tpl rendered against data to out. env (may be NULL) supplies
 * partials and parents; data may be NULL (an empty context); opts may be NULL
 * (WO_TPL_OPTS_INIT). On failure out is left as it was and the wo_error
 * message says where: "template 'x', line 3, column 7: missing 'a.b'". */
int wo_tpl_render(struct wo_buf *out, struct wo_tpl_env *env, const struct wo_tpl *tpl,
		  const json_t *data, const struct wo_tpl_opts *opts);
/* wo_tpl_env_get then wo_tpl_render; a missing template is an error. */
int wo_tpl_render_file(struct wo_buf *out, struct wo_tpl_env *env, const char *name,
		       const json_t *data, const struct wo_tpl_opts *opts);

#endif
