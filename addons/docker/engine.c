/* Docker Engine API client: libcurl over a unix socket or tcp (+TLS), the
 * API version negotiated from /_ping, JSON requests and a streamed build. */
#include "engine.h"

#include "buildkit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "dkutil.h"

/* JSON answers larger than this are refused (a container list is far smaller). */
#define ENG_MAX_RESPONSE (64u << 20)
/* A single line of build output longer than this is cut. */
#define ENG_MAX_LINE (1u << 20)

struct dk_engine {
	CURL *curl;
	char *host;         /* as used, for messages */
	char *sock;         /* unix socket path, or NULL for tcp */
	char *base;         /* "http://localhost", "https://host:2376" */
	int tls, tls_verify;
	char *ca, *cert, *key;
	char api[16];       /* negotiated, "1.41" */
	long connect_ms;
	int (*cancel)(void *ud);
	void *cancel_ud;
	time_t cancel_checked;
	int cancelled;
	struct dk_buf last; /* the engine's last error message, in full */
	char errbuf[CURL_ERROR_SIZE];
};

const char *dk_engine_host(const struct dk_engine *e)
{
	return e->host;
}

const char *dk_engine_api_version(const struct dk_engine *e)
{
	return e->api;
}

const char *dk_engine_last_message(const struct dk_engine *e)
{
	return dk_buf_cstr(&e->last);
}

void dk_engine_set_cancel(struct dk_engine *e, int (*fn)(void *ud), void *ud)
{
	e->cancel = fn;
	e->cancel_ud = ud;
}

void dk_engine_free(struct dk_engine *e)
{
	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	free(e->host);
	free(e->sock);
	free(e->base);
	free(e->ca);
	free(e->cert);
	free(e->key);
	dk_buf_release(&e->last);
	free(e);
}

static char *eng_strdup_printf(const char *fmt, const char *a, const char *b)
{
	struct dk_buf s = DK_BUF_INIT;
	if (dk_buf_printf(&s, fmt, a, b) < 0) {
		dk_buf_release(&s);
		return NULL;
	}
	return dk_buf_detach(&s);
}

/* Parses host into the socket path or base URL and TLS settings. */
static int eng_parse_host(struct dk_engine *e, const char *host)
{
	if (strncmp(host, "unix://", 7) == 0) {
		const char *p = host + 7;
		if (*p != '/')
			return dk_error_set("invalid DOCKER_HOST '%s': expected unix:///absolute/path", host);
		if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return dk_error_set("invalid DOCKER_HOST '%s': socket path too long", host);
		e->sock = strdup(p);
		e->base = strdup("http://localhost");
		return e->sock && e->base ? 0 : dk_error_set("out of memory");
	}
	if (strncmp(host, "tcp://", 6) != 0)
		return dk_error_set("invalid DOCKER_HOST '%s': expected unix:///path or tcp://host:port", host);
	const char *hp = host + 6;
	size_t n = strcspn(hp, "/");
	if (n == 0 || n > 255)
		return dk_error_set("invalid DOCKER_HOST '%s': expected tcp://host:port", host);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)hp[i];
		if (c <= 0x20 || c == '@' || c == '?' || c == '#' || c >= 0x7f)
			return dk_error_set("invalid DOCKER_HOST '%s': bad character in host", host);
	}
	char hostport[300];
	snprintf(hostport, sizeof(hostport), "%.*s", (int)n, hp);
	const char *verify = getenv("DOCKER_TLS_VERIFY");
	const char *tls = getenv("DOCKER_TLS");
	e->tls_verify = verify && *verify && strcmp(verify, "0") != 0;
	e->tls = e->tls_verify || (tls && *tls && strcmp(tls, "0") != 0);
	/* host:port, [v6]:port, or no port (2375, 2376 with TLS) */
	int has_port;
	if (hostport[0] == '[') {
		const char *end = strchr(hostport, ']');
		has_port = end && end[1] == ':';
	} else {
		has_port = strchr(hostport, ':') != NULL;
	}
	struct dk_buf b = DK_BUF_INIT;
	dk_buf_printf(&b, "%s://%s", e->tls ? "https" : "http", hostport);
	if (!has_port)
		dk_buf_puts(&b, e->tls ? ":2376" : ":2375");
	e->base = dk_buf_detach(&b);
	if (e->tls) {
		const char *dir = getenv("DOCKER_CERT_PATH");
		struct dk_buf d = DK_BUF_INIT;
		if (dir && *dir)
			dk_buf_puts(&d, dir);
		else {
			const char *home = getenv("HOME");
			dk_buf_printf(&d, "%s/.docker", home && *home ? home : "/root");
		}
		e->ca = eng_strdup_printf("%s/%s", dk_buf_cstr(&d), "ca.pem");
		e->cert = eng_strdup_printf("%s/%s", dk_buf_cstr(&d), "cert.pem");
		e->key = eng_strdup_printf("%s/%s", dk_buf_cstr(&d), "key.pem");
		dk_buf_release(&d);
		if (!e->ca || !e->cert || !e->key)
			return dk_error_set("out of memory");
	}
	return e->base ? 0 : dk_error_set("out of memory");
}

/* Why a unix socket cannot be reached, in words ("No such file or directory"). */
static void eng_unix_reason(const char *path, char *dst, size_t cap)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(dst, cap, "%s", strerror(errno));
		return;
	}
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		snprintf(dst, cap, "%s", strerror(errno));
	else
		dst[0] = '\0';
	close(fd);
}

static int eng_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct dk_engine *e = ud;
	if (!e->cancel)
		return 0;
	time_t now = time(NULL);
	if (now == e->cancel_checked)
		return 0;
	e->cancel_checked = now;
	if (e->cancel(e->cancel_ud)) {
		e->cancelled = 1;
		return 1;
	}
	return 0;
}

