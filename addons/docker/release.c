/* Build, replace-with-rollback, health and removal of a deployment's
 * container through the Engine API. A bad commit never takes down a good
 * release: the previous container stays until the new one proves itself. */
#include "release.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "util/error.h"
#include "util/banned.h"

void dk_logf(const struct dk_log *log, int level, const char *fmt, ...)
{
	if (!log || !log->line)
		return;
	struct wo_buf b = WO_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	wo_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	log->line(log->ud, level, wo_buf_cstr(&b));
	wo_buf_release(&b);
}

static double rel_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rel_build_line(void *ud, int is_error, const char *line)
{
	const struct dk_log *log = ud;
	dk_logf(log, is_error ? DK_LOG_ERROR : DK_LOG_INFO, "%s", line);
}

int dk_release_build(char **out, struct dk_engine *e, const struct dk_build_input *in, const struct dk_log *log)
{
	struct dk_context *ctx = NULL;
	if (dk_context_open(&ctx, in->source_dir, in->dockerfile) < 0)
		return -1;
	dk_logf(log, DK_LOG_INFO, "sending the build context: %zu entries, %llu bytes of files", dk_context_count(ctx),
		dk_context_bytes(ctx));
	struct dk_build_opts o = {
		.tags = in->tags, .ntags = in->ntags, .dockerfile = in->dockerfile, .buildargs = in->buildargs,
		.labels = in->labels, .read = dk_context_read, .read_ud = ctx, .line = rel_build_line,
		.line_ud = (void *)log,
	};
	int rc = dk_engine_build(out, e, &o);
	dk_context_free(ctx);
	return rc;
}

void dk_run_result_release(struct dk_run_result *r)
{
	if (!r)
		return;
	free(r->container_id);
	json_decref(r->ports);
	memset(r, 0, sizeof(*r));
}

static const char *rel_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* Host ports a container publishes ("18080/tcp" style keys of the bindings' HostPort). */
static int rel_ports_overlap(const json_t *old_info, const struct dk_spec *spec)
{
	json_t *hc = json_object_get(old_info, "HostConfig");
	if (strcmp(rel_str(hc, "NetworkMode"), "host") == 0 || strcmp(spec->network, "host") == 0)
		return 1;
	json_t *bindings = json_object_get(hc, "PortBindings");
	const char *k;
	json_t *list;
	json_object_foreach(bindings, k, list) {
		size_t i;
		json_t *b;
		json_array_foreach(list, i, b) {
			const char *hp = rel_str(b, "HostPort");
			size_t j;
			json_t *v;
			json_array_foreach(spec->ports, j, v) {
				struct dk_port p;
				if (dk_port_parse(&p, json_string_value(v), NULL) == 0 && strtol(hp, NULL, 10) == p.host_port)
					return 1;
			}
		}
	}
	return 0;
}

/* "127.0.0.1:18080->80/tcp" for each published port of an inspected container. */
static json_t *rel_published(const json_t *info)
{
	json_t *out = json_array();
	json_t *ports = json_object_get(json_object_get(info, "NetworkSettings"), "Ports");
	const char *k;
	json_t *list;
	json_object_foreach(ports, k, list) {
		size_t i;
		json_t *b;
		json_array_foreach(list, i, b) {
			struct wo_buf s = WO_BUF_INIT;
			const char *ip = rel_str(b, "HostIp");
			wo_buf_printf(&s, "%s:%s->%s", *ip ? ip : "0.0.0.0", rel_str(b, "HostPort"), k);
			json_array_append_new(out, json_string(wo_buf_cstr(&s)));
			wo_buf_release(&s);
		}
	}
	return out;
}

int dk_release_health(struct dk_health *out, struct dk_engine *e, const char *container)
{
	struct dk_health h;
	memset(&h, 0, sizeof(h));
	json_t *info = NULL, *stats = NULL;
	int rc = dk_engine_container_inspect(&info, e, container);
	if (rc == DK_ENOTFOUND) {
		snprintf(h.reason, sizeof(h.reason), "the container '%s' does not exist", container);
		*out = h;
		return 0;
	}
	if (rc < 0)
		return rc;
	dk_health_from_inspect(&h, info);
	json_decref(info);
	/* A container that does not run uses nothing; the engine would answer
	 * with zeros after waiting for a sample that never comes. */
	if (h.running && !h.restarting) {
		rc = dk_engine_container_stats(&stats, e, container);
		if (rc == 0 && dk_stats_from_json(&h.stats, stats) == 0)
			h.has_stats = 1;
		else
			snprintf(h.stats_error, sizeof(h.stats_error), "%s",
				 rc < 0 ? wo_error_last() : "the engine's stats answer is not an object");
		json_decref(stats);
	}
	*out = h;
	return 0;
}

static void rel_log_tail(struct dk_engine *e, const char *id, const struct dk_log *log)
{
	struct wo_buf logs = WO_BUF_INIT;
	if (dk_engine_container_logs(&logs, e, id, 20) < 0 || !logs.len) {
		wo_buf_release(&logs);
		return;
	}
	dk_logf(log, DK_LOG_WARN, "last output of the new container:");
	const char *p = logs.ptr;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		dk_logf(log, DK_LOG_WARN, "  | %.*s", (int)n, p);
		p = nl ? nl + 1 : NULL;
	}
	wo_buf_release(&logs);
}

