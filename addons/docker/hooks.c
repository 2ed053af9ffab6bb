/* The docker addon's hooks: pre_deploy (engine, Dockerfile or a generated
 * one), post_deploy (build, run with rollback, systemd unit), health, start,
 * stop and delete. Glue between the host's function table and the logic. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <webops/addon.h>

#include "detect.h"
#include "dockerfile.h"
#include "engine.h"
#include "paths.h"
#include "release.h"
#include "spec.h"
#include "unit.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/banned.h"

WEBOPS_ADDON("docker", "1.0.0");

struct dk_hook {
	const struct webops_host *host;
	struct webops_hook_ctx *ctx;
	struct dk_engine *engine;
	struct dk_log log;
	char name[64];
};

static void hk_line(void *ud, int level, const char *line)
{
	struct dk_hook *h = ud;
	h->host->log(h->ctx, level, "%s", line);
}

static int hk_cancelled(void *ud)
{
	struct dk_hook *h = ud;
	return h->host->cancelled(h->ctx);
}

static int hk_init(struct dk_hook *h, const struct webops_host *host, struct webops_hook_ctx *ctx)
{
	memset(h, 0, sizeof(*h));
	h->host = host;
	h->ctx = ctx;
	h->log.line = hk_line;
	h->log.ud = h;
	const char *name = host->deployment(ctx, "name");
	snprintf(h->name, sizeof(h->name), "%s", name ? name : "");
	if (!h->name[0]) {
		host->set_error(ctx, "the deployment has no name");
		return -1;
	}
	return 0;
}

static void hk_release(struct dk_hook *h)
{
	dk_engine_free(h->engine);
	h->engine = NULL;
}

static const char *hk_setting(struct dk_hook *h, const char *key, const char *dflt)
{
	const char *v = h->host->setting(h->ctx, key);
	return v && *v ? v : dflt;
}

static int hk_setting_int(struct dk_hook *h, const char *key, int dflt, int min, int max)
{
	const char *v = h->host->setting(h->ctx, key);
	if (!v || !*v)
		return dflt;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end || n < min || n > max)
		return dflt;
	return (int)n;
}

static int hk_setting_bool(struct dk_hook *h, const char *key, int dflt)
{
	const char *v = h->host->setting(h->ctx, key);
	if (!v || !*v)
		return dflt;
	return strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0;
}

/* Fails the hook with the current wo_error (prefixed), logging the engine's
 * full message when wo_error had to shorten it. */
static int hk_fail(struct dk_hook *h, const char *prefix)
{
	const char *msg = wo_error_last();
	const char *full = h->engine ? dk_engine_last_message(h->engine) : "";
	if (full[0] && strlen(full) > 512)
		h->host->log(h->ctx, WEBOPS_LOG_ERROR, "docker engine said: %s", full);
	if (prefix)
		h->host->set_error(h->ctx, "%s: %s", prefix, msg);
	else
		h->host->set_error(h->ctx, "%s", msg);
	return WEBOPS_ERROR;
}

static int hk_engine(struct dk_hook *h)
{
	const char *host = hk_setting(h, "docker_host", NULL);
	if (dk_engine_open(&h->engine, host, 2000) < 0)
		return -1;
	dk_engine_set_cancel(h->engine, hk_cancelled, h);
	h->host->log(h->ctx, WEBOPS_LOG_DEBUG, "Docker engine %s, API %s", dk_engine_host(h->engine),
		     dk_engine_api_version(h->engine));
	return 0;
}

/* The allowed_volume_roots setting (a JSON list) as a vector; caller frees both. */
static json_t *hk_volume_roots(struct dk_hook *h, const char ***out, size_t *n)
{
	const char *text = h->host->setting(h->ctx, "allowed_volume_roots");
	json_t *j = text && *text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	*n = json_is_array(j) ? json_array_size(j) : 0;
	*out = calloc(*n + 1, sizeof(**out));
	for (size_t i = 0; i < *n && *out; i++)
		(*out)[i] = json_string_value(json_array_get(j, i));
	return j;
}

