/* The HTTP probe core makes from the host (libcurl), so images need no curl
 * inside: GET http://ADDRESS/PATH (Host: the domain when there is one),
 * where ADDRESS is the "upstream" a health hook of the deployment published
 * (the runtime addon's release: 127.0.0.1:PORT of its container). Never an
 * address a user typed: a member must not make webops ask other local
 * services. Many run at once on one curl multi handle. */
#ifndef WO_HEALTH_PROBE_H
#define WO_HEALTH_PROBE_H

#include <curl/curl.h>
#include <jansson.h>

#include "util/buf.h"

struct wo_probe {
	/* what to ask */
	char *url;
	char *host_header;   /* "Host: blog.example.com", or NULL */
	char *path;          /* for messages */
	int timeout_ms;
	long expect_status;  /* 0: any status below 400 */
	char *expect_body;   /* NULL: any body */
	/* what came back */
	int done;
	int ok;
	long status;
	long latency_ms;
	char reason[512];    /* why it failed: "probe GET /health: connection refused" */
	/* internal */
	CURL *easy;
	struct curl_slist *headers;
	struct wo_buf body;
};

/* Prepares p from a deployment record (its domain and health settings).
 * Returns 0 and sets *has_probe to whether the deployment has an HTTP probe
 * at all; -1 on error. */
int wo_probe_init(struct wo_probe *p, const json_t *deployment, int *has_probe);
/* 0 when addr is IPV4:PORT or [IPV6]:PORT (no names: nothing resolves). */
int wo_probe_address_check(const char *addr);
/* Points p at addr (checked as above); -1 with the error set otherwise. */
int wo_probe_target(struct wo_probe *p, const char *addr);
/* Adds p to multi; p must stay put until wo_probe_finish. */
int wo_probe_start(struct wo_probe *p, CURLM *multi);
/* Called with the transfer's result once multi says it is done. */
void wo_probe_finish(struct wo_probe *p, CURLM *multi, CURLcode result);
void wo_probe_release(struct wo_probe *p);

#endif
