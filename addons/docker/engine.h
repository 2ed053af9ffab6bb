/* Docker Engine API client over libcurl: unix socket or tcp (TLS with
 * DOCKER_TLS_VERIFY / DOCKER_CERT_PATH), API version negotiated from /_ping. */
#ifndef DK_ENGINE_H
#define DK_ENGINE_H

#include <stddef.h>

#include <jansson.h>

#include "dkutil.h"

/* The API versions this client speaks: it uses min(server, DK_API_MAX) and
 * refuses an engine older than DK_API_MIN. */
#define DK_API_MIN_MAJOR 1
#define DK_API_MIN_MINOR 25
#define DK_API_MAX_MAJOR 1
#define DK_API_MAX_MINOR 43

#define DK_DEFAULT_HOST "unix:///var/run/docker.sock"

/* Returns besides -1 (see dk_error_last for the message). */
#define DK_ENOTFOUND (-2)    /* HTTP 404: no such container / image */
#define DK_ECONFLICT (-3)    /* HTTP 409 */
#define DK_EUNAVAILABLE (-4) /* the engine cannot be reached */
#define DK_ECANCELLED (-5)   /* the cancel callback asked to stop */

struct dk_engine;

/* Connects to host (NULL or "": $DOCKER_HOST, else DK_DEFAULT_HOST), pings it
 * and negotiates the API version. Fails within about connect_timeout_ms
 * (0: 2000) with "Docker is not available: cannot connect to HOST (why)". */
int dk_engine_open(struct dk_engine **out, const char *host, long connect_timeout_ms);
void dk_engine_free(struct dk_engine *e);
/* The host as used ("unix:///var/run/docker.sock"); borrowed. */
const char *dk_engine_host(const struct dk_engine *e);
/* Whether host (as dk_engine_open takes it) names a unix socket that does
 * not exist: no engine is set up there. */
int dk_engine_unconfigured(const char *host);
/* The engine's state as the addon reports it: {"state": "running" |
 * "unconfigured" (no socket) | "failed", "reason" (not running), "host",
 * "version", "api_version", "storage_driver", "cgroup_version", "nvidia"
 * ("true" when the nvidia runtime is registered), "containers_running"};
 * every value a string. New reference. */
json_t *dk_engine_state(const char *host);
/* The negotiated API version ("1.41"); borrowed. */
const char *dk_engine_api_version(const struct dk_engine *e);
/* The full text of the last error the engine returned (which dk_error_last
 * may shorten); "" when none. Borrowed. */
const char *dk_engine_last_message(const struct dk_engine *e);
/* A long call (build, wait) polls fn about once a second and stops with
 * DK_ECANCELLED when it returns non-zero. */
void dk_engine_set_cancel(struct dk_engine *e, int (*fn)(void *ud), void *ud);

/* One request: path without the version prefix ("/containers/json?all=1");
 * body NULL for none. *out (may be NULL) gets the decoded JSON response
 * (null for an empty body). timeout_ms 0: 60 s. HTTP 304 counts as success. */
int dk_engine_request(json_t **out, struct dk_engine *e, const char *method, const char *path,
		      const json_t *body, long timeout_ms);
/* Appends s percent-encoded for a URL query to b. */
int dk_engine_query_escape(struct dk_buf *b, const char *s);

int dk_engine_image_inspect(json_t **out, struct dk_engine *e, const char *ref);
int dk_engine_image_remove(struct dk_engine *e, const char *ref, int force);
/* Images whose labels match label ("key=value" or "key"). */
int dk_engine_image_list(json_t **out, struct dk_engine *e, const char *label);
/* The same, untagged ones only (build stages left behind by multi-stage builds). */
int dk_engine_image_list_dangling(json_t **out, struct dk_engine *e, const char *label);

