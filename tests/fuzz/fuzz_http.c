/* Fuzz target: what the HTTP server parses from untrusted requests — form
 * bodies (urlencoded, multipart, and the Content-Type picking between them),
 * percent-decoding, and the router's matching of a request path against the
 * route table — with invariants checked by abort().
 * Input: the whole input is a form body; its first line (a leading "--"
 * stripped) is the multipart boundary and, raw, a Content-Type; each line is
 * a request path; the last byte picks the method and the allow buffer size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/form.h"
#include "http/http.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
	do {                                                                             \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_http: invariant failed: %s (line %d)\n", #cond, \
				__LINE__);                                                   \
			abort();                                                             \
		}                                                                            \
	} while (0)

static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* Invariants of any parsed form: bounded, complete, and wo_form_get /
 * wo_form_get_nth agree with the order of the fields. */
static void check_form(const struct wo_form *f, size_t input_len)
{
	CHECK(f->n <= WO_FORM_FIELDS_MAX);
	CHECK(f->n == 0 || (f->keys && f->vals));
	for (size_t i = 0; i < f->n; i++) {
		CHECK(f->keys[i] && f->vals[i]);
		CHECK(strlen(f->keys[i]) <= input_len);
		CHECK(strlen(f->vals[i]) <= input_len);
	}
	/* a bounded number of lookups: get/get_nth are linear in n */
	size_t lim = f->n < 16 ? f->n : 16;
	for (size_t i = 0; i < lim; i++) {
		const char *key = f->keys[i];
		size_t first = i, last = i, count = 0;
		int seen = 0;
		for (size_t j = 0; j < f->n; j++) {
			if (strcmp(f->keys[j], key))
				continue;
			if (!seen)
				first = j;
			seen = 1;
			last = j;
			count++;
		}
		CHECK(wo_form_get(f, key) == f->vals[last]);
		CHECK(wo_form_get_nth(f, key, 0) == f->vals[first]);
		CHECK(wo_form_get_nth(f, key, count - 1) == f->vals[last]);
		CHECK(wo_form_get_nth(f, key, count) == NULL);
	}
}

/* (a) urlencoded: every non-empty '&'-separated piece is one field. */
static void fuzz_urlencoded(const char *d, size_t len)
{
	struct wo_form f;
	wo_form_init(&f);
	int rc = wo_form_parse_urlencoded(&f, d, len);
	check_form(&f, len);
	size_t pieces = 0;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && d[j] != '&')
			j++;
		if (j > i)
			pieces++;
		i = j + 1;
	}
	if (rc == 0)
		CHECK(f.n == pieces);
	else
		CHECK(pieces > WO_FORM_FIELDS_MAX);
	wo_form_release(&f);
	CHECK(f.n == 0 && f.keys == NULL && f.vals == NULL);
	wo_form_release(&f); /* twice is fine */
}

/* (b) multipart with the boundary taken from the first line, and
 * wo_form_parse with Content-Types built from it. */
static void fuzz_multipart(const char *d, size_t len)
{
	size_t ll = 0;
	while (ll < len && d[ll] != '\r' && d[ll] != '\n')
		ll++;
	char *line = strndup(d, ll); /* also stops at a NUL */
	if (!line)
		return;
	const char *boundary = line;
	if (boundary[0] == '-' && boundary[1] == '-')
		boundary += 2;

	struct wo_form f;
	wo_form_init(&f);
	int rc = wo_form_parse_multipart(&f, d, len, boundary);
	CHECK(rc == 0 || rc == -1);
	check_form(&f, len);
	if (!*boundary || strlen(boundary) > 200)
		CHECK(rc == -1 && f.n == 0);
	wo_form_release(&f);

	/* the boundary in each form a client may send it */
	static const char *const fmts[] = {
		"multipart/form-data; boundary=%s",
		"multipart/form-data; boundary=\"%s\"",
		"Multipart/Form-Data ; charset=utf-8; boundary=%s",
		"application/x-www-form-urlencoded; charset=%s",
		"text/plain; boundary=%s",
	};
	size_t bl = strlen(boundary);
	char *ct = malloc(bl + 64);
	if (ct) {
		for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
			snprintf(ct, bl + 64, fmts[i], boundary);
			wo_form_init(&f);
			rc = wo_form_parse(&f, ct, d, len);
			check_form(&f, len);
			if (i == 4)
				CHECK(rc == -2 && f.n == 0);
			wo_form_release(&f);
		}
		free(ct);
	}
	/* the first line as the whole Content-Type: header_param on anything */
	wo_form_init(&f);
	rc = wo_form_parse(&f, line, d, len);
	CHECK(rc == 0 || rc == -1 || rc == -2);
	check_form(&f, len);
	wo_form_release(&f);
	wo_form_init(&f);
	rc = wo_form_parse(&f, NULL, d, len);
	CHECK(rc == (len ? -2 : 0) && f.n == 0);
	wo_form_release(&f);
	free(line);
}

/* (c) percent-decoding: never longer than its input; identity without '%'
 * and '+'; every byte %XX-encoded decodes back to exactly the input. */
