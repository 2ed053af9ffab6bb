/* Mustache renderer: walks a compiled template against a jansson value,
 * with a context stack, partials, parents/blocks and indentation. */
#include "template/template_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/banned.h"

/* The arguments of one {{<parent}} being rendered; frames chain outwards. */
struct frame {
	const struct wo_tpl__node *parent;
	const struct wo_tpl *tpl;          /* the template the parent tag is in */
	const struct frame *next;
};

struct rstate {
	struct wo_buf *out;
	size_t out_start;
	struct wo_tpl_env *env;
	wo_tpl_escape_fn escape;
	void *escape_ud;
	int strict;
	size_t max_steps, steps;
	int depth;
	const struct wo_tpl *tpl;          /* whose nodes are being rendered, for messages */
	const json_t **ctx;                /* context stack, top last */
	size_t nctx, capctx;
	struct wo_buf ind;                 /* indentation: ind.ptr[ind_base..ind.len) applies */
	size_t ind_base;
	const struct frame *frames;
	struct {                           /* partial lookups of this render, by tag */
		const struct wo_tpl__node *nd;
		const struct wo_tpl *tpl;
	} memo[16];
};

/* wo_buf_add without the call when there is room: most appends are short. */
static inline int add(struct wo_buf *b, const char *s, size_t len)
{
	if (b->ptr && len < b->cap - b->len && (!b->max || len <= b->max - b->len)) {
		memcpy(b->ptr + b->len, s, len);
		b->len += len;
		b->ptr[b->len] = '\0';
		return 0;
	}
	return wo_buf_add(b, s, len);
}

/* Non-zero for the bytes HTML escaping replaces. */
static const unsigned char html_special[256] = {
	['&'] = 1, ['<'] = 1, ['>'] = 1, ['"'] = 1, ['\''] = 1,
};

int wo_tpl_escape_html(struct wo_buf *out, const char *s, size_t len, void *ud)
{
	size_t i = 0;
	(void)ud;
	for (;;) {
		size_t run = i;
		while (i < len && !html_special[(unsigned char)s[i]])
			i++;
		if (add(out, s + run, i - run) < 0)
			return wo_error_set("output exceeds %zu bytes", out->max);
		if (i == len)
			return 0;
		const char *rep;
		size_t rlen;
		switch (s[i]) {
		case '&': rep = "&amp;"; rlen = 5; break;
		case '<': rep = "&lt;"; rlen = 4; break;
		case '>': rep = "&gt;"; rlen = 4; break;
		case '"': rep = "&quot;"; rlen = 6; break;
		default: rep = "&#39;"; rlen = 5; break;
		}
		if (add(out, rep, rlen) < 0)
			return wo_error_set("output exceeds %zu bytes", out->max);
		i++;
	}
}

int wo_tpl_escape_none(struct wo_buf *out, const char *s, size_t len, void *ud)
{
	(void)ud;
	if (add(out, s, len) < 0)
		return wo_error_set("output exceeds %zu bytes", out->max);
	return 0;
}

