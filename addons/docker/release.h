/* Releasing a deployment with Docker: build the image from the source tree,
 * replace the running container without ever losing a good one, report
 * health, stop/start, and remove everything on delete. */
#ifndef DK_RELEASE_H
#define DK_RELEASE_H

#include <jansson.h>

#include "engine.h"
#include "health.h"
#include "ready.h"
#include "spec.h"
#include "swap.h"

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
	const char *const *always;     /* paths sent whatever .dockerignore says (generated files) */
	size_t nalways;
	int buildkit;                  /* the engine's BuildKit rather than the classic builder */
};

/* Streams the context (with .dockerignore) and builds; output goes to log
 * line by line. *out gets the image id. */
int dk_release_build(char **out, struct dk_engine *e, const struct dk_build_input *in, const struct dk_log *log);

struct dk_run_opts {
	int start_timeout_s;  /* how long the new container may take to be ready */
	int grace_s;          /* nothing to probe (no port, no HEALTHCHECK): how long it must stay up */
	int stop_timeout_s;   /* SIGTERM -> SIGKILL when stopping the previous one */
	const struct dk_ready_http *http;  /* the deployment's health path probe, or NULL */
	const char *engine_host;           /* host of a tcp:// engine, probed instead of loopback; NULL: local */
	int (*cancelled)(void *ud);
	void *cancel_ud;
};

struct dk_run_result {
	char *container_id;   /* the new container */
	char *container;      /* its name while it proves itself, webops-NAME-r<RUN> */
	char *previous_id;    /* the release that was serving when the deploy began; NULL when none */
	char *previous;       /* its name */
	int previous_running; /* it ran when the deploy began */
	int previous_stopped; /* this deploy stopped it to free its host ports (fixed ports) */
	json_t *ports;        /* array of "127.0.0.1:18080->80/tcp" */
	char upstream[96];    /* where the host reaches the app's port ("127.0.0.1:49153"); "" when not published */
	char ready[512];      /* how it proved ready, for the log */
};

void dk_run_result_release(struct dk_run_result *r);

/* Tidy-up at the start of a deploy, so that it starts from the last good
 * release whatever happened to the deploys before (killed, timed out,
 * cancelled): removes every container of the deployment that is neither the
 * good release (see dk_tidy_plan) nor a running proxy candidate, names the
 * good one webops-NAME and starts it unless it was stopped on purpose. st
 * is the record (NULL: none). 0, or an error when the engine cannot list the
 * containers. A step that fails is logged and the rest goes on. */
int dk_release_tidy(struct dk_engine *e, const char *name, const struct dk_state *st, const struct dk_log *log);

/* The container serving a deployment: the recorded one while it exists,
 * else the one named webops-NAME. DK_ENOTFOUND when neither exists.
 * *id_out and *name_out (each may be NULL) are the caller's to free. */
int dk_release_serving(char **id_out, char **name_out, struct dk_engine *e, const char *name,
		       const struct dk_state *st);

/* Creates the container `candidate` for image next to the serving one
 * (webops-NAME, as the tidy-up left it), starts it and waits until it is
 * ready (ready.h), logging every probe. With fixed host ports that the
 * serving one holds, the serving one is stopped first (and kept). In proxy
 * mode (spec->proxy) the serving one is never touched. If the new one fails
 * to start, exits, restarts, turns unhealthy, never answers within
 * start_timeout_s or the run is cancelled, it is abandoned
 * (dk_release_abandon) and the error says what happened. */
int dk_release_start(struct dk_run_result *out, struct dk_engine *e, const struct dk_spec *spec, const char *image,
		     const char *candidate, const struct dk_run_opts *o, const struct dk_log *log);

/* Waits until a started container is ready, as dk_release_start does
 * (o->grace_s 0: no wait when there is nothing to probe); upstream gets the
 * host address of its app port ("" when not published). 0, or -1 with the
 * reason. Changes nothing. */
int dk_release_wait(char *upstream, size_t cap, struct dk_engine *e, const char *id, const struct dk_spec *spec,
		    const struct dk_run_opts *o, const struct dk_log *log);

/* Gives up a new container that was not recorded as good: logs its last
 * output, removes it, and starts the previous one again when it ran before
 * (or was stopped for its ports). Engine calls are made even when the run is
 * cancelled (the cancel callback is cleared first), so that a SIGTERM
 * leaves things sound. Always -1, with the error "WHY; the previous version
 * keeps running" (or why it could not be kept). */
int dk_release_abandon(struct dk_engine *e, const struct dk_run_result *r, const char *why,
		       const struct dk_log *log);

/* Sets the error "WHY; and WHAT: CAUSE", CAUSE being the current error
 * message, copied first: an error composed from the last error must never
 * be formatted into its own buffer. Always -1. */
int dk_release_fail(const char *why, const char *what);

/* Retires every container of the deployment but keep_id: stopped (graceful,
 * stop_timeout_s) and removed; then keep_id is named webops-NAME. Failures
 * are logged, not fatal (the next tidy-up removes what is left); -1 only
 * when the containers cannot be listed. */
int dk_release_retire(struct dk_engine *e, const char *name, const char *keep_id, int stop_timeout_s,
		      const struct dk_log *log);

/* Inspects the container and, when it runs, reads its CPU and memory use
 * (GET /containers/{id}/stats, one to two seconds: see dk_engine_container_stats).
 * Returns 0 (with out filled, also when the container is absent or its stats
 * could not be read: has_stats 0, stats_error says why), or an error when the
 * engine cannot be asked about the container at all. */
int dk_release_health(struct dk_health *out, struct dk_engine *e, const char *container);

/* Removes every container of the deployment (labelled webops.deployment=name,
 * and webops-NAME / webops-NAME-previous whatever their labels); with
 * remove_images also every image labelled webops.deployment=name. */
int dk_release_remove(struct dk_engine *e, const char *name, int remove_images, const struct dk_log *log);

/* Removes the deployment's untagged images (the first stage of a generated
 * static site's build, labelled with the deployment), which would otherwise
 * pile up with every deploy. Images in use are left alone. */
int dk_release_prune_stages(struct dk_engine *e, const char *name, const struct dk_log *log);

/* The release command (Heroku's `release:`): runs once per deploy in a
 * one-off container of the new image (the app's env, volumes and network,
 * no published port) before the new release takes traffic, `sh -c CMD`
 * inside the container. Its output goes to the log (the last 200 lines).
 * 0 when it exited 0; -1 with the reason (its exit code, a timeout, a
 * cancel) otherwise; the container is removed either way. */
int dk_release_command(struct dk_engine *e, const struct dk_spec *spec, const char *image, const char *name,
		       const char *command, int timeout_s, const struct dk_run_opts *o, const struct dk_log *log);

#endif
