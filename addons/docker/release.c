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
#include "dkutil.h"

void dk_logf(const struct dk_log *log, int level, const char *fmt, ...)
{
	if (!log || !log->line)
		return;
	struct dk_buf b = DK_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	dk_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	log->line(log->ud, level, dk_buf_cstr(&b));
	dk_buf_release(&b);
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
	if (dk_context_open_with(&ctx, in->source_dir, in->dockerfile, in->always, in->nalways) < 0)
		return -1;
	dk_logf(log, DK_LOG_INFO, "sending the build context: %zu entries, %llu bytes of files", dk_context_count(ctx),
		dk_context_bytes(ctx));
	struct dk_build_opts o = {
		.tags = in->tags, .ntags = in->ntags, .dockerfile = in->dockerfile, .buildargs = in->buildargs,
		.labels = in->labels, .read = dk_context_read, .read_ud = ctx, .line = rel_build_line,
		.line_ud = (void *)log, .buildkit = in->buildkit,
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
	free(r->container);
	free(r->previous_id);
	free(r->previous);
	json_decref(r->ports);
	memset(r, 0, sizeof(*r));
}

static const char *rel_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static int rel_running(const json_t *info)
{
	return json_is_true(json_object_get(json_object_get(info, "State"), "Running"));
}

int dk_release_fail(const char *why, const char *what)
{
	/* copies first: either may be the last error's own buffer */
	char cause[1024], said[1536];
	snprintf(cause, sizeof(cause), "%s", dk_error_last());
	snprintf(said, sizeof(said), "%s", why ? why : "");
	if (!said[0])
		return dk_error_set("%s: %s", what, cause[0] ? cause : "unknown error");
	if (!cause[0])
		return dk_error_set("%s; and %s", said, what);
	return dk_error_set("%s; and %s: %s", said, what, cause);
}

/* Whether the new container needs host ports the old one holds. */
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
			long hp = strtol(rel_str(b, "HostPort"), NULL, 10);
			size_t j;
			json_t *v;
			if (hp <= 0)
				continue;  /* an engine-picked port never collides with a fixed one */
			json_array_foreach(spec->ports, j, v) {
				struct dk_port p;
				if (dk_port_parse(&p, json_string_value(v), NULL) == 0 && hp == p.host_port)
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
			struct dk_buf s = DK_BUF_INIT;
			const char *ip = rel_str(b, "HostIp");
			dk_buf_printf(&s, "%s:%s->%s", *ip ? ip : "0.0.0.0", rel_str(b, "HostPort"), k);
			json_array_append_new(out, json_string(dk_buf_cstr(&s)));
			dk_buf_release(&s);
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
				 rc < 0 ? dk_error_last() : "the engine's stats answer is not an object");
		json_decref(stats);
	}
	*out = h;
	return 0;
}

static void rel_log_tail(struct dk_engine *e, const char *id, const struct dk_log *log)
{
	struct dk_buf logs = DK_BUF_INIT;
	if (dk_engine_container_logs(&logs, e, id, 20) < 0 || !logs.len) {
		dk_buf_release(&logs);
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
	dk_buf_release(&logs);
}

/* The deployment's containers (all states), from the engine's list. */
static int rel_list(json_t **out, struct dk_engine *e, const char *name)
{
	struct dk_buf label = DK_BUF_INIT;
	dk_buf_printf(&label, "webops.deployment=%s", name);
	int rc = dk_engine_container_list(out, e, dk_buf_cstr(&label), 1);
	dk_buf_release(&label);
	return rc;
}

/* Adds a container found by name that carries no label (made by hand, or by
 * a unit of an older webops) to the list, once. */
static void rel_list_add_named(json_t *list, struct dk_engine *e, const char *cname)
{
	json_t *info = NULL;
	if (dk_engine_container_inspect(&info, e, cname) != 0)
		return;
	const char *id = rel_str(info, "Id");
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c)
		if (strcmp(rel_str(c, "Id"), id) == 0)
			goto out;
	struct dk_buf n = DK_BUF_INIT;
	dk_buf_printf(&n, "/%s", cname);
	json_array_append_new(list, json_pack("{s:s,s:[s],s:s}", "Id", id, "Names", dk_buf_cstr(&n), "State",
					      rel_str(json_object_get(info, "State"), "Status")));
	dk_buf_release(&n);
out:
	json_decref(info);
}

