/* Mustache compiler: lexes the source into tokens, decides which lines are
 * standalone and how blocks are re-indented, then builds the node tree. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "template/template_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/banned.h"

/* Longest delimiter a {{=<% %>=}} tag may set. */
#define MAX_DELIM 15

/* Token kinds: 'T' text, 'v' {{name}}, and the tag's sigil otherwise:
 * '{' '&' '#' '^' '/' '!' '=' '>' '<' '$'. */
struct tok {
	char kind;
	unsigned first : 1;       /* first token of its line */
	unsigned bol : 1;         /* ... of a kept, non-blank line: indentation goes before it */
	unsigned standalone : 1;  /* tag alone on its line: the line is not output */
	unsigned sa_open : 1;     /* '$': the body starts on a line of its own */
	uint32_t line, col;
	size_t start, end;        /* text: what is kept of it; tag: the whole tag */
	size_t nstart, nend;      /* tag: the name, trimmed */
	size_t match;             /* section open <-> close */
	size_t lstart, lend;      /* the line this token is on: first byte, byte after its newline */
	size_t ind_start, ind_end;/* standalone tag: leading whitespace of its line */
	size_t strip;             /* indentation of the innermost standalone block around it */
	size_t in_start, in_end;  /* '$': the block's own indentation (see dedent()) */
};

struct cstate {
	const char *name;
	const char *src;
	size_t len;
	struct tok *t;
	size_t n, cap;
};

static int perr(const struct cstate *c, uint32_t line, uint32_t col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int perr(const struct cstate *c, uint32_t line, uint32_t col, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wo_error_set("template '%s', line %u, column %u: %s", c->name, (unsigned)line,
			    (unsigned)col, msg);
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Bytes of a name quoted in error messages. */
static int shown(size_t len)
{
	return len > 64 ? 64 : (int)len;
}

static struct tok *push_tok(struct cstate *c)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct tok *nt = realloc(c->t, ncap * sizeof(*nt));
		if (!nt) {
			wo_error_set("template '%s': out of memory", c->name);
			return NULL;
		}
		c->t = nt;
		c->cap = ncap;
	}
	struct tok *t = &c->t[c->n++];
	memset(t, 0, sizeof(*t));
	return t;
}

/* Text is cut after each newline so that a token never spans lines. */
static int add_text(struct cstate *c, size_t from, size_t to)
{
	while (from < to) {
		const char *nl = memchr(c->src + from, '\n', to - from);
		size_t end = nl ? (size_t)(nl - c->src) + 1 : to;
		struct tok *t = push_tok(c);
		if (!t)
			return -1;
		t->kind = 'T';
		t->start = from;
		t->end = end;
		from = end;
	}
	return 0;
}

/* "." alone, or dot-separated non-empty parts; never blanks or NULs. */
static int name_ok(const char *s, size_t len, int dotted)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (is_space(s[i]) || s[i] == '\0')
			return 0;
	if (!dotted || (len == 1 && s[0] == '.'))
		return 1;
	if (s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 1; i < len; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return 0;
	return 1;
}

/* {{=<% %>=}}: content is "<% %>" (already trimmed). */
static int set_delims(const char *s, size_t len, char *od, size_t *ol, char *cd, size_t *cl)
{
	size_t i = 0, a0, a1, b0, b1;
	a0 = i;
	while (i < len && !is_space(s[i]))
		i++;
	a1 = i;
	while (i < len && is_space(s[i]))
		i++;
	b0 = i;
	while (i < len && !is_space(s[i]))
		i++;
	b1 = i;
	if (i != len || a1 == a0 || b1 == b0 || a1 - a0 > MAX_DELIM || b1 - b0 > MAX_DELIM)
		return -1;
	if (memchr(s + a0, '=', a1 - a0) || memchr(s + b0, '=', b1 - b0))
		return -1;
	memcpy(od, s + a0, a1 - a0);
	*ol = a1 - a0;
	memcpy(cd, s + b0, b1 - b0);
	*cl = b1 - b0;
	return 0;
}