static int rerr(const struct rstate *rs, const struct wo_tpl__node *nd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rerr(const struct rstate *rs, const struct wo_tpl__node *nd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wo_error_set("template '%s', line %u, column %u: %s", rs->tpl->name,
			    (unsigned)nd->line, (unsigned)nd->col, msg);
}

/* Prefixes whatever a callee reported with the location of nd. */
static int rerr_prefix(const struct rstate *rs, const struct wo_tpl__node *nd)
{
	return wo_error_prefix("template '%s', line %u, column %u", rs->tpl->name,
			       (unsigned)nd->line, (unsigned)nd->col);
}

static int shown(size_t len)
{
	return len > 64 ? 64 : (int)len;
}

static inline int put(struct rstate *rs, const struct wo_tpl__node *nd, const char *s, size_t len)
{
	if (add(rs->out, s, len) < 0)
		return rerr(rs, nd, "output exceeds %zu bytes", rs->out->max);
	return 0;
}

static int at_line_start(const struct rstate *rs)
{
	const struct wo_buf *o = rs->out;
	return o->len == rs->out_start || o->ptr[o->len - 1] == '\n';
}

static inline int put_indent(struct rstate *rs, const struct wo_tpl__node *nd)
{
	if (rs->ind.len > rs->ind_base && at_line_start(rs))
		return put(rs, nd, rs->ind.ptr + rs->ind_base, rs->ind.len - rs->ind_base);
	return 0;
}

static int push_indent(struct rstate *rs, const struct wo_tpl__node *nd)
{
	if (nd->indent_len && wo_buf_add(&rs->ind, nd->indent, nd->indent_len) < 0)
		return rerr(rs, nd, "out of memory");
	return 0;
}

static int push_ctx(struct rstate *rs, const struct wo_tpl__node *nd, const json_t *v)
{
	if (rs->nctx == rs->capctx) {
		size_t ncap = rs->capctx ? rs->capctx * 2 : 16;
		const json_t **n = realloc(rs->ctx, ncap * sizeof(*n));
		if (!n)
			return rerr(rs, nd, "out of memory");
		rs->ctx = n;
		rs->capctx = ncap;
	}
	rs->ctx[rs->nctx++] = v;
	return 0;
}

/* Spec name resolution: the first part is looked up from the top of the
 * context stack down, the other parts only inside what the previous found. */
static const json_t *lookup(const struct rstate *rs, const struct wo_tpl__path *p)
{
	if (p->n == 0)
		return rs->nctx ? rs->ctx[rs->nctx - 1] : NULL;
	const json_t *v = NULL;
	for (size_t i = rs->nctx; i-- > 0;) {
		const json_t *c = rs->ctx[i];
		if (json_is_object(c) && (v = json_object_getn(c, p->part[0].s, p->part[0].len)))
			break;
	}
	for (size_t k = 1; v && k < p->n; k++)
		v = json_is_object(v) ? json_object_getn(v, p->part[k].s, p->part[k].len) : NULL;
	return v;
}

/* Missing, null, false, "" and [] are false; everything else is true. */
static int truthy(const json_t *v)
{
	if (!v)
		return 0;
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE:
		return 0;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	default:
		return 1;
	}
}

static size_t fmt_int(char *buf, json_int_t v)
{
	char tmp[24];
	size_t n = 0, len = 0;
	/* negate in unsigned arithmetic: JSON_INTEGER_MIN has no positive twin */
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	return len;
}

/* The shortest "%g" that reads back as the same double: 1.21, not 1.2099999999999999. */
static size_t fmt_real(char *buf, size_t size, double d)
{
	int n = 0;
	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return n < 0 ? 0 : (size_t)n;
}

static int interpolate(struct rstate *rs, const struct wo_tpl__node *nd)
{
	const json_t *v = lookup(rs, nd->path);
	if (!v) {
		if (rs->strict)
			return rerr(rs, nd, "missing '%.*s'", shown(nd->len), nd->str);
		return 0;
	}
	char num[64];
	char *dump = NULL;
	const char *s;
	size_t len;
	switch (json_typeof(v)) {
	case JSON_STRING:
		s = json_string_value(v);
		len = json_string_length(v);
		break;
	case JSON_INTEGER:
		len = fmt_int(num, json_integer_value(v));
		s = num;
		break;
	case JSON_REAL:
		len = fmt_real(num, sizeof(num), json_real_value(v));
		s = num;
		break;
	case JSON_TRUE:
		s = "true";
		len = 4;
		break;
	case JSON_FALSE:
		s = "false";
		len = 5;
		break;
	case JSON_NULL:
		return 0;
	default: /* objects and arrays: compact JSON */
		dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!dump)
			return rerr(rs, nd, "cannot serialise '%.*s'", shown(nd->len), nd->str);
		s = dump;
		len = strlen(dump);
		break;
	}
	int r;
	if (nd->kind == WO_TPL__VAR) {
		wo_error_clear();
		r = rs->escape(rs->out, s, len, rs->escape_ud);
		if (r < 0) {
			if (*wo_error_last())
				wo_error_prefix("template '%s', line %u, column %u: cannot escape '%.*s'",
						rs->tpl->name, (unsigned)nd->line, (unsigned)nd->col,
						shown(nd->len), nd->str);
			else
				rerr(rs, nd, "cannot escape '%.*s'", shown(nd->len), nd->str);
		}
	} else {
		r = put(rs, nd, s, len);
	}
	free(dump);
	return r < 0 ? -1 : 0;
}

