/* The one URL redaction: passwords, token-like user names and secret query
 * parameters become "***" wherever a URL is shown. */
#include "util/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/banned.h"

static const char MASK[] = "***";

static int scheme_char(char c)
{
	return isalnum((unsigned char)c) || c == '+' || c == '.' || c == '-';
}

/* Length of "scheme://" at s (within len), 0 when s does not start a URL. */
static size_t scheme_len(const char *s, size_t len)
{
	if (!len || !isalpha((unsigned char)s[0]))
		return 0;
	size_t i = 1;
	while (i < len && scheme_char(s[i]))
		i++;
	if (i + 3 <= len && !memcmp(s + i, "://", 3))
		return i + 3;
	return 0;
}

static int has_ci(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (!strncasecmp(s + i, needle, n))
			return 1;
	return 0;
}

static int eq_ci(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && !strncasecmp(s, word, len);
}

/* A query or fragment parameter whose value is a secret, by its name. */
static int secret_param(const char *name, size_t len)
{
	static const char *const parts[] = { "token", "secret", "passw", "pwd", "key", "auth", "signature",
					     "credential", "session", "private", "jwt", "bearer" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (has_ci(name, len, parts[i]))
			return 1;
	return eq_ci(name, len, "sig") || eq_ci(name, len, "pass") || eq_ci(name, len, "code");
}

/* A user part without a password that is a token, not a name
 * (https://TOKEN@github.com/... works with several forges). */
static int token_like_user(const char *u, size_t len)
{
	static const char *const prefixes[] = { "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-",
						"gldt-", "glptt-", "glrt-", "xoxb-", "xoxp-" };
	if (len >= 24)
		return 1;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);
		if (len >= n && !strncasecmp(u, prefixes[i], n))
			return 1;
	}
	return 0;
}

/* Appends "a=b&c=d" (or ';'-separated) with secret values masked. */
static int params_redact(struct wo_buf *out, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != '&' && s[j] != ';')
			j++;
		const char *eq = memchr(s + i, '=', j - i);
		if (eq && secret_param(s + i, (size_t)(eq - (s + i)))) {
			if (wo_buf_add(out, s + i, (size_t)(eq - (s + i)) + 1) < 0 || wo_buf_puts(out, MASK) < 0)
				return -1;
		} else if (wo_buf_add(out, s + i, j - i) < 0) {
			return -1;
		}
		if (j < len && wo_buf_putc(out, s[j]) < 0)
			return -1;
		i = j + 1;
	}
	return 0;
}

/* Redacts s[0..len) as one URL. */
static int redact_one(struct wo_buf *out, const char *s, size_t len)
{
	size_t sl = scheme_len(s, len);
	if (!sl)
		return wo_buf_add(out, s, len);
	if (wo_buf_add(out, s, sl) < 0)
		return -1;
	const char *auth = s + sl, *end = s + len;
	const char *p = auth;
	while (p < end && *p != '/' && *p != '?' && *p != '#')
		p++;
	/* the user part ends at the authority's last '@' */
	const char *at = NULL;
	for (const char *q = auth; q < p; q++)
		if (*q == '@')
			at = q;
	const char *host = auth;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		int http = (sl == 7 && !strncasecmp(s, "http://", 7)) || (sl == 8 && !strncasecmp(s, "https://", 8));
		if (colon) {
			if (wo_buf_add(out, auth, (size_t)(colon - auth)) < 0 || wo_buf_puts(out, ":***@") < 0)
				return -1;
		} else if (http && token_like_user(auth, (size_t)(at - auth))) {
			if (wo_buf_puts(out, "***@") < 0)
				return -1;
		} else if (wo_buf_add(out, auth, (size_t)(at - auth) + 1) < 0) {
			return -1;
		}
		host = at + 1;
	}
	/* host[:port] and the path as they are */
	const char *q = p;
	while (q < end && *q != '?' && *q != '#')
		q++;
	if (wo_buf_add(out, host, (size_t)(q - host)) < 0)
		return -1;
	if (q < end && *q == '?') {
		const char *h = memchr(q, '#', (size_t)(end - q));
		const char *qe = h ? h : end;
		if (wo_buf_putc(out, '?') < 0 || params_redact(out, q + 1, (size_t)(qe - q - 1)) < 0)
			return -1;
		q = qe;
	}
	if (q < end) {
		/* a fragment can carry a token too (#access_token=...) */
		if (wo_buf_putc(out, '#') < 0 || params_redact(out, q + 1, (size_t)(end - q - 1)) < 0)
			return -1;
	}
	return 0;
}

int wo_url_redact_buf(struct wo_buf *out, const char *url)
{
	if (!url)
		return 0;
	return redact_one(out, url, strlen(url));
}

char *wo_url_redact(const char *url)
{
	struct wo_buf b = WO_BUF_INIT;
	if (wo_url_redact_buf(&b, url) < 0) {
		wo_buf_release(&b);
		return NULL;
	}
	return wo_buf_detach(&b);
}

/* Where a URL inside text ends: at white space, a quote or angle bracket. */
static int url_stop(char c)
{
	return (unsigned char)c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == 0x7f;
}

char *wo_url_redact_text(const char *text)
{
	struct wo_buf b = WO_BUF_INIT;
	if (!text)
		return wo_buf_detach(&b);
	const char *p = text, *done = text;
	while ((p = strstr(p, "://"))) {
		const char *start = p;
		while (start > done && scheme_char(start[-1]))
			start--;
		while (start < p && !isalpha((unsigned char)*start))
			start++;
		if (start == p) {
			p += 3;
			continue;
		}
		const char *e = p + 3;
		while (*e && !url_stop(*e))
			e++;
		/* punctuation after a URL belongs to the sentence */
		while (e > p + 3 && strchr(".,:;!?)]}", e[-1]))
			e--;
		if (wo_buf_add(&b, done, (size_t)(start - done)) < 0 || redact_one(&b, start, (size_t)(e - start)) < 0) {
			wo_buf_release(&b);
			return NULL;
		}
		done = p = e;
	}
	if (wo_buf_puts(&b, done) < 0) {
		wo_buf_release(&b);
		return NULL;
	}
	return wo_buf_detach(&b);
}

