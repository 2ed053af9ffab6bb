/* notify-webhook: concurrent POSTs with per-URL retries (connection errors,
 * timeouts, 5xx, 408 and 429; never other 4xx), bounded by one deadline and
 * stopped when the run is cancelled. */
#include <stdio.h>
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