static void fuzz_url_decode(const char *d, size_t len)
{
	for (int plus = 0; plus <= 1; plus++) {
		char *out = wo_url_decode(d, len, plus);
		if (!out)
			return;
		CHECK(strlen(out) <= len);
		if (!memchr(d, '%', len) && !memchr(d, '+', len))
			CHECK(memcmp(out, d, len) == 0 && out[len] == '\0');
		free(out);
	}
	static const char hex[] = "0123456789abcdef", HEX[] = "0123456789ABCDEF";
	char *enc = malloc(len * 3 + 1);
	if (!enc)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];
		enc[3 * i] = '%';
		enc[3 * i + 1] = hex[c >> 4];
		enc[3 * i + 2] = (i & 1) ? HEX[c & 15] : hex[c & 15]; /* either case */
	}
	char *out = wo_url_decode(enc, len * 3, 1);
	if (out) {
		CHECK(memcmp(out, d, len) == 0 && out[len] == '\0');
		free(out);
	}
	free(enc);
}

/* The pattern with params substituted in order must give back the path. */
static void check_match(const struct wo_route *r, const struct wo_req *req)
{
	CHECK(req->nparams >= 0 && req->nparams <= WO_ROUTE_PARAMS_MAX);
	CHECK(req->param_store != NULL);
	for (int i = 0; i < req->nparams; i++) {
		CHECK(req->params[i] && req->params[i][0]);
		CHECK(!strchr(req->params[i], '/'));
	}
	size_t cap = strlen(req->path) + 1;
	char *re = malloc(cap);
	if (!re)
		return;
	size_t o = 0;
	int k = 0;
	for (const char *p = r->pattern; *p;) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			CHECK(close && k < req->nparams);
			size_t pl = strlen(req->params[k]);
			CHECK(o + pl < cap);
			memcpy(re + o, req->params[k++], pl);
			o += pl;
			p = close + 1;
		} else {
			CHECK(o + 1 < cap);
			re[o++] = *p++;
		}
	}
	re[o] = '\0';
	CHECK(k == req->nparams);
	CHECK(!strcmp(re, req->path));
	free(re);
}

static int route(const struct wo_route **r, struct wo_req *req, const char *method, size_t allow_cap,
		 char **allow_out)
{
	snprintf(req->method, sizeof(req->method), "%s", method);
	char *allow = malloc(allow_cap); /* exactly allow_cap, so ASan sees overruns */
	if (!allow)
		return -1;
	memset(allow, 'x', allow_cap);
	*r = NULL;
	int rc = wo_http_route(r, req, allow, allow_cap);
	CHECK(rc == 0 || rc == 404 || rc == 405);
	CHECK(memchr(allow, '\0', allow_cap) != NULL);
	if (rc == 0) {
		CHECK(*r != NULL);
		const char *want = !strcmp(method, "HEAD") ? "GET" : method;
		CHECK(!strcmp((*r)->method, want));
		check_match(*r, req);
	} else {
		CHECK(*r == NULL);
	}
	if (rc == 404) /* on success allow is unspecified: it may hold methods seen before */
		CHECK(allow[0] == '\0');
	*allow_out = allow;
	return rc;
}

/* (d) the router, on one path. */
static void fuzz_route(const char *path, unsigned char pick)
{
	struct wo_req req;
	memset(&req, 0, sizeof(req));
	req.path = (char *)path;
	const struct wo_route *r;
	char *allow = NULL;
	const char *method = methods[pick % NMETHODS];
	size_t small_cap = 1 + (size_t)(pick / NMETHODS) % 24; /* 1..24, to stress the cap */

	int rc = route(&r, &req, method, 64, &allow);
	if (rc < 0)
		return;
	if (rc == 405) {
		/* everything allowed is routable, the method asked is not among them */
		CHECK(allow[0] != '\0');
		/* "GET, PATCH, DELETE": split in place */
		for (char *m = allow; *m;) {
			size_t ml = strcspn(m, ",");
			char *next = m[ml] ? m + ml + 2 : m + ml;
			CHECK(ml > 0 && (!m[ml] || m[ml + 1] == ' '));
			m[ml] = '\0';
			const struct wo_route *r2;
			char *allow2 = NULL;
			CHECK(strcmp(m, !strcmp(method, "HEAD") ? "GET" : method) != 0);
			int rc2 = route(&r2, &req, m, 64, &allow2);
			free(allow2);
			CHECK(rc2 == 0);
			m = next;
		}
	}
	free(allow);
	allow = NULL;

	/* every method agrees on whether the path exists at all; a second
	 * match on the same request replaces the first one's store */
	for (size_t i = 0; i < NMETHODS; i++) {
		int rc2 = route(&r, &req, methods[i], 64, &allow);
		free(allow);
		allow = NULL;
		if (rc2 < 0)
			break;
		CHECK((rc == 404) == (rc2 == 404));
	}
	/* a tiny allow buffer is never overrun */
	int rc3 = route(&r, &req, method, small_cap, &allow);
	free(allow);
	if (rc3 >= 0)
		CHECK(rc3 == rc);

	free(req.param_store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	fuzz_urlencoded(d, size);
	fuzz_multipart(d, size);
	fuzz_url_decode(d, size);

	unsigned char pick = size ? data[size - 1] : 0;
	int lines = 0;
	for (size_t i = 0; i <= size && lines < 8; lines++) {
		size_t j = i;
		while (j < size && d[j] != '\n')
			j++;
		char *path = strndup(d + i, j - i); /* a NUL cuts it, as in a C string */
		if (path) {
			fuzz_route(path, pick);
			/* and percent-decoded, as the server hands it over */
			char *dec = wo_url_decode(path, strlen(path), 0);
			if (dec) {
				fuzz_route(dec, (unsigned char)(pick + lines));
				free(dec);
			}
			free(path);
		}
		i = j + 1;
	}
	return 0;
}