static int hk_spec(struct dk_hook *h, struct dk_spec *out)
{
	const char **roots = NULL;
	size_t nroots = 0;
	json_t *rj = hk_volume_roots(h, &roots, &nroots);
	struct dk_spec_input in = {
		.name = h->name,
		.env_vars_json = h->host->deployment(h->ctx, "env_vars"),
		.docker_env_json = h->host->field(h->ctx, "docker_env_vars"),
		.ports_json = h->host->field(h->ctx, "docker_ports"),
		.volumes_json = h->host->field(h->ctx, "docker_volumes"),
		.network = h->host->field(h->ctx, "docker_network_mode"),
		.deployment_port = h->host->deployment(h->ctx, "port"),
		.commit = h->host->commit(h->ctx),
		.run_id = h->host->run_id(h->ctx),
		.volume_roots = roots,
		.nvolume_roots = nroots,
		.init = hk_setting_bool(h, "init", 1),
	};
	struct wo_buf err = WO_BUF_INIT;
	int rc = dk_spec_build(out, &in, &err);
	if (rc < 0)
		h->host->set_error(h->ctx, "%s", wo_buf_cstr(&err));
	wo_buf_release(&err);
	free(roots);
	json_decref(rj);
	return rc;
}

static const char *hk_dockerfile(struct dk_hook *h)
{
	const char *df = h->host->field(h->ctx, "dockerfile_path");
	return df && *df ? df : "Dockerfile";
}

static int hk_check_dockerfile_path(struct dk_hook *h, const char *df)
{
	struct wo_buf err = WO_BUF_INIT;
	if (dk_path_check_relative(df, &err) < 0) {
		h->host->set_error(h->ctx, "dockerfile_path %s", wo_buf_cstr(&err));
		wo_buf_release(&err);
		return -1;
	}
	return 0;
}

static int hk_source(struct dk_hook *h, const char **out)
{
	const char *src = h->host->source_dir(h->ctx);
	if (!src || !*src) {
		h->host->set_error(h->ctx, "no source directory: the docker addon builds from a checkout (deploy the "
				   "deployment, or pass --source to 'webops hook run')");
		return -1;
	}
	*out = src;
	return 0;
}

static int hk_image_repo(struct dk_hook *h, char **out)
{
	struct wo_buf err = WO_BUF_INIT;
	int rc = dk_image_repo(out, h->host->field(h->ctx, "docker_image_name"), h->name, &err);
	if (rc < 0)
		h->host->set_error(h->ctx, "%s", wo_buf_cstr(&err));
	wo_buf_release(&err);
	return rc;
}