static int lex(struct cstate *c)
{
	char od[MAX_DELIM + 1] = "{{", cd[MAX_DELIM + 1] = "}}";
	size_t ol = 2, cl = 2;
	const char *src = c->src;
	size_t len = c->len, pos = 0, seen = 0, lstart = 0;
	uint32_t line = 1;

	while (pos < len) {
		const char *o = memmem(src + pos, len - pos, od, ol);
		size_t tpos = o ? (size_t)(o - src) : len;
		if (add_text(c, pos, tpos) < 0)
			return -1;
		if (!o)
			break;
		for (; seen < tpos; seen++)
			if (src[seen] == '\n') {
				line++;
				lstart = seen + 1;
			}
		uint32_t col = (uint32_t)(tpos - lstart + 1);

		size_t p = tpos + ol;
		char kind = p < len ? src[p] : '\0';
		if (kind != '\0' && strchr("{&#^/!=><$", kind))
			p++;
		else
			kind = 'v';
		char close[MAX_DELIM + 2];
		size_t closel = 0;
		if (kind == '{' || kind == '=')
			close[closel++] = kind == '{' ? '}' : '=';
		memcpy(close + closel, cd, cl);
		closel += cl;
		const char *e = p <= len ? memmem(src + p, len - p, close, closel) : NULL;
		if (!e)
			return perr(c, line, col, "unclosed tag");

		size_t ns = p, ne = (size_t)(e - src);
		while (ns < ne && is_space(src[ns]))
			ns++;
		while (ne > ns && is_space(src[ne - 1]))
			ne--;
		if (kind == '=') {
			if (set_delims(src + ns, ne - ns, od, &ol, cd, &cl) < 0)
				return perr(c, line, col, "invalid set-delimiter tag");
		} else if (kind != '!' && !name_ok(src + ns, ne - ns, strchr("v{&#^", kind) != NULL)) {
			if (ns == ne)
				return perr(c, line, col, "tag without a name");
			return perr(c, line, col, "invalid name '%.*s'", shown(ne - ns), src + ns);
		}

		struct tok *t = push_tok(c);
		if (!t)
			return -1;
		t->kind = kind;
		t->line = line;
		t->col = col;
		t->start = tpos;
		t->end = (size_t)(e - src) + closel;
		t->nstart = ns;
		t->nend = ne;
		pos = t->end;
	}
	return 0;
}

static const char *kind_word(char kind)
{
	switch (kind) {
	case '<':
		return "parent";
	case '$':
		return "block";
	case '^':
		return "inverted section";
	default:
		return "section";
	}
}

static int same_name(const struct cstate *c, const struct tok *a, const struct tok *b)
{
	return a->nend - a->nstart == b->nend - b->nstart &&
	       memcmp(c->src + a->nstart, c->src + b->nstart, a->nend - a->nstart) == 0;
}

/* Pairs every section, parent and block with its closing tag. */
static int match(struct cstate *c)
{
	size_t stack[WO_TPL__MAX_NEST], sp = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct tok *t = &c->t[i];
		if (t->kind == '#' || t->kind == '^' || t->kind == '<' || t->kind == '$') {
			if (sp == WO_TPL__MAX_NEST)
				return perr(c, t->line, t->col, "sections nested more than %d deep",
					    WO_TPL__MAX_NEST);
			stack[sp++] = i;
		} else if (t->kind == '/') {
			if (sp == 0)
				return perr(c, t->line, t->col, "unexpected closing tag '%.*s'",
					    shown(t->nend - t->nstart), c->src + t->nstart);
			struct tok *o = &c->t[stack[--sp]];
			if (!same_name(c, o, t))
				return perr(c, t->line, t->col,
					    "closing tag '%.*s' does not match %s '%.*s' opened at line %u",
					    shown(t->nend - t->nstart), c->src + t->nstart, kind_word(o->kind),
					    shown(o->nend - o->nstart), c->src + o->nstart, (unsigned)o->line);
			o->match = i;
			t->match = stack[sp];
		}
	}
	if (sp) {
		const struct tok *o = &c->t[stack[sp - 1]];
		return perr(c, o->line, o->col, "unclosed %s '%.*s'", kind_word(o->kind),
			    shown(o->nend - o->nstart), c->src + o->nstart);
	}
	return 0;
}

/* Whether a text token is only blanks before its newline; *nl gets the
 * length of that newline ("\n" 1, "\r\n" 2, none 0). */