/* Waits until the new container proves itself: running for grace_s (or
 * healthy, with a HEALTHCHECK). 0, or -1 with the reason in why. */
static int rel_wait(struct dk_engine *e, const char *id, const struct dk_run_opts *o, char *why, size_t cap,
		    const struct dk_log *log)
{
	double start = rel_now();
	double deadline = start + (o->start_timeout_s > 0 ? o->start_timeout_s : 60);
	int grace = o->grace_s > 0 ? o->grace_s : 3;
	int said_health = 0;
	for (;;) {
		json_t *info = NULL;
		int rc = dk_engine_container_inspect(&info, e, id);
		if (rc < 0) {
			snprintf(why, cap, "%s", wo_error_last());
			return -1;
		}
		struct dk_health h;
		memset(&h, 0, sizeof(h));
		dk_health_from_inspect(&h, info);
		json_decref(info);
		if (!h.running || h.restarting || h.restart_count > 0) {
			if (h.reason[0])
				snprintf(why, cap, "the new container %s", h.reason);
			else
				snprintf(why, cap, "the new container exited and Docker restarted it (%d restart%s)",
					 h.restart_count, h.restart_count == 1 ? "" : "s");
			return -1;
		}
		double t = rel_now();
		if (h.health[0]) {
			if (!said_health) {
				dk_logf(log, DK_LOG_INFO, "waiting for the new container's HEALTHCHECK (up to %d s)",
					o->start_timeout_s);
				said_health = 1;
			}
			if (strcmp(h.health, "healthy") == 0)
				return 0;
			if (strcmp(h.health, "unhealthy") == 0) {
				snprintf(why, cap, "the new container is unhealthy: %s", h.reason);
				return -1;
			}
		} else if (t - start >= grace) {
			return 0;
		}
		if (t >= deadline) {
			snprintf(why, cap, "the new container was not %s within %d s", h.health[0] ? "healthy" : "up",
				 o->start_timeout_s);
			return -1;
		}
		if (o->cancelled && o->cancelled(o->cancel_ud)) {
			snprintf(why, cap, "the run was cancelled");
			return -1;
		}
		usleep(250000);
	}
}

/* A leftover "-previous" from a deploy that died half-way: restore or drop it. */
static void rel_tidy(struct dk_engine *e, const struct dk_spec *spec, const struct dk_log *log)
{
	json_t *prev = NULL, *cur = NULL;
	if (dk_engine_container_inspect(&prev, e, spec->previous) != 0)
		return;
	int cur_rc = dk_engine_container_inspect(&cur, e, spec->container);
	int cur_running = cur_rc == 0 && json_is_true(json_object_get(json_object_get(cur, "State"), "Running"));
	if (cur_rc == DK_ENOTFOUND) {
		dk_logf(log, DK_LOG_WARN, "found '%s' from an interrupted deploy: restoring it as '%s'", spec->previous,
			spec->container);
		dk_engine_container_rename(e, spec->previous, spec->container);
		if (json_is_true(json_object_get(json_object_get(prev, "State"), "Running")) ||
		    strcmp(rel_str(json_object_get(prev, "State"), "Status"), "exited") == 0)
			dk_engine_container_start(e, spec->container);
	} else if (cur_rc == 0 && cur_running) {
		dk_logf(log, DK_LOG_WARN, "removing '%s' left by an interrupted deploy", spec->previous);
		dk_engine_container_remove(e, spec->previous, 1);
	} else if (cur_rc == 0) {
		dk_logf(log, DK_LOG_WARN, "'%s' is not running; restoring '%s' left by an interrupted deploy",
			spec->container, spec->previous);
		dk_engine_container_remove(e, spec->container, 1);
		dk_engine_container_rename(e, spec->previous, spec->container);
		dk_engine_container_start(e, spec->container);
	}
	json_decref(prev);
	json_decref(cur);
}