WEBOPS_HOOK(docker_pre_deploy)
{
	struct dk_hook h;
	struct dk_spec spec = {0};
	char *repo = NULL;
	int ret = WEBOPS_ERROR;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	const char *src, *df = hk_dockerfile(&h);
	if (hk_source(&h, &src) < 0 || hk_check_dockerfile_path(&h, df) < 0 || hk_spec(&h, &spec) < 0 ||
	    hk_image_repo(&h, &repo) < 0)
		goto out;
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	int present = dk_path_file_beneath(src, df);
	if (present < 0) {
		host->set_error(ctx, "dockerfile_path: %s", wo_error_last());
		goto out;
	}
	if (present) {
		host->log(ctx, WEBOPS_LOG_INFO, "using the repository's Dockerfile at '%s'", df);
		host->output_set(ctx, "dockerfile", df);
		host->output_set(ctx, "dockerfile_generated", "");
		ret = WEBOPS_OK;
		goto out;
	}
	if (!host->field_bool(ctx, "auto_generate_dockerfile", 1)) {
		host->set_error(ctx, "Dockerfile not found at '%s' and auto-generation is disabled", df);
		goto out;
	}
	struct dk_project p;
	int rc = dk_detect(&p, src);
	if (rc < 0) {
		host->set_error(ctx, "Dockerfile not found at '%s' and none can be generated: %s", df, wo_error_last());
		goto out;
	}
	const struct dk_base_images img = {
		.python = hk_setting(&h, "python_base_image", "python:{version}-slim"),
		.python_version = hk_setting(&h, "python_version", "3.12"),
		.node = hk_setting(&h, "node_base_image", "node:{version}-slim"),
		.node_version = hk_setting(&h, "node_version", "20"),
		.go_build = hk_setting(&h, "go_base_image", "golang:{version}"),
		.go_version = hk_setting(&h, "go_version", "1.22"),
		.go_runtime = hk_setting(&h, "go_runtime_image", "debian:bookworm-slim"),
		.static_site = hk_setting(&h, "static_base_image", "busybox:stable"),
	};
	struct wo_buf text = WO_BUF_INIT;
	wo_buf_init(&text, 1u << 20);
	rc = dk_dockerfile_render(&text, dk_templates_dir(), &p, &img);
	if (rc == 0)
		rc = dk_path_write_beneath(src, df, wo_buf_cstr(&text), text.len, 0644);
	if (rc < 0) {
		host->set_error(ctx, "cannot generate a Dockerfile: %s", wo_error_last());
	} else {
		host->log(ctx, WEBOPS_LOG_INFO, "no Dockerfile at '%s': generated one for a %s project (%s)", df,
			  dk_kind_name(p.kind), p.why);
		host->output_set(ctx, "dockerfile", df);
		host->output_set(ctx, "dockerfile_generated", dk_kind_name(p.kind));
		ret = WEBOPS_OK;
	}
	wo_buf_release(&text);
	dk_project_release(&p);
out:
	free(repo);
	dk_spec_release(&spec);
	hk_release(&h);
	return ret;
}

static int hk_systemd_running(void)
{
	struct stat st;
	return stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

static int hk_systemctl(struct dk_hook *h, const char *verb, const char *unit)
{
	char *sc = wo_proc_which("systemctl");
	if (!sc)
		return -1;
	char *argv[] = {sc, (char *)verb, (char *)unit, NULL};
	char *argv0[] = {sc, (char *)verb, NULL};
	struct wo_proc_opts o = {.out_fd = -1};
	int status = -1;
	int rc = wo_proc_run(&status, NULL, unit ? argv : argv0, &o);
	free(sc);
	if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char how[128];
		wo_proc_describe(how, sizeof(how), status);
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "systemctl %s%s%s %s", verb, unit ? " " : "", unit ? unit : "",
			     rc < 0 ? "could not run" : how);
		return -1;
	}
	return 0;
}

static void hk_unit_path(struct dk_hook *h, struct wo_buf *path)
{
	const char *dir = hk_setting(h, "units_dir", NULL);
	if (dir)
		wo_buf_puts(path, dir);
	else
		wo_buf_printf(path, "%s/units", dk_data_dir());
	wo_buf_putc(path, '/');
	dk_unit_file_name(path, h->name);
}

/* Writes the unit; when systemd runs and the setting allows, reloads and enables it. */
static int hk_write_unit(struct dk_hook *h, const struct dk_spec *spec, const char *image, struct wo_buf *path)
{
	struct dk_unit_spec us = {
		.name = spec->name, .container = spec->container,
		.docker_cli = hk_setting(h, "docker_cli", "/usr/bin/docker"), .image = image, .env = spec->env,
		.ports = spec->ports, .volumes = spec->volumes, .network = spec->network, .labels = spec->labels,
		.stop_timeout_s = hk_setting_int(h, "stop_timeout_s", 10, 0, 3600),
		.init = spec->init,
	};
	struct wo_buf text = WO_BUF_INIT;
	hk_unit_path(h, path);
	char *dir = strdup(wo_buf_cstr(path));
	if (!dir)
		return wo_error_set("out of memory");
	*strrchr(dir, '/') = '\0';
	int rc = dk_unit_render(&text, dk_templates_dir(), &us);
	if (rc == 0 && wo_fs_mkdir_p(dir, 0755) < 0)
		rc = wo_error_set("cannot create the units directory '%s': %s", dir, strerror(errno));
	/* 0640: the unit holds the environment, secrets included */
	if (rc == 0)
		rc = wo_fs_write_file_atomic(wo_buf_cstr(path), text.ptr, text.len, 0640);
	free(dir);
	wo_buf_release(&text);
	if (rc < 0)
		return rc;
	h->host->log(h->ctx, WEBOPS_LOG_INFO, "wrote the systemd unit %s", wo_buf_cstr(path));
	if (hk_setting_bool(h, "systemd_enable", 1) && hk_systemd_running()) {
		if (hk_systemctl(h, "daemon-reload", NULL) == 0 && hk_systemctl(h, "enable", wo_buf_cstr(path)) == 0)
			h->host->log(h->ctx, WEBOPS_LOG_INFO, "enabled the unit (it runs the container at boot)");
	} else {
		h->host->log(h->ctx, WEBOPS_LOG_DEBUG, "systemd is not managing the unit; the engine's restart "
			     "policy (unless-stopped) keeps the container up");
	}
	return 0;
}