void wo_url_redact_json(json_t *records, const char *key)
{
	json_t *one = json_is_object(records) ? records : NULL;
	size_t i = 0;
	for (json_t *d = one ? one : json_array_get(records, 0); d; d = one ? NULL : json_array_get(records, ++i)) {
		const char *url = json_string_value(json_object_get(d, key));
		char *shown = url ? wo_url_redact(url) : NULL;
		if (shown && strcmp(shown, url) != 0)
			json_object_set_new(d, key, json_string(shown));
		free(shown);
	}
}

int wo_conninfo_has_password(const char *ci)
{
	if (!ci)
		return 0;
	size_t len = strlen(ci);
	if (!strncmp(ci, "postgresql://", 13) || !strncmp(ci, "postgres://", 11)) {
		const char *auth = strstr(ci, "://") + 3;
		size_t alen = strcspn(auth, "/?");
		const char *at = NULL;
		for (size_t i = 0; i < alen; i++)
			if (auth[i] == '@')
				at = auth + i;
		if (at && memchr(auth, ':', (size_t)(at - auth)))
			return 1;
		const char *q = strchr(ci, '?');
		return q && (strstr(q, "password=") != NULL);
	}
	/* keyword = value pairs */
	for (size_t i = 0; i + 8 <= len; i++) {
		if (strncmp(ci + i, "password", 8) != 0 || (i && !isspace((unsigned char)ci[i - 1])))
			continue;
		size_t j = i + 8;
		while (j < len && isspace((unsigned char)ci[j]))
			j++;
		if (j < len && ci[j] == '=')
			return 1;
	}
	return 0;
}

int wo_url_origin(struct wo_buf *out, const char *url)
{
	if (!url || !*url)
		return wo_error_set("no repository URL");
	const char *sep = strstr(url, "://");
	const char *auth, *def_port;
	char scheme[16];
	if (sep) {
		size_t n = (size_t)(sep - url);
		if (n == 0 || n >= sizeof(scheme))
			return wo_error_set("'%s' has no scheme that credentials can be used with", url);
		for (size_t i = 0; i < n; i++)
			scheme[i] = (char)tolower((unsigned char)url[i]);
		scheme[n] = '\0';
		if (!strcmp(scheme, "ssh+git") || !strcmp(scheme, "git+ssh"))
			snprintf(scheme, sizeof(scheme), "ssh");
		def_port = !strcmp(scheme, "https") ? "443" : !strcmp(scheme, "http") ? "80"
			   : !strcmp(scheme, "ssh") ? "22" : !strcmp(scheme, "git") ? "9418" : NULL;
		if (!def_port)
			return wo_error_set("credentials are used over https, http or ssh only, not %s://", scheme);
		auth = sep + 3;
	} else if (url[0] != '/' && strchr(url, ':') && (!strchr(url, '/') || strchr(url, ':') < strchr(url, '/'))) {
		/* user@host:path, as git reads it: ssh */
		snprintf(scheme, sizeof(scheme), "ssh");
		def_port = "22";
		auth = url;
	} else {
		return wo_error_set("'%s' is a local path: no credentials are needed or used for it", url);
	}
	size_t alen = strcspn(auth, sep ? "/?#" : ":");
	if (!sep) {
		/* host:path: the authority ends at the first ':' */
		const char *at = memchr(auth, '@', alen);
		const char *h = at ? at + 1 : auth;
		size_t hl = (size_t)(auth + alen - h);
		if (!hl)
			return wo_error_set("'%s' names no host", url);
		wo_buf_printf(out, "ssh://");
		for (size_t i = 0; i < hl; i++)
			wo_buf_putc(out, (char)tolower((unsigned char)h[i]));
		wo_buf_printf(out, ":22");
		return 0;
	}
	/* drop the user part: the last '@' of the authority */
	const char *h = auth;
	for (const char *p = auth; p < auth + alen; p++)
		if (*p == '@')
			h = p + 1;
	size_t hl = (size_t)(auth + alen - h);
	const char *port = NULL;
	size_t host_len = hl;
	if (hl && h[0] == '[') {
		const char *close = memchr(h, ']', hl);
		if (!close)
			return wo_error_set("'%s' has an unclosed '[' in its host", url);
		host_len = (size_t)(close - h) + 1;
		if (host_len < hl && h[host_len] == ':')
			port = h + host_len + 1;
	} else {
		const char *colon = memchr(h, ':', hl);
		if (colon) {
			host_len = (size_t)(colon - h);
			port = colon + 1;
		}
	}
	if (!host_len)
		return wo_error_set("'%s' names no host", url);
	size_t port_len = port ? (size_t)(h + hl - port) : 0;
	if (port && (port_len == 0 || port_len > 5 || strspn(port, "0123456789") < port_len))
		return wo_error_set("'%s' has an invalid port", url);
	wo_buf_printf(out, "%s://", scheme);
	for (size_t i = 0; i < host_len; i++)
		wo_buf_putc(out, (char)tolower((unsigned char)h[i]));
	wo_buf_putc(out, ':');
	if (port)
		wo_buf_add(out, port, port_len);
	else
		wo_buf_puts(out, def_port);
	return 0;
}