int dk_release_run(struct dk_run_result *out, struct dk_engine *e, const struct dk_spec *spec, const char *image,
		   const struct dk_run_opts *o, const struct dk_log *log)
{
	json_t *old = NULL, *body = NULL, *info = NULL;
	char *id = NULL;
	char why[1536] = "";
	int ret = 0, had_old = 0, old_running = 0, old_stopped_by_us = 0;

	rel_tidy(e, spec, log);
	int rc = dk_engine_container_inspect(&old, e, spec->container);
	if (rc == 0) {
		had_old = 1;
		old_running = json_is_true(json_object_get(json_object_get(old, "State"), "Running"));
		dk_logf(log, DK_LOG_INFO, "keeping the current container (%.12s, %s) until the new one is up",
			rel_str(old, "Id"), old_running ? "running" : "not running");
		if (dk_engine_container_rename(e, spec->container, spec->previous) < 0) {
			ret = wo_error_prefix("cannot set the current container aside");
			goto out;
		}
	} else if (rc != DK_ENOTFOUND) {
		ret = rc;
		goto out;
	}

	body = dk_spec_create_body(spec, image);
	if (!body) {
		ret = wo_error_set("out of memory");
		goto restore;
	}
	if (dk_engine_container_create(&id, e, spec->container, body) < 0) {
		snprintf(why, sizeof(why), "cannot create the new container: %s", wo_error_last());
		goto restore;
	}
	dk_logf(log, DK_LOG_INFO, "created container %s (%.12s) from %s", spec->container, id, image);
	if (old_running && rel_ports_overlap(old, spec)) {
		dk_logf(log, DK_LOG_INFO, "stopping the current container to free its ports (it is kept until the "
			"new one is up)");
		if (dk_engine_container_stop(e, spec->previous, o->stop_timeout_s) < 0)
			dk_logf(log, DK_LOG_WARN, "cannot stop the current container: %s", wo_error_last());
		old_stopped_by_us = 1;
	}
	if (dk_engine_container_start(e, id) < 0) {
		snprintf(why, sizeof(why), "cannot start the new container: %s", wo_error_last());
		goto restore;
	}
	if (rel_wait(e, id, o, why, sizeof(why), log) < 0)
		goto restore;

	/* The new container is up: the old one goes. */
	if (had_old) {
		if (dk_engine_container_remove(e, spec->previous, 1) < 0)
			dk_logf(log, DK_LOG_WARN, "cannot remove the previous container: %s", wo_error_last());
		else
			dk_logf(log, DK_LOG_INFO, "removed the previous container (%.12s)", rel_str(old, "Id"));
	}
	if (dk_engine_container_inspect(&info, e, id) == 0)
		out->ports = rel_published(info);
	else
		out->ports = json_array();
	out->container_id = id;
	out->replaced = had_old;
	id = NULL;
	goto out;

restore:
	if (id) {
		rel_log_tail(e, id, log);
		if (dk_engine_container_remove(e, id, 1) < 0)
			dk_logf(log, DK_LOG_WARN, "cannot remove the new container: %s", wo_error_last());
		else
			dk_logf(log, DK_LOG_INFO, "removed the new container");
	}
	if (!had_old) {
		ret = wo_error_set("%s; there was no previous version to keep", why[0] ? why : wo_error_last());
		goto out;
	}
	if (dk_engine_container_rename(e, spec->previous, spec->container) < 0) {
		ret = wo_error_set("%s; and the previous container could not be renamed back: %s", why, wo_error_last());
		goto out;
	}
	if (old_running || old_stopped_by_us) {
		json_t *st = NULL;
		int running = dk_engine_container_inspect(&st, e, spec->container) == 0 &&
			      json_is_true(json_object_get(json_object_get(st, "State"), "Running"));
		json_decref(st);
		if (!running && dk_engine_container_start(e, spec->container) < 0) {
			ret = wo_error_set("%s; and the previous container could not be started again: %s", why,
					   wo_error_last());
			goto out;
		}
		dk_logf(log, DK_LOG_WARN, "the previous container (%.12s) was kept and is running", rel_str(old, "Id"));
		ret = wo_error_set("%s; the previous version keeps running", why);
	} else {
		ret = wo_error_set("%s; the previous container was kept (it was not running)", why);
	}
out:
	free(id);
	json_decref(old);
	json_decref(body);
	json_decref(info);
	return ret;
}

int dk_release_remove(struct dk_engine *e, const struct dk_spec *spec, int remove_images, const struct dk_log *log)
{
	const char *names[] = {spec->container, spec->previous};
	for (size_t i = 0; i < 2; i++) {
		int rc = dk_engine_container_remove(e, names[i], 1);
		if (rc == 0)
			dk_logf(log, DK_LOG_INFO, "removed the container %s", names[i]);
		else if (rc != DK_ENOTFOUND)
			return rc;
	}
	if (!remove_images)
		return 0;
	struct wo_buf label = WO_BUF_INIT;
	wo_buf_printf(&label, "webops.deployment=%s", spec->name);
	json_t *imgs = NULL;
	int rc = dk_engine_image_list(&imgs, e, wo_buf_cstr(&label));
	wo_buf_release(&label);
	if (rc < 0)
		return rc;
	size_t i;
	json_t *img;
	json_array_foreach(imgs, i, img) {
		const char *iid = rel_str(img, "Id");
		if (dk_engine_image_remove(e, iid, 1) == 0)
			dk_logf(log, DK_LOG_INFO, "removed the image %.19s", iid);
		else
			dk_logf(log, DK_LOG_WARN, "cannot remove the image %.19s: %s", iid, wo_error_last());
	}
	json_decref(imgs);
	return 0;
}
