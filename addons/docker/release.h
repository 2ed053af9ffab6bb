/* Releasing a deployment with Docker: build the image from the source tree,
 * replace the running container without ever losing a good one, report
 * health, stop/start, and remove everything on delete. */
#ifndef DK_RELEASE_H
#define DK_RELEASE_H

#include <jansson.h>

#include "engine.h"
#include "health.h"
#include "spec.h"

/* Levels, numbered like enum webops_log_level. */
enum { DK_LOG_DEBUG = 0, DK_LOG_INFO = 1, DK_LOG_WARN = 2, DK_LOG_ERROR = 3 };

struct dk_log {
	void (*line)(void *ud, int level, const char *line);
	void *ud;
};

void dk_logf(const struct dk_log *log, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct dk_build_input {
	const char *source_dir;
	const char *dockerfile;        /* relative to source_dir */
	const char *const *tags;
	size_t ntags;
	const json_t *buildargs;       /* object or NULL */
	const json_t *labels;          /* object or NULL */
};

/* Streams the context (with .dockerignore) and builds; output goes to log
 * line by line. *out gets the image id. */
int dk_release_build(char **out, struct dk_engine *e, const struct dk_build_input *in, const struct dk_log *log);

struct dk_run_opts {
	int start_timeout_s;  /* how long the new container may take to run (and be healthy) */
	int grace_s;          /* without a HEALTHCHECK: how long it must stay up */
	int stop_timeout_s;   /* SIGTERM -> SIGKILL when stopping the previous one */
	int (*cancelled)(void *ud);
	void *cancel_ud;
};

struct dk_run_result {
	char *container_id;
	json_t *ports;        /* array of "127.0.0.1:18080->80/tcp" */
	int replaced;         /* a previous container was replaced */
};

/* Creates spec->container from image and starts it. The previous container
 * (if any) is kept, renamed to spec->previous, until the new one runs (and is
 * healthy when the image has a HEALTHCHECK); then it is removed. If the new
 * one fails, it is removed, the previous one is renamed back and started again
 * when it was running, and the error says so. */
int dk_release_run(struct dk_run_result *out, struct dk_engine *e, const struct dk_spec *spec, const char *image,
		   const struct dk_run_opts *o, const struct dk_log *log);
void dk_run_result_release(struct dk_run_result *r);

/* Inspects the container and, when it runs, reads its CPU and memory use
 * (GET /containers/{id}/stats, one to two seconds: see dk_engine_container_stats).
 * Returns 0 (with out filled, also when the container is absent or its stats
 * could not be read: has_stats 0, stats_error says why), or an error when the
 * engine cannot be asked about the container at all. */
int dk_release_health(struct dk_health *out, struct dk_engine *e, const char *container);

/* Removes the deployment's containers (current and previous); with
 * remove_images also every image labelled webops.deployment=name. */
int dk_release_remove(struct dk_engine *e, const struct dk_spec *spec, int remove_images, const struct dk_log *log);

#endif
