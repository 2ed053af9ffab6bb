/* notify-webhook: concurrent POSTs with per-URL retries (connection errors,
 * timeouts, 5xx, 408 and 429; never other 4xx), bounded by one deadline and
 * stopped when the run is cancelled. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>

#include "deliver.h"

/* An attempt shorter than this is not worth starting. */
#define NW_MIN_ATTEMPT_MS 200
/* How often the loop looks at host->cancelled() while waiting. */
#define NW_POLL_MS 100
#define NW_MAX_BACKOFF_MS 8000

enum nw_verdict { NW_DELIVERED, NW_RETRY, NW_FAIL };

int64_t nw_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void nw_url_shown(char *out, size_t size, const char *url)
{
	const char *auth = strstr(url, "://");
	auth = auth ? auth + 3 : url;
	size_t scheme_len = (size_t)(auth - url);
	size_t auth_len = strcspn(auth, "/?#");
	/* userinfo ends at the authority's last '@' */
	const char *host = auth;
	for (const char *p = auth; p < auth + auth_len; p++)
		if (*p == '@')
			host = p + 1;
	size_t rest_len = strcspn(host, "?#");
	int cut = host[rest_len] != '\0';
	snprintf(out, size, "%.*s%.*s%s", (int)scheme_len, url, (int)rest_len, host, cut ? "?..." : "");
}

/* addr (network order bytes) within prefix/bits? */
static int in_prefix(const unsigned char *addr, const unsigned char *prefix, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(addr, prefix, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (addr[full] & mask) == (prefix[full] & mask);
}

static int allowed_by(const unsigned char *addr, int family, const char *const *allowed, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", allowed[i]);
		char *slash = strchr(buf, '/');
		int bits = family == AF_INET ? 32 : 128;
		if (slash) {
			*slash = '\0';
			bits = atoi(slash + 1);
		}
		unsigned char p[16];
		int fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
		if (fam != family || inet_pton(fam, buf, p) != 1)
			continue;
		if (bits < 0 || bits > (family == AF_INET ? 32 : 128))
			continue;
		if (in_prefix(addr, p, bits))
			return 1;
	}
	return 0;
}

int nw_address_ok(const struct sockaddr *sa, const char *const *allowed, size_t nallowed, char *why, size_t whysize)
{
	char text[INET6_ADDRSTRLEN] = "?";
	const char *what = NULL;
	unsigned char a[16];
	int family = sa->sa_family;
	if (family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		inet_ntop(AF_INET, a, text, sizeof(text));
		static const struct { unsigned char p[4]; int bits; const char *what; } v4[] = {
			{ {127, 0, 0, 0}, 8, "a loopback address" },     { {10, 0, 0, 0}, 8, "a private address" },
			{ {172, 16, 0, 0}, 12, "a private address" },    { {192, 168, 0, 0}, 16, "a private address" },
			{ {169, 254, 0, 0}, 16, "a link-local address" }, { {100, 64, 0, 0}, 10, "a shared address" },
			{ {0, 0, 0, 0}, 8, "an unspecified address" },   { {224, 0, 0, 0}, 4, "a multicast address" },
			{ {240, 0, 0, 0}, 4, "a reserved address" },
		};
		for (size_t i = 0; !what && i < sizeof(v4) / sizeof(v4[0]); i++)
			if (in_prefix(a, v4[i].p, v4[i].bits))
				what = v4[i].what;
	} else if (family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		inet_ntop(AF_INET6, a, text, sizeof(text));
		static const unsigned char loop[16] = { [15] = 1 }, any[16] = { 0 };
		static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
		if (!memcmp(a, loop, 16))
			what = "a loopback address";
		else if (!memcmp(a, any, 16))
			what = "an unspecified address";
		else if (!memcmp(a, mapped, 12)) {
			/* an IPv4 address in IPv6 clothes: judged as IPv4 */
			struct sockaddr_in in4 = { .sin_family = AF_INET };
			memcpy(&in4.sin_addr, a + 12, 4);
			return nw_address_ok((const struct sockaddr *)&in4, allowed, nallowed, why, whysize);
		} else if ((a[0] & 0xfe) == 0xfc)
			what = "a unique-local (private) address";
		else if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
			what = "a link-local address";
		else if (a[0] == 0xff)
			what = "a multicast address";
	} else {
		what = "not an internet address";
	}
	if (!what)
		return 1; /* a public address */
	if ((family == AF_INET || family == AF_INET6) && allowed_by(a, family, allowed, nallowed))
		return 1;
	if (why)
		snprintf(why, whysize, "%s is %s", text, what);
	return 0;
}