int dk_release_tidy(struct dk_engine *e, const char *name, const struct dk_state *st, const struct dk_log *log)
{
	json_t *list = NULL;
	struct dk_tidy_plan plan;
	struct dk_buf stable = DK_BUF_INIT, legacy = DK_BUF_INIT;
	int rc = rel_list(&list, e, name);
	if (rc < 0)
		return rc;
	dk_container_name(&stable, name);
	dk_legacy_previous_name(&legacy, name);
	rel_list_add_named(list, e, dk_buf_cstr(&stable));
	rel_list_add_named(list, e, dk_buf_cstr(&legacy));
	rc = dk_tidy_plan(&plan, name, st, list);
	json_decref(list);
	if (rc < 0)
		goto out;
	size_t i;
	json_t *r;
	json_array_foreach(plan.remove, i, r) {
		dk_logf(log, DK_LOG_WARN, "tidy-up: removing %s (%.12s, %s): %s", rel_str(r, "name"), rel_str(r, "id"),
			rel_str(r, "state"), rel_str(r, "why"));
		int x = dk_engine_container_remove(e, rel_str(r, "id"), 1);
		if (x < 0 && x != DK_ENOTFOUND)
			dk_logf(log, DK_LOG_WARN, "tidy-up: cannot remove %s: %s", rel_str(r, "name"), dk_error_last());
	}
	json_array_foreach(plan.keep, i, r)
		dk_logf(log, DK_LOG_WARN, "tidy-up: keeping %s (%.12s): an interrupted deploy published it to the proxy "
			"and it runs, so traffic may be going to it; the next completed swap retires it",
			rel_str(r, "name"), rel_str(r, "id"));
	if (!plan.good_id[0]) {
		dk_logf(log, DK_LOG_DEBUG, "tidy-up: no previous release of %s", name);
		goto out;
	}
	if (plan.rename_good) {
		dk_logf(log, DK_LOG_WARN, "tidy-up: naming the last good release %s (%.12s) %s", plan.good_name,
			plan.good_id, dk_buf_cstr(&stable));
		if (dk_engine_container_rename(e, plan.good_id, dk_buf_cstr(&stable)) < 0)
			dk_logf(log, DK_LOG_WARN, "tidy-up: cannot rename %s: %s", plan.good_name, dk_error_last());
	}
	if (plan.start_good) {
		dk_logf(log, DK_LOG_WARN, "tidy-up: starting the last good release %s (%.12s, %s; %s)",
			dk_buf_cstr(&stable), plan.good_id, plan.good_state, plan.good_why);
		if (dk_engine_container_start(e, plan.good_id) < 0)
			dk_logf(log, DK_LOG_WARN, "tidy-up: cannot start the last good release: %s", dk_error_last());
	} else {
		dk_logf(log, DK_LOG_DEBUG, "tidy-up: the last good release is %s (%.12s, %s; %s)", dk_buf_cstr(&stable),
			plan.good_id, plan.good_state, plan.good_why);
	}
out:
	dk_tidy_plan_release(&plan);
	dk_buf_release(&stable);
	dk_buf_release(&legacy);
	return rc;
}

