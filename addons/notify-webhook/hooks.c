/* notify-webhook: the notify hook. Reads the event document (event_json,
 * ABI 1.1), filters it by the events setting, and POSTs it (as is, or as a
 * Slack message) to every configured URL, signed when a secret is set. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <webops/addon.h>

#include "deliver.h"

#define NW_VERSION "1.0.0"
/* The manifest gives the notify hook 30 s; every delivery, retries
 * included, ends by this budget so the hook reports instead of being killed. */
#define NW_BUDGET_MS 25000
#define NW_BACKOFF_MS 500
#define NW_MAX_URLS 20

WEBOPS_ADDON("notify-webhook", NW_VERSION);

/* A setting as text; NULL when unset or empty. */
static const char *setting(const struct webops_host *host, struct webops_hook_ctx *ctx, const char *key)
{
	const char *v = host->setting(ctx, key);
	return v && *v ? v : NULL;
}

static int setting_long(long *out, const struct webops_host *host, struct webops_hook_ctx *ctx, const char *key,
                        long dflt, long min, long max)
{
	const char *v = setting(host, ctx, key);
	long n = dflt;
	if (v) {
		char *end;
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < min || n > max) {
			host->set_error(ctx, "setting '%s' is '%s'; expected an integer from %ld to %ld", key, v, min, max);
			return -1;
		}
	}
	*out = n;
	return 0;
}

/* A list setting (the host gives it as a JSON array); unset is the empty
 * list. Returns a new reference, or NULL after set_error. */
static json_t *setting_list(const struct webops_host *host, struct webops_hook_ctx *ctx, const char *key)
{
	const char *v = setting(host, ctx, key);
	if (!v)
		return json_array();
	json_error_t jerr;
	json_t *arr = json_loads(v, JSON_REJECT_DUPLICATES, &jerr);
	size_t i;
	json_t *item;
	int bad = !json_is_array(arr);
	if (!bad)
		json_array_foreach(arr, i, item) bad |= !json_is_string(item);
	if (bad) {
		json_decref(arr);
		host->set_error(ctx, "setting '%s' is not a list of strings: %s", key, v);
		return NULL;
	}
	return arr;
}

/* "*" and an empty list take every event; "run" and "run.*" take run.<anything>. */
static int event_wanted(const json_t *events, const char *event)
{
	if (json_array_size(events) == 0)
		return 1;
	size_t i;
	json_t *item;
	json_array_foreach(events, i, item) {
		const char *s = json_string_value(item);
		if (strcmp(s, "*") == 0 || strcmp(s, event) == 0)
			return 1;
		size_t l = strlen(s);
		if (l >= 2 && strcmp(s + l - 2, ".*") == 0)
			l -= 2;
		if (l && strncmp(event, s, l) == 0 && event[l] == '.')
			return 1;
	}
	return 0;
}