static void eng_setup(struct dk_engine *e, const char *url, long timeout_ms)
{
	CURL *c = e->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (e->sock)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, e->sock);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->connect_ms);
	if (timeout_ms > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->errbuf);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, eng_xferinfo);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, e);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (e->tls) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, e->tls_verify ? 1L : 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, e->tls_verify ? 2L : 0L);
		if (e->ca && access(e->ca, R_OK) == 0)
			curl_easy_setopt(c, CURLOPT_CAINFO, e->ca);
		if (e->cert && access(e->cert, R_OK) == 0)
			curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
		if (e->key && access(e->key, R_OK) == 0)
			curl_easy_setopt(c, CURLOPT_SSLKEY, e->key);
	}
	e->errbuf[0] = '\0';
	e->cancelled = 0;
}

/* The message for a failed transfer: unavailable engine or other transport error. */
static int eng_curl_error(struct dk_engine *e, CURLcode rc, const char *method, const char *path)
{
	if (rc == CURLE_ABORTED_BY_CALLBACK && e->cancelled) {
		dk_error_set("cancelled");
		return DK_ECANCELLED;
	}
	const char *detail = e->errbuf[0] ? e->errbuf : curl_easy_strerror(rc);
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	    (rc == CURLE_OPERATION_TIMEDOUT && strstr(detail, "onnect"))) {
		char why[256];
		if (e->sock) {
			eng_unix_reason(e->sock, why, sizeof(why));
			if (why[0])
				detail = why;
		}
		dk_error_set("Docker is not available: cannot connect to %s (%s)", e->host, detail);
		return DK_EUNAVAILABLE;
	}
	char shown[512];
	snprintf(shown, sizeof(shown), "%s", path);
	shown[strcspn(shown, "?")] = '\0';
	/* the engine went away mid-answer (stopped, restarted, crashed): say
	 * so, not libcurl's "transfer closed with outstanding read data" */
	if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
	    rc == CURLE_SEND_ERROR) {
		const char *during = !strncmp(shown, "/build", 6)             ? "during the build"
				     : strstr(shown, "/containers/create") ? "while creating the container"
				     : strstr(shown, "/logs")              ? "while sending the container's output"
									   : "before it answered";
		dk_error_set("the Docker engine at %s closed the connection %s (%s %s); is it running? (%s)", e->host,
			     during, method, shown, detail);
		return -1;
	}
	dk_error_set("docker engine: %s %s: %s", method, shown, detail);
	return -1;
}

struct eng_sink {
	struct dk_buf *buf;
	int overflow;
};

static size_t eng_write_buf(char *p, size_t size, size_t n, void *ud)
{
	struct eng_sink *s = ud;
	if (dk_buf_add(s->buf, p, size * n) < 0) {
		s->overflow = 1;
		return 0;
	}
	return size * n;
}

struct eng_headers {
	char api[16];
};

static size_t eng_header(char *p, size_t size, size_t n, void *ud)
{
	struct eng_headers *h = ud;
	size_t len = size * n;
	static const char name[] = "api-version:";
	if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		size_t i = sizeof(name) - 1, j = 0;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (i < len && j + 1 < sizeof(h->api) && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.'))
			h->api[j++] = p[i++];
		h->api[j] = '\0';
	}
	return len;
}

int dk_engine_parse_version(const char *s, int *major, int *minor)
{
	unsigned a, b;
	char extra;
	if (!s || sscanf(s, "%u.%u%c", &a, &b, &extra) != 2)
		return -1;
	*major = (int)a;
	*minor = (int)b;
	return 0;
}

/* GET /_ping (unversioned) and negotiate: min(server, ours), refuse below DK_API_MIN. */
static int eng_ping(struct dk_engine *e)
{
	struct dk_buf url = DK_BUF_INIT, body = DK_BUF_INIT;
	struct eng_headers h = {{0}};
	struct eng_sink sink = {&body, 0};
	dk_buf_init(&body, 4096);
	dk_buf_printf(&url, "%s/_ping", e->base);
	/* The ping has to be quick: an engine that accepts but never answers is not available either. */
	eng_setup(e, dk_buf_cstr(&url), e->connect_ms + 3000);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, eng_write_buf);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(e->curl, CURLOPT_HEADERFUNCTION, eng_header);
	curl_easy_setopt(e->curl, CURLOPT_HEADERDATA, &h);
	CURLcode rc = curl_easy_perform(e->curl);
	long status = 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	int ret = 0;
	if (rc != CURLE_OK) {
		const char *detail = e->errbuf[0] ? e->errbuf : curl_easy_strerror(rc);
		char why[256] = "";
		if (e->sock && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT)) {
			eng_unix_reason(e->sock, why, sizeof(why));
			if (why[0])
				detail = why;
		}
		ret = dk_error_set("Docker is not available: cannot connect to %s (%s)", e->host, detail);
		ret = DK_EUNAVAILABLE;
		goto out;
	}
	if (status != 200) {
		ret = dk_error_set("Docker is not available: %s answered /_ping with HTTP %ld: %.200s", e->host,
				   status, dk_buf_cstr(&body));
		ret = DK_EUNAVAILABLE;
		goto out;
	}
	int smaj, smin;
	if (dk_engine_parse_version(h.api, &smaj, &smin) < 0) {
		/* Engines before 1.25 send no API-Version header; we need at least that. */
		ret = dk_error_set("the engine at %s does not report its API version (Docker API %d.%d or later "
				   "is required)", e->host, DK_API_MIN_MAJOR, DK_API_MIN_MINOR);
		goto out;
	}
	if (smaj < DK_API_MIN_MAJOR || (smaj == DK_API_MIN_MAJOR && smin < DK_API_MIN_MINOR)) {
		ret = dk_error_set("the engine at %s speaks Docker API %d.%d; %d.%d or later is required", e->host,
				   smaj, smin, DK_API_MIN_MAJOR, DK_API_MIN_MINOR);
		goto out;
	}
	if (smaj > DK_API_MAX_MAJOR || (smaj == DK_API_MAX_MAJOR && smin > DK_API_MAX_MINOR)) {
		smaj = DK_API_MAX_MAJOR;
		smin = DK_API_MAX_MINOR;
	}
	snprintf(e->api, sizeof(e->api), "%d.%d", smaj, smin);
