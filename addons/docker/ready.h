/* Readiness of a new container: whether it answers, decided from the host
 * the way its users will reach it, before it counts as started. */
#ifndef DK_READY_H
#define DK_READY_H

#include <stddef.h>

#include <jansson.h>

/* How readiness is decided, first that applies:
 *  HEALTHCHECK  the image has one: the engine's verdict (healthy);
 *  HTTP         the deployment has a health path: GET it on the published
 *               port, a status below 400 (or the expected one);
 *  TCP          a port is published: a connection to it is accepted and
 *               stays open (through Docker's userland proxy a connect alone
 *               always succeeds; the proxy closes it at once when nothing
 *               listens in the container);
 *  GRACE        nothing to ask: the container must stay up start_grace_s. */
enum dk_ready_kind { DK_READY_HEALTHCHECK, DK_READY_HTTP, DK_READY_TCP, DK_READY_GRACE };

const char *dk_ready_kind_name(enum dk_ready_kind k);

/* Where the host reaches the app: an address and a host port. */
struct dk_ready_target {
	char host[64];       /* "127.0.0.1", "::1", an IP the port is bound to, or the engine's host */
	int port;            /* host port; 0 when nothing is published */
	int container_port;  /* the port inside the container it maps to */
};

/* Whether an inspected container's image declares a HEALTHCHECK (not NONE). */
int dk_ready_has_healthcheck(const json_t *info);

/* The published binding of container_port/tcp in an inspected container
 * (NetworkSettings.Ports); without one, the lowest published tcp port. With
 * network mode host, container_port on the host itself. A binding on all
 * interfaces (0.0.0.0, ::, "") is probed on loopback, or on engine_host when
 * the engine is remote (tcp://host:port; NULL or "" for a local engine).
 * 0 with out filled, or -1 when nothing is published (out->port 0). */
int dk_ready_target(struct dk_ready_target *out, const json_t *info, int container_port, const char *engine_host);

/* "127.0.0.1:49153", "[::1]:49153". */
void dk_ready_address(char *dst, size_t cap, const struct dk_ready_target *t);

enum dk_ready_kind dk_ready_kind(int has_healthcheck, const char *http_path, const struct dk_ready_target *t);

/* The HTTP probe, from the deployment's health settings. */
struct dk_ready_http {
	const char *path;         /* "/health"; NULL: no HTTP probe */
	long expect_status;       /* 0: any status below 400 (below 500 with below_500) */
	const char *expect_body;  /* text the answer must contain, or NULL */
	const char *host_header;  /* the deployment's domain, sent as Host, or NULL */
	int timeout_ms;           /* per probe */
	int below_500;            /* the default probe (GET / of an app with no health path):
	                           * any answer but a server error means the app runs */
};

/* Reads health.path, health.status, health.body, health.timeout_s and the
 * domain from the deployment record (host->deployment_json). Strings point
 * into d. Without a health path, an app that speaks HTTP (the field
 * docker_protocol, http unless it says tcp) is probed with GET / (any
 * status below 500 counts): returns 1 then too. 0 only for a tcp app
 * without a path (h->path NULL: a TCP probe). */
int dk_ready_http_from_deployment(struct dk_ready_http *h, const json_t *d);

/* How many ready answers in a row make a release ready: one answer can come
 * from a server whose app then fails (gunicorn's master binds before its
 * worker imports the app). */
#define DK_READY_STREAK 2

/* The verdict on one HTTP answer (transport_error NULL when one came):
 * 1 ready, 0 not, with what was seen in why ("status 200", "connection
 * refused", "status 503 (expected a status below 400)"). */
int dk_ready_http_verdict(char *why, size_t cap, const char *transport_error, long status, const char *body,
			  size_t body_len, const struct dk_ready_http *h);

/* One probe each: 1 ready, 0 not (why says what was seen). */
int dk_ready_probe_http(char *why, size_t cap, const struct dk_ready_target *t, const struct dk_ready_http *h);
int dk_ready_probe_tcp(char *why, size_t cap, const struct dk_ready_target *t, int timeout_ms);

/* The pause before probe number attempt (1-based): 250 ms for the first two
 * seconds, 500 ms up to ten, then one second. */
int dk_ready_delay_ms(int attempt);

#endif