/* Slack reads &, < and > as markup; its docs ask for these three escapes. */
static char *slack_escape(const char *s)
{
	size_t n = 1;
	for (const char *p = s; *p; p++)
		n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
	char *out = malloc(n);
	if (!out)
		return NULL;
	char *o = out;
	for (const char *p = s; *p; p++) {
		const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
		if (rep) {
			size_t rl = strlen(rep);
			memcpy(o, rep, rl);
			o += rl;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Compact JSON text in memory of our own (json_dumpb, not json_dumps, so
 * the host's jansson allocator never frees what we allocate). */
static char *dump(const json_t *v, size_t *len)
{
	size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
	if (!n)
		return NULL;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	json_dumpb(v, s, n, JSON_COMPACT);
	s[n] = '\0';
	*len = n;
	return s;
}

/* What is sent: the event document with deployment and summary filled in,
 * or for Slack {"text": summary}. */
static char *make_body(size_t *len, json_t *doc, const char *event, const char *format,
                       const struct webops_host *host, struct webops_hook_ctx *ctx)
{
	const char *dep = json_string_value(json_object_get(doc, "deployment"));
	if (!dep || !*dep) {
		dep = host->deployment(ctx, "name");
		json_object_set_new(doc, "deployment", json_string(dep ? dep : ""));
		dep = json_string_value(json_object_get(doc, "deployment"));
	}
	const char *summary = json_string_value(json_object_get(doc, "summary"));
	if (!summary || !*summary) {
		char *s = NULL;
		if (asprintf(&s, "%s: %s", dep ? dep : "", event) < 0)
			return NULL;
		json_object_set_new(doc, "summary", json_string(s));
		free(s);
		summary = json_string_value(json_object_get(doc, "summary"));
	}
	if (strcmp(format, "slack") != 0)
		return dump(doc, len);
	char *text = slack_escape(summary ? summary : "");
	json_t *msg = text ? json_pack("{s:s}", "text", text) : NULL;
	free(text);
	char *body = msg ? dump(msg, len) : NULL;
	json_decref(msg);
	return body;
}

/* A header value from untrusted text: only when it is a plain token. */
static int header_token(const char *s)
{
	if (!*s || strlen(s) > 100)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static struct curl_slist *add_header(struct curl_slist *list, int *bad, const char *fmt, const char *value)
{
	char line[256];
	snprintf(line, sizeof(line), fmt, value);
	struct curl_slist *l = curl_slist_append(list, line);
	if (!l) {
		*bad = 1;
		return list;
	}
	return l;
}

/* Content-Type, no Expect: 100-continue, X-Webops-Event, X-Webops-Delivery
 * (one id for every attempt, so a receiver can drop repeats) and, with a
 * secret, X-Webops-Signature: sha256=<hex HMAC-SHA256 of the body>. */
static struct curl_slist *make_headers(const char *event, const char *secret, const char *body, size_t len)
{
	int bad = 0;
	struct curl_slist *h = NULL;
	h = add_header(h, &bad, "%s", "Content-Type: application/json");
	h = add_header(h, &bad, "%s", "Expect:");
	if (header_token(event))
		h = add_header(h, &bad, "X-Webops-Event: %s", event);
	unsigned char id[16];
	char idhex[2 * sizeof(id) + 1];
	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(idhex, sizeof(idhex), id, sizeof(id));
	h = add_header(h, &bad, "X-Webops-Delivery: %s", idhex);
	if (secret) {
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		char hex[2 * sizeof(mac) + 1];
		crypto_auth_hmacsha256_state st;
		crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
		crypto_auth_hmacsha256_final(&st, mac);
		sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
		h = add_header(h, &bad, "X-Webops-Signature: sha256=%s", hex);
		sodium_memzero(&st, sizeof(st));
	}
	if (bad) {
		curl_slist_free_all(h);
		return NULL;
	}
	return h;
}

static int send_all(const struct webops_host *host, struct webops_hook_ctx *ctx, const json_t *urls,
                    const char *body, size_t len, const struct curl_slist *headers, long timeout_ms, long retries)
{
	size_t n = json_array_size(urls);
	struct nw_target *targets = calloc(n, sizeof(*targets));
	if (!targets) {
		host->set_error(ctx, "out of memory");
		return WEBOPS_ERROR;
	}
	for (size_t i = 0; i < n; i++)
		targets[i].url = json_string_value(json_array_get(urls, i));
	/* the host's operator may let requests reach local or private addresses */
	json_t *allow = setting_list(host, ctx, "allowed_addresses");
	size_t nallow = json_array_size(allow);
	const char **allowed = calloc(nallow + 1, sizeof(*allowed));
	for (size_t i = 0; allowed && i < nallow; i++)
		allowed[i] = json_string_value(json_array_get(allow, i));
	struct nw_delivery d = {
		.allowed = allowed,
		.nallowed = allowed ? nallow : 0,
		.body = body,
		.body_len = len,
		.headers = headers,
		.user_agent = "webops-notify-webhook/" NW_VERSION,
		.timeout_ms = timeout_ms,
		.retries = (int)retries,
		.backoff_ms = NW_BACKOFF_MS,
		.deadline_ms = nw_now_ms() + NW_BUDGET_MS,
		.host = host,
		.ctx = ctx,
	};
	char err[256];
	int drc = nw_deliver(targets, n, &d, err, sizeof(err));
	free(allowed);
	json_decref(allow);
	if (drc < 0) {
		host->set_error(ctx, "%s", err);
		free(targets);
		return WEBOPS_ERROR;
	}
	size_t delivered = 0;
	char *msg = NULL;
	size_t msglen = 0;
	FILE *f = open_memstream(&msg, &msglen);
	for (size_t i = 0; i < n; i++) {
		const struct nw_target *t = &targets[i];
		if (t->ok) {
			delivered++;
			continue;
		}
		if (f)
			fprintf(f, "%sPOST %s: %s after %d attempt%s", ftell(f) ? "; " : "", t->shown, t->cause, t->attempts,
			        t->attempts == 1 ? "" : "s");
	}
	if (f)
		fclose(f);
	char num[32];
	snprintf(num, sizeof(num), "%zu", delivered);
	host->output_set(ctx, "delivered", num);
	snprintf(num, sizeof(num), "%zu", n - delivered);
	host->output_set(ctx, "failed", num);
	host->log(ctx, delivered == n ? WEBOPS_LOG_INFO : WEBOPS_LOG_ERROR, "delivered to %zu of %zu URL%s", delivered,
	          n, n == 1 ? "" : "s");
	int rc = WEBOPS_OK;
	if (delivered < n) {
		host->set_error(ctx, "%s", msg && *msg ? msg : "a delivery failed");
		rc = WEBOPS_ERROR;
	}
	free(msg);
	free(targets);
	return rc;
}

WEBOPS_HOOK(notify_webhook_notify)
{
	if (!WEBOPS_HOST_HAS(host, event_json)) {
		host->set_error(ctx, "this webops provides addon ABI %u.%u; notify-webhook needs 1.1 (event_json)",
		                (unsigned)host->abi_major, (unsigned)host->abi_minor);
		return WEBOPS_ERROR;
	}
	int rc = WEBOPS_ERROR;
	json_t *doc = NULL, *urls = NULL, *events = NULL;
	struct curl_slist *headers = NULL;
	char *body = NULL;
	int curl_up = 0;

	const char *text = host->event_json(ctx);
	json_error_t jerr;
	doc = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(doc)) {
		host->set_error(ctx, "cannot read the event document: %s", jerr.text);
		goto out;
	}
	const char *event = json_string_value(json_object_get(doc, "event"));
	if (!event || !*event) {
		host->set_error(ctx, "the event document has no 'event' (try --data '{\"event\": \"run.failed\", ...}')");
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	if (!(urls = setting_list(host, ctx, "urls")))
		goto out;
	if (json_array_size(urls) == 0) {
		host->set_error(ctx, "no urls configured (printf '%%s' '[\"https://...\"]' | webops addon config "
				"notify-webhook urls --stdin)");
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	if (json_array_size(urls) > NW_MAX_URLS) {
		host->set_error(ctx, "setting 'urls' has %zu URLs; at most %d are sent to", json_array_size(urls),
		                NW_MAX_URLS);
		goto out;
	}
	if (!host->field_bool(ctx, "notify_webhook", 1)) {
		host->set_error(ctx, "notify_webhook is off for this deployment");
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	if (!(events = setting_list(host, ctx, "events")))
		goto out;
	if (!event_wanted(events, event)) {
		size_t ll;
		char *list = dump(events, &ll);
		host->set_error(ctx, "event '%s' is not among the events setting %s", event, list ? list : "");
		free(list);
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	const char *format = setting(host, ctx, "format");
	if (!format)
		format = "json";
	if (strcmp(format, "json") != 0 && strcmp(format, "slack") != 0) {
		host->set_error(ctx, "setting 'format' is '%s'; expected json or slack", format);
		goto out;
	}
	long timeout_ms, retries;
	if (setting_long(&timeout_ms, host, ctx, "timeout_ms", 5000, 100, 20000) < 0 ||
	    setting_long(&retries, host, ctx, "retries", 2, 0, 5) < 0)
		goto out;
	if (sodium_init() < 0) {
		host->set_error(ctx, "cannot initialise libsodium");
		goto out;
	}
	size_t len = 0;
	if (!(body = make_body(&len, doc, event, format, host, ctx))) {
		host->set_error(ctx, "cannot build the request body (out of memory)");
		goto out;
	}
	if (!(headers = make_headers(event, setting(host, ctx, "secret"), body, len))) {
		host->set_error(ctx, "cannot build the request headers (out of memory)");
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		host->set_error(ctx, "cannot initialise libcurl");
		goto out;
	}
	curl_up = 1;
	host->log(ctx, WEBOPS_LOG_DEBUG, "sending %s as %s to %zu URL%s", event, format, json_array_size(urls),
	          json_array_size(urls) == 1 ? "" : "s");
	rc = send_all(host, ctx, urls, body, len, headers, timeout_ms, retries);
out:
	curl_slist_free_all(headers);
	if (curl_up)
		curl_global_cleanup();
	free(body);
	json_decref(events);
	json_decref(urls);
	json_decref(doc);
	return rc;
}