/* config is the body of POST /containers/create; *out gets the new id. */
int dk_engine_container_create(char **out, struct dk_engine *e, const char *name, const json_t *config);
int dk_engine_container_start(struct dk_engine *e, const char *id);
/* POST /containers/{id}/update with body ({"RestartPolicy": {...}}, limits). */
int dk_engine_container_update(struct dk_engine *e, const char *id, const json_t *body);
/* Sends SIGTERM, then SIGKILL after timeout_s. Stopping a stopped one is fine. */
int dk_engine_container_stop(struct dk_engine *e, const char *id, int timeout_s);
int dk_engine_container_kill(struct dk_engine *e, const char *id, const char *signal);
/* force: also a running one. Removes its anonymous volumes. DK_ENOTFOUND when absent. */
int dk_engine_container_remove(struct dk_engine *e, const char *id, int force);
int dk_engine_container_inspect(json_t **out, struct dk_engine *e, const char *id);
/* GET /containers/{id}/stats?stream=false: one sample of the container's
 * CPU, memory, network and block I/O counters, with the previous sample in
 * precpu_stats. The engine takes one to two seconds to answer: it waits for
 * its next sample (it samples every second) so that precpu_stats is filled
 * and a CPU percentage can be computed from the difference (docker stats
 * --no-stream does the same). one-shot=true (API 1.41) skips the second
 * sample but leaves precpu_stats empty, so no CPU figure; two one-shot calls
 * a second apart would cost the same second for more code. Numbers are
 * decoded as reals. Gives up after DK_STATS_TIMEOUT_MS, well inside a health
 * hook's 30 s default. */
#define DK_STATS_TIMEOUT_MS 10000
int dk_engine_container_stats(json_t **out, struct dk_engine *e, const char *id);
int dk_engine_container_rename(struct dk_engine *e, const char *id, const char *name);
/* Containers (running or not, when all) whose labels match label. */
int dk_engine_container_list(json_t **out, struct dk_engine *e, const char *label, int all);
/* The last tail lines of stdout and stderr, demultiplexed, appended to out. */
int dk_engine_container_logs(struct dk_buf *out, struct dk_engine *e, const char *id, int tail);

/* What GET /containers/{id}/logs is asked for. */
struct dk_logs_opts {
	int tail;           /* the last N lines; < 0: all */
	long long since;    /* only lines after this Unix time; 0: from the start */
	int follow;         /* keep streaming until the container stops or the call is cancelled */
	int timestamps;     /* each line starts with the engine's RFC 3339 timestamp */
};

/* Streams a container's stdout and stderr line by line to line (is_stderr
 * says which; a TTY container's output all comes as stdout), demultiplexing
 * the engine's 8-byte frame headers as they arrive. A follow ends when the
 * container stops, or with an error when the cancel callback says so. */
int dk_engine_container_logs_stream(struct dk_engine *e, const char *id, const struct dk_logs_opts *o,
				    void (*line)(void *ud, int is_stderr, const char *text), void *ud);

/* Streams GET /events (filters: a JSON object as the Engine takes it, or
 * NULL), calling fn with each event object as it comes, until the engine
 * closes the stream or the cancel callback says so (then 0). */
int dk_engine_events_stream(struct dk_engine *e, const json_t *filters, void (*fn)(void *ud, const json_t *event),
			    void *ud);

/* Feeds the build context (a tar stream): fills buf[0..cap), returns the
 * number of bytes (0 at the end) or -1 on error (with a dk_error message). */
typedef long (*dk_read_fn)(void *ud, char *buf, size_t cap);
/* Receives one line of build output (without the newline). is_error: the
 * line is the engine's error message. */
typedef void (*dk_line_fn)(void *ud, int is_error, const char *line);

struct dk_build_opts {
	const char *const *tags;  /* "repo:tag", ntags of them */
	size_t ntags;
	const char *dockerfile;   /* path inside the context; NULL: Dockerfile */
	const json_t *buildargs;  /* object of strings, or NULL */
	const json_t *labels;     /* object of strings, or NULL */
	int nocache;
	int buildkit;             /* build with the engine's BuildKit (version=2) rather than the classic builder */
	dk_read_fn read;
	void *read_ud;
	dk_line_fn line;
	void *line_ud;
};

/* POST /build with the context streamed (chunked) from opts->read and the
 * output streamed line by line to opts->line. *out gets the image id
 * ("sha256:..."). A build error in the stream fails with its message. */
int dk_engine_build(char **out, struct dk_engine *e, const struct dk_build_opts *opts);

/* "1.43" into 1 and 43; -1 when it is not MAJOR.MINOR (for tests too). */
int dk_engine_parse_version(const char *s, int *major, int *minor);

#endif
