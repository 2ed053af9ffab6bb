/* HTTP probes of health checks: one easy handle per probe on a shared multi
 * handle, the body kept up to a cap for the expected-text check. */
#include "health/probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "util/error.h"
#include "util/url.h"
#include "util/banned.h"

#define PROBE_BODY_MAX (64 * 1024)

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct wo_probe *p = arg;
	size_t len = size * n;
	/* past the cap the rest is ignored, not an error: the text looked for
	 * is expected near the top */
	if (p->body.len < PROBE_BODY_MAX)
		wo_buf_add(&p->body, data, len < PROBE_BODY_MAX - p->body.len ? len : PROBE_BODY_MAX - p->body.len);
	return len;
}

int wo_probe_init(struct wo_probe *p, const json_t *d, int *has_probe)
{
	memset(p, 0, sizeof(*p));
	wo_buf_init(&p->body, PROBE_BODY_MAX + 1);
	*has_probe = 0;
	const json_t *h = json_object_get(d, "health");
	const json_t *path = json_object_get(h, "path");
	if (!json_is_string(path))
		return 0;
	/* the path was validated by the store: printable ASCII starting with '/' */
	p->path = strdup(json_string_value(path));
	const json_t *domain = json_object_get(d, "domain");
	if (json_is_string(domain)) {
		struct wo_buf hh = WO_BUF_INIT;
		wo_buf_printf(&hh, "Host: %s", json_string_value(domain));
		p->host_header = wo_buf_detach(&hh);
	}
	const json_t *t = json_object_get(h, "timeout_s");
	p->timeout_ms = json_is_integer(t) ? (int)json_integer_value(t) * 1000 : 5000;
	const json_t *st = json_object_get(h, "status");
	p->expect_status = json_is_integer(st) ? (long)json_integer_value(st) : 0;
	const json_t *body = json_object_get(h, "body");
	if (json_is_string(body))
		p->expect_body = strdup(json_string_value(body));
	*has_probe = 1;
	return 0;
}

int wo_probe_address_check(const char *addr)
{
	if (!addr || !*addr)
		return -1;
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || strlen(colon + 1) == 0 || strlen(colon + 1) > 5)
		return -1;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || colon[1] == '+' || colon[1] == '-')
		return -1;
	char host[INET6_ADDRSTRLEN + 2];
	size_t hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	unsigned char bin[sizeof(struct in6_addr)];
	if (host[0] == '[') {
		if (hl < 3 || host[hl - 1] != ']')
			return -1;
		host[hl - 1] = '\0';
		return inet_pton(AF_INET6, host + 1, bin) == 1 ? 0 : -1;
	}
	return inet_pton(AF_INET, host, bin) == 1 ? 0 : -1;
}

int wo_probe_target(struct wo_probe *p, const char *addr)
{
	if (wo_probe_address_check(addr) < 0)
		return wo_error_set("'%.80s' is not an address: expected IP:PORT", addr ? addr : "");
	struct wo_buf url = WO_BUF_INIT;
	wo_buf_printf(&url, "http://%s%s", addr, p->path);
	free(p->url);
	p->url = wo_buf_detach(&url);
	return 0;
}

int wo_probe_start(struct wo_probe *p, CURLM *multi)
{
	p->easy = curl_easy_init();
	if (!p->easy)
		return wo_error_set("cannot start a probe: out of memory");
	curl_easy_setopt(p->easy, CURLOPT_URL, p->url);
	curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(p->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(p->easy, CURLOPT_USERAGENT, "webops-health/" WEBOPS_VERSION);
	curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p);
	/* a fresh connection each time: a check must see whether the app still
	 * accepts connections, not reuse one it opened long ago */
	curl_easy_setopt(p->easy, CURLOPT_FORBID_REUSE, 1L);
	if (p->host_header) {
		p->headers = curl_slist_append(NULL, p->host_header);
		curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
	}
	if (curl_multi_add_handle(multi, p->easy) != CURLM_OK) {
		char *shown = wo_url_redact(p->url);
		wo_error_set("cannot start a probe of '%s'", shown ? shown : "?");
		free(shown);
		return -1;
	}
	return 0;
}

/* libcurl's words for the usual failures, as a person would say them. */
static const char *describe(CURLcode rc, const char *errbuf)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return "connection refused";
	case CURLE_OPERATION_TIMEDOUT:
		return "no answer in time";
	case CURLE_COULDNT_RESOLVE_HOST:
		return "the host name does not resolve";
	case CURLE_GOT_NOTHING:
		return "the connection closed without an answer";
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return "the connection was reset";
	default:
		return errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
	}
}

void wo_probe_finish(struct wo_probe *p, CURLM *multi, CURLcode rc)
{
	p->done = 1;
	double total = 0;
	curl_easy_getinfo(p->easy, CURLINFO_TOTAL_TIME, &total);
	p->latency_ms = (long)(total * 1000.0 + 0.5);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		p->latency_ms = p->timeout_ms;
	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &p->status);
	if (rc != CURLE_OK) {
		if (rc == CURLE_OPERATION_TIMEDOUT)
			snprintf(p->reason, sizeof(p->reason), "probe GET %s: no answer within %d s", p->path,
				 p->timeout_ms / 1000);
		else
			snprintf(p->reason, sizeof(p->reason), "probe GET %s: %s", p->path, describe(rc, NULL));
	} else if (p->expect_status && p->status != p->expect_status) {
		snprintf(p->reason, sizeof(p->reason), "probe GET %s: status %ld, expected %ld", p->path, p->status,
			 p->expect_status);
	} else if (!p->expect_status && p->status >= 400) {
		snprintf(p->reason, sizeof(p->reason), "probe GET %s: status %ld (expected a status below 400)", p->path,
			 p->status);
	} else if (p->expect_body && !memmem(p->body.ptr ? p->body.ptr : "", p->body.len, p->expect_body,
					     strlen(p->expect_body))) {
		snprintf(p->reason, sizeof(p->reason), "probe GET %s: the response does not contain '%.200s'", p->path,
			 p->expect_body);
	} else {
		p->ok = 1;
	}
	curl_multi_remove_handle(multi, p->easy);
	curl_easy_cleanup(p->easy);
	p->easy = NULL;
}

void wo_probe_release(struct wo_probe *p)
{
	if (!p)
		return;
	if (p->easy)
		curl_easy_cleanup(p->easy);
	curl_slist_free_all(p->headers);
	free(p->url);
	free(p->path);
	free(p->host_header);
	free(p->expect_body);
	wo_buf_release(&p->body);
	memset(p, 0, sizeof(*p));
}