out:
	dk_buf_release(&url);
	dk_buf_release(&body);
	return ret;
}

int dk_engine_open(struct dk_engine **out, const char *host, long connect_timeout_ms)
{
	if (!host || !*host)
		host = getenv("DOCKER_HOST");
	if (!host || !*host)
		host = DK_DEFAULT_HOST;
	struct dk_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return dk_error_set("out of memory");
	e->connect_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 2000;
	e->host = strdup(host);
	e->curl = curl_easy_init();
	if (!e->host || !e->curl) {
		dk_engine_free(e);
		return dk_error_set("cannot initialise libcurl");
	}
	int rc = eng_parse_host(e, host);
	if (rc == 0)
		rc = eng_ping(e);
	if (rc < 0) {
		dk_engine_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

int dk_engine_unconfigured(const char *host)
{
	if (!host || !*host)
		host = getenv("DOCKER_HOST");
	if (!host || !*host)
		host = DK_DEFAULT_HOST;
	struct stat st;
	return strncmp(host, "unix:///", 8) == 0 && stat(host + 7, &st) < 0 && errno == ENOENT;
}

json_t *dk_engine_state(const char *host)
{
	struct dk_engine *e = NULL;
	if (dk_engine_open(&e, host, 2000) < 0) {
		int unconf = dk_engine_unconfigured(host);
		return json_pack("{s:s,s:s}", "state", unconf ? "unconfigured" : "failed", "reason", dk_error_last());
	}
	json_t *out = json_pack("{s:s,s:s,s:s}", "state", "running", "host", dk_engine_host(e), "api_version",
				dk_engine_api_version(e));
	json_t *ver = NULL, *info = NULL;
	if (dk_engine_request(&ver, e, "GET", "/version", NULL, 5000) == 0) {
		const char *v = json_string_value(json_object_get(ver, "Version"));
		if (v)
			json_object_set_new(out, "version", json_string(v));
	}
	if (dk_engine_request(&info, e, "GET", "/info", NULL, 5000) == 0) {
		const char *drv = json_string_value(json_object_get(info, "Driver"));
		const char *cg = json_string_value(json_object_get(info, "CgroupVersion"));
		if (drv)
			json_object_set_new(out, "storage_driver", json_string(drv));
		if (cg)
			json_object_set_new(out, "cgroup_version", json_string(cg));
		json_object_set_new(out, "nvidia", json_string(json_object_get(json_object_get(info, "Runtimes"), "nvidia")
							       ? "true" : "false"));
		const json_t *n = json_object_get(info, "ContainersRunning");
		if (json_is_integer(n)) {
			char b[32];
			snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(n));
			json_object_set_new(out, "containers_running", json_string(b));
		}
	} else {
		json_object_set_new(out, "state", json_string("failed"));
		json_object_set_new(out, "reason", json_string(dk_error_last()));
	}
	json_decref(ver);
	json_decref(info);
	dk_engine_free(e);
	return out;
}

int dk_engine_query_escape(struct dk_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.' || c == '~';
		if (plain) {
			if (dk_buf_putc(b, (char)c) < 0)
				return -1;
		} else if (dk_buf_putc(b, '%') < 0 || dk_buf_putc(b, hex[c >> 4]) < 0 ||
			   dk_buf_putc(b, hex[c & 15]) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Records the engine's error message from an error response and sets dk_error. */
static int eng_http_error(struct dk_engine *e, long status, const char *method, const char *path,
			  const struct dk_buf *body)
{
	dk_buf_clear(&e->last);
	json_t *j = body->len ? json_loadb(body->ptr, body->len, 0, NULL) : NULL;
	const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
	if (msg)
		dk_buf_puts(&e->last, msg);
	else if (body->len)
		dk_buf_add(&e->last, body->ptr, body->len);
	else
		dk_buf_printf(&e->last, "HTTP %ld", status);
	while (e->last.len && (e->last.ptr[e->last.len - 1] == '\n' || e->last.ptr[e->last.len - 1] == '\r'))
		dk_buf_truncate(&e->last, e->last.len - 1);
	json_decref(j);
	char shown[512];
	snprintf(shown, sizeof(shown), "%s", path);
	shown[strcspn(shown, "?")] = '\0';
	dk_error_set("docker engine: %s %s: %s", method, shown, dk_buf_cstr(&e->last));
	if (status == 404)
		return DK_ENOTFOUND;
	if (status == 409)
		return DK_ECONFLICT;
	return -1;
}

static int eng_url(struct dk_buf *url, const struct dk_engine *e, const char *path)
{
	return dk_buf_printf(url, "%s/v%s%s", e->base, e->api, path);
}

/* dk_engine_request, with jansson's decoding flags for the answer. */
static int eng_request(json_t **out, struct dk_engine *e, const char *method, const char *path, const json_t *body,
		       long timeout_ms, size_t decode_flags)
{
	struct dk_buf url = DK_BUF_INIT, resp = DK_BUF_INIT;
	struct eng_sink sink = {&resp, 0};
	struct curl_slist *hdrs = NULL;
	char *payload = NULL;
	int ret = 0;

	dk_buf_init(&resp, ENG_MAX_RESPONSE);
	if (eng_url(&url, e, path) < 0) {
		ret = dk_error_set("out of memory");
		goto out;
	}
	eng_setup(e, dk_buf_cstr(&url), timeout_ms > 0 ? timeout_ms : 60000);
	curl_easy_setopt(e->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, eng_write_buf);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &sink);
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload) {
			ret = dk_error_set("out of memory");
			goto out;
		}
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(e->curl);
	if (rc != CURLE_OK) {
		if (sink.overflow)
			ret = dk_error_set("docker engine: %s: answer larger than %u bytes", path, ENG_MAX_RESPONSE);
		else
			ret = eng_curl_error(e, rc, method, path);
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400) {
		ret = eng_http_error(e, status, method, path, &resp);
		goto out;
	}
	if (out) {
		json_t *j;
		if (!resp.len) {
			j = json_null();
		} else {
			json_error_t jerr;
			j = json_loadb(resp.ptr, resp.len, JSON_DECODE_ANY | decode_flags, &jerr);
			if (!j) {
				ret = dk_error_set("docker engine: %s %s: unreadable answer: %s", method, path, jerr.text);
				goto out;
			}
		}
		*out = j;
	}
out:
	curl_slist_free_all(hdrs);
	free(payload);
	dk_buf_release(&url);
	dk_buf_release(&resp);
	return ret;
}

int dk_engine_request(json_t **out, struct dk_engine *e, const char *method, const char *path,
		      const json_t *body, long timeout_ms)
{
	return eng_request(out, e, method, path, body, timeout_ms, 0);
}

/* Builds "/prefix/<escaped id>suffix". */
static int eng_path(struct dk_buf *p, const char *prefix, const char *id, const char *suffix)
{
	dk_buf_clear(p);
	if (dk_buf_puts(p, prefix) < 0 || dk_engine_query_escape(p, id) < 0 || dk_buf_puts(p, suffix) < 0)
		return dk_error_set("out of memory");
	return 0;
}

static int eng_simple(struct dk_engine *e, const char *method, const char *prefix, const char *id,
		      const char *suffix, long timeout_ms, json_t **out)
{
	struct dk_buf p = DK_BUF_INIT;
	int rc = eng_path(&p, prefix, id, suffix);
	if (rc == 0)
		rc = dk_engine_request(out, e, method, dk_buf_cstr(&p), NULL, timeout_ms);
	dk_buf_release(&p);
	return rc;
}

int dk_engine_image_inspect(json_t **out, struct dk_engine *e, const char *ref)
{
	return eng_simple(e, "GET", "/images/", ref, "/json", 0, out);
}

int dk_engine_image_remove(struct dk_engine *e, const char *ref, int force)
{
	return eng_simple(e, "DELETE", "/images/", ref, force ? "?force=1" : "", 0, NULL);
}

/* ?filters={"label":["x"]} */
static int eng_label_filter(struct dk_buf *p, const char *label)
{
	json_t *f = json_pack("{s:[s]}", "label", label);
	char *s = f ? json_dumps(f, JSON_COMPACT) : NULL;
	json_decref(f);
	if (!s)
		return dk_error_set("out of memory");
	int rc = dk_engine_query_escape(p, s);
	free(s);
	return rc;
}

int dk_engine_image_list_dangling(json_t **out, struct dk_engine *e, const char *label)
{
	struct dk_buf p = DK_BUF_INIT;
	json_t *f = json_pack("{s:[s],s:[s]}", "label", label, "dangling", "true");
	char *fs = f ? json_dumps(f, JSON_COMPACT) : NULL;
	json_decref(f);
	if (!fs)
		return dk_error_set("out of memory");
	dk_buf_puts(&p, "/images/json?filters=");
	int rc = dk_engine_query_escape(&p, fs);
	free(fs);
	if (rc == 0)
		rc = dk_engine_request(out, e, "GET", dk_buf_cstr(&p), NULL, 0);
	dk_buf_release(&p);
	return rc;
}

int dk_engine_image_list(json_t **out, struct dk_engine *e, const char *label)
{
	struct dk_buf p = DK_BUF_INIT;
	dk_buf_puts(&p, "/images/json?filters=");
	int rc = eng_label_filter(&p, label);
	if (rc == 0)
		rc = dk_engine_request(out, e, "GET", dk_buf_cstr(&p), NULL, 0);
	dk_buf_release(&p);
	return rc;
}

int dk_engine_container_create(char **out, struct dk_engine *e, const char *name, const json_t *config)
{
	struct dk_buf p = DK_BUF_INIT;
	json_t *resp = NULL;
	int rc = 0;
	dk_buf_puts(&p, "/containers/create");
	if (name) {
		dk_buf_puts(&p, "?name=");
		dk_engine_query_escape(&p, name);
	}
	rc = dk_engine_request(&resp, e, "POST", dk_buf_cstr(&p), config, 0);
	if (rc == 0) {
		const char *id = json_string_value(json_object_get(resp, "Id"));
		if (!id)
			rc = dk_error_set("docker engine: POST /containers/create: no Id in the answer");
		else if (!(*out = strdup(id)))
			rc = dk_error_set("out of memory");
	}
	json_decref(resp);
	dk_buf_release(&p);
	return rc;
}

int dk_engine_container_update(struct dk_engine *e, const char *id, const json_t *body)
{
	struct dk_buf p = DK_BUF_INIT;
	int rc = eng_path(&p, "/containers/", id, "/update");
	if (rc == 0)
		rc = dk_engine_request(NULL, e, "POST", dk_buf_cstr(&p), body, 0);
	dk_buf_release(&p);
	return rc;
}

int dk_engine_container_start(struct dk_engine *e, const char *id)
{
	return eng_simple(e, "POST", "/containers/", id, "/start", 0, NULL);
}

int dk_engine_container_stop(struct dk_engine *e, const char *id, int timeout_s)
{
	char suffix[48];
	if (timeout_s < 0)
		timeout_s = 0;
	snprintf(suffix, sizeof(suffix), "/stop?t=%d", timeout_s);
	return eng_simple(e, "POST", "/containers/", id, suffix, (long)timeout_s * 1000 + 30000, NULL);
}

int dk_engine_container_kill(struct dk_engine *e, const char *id, const char *signal)
{
	struct dk_buf s = DK_BUF_INIT;
	dk_buf_puts(&s, "/kill?signal=");
	dk_engine_query_escape(&s, signal ? signal : "KILL");
	int rc = eng_simple(e, "POST", "/containers/", id, dk_buf_cstr(&s), 0, NULL);
	dk_buf_release(&s);
	return rc;
}

int dk_engine_container_remove(struct dk_engine *e, const char *id, int force)
{
	return eng_simple(e, "DELETE", "/containers/", id, force ? "?v=1&force=1" : "?v=1", 0, NULL);
}

int dk_engine_container_inspect(json_t **out, struct dk_engine *e, const char *id)
{
	return eng_simple(e, "GET", "/containers/", id, "/json", 0, out);
}

int dk_engine_container_stats(json_t **out, struct dk_engine *e, const char *id)
{
	struct dk_buf p = DK_BUF_INIT;
	int rc = eng_path(&p, "/containers/", id, "/stats?stream=false");
	/* The counters are uint64: one above INT64_MAX would make jansson refuse
	 * the whole answer, so numbers are read as doubles (exact to 2^53, and
	 * the CPU deltas stay far more precise than the two decimals shown). */
	if (rc == 0)
		rc = eng_request(out, e, "GET", dk_buf_cstr(&p), NULL, DK_STATS_TIMEOUT_MS, JSON_DECODE_INT_AS_REAL);
	dk_buf_release(&p);
	return rc;
}

int dk_engine_container_rename(struct dk_engine *e, const char *id, const char *name)
{
	struct dk_buf s = DK_BUF_INIT;
	dk_buf_puts(&s, "/rename?name=");
	dk_engine_query_escape(&s, name);
	int rc = eng_simple(e, "POST", "/containers/", id, dk_buf_cstr(&s), 0, NULL);
	dk_buf_release(&s);
	return rc;
}

int dk_engine_container_list(json_t **out, struct dk_engine *e, const char *label, int all)
{
	struct dk_buf p = DK_BUF_INIT;
	dk_buf_printf(&p, "/containers/json?all=%d&filters=", all ? 1 : 0);
	int rc = eng_label_filter(&p, label);
	if (rc == 0)
		rc = dk_engine_request(out, e, "GET", dk_buf_cstr(&p), NULL, 0);
	dk_buf_release(&p);
	return rc;
}

int dk_engine_container_logs(struct dk_buf *out, struct dk_engine *e, const char *id, int tail)
{
	struct dk_buf p = DK_BUF_INIT, url = DK_BUF_INIT, resp = DK_BUF_INIT;
	struct eng_sink sink = {&resp, 0};
	char suffix[64];
	int ret = 0;
	dk_buf_init(&resp, 4u << 20);
	snprintf(suffix, sizeof(suffix), "/logs?stdout=1&stderr=1&tail=%d", tail > 0 ? tail : 50);
	if (eng_path(&p, "/containers/", id, suffix) < 0 || eng_url(&url, e, dk_buf_cstr(&p)) < 0) {
		ret = dk_error_set("out of memory");
		goto out;
	}
	eng_setup(e, dk_buf_cstr(&url), 30000);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, eng_write_buf);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &sink);
	CURLcode rc = curl_easy_perform(e->curl);
	if (rc != CURLE_OK && !sink.overflow) {
		ret = eng_curl_error(e, rc, "GET", dk_buf_cstr(&p));
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400) {
		ret = eng_http_error(e, status, "GET", dk_buf_cstr(&p), &resp);
		goto out;
	}
	/* Without a TTY the stream is framed: [stream, 0, 0, 0, size (4 bytes, big endian)] payload. */
	const unsigned char *d = (const unsigned char *)resp.ptr;
	size_t n = resp.len, i = 0;
	int framed = n >= 8 && d[0] <= 2 && d[1] == 0 && d[2] == 0 && d[3] == 0;
	if (!framed) {
		dk_buf_add(out, resp.ptr ? resp.ptr : "", n);
		goto out;
	}
	while (i + 8 <= n) {
		size_t len = ((size_t)d[i + 4] << 24) | ((size_t)d[i + 5] << 16) | ((size_t)d[i + 6] << 8) | d[i + 7];
		i += 8;
		if (len > n - i)
			len = n - i;
		dk_buf_add(out, d + i, len);
		i += len;
	}
