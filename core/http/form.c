/* Form bodies: urlencoded and multipart/form-data text fields. The body is
 * already whole and capped by the server; these parsers only ever read
 * inside [data, data+len) and cap the number of fields. libmicrohttpd's post
 * processor needs a live connection, so it cannot be fuzzed on its own:
 * these small parsers can. */
#include "http/form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

void wo_form_init(struct wo_form *f)
{
	memset(f, 0, sizeof(*f));
}

void wo_form_release(struct wo_form *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->keys[i]);
		free(f->vals[i]);
	}
	free(f->keys);
	free(f->vals);
	memset(f, 0, sizeof(*f));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *wo_url_decode(const char *s, size_t len, int plus_space)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '+' && plus_space) {
			out[o++] = ' ';
		} else if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
	return out;
}

/* Room for n + 1 strings in *arr; -1 (*arr as it was) when out of memory. */
static int grow(char ***arr, size_t n)
{
	char **na = realloc(*arr, (n + 1) * sizeof(*na));
	if (!na)
		return -1;
	*arr = na;
	return 0;
}

static int add(struct wo_form *f, char *k, char *v)
{
	if (!k || !v || f->n >= WO_FORM_FIELDS_MAX || grow(&f->keys, f->n) < 0 || grow(&f->vals, f->n) < 0) {
		free(k);
		free(v);
		return -1;
	}
	f->keys[f->n] = k;
	f->vals[f->n] = v;
	f->n++;
	return 0;
}

int wo_form_parse_urlencoded(struct wo_form *f, const char *data, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && data[j] != '&')
			j++;
		if (j > i) {
			size_t eq = i;
			while (eq < j && data[eq] != '=')
				eq++;
			char *k = wo_url_decode(data + i, eq - i, 1);
			char *v = eq < j ? wo_url_decode(data + eq + 1, j - eq - 1, 1) : strdup("");
			if (add(f, k, v) < 0)
				return -1;
		}
		i = j + 1;
	}
	return 0;
}

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen == 0 || hlen < nlen)
		return NULL;
	return memmem(hay, hlen, needle, nlen);
}

/* The value of parameter `name` in a header like `form-data; name="x"`. */
static char *header_param(const char *h, size_t hlen, const char *name)
{
	size_t nl = strlen(name);
	size_t i = 0;
	while (i < hlen) {
		while (i < hlen && (h[i] == ';' || h[i] == ' ' || h[i] == '\t'))
			i++;
		size_t start = i;
		while (i < hlen && h[i] != '=' && h[i] != ';')
			i++;
		size_t klen = i - start;
		while (klen && (h[start + klen - 1] == ' ' || h[start + klen - 1] == '\t'))
			klen--;
		if (i >= hlen || h[i] != '=') {
			continue;
		}
		i++;
		char *val;
		if (i < hlen && h[i] == '"') {
			i++;
			size_t vs = i;
			while (i < hlen && h[i] != '"') {
				if (h[i] == '\\' && i + 1 < hlen)
					i++;
				i++;
			}
			val = strndup(h + vs, i - vs);
			if (i < hlen)
				i++;
		} else {
			size_t vs = i;
			while (i < hlen && h[i] != ';')
				i++;
			size_t vl = i - vs;
			while (vl && (h[vs + vl - 1] == ' ' || h[vs + vl - 1] == '\t'))
				vl--;
			val = strndup(h + vs, vl);
		}
		if (klen == nl && !strncasecmp(h + start, name, nl))
			return val;
		free(val);
	}
	return NULL;
}

int wo_form_parse_multipart(struct wo_form *f, const char *data, size_t len, const char *boundary)
{
	if (!boundary || !*boundary || strlen(boundary) > 200)
		return -1;
	char delim[208];
	size_t dl = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
	const char *end = data + len;
	const char *p = find(data, len, delim, dl);
	if (!p)
		return -1;
	for (;;) {
		p += dl;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return 0; /* closing delimiter */
		/* rest of the delimiter line */
		const char *eol = find(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			return -1;
		p = eol + 2;
		/* headers up to an empty line */
		char *name = NULL;
		int is_file = 0;
		for (;;) {
			eol = find(p, (size_t)(end - p), "\r\n", 2);
			if (!eol) {
				free(name);
				return -1;
			}
			if (eol == p) {
				p += 2;
				break;
			}
			size_t hl = (size_t)(eol - p);
			if (hl > 20 && !strncasecmp(p, "Content-Disposition:", 20)) {
				free(name);
				name = header_param(p + 20, hl - 20, "name");
				char *fn = header_param(p + 20, hl - 20, "filename");
				is_file = fn != NULL;
				free(fn);
			}
			p = eol + 2;
		}
		/* the body runs to CRLF + delimiter */
		char needle[212];
		size_t nl = (size_t)snprintf(needle, sizeof(needle), "\r\n%s", delim);
		const char *next = find(p, (size_t)(end - p), needle, nl);
		if (!next) {
			free(name);
			return -1;
		}
		if (name && !is_file) {
			if (add(f, name, strndup(p, (size_t)(next - p))) < 0)
				return -1;
		} else {
			free(name); /* files are not accepted by any form of ours */
		}
		p = next + 2;
	}
}

int wo_form_parse(struct wo_form *f, const char *content_type, const char *data, size_t len)
{
	if (!content_type)
		return len ? -2 : 0;
	size_t mt = strcspn(content_type, ";");
	while (mt && content_type[mt - 1] == ' ')
		mt--;
	if (mt == 33 && !strncasecmp(content_type, "application/x-www-form-urlencoded", 33))
		return wo_form_parse_urlencoded(f, data, len);
	if (mt == 19 && !strncasecmp(content_type, "multipart/form-data", 19)) {
		const char *params = content_type + strcspn(content_type, ";");
		char *b = header_param(params, strlen(params), "boundary");
		int rc = wo_form_parse_multipart(f, data, len, b);
		free(b);
		return rc;
	}
	return -2;
}

const char *wo_form_get(const struct wo_form *f, const char *key)
{
	for (size_t i = f->n; i-- > 0;)
		if (!strcmp(f->keys[i], key))
			return f->vals[i];
	return NULL;
}

const char *wo_form_get_nth(const struct wo_form *f, const char *key, size_t nth)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->keys[i], key) && nth-- == 0)
			return f->vals[i];
	return NULL;
}