static int render_list(struct rstate *rs, const struct wo_tpl__list *l);

static int enter(struct rstate *rs, const struct wo_tpl__node *nd)
{
	if (++rs->depth > WO_TPL__MAX_RENDER_DEPTH)
		return rerr(rs, nd, "'%.*s' nested more than %d deep (recursive partial?)",
			    shown(nd->len), nd->str, WO_TPL__MAX_RENDER_DEPTH);
	return 0;
}

static int section(struct rstate *rs, const struct wo_tpl__node *nd)
{
	const json_t *v = lookup(rs, nd->path);
	if (nd->kind == WO_TPL__INVERTED)
		return truthy(v) ? 0 : render_list(rs, &nd->kids);
	if (!truthy(v))
		return 0;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (push_ctx(rs, nd, json_array_get(v, i)) < 0)
				return -1;
			int r = render_list(rs, &nd->kids);
			rs->nctx--;
			if (r < 0)
				return -1;
		}
		return 0;
	}
	if (push_ctx(rs, nd, v) < 0)
		return -1;
	int r = render_list(rs, &nd->kids);
	rs->nctx--;
	return r;
}

/* {{>name}} and {{<name}}: render another template in place. A standalone
 * tag indents every line of it; an inline one starts without indentation. */
static int include(struct rstate *rs, const struct wo_tpl__node *nd)
{
	const struct wo_tpl *t = NULL;
	size_t slot = ((uintptr_t)nd / sizeof(*nd)) % (sizeof(rs->memo) / sizeof(rs->memo[0]));
	int r = 0;
	if (rs->memo[slot].nd == nd)
		t = rs->memo[slot].tpl;
	else if (!rs->env)
		r = WO_TPL_ENOTFOUND;
	else if ((r = wo_tpl_env_get(&t, rs->env, nd->cname)) == 0) {
		/* safe for this render: nothing is removed from the env meanwhile */
		rs->memo[slot].nd = nd;
		rs->memo[slot].tpl = t;
	}
	if (r == WO_TPL_ENOTFOUND) {
		if (rs->strict)
			return rerr(rs, nd, "missing partial '%s'", nd->cname);
		return 0;
	}
	if (r < 0)
		return rerr_prefix(rs, nd);

	size_t ind_len = rs->ind.len, ind_base = rs->ind_base;
	const struct wo_tpl *tpl = rs->tpl;
	const struct frame *frames = rs->frames;
	struct frame f = { nd, rs->tpl, rs->frames };
	if (nd->standalone) {
		if (push_indent(rs, nd) < 0)
			return -1;
	} else {
		rs->ind_base = rs->ind.len;
	}
	if (nd->kind == WO_TPL__PARENT)
		rs->frames = &f;
	rs->tpl = t;
	r = render_list(rs, &t->root);
	rs->tpl = tpl;
	rs->frames = frames;
	rs->ind_base = ind_base;
	wo_buf_truncate(&rs->ind, ind_len);
	return r;
}

/* {{$name}}: the outermost parent that passes an argument of that name
 * wins (spec: top-level substitutions take precedence); else the default. */