out:
	dk_buf_release(&p);
	dk_buf_release(&url);
	dk_buf_release(&resp);
	return ret;
}

/* ---- streamed logs ---- */

/* In a streaming write callback: when the answer is an error (HTTP 400 and
 * up), keeps its body (the first 64 KiB) in err for the message; 1 then. */
static int eng_error_answer(CURL *curl, struct dk_buf *err, const char *p, size_t n)
{
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 400)
		return 0;
	if (err->len < 65536)
		dk_buf_add(err, p, n < 65536 - err->len ? n : 65536 - err->len);
	return 1;
}

struct eng_logs {
	void (*line)(void *ud, int is_stderr, const char *text);
	void *ud;
	int framed;           /* -1 until the first bytes tell */
	unsigned char hdr[8]; /* a frame header being read */
	size_t hdr_len;
	size_t left;          /* payload bytes of the current frame still to come */
	int stream;           /* the current frame's: 1 stdout, 2 stderr */
	struct dk_buf part[2];/* a line not yet ended, per stream */
	CURL *curl;
	struct dk_buf *err;   /* an error answer's body (HTTP 400 and up) */
};

static void eng_logs_flush(struct eng_logs *l, int which)
{
	struct dk_buf *b = &l->part[which];
	if (!b->len)
		return;
	size_t n = b->len;
	while (n && b->ptr[n - 1] == '\r')
		n--;
	b->ptr[n] = '\0';
	l->line(l->ud, which, b->ptr);
	dk_buf_clear(b);
}

