/* notify-webhook: POSTs one body to several URLs at once (libcurl's multi
 * interface), each URL with its own retries, all within one deadline. */
#ifndef NW_DELIVER_H
#define NW_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <sys/socket.h>

#include <webops/addon.h>

/* One URL to deliver to. The caller sets url; nw_deliver fills the rest. */
struct nw_target {
	const char *url;   /* borrowed */
	char shown[512];   /* url as logged: no user:password@, no ?query */
	int ok;            /* delivered (2xx) */
	int attempts;      /* requests made */
	char cause[320];   /* why the last attempt failed ("HTTP 500 (boom)", curl's message) */

	/* internal */
	CURL *easy;
	int64_t next_at_ms;
	int done;
	char errbuf[CURL_ERROR_SIZE];
	char reply[256];   /* the start of the response body, for messages */
	size_t reply_len;
	int64_t started_ms;
	char blocked[200]; /* the address a request was not let through to, and why */
	const struct nw_delivery *d;
};

struct nw_delivery {
	const char *body;               /* borrowed, body_len bytes */
	size_t body_len;
	const struct curl_slist *headers;
	const char *user_agent;
	long timeout_ms;                /* per request */
	int retries;                    /* extra attempts after a retryable failure */
	long backoff_ms;                /* first delay; doubles per retry */
	int64_t deadline_ms;            /* nw_now_ms() value no request may run past */
	const struct webops_host *host; /* for log() and cancelled() */
	struct webops_hook_ctx *ctx;
	/* addresses requests may go to besides public ones: CIDRs or single
	 * addresses ("127.0.0.1", "10.0.0.0/8", "fd00::/8"); borrowed */
	const char *const *allowed;
	size_t nallowed;
};

/* Whether a request may connect to address sa: not loopback, link-local,
 * private, unique-local, unspecified, multicast or broadcast unless allowed
 * lists it. why (may be NULL) gets the address and what it is. */
int nw_address_ok(const struct sockaddr *sa, const char *const *allowed, size_t nallowed, char *why, size_t whysize);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t nw_now_ms(void);

/* Writes url without userinfo and query/fragment (tokens often live there)
 * into out, for logs and messages. */
void nw_url_shown(char *out, size_t size, const char *url);

/* Delivers d->body to every target, concurrently; logs each attempt through
 * d->host. Returns 0 when every target is finished (see each one's ok and
 * cause), -1 when the run was cancelled or curl could not be set up (the
 * cause is in err). */
int nw_deliver(struct nw_target *targets, size_t n, const struct nw_delivery *d, char *err, size_t errsize);

#endif