int dk_release_serving(char **id_out, char **name_out, struct dk_engine *e, const char *name,
		       const struct dk_state *st)
{
	json_t *info = NULL;
	int rc = DK_ENOTFOUND;
	if (st && st->container_id[0])
		rc = dk_engine_container_inspect(&info, e, st->container_id);
	if (rc == DK_ENOTFOUND) {
		struct dk_buf n = DK_BUF_INIT;
		dk_container_name(&n, name);
		rc = dk_engine_container_inspect(&info, e, dk_buf_cstr(&n));
		dk_buf_release(&n);
	}
	if (rc < 0)
		return rc;
	const char *nm = rel_str(info, "Name");
	if (id_out)
		*id_out = strdup(rel_str(info, "Id"));
	if (name_out)
		*name_out = strdup(nm[0] == '/' ? nm + 1 : nm);
	json_decref(info);
	return 0;
}

/* Sleeps ms, in slices, unless cancelled: 0, or -1 when cancelled. */
static int rel_sleep(int ms, const struct dk_run_opts *o)
{
	while (ms > 0) {
		if (o->cancelled && o->cancelled(o->cancel_ud))
			return -1;
		int slice = ms < 100 ? ms : 100;
		usleep((useconds_t)slice * 1000);
		ms -= slice;
	}
	return o->cancelled && o->cancelled(o->cancel_ud) ? -1 : 0;
}
/* What a published port that resets or closes every connection usually
 * means: the engine's proxy took the connection, and nothing listens on the
 * container's own address, as with an app bound to 127.0.0.1 inside it. */
static const char *rel_local_hint(const char *last, int port)
{
	static char hint[256];
	if (!strstr(last, "reset") && !strstr(last, "closed without an answer") && !strstr(last, "closed at once"))
		return "";
	snprintf(hint, sizeof(hint), "; the engine accepts the connection and nothing in the container takes it: "
		 "an app listening on 127.0.0.1 (localhost) inside its container cannot be reached, it must listen on "
		 "0.0.0.0, port %d (its PORT)", port);
	return hint;
}


/* Waits until the new container is ready (ready.h), logging every probe.
 * 0, or -1 with the reason in why. */