/* Payload bytes of stream which (0 stdout, 1 stderr): complete lines out. */
static void eng_logs_text(struct eng_logs *l, int which, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;
		dk_buf_add(&l->part[which], p, k);
		if (nl || l->part[which].len > ENG_MAX_LINE)
			eng_logs_flush(l, which);
		k += nl ? 1 : 0;
		p += k;
		n -= k;
	}
}

static size_t eng_logs_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct eng_logs *l = ud;
	size_t n = size * nmemb, total = n;
	const unsigned char *d = (const unsigned char *)p;
	if (eng_error_answer(l->curl, l->err, p, n))
		return total;
	if (l->framed < 0 && n)
		l->framed = d[0] <= 2 && (n < 4 || (d[1] == 0 && d[2] == 0 && d[3] == 0));
	if (!l->framed) {
		eng_logs_text(l, 0, p, n);
		return total;
	}
	while (n) {
		if (!l->left) {
			size_t want = 8 - l->hdr_len, k = n < want ? n : want;
			memcpy(l->hdr + l->hdr_len, d, k);
			l->hdr_len += k;
			d += k;
			n -= k;
			if (l->hdr_len < 8)
				break;
			l->hdr_len = 0;
			l->stream = l->hdr[0];
			l->left = ((size_t)l->hdr[4] << 24) | ((size_t)l->hdr[5] << 16) | ((size_t)l->hdr[6] << 8) | l->hdr[7];
			continue;
		}
		size_t k = n < l->left ? n : l->left;
		eng_logs_text(l, l->stream == 2 ? 1 : 0, (const char *)d, k);
		l->left -= k;
		d += k;
		n -= k;
	}
	return total;
}

