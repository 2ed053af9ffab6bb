/* Readiness probes from the host: the target read from the container's
 * inspect document, the decision of what to ask, an HTTP GET with libcurl
 * and a TCP connect. The decisions are pure and unit-tested. */
#include "ready.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "dkutil.h"

#define READY_BODY_MAX (64 * 1024)
/* How long an accepted connection must stay open to count (see DK_READY_TCP). */
#define READY_TCP_HOLD_MS 300

const char *dk_ready_kind_name(enum dk_ready_kind k)
{
	switch (k) {
	case DK_READY_HEALTHCHECK:
		return "HEALTHCHECK";
	case DK_READY_HTTP:
		return "HTTP";
	case DK_READY_TCP:
		return "TCP";
	default:
		return "grace";
	}
}

int dk_ready_has_healthcheck(const json_t *info)
{
	json_t *test = json_object_get(json_object_get(json_object_get(info, "Config"), "Healthcheck"), "Test");
	if (!json_is_array(test) || !json_array_size(test))
		return 0;
	const char *first = json_string_value(json_array_get(test, 0));
	return first && strcmp(first, "NONE") != 0;
}

static int ready_port(const char *s)
{
	char *end;
	long v = strtol(s ? s : "", &end, 10);
	return s && *s && !*end && v >= 1 && v <= 65535 ? (int)v : 0;
}

/* Fills t from one binding {HostIp, HostPort}; 0 when it has a port. */
static int ready_from_binding(struct dk_ready_target *t, const json_t *b, int container_port, const char *engine_host)
{
	int hp = ready_port(json_string_value(json_object_get(b, "HostPort")));
	if (!hp)
		return -1;
	const char *ip = json_string_value(json_object_get(b, "HostIp"));
	int any4 = !ip || !*ip || strcmp(ip, "0.0.0.0") == 0;
	int any6 = ip && strcmp(ip, "::") == 0;
	if ((any4 || any6) && engine_host && *engine_host)
		snprintf(t->host, sizeof(t->host), "%s", engine_host);
	else if (any4)
		snprintf(t->host, sizeof(t->host), "127.0.0.1");
	else if (any6)
		snprintf(t->host, sizeof(t->host), "::1");
	else
		snprintf(t->host, sizeof(t->host), "%s", ip);
	t->port = hp;
	t->container_port = container_port;
	return 0;
}

int dk_ready_target(struct dk_ready_target *out, const json_t *info, int container_port, const char *engine_host)
{
	memset(out, 0, sizeof(*out));
	json_t *hc = json_object_get(info, "HostConfig");
	const char *net = json_string_value(json_object_get(hc, "NetworkMode"));
	if (net && strcmp(net, "host") == 0) {
		if (container_port <= 0)
			return -1;
		snprintf(out->host, sizeof(out->host), "%s", engine_host && *engine_host ? engine_host : "127.0.0.1");
		out->port = out->container_port = container_port;
		return 0;
	}
	json_t *ports = json_object_get(json_object_get(info, "NetworkSettings"), "Ports");
	if (container_port > 0) {
		char key[32];
		snprintf(key, sizeof(key), "%d/tcp", container_port);
		json_t *list = json_object_get(ports, key);
		size_t i;
		json_t *b;
		/* prefer an IPv4 binding: Docker publishes on 0.0.0.0 and :: alike */
		json_array_foreach(list, i, b) {
			const char *ip = json_string_value(json_object_get(b, "HostIp"));
			if ((!ip || !strchr(ip, ':')) && ready_from_binding(out, b, container_port, engine_host) == 0)
				return 0;
		}
		json_array_foreach(list, i, b)
			if (ready_from_binding(out, b, container_port, engine_host) == 0)
				return 0;
	}
	/* else the lowest published tcp port */
	int best = 0;
	const json_t *best_b = NULL;
	const char *k;
	json_t *list;
	json_object_foreach(ports, k, list) {
		int cp = (int)strtol(k, NULL, 10);
		if (!strstr(k, "/tcp") || cp <= 0 || !json_array_size(list) || (best && cp >= best))
			continue;
		size_t i;
		json_t *b;
		json_array_foreach(list, i, b) {
			if (ready_port(json_string_value(json_object_get(b, "HostPort")))) {
				best = cp;
				best_b = b;
				break;
			}
		}
	}
	if (best_b && ready_from_binding(out, best_b, best, engine_host) == 0)
		return 0;
	memset(out, 0, sizeof(*out));
	return -1;
}