static int rel_wait(struct dk_engine *e, const char *id, const char *subject, const struct dk_spec *spec,
		    const struct dk_run_opts *o, struct dk_run_result *out, char *why, size_t cap,
		    const struct dk_log *log)
{
	int first_restarts = -1;
	double start = rel_now();
	int timeout = o->start_timeout_s > 0 ? o->start_timeout_s : 60;
	double deadline = start + timeout;
	int grace = o->grace_s > 0 ? o->grace_s : 0;
	int attempt = 0, decided = 0, has_hc = 0, streak = 0;
	enum dk_ready_kind kind = DK_READY_GRACE;
	struct dk_ready_target tgt;
	char addr[96] = "", last[512] = "", last_hc[32] = "";
	const char *path = o->http ? o->http->path : NULL;
	memset(&tgt, 0, sizeof(tgt));
	for (;;) {
		json_t *info = NULL;
		if (dk_engine_container_inspect(&info, e, id) < 0) {
			snprintf(why, cap, "%s", dk_error_last());
			return -1;
		}
		struct dk_health h;
		memset(&h, 0, sizeof(h));
		dk_health_from_inspect(&h, info);
		if (first_restarts < 0)
			first_restarts = h.restart_count;
		if (!h.running || h.restarting || h.restart_count > first_restarts) {
			json_decref(info);
			if (h.reason[0])
				snprintf(why, cap, "%s %s", subject, h.reason);
			else
				snprintf(why, cap, "%s exited and Docker restarted it (%d restart%s)", subject,
					 h.restart_count, h.restart_count == 1 ? "" : "s");
			return -1;
		}
		if (!decided || (kind == DK_READY_GRACE && rel_now() - start < 1.0)) {
			/* the bindings of a fresh container can lag its start by a moment */
			has_hc = dk_ready_has_healthcheck(info);
			dk_ready_target(&tgt, info, spec->port, o->engine_host);
			enum dk_ready_kind k = dk_ready_kind(has_hc, path, &tgt);
			if (tgt.port)
				dk_ready_address(addr, sizeof(addr), &tgt);
			if (!decided || k != kind) {
				kind = k;
				if (kind == DK_READY_HEALTHCHECK)
					dk_logf(log, DK_LOG_INFO, "readiness: waiting up to %d s for the image's HEALTHCHECK "
						"to report healthy", timeout);
				else if (kind == DK_READY_HTTP)
					dk_logf(log, DK_LOG_INFO, "readiness: waiting up to %d s for GET %s on %s (port %d "
						"in the container) to answer", timeout, path, addr, tgt.container_port);
				else if (kind == DK_READY_TCP)
					dk_logf(log, DK_LOG_INFO, "readiness: waiting up to %d s for %s (port %d in the "
						"container) to accept connections", timeout, addr, tgt.container_port);
				else if (grace)
					dk_logf(log, DK_LOG_INFO, "readiness: no published port and no HEALTHCHECK: the "
						"container must stay up for %d s", grace);
			}
			decided = 1;
		}
		json_decref(info);
		attempt++;
		double t = rel_now() - start;
		int ready = 0;
		long left_ms = (long)((deadline - rel_now()) * 1000.0);
		int probe_ms = (int)(left_ms < 200 ? 200 : left_ms);
		switch (kind) {
		case DK_READY_HEALTHCHECK:
			if (strcmp(h.health, last_hc) != 0) {
				dk_logf(log, DK_LOG_INFO, "readiness: HEALTHCHECK %s (attempt %d, %.1f s)",
					h.health[0] ? h.health : "not reported yet", attempt, t);
				snprintf(last_hc, sizeof(last_hc), "%s", h.health);
			}
			if (strcmp(h.health, "healthy") == 0) {
				ready = 1;
				snprintf(out->ready, sizeof(out->ready), "its HEALTHCHECK reported healthy after %.1f s", t);
			} else if (strcmp(h.health, "unhealthy") == 0) {
				snprintf(why, cap, "%s is unhealthy: %s", subject, h.reason);
				return -1;
			}
			break;
		case DK_READY_HTTP: {
			struct dk_ready_http hp = *o->http;
			if (hp.timeout_ms > probe_ms)
				hp.timeout_ms = probe_ms;
			ready = dk_ready_probe_http(last, sizeof(last), &tgt, &hp);
			dk_logf(log, DK_LOG_INFO, "readiness: GET %s on %s: %s (attempt %d, %.1f s)",
				path, addr, last, attempt, rel_now() - start);
			if (ready)
				snprintf(out->ready, sizeof(out->ready), "GET %s on %s answered %s after %.1f s", path,
					 addr, last, rel_now() - start);
			break;
		}
		case DK_READY_TCP:
			ready = dk_ready_probe_tcp(last, sizeof(last), &tgt, probe_ms < 2000 ? probe_ms : 2000);
			dk_logf(log, DK_LOG_INFO, "readiness: TCP connect to %s: %s (attempt %d, "
				"%.1f s)", addr, last, attempt, rel_now() - start);
			if (ready)
				snprintf(out->ready, sizeof(out->ready), "%s accepted a connection after %.1f s", addr,
					 rel_now() - start);
			break;
		default:
			if (t >= grace) {
				ready = 1;
				snprintf(out->ready, sizeof(out->ready), "it stayed up for %d s", grace);
			}
		}
		/* an answer counts once it comes again (kind HTTP and TCP): a
		 * server can answer once and then lose its app */
		if (ready && (kind == DK_READY_HTTP || kind == DK_READY_TCP) && ++streak < DK_READY_STREAK)
			ready = 0;
		else if (!ready)
			streak = 0;
		if (ready) {
			if (tgt.port)
				snprintf(out->upstream, sizeof(out->upstream), "%s", addr);
			return 0;
		}
		if (rel_now() >= deadline) {
			if (kind == DK_READY_HEALTHCHECK)
				snprintf(why, cap, "%s was not healthy within %d s (HEALTHCHECK: %s)", subject,
					 timeout, h.health[0] ? h.health : "no result");
			else if (kind == DK_READY_GRACE)
				snprintf(why, cap, "%s was not up for %d s within %d s", subject, grace, timeout);
			else if (kind == DK_READY_HTTP)
				snprintf(why, cap, "%s did not answer on port %d within %d s (GET %s on %s: %s)%s", subject,
					 tgt.container_port, timeout, path, addr, last, rel_local_hint(last, tgt.container_port));
			else
				snprintf(why, cap, "%s did not answer on port %d within %d s (TCP connect to %s: %s)%s",
					 subject, tgt.container_port, timeout, addr, last, rel_local_hint(last, tgt.container_port));
			return -1;
		}
		int delay = dk_ready_delay_ms(attempt);
		long left = (long)((deadline - rel_now()) * 1000.0);
		if (left < delay)
			delay = left > 0 ? (int)left : 0;
		if (rel_sleep(delay, o) < 0) {
			snprintf(why, cap, "the run was cancelled (or the hook ran out of time) while %s was starting", subject);
			return -1;
		}
	}
}