int dk_engine_container_logs_stream(struct dk_engine *e, const char *id, const struct dk_logs_opts *o,
				    void (*line)(void *ud, int is_stderr, const char *text), void *ud)
{
	struct dk_buf p = DK_BUF_INIT, url = DK_BUF_INIT, errbody = DK_BUF_INIT;
	struct eng_logs l = {.line = line, .ud = ud, .framed = -1, .part = {DK_BUF_INIT, DK_BUF_INIT},
			     .curl = e->curl, .err = &errbody};
	char suffix[160];
	int ret = 0;
	if (o->tail >= 0)
		snprintf(suffix, sizeof(suffix), "/logs?stdout=1&stderr=1&tail=%d&since=%lld&follow=%d&timestamps=%d",
			 o->tail, o->since, o->follow ? 1 : 0, o->timestamps ? 1 : 0);
	else
		snprintf(suffix, sizeof(suffix), "/logs?stdout=1&stderr=1&tail=all&since=%lld&follow=%d&timestamps=%d",
			 o->since, o->follow ? 1 : 0, o->timestamps ? 1 : 0);
	if (eng_path(&p, "/containers/", id, suffix) < 0 || eng_url(&url, e, dk_buf_cstr(&p)) < 0) {
		ret = dk_error_set("out of memory");
		goto out;
	}
	/* no overall timeout: a follow lasts until the container stops or a cancel */
	eng_setup(e, dk_buf_cstr(&url), o->follow ? 0 : 120000);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, eng_logs_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &l);
	CURLcode rc = curl_easy_perform(e->curl);
	long status = 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	eng_logs_flush(&l, 0);
	eng_logs_flush(&l, 1);
	if (rc != CURLE_OK && !(e->cancelled && status && status < 400)) {
		ret = eng_curl_error(e, rc, "GET", dk_buf_cstr(&p));
		goto out;
	}
	if (status >= 400)
		ret = eng_http_error(e, status, "GET", dk_buf_cstr(&p), &errbody);
out:
	dk_buf_release(&l.part[0]);
	dk_buf_release(&l.part[1]);
	dk_buf_release(&p);
	dk_buf_release(&url);
	dk_buf_release(&errbody);
	return ret;
}

/* ---- events ---- */

struct eng_events {
	void (*fn)(void *ud, const json_t *event);
	void *ud;
	struct dk_buf part;
	CURL *curl;
	struct dk_buf *err;
};

static size_t eng_events_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct eng_events *ev = ud;
	size_t n = size * nmemb;
	if (eng_error_answer(ev->curl, ev->err, p, n))
		return n;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (ev->part.len < ENG_MAX_LINE)
				dk_buf_putc(&ev->part, p[i]);
			continue;
		}
		json_t *j = json_loadb(ev->part.ptr ? ev->part.ptr : "", ev->part.len, JSON_ALLOW_NUL, NULL);
		if (json_is_object(j))
			ev->fn(ev->ud, j);
		json_decref(j);
		dk_buf_clear(&ev->part);
	}
	return n;
}

int dk_engine_events_stream(struct dk_engine *e, const json_t *filters, void (*fn)(void *ud, const json_t *event),
			    void *ud)
{
	struct dk_buf p = DK_BUF_INIT, url = DK_BUF_INIT, errbody = DK_BUF_INIT;
	struct eng_events ev = {.fn = fn, .ud = ud, .part = DK_BUF_INIT, .curl = e->curl, .err = &errbody};
	int ret = 0;
	dk_buf_puts(&p, "/events");
	if (filters) {
		char *f = json_dumps(filters, JSON_COMPACT);
		dk_buf_puts(&p, "?filters=");
		if (!f || dk_engine_query_escape(&p, f) < 0)
			ret = dk_error_set("out of memory");
		free(f);
	}
	if (ret == 0 && eng_url(&url, e, dk_buf_cstr(&p)) < 0)
		ret = dk_error_set("out of memory");
	if (ret < 0)
		goto out;
	eng_setup(e, dk_buf_cstr(&url), 0);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, eng_events_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &ev);
	CURLcode rc = curl_easy_perform(e->curl);
	long status = 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400)
		ret = eng_http_error(e, status, "GET", "/events", &errbody);
	else if (rc != CURLE_OK && !e->cancelled)
		ret = eng_curl_error(e, rc, "GET", "/events");