/* Every connection curl opens, redirects and every resolved address
 * included, is checked here, so a name that resolves (or rebinds) to the
 * host's own services is refused. */
static curl_socket_t open_checked(void *ud, curlsocktype purpose, struct curl_sockaddr *address)
{
	struct nw_target *t = ud;
	(void)purpose;
	char why[160];
	if (!nw_address_ok(&address->addr, t->d ? t->d->allowed : NULL, t->d ? t->d->nallowed : 0, why, sizeof(why))) {
		snprintf(t->blocked, sizeof(t->blocked), "%s", why);
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct nw_target *t = ud;
	size_t n = sz * nm;
	size_t room = sizeof(t->reply) - 1 - t->reply_len;
	size_t keep = n < room ? n : room;
	memcpy(t->reply + t->reply_len, p, keep);
	t->reply_len += keep;
	t->reply[t->reply_len] = '\0';
	return n; /* the rest is read and dropped; the timeout bounds it */
}

/* The response body as a short single line, or "" when it is empty, markup
 * or too long to help (an HTML error page says nothing the status does not). */
static void reply_line(char *out, size_t size, const struct nw_target *t)
{
	out[0] = '\0';
	const char *s = t->reply;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (!*s || *s == '<' || t->reply_len >= sizeof(t->reply) - 1)
		return;
	size_t o = 0;
	int space = 0;
	for (; *s && o + 1 < size && o < 120; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f) {
			space = 1;
			continue;
		}
		if (space && o)
			out[o++] = ' ';
		space = 0;
		if (o + 1 < size)
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* Connection-level failures worth another try; a bad URL, a refused
 * protocol or a certificate problem will not go away by itself. */
static int curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static enum nw_verdict classify(struct nw_target *t, CURLcode code, long status)
{
	if (code != CURLE_OK && t->blocked[0]) {
		snprintf(t->cause, sizeof(t->cause), "not sent: %s (the host's operator allows it with 'webops addon "
			 "config notify-webhook allowed_addresses=[...]')", t->blocked);
		return NW_FAIL;
	}
	if (code != CURLE_OK) {
		snprintf(t->cause, sizeof(t->cause), "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
		return curl_retryable(code) ? NW_RETRY : NW_FAIL;
	}
	if (status >= 200 && status < 300)
		return NW_DELIVERED;
	char said[128];
	reply_line(said, sizeof(said), t);
	if (said[0])
		snprintf(t->cause, sizeof(t->cause), "HTTP %ld (%s)", status, said);
	else
		snprintf(t->cause, sizeof(t->cause), "HTTP %ld", status);
	if (status >= 500 || status == 408 || status == 429)
		return NW_RETRY;
	return NW_FAIL;
}

static int start_attempt(CURLM *m, struct nw_target *t, const struct nw_delivery *d, long timeout_ms)
{
	CURL *e = curl_easy_init();
	if (!e)
		return -1;
	t->errbuf[0] = '\0';
	t->reply[0] = '\0';
	t->reply_len = 0;
	t->blocked[0] = '\0';
	t->d = d;
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, d->user_agent);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* http and https only, also where a redirect leads; a redirect keeps
	 * the POST and its body */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(e, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_checked);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
	if (curl_multi_add_handle(m, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		return -1;
	}
	t->easy = e;
	t->attempts++;
	t->started_ms = nw_now_ms();
	return 0;
}

static void stop_attempt(CURLM *m, struct nw_target *t)
{
	if (!t->easy)
		return;
	curl_multi_remove_handle(m, t->easy);
	curl_easy_cleanup(t->easy);
	t->easy = NULL;
}

static void finish(struct nw_target *t, size_t *pending)
{
	t->done = 1;
	(*pending)--;
}

/* One attempt ended: delivered, retried later, or given up. */
static void on_done(CURLM *m, struct nw_target *t, CURLcode code, const struct nw_delivery *d, size_t *pending)
{
	long status = 0;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	int64_t now = nw_now_ms();
	long took = (long)(now - t->started_ms);
	stop_attempt(m, t);
	int max = d->retries + 1;
	enum nw_verdict v = classify(t, code, status);
	if (v == NW_DELIVERED) {
		t->ok = 1;
		t->cause[0] = '\0';
		d->host->log(d->ctx, WEBOPS_LOG_INFO, "POST %s: HTTP %ld in %ld ms (attempt %d of %d)", t->shown, status,
		             took, t->attempts, max);
		finish(t, pending);
		return;
	}
	if (v == NW_FAIL) {
		d->host->log(d->ctx, WEBOPS_LOG_WARN, "POST %s: %s (attempt %d of %d); not retried", t->shown, t->cause,
		             t->attempts, max);
		finish(t, pending);
		return;
	}
	if (t->attempts >= max) {
		d->host->log(d->ctx, WEBOPS_LOG_WARN, "POST %s: %s (attempt %d of %d)", t->shown, t->cause, t->attempts, max);
		finish(t, pending);
		return;
	}
	int shift = t->attempts - 1 < 8 ? t->attempts - 1 : 8;
	long delay = d->backoff_ms << shift;
	if (delay > NW_MAX_BACKOFF_MS)
		delay = NW_MAX_BACKOFF_MS;
	if (now + delay + NW_MIN_ATTEMPT_MS > d->deadline_ms) {
		d->host->log(d->ctx, WEBOPS_LOG_WARN, "POST %s: %s (attempt %d of %d); no time left to retry", t->shown,
		             t->cause, t->attempts, max);
		finish(t, pending);
		return;
	}
	d->host->log(d->ctx, WEBOPS_LOG_WARN, "POST %s: %s (attempt %d of %d); retrying in %ld ms", t->shown, t->cause,
	             t->attempts, max, delay);
	t->next_at_ms = now + delay;
}

int nw_deliver(struct nw_target *targets, size_t n, const struct nw_delivery *d, char *err, size_t errsize)
{
	CURLM *m = curl_multi_init();
	if (!m) {
		snprintf(err, errsize, "cannot set up libcurl");
		return -1;
	}
	int64_t t0 = nw_now_ms();
	for (size_t i = 0; i < n; i++) {
		struct nw_target *t = &targets[i];
		nw_url_shown(t->shown, sizeof(t->shown), t->url);
		t->ok = 0;
		t->attempts = 0;
		t->cause[0] = '\0';
		t->easy = NULL;
		t->next_at_ms = t0;
		t->done = 0;
	}
	size_t pending = n;
	int rc = 0;
	while (pending) {
		if (d->host->cancelled(d->ctx)) {
			snprintf(err, errsize, "cancelled with %zu of %zu URL%s not delivered to", pending, n, n == 1 ? "" : "s");
			rc = -1;
			break;
		}
		int64_t now = nw_now_ms();
		int64_t wake = now + NW_POLL_MS;
		for (size_t i = 0; i < n; i++) {
			struct nw_target *t = &targets[i];
			if (t->done || t->easy)
				continue;
			if (t->next_at_ms > now) {
				if (t->next_at_ms < wake)
					wake = t->next_at_ms;
				continue;
			}
			long left = (long)(d->deadline_ms - now);
			if (left < NW_MIN_ATTEMPT_MS) {
				if (!t->cause[0])
					snprintf(t->cause, sizeof(t->cause), "no time left");
				finish(t, &pending);
				continue;
			}
			if (start_attempt(m, t, d, d->timeout_ms < left ? d->timeout_ms : left) < 0) {
				snprintf(t->cause, sizeof(t->cause), "cannot set up a request (out of memory)");
				finish(t, &pending);
			}
		}
		int running = 0;
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			snprintf(err, errsize, "libcurl's multi interface failed");
			rc = -1;
			break;
		}
		CURLMsg *msg;
		int left_msgs;
		while ((msg = curl_multi_info_read(m, &left_msgs))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct nw_target *t = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			if (t)
				on_done(m, t, msg->data.result, d, &pending);
		}
		if (!pending)
			break;
		now = nw_now_ms();
		for (size_t i = 0; i < n; i++)
			if (!targets[i].done && !targets[i].easy && targets[i].next_at_ms < wake)
				wake = targets[i].next_at_ms;
		int wait = wake > now ? (int)(wake - now) : 0;
		curl_multi_poll(m, NULL, 0, wait, NULL);
	}
	for (size_t i = 0; i < n; i++)
		stop_attempt(m, &targets[i]);
	curl_multi_cleanup(m);
	return rc;
}