void dk_ready_address(char *dst, size_t cap, const struct dk_ready_target *t)
{
	if (strchr(t->host, ':'))
		snprintf(dst, cap, "[%s]:%d", t->host, t->port);
	else
		snprintf(dst, cap, "%s:%d", t->host, t->port);
}

enum dk_ready_kind dk_ready_kind(int has_healthcheck, const char *http_path, const struct dk_ready_target *t)
{
	if (has_healthcheck)
		return DK_READY_HEALTHCHECK;
	if (!t || t->port <= 0)
		return DK_READY_GRACE;
	if (http_path && *http_path)
		return DK_READY_HTTP;
	return DK_READY_TCP;
}

int dk_ready_http_from_deployment(struct dk_ready_http *h, const json_t *d)
{
	memset(h, 0, sizeof(*h));
	h->timeout_ms = 5000;
	json_t *health = json_object_get(d, "health");
	const char *path = json_string_value(json_object_get(health, "path"));
	const char *domain = json_string_value(json_object_get(d, "domain"));
	h->host_header = domain && *domain ? domain : NULL;
	if (!path || path[0] != '/') {
		const char *proto = json_string_value(
			json_object_get(json_object_get(json_object_get(d, "addon_fields"), "docker"), "docker_protocol"));
		if (proto && strcmp(proto, "tcp") == 0)
			return 0;
		h->path = "/";
		h->below_500 = 1;
		return 1;
	}
	h->path = path;
	json_t *st = json_object_get(health, "status");
	if (json_is_integer(st) && json_integer_value(st) >= 100 && json_integer_value(st) <= 599)
		h->expect_status = (long)json_integer_value(st);
	const char *body = json_string_value(json_object_get(health, "body"));
	h->expect_body = body && *body ? body : NULL;
	json_t *t = json_object_get(health, "timeout_s");
	if (json_is_integer(t) && json_integer_value(t) >= 1 && json_integer_value(t) <= 60)
		h->timeout_ms = (int)json_integer_value(t) * 1000;
	return 1;
}

int dk_ready_http_verdict(char *why, size_t cap, const char *transport_error, long status, const char *body,
			  size_t body_len, const struct dk_ready_http *h)
{
	if (transport_error) {
		snprintf(why, cap, "%s", transport_error);
		return 0;
	}
	if (h->expect_status && status != h->expect_status) {
		snprintf(why, cap, "status %ld (expected %ld)", status, h->expect_status);
		return 0;
	}
	if (!h->expect_status && h->below_500 && (status < 100 || status >= 500)) {
		snprintf(why, cap, "status %ld (a server error: the app does not run as it should)", status);
		return 0;
	}
	if (!h->expect_status && !h->below_500 && (status < 100 || status >= 400)) {
		snprintf(why, cap, "status %ld (expected a status below 400)", status);
		return 0;
	}
	if (h->expect_body && !memmem(body ? body : "", body ? body_len : 0, h->expect_body, strlen(h->expect_body))) {
		snprintf(why, cap, "status %ld, but the answer does not contain '%.200s'", status, h->expect_body);
		return 0;
	}
	snprintf(why, cap, "status %ld", status);
	return 1;
}

static size_t ready_body(char *data, size_t size, size_t n, void *ud)
{
	struct dk_buf *b = ud;
	size_t len = size * n;
	if (b->len < READY_BODY_MAX)
		dk_buf_add(b, data, len < READY_BODY_MAX - b->len ? len : READY_BODY_MAX - b->len);
	return len;
}

