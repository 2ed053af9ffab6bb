/* .dockerignore matching as Docker does it (moby patternmatcher): literal
 * patterns compare exactly, a trailing double star by prefix, a leading one
 * by suffix, the rest as a glob run on code points by a small NFA. */
#include "ignore.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkutil.h"

/* bufio.Scanner's default limit: Docker refuses longer lines. */
#define IGN_MAX_LINE 65536
#define IGN_MAX_PATTERNS 100000

enum ign_match { IGN_EXACT, IGN_PREFIX, IGN_SUFFIX, IGN_GLOB };

enum ign_tok {
	IGN_T_LIT,       /* one code point */
	IGN_T_ANY,       /* ? : any but '/' */
	IGN_T_CLASS,     /* [...] */
	IGN_T_STAR,      /* * : any run without '/' */
	IGN_T_DSTAR,     /* ** before more pattern: (.* /)? */
	IGN_T_DSTAR_END, /* ** at the end: .* */
};

struct ign_range {
	uint32_t lo, hi;
};

struct ign_token {
	enum ign_tok type;
	uint32_t cp;             /* LIT */
	int negated;             /* CLASS */
	struct ign_range *ranges;
	size_t nranges;
};

struct ign_pattern {
	char *text;              /* cleaned, without '!' */
	int exclusion;
	enum ign_match type;
	struct ign_token *toks;
	size_t ntoks;
};

struct dk_ignore {
	struct ign_pattern *pats;
	size_t n, cap;
	int has_exclusions;
};