int dk_release_wait(char *upstream, size_t cap, struct dk_engine *e, const char *id, const struct dk_spec *spec,
		    const struct dk_run_opts *o, const struct dk_log *log)
{
	struct dk_run_result r;
	char why[1536] = "";
	memset(&r, 0, sizeof(r));
	int rc = rel_wait(e, id, "the container", spec, o, &r, why, sizeof(why), log);
	snprintf(upstream, cap, "%s", r.upstream);
	if (rc < 0)
		return dk_error_set("%s", why);
	dk_logf(log, DK_LOG_INFO, "ready: %s", r.ready);
	return 0;
}

int dk_release_abandon(struct dk_engine *e, const struct dk_run_result *r, const char *why,
		       const struct dk_log *log)
{
	char cause[1536];
	snprintf(cause, sizeof(cause), "%s", why && *why ? why : dk_error_last());
	/* whatever the run's state, this must be done now */
	dk_engine_set_cancel(e, NULL, NULL);
	if (r->container_id) {
		rel_log_tail(e, r->container_id, log);
		int rc = dk_engine_container_remove(e, r->container_id, 1);
		if (rc < 0 && rc != DK_ENOTFOUND)
			dk_logf(log, DK_LOG_WARN, "cannot remove the new container: %s", dk_error_last());
		else
			dk_logf(log, DK_LOG_INFO, "removed the new container %s", r->container ? r->container : "");
	}
	if (!r->previous_id)
		return dk_error_set("%s; there was no previous version to keep", cause);
	if (!r->previous_running && !r->previous_stopped)
		return dk_error_set("%s; the previous container was kept (it was not running)", cause);
	json_t *st = NULL;
	int running = dk_engine_container_inspect(&st, e, r->previous_id) == 0 && rel_running(st);
	json_decref(st);
	if (!running && dk_engine_container_start(e, r->previous_id) < 0)
		return dk_release_fail(cause, "the previous container could not be started again");
	dk_logf(log, DK_LOG_WARN, "the previous container %s (%.12s) %s", r->previous ? r->previous : "",
		r->previous_id, running ? "kept running" : "was started again");
	return dk_error_set("%s; the previous version keeps running", cause);
}