WEBOPS_HOOK(docker_post_deploy)
{
	struct dk_hook h;
	struct dk_spec spec = {0};
	struct dk_run_result res = {0};
	char *repo = NULL, *image_id = NULL;
	json_t *buildargs = NULL;
	struct wo_buf tag1 = WO_BUF_INIT, tag2 = WO_BUF_INIT, s = WO_BUF_INIT;
	int ret = WEBOPS_ERROR;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	const char *src, *df = hk_dockerfile(&h);
	if (hk_source(&h, &src) < 0 || hk_check_dockerfile_path(&h, df) < 0 || hk_spec(&h, &spec) < 0 ||
	    hk_image_repo(&h, &repo) < 0)
		goto out;
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	const char *commit = host->commit(ctx);
	const char *run = host->run_id(ctx);
	if (commit && strlen(commit) >= 7)
		wo_buf_printf(&tag1, "%s:%.7s", repo, commit);
	else if (run && *run)
		wo_buf_printf(&tag1, "%s:run-%s", repo, run);
	else
		wo_buf_printf(&tag1, "%s:build-%ld", repo, (long)time(NULL));
	wo_buf_printf(&tag2, "%s:latest", repo);
	const char *tags[] = {wo_buf_cstr(&tag1), wo_buf_cstr(&tag2)};
	const char *ba = host->field(ctx, "docker_build_args");
	buildargs = ba && *ba ? json_loads(ba, 0, NULL) : NULL;
	/* The legacy builder adds one step per label: the image gets the three
	 * the issue names, the container all of spec.labels. */
	json_t *image_labels = json_pack("{s:O,s:O,s:O}", "webops.deployment",
					 json_object_get(spec.labels, "webops.deployment"), "webops.commit",
					 json_object_get(spec.labels, "webops.commit"), "webops.run",
					 json_object_get(spec.labels, "webops.run"));
	struct dk_build_input bi = {
		.source_dir = src, .dockerfile = df, .tags = tags, .ntags = 2, .buildargs = buildargs,
		.labels = image_labels,
	};
	host->log(ctx, WEBOPS_LOG_INFO, "building %s from '%s'", tags[0], df);
	int brc = dk_release_build(&image_id, h.engine, &bi, &h.log);
	json_decref(image_labels);
	if (brc < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "built %s (%.19s)", tags[0], image_id);
	host->output_set(ctx, "image_id", image_id);
	host->output_set(ctx, "image", tags[0]);
	wo_buf_printf(&s, "%s,%s", tags[0], tags[1]);
	host->output_set(ctx, "image_tags", wo_buf_cstr(&s));
	if (host->cancelled(ctx)) {
		host->set_error(ctx, "cancelled");
		goto out;
	}

	struct dk_run_opts ro = {
		.start_timeout_s = hk_setting_int(&h, "start_timeout_s", 60, 1, 3600),
		.grace_s = hk_setting_int(&h, "start_grace_s", 3, 1, 600),
		.stop_timeout_s = hk_setting_int(&h, "stop_timeout_s", 10, 0, 3600),
		.cancelled = hk_cancelled,
		.cancel_ud = &h,
	};
	if (dk_release_run(&res, h.engine, &spec, tags[0], &ro, &h.log) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	wo_buf_clear(&s);
	size_t i;
	json_t *v;
	json_array_foreach(res.ports, i, v)
		wo_buf_printf(&s, "%s%s", i ? "," : "", json_string_value(v));
	host->output_set(ctx, "container_id", res.container_id);
	host->output_set(ctx, "container", spec.container);
	host->output_set(ctx, "ports", wo_buf_cstr(&s));
	host->log(ctx, WEBOPS_LOG_INFO, "container %s (%.12s) is running%s%s", spec.container, res.container_id,
		  s.len ? ", published on " : "", wo_buf_cstr(&s));

	struct wo_buf unit = WO_BUF_INIT;
	if (hk_write_unit(&h, &spec, tags[0], &unit) < 0)
		host->log(ctx, WEBOPS_LOG_WARN, "the systemd unit was not written: %s", wo_error_last());
	else
		host->output_set(ctx, "unit_path", wo_buf_cstr(&unit));
	wo_buf_release(&unit);
	ret = WEBOPS_OK;
out:
	json_decref(buildargs);
	free(repo);
	free(image_id);
	wo_buf_release(&tag1);
	wo_buf_release(&tag2);
	wo_buf_release(&s);
	dk_run_result_release(&res);
	dk_spec_release(&spec);
	hk_release(&h);
	return ret;
}

/* Publishes the container's state and, when it runs, its resource use under
 * the names webops records with each check (cpu_percent, memory_bytes,
 * memory_limit_bytes); the rest are kept as the check's details. */
static void hk_health_outputs(struct dk_hook *h, const struct dk_health *st)
{
	const struct webops_host *host = h->host;
	char num[64];
	host->output_set(h->ctx, "status", st->exists ? st->status : "missing");
	host->output_set(h->ctx, "health", st->health);
	if (!st->exists)
		return;
	snprintf(num, sizeof(num), "%d", st->restart_count);
	host->output_set(h->ctx, "restart_count", num);
	host->output_set(h->ctx, "oom_killed", st->oom_killed ? "true" : "false");
	if (!st->running || st->restarting) {
		snprintf(num, sizeof(num), "%d", st->exit_code);
		host->output_set(h->ctx, "exit_code", num);
	}
	snprintf(num, sizeof(num), "%d", st->failing_streak);
	host->output_set(h->ctx, "failing_streak", num);
	if (!st->has_stats)
		return;
	if (st->stats.has_cpu) {
		snprintf(num, sizeof(num), "%.2f", st->stats.cpu_percent);
		host->output_set(h->ctx, "cpu_percent", num);
		snprintf(num, sizeof(num), "%u", st->stats.online_cpus);
		host->output_set(h->ctx, "online_cpus", num);
	}
	if (st->stats.has_memory) {
		snprintf(num, sizeof(num), "%llu", st->stats.memory_bytes);
		host->output_set(h->ctx, "memory_bytes", num);
	}
	if (st->stats.memory_limit_bytes) {
		snprintf(num, sizeof(num), "%llu", st->stats.memory_limit_bytes);
		host->output_set(h->ctx, "memory_limit_bytes", num);
	}
}

WEBOPS_HOOK(docker_health)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	int ret = WEBOPS_ERROR;
	char container[128];
	snprintf(container, sizeof(container), "webops-%s", h.name);
	struct dk_health st;
	if (hk_engine(&h) < 0 || dk_release_health(&st, h.engine, container) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	hk_health_outputs(&h, &st);
	/* Resource use is a detail of the check, not its verdict. */
	if (st.stats_error[0])
		host->log(ctx, WEBOPS_LOG_WARN, "no resource use for %s: %s", container, st.stats_error);
	if (st.exists && st.running && !st.restarting && !st.paused && strcmp(st.health, "unhealthy") != 0) {
		if (st.has_stats && st.stats.has_memory)
			host->log(ctx, WEBOPS_LOG_INFO, "container %s is running%s%s (restarts: %d; CPU %.2f%%, memory "
				  "%.1f MiB of %.1f MiB)", container, st.health[0] ? ", health: " : "", st.health,
				  st.restart_count, st.stats.cpu_percent, (double)st.stats.memory_bytes / 1048576.0,
				  (double)st.stats.memory_limit_bytes / 1048576.0);
		else
			host->log(ctx, WEBOPS_LOG_INFO, "container %s is running%s%s (restarts: %d)", container,
				  st.health[0] ? ", health: " : "", st.health, st.restart_count);
		ret = WEBOPS_OK;
	} else {
		host->set_error(ctx, "unhealthy: %s%s%s", st.exists ? container : "", st.exists ? " " : "",
				st.reason[0] ? st.reason : st.status);
	}
out:
	hk_release(&h);
	return ret;
}

WEBOPS_HOOK(docker_start)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	int ret = WEBOPS_ERROR;
	char container[128];
	snprintf(container, sizeof(container), "webops-%s", h.name);
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	int rc = dk_engine_container_start(h.engine, container);
	if (rc == DK_ENOTFOUND) {
		host->set_error(ctx, "the container %s does not exist: deploy the deployment first", container);
	} else if (rc < 0) {
		ret = hk_fail(&h, NULL);
	} else {
		host->log(ctx, WEBOPS_LOG_INFO, "started %s", container);
		ret = WEBOPS_OK;
	}
out:
	hk_release(&h);
	return ret;
}