static int text_blank(const struct cstate *c, const struct tok *t, size_t *nl)
{
	size_t end = t->end;
	*nl = 0;
	if (end > t->start && c->src[end - 1] == '\n') {
		*nl = (end - 1 > t->start && c->src[end - 2] == '\r') ? 2 : 1;
		end -= *nl;
	}
	for (size_t i = t->start; i < end; i++)
		if (!is_blank(c->src[i]))
			return 0;
	return 1;
}

/* Standalone lines (spec: a line holding only whitespace and one section,
 * inverted, closing, comment, delimiter, partial, parent or block tag is not
 * output; a partial/parent there takes the whitespace as indentation).
 * Inheritance adds pairs that count as one tag: {{<p}}{{/p}}, {{<p}}{{$b}},
 * {{/b}}{{/p}}, and {{$b}}{{/b}}, which keeps its newline. */
static void standalone(struct cstate *c)
{
	size_t i = 0;
	while (i < c->n) {
		size_t j, tags = 0, t1 = 0, t2 = 0, lstart = c->t[i].start, lend = c->len, nl = 0;
		int blank = 1;
		for (j = i; j < c->n; j++) {
			struct tok *t = &c->t[j];
			if (t->kind == 'T') {
				if (!text_blank(c, t, &nl))
					blank = 0;
				if (c->src[t->end - 1] == '\n') {
					lend = t->end;
					j++;
					break;
				}
				nl = 0;
			} else {
				if (tags == 0)
					t1 = j;
				else if (tags == 1)
					t2 = j;
				tags++;
			}
		}
		size_t end = j;
		for (j = i; j < end; j++) {
			c->t[j].lstart = lstart;
			c->t[j].lend = lend;
		}
		c->t[i].first = 1;

		int full = 0, keep_nl = 0;
		struct tok *a = &c->t[t1], *b = &c->t[t2];
		if (blank && tags == 1 && strchr("#^/!=><$", a->kind)) {
			full = 1;
		} else if (blank && tags == 2 && t2 == t1 + 1) {
			if (a->kind == '<' && b->kind == '/' && a->match == t2)
				full = 1;
			else if (a->kind == '<' && b->kind == '$')
				full = 1;
			else if (a->kind == '/' && b->kind == '/' && c->t[a->match].kind == '$' &&
				 c->t[b->match].kind == '<')
				full = 1;
			else if (a->kind == '$' && b->kind == '/' && a->match == t2)
				keep_nl = 1;
		}
		if (!full && !keep_nl) {
			if (!(blank && tags == 0))
				c->t[i].bol = 1;
			i = end;
			continue;
		}

		size_t ind_start = lstart, ind_end = lstart;
		if (c->t[i].kind == 'T') {
			ind_start = c->t[i].start;
			ind_end = c->t[i].end;
		}
		for (size_t k = 0; k < tags; k++) {
			struct tok *t = k == 0 ? a : b;
			t->standalone = 1;
			t->ind_start = ind_start;
			t->ind_end = ind_end;
			if (t->kind == '$')
				t->sa_open = 1;
		}
		for (j = i; j < end; j++) {
			struct tok *t = &c->t[j];
			if (t->kind != 'T')
				continue;
			if (keep_nl && j == end - 1)
				t->start = t->end - nl;
			else
				t->start = t->end;
		}
		i = end;
	}
}

/* Block re-indentation (spec ~inheritance): the body of a block whose
 * opening tag stands alone is stored without the indentation common to its
 * lines, and rendered with the indentation of the place it is expanded at.
 * Nested standalone blocks strip their own, larger indentation and keep
 * the difference as their intrinsic indentation. */