out:
	dk_buf_release(&ev.part);
	dk_buf_release(&p);
	dk_buf_release(&url);
	dk_buf_release(&errbody);
	return ret;
}

/* ---- build ---- */

struct eng_build {
	struct dk_engine *e;
	const struct dk_build_opts *o;
	struct dk_buf raw;    /* bytes of the JSON-lines stream not yet split */
	struct dk_buf text;   /* "stream" text not yet ending in a newline */
	char *image_id;
	struct dk_buf error;  /* the build error, when one came */
	struct dk_buf head;   /* the first 64 KiB of the answer: an error answer's body, whole */
	struct dk_bk *bk;     /* BuildKit's progress so far (buildkit builds) */
	char tail[4][240];    /* the last lines of output (not the builder's own), for the error */
	unsigned ntail;
	int read_failed;
	int overflow;
};

/* Whether a build output line is the builder's own bookkeeping rather than
 * what a step printed. */
static int eng_builder_noise(const char *l)
{
	static const char *const noise[] = {"Step ", " ---> ", "Removing intermediate container", "Successfully ",
					    "Sending build context", "WARNING: Running pip as the 'root' user", "\x1b[0m"};
	for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
		if (!strncmp(l, noise[i], strlen(noise[i])))
			return 1;
	/* BuildKit's "#N NAME", "#N DONE 0.3s" and "#N CACHED" */
	if (l[0] == '#' && (strstr(l, " DONE ") || strstr(l, " CACHED") || strchr(l, '[')))
		return 1;
	return !*l;
}