WEBOPS_HOOK(docker_stop)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	int ret = WEBOPS_ERROR;
	char container[128];
	snprintf(container, sizeof(container), "webops-%s", h.name);
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	/* A unit running the container would restart it (Restart=on-failure): stop it first. */
	if (hk_setting_bool(&h, "systemd_enable", 1) && hk_systemd_running()) {
		struct wo_buf unit = WO_BUF_INIT;
		dk_unit_file_name(&unit, h.name);
		hk_systemctl(&h, "stop", wo_buf_cstr(&unit));
		wo_buf_release(&unit);
	}
	int rc = dk_engine_container_stop(h.engine, container, hk_setting_int(&h, "stop_timeout_s", 10, 0, 3600));
	if (rc == DK_ENOTFOUND) {
		host->log(ctx, WEBOPS_LOG_INFO, "the container %s does not exist: nothing to stop", container);
		ret = WEBOPS_OK;
	} else if (rc < 0) {
		ret = hk_fail(&h, NULL);
	} else {
		host->log(ctx, WEBOPS_LOG_INFO, "stopped %s", container);
		ret = WEBOPS_OK;
	}
out:
	hk_release(&h);
	return ret;
}

WEBOPS_HOOK(docker_delete)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	int ret = WEBOPS_ERROR;
	struct dk_spec spec = {0};
	struct wo_buf b = WO_BUF_INIT;
	spec.name = h.name;
	wo_buf_printf(&b, "webops-%s", h.name);
	spec.container = wo_buf_detach(&b);
	wo_buf_printf(&b, "webops-%s-previous", h.name);
	spec.previous = wo_buf_detach(&b);
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	struct wo_buf unit = WO_BUF_INIT, path = WO_BUF_INIT;
	dk_unit_file_name(&unit, h.name);
	hk_unit_path(&h, &path);
	if (hk_systemd_running() && access(wo_buf_cstr(&path), F_OK) == 0) {
		hk_systemctl(&h, "stop", wo_buf_cstr(&unit));
		hk_systemctl(&h, "disable", wo_buf_cstr(&unit));
	}
	if (unlink(wo_buf_cstr(&path)) == 0)
		host->log(ctx, WEBOPS_LOG_INFO, "removed the unit %s", wo_buf_cstr(&path));
	wo_buf_release(&unit);
	wo_buf_release(&path);
	if (dk_release_remove(h.engine, &spec, hk_setting_bool(&h, "remove_images_on_delete", 1), &h.log) < 0)
		ret = hk_fail(&h, NULL);
	else
		ret = WEBOPS_OK;
out:
	free(spec.container);
	free(spec.previous);
	hk_release(&h);
	return ret;
}