static void dedent(struct cstate *c)
{
	const char *src = c->src;
	for (size_t i = 0; i < c->n; i++) {
		struct tok *o = &c->t[i];
		if (o->kind != '$' || !o->sa_open)
			continue;
		const struct tok *cl = &c->t[o->match];
		size_t bs = o->lend, be = cl->standalone ? cl->lstart : cl->start;
		size_t p_pos = 0, p_len = 0;
		int have = 0;
		for (size_t ls = bs; ls < be;) {
			size_t k = ls;
			while (k < be && is_blank(src[k]))
				k++;
			const char *nl = memchr(src + ls, '\n', be - ls);
			size_t next = nl ? (size_t)(nl - src) + 1 : be;
			int nonblank = k < be && src[k] != '\n' && !(src[k] == '\r' && k + 1 < be &&
								  src[k + 1] == '\n');
			if (nonblank) {
				if (!have) {
					p_pos = ls;
					p_len = k - ls;
					have = 1;
				} else {
					size_t m = 0;
					while (m < p_len && m < k - ls && src[ls + m] == src[p_pos + m])
						m++;
					p_len = m;
				}
			}
			ls = next;
		}
		/* o->strip is the indentation the enclosing standalone block removes,
		 * a prefix of this one's. */
		if (!have || p_len < o->strip) {
			o->in_start = o->in_end = 0;
			p_len = o->strip;
		} else {
			o->in_start = p_pos + o->strip;
			o->in_end = p_pos + p_len;
		}
		for (size_t k = i + 1; k < o->match; k++)
			c->t[k].strip = p_len;
	}

	for (size_t i = 0; i < c->n; i++) {
		struct tok *t = &c->t[i];
		if (t->first && t->kind == 'T' && t->start < t->end) {
			size_t k = 0;
			while (k < t->strip && t->start + k < t->end && is_blank(src[t->start + k]))
				k++;
			t->start += k;
		}
		if (t->standalone) {
			size_t k = 0;
			while (k < t->strip && t->ind_start + k < t->ind_end)
				k++;
			t->ind_start += k;
		}
	}
}

static void free_list(struct wo_tpl__list *l);

static void free_node(struct wo_tpl__node *nd)
{
	free(nd->path);
	free(nd->cname);
	free_list(&nd->kids);
}