static int block(struct rstate *rs, const struct wo_tpl__node *nd)
{
	const struct wo_tpl__node *arg = NULL;
	const struct wo_tpl *arg_tpl = NULL;
	for (const struct frame *f = rs->frames; f; f = f->next) {
		const struct wo_tpl__list *args = &f->parent->kids;
		for (size_t i = 0; i < args->n; i++) {
			if (args->v[i].len == nd->len && memcmp(args->v[i].str, nd->str, nd->len) == 0) {
				arg = &args->v[i];
				arg_tpl = f->tpl;
				break;
			}
		}
	}
	const struct wo_tpl__list *body = arg ? &arg->kids : &nd->kids;
	int starts_inline = arg ? arg->inline_start : nd->inline_start;

	size_t ind_len = rs->ind.len;
	const struct wo_tpl *tpl = rs->tpl;
	if (nd->standalone) {
		if (push_indent(rs, nd) < 0)
			return -1;
		if (starts_inline && put_indent(rs, nd) < 0)
			return -1;
	}
	if (arg)
		rs->tpl = arg_tpl;
	int r = render_list(rs, body);
	rs->tpl = tpl;
	wo_buf_truncate(&rs->ind, ind_len);
	return r;
}

static int render_list(struct rstate *rs, const struct wo_tpl__list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct wo_tpl__node *nd = &l->v[i];
		if (rs->max_steps && ++rs->steps > rs->max_steps)
			return rerr(rs, nd, "rendering takes more than %zu steps", rs->max_steps);
		int r = 0;
		switch (nd->kind) {
		case WO_TPL__TEXT:
			if (nd->line_start)
				r = put_indent(rs, nd);
			if (r == 0)
				r = put(rs, nd, nd->str, nd->len);
			break;
		case WO_TPL__LINESTART:
			r = put_indent(rs, nd);
			break;
		case WO_TPL__VAR:
		case WO_TPL__RAW:
			r = interpolate(rs, nd);
			break;
		case WO_TPL__SECTION:
		case WO_TPL__INVERTED:
			r = enter(rs, nd);
			if (r == 0)
				r = section(rs, nd);
			rs->depth--;
			break;
		case WO_TPL__PARTIAL:
		case WO_TPL__PARENT:
			r = enter(rs, nd);
			if (r == 0)
				r = include(rs, nd);
			rs->depth--;
			break;
		case WO_TPL__BLOCK:
			r = enter(rs, nd);
			if (r == 0)
				r = block(rs, nd);
			rs->depth--;
			break;
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

int wo_tpl_render(struct wo_buf *out, struct wo_tpl_env *env, const struct wo_tpl *tpl,
		  const json_t *data, const struct wo_tpl_opts *opts)
{
	static const struct wo_tpl_opts defaults = WO_TPL_OPTS_INIT;
	if (!opts)
		opts = &defaults;
	if (!out || !tpl)
		return wo_error_set("wo_tpl_render: no output buffer or template");
	if (opts->version != WO_TPL_OPTS_VERSION)
		return wo_error_set("template '%s': unsupported wo_tpl_opts version %d (expected %d)",
				    tpl->name, opts->version, WO_TPL_OPTS_VERSION);

	struct rstate rs;
	memset(&rs, 0, sizeof(rs));
	rs.out = out;
	rs.out_start = out->len;
	rs.env = env;
	rs.escape = opts->escape ? opts->escape : wo_tpl_escape_html;
	rs.escape_ud = opts->escape_ud;
	rs.strict = opts->strict;
	rs.max_steps = opts->max_steps;
	rs.tpl = tpl;
	wo_buf_init(&rs.ind, 0);

	int r = 0;
	if (data) {
		rs.ctx = malloc(16 * sizeof(*rs.ctx));
		if (!rs.ctx)
			return wo_error_set("template '%s': out of memory", tpl->name);
		rs.capctx = 16;
		rs.ctx[rs.nctx++] = data;
	}
	r = render_list(&rs, &tpl->root);
	if (r < 0)
		wo_buf_truncate(out, rs.out_start);
	free(rs.ctx);
	wo_buf_release(&rs.ind);
	return r;
}

int wo_tpl_render_file(struct wo_buf *out, struct wo_tpl_env *env, const char *name,
		       const json_t *data, const struct wo_tpl_opts *opts)
{
	const struct wo_tpl *tpl;
	if (!env)
		return wo_error_set("template '%s': no template environment", name);
	if (wo_tpl_env_get(&tpl, env, name) < 0)
		return -1;
	return wo_tpl_render(out, env, tpl, data, opts);
}