int dk_release_start(struct dk_run_result *out, struct dk_engine *e, const struct dk_spec *spec, const char *image,
		     const char *candidate, const struct dk_run_opts *o, const struct dk_log *log)
{
	json_t *old = NULL, *body = NULL, *info = NULL;
	char why[1536] = "";
	struct dk_run_result r;
	memset(&r, 0, sizeof(r));
	int rc = dk_engine_container_inspect(&old, e, spec->container);
	if (rc == 0) {
		r.previous_id = strdup(rel_str(old, "Id"));
		r.previous = strdup(spec->container);
		r.previous_running = rel_running(old);
		dk_logf(log, DK_LOG_INFO, "the current release %s (%.12s, %s) stays until the new one is ready",
			spec->container, r.previous_id, r.previous_running ? "running" : "not running");
	} else if (rc != DK_ENOTFOUND) {
		goto fail_plain;
	}
	body = dk_spec_create_body(spec, image);
	if (!body) {
		dk_error_set("out of memory");
		goto fail_plain;
	}
	/* No restart policy while it proves itself: an exit is seen with its
	 * code and output, not hidden by the engine starting it again (and a
	 * leftover of a killed deploy does not come back after a reboot). It
	 * gets its restart policy (docker_restart_policy, unless-stopped by
	 * default) once ready. */
	json_object_set_new(json_object_get(body, "HostConfig"), "RestartPolicy", json_pack("{s:s}", "Name", "no"));
	rc = dk_engine_container_create(&r.container_id, e, candidate, body);
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot create the new container: %s", dk_error_last());
		goto abandon;
	}
	r.container = strdup(candidate);
	dk_logf(log, DK_LOG_INFO, "created the new container %s (%.12s) from %s", candidate, r.container_id, image);
	if (r.previous_running && !spec->proxy && rel_ports_overlap(old, spec)) {
		dk_logf(log, DK_LOG_INFO, "stopping the current release to free its host ports (fixed host ports: "
			"the site does not answer until the new one is up; it is kept and started again if the new one "
			"fails)");
		r.previous_stopped = 1;
		if (dk_engine_container_stop(e, r.previous_id, o->stop_timeout_s) < 0) {
			snprintf(why, sizeof(why), "cannot stop the current release to free its ports: %s",
				 dk_error_last());
			goto abandon;
		}
	}
	if (dk_engine_container_start(e, r.container_id) < 0) {
		snprintf(why, sizeof(why), "cannot start the new container: %s", dk_error_last());
		goto abandon;
	}
	if (rel_wait(e, r.container_id, "the new container", spec, o, &r, why, sizeof(why), log) < 0)
		goto abandon;
	dk_logf(log, DK_LOG_INFO, "the new container %s is ready: %s", candidate, r.ready);
	json_t *policy = json_pack("{s:o}", "RestartPolicy", dk_limits_restart_policy(&spec->limits));
	rc = dk_engine_container_update(e, r.container_id, policy);
	json_decref(policy);
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot give the new container its restart policy: %s", dk_error_last());
		goto abandon;
	}
	if (dk_engine_container_inspect(&info, e, r.container_id) == 0)
		r.ports = rel_published(info);
	else
		r.ports = json_array();
	*out = r;
	json_decref(old);
	json_decref(body);
	json_decref(info);
	return 0;

abandon:
	dk_release_abandon(e, &r, why, log);
	goto out;
fail_plain:
	/* nothing was changed: the error stands as it is */
out:
	dk_run_result_release(&r);
	json_decref(old);
	json_decref(body);
	json_decref(info);
	return -1;
}