static void free_list(struct wo_tpl__list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free_node(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

struct lbuild {
	struct wo_tpl__list *l;
	size_t cap;
};

static struct wo_tpl__node *push_node(struct cstate *c, struct lbuild *b, enum wo_tpl__kind kind,
				      const struct tok *t)
{
	struct wo_tpl__list *l = b->l;
	if (l->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 8;
		struct wo_tpl__node *nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv) {
			wo_error_set("template '%s': out of memory", c->name);
			return NULL;
		}
		l->v = nv;
		b->cap = ncap;
	}
	struct wo_tpl__node *nd = &l->v[l->n++];
	memset(nd, 0, sizeof(*nd));
	nd->kind = kind;
	nd->line = t->line;
	nd->col = t->col;
	if (kind != WO_TPL__TEXT && kind != WO_TPL__LINESTART) {
		nd->str = c->src + t->nstart;
		nd->len = t->nend - t->nstart;
	}
	return nd;
}

static int make_path(struct cstate *c, struct wo_tpl__node *nd)
{
	size_t parts = 1;
	int dot = nd->len == 1 && nd->str[0] == '.';
	for (size_t i = 0; i < nd->len; i++)
		parts += nd->str[i] == '.';
	struct wo_tpl__path *p = malloc(sizeof(*p) + (dot ? 0 : parts) * sizeof(p->part[0]));
	if (!p)
		return wo_error_set("template '%s': out of memory", c->name);
	p->n = 0;
	if (!dot) {
		size_t s = 0;
		for (size_t i = 0; i <= nd->len; i++) {
			if (i == nd->len || nd->str[i] == '.') {
				p->part[p->n].s = nd->str + s;
				p->part[p->n].len = i - s;
				p->n++;
				s = i + 1;
			}
		}
	}
	nd->path = p;
	return 0;
}

static int build(struct cstate *c, size_t from, size_t to, struct wo_tpl__list *out);

static int build_block(struct cstate *c, struct wo_tpl__node *nd, size_t i)
{
	const struct tok *t = &c->t[i];
	nd->standalone = t->sa_open;
	nd->inline_start = !t->sa_open;
	if (t->in_end > t->in_start) {
		nd->indent = c->src + t->in_start;
		nd->indent_len = t->in_end - t->in_start;
	} else {
		nd->indent = c->src + t->ind_start;
		nd->indent_len = t->ind_end - t->ind_start;
	}
	return build(c, i + 1, t->match, &nd->kids);
}

static int build(struct cstate *c, size_t from, size_t to, struct wo_tpl__list *out)
{
	struct lbuild b = { out, 0 };
	struct wo_tpl__node *nd;
	for (size_t i = from; i < to; i++) {
		const struct tok *t = &c->t[i];
		/* text that starts a line carries the indentation itself, saving a node */
		if (t->bol && (t->kind != 'T' || t->start == t->end) &&
		    !push_node(c, &b, WO_TPL__LINESTART, t))
			return -1;
		switch (t->kind) {
		case 'T':
			if (t->start == t->end)
				break;
			if (!t->bol && out->n && out->v[out->n - 1].kind == WO_TPL__TEXT &&
			    out->v[out->n - 1].str + out->v[out->n - 1].len == c->src + t->start) {
				out->v[out->n - 1].len += t->end - t->start;
				break;
			}
			if (!(nd = push_node(c, &b, WO_TPL__TEXT, t)))
				return -1;
			nd->str = c->src + t->start;
			nd->len = t->end - t->start;
			nd->line_start = t->bol;
			break;
		case 'v':
		case '{':
		case '&':
		case '#':
		case '^':
			nd = push_node(c, &b, t->kind == 'v' ? WO_TPL__VAR :
					     t->kind == '#' ? WO_TPL__SECTION :
					     t->kind == '^' ? WO_TPL__INVERTED : WO_TPL__RAW, t);
			if (!nd || make_path(c, nd) < 0)
				return -1;
			if (t->kind == '#' || t->kind == '^') {
				if (build(c, i + 1, t->match, &nd->kids) < 0)
					return -1;
				i = t->match;
			}
			break;
		case '>':
		case '<':
			nd = push_node(c, &b, t->kind == '>' ? WO_TPL__PARTIAL : WO_TPL__PARENT, t);
			if (!nd)
				return -1;
			nd->cname = strndup(nd->str, nd->len);
			if (!nd->cname)
				return wo_error_set("template '%s': out of memory", c->name);
			nd->standalone = t->standalone;
			nd->indent = c->src + t->ind_start;
			nd->indent_len = t->ind_end - t->ind_start;
			if (t->kind == '>')
				break;
			/* Only the blocks directly inside a parent are kept: they are its
			 * arguments; other text and tags there are ignored. */
			struct lbuild bb = { &nd->kids, 0 };
			for (size_t j = i + 1; j < t->match; j++) {
				const struct tok *u = &c->t[j];
				if (u->kind == '$') {
					struct wo_tpl__node *bn = push_node(c, &bb, WO_TPL__BLOCK, u);
					if (!bn || build_block(c, bn, j) < 0)
						return -1;
				}
				if (u->kind == '$' || u->kind == '#' || u->kind == '^' || u->kind == '<')
					j = u->match;
			}
			i = t->match;
			break;
		case '$':
			nd = push_node(c, &b, WO_TPL__BLOCK, t);
			if (!nd || build_block(c, nd, i) < 0)
				return -1;
			i = t->match;
			break;
		default: /* '!', '=': nothing to render */
			break;
		}
		/* A closing tag that starts a line: the line's indentation goes
		 * after the section, block or parent it closes. */
		if (t->kind != 'T' && t->kind != '/' && c->t[i].kind == '/' && c->t[i].bol &&
		    !push_node(c, &b, WO_TPL__LINESTART, &c->t[i]))
			return -1;
	}
	return 0;
}

int wo_tpl_compile(struct wo_tpl **out, const char *name, const char *src, size_t len)
{
	struct wo_tpl *tpl = calloc(1, sizeof(*tpl));
	if (!tpl)
		return wo_error_set("template '%s': out of memory", name);
	tpl->name = strdup(name ? name : "");
	tpl->src = malloc(len + 1);
	if (!tpl->name || !tpl->src) {
		wo_tpl_free(tpl);
		return wo_error_set("template '%s': out of memory", name);
	}
	if (len)
		memcpy(tpl->src, src, len);
	tpl->src[len] = '\0';
	tpl->len = len;

	struct cstate c = { tpl->name, tpl->src, len, NULL, 0, 0 };
	int r = lex(&c);
	if (r == 0)
		r = match(&c);
	if (r == 0) {
		standalone(&c);
		dedent(&c);
		r = build(&c, 0, c.n, &tpl->root);
	}
	free(c.t);
	if (r < 0) {
		wo_tpl_free(tpl);
		return -1;
	}
	*out = tpl;
	return 0;
}

void wo_tpl_free(struct wo_tpl *tpl)
{
	if (!tpl)
		return;
	free_list(&tpl->root);
	free(tpl->name);
	free(tpl->src);
	free(tpl);
}

const char *wo_tpl_name(const struct wo_tpl *tpl)
{
	return tpl->name;
}