static void eng_emit(struct eng_build *b, int is_error, const char *s, size_t len)
{
	while (len && (s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	struct dk_buf line = DK_BUF_INIT;
	dk_buf_add(&line, s, len);
	if (!is_error && !eng_builder_noise(dk_buf_cstr(&line)))
		snprintf(b->tail[b->ntail++ % 4], sizeof(b->tail[0]), "%s", dk_buf_cstr(&line));
	if (b->o->line)
		b->o->line(b->o->line_ud, is_error, dk_buf_cstr(&line));
	dk_buf_release(&line);
}

/* Appends stream text and emits every complete line. */
static void eng_stream_text(struct eng_build *b, const char *s)
{
	dk_buf_puts(&b->text, s);
	char *start = b->text.ptr;
	char *nl;
	while (start && (nl = memchr(start, '\n', b->text.len - (size_t)(start - b->text.ptr))) != NULL) {
		eng_emit(b, 0, start, (size_t)(nl - start));
		start = nl + 1;
	}
	if (start && start != b->text.ptr) {
		size_t rest = b->text.len - (size_t)(start - b->text.ptr);
		memmove(b->text.ptr, start, rest);
		dk_buf_truncate(&b->text, rest);
	}
	if (b->text.len > ENG_MAX_LINE) {
		eng_emit(b, 0, b->text.ptr, b->text.len);
		dk_buf_clear(&b->text);
	}
}

static void eng_bk_line(void *ud, int is_error, const char *line)
{
	struct eng_build *b = ud;
	eng_emit(b, is_error, line, strlen(line));
}

static void eng_build_message(struct eng_build *b, const char *s, size_t len)
{
	while (len && (s[len - 1] == '\r' || s[len - 1] == ' '))
		len--;
	if (!len)
		return;
	/* JSON_ALLOW_NUL: an error may quote binary input (\u0000) */
	json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, NULL);
	if (!j || !json_is_object(j)) {
		eng_emit(b, 0, s, len);
		json_decref(j);
		return;
	}
	const char *stream = json_string_value(json_object_get(j, "stream"));
	const char *status = json_string_value(json_object_get(j, "status"));
	const char *err = json_string_value(json_object_get(j, "error"));
	json_t *detail = json_object_get(j, "errorDetail");
	const char *dmsg = json_string_value(json_object_get(detail, "message"));
	const char *aux_id = json_string_value(json_object_get(json_object_get(j, "aux"), "ID"));
	const char *id = json_string_value(json_object_get(j, "id"));
	/* BuildKit's progress: a protobuf message in base64 */
	if (id && !strcmp(id, "moby.buildkit.trace") && json_is_string(json_object_get(j, "aux"))) {
		if (b->bk && dk_bk_trace(b->bk, json_string_value(json_object_get(j, "aux")), eng_bk_line, b) < 0)
			eng_emit(b, 0, dk_error_last(), strlen(dk_error_last()));
		json_decref(j);
		return;
	}
	/* an error answer (HTTP 400 and up) is a lone {"message": ...}: the
	 * engine's own words, kept whole ("dockerfile parse error line 18:
	 * unknown instruction: APK") */
	if (!err && !dmsg && !stream && !status)
		err = json_string_value(json_object_get(j, "message"));
	if (stream)
		eng_stream_text(b, stream);
	if (status) {
		/* Progress updates of a pull are noise in a log; keep the status lines. */
		json_t *pd = json_object_get(j, "progressDetail");
		if (!pd || !json_object_size(pd)) {
			struct dk_buf l = DK_BUF_INIT;
			if (id)
				dk_buf_printf(&l, "%s: ", id);
			dk_buf_puts(&l, status);
			eng_emit(b, 0, dk_buf_cstr(&l), l.len);
			dk_buf_release(&l);
		}
	}
	if (aux_id) {
		free(b->image_id);
		b->image_id = strdup(aux_id);
	}
	if (err || dmsg) {
		const char *m = dmsg ? dmsg : err;
		if (b->text.len) {
			eng_emit(b, 0, b->text.ptr, b->text.len);
			dk_buf_clear(&b->text);
		}
		if (b->error.len)
			dk_buf_putc(&b->error, '\n');
		dk_buf_puts(&b->error, m);
		eng_emit(b, 1, m, strlen(m));
	}
	json_decref(j);
}

static size_t eng_build_write(char *p, size_t size, size_t n, void *ud)
{
	struct eng_build *b = ud;
	size_t len = size * n;
	if (b->head.len < 65536)
		dk_buf_add(&b->head, p, len < 65536 - b->head.len ? len : 65536 - b->head.len);
	if (dk_buf_add(&b->raw, p, len) < 0) {
		b->overflow = 1;
		return 0;
	}
	size_t start = 0;
	for (size_t i = 0; i < b->raw.len; i++) {
		if (b->raw.ptr[i] == '\n') {
			eng_build_message(b, b->raw.ptr + start, i - start);
			start = i + 1;
		}
	}
	if (start) {
		memmove(b->raw.ptr, b->raw.ptr + start, b->raw.len - start);
		dk_buf_truncate(&b->raw, b->raw.len - start);
	}
	return len;
}

static size_t eng_build_read(char *buf, size_t size, size_t n, void *ud)
{
	struct eng_build *b = ud;
	long got = b->o->read(b->o->read_ud, buf, size * n);
	if (got < 0) {
		b->read_failed = 1;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)got;
}

static int eng_json_param(struct dk_buf *p, const char *name, const json_t *obj)
{
	if (!obj || !json_object_size(obj))
		return 0;
	char *s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		return dk_error_set("out of memory");
	dk_buf_printf(p, "&%s=", name);
	int rc = dk_engine_query_escape(p, s);
	free(s);
	return rc;
}

int dk_engine_build(char **out, struct dk_engine *e, const struct dk_build_opts *o)
{
	struct eng_build b;
	struct dk_buf p = DK_BUF_INIT, url = DK_BUF_INIT, errbody = DK_BUF_INIT;
	struct curl_slist *hdrs = NULL;
	int ret = 0;

	memset(&b, 0, sizeof(b));
	b.e = e;
	b.o = o;
	dk_buf_init(&b.raw, 16u << 20);
	dk_buf_clear(&e->last);
	if (o->buildkit && !(b.bk = calloc(1, sizeof(*b.bk))))
		return dk_error_set("out of memory");

	dk_buf_puts(&p, o->buildkit ? "/build?version=2&rm=1&forcerm=1&dockerfile=" : "/build?rm=1&forcerm=1&dockerfile=");
	dk_engine_query_escape(&p, o->dockerfile ? o->dockerfile : "Dockerfile");
	for (size_t i = 0; i < o->ntags; i++) {
		dk_buf_puts(&p, "&t=");
		dk_engine_query_escape(&p, o->tags[i]);
	}
	if (o->nocache)
		dk_buf_puts(&p, "&nocache=1");
	if (eng_json_param(&p, "buildargs", o->buildargs) < 0 || eng_json_param(&p, "labels", o->labels) < 0 ||
	    eng_url(&url, e, dk_buf_cstr(&p)) < 0) {
		ret = dk_error_set("out of memory");
		goto out;
	}
	eng_setup(e, dk_buf_cstr(&url), 0);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-tar");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(e->curl, CURLOPT_READFUNCTION, eng_build_read);
	curl_easy_setopt(e->curl, CURLOPT_READDATA, &b);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, eng_build_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(e->curl);
	if (b.read_failed) {
		ret = dk_error_prefix("cannot send the build context");
		goto out;
	}
	if (rc != CURLE_OK) {
		ret = b.overflow ? dk_error_set("docker engine: POST /build: an output line is too long")
				 : eng_curl_error(e, rc, "POST", "/build");
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400) {
		/* the answer's body, whole (the stream's reading of it logged its
		 * message as an error line already) */
		dk_buf_add(&errbody, b.head.ptr ? b.head.ptr : "", b.head.len);
		ret = eng_http_error(e, status, "POST", "/build", &errbody);
		if (b.o->line && !b.error.len)
			b.o->line(b.o->line_ud, 1, dk_buf_cstr(&e->last));
		goto out;
	}
	if (b.raw.len)
		eng_build_message(&b, b.raw.ptr, b.raw.len);
	if (b.text.len)
		eng_emit(&b, 0, b.text.ptr, b.text.len);
	if (b.error.len) {
		dk_buf_clear(&e->last);
		dk_buf_add(&e->last, b.error.ptr, b.error.len);
		/* the step's own last words (pip's, npm's reason) with the engine's */
		struct dk_buf said = DK_BUF_INIT;
		unsigned n = b.ntail < 4 ? b.ntail : 4;
		for (unsigned i = b.ntail - n; i < b.ntail; i++)
			dk_buf_printf(&said, "%s'%s'", said.len ? " / " : "", b.tail[i % 4]);
		ret = dk_error_set("the image build failed: %s%s%s%s", dk_buf_cstr(&b.error), said.len ? " (its last output: " : "",
				   dk_buf_cstr(&said), said.len ? ")" : "");
		dk_buf_release(&said);
		goto out;
	}
	if (!b.image_id && o->ntags) {
		/* Engines that send no aux ID: the first tag names the image. */
		json_t *img = NULL;
		if (dk_engine_image_inspect(&img, e, o->tags[0]) == 0) {
			const char *id = json_string_value(json_object_get(img, "Id"));
			b.image_id = id ? strdup(id) : NULL;
		}
		json_decref(img);
	}
	if (!b.image_id) {
		ret = dk_error_set("the image build ended without an image id");
		goto out;
	}
	*out = b.image_id;
	b.image_id = NULL;
out:
	curl_slist_free_all(hdrs);
	free(b.bk);
	free(b.image_id);
	dk_buf_release(&b.raw);
	dk_buf_release(&b.text);
	dk_buf_release(&b.error);
	dk_buf_release(&b.head);
	dk_buf_release(&p);
	dk_buf_release(&url);
	dk_buf_release(&errbody);
	return ret;
}