int dk_release_retire(struct dk_engine *e, const char *name, const char *keep_id, int stop_timeout_s,
		      const struct dk_log *log)
{
	json_t *list = NULL;
	struct dk_buf stable = DK_BUF_INIT, legacy = DK_BUF_INIT;
	int rc = rel_list(&list, e, name);
	if (rc < 0)
		return rc;
	dk_container_name(&stable, name);
	dk_legacy_previous_name(&legacy, name);
	rel_list_add_named(list, e, dk_buf_cstr(&stable));
	rel_list_add_named(list, e, dk_buf_cstr(&legacy));
	size_t i;
	json_t *c;
	const char *keep_name = NULL;
	json_array_foreach(list, i, c) {
		const char *id = rel_str(c, "Id");
		const char *nm = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
		nm = nm ? (nm[0] == '/' ? nm + 1 : nm) : "";
		if (strncmp(id, keep_id, strlen(keep_id)) == 0) {
			keep_name = nm;
			continue;
		}
		if (strcmp(rel_str(c, "State"), "running") == 0) {
			dk_logf(log, DK_LOG_INFO, "stopping the previous container %s (%.12s)", nm, id);
			if (dk_engine_container_stop(e, id, stop_timeout_s) < 0)
				dk_logf(log, DK_LOG_WARN, "cannot stop %s: %s", nm, dk_error_last());
		}
		int x = dk_engine_container_remove(e, id, 1);
		if (x < 0 && x != DK_ENOTFOUND)
			dk_logf(log, DK_LOG_WARN, "cannot remove %s: %s (the next deploy's tidy-up will)", nm,
				dk_error_last());
		else
			dk_logf(log, DK_LOG_INFO, "removed the previous container %s (%.12s)", nm, id);
	}
	if (!keep_name || strcmp(keep_name, dk_buf_cstr(&stable)) != 0) {
		if (dk_engine_container_rename(e, keep_id, dk_buf_cstr(&stable)) < 0)
			dk_logf(log, DK_LOG_WARN, "cannot name the new release %s: %s (the next tidy-up will)",
				dk_buf_cstr(&stable), dk_error_last());
		else
			dk_logf(log, DK_LOG_INFO, "the new release is now named %s", dk_buf_cstr(&stable));
	}
	json_decref(list);
	dk_buf_release(&stable);
	dk_buf_release(&legacy);
	return 0;
}

int dk_release_remove(struct dk_engine *e, const char *name, int remove_images, const struct dk_log *log)
{
	json_t *list = NULL;
	int rc = rel_list(&list, e, name);
	if (rc < 0)
		return rc;
	struct dk_buf n = DK_BUF_INIT;
	dk_container_name(&n, name);
	rel_list_add_named(list, e, dk_buf_cstr(&n));
	dk_buf_clear(&n);
	dk_legacy_previous_name(&n, name);
	rel_list_add_named(list, e, dk_buf_cstr(&n));
	dk_buf_release(&n);
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c) {
		const char *nm = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
		nm = nm ? (nm[0] == '/' ? nm + 1 : nm) : "";
		rc = dk_engine_container_remove(e, rel_str(c, "Id"), 1);
		if (rc == 0) {
			dk_logf(log, DK_LOG_INFO, "removed the container %s", nm);
		} else if (rc != DK_ENOTFOUND) {
			json_decref(list);
			return rc;
		}
	}
	json_decref(list);
	if (!remove_images)
		return 0;
	struct dk_buf label = DK_BUF_INIT;
	dk_buf_printf(&label, "webops.deployment=%s", name);
	json_t *imgs = NULL;
	rc = dk_engine_image_list(&imgs, e, dk_buf_cstr(&label));
	dk_buf_release(&label);
	if (rc < 0)
		return rc;
	json_t *img;
	json_array_foreach(imgs, i, img) {
		const char *iid = rel_str(img, "Id");
		if (dk_engine_image_remove(e, iid, 1) == 0)
			dk_logf(log, DK_LOG_INFO, "removed the image %.19s", iid);
		else
			dk_logf(log, DK_LOG_WARN, "cannot remove the image %.19s: %s", iid, dk_error_last());
	}
	json_decref(imgs);
	return 0;
}

int dk_release_prune_stages(struct dk_engine *e, const char *name, const struct dk_log *log)
{
	struct dk_buf label = DK_BUF_INIT;
	dk_buf_printf(&label, "webops.deployment=%s", name);
	json_t *imgs = NULL;
	int rc = dk_engine_image_list_dangling(&imgs, e, dk_buf_cstr(&label));
	dk_buf_release(&label);
	if (rc < 0)
		return rc;
	size_t i;
	json_t *img;
	int n = 0;
	json_array_foreach(imgs, i, img) {
		if (dk_engine_image_remove(e, rel_str(img, "Id"), 0) == 0)
			n++;
	}
	if (n)
		dk_logf(log, DK_LOG_INFO, "removed %d untagged image%s of %s's builds (build stages, failed builds)", n,
			n == 1 ? "" : "s", name);
	json_decref(imgs);
	return 0;
}