/* libcurl's failures as a person would say them (as webops' health probes do). */
static const char *ready_describe(CURLcode rc, const char *errbuf)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return "connection refused";
	case CURLE_OPERATION_TIMEDOUT:
		return "no answer in time";
	case CURLE_GOT_NOTHING:
		return "the connection closed without an answer";
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return "the connection was reset";
	default:
		return errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
	}
}

int dk_ready_probe_http(char *why, size_t cap, const struct dk_ready_target *t, const struct dk_ready_http *h)
{
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(why, cap, "cannot start an HTTP probe: out of memory");
		return 0;
	}
	char addr[96], errbuf[CURL_ERROR_SIZE] = "";
	dk_ready_address(addr, sizeof(addr), t);
	struct dk_buf url = DK_BUF_INIT, body = DK_BUF_INIT, hh = DK_BUF_INIT;
	dk_buf_init(&body, READY_BODY_MAX + 1);
	dk_buf_printf(&url, "http://%s%s", addr, h->path);
	struct curl_slist *hdrs = NULL;
	if (h->host_header) {
		dk_buf_printf(&hh, "Host: %s", h->host_header);
		hdrs = curl_slist_append(hdrs, dk_buf_cstr(&hh));
	}
	int tmo = h->timeout_ms > 0 ? h->timeout_ms : 5000;
	curl_easy_setopt(c, CURLOPT_URL, dk_buf_cstr(&url));
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)tmo);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)tmo);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "webops-readiness");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ready_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	int ok = dk_ready_http_verdict(why, cap, rc == CURLE_OK ? NULL : ready_describe(rc, errbuf), status, body.ptr,
				       body.len, h);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	dk_buf_release(&url);
	dk_buf_release(&body);
	dk_buf_release(&hh);
	return ok;
}

static long ready_ms_left(const struct timespec *until)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (until->tv_sec - now.tv_sec) * 1000L + (until->tv_nsec - now.tv_nsec) / 1000000L;
}

int dk_ready_probe_tcp(char *why, size_t cap, const struct dk_ready_target *t, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, t->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)t->port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, t->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)t->port);
		sl = sizeof(*s6);
	} else {
		snprintf(why, cap, "'%s' is not an IP address to connect to", t->host);
		return 0;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, cap, "cannot open a socket: %s", strerror(errno));
		return 0;
	}
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	long tmo = timeout_ms > 0 ? timeout_ms : 2000;
	until.tv_sec += tmo / 1000;
	until.tv_nsec += (tmo % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int ok = 0;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		snprintf(why, cap, "%s", errno == ECONNREFUSED ? "connection refused" : strerror(errno));
		goto out;
	}
	struct pollfd p = {fd, POLLOUT, 0};
	int n;
	do
		n = poll(&p, 1, (int)(ready_ms_left(&until) > 0 ? ready_ms_left(&until) : 0));
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		snprintf(why, cap, "no connection in time");
		goto out;
	}
	int err = 0;
	socklen_t el = sizeof(err);
	if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		snprintf(why, cap, "%s", err == ECONNREFUSED ? "connection refused" : strerror(err ? err : errno));
		goto out;
	}
	/* Accepted: it must stay open. Docker's userland proxy accepts for the
	 * container and closes at once when nothing listens inside. */
	long hold = ready_ms_left(&until);
	hold = hold < READY_TCP_HOLD_MS ? (hold > 0 ? hold : 0) : READY_TCP_HOLD_MS;
	p.events = POLLIN;
	p.revents = 0;
	do
		n = poll(&p, 1, (int)hold);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		char c;
		ssize_t r = recv(fd, &c, 1, MSG_PEEK);
		if (r <= 0) {
			snprintf(why, cap, "the connection was closed at once (nothing listens on the port in the container)");
			goto out;
		}
		snprintf(why, cap, "connected, and the app spoke first");
	} else {
		snprintf(why, cap, "connected");
	}
	ok = 1;
out:
	close(fd);
	return ok;
}

int dk_ready_delay_ms(int attempt)
{
	/* attempts 1-8 within the first two seconds, then 16 more up to ten */
	if (attempt <= 8)
		return 250;
	if (attempt <= 24)
		return 500;
	return 1000;
}