/* Decodes one UTF-8 code point at s[*i] (an invalid byte stands for itself). */
static uint32_t ign_next_cp(const char *s, size_t len, size_t *i)
{
	const unsigned char *p = (const unsigned char *)s + *i;
	size_t left = len - *i;
	uint32_t c = p[0];
	size_t n = 1;
	if (c >= 0xc2 && c <= 0xdf && left >= 2 && (p[1] & 0xc0) == 0x80) {
		c = ((c & 0x1f) << 6) | (p[1] & 0x3f);
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef && left >= 3 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
		c = ((c & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
		n = 3;
	} else if (c >= 0xf0 && c <= 0xf4 && left >= 4 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
		   (p[3] & 0xc0) == 0x80) {
		c = ((c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12) | ((uint32_t)(p[2] & 0x3f) << 6) |
		    (p[3] & 0x3f);
		n = 4;
	} else if (c >= 0x80) {
		c = 0x110000 + c; /* a lone byte: matches only itself */
	}
	*i += n;
	return c;
}

/* Go's filepath.Clean on a '/'-separated path. Caller frees. */
static char *ign_clean(const char *s)
{
	size_t len = strlen(s);
	int rooted = len && s[0] == '/';
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	size_t w = 0, dotdot = 0; /* dotdot: where ".." may no longer backtrack */
	if (rooted) {
		out[w++] = '/';
		dotdot = 1;
	}
	size_t r = rooted ? 1 : 0;
	while (r < len) {
		if (s[r] == '/') {
			r++;
		} else if (s[r] == '.' && (r + 1 == len || s[r + 1] == '/')) {
			r++;
		} else if (s[r] == '.' && s[r + 1] == '.' && (r + 2 == len || s[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			while (r < len && s[r] != '/')
				out[w++] = s[r++];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

static void ign_pattern_release(struct ign_pattern *p)
{
	free(p->text);
	for (size_t i = 0; i < p->ntoks; i++)
		free(p->toks[i].ranges);
	free(p->toks);
}

static int ign_push_tok(struct ign_pattern *p, size_t *cap, struct ign_token t)
{
	if (p->ntoks == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct ign_token *n = realloc(p->toks, ncap * sizeof(*n));
		if (!n)
			return -1;
		p->toks = n;
		*cap = ncap;
	}
	p->toks[p->ntoks++] = t;
	return 0;
}

/* Parses "[...]" starting after the '['; *i ends after the ']'. */
static int ign_parse_class(struct ign_token *t, const char *s, size_t len, size_t *i)
{
	size_t cap = 0;
	t->type = IGN_T_CLASS;
	if (*i < len && s[*i] == '^') {
		t->negated = 1;
		(*i)++;
	}
	int first = 1;
	for (;;) {
		if (*i >= len)
			return dk_error_set("missing closing ']'");
		if (s[*i] == ']' && !first) {
			(*i)++;
			return 0;
		}
		first = 0;
		uint32_t lo;
		if (s[*i] == '\\') {
			(*i)++;
			if (*i >= len)
				return dk_error_set("missing closing ']'");
		}
		lo = ign_next_cp(s, len, i);
		uint32_t hi = lo;
		if (*i + 1 < len && s[*i] == '-' && s[*i + 1] != ']') {
			(*i)++;
			if (s[*i] == '\\') {
				(*i)++;
				if (*i >= len)
					return dk_error_set("missing closing ']'");
			}
			hi = ign_next_cp(s, len, i);
			if (hi < lo)
				return dk_error_set("invalid character class range");
		}
		if (t->nranges == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct ign_range *n = realloc(t->ranges, ncap * sizeof(*n));
			if (!n)
				return dk_error_set("out of memory");
			t->ranges = n;
			cap = ncap;
		}
		t->ranges[t->nranges].lo = lo;
		t->ranges[t->nranges].hi = hi;
		t->nranges++;
	}
}

/* Classifies and tokenises p->text the way patternmatcher's compile() does. */
static int ign_compile(struct ign_pattern *p)
{
	const char *s = p->text;
	size_t len = strlen(s), i = 0, cap = 0;
	p->type = IGN_EXACT;
	for (size_t n = 0; i < len; n++) {
		char ch = s[i];
		struct ign_token t = {0};
		if (ch == '*') {
			i++;
			if (i < len && s[i] == '*') {
				i++;
				if (i < len && s[i] == '/')
					i++;
				if (i >= len) {
					if (p->type == IGN_EXACT) {
						p->type = IGN_PREFIX;
					} else {
						p->type = IGN_GLOB;
					}
					t.type = IGN_T_DSTAR_END;
				} else {
					t.type = IGN_T_DSTAR;
					p->type = IGN_GLOB;
				}
				if (n == 0)
					p->type = IGN_SUFFIX;
			} else {
				t.type = IGN_T_STAR;
				p->type = IGN_GLOB;
			}
		} else if (ch == '?') {
			i++;
			t.type = IGN_T_ANY;
			p->type = IGN_GLOB;
		} else if (ch == '\\') {
			i++;
			t.type = IGN_T_LIT;
			if (i < len) {
				t.cp = ign_next_cp(s, len, &i);
				p->type = IGN_GLOB;
			} else {
				t.cp = '\\';
			}
		} else if (ch == '[') {
			i++;
			if (ign_parse_class(&t, s, len, &i) < 0) {
				free(t.ranges);
				return -1;
			}
			p->type = IGN_GLOB;
		} else {
			t.type = IGN_T_LIT;
			t.cp = ign_next_cp(s, len, &i);
			if (ch == ']')
				p->type = IGN_GLOB;
		}
		if (ign_push_tok(p, &cap, t) < 0) {
			free(t.ranges);
			return dk_error_set("out of memory");
		}
	}
	return 0;
}

static int ign_class_has(const struct ign_token *t, uint32_t c)
{
	int in = 0;
	for (size_t i = 0; i < t->nranges && !in; i++)
		in = c >= t->ranges[i].lo && c <= t->ranges[i].hi;
	return t->negated ? !in : in;
}

static void ign_closure(const struct ign_pattern *p, unsigned char *st)
{
	for (size_t i = 0; i < p->ntoks; i++) {
		enum ign_tok ty = p->toks[i].type;
		if (st[i] && (ty == IGN_T_STAR || ty == IGN_T_DSTAR || ty == IGN_T_DSTAR_END))
			st[i + 1] = 1;
	}
}

/* The glob as a regular expression anchored at both ends, run as an NFA. */
static int ign_glob_match(const struct ign_pattern *p, const char *path, size_t len)
{
	size_t n = p->ntoks + 1;
	unsigned char small[2][128];
	unsigned char *cur, *next, *heap = NULL;
	if (n <= sizeof(small[0])) {
		cur = small[0];
		next = small[1];
	} else {
		heap = calloc(2, n);
		if (!heap)
			return 0;
		cur = heap;
		next = heap + n;
	}
	memset(cur, 0, n);
	cur[0] = 1;
	ign_closure(p, cur);
	size_t i = 0;
	int alive = 1;
	while (i < len && alive) {
		uint32_t c = ign_next_cp(path, len, &i);
		memset(next, 0, n);
		alive = 0;
		for (size_t k = 0; k < p->ntoks; k++) {
			if (!cur[k])
				continue;
			const struct ign_token *t = &p->toks[k];
			switch (t->type) {
			case IGN_T_LIT:
				if (c == t->cp)
					next[k + 1] = 1;
				break;
			case IGN_T_ANY:
				if (c != '/')
					next[k + 1] = 1;
				break;
			case IGN_T_CLASS:
				if (ign_class_has(t, c))
					next[k + 1] = 1;
				break;
			case IGN_T_STAR:
				if (c != '/')
					next[k] = 1;
				break;
			case IGN_T_DSTAR:
				next[k] = 1;
				if (c == '/')
					next[k + 1] = 1;
				break;
			case IGN_T_DSTAR_END:
				next[k] = 1;
				break;
			}
		}
		ign_closure(p, next);
		for (size_t k = 0; k < n; k++)
			alive |= next[k];
		unsigned char *tmp = cur;
		cur = next;
		next = tmp;
	}
	int ok = alive && cur[p->ntoks];
	free(heap);
	return ok;
}

static int ign_match_one(const struct ign_pattern *p, const char *path, size_t len)
{
	size_t plen = strlen(p->text);
	switch (p->type) {
	case IGN_EXACT:
		return len == plen && memcmp(path, p->text, len) == 0;
	case IGN_PREFIX:
		return len >= plen - 2 && memcmp(path, p->text, plen - 2) == 0;
	case IGN_SUFFIX: {
		const char *suf = p->text + 2;
		size_t slen = plen - 2;
		if (len >= slen && memcmp(path + len - slen, suf, slen) == 0)
			return 1;
		return slen && suf[0] == '/' && len == slen - 1 && memcmp(path, suf + 1, len) == 0;
	}
	case IGN_GLOB:
		return ign_glob_match(p, path, len);
	}
	return 0;
}

int dk_ignore_new(struct dk_ignore **out)
{
	struct dk_ignore *ig = calloc(1, sizeof(*ig));
	if (!ig)
		return dk_error_set("out of memory");
	*out = ig;
	return 0;
}

void dk_ignore_free(struct dk_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++)
		ign_pattern_release(&ig->pats[i]);
	free(ig->pats);
	free(ig);
}

size_t dk_ignore_count(const struct dk_ignore *ig)
{
	return ig->n;
}

static int ign_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims s[0..*len) in place; returns the new start. */
static const char *ign_trim(const char *s, size_t *len)
{
	while (*len && ign_is_space(*s)) {
		s++;
		(*len)--;
	}
	while (*len && ign_is_space(s[*len - 1]))
		(*len)--;
	return s;
}

int dk_ignore_add(struct dk_ignore *ig, const char *pattern)
{
	size_t len = strlen(pattern);
	const char *s = ign_trim(pattern, &len);
	if (!len)
		return 0;
	if (ig->n >= IGN_MAX_PATTERNS)
		return dk_error_set("more than %d patterns", IGN_MAX_PATTERNS);
	struct ign_pattern p = {0};
	if (s[0] == '!') {
		p.exclusion = 1;
		s++;
		len--;
		s = ign_trim(s, &len);
		if (!len)
			return dk_error_set("illegal exclusion pattern: \"!\"");
	}
	char *raw = strndup(s, len);
	if (!raw)
		return dk_error_set("out of memory");
	if (memchr(raw, '\0', len) || strlen(raw) != len) {
		free(raw);
		return dk_error_set("a NUL byte in a pattern");
	}
	p.text = ign_clean(raw);
	free(raw);
	if (!p.text)
		return dk_error_set("out of memory");
	/* A pattern anchored at the root means the same without the '/'. */
	if (p.text[0] == '/' && p.text[1]) {
		memmove(p.text, p.text + 1, strlen(p.text));
	}
	if (ign_compile(&p) < 0) {
		ign_pattern_release(&p);
		return -1;
	}
	if (ig->n == ig->cap) {
		size_t ncap = ig->cap ? ig->cap * 2 : 16;
		struct ign_pattern *np = realloc(ig->pats, ncap * sizeof(*np));
		if (!np) {
			ign_pattern_release(&p);
			return dk_error_set("out of memory");
		}
		ig->pats = np;
		ig->cap = ncap;
	}
	ig->pats[ig->n++] = p;
	if (p.exclusion)
		ig->has_exclusions = 1;
	return 0;
}

int dk_ignore_parse(struct dk_ignore **out, const char *text, size_t len)
{
	struct dk_ignore *ig = NULL;
	if (dk_ignore_new(&ig) < 0)
		return -1;
	size_t pos = 0;
	int line = 0;
	/* A UTF-8 byte order mark before the first line is not part of it. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t llen = end - pos;
		const char *l = text + pos;
		line++;
		pos = nl ? end + 1 : len;
		if (llen && l[llen - 1] == '\r')
			llen--;
		if (llen > IGN_MAX_LINE) {
			dk_ignore_free(ig);
			return dk_error_set("'.dockerignore' line %d: longer than %d bytes", line, IGN_MAX_LINE);
		}
		if (llen && l[0] == '#')
			continue;
		if (memchr(l, '\0', llen)) {
			dk_ignore_free(ig);
			return dk_error_set("'.dockerignore' line %d: a NUL byte is not allowed", line);
		}
		char *pat = strndup(l, llen);
		if (!pat) {
			dk_ignore_free(ig);
			return dk_error_set("out of memory");
		}
		int rc = dk_ignore_add(ig, pat);
		if (rc < 0) {
			char msg[256];
			snprintf(msg, sizeof(msg), "%s", dk_error_last());
			dk_error_set("'.dockerignore' line %d: invalid pattern '%.200s': %s", line, pat, msg);
			free(pat);
			dk_ignore_free(ig);
			return -1;
		}
		free(pat);
	}
	*out = ig;
	return 0;
}

int dk_ignore_excluded(const struct dk_ignore *ig, const char *path)
{
	size_t len = strlen(path);
	int matched = 0;
	for (size_t i = 0; i < ig->n; i++) {
		const struct ign_pattern *p = &ig->pats[i];
		/* An exception only matters once something matched, a pattern only while nothing did. */
		if (p->exclusion != matched)
			continue;
		int m = ign_match_one(p, path, len);
		/* ...or one of the parent directories ("a", "a/b" for "a/b/c"). */
		for (size_t k = 0; !m && k < len; k++)
			if (path[k] == '/')
				m = ign_match_one(p, path, k);
		if (m)
			matched = !p->exclusion;
	}
	return matched;
}

int dk_ignore_dir_has_exceptions(const struct dk_ignore *ig, const char *dir)
{
	if (!ig->has_exclusions)
		return 0;
	size_t dlen = strlen(dir);
	for (size_t i = 0; i < ig->n; i++) {
		const struct ign_pattern *p = &ig->pats[i];
		if (!p->exclusion)
			continue;
		/* The literal lead of the exception, up to its first metacharacter. */
		size_t lit = strcspn(p->text, "*?[\\");
		/* Docker: the exception starts with "dir/". Also an exception whose
		 * wildcards could reach below dir ("!**" + "/keep", "!d*" + "/x"). */
		if (lit >= dlen + 1) {
			if (strncmp(p->text, dir, dlen) == 0 && p->text[dlen] == '/')
				return 1;
		} else if (strncmp(p->text, dir, lit) == 0) {
			return 1;
		}
	}
	return 0;
}

int dk_ignore_escape(struct dk_buf *dst, const char *s)
{
	for (; *s; s++) {
		if (strchr("*?[]\\", *s) && dk_buf_putc(dst, '\\') < 0)
			return -1;
		if (dk_buf_putc(dst, *s) < 0)
			return -1;
	}
	return 0;
}