int dk_release_command(struct dk_engine *e, const struct dk_spec *spec, const char *image, const char *name,
		       const char *command, int timeout_s, const struct dk_run_opts *o, const struct dk_log *log)
{
	json_t *body = dk_spec_create_body(spec, image);
	if (!body)
		return dk_error_set("out of memory");
	/* a one-off: no port, no restart, the command instead of the image's */
	json_t *hc = json_object_get(body, "HostConfig");
	json_object_set_new(hc, "PortBindings", json_object());
	json_object_set_new(hc, "RestartPolicy", json_pack("{s:s}", "Name", "no"));
	json_object_set_new(body, "ExposedPorts", json_object());
	json_object_set_new(body, "Cmd", json_pack("[s,s,s]", "/bin/sh", "-c", command));
	json_object_set_new(body, "Entrypoint", json_pack("[]"));
	json_t *labels = json_object_get(body, "Labels");
	if (json_is_object(labels))
		json_object_set_new(labels, "webops.role", json_string("release"));
	char *id = NULL;
	dk_logf(log, DK_LOG_INFO, "release command: %s (in a one-off container of the new image, before it takes "
		"traffic)", command);
	(void)dk_engine_container_remove(e, name, 1); /* one left by a killed run */
	int rc = dk_engine_container_create(&id, e, name, body);
	json_decref(body);
	if (rc < 0)
		return dk_error_prefix("cannot create the release command's container");
	double start = rel_now();
	int exit_code = -1, timed_out = 0, cancelled = 0;
	if (dk_engine_container_start(e, id) < 0) {
		rc = dk_error_prefix("cannot start the release command");
		goto out;
	}
	for (;;) {
		json_t *info = NULL;
		if (dk_engine_container_inspect(&info, e, id) < 0) {
			rc = -1;
			goto out;
		}
		json_t *st = json_object_get(info, "State");
		int running = json_is_true(json_object_get(st, "Running"));
		exit_code = (int)json_integer_value(json_object_get(st, "ExitCode"));
		json_decref(info);
		if (!running)
			break;
		if (rel_now() - start > timeout_s) {
			timed_out = 1;
			break;
		}
		if (rel_sleep(500, o) < 0) {
			cancelled = 1;
			break;
		}
	}
	struct dk_buf out = DK_BUF_INIT;
	/* the engine's log driver may not have written the last lines the
	 * moment the container stops: ask again, a little later, while empty */
	for (int i = 0; i < 8; i++) {
		if (dk_engine_container_logs(&out, e, id, 200) < 0 || out.len)
			break;
		usleep(150 * 1000);
	}
	if (out.len) {
		const char *p = dk_buf_cstr(&out);
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			dk_logf(log, DK_LOG_INFO, "release: %.*s", (int)n, p);
			p += n + (nl ? 1 : 0);
		}
	}
	dk_buf_release(&out);
	if (timed_out || cancelled) {
		(void)dk_engine_container_kill(e, id, "KILL");
		rc = dk_error_set("the release command %s; the previous release keeps serving",
				  timed_out ? "took longer than its limit and was stopped" : "was stopped: the run was cancelled");
	} else if (exit_code != 0) {
		rc = dk_error_set("the release command exited with code %d (its output is above); the previous release "
				  "keeps serving", exit_code);
	} else {
		dk_logf(log, DK_LOG_INFO, "release command done in %.1f s", rel_now() - start);
		rc = 0;
	}
out:
	if (id)
		(void)dk_engine_container_remove(e, id, 1);
	free(id);
	return rc;
}
