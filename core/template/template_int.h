/* Internals shared by the template compiler (compile.c), renderer
 * (render.c) and cache (env.c): the compiled node tree. */
#ifndef WO_TEMPLATE_TEMPLATE_INT_H
#define WO_TEMPLATE_TEMPLATE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "template/template.h"

/* Deepest nesting of sections/blocks/parents one template may have, and of
 * sections + partials + blocks while rendering (recursive partials). Keeps
 * the (recursive) compiler and renderer within a small stack. */
#define WO_TPL__MAX_NEST 100
#define WO_TPL__MAX_RENDER_DEPTH 200

enum wo_tpl__kind {
	WO_TPL__TEXT,       /* str/len: literal text; line_start: indentation first */
	WO_TPL__LINESTART,  /* a template line starts: emit the current indentation */
	WO_TPL__VAR,        /* {{name}}: escaped */
	WO_TPL__RAW,        /* {{{name}}} or {{&name}} */
	WO_TPL__SECTION,    /* {{#name}}children{{/name}} */
	WO_TPL__INVERTED,   /* {{^name}}children{{/name}} */
	WO_TPL__PARTIAL,    /* {{>name}} */
	WO_TPL__PARENT,     /* {{<name}}blocks{{/name}}: children are the WO_TPL__BLOCK arguments */
	WO_TPL__BLOCK,      /* {{$name}}default{{/name}} */
};

/* A dotted name split into its parts; n == 0 is the implicit iterator ".". */
struct wo_tpl__path {
	size_t n;
	struct { const char *s; size_t len; } part[];
};

struct wo_tpl__node;

struct wo_tpl__list {
	struct wo_tpl__node *v;
	size_t n;
};

struct wo_tpl__node {
	enum wo_tpl__kind kind;
	uint32_t line, col;        /* of the tag's opening delimiter, 1-based */
	const char *str;           /* TEXT: the text; otherwise the tag's name as written */
	size_t len;
	struct wo_tpl__path *path; /* VAR, RAW, SECTION, INVERTED */
	char *cname;               /* PARTIAL, PARENT: name as a C string (for the env) */
	struct wo_tpl__list kids;  /* SECTION, INVERTED, BLOCK: body; PARENT: its blocks */
	const char *indent;        /* PARTIAL, PARENT, BLOCK when standalone: indentation to add */
	size_t indent_len;
	unsigned standalone : 1;   /* PARTIAL, PARENT, BLOCK: tag stood alone on its line(s) */
	unsigned inline_start : 1; /* BLOCK: the body starts mid-line */
	unsigned line_start : 1;   /* TEXT: a template line starts here (as LINESTART) */
};

struct wo_tpl {
	char *name;
	char *src;                 /* own copy of the source; nodes point into it */
	size_t len;
	struct wo_tpl__list root;
};

#endif
