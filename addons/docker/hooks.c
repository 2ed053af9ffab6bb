/* The docker addon's hooks: pre_deploy (engine, Dockerfile or a generated
 * one), post_deploy 50 (build, the new container ready next to the serving
 * one, systemd unit), post_deploy 90 (proxy mode: record and retire after
 * the proxy switched), health, start, stop and delete. Glue between the
 * host's function table and the logic. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <webops/addon.h>

#include "buildkit.h"
#include "detect.h"
#include "dockerfile.h"
#include "engine.h"
#include "paths.h"
#include "release.h"
#include "spec.h"
#include "swap.h"
#include "unit.h"
#include "dkutil.h"

WEBOPS_ADDON("docker", "1.1.0");

struct dk_hook {
	const struct webops_host *host;
	struct webops_hook_ctx *ctx;
	struct dk_engine *engine;
	struct dk_log log;
	char name[64];
	json_t *event;      /* host->event_json, parsed on first use */
	struct dk_engine *query; /* the watcher's second connection: engine is busy with the event stream */
};

static void hk_line(void *ud, int level, const char *line)
{
	struct dk_hook *h = ud;
	h->host->log(h->ctx, level, "%s", line);
}

/* Core sends SIGTERM when a hook times out (and cancelled() turns true),
 * SIGKILL a grace later: the hooks that change containers catch it, so they
 * can leave the deployment sound instead of dying half-way. */
static volatile sig_atomic_t hk_terminated;

static void hk_on_term(int sig)
{
	(void)sig;
	hk_terminated = 1;
}

static void hk_catch_term(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hk_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
}

static int hk_cancelled(void *ud)
{
	struct dk_hook *h = ud;
	return hk_terminated || h->host->cancelled(h->ctx);
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
	dk_engine_free(h->query);
	h->query = NULL;
	json_decref(h->event);
	h->event = NULL;
}

/* What the event is about (host->event_json): {} when the host says nothing. */
static const json_t *hk_event(struct dk_hook *h)
{
	if (!h->event) {
		const char *t = WEBOPS_HOST_HAS(h->host, event_json) ? h->host->event_json(h->ctx) : NULL;
		h->event = t ? json_loads(t, 0, NULL) : NULL;
		if (!json_is_object(h->event)) {
			json_decref(h->event);
			h->event = json_object();
		}
	}
	return h->event;
}

/* A rollback's release (core's event: {"rollback": {number, commit,
 * outputs}}): what this addon recorded of it, and its number. NULL when the
 * deploy is not a rollback. */
static const json_t *hk_rollback(struct dk_hook *h, int *number)
{
	const json_t *rb = json_object_get(hk_event(h), "rollback");
	if (!rb)
		return NULL;
	if (number)
		*number = (int)json_integer_value(json_object_get(rb, "number"));
	const json_t *mine = json_object_get(json_object_get(rb, "outputs"), "docker");
	static json_t *none;
	if (!none)
		none = json_object();
	return mine ? mine : none;
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

/* Fails the hook with the current dk_error (prefixed), logging the engine's
 * full message when dk_error had to shorten it. */
static int hk_fail(struct dk_hook *h, const char *prefix)
{
	const char *msg = dk_error_last();
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
	if (dk_engine_open(&h->engine, host, 2000) < 0) {
		/* at once, with the engine's state (as 'webops addon status docker' says it) */
		char why[1024];
		snprintf(why, sizeof(why), "%s", dk_error_last());
		if (dk_engine_unconfigured(host))
			return dk_error_set("the Docker engine is unconfigured: %s. Install and start Docker, or point the "
					    "docker addon's docker_host setting at the engine", why);
		return dk_error_set("the Docker engine has failed: %s", why);
	}
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

/* The command the container runs instead of the image's CMD: the
 * deployment's start_command, else the Procfile's web: line (when the hook
 * has a checkout). NULL: the image's. *from says which. */
static char *hk_start_command(struct dk_hook *h, const char **from)
{
	const char *field = h->host->field(h->ctx, "start_command");
	if (field && *field) {
		*from = "the deployment's start_command";
		return strdup(field);
	}
	const json_t *rb = hk_rollback(h, NULL);
	if (rb) {
		/* no checkout: the Procfile's line as the release recorded it */
		const char *c = json_string_value(json_object_get(rb, "procfile_web"));
		*from = "the release's Procfile web: line";
		return c && *c ? strdup(c) : NULL;
	}
	const char *src = h->host->source_dir(h->ctx);
	char *procfile = NULL, *cmd = NULL;
	if (src && *src && dk_path_read_beneath(&procfile, NULL, src, "Procfile", 64 * 1024) == 0) {
		cmd = dk_procfile_get(procfile, "web");
		*from = "the Procfile's web: line";
	}
	free(procfile);
	return cmd;
}

static int hk_spec(struct dk_hook *h, struct dk_spec *out, int proxy)
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
		.proxy = proxy,
		.data_path = h->host->field(h->ctx, "data_path"),
		.limits = {
			.memory = h->host->field(h->ctx, "docker_memory"),
			.cpus = h->host->field(h->ctx, "docker_cpus"),
			.restart = h->host->field(h->ctx, "docker_restart_policy"),
			.gpus = h->host->field(h->ctx, "docker_gpus"),
		},
		.command_json = h->host->field(h->ctx, "docker_command"),
	};
	struct dk_buf err = DK_BUF_INIT;
	int rc = dk_spec_build(out, &in, &err);
	if (rc == 0) {
		const char *from = NULL;
		char *cmd = hk_start_command(h, &from);
		dk_spec_set_command(out, cmd);
		free(cmd);
	}
	/* the container would share the host's network stack: an operator's choice */
	if (rc == 0 && !strcmp(out->network, "host") && !hk_setting_bool(h, "allow_host_network", 0)) {
		dk_buf_printf(&err, "docker_network_mode: host networking is not allowed on this host (the operator "
			      "allows it with 'webops addon config docker allow_host_network=true'); use bridge");
		dk_spec_release(out);
		rc = -1;
	}
	if (rc < 0)
		h->host->set_error(h->ctx, "%s", dk_buf_cstr(&err));
	dk_buf_release(&err);
	free(roots);
	json_decref(rj);
	return rc;
}

/* What a generated Python image needs from the deployment, as environment
 * (a variable the deployment sets itself wins): a Django project's domain
 * for ALLOWED_HOSTS; in proxy mode, the address the proxy's connections come
 * from (the bridge's gateway), the only one whose X-Forwarded-* headers
 * gunicorn and uvicorn trust (FORWARDED_ALLOW_IPS). Needs h->engine for the
 * gateway; without it only the first is set. */
static void hk_generated_env(struct dk_hook *h, struct dk_spec *spec)
{
	const char *gen = h->host->output_get(h->ctx, NULL, "dockerfile_generated");
	if (!gen || (strcmp(gen, "django") && strcmp(gen, "flask") && strcmp(gen, "fastapi")))
		return;
	const char *domain = h->host->deployment(h->ctx, "domain");
	if (!strcmp(gen, "django") && domain && *domain && !json_object_get(spec->env, "WEBOPS_ALLOWED_HOSTS"))
		json_object_set_new(spec->env, "WEBOPS_ALLOWED_HOSTS", json_string(domain));
	if (!spec->proxy || !h->engine || strcmp(spec->network, "bridge") ||
	    json_object_get(spec->env, "FORWARDED_ALLOW_IPS"))
		return;
	json_t *net = NULL;
	if (dk_engine_request(&net, h->engine, "GET", "/networks/bridge", NULL, 10000) == 0) {
		json_t *cfg = json_array_get(json_object_get(json_object_get(net, "IPAM"), "Config"), 0);
		const char *gw = json_string_value(json_object_get(cfg, "Gateway"));
		if (gw && *gw && strlen(gw) < 64 && strspn(gw, "0123456789abcdefABCDEF.:") == strlen(gw))
			json_object_set_new(spec->env, "FORWARDED_ALLOW_IPS", json_string(gw));
	}
	json_decref(net);
}

/* Whether the validate hook's actor (its event: {"actor": {"user", "role"}})
 * is an admin; no actor: the host's operator. Options that reach into the
 * host (host networking, host paths) are for admins: a member could read
 * the host's files or reach its local services through them. */
static int hk_actor_admin(struct dk_hook *h, char *who, size_t cap)
{
	const char *ev = WEBOPS_HOST_HAS(h->host, event_json) ? h->host->event_json(h->ctx) : NULL;
	json_t *e = ev ? json_loads(ev, 0, NULL) : NULL;
	const json_t *a = json_object_get(e, "actor");
	const char *role = json_string_value(json_object_get(a, "role"));
	const char *user = json_string_value(json_object_get(a, "user"));
	snprintf(who, cap, "%s", user ? user : "");
	int admin = !role || !strcmp(role, "admin");
	json_decref(e);
	return admin;
}

static const char *hk_dockerfile(struct dk_hook *h)
{
	const char *df = h->host->field(h->ctx, "dockerfile_path");
	return df && *df ? df : "Dockerfile";
}

static int hk_check_dockerfile_path(struct dk_hook *h, const char *df)
{
	struct dk_buf err = DK_BUF_INIT;
	if (dk_path_check_relative(df, &err) < 0) {
		h->host->set_error(h->ctx, "dockerfile_path %s", dk_buf_cstr(&err));
		dk_buf_release(&err);
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
	struct dk_buf err = DK_BUF_INIT;
	int rc = dk_image_repo(out, h->host->field(h->ctx, "docker_image_name"), h->name, &err);
	if (rc < 0)
		h->host->set_error(h->ctx, "%s", dk_buf_cstr(&err));
	dk_buf_release(&err);
	return rc;
}


/* Proxy mode: proxy-nginx fronts the deployment (its field `proxy`, true by
 * default, is only filled while proxy-nginx is enabled), the deployment has
 * a port or a domain for it to serve, and no fixed host ports are asked for.
 * Then the new container is published on 127.0.0.1 with a port the engine
 * picks and runs next to the serving one until the proxy switched to it.
 * Otherwise fixed host ports: the serving container must be stopped for the
 * new one to bind them, a short gap at each deploy. why (may be NULL) gets
 * the reason for the mode. */
static int hk_proxy_mode(struct dk_hook *h, char *why, size_t cap)
{
	const struct webops_host *host = h->host;
	const char *port = host->deployment(h->ctx, "port");
	const char *domain = host->deployment(h->ctx, "domain");
	const char *net = host->field(h->ctx, "docker_network_mode");
	const char *r = NULL;
	if (!host->field_bool(h->ctx, "proxy-nginx.proxy", 0))
		r = "fixed host ports: proxy-nginx is not enabled, or the deployment opted out (proxy=false)";
	else if ((!port || !*port) && (!domain || !*domain))
		r = "fixed host ports: the deployment has neither a port nor a domain for the proxy to serve";
	else if (host->field_list_size(h->ctx, "docker_ports") > 0)
		r = "fixed host ports: docker_ports asks for them";
	else if (net && *net && strcmp(net, "bridge") != 0)
		r = "fixed host ports: only a bridge network publishes a port for the proxy";
	if (why)
		snprintf(why, cap, "%s", r ? r : "proxy mode: proxy-nginx fronts the deployment");
	return r == NULL;
}

/* Renders the addon's templates through the host (templates/ beside
 * addon.yaml). */
static int hk_render(struct dk_buf *out, const char *name, const json_t *data, const char *escaper, void *ud)
{
	struct dk_hook *h = ud;
	char *text = json_dumps(data, JSON_COMPACT);
	const char *r = text ? h->host->render(h->ctx, name, text, escaper) : NULL;
	free(text);
	if (!r)
		return dk_error_set("%s", text ? h->host->last_error(h->ctx) : "out of memory");
	return dk_buf_puts(out, r);
}

/* Before ABI 1.2 the addon kept its records in DATA/docker: they move into
 * its own folder once, while that is still empty. */
static void hk_adopt_old_dir(struct dk_hook *h, const char *dir)
{
	char old[4096];
	const char *slash = strrchr(dir, '/');
	size_t parent = slash ? (size_t)(slash - dir) : 0; /* DATA/addons */
	while (parent > 0 && dir[parent - 1] != '/')
		parent--;
	struct stat st;
	if (parent < 2 || (size_t)snprintf(old, sizeof(old), "%.*sdocker", (int)parent, dir) >= sizeof(old) ||
	    stat(old, &st) != 0 || !S_ISDIR(st.st_mode))
		return;
	if (rename(old, dir) == 0) /* replaces an empty folder only */
		h->host->log(h->ctx, WEBOPS_LOG_INFO, "moved %s to %s (where addons keep their files now)", old, dir);
}

/* The addon's own folder (DATA/addons/docker); "" with the reason logged
 * when the host cannot give one. */
static const char *hk_data_dir(struct dk_hook *h)
{
	const char *dir = h->host->data_dir(h->ctx);
	if (!dir) {
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "%s", h->host->last_error(h->ctx));
		return "";
	}
	hk_adopt_old_dir(h, dir);
	return dir;
}

static void hk_state_path(struct dk_hook *h, struct dk_buf *path)
{
	dk_state_path(path, hk_data_dir(h), h->name);
}

/* The record of the last good release: 1 read, 0 none (or unreadable: said
 * in the log, and the deployment's name decides as if there were none). */
static int hk_state(struct dk_hook *h, struct dk_state *st)
{
	struct dk_buf path = DK_BUF_INIT;
	hk_state_path(h, &path);
	int rc = dk_state_load(st, dk_buf_cstr(&path));
	if (rc == -1)
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "%s; the container named webops-%s counts as the good release",
			     dk_error_last(), h->name);
	dk_buf_release(&path);
	if (rc < 0)
		memset(st, 0, sizeof(*st));
	return rc == 0;
}

static int hk_state_save(struct dk_hook *h, const struct dk_state *st)
{
	struct dk_buf path = DK_BUF_INIT;
	hk_state_path(h, &path);
	int rc = dk_state_save(dk_buf_cstr(&path), st);
	dk_buf_release(&path);
	return rc;
}

/* For tests only (docs/DOCKER.md, "Fault injection"): with
 * WEBOPS_DOCKER_FAULT_PAUSE=STEP in the environment of the process running
 * the hooks, the hook logs "fault pause: STEP" and waits 30 s at that step
 * (after_start, before_retire), so that a test can kill the run or the
 * daemon exactly there. -1 when the run was cancelled during the pause. */
static int hk_fault_pause(struct dk_hook *h, const char *step)
{
	const char *f = getenv("WEBOPS_DOCKER_FAULT_PAUSE");
	if (!f || strcmp(f, step) != 0)
		return 0;
	h->host->log(h->ctx, WEBOPS_LOG_WARN, "fault pause: %s", step);
	for (int i = 0; i < 300; i++) {
		if (hk_cancelled(h))
			return -1;
		usleep(100000);
	}
	return hk_cancelled(h) ? -1 : 0;
}

/* The host of a tcp:// engine (probes go there instead of loopback); NULL
 * for a local one. */
static const char *hk_probe_host(struct dk_hook *h, char *buf, size_t cap)
{
	const char *eh = dk_engine_host(h->engine);
	if (strncmp(eh, "tcp://", 6) != 0)
		return NULL;
	eh += 6;
	size_t n;
	if (*eh == '[') {
		eh++;
		n = strcspn(eh, "]");
	} else {
		n = strcspn(eh, ":/");
	}
	snprintf(buf, cap, "%.*s", (int)n, eh);
	if (strcmp(buf, "localhost") == 0)
		snprintf(buf, cap, "127.0.0.1");
	return buf;
}

/* The deployment record parsed (for its health settings); caller decrefs. */
static json_t *hk_deployment(struct dk_hook *h)
{
	const char *text = h->host->deployment_json(h->ctx);
	json_t *d = text ? json_loads(text, 0, NULL) : NULL;
	return d ? d : json_object();
}

static void hk_run_opts(struct dk_hook *h, struct dk_run_opts *ro, const struct dk_ready_http *http, char *hostbuf,
			size_t cap)
{
	memset(ro, 0, sizeof(*ro));
	ro->start_timeout_s = hk_setting_int(h, "start_timeout_s", 60, 1, 600);
	ro->grace_s = hk_setting_int(h, "start_grace_s", 3, 1, 600);
	ro->stop_timeout_s = hk_setting_int(h, "stop_timeout_s", 10, 0, 300);
	ro->http = http && http->path ? http : NULL;
	ro->engine_host = hk_probe_host(h, hostbuf, cap);
	ro->cancelled = hk_cancelled;
	ro->cancel_ud = h;
}
/* The repository part of an image reference: "python:{version}-slim" ->
 * "python", "registry:5000/x/y:t" -> "registry:5000/x/y". */
static void image_repository(char *out, size_t cap, const char *ref)
{
	snprintf(out, cap, "%s", ref ? ref : "");
	char *at = strchr(out, '@');
	if (at)
		*at = '\0';
	char *slash = strrchr(out, '/'), *colon = strrchr(out, ':');
	if (colon && (!slash || colon > slash))
		*colon = '\0';
}

/* Whether images of repo belong to another deployment (their label); the
 * engine's answer, so only when it answers. Sets the other's name. */
static int repo_taken(struct dk_hook *h, const char *repo, char *other, size_t cap)
{
	if (hk_engine(h) < 0)
		return 0; /* no engine now: the build checks again */
	struct dk_buf p = DK_BUF_INIT;
	json_t *f = json_pack("{s:[s]}", "reference", repo);
	char *fs = f ? json_dumps(f, JSON_COMPACT) : NULL;
	json_decref(f);
	json_t *list = NULL;
	dk_buf_puts(&p, "/images/json?filters=");
	if (fs && dk_engine_query_escape(&p, fs) == 0)
		dk_engine_request(&list, h->engine, "GET", dk_buf_cstr(&p), NULL, 5000);
	free(fs);
	dk_buf_release(&p);
	int taken = 0;
	size_t i;
	json_t *img;
	json_array_foreach(list, i, img) {
		const json_t *dep = json_object_get(json_object_get(img, "Labels"), "webops.deployment");
		const char *d = json_is_string(dep) ? json_string_value(dep) : NULL;
		if (!d || strcmp(d, h->name) != 0) {
			snprintf(other, cap, "%s", d ? d : "(not made by webops)");
			taken = 1;
			break;
		}
	}
	json_decref(list);
	return taken;
}

/* validate: the fields' semantic rules, when a deployment is stored, so a
 * value that would fail at deploy time is refused at once: volumes under
 * allowed_volume_roots, ports, env names, the network, dockerfile_path, and
 * an image repository that is this deployment's own (not another
 * deployment's, not a configured base image). */
WEBOPS_HOOK(docker_validate)
{
	struct dk_hook h;
	struct dk_spec spec = {0};
	char *repo = NULL;
	int ret = WEBOPS_ERROR;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	if (hk_check_dockerfile_path(&h, hk_dockerfile(&h)) < 0 || hk_spec(&h, &spec, hk_proxy_mode(&h, NULL, 0)) < 0 ||
	    hk_image_repo(&h, &repo) < 0)
		goto out;
	char who[80];
	if (!hk_actor_admin(&h, who, sizeof(who))) {
		if (!strcmp(spec.network, "host")) {
			host->set_error(ctx, "docker_network_mode: host networking is for admins; user '%s' is not one "
					"(use bridge, or ask an admin)", who);
			goto out;
		}
		size_t i;
		json_t *v;
		json_array_foreach(spec.volumes, i, v) {
			const char *vol = json_string_value(v);
			if (vol && vol[0] == '/') {
				host->set_error(ctx, "docker_volumes: '%s' binds a host path, which only admins may do; user "
						"'%s' is not one (use a named volume, NAME:/path)", vol, who);
				goto out;
			}
		}
	}
	static const char *const bases[][2] = {
		{ "python_base_image", "python:{version}-slim" }, { "node_base_image", "node:{version}-slim" },
		{ "go_base_image", "golang:{version}" },         { "go_runtime_image", "debian:bookworm-slim" },
		{ "static_base_image", "nginx:alpine" },
	};
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		char base[512];
		image_repository(base, sizeof(base), hk_setting(&h, bases[i][0], bases[i][1]));
		if (!strcmp(base, repo)) {
			host->set_error(ctx, "docker_image_name: '%s' is the repository of the base image set by '%s'; "
					"building into it would replace that base image: choose another name (default "
					"webops/{name})", repo, bases[i][0]);
			goto out;
		}
	}
	char other[128];
	if (repo_taken(&h, repo, other, sizeof(other))) {
		host->set_error(ctx, "docker_image_name: '%s' holds the images of deployment '%s'; each deployment "
				"needs its own image repository (default webops/{name})", repo, other);
		goto out;
	}
	ret = WEBOPS_OK;
out:
	free(repo);
	dk_spec_release(&spec);
	hk_release(&h);
	return ret;
}

/* What the run log says about a generated Django image: the settings
 * wrapper, DEBUG left on, where SQLite keeps its data, and where migrations
 * run (pre_deploy's output django_migrate: "build" or "release"). */
static void hk_django_notes(struct dk_hook *h, const struct dk_project *p, const char *data_path)
{
	const char *sf = json_string_value(json_object_get(p->vars, "settings_file"));
	const char *sm = json_string_value(json_object_get(p->vars, "settings_module"));
	int debug = (int)json_integer_value(json_object_get(p->vars, "debug_line"));
	int sqlite = (int)json_integer_value(json_object_get(p->vars, "sqlite_line"));
	int has_data = data_path && *data_path;
	h->host->log(h->ctx, WEBOPS_LOG_INFO, "generated %s: it reads %s and adds whitenoise for the static files "
		     "(collected at build), STATIC_ROOT when unset, the deployment's domain in ALLOWED_HOSTS%s",
		     DK_DJANGO_SETTINGS_PATH, sm, has_data ? " and SQLite/MEDIA_ROOT in data_path" : "");
	if (debug)
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "%s line %d sets DEBUG = True: Django then shows its debug pages "
			     "(settings, code, queries) to anyone who causes an error. Read it from the environment, "
			     "e.g. DEBUG = os.environ.get(\"DJANGO_DEBUG\") == \"1\"", sf ? sf : sm, debug);
	if (sqlite && !has_data)
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "%s line %d uses SQLite with its file inside the image: the tables "
			     "are made at build time and whatever the site writes is lost at the next deploy. Set the "
			     "deployment's data_path (e.g. /app/data) to keep the database in a volume",
			     sf ? sf : sm, sqlite);
	else if (sqlite)
		h->host->log(h->ctx, WEBOPS_LOG_INFO, "SQLite's database file goes to the data volume at %s (data_path), "
			     "where it outlives deploys", data_path);
	h->host->output_set(h->ctx, "django_migrate", sqlite && !has_data ? "build" : "release");
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
	int rbnum = 0;
	const json_t *rb = hk_rollback(&h, &rbnum);
	if ((!rb && hk_source(&h, &src) < 0) || hk_check_dockerfile_path(&h, df) < 0 ||
	    hk_spec(&h, &spec, hk_proxy_mode(&h, NULL, 0)) < 0 || hk_image_repo(&h, &repo) < 0)
		goto out;
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	if (rb) {
		/* nothing to generate: post_deploy runs the release's image */
		const char *const keys[] = {"dockerfile", "dockerfile_generated", "generated_dockerfile"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			const char *v = json_string_value(json_object_get(rb, keys[i]));
			if (v)
				host->output_set(ctx, keys[i], v);
		}
		host->log(ctx, WEBOPS_LOG_INFO, "rollback to release %d: nothing is generated or built", rbnum);
		ret = WEBOPS_OK;
		goto out;
	}
	int present = dk_path_file_beneath(src, df);
	if (present < 0) {
		host->set_error(ctx, "dockerfile_path: %s", dk_error_last());
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
		host->set_error(ctx, "Dockerfile not found at '%s' and none can be generated: %s", df, dk_error_last());
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
		.static_site = hk_setting(&h, "static_base_image", "nginx:alpine"),
	};
	struct dk_buf text = DK_BUF_INIT;
	dk_buf_init(&text, 1u << 20);
	if (rc == 0) {
		/* every stage is labelled with the deployment, so that what a build
		 * leaves (stages, a failed build's layers) can be removed */
		json_object_set_new(p.vars, "deployment", json_string(h.name));
		if (p.kind == DK_KIND_STATIC)
			json_object_set_new(p.vars, "dockerfile", json_string(df));
	}
	/* the deployment names the app: it wins over detection */
	const char *am = host->field(ctx, "app_module");
	if (rc == 0 && am && *am) {
		if (dk_project_set_app(&p, am) < 0) {
			host->set_error(ctx, "%s", dk_error_last());
			goto generated;
		}
		host->log(ctx, WEBOPS_LOG_INFO, "serving %s, as the deployment's app_module says", am);
	}
	const char *data_path = host->field(ctx, "data_path");
	int has_data = data_path && *data_path;
	if (rc == 0 && p.kind == DK_KIND_DJANGO) {
		json_object_set_new(p.vars, "deployment", json_string(h.name));
		json_object_set_new(p.vars, "migrate_at_build",
				    json_boolean(json_integer_value(json_object_get(p.vars, "sqlite_line")) && !has_data));
	}
	struct dk_renderer rd = { hk_render, &h };
	rc = dk_dockerfile_render(&text, &rd, &p, &img);
	if (rc == 0)
		rc = dk_path_write_beneath(src, df, dk_buf_cstr(&text), text.len, 0644);
	if (rc == 0) {
		/* a Flask application factory: the module gunicorn serves */
		struct dk_buf shim = DK_BUF_INIT;
		if (dk_factory_shim(&shim, &p)) {
			rc = dk_path_write_beneath(src, DK_FACTORY_SHIM_PATH, dk_buf_cstr(&shim), shim.len, 0644);
			if (rc == 0)
				host->log(ctx, WEBOPS_LOG_INFO, "generated %s: it calls the application factory %s.%s()",
					  DK_FACTORY_SHIM_PATH,
					  json_string_value(json_object_get(p.vars, "factory_module")),
					  json_string_value(json_object_get(p.vars, "factory")));
		}
		dk_buf_release(&shim);
	}
	if (rc == 0 && p.kind == DK_KIND_DJANGO) {
		dk_buf_clear(&text);
		rc = dk_django_settings_render(&text, &rd, &p);
		if (rc == 0)
			rc = dk_path_write_beneath(src, DK_DJANGO_SETTINGS_PATH, dk_buf_cstr(&text), text.len, 0644);
		if (rc == 0)
			hk_django_notes(&h, &p, data_path);
	}
	if (rc == 0 && p.kind != DK_KIND_DJANGO && json_object_get(p.vars, "sqlite_file") && !has_data)
		host->log(ctx, WEBOPS_LOG_WARN, "%s line %d mentions SQLite: a database file written inside the "
			  "container (by the app, or by a release command, which runs in a container of its own) is "
			  "lost at every deploy. Set the deployment's data_path to the directory that holds it%s "
			  "(WEBOPS_DATA_PATH tells the app where)",
			  json_string_value(json_object_get(p.vars, "sqlite_file")),
			  (int)json_integer_value(json_object_get(p.vars, "sqlite_line")),
			  p.kind == DK_KIND_FLASK ? " (Flask's instance folder is /app/instance)" : "");
	if (rc == 0 && p.kind == DK_KIND_STATIC) {
		/* the site's nginx.conf, beside it in the build context */
		dk_buf_clear(&text);
		rc = dk_static_conf_render(&text, &rd, &p, h.name);
		if (rc == 0)
			rc = dk_path_write_beneath(src, DK_STATIC_CONF_PATH, dk_buf_cstr(&text), text.len, 0644);
		const char *site = json_string_value(json_object_get(p.vars, "site_dir"));
		if (rc == 0)
			host->log(ctx, WEBOPS_LOG_INFO, "generated %s: nginx serves %s%s%s only, never a dotfile, with "
				  "gzip and cache headers", DK_STATIC_CONF_PATH, strcmp(site, ".") ? "" : "the repository's root",
				  strcmp(site, ".") ? site : "", strcmp(site, ".") ? "/" : "");
	}
	if (rc < 0) {
		host->set_error(ctx, "cannot generate a Dockerfile: %s", dk_error_last());
	} else {
		host->log(ctx, WEBOPS_LOG_INFO, "no Dockerfile at '%s': generated one for a %s project (%s)", df,
			  dk_kind_name(p.kind), p.why);
		host->log(ctx, WEBOPS_LOG_INFO, "to change what runs: the deployment's %sstart_command or a Procfile's "
			  "web: line; or commit a Dockerfile at '%s'",
			  p.kind == DK_KIND_DJANGO || p.kind == DK_KIND_FLASK || p.kind == DK_KIND_FASTAPI ?
			  "app_module, " : "", df);
		host->output_set(ctx, "dockerfile", df);
		host->output_set(ctx, "dockerfile_generated", dk_kind_name(p.kind));
		/* kept with the release */
		char *gen = NULL;
		if (dk_path_read_beneath(&gen, NULL, src, df, 256 * 1024) == 0)
			host->output_set(ctx, "generated_dockerfile", gen);
		free(gen);
		ret = WEBOPS_OK;
	}
generated:
	dk_buf_release(&text);
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
	const char *const argv[] = {"systemctl", verb, unit, NULL};
	struct webops_run_opts o = {.size = sizeof(o), .timeout_ms = 60000, .capture = 1};
	struct webops_run_result r;
	int rc = h->host->run(h->ctx, argv, &o, &r);
	if (rc < 0 || r.exit_code != 0) {
		char how[96];
		if (rc < 0)
			snprintf(how, sizeof(how), "could not run: %s", h->host->last_error(h->ctx));
		else if (r.signal)
			snprintf(how, sizeof(how), "was killed by signal %d", r.signal);
		else
			snprintf(how, sizeof(how), "exited with status %d", r.exit_code);
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "systemctl %s%s%s %s%s%.*s", verb, unit ? " " : "", unit ? unit : "",
			     how, rc == 0 && r.output_len ? ": " : "", rc == 0 ? (int)r.output_len : 0,
			     rc == 0 ? r.output : "");
		return -1;
	}
	return 0;
}

static void hk_unit_path(struct dk_hook *h, struct dk_buf *path)
{
	const char *dir = hk_setting(h, "units_dir", NULL);
	if (dir)
		dk_buf_puts(path, dir);
	else
		dk_buf_printf(path, "%s/units", hk_data_dir(h));
	dk_buf_putc(path, '/');
	dk_unit_file_name(path, h->name);
}

/* Writes the unit; when systemd runs and the setting allows, reloads and enables it. */
static int hk_write_unit(struct dk_hook *h, const struct dk_spec *spec, const char *image, struct dk_buf *path)
{
	json_t *ports = dk_spec_unit_ports(spec);
	struct dk_unit_spec us = {
		.name = spec->name, .container = spec->container,
		.docker_cli = hk_setting(h, "docker_cli", "/usr/bin/docker"), .image = image, .env = spec->env,
		.ports = ports, .volumes = spec->volumes, .network = spec->network, .labels = spec->labels,
		.stop_timeout_s = hk_setting_int(h, "stop_timeout_s", 10, 0, 300),
		.init = spec->init,
		.cmd = spec->cmd,
		.limits = &spec->limits,
	};
	struct dk_buf text = DK_BUF_INIT;
	hk_unit_path(h, path);
	char *dir = strdup(dk_buf_cstr(path));
	if (!dir) {
		json_decref(ports);
		return dk_error_set("out of memory");
	}
	*strrchr(dir, '/') = '\0';
	struct dk_renderer rd = { hk_render, h };
	int rc = dk_unit_render(&text, &rd, &us);
	json_decref(ports);
	if (rc == 0 && dk_fs_mkdir_p(dir, 0755) < 0)
		rc = dk_error_set("cannot create the units directory '%s': %s", dir, strerror(errno));
	/* 0640: the unit holds the environment, secrets included */
	if (rc == 0)
		rc = dk_fs_write_file_atomic(dk_buf_cstr(path), text.ptr, text.len, 0640);
	free(dir);
	dk_buf_release(&text);
	if (rc < 0)
		return rc;
	h->host->log(h->ctx, WEBOPS_LOG_INFO, "wrote the systemd unit %s", dk_buf_cstr(path));
	if (hk_setting_bool(h, "systemd_enable", 1) && hk_systemd_running()) {
		if (hk_systemctl(h, "daemon-reload", NULL) == 0 && hk_systemctl(h, "enable", dk_buf_cstr(path)) == 0)
			h->host->log(h->ctx, WEBOPS_LOG_INFO, "enabled the unit (it runs the container at boot)");
	} else {
		h->host->log(h->ctx, WEBOPS_LOG_DEBUG, "systemd is not managing the unit; the engine's restart "
			     "policy (docker_restart_policy) keeps the container up");
	}
	return 0;
}

/* Outputs of a new release: its container, id and published ports. */
static void hk_release_outputs(struct dk_hook *h, const char *container, const char *id, const json_t *ports)
{
	struct dk_buf s = DK_BUF_INIT;
	size_t i;
	json_t *v;
	json_array_foreach(ports, i, v)
		dk_buf_printf(&s, "%s%s", i ? "," : "", json_string_value(v));
	h->host->output_set(h->ctx, "container_id", id);
	h->host->output_set(h->ctx, "container", container);
	h->host->output_set(h->ctx, "ports", dk_buf_cstr(&s));
	dk_buf_release(&s);
}

/* The record of a release that proved itself (and, in proxy mode, took the traffic). */
static void hk_state_good(struct dk_hook *h, struct dk_state *st, const char *id, const char *image, int proxy,
			  const char *upstream)
{
	snprintf(st->container_id, sizeof(st->container_id), "%s", id);
	snprintf(st->container, sizeof(st->container), "webops-%s", h->name);
	snprintf(st->image, sizeof(st->image), "%s", image ? image : "");
	snprintf(st->commit, sizeof(st->commit), "%s", h->host->commit(h->ctx) ? h->host->commit(h->ctx) : "");
	snprintf(st->run_id, sizeof(st->run_id), "%s", h->host->run_id(h->ctx) ? h->host->run_id(h->ctx) : "");
	snprintf(st->mode, sizeof(st->mode), "%s", proxy ? "proxy" : "fixed");
	snprintf(st->upstream, sizeof(st->upstream), "%s", upstream ? upstream : "");
	st->ncandidates = 0;
	st->stopped = 0;
	st->recorded_at = (long long)time(NULL);
}

/* The release command, once per deploy before the new release takes
 * traffic: the deployment's release_command, else the Procfile's release:
 * line. 0 when there is none or it succeeded. */
static int hk_release_command(struct dk_hook *h, const struct dk_spec *spec, const char *src, const char *image,
			      const struct dk_run_opts *ro)
{
	const char *field = h->host->field(h->ctx, "release_command");
	char *cmd = field && *field ? strdup(field) : NULL, *procfile = NULL;
	const char *from = "the deployment's release_command";
	if (!cmd && dk_path_read_beneath(&procfile, NULL, src, "Procfile", 64 * 1024) == 0) {
		cmd = dk_procfile_get(procfile, "release");
		from = "the Procfile's release: line";
	}
	free(procfile);
	const char *migrate = h->host->output_get(h->ctx, NULL, "django_migrate");
	if (!cmd && migrate && !strcmp(migrate, "release")) {
		cmd = strdup("python manage.py migrate --noinput");
		from = "Django's default (set release_command, or a Procfile's release: line, to change it)";
	}
	if (!cmd)
		return 0;
	h->host->log(h->ctx, WEBOPS_LOG_INFO, "the release command comes from %s", from);
	struct dk_buf name = DK_BUF_INIT;
	dk_buf_printf(&name, "webops-%s-release", h->name);
	int rc = dk_release_command(h->engine, spec, image, dk_buf_cstr(&name), cmd,
				    hk_setting_int(h, "release_timeout_s", 300, 1, 600), ro, &h->log);
	dk_buf_release(&name);
	free(cmd);
	return rc;
}

/* Builds bi: with BuildKit when the setting builder says so, or (auto)
 * when the Dockerfile uses what only BuildKit builds (RUN --mount, COPY
 * --chmod, a heredoc, a syntax directive). A syntax directive whose
 * frontend image cannot be pulled is dropped and the build tried once more
 * with the engine's built-in frontend. A failure names what to change: a
 * base image that cannot be pulled (its FROM line, the setting that chose
 * it), a heredoc the built-in frontend cannot parse. */
static int hk_build(struct dk_hook *h, char **image_id, struct dk_build_input *bi, const char *src, const char *df,
		    const char *generated)
{
	char *text = NULL, why[160] = "", syntax[256] = "";
	dk_path_read_beneath(&text, NULL, src, df, 1u << 20);
	const char *builder = hk_setting(h, "builder", "auto");
	int line = text ? dk_bk_needed(text, why, sizeof(why)) : 0;
	bi->buildkit = !strcmp(builder, "buildkit") || (strcmp(builder, "classic") != 0 && line);
	if (bi->buildkit && line)
		h->host->log(h->ctx, WEBOPS_LOG_INFO, "building with the engine's BuildKit: line %d of '%s' uses %s, "
			     "which the classic builder refuses", line, df, why);
	else if (bi->buildkit)
		h->host->log(h->ctx, WEBOPS_LOG_INFO, "building with the engine's BuildKit (builder=buildkit)");
	else if (line)
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "line %d of '%s' uses %s, which needs BuildKit, but the setting "
			     "builder is classic", line, df, why);
	int rc = dk_release_build(image_id, h->engine, bi, &h->log);
	int syntax_line = text ? dk_bk_syntax(text, syntax, sizeof(syntax)) : 0;
	if (rc < 0 && bi->buildkit && syntax_line && !hk_cancelled(h) && dk_pull_failure(dk_error_last()) &&
	    strstr(dk_error_last(), "frontend")) {
		char *dropped = dk_bk_drop_syntax(text);
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "the Dockerfile frontend %s that line %d of '%s' asks for cannot be "
			     "pulled: building again with the engine's built-in frontend (the directive dropped from "
			     "the checkout's copy)", syntax, syntax_line, df);
		if (dropped && dk_path_write_beneath(src, df, dropped, strlen(dropped), 0644) == 0)
			rc = dk_release_build(image_id, h->engine, bi, &h->log);
		free(dropped);
	}
	if (rc < 0 && text) {
		char cause[2048];
		snprintf(cause, sizeof(cause), "%s", dk_error_last());
		struct dk_buf ex = DK_BUF_INIT;
		int heredoc = dk_bk_needed(text, why, sizeof(why));
		if (dk_pull_failure_explain(&ex, cause, text, generated)) {
			dk_error_set("%s (the engine said: %s)", dk_buf_cstr(&ex), cause);
		} else if (heredoc && !strncmp(why, "a heredoc", 9) && strstr(cause, "unknown instruction")) {
			dk_error_set("%s (line %d of '%s' starts a heredoc, which needs the Dockerfile frontend "
				     "docker/dockerfile:1.4 or later: this engine's built-in frontend is older%s. Write the "
				     "file with COPY, or the commands as one RUN with && instead)", cause, heredoc, df,
				     syntax_line ? " and the one the syntax directive names cannot be pulled" : "");
		}
		dk_buf_release(&ex);
	}
	free(text);
	return rc;
}

/* A rollback's image: the one the release recorded, if the engine still
 * has it. *ref gets what the container and unit name it by (its id). */
static int hk_rollback_image(struct dk_hook *h, const json_t *rb, int number, char **image_id, struct dk_buf *ref)
{
	const char *id = json_string_value(json_object_get(rb, "image_id"));
	const json_t *rel = json_object_get(hk_event(h), "rollback");
	const char *sha = json_string_value(json_object_get(json_object_get(rel, "commit"), "sha"));
	if (!id || !*id)
		return dk_error_set("release %d recorded no image of the docker addon: it cannot be run again without "
				    "a build; deploy its commit instead (webops deploy %s --ref %.12s)", number, h->name,
				    sha ? sha : "?");
	json_t *img = NULL;
	int rc = dk_engine_image_inspect(&img, h->engine, id);
	json_decref(img);
	if (rc == DK_ENOTFOUND)
		return dk_error_set("release %d's image (%.19s) is gone: only the images of the last keep_releases "
				    "releases are kept. Build its commit again: webops deploy %s --ref %.12s", number, id,
				    h->name, sha ? sha : "?");
	if (rc < 0)
		return dk_error_prefix("cannot inspect release %d's image %.19s", number, id);
	*image_id = strdup(id);
	dk_buf_clear(ref);
	dk_buf_puts(ref, id);
	h->host->log(h->ctx, WEBOPS_LOG_INFO, "rollback to release %d: its image %.19s (%s) runs again, no build",
		     number, id, json_string_value(json_object_get(rb, "image")) ?: "untagged");
	return *image_id ? 0 : dk_error_set("out of memory");
}

/* How many releases keep their images: the deployment's keep_releases, else
 * the setting (3). */
static int hk_keep_releases(struct dk_hook *h)
{
	int64_t n = h->host->field_int(h->ctx, "keep_releases", 0);
	if (n >= 1 && n <= 100)
		return (int)n;
	return hk_setting_int(h, "keep_releases", 3, 1, 100);
}

/* Removes the images of releases older than the kept ones (the event's
 * "releases", newest first; new_image: the release being deployed, not
 * among them yet; NULL for a prune). Never one a container uses: the
 * engine refuses to remove those, and they are skipped before. */
static void hk_prune_releases(struct dk_hook *h, const char *new_image)
{
	int keep = hk_keep_releases(h);
	const json_t *rels = json_object_get(hk_event(h), "releases");
	json_t *kept = json_object();
	if (new_image)
		json_object_set_new(kept, new_image, json_true());
	size_t i;
	json_t *v;
	int counted = new_image ? 1 : 0;
	json_array_foreach(rels, i, v) {
		if (counted >= keep)
			break;
		const char *id = json_string_value(json_object_get(json_object_get(json_object_get(v, "outputs"), "docker"),
								    "image_id"));
		if (id)
			json_object_set_new(kept, id, json_true());
		counted++;
	}
	struct dk_buf label = DK_BUF_INIT;
	dk_buf_printf(&label, "webops.deployment=%s", h->name);
	json_t *imgs = NULL, *ctrs = NULL;
	if (dk_engine_image_list(&imgs, h->engine, dk_buf_cstr(&label)) < 0 ||
	    dk_engine_container_list(&ctrs, h->engine, dk_buf_cstr(&label), 1) < 0) {
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "cannot list images to prune: %s", dk_error_last());
		goto out;
	}
	json_array_foreach(ctrs, i, v) {
		const char *id = json_string_value(json_object_get(v, "ImageID"));
		if (id)
			json_object_set_new(kept, id, json_true());
	}
	int removed = 0;
	json_array_foreach(imgs, i, v) {
		const char *id = json_string_value(json_object_get(v, "Id"));
		if (!id || json_object_get(kept, id))
			continue;
		/* each tag, then the image (an image with two tags is not removed by id) */
		size_t j;
		json_t *t;
		json_array_foreach(json_object_get(v, "RepoTags"), j, t)
			if (json_is_string(t) && strcmp(json_string_value(t), "<none>:<none>") != 0)
				(void)dk_engine_image_remove(h->engine, json_string_value(t), 0);
		int rc = dk_engine_image_remove(h->engine, id, 0);
		if (rc == 0 || rc == DK_ENOTFOUND)
			removed++;
		else /* a container outside webops uses it: the engine refuses */
			h->host->log(h->ctx, WEBOPS_LOG_WARN, "cannot remove the old image %.19s: %s", id, dk_error_last());
	}
	h->host->log(h->ctx, WEBOPS_LOG_INFO, "kept the images of the last %d release%s (keep_releases); %d older "
		     "image%s removed", keep, keep == 1 ? "" : "s", removed, removed == 1 ? "" : "s");
out:
	dk_buf_release(&label);
	json_decref(kept);
	json_decref(imgs);
	json_decref(ctrs);
}

WEBOPS_HOOK(docker_post_deploy)
{
	struct dk_hook h;
	struct dk_spec spec = {0};
	struct dk_run_result res = {0};
	struct dk_state st;
	char *repo = NULL, *image_id = NULL;
	json_t *buildargs = NULL, *dep = NULL;
	struct dk_buf tag1 = DK_BUF_INIT, tag2 = DK_BUF_INIT, tag3 = DK_BUF_INIT, s = DK_BUF_INIT, cand = DK_BUF_INIT;
	char mode_why[160], probe_host[256];
	int ret = WEBOPS_ERROR;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	hk_catch_term();
	const char *src = NULL, *df = hk_dockerfile(&h);
	int proxy = hk_proxy_mode(&h, mode_why, sizeof(mode_why));
	int rbnum = 0;
	const json_t *rb = hk_rollback(&h, &rbnum);
	if ((!rb && hk_source(&h, &src) < 0) || hk_check_dockerfile_path(&h, df) < 0 ||
	    hk_spec(&h, &spec, proxy) < 0 || hk_image_repo(&h, &repo) < 0)
		goto out;
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "%s", mode_why);
	hk_generated_env(&h, &spec);
	if (spec.cmd_exec) {
		char *list = json_dumps(spec.cmd, JSON_COMPACT);
		host->log(ctx, WEBOPS_LOG_INFO, "the container runs the deployment's docker_command instead of the "
			  "image's command: %s", list ? list : "");
		free(list);
	} else if (spec.cmd) {
		const char *from = "?";
		char *cmd = hk_start_command(&h, &from);
		host->log(ctx, WEBOPS_LOG_INFO, "the container runs %s instead of the image's command: %s", from,
			  cmd ? cmd : "");
		/* kept with the release, for a rollback (which has no checkout) */
		if (cmd && strstr(from, "Procfile"))
			host->output_set(ctx, "procfile_web", cmd);
		free(cmd);
	}

	/* Start from the last good release, whatever became of the deploys before. */
	int have_state = hk_state(&h, &st);
	if (dk_release_tidy(h.engine, h.name, have_state ? &st : NULL, &h.log) < 0) {
		ret = hk_fail(&h, "cannot tidy up before the deploy");
		goto out;
	}

	const char *commit = host->commit(ctx);
	const char *run = host->run_id(ctx);
	if (commit && strlen(commit) >= 7)
		dk_buf_printf(&tag1, "%s:%.7s", repo, commit);
	else if (run && *run)
		dk_buf_printf(&tag1, "%s:run-%s", repo, run);
	else
		dk_buf_printf(&tag1, "%s:build-%ld", repo, (long)time(NULL));
	dk_buf_printf(&tag2, "%s:latest", repo);
	/* a tag of its own per run: a later build of the same commit takes
	 * IMAGE:COMMIT, and the release's image must not become untagged (and
	 * pruned as a build leftover) while a rollback may want it */
	if (run && *run)
		dk_buf_printf(&tag3, "%s:run-%s", repo, run);
	const char *tags[] = {dk_buf_cstr(&tag1), dk_buf_cstr(&tag2), dk_buf_cstr(&tag3)};
	const char *ba = host->field(ctx, "docker_build_args");
	buildargs = ba && *ba ? json_loads(ba, 0, NULL) : NULL;
	/* The legacy builder adds one step per label: the image gets the three
	 * the issue names, the container all of spec.labels. */
	json_t *image_labels = json_pack("{s:O,s:O,s:O}", "webops.deployment",
					 json_object_get(spec.labels, "webops.deployment"), "webops.commit",
					 json_object_get(spec.labels, "webops.commit"), "webops.run",
					 json_object_get(spec.labels, "webops.run"));
	/* what webops generated beside a generated Dockerfile (a static site's
	 * nginx.conf, a Flask factory's module) goes with the context, whatever
	 * .dockerignore says */
	const char *generated = host->output_get(ctx, NULL, "dockerfile_generated");
	const char *always[] = {DK_STATIC_CONF_PATH, DK_FACTORY_SHIM_PATH, DK_DJANGO_SETTINGS_PATH};
	int gen = generated && *generated;
	struct dk_build_input bi = {
		.source_dir = src, .dockerfile = df, .tags = tags, .ntags = tag3.len ? 3 : 2, .buildargs = buildargs,
		.labels = image_labels, .always = gen ? always : NULL, .nalways = gen ? 3 : 0,
	};
	int brc;
	if (rb) {
		brc = hk_rollback_image(&h, rb, rbnum, &image_id, &tag1);
		tags[0] = dk_buf_cstr(&tag1);
	} else {
		host->log(ctx, WEBOPS_LOG_INFO, "building %s from '%s'", tags[0], df);
		brc = hk_build(&h, &image_id, &bi, src, df, gen ? generated : NULL);
	}
	json_decref(image_labels);
	if (brc < 0 && rb) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	if (brc < 0) {
		/* what the failed build left, labelled with the deployment by a
		 * generated Dockerfile (never an image in use) */
		char keep[4096];
		snprintf(keep, sizeof(keep), "%s", dk_error_last());
		dk_release_prune_stages(h.engine, h.name, &h.log);
		dk_error_set("%s", keep);
		ret = hk_fail(&h, NULL);
		goto out;
	}
	if (!rb) {
		host->log(ctx, WEBOPS_LOG_INFO, "built %s (%.19s)", tags[0], image_id);
		host->output_set(ctx, "image", tags[0]);
		dk_buf_printf(&s, "%s,%s%s%s", tags[0], tags[1], tag3.len ? "," : "", dk_buf_cstr(&tag3));
		host->output_set(ctx, "image_tags", dk_buf_cstr(&s));
	} else {
		const char *const keys[] = {"image", "image_tags", "procfile_web"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (json_is_string(json_object_get(rb, keys[i])))
				host->output_set(ctx, keys[i], json_string_value(json_object_get(rb, keys[i])));
	}
	host->output_set(ctx, "image_id", image_id);
	if (hk_cancelled(&h)) {
		host->set_error(ctx, "cancelled after the build; the previous release was not touched");
		goto out;
	}

	/* A repository Dockerfile that EXPOSEs one port: that is where its
	 * app listens, whatever the deployment's port (which stays the one
	 * published, or proxied) */
	if (spec.port && !(generated && *generated)) {
		json_t *img = NULL;
		if (dk_engine_image_inspect(&img, h.engine, image_id) == 0 && dk_image_exposed_count(img) == 1) {
			int was = spec.port, p = dk_image_exposed_port(img);
			if (dk_spec_follow_expose(&spec, p))
				host->log(ctx, WEBOPS_LOG_INFO, "the image EXPOSEs %d: the app listens there (PORT=%d); "
					  "the deployment's port %d stays the one it is reached on", p, p, was);
		}
		json_decref(img);
	}
	/* The app's port when nothing said it: the one the image exposes. */
	if (!spec.port) {
		json_t *img = NULL;
		if (dk_engine_image_inspect(&img, h.engine, image_id) == 0) {
			int p = dk_image_exposed_port(img);
			if (p && proxy) {
				dk_spec_set_port(&spec, p);
				host->log(ctx, WEBOPS_LOG_INFO, "the app's port is %d, which the image exposes", p);
			} else if (p) {
				spec.port = p;  /* only to know what readiness probes */
			}
		}
		json_decref(img);
	}
	if (proxy && !spec.port) {
		host->set_error(ctx, "the proxy needs the port the app listens on: set the deployment's port, PORT in "
				"docker_env_vars, or EXPOSE it in the Dockerfile");
		goto out;
	}

	dep = hk_deployment(&h);
	struct dk_ready_http http;
	dk_ready_http_from_deployment(&http, dep);
	struct dk_run_opts ro;
	hk_run_opts(&h, &ro, &http, probe_host, sizeof(probe_host));
	if (rb)
		host->log(ctx, WEBOPS_LOG_INFO, "rollback: the release command is not run again (release %d ran it when "
			  "it was deployed)", rbnum);
	else if (hk_release_command(&h, &spec, src, tags[0], &ro) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	dk_candidate_name(&cand, h.name, run, (long long)time(NULL));
	if (dk_release_start(&res, h.engine, &spec, tags[0], dk_buf_cstr(&cand), &ro, &h.log) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	/* Ready, not yet recorded: a kill from here on leaves it to the tidy-up
	 * as a leftover, and the previous release is restored. */
	if (hk_fault_pause(&h, "after_start") < 0 || hk_cancelled(&h)) {
		dk_release_abandon(h.engine, &res, hk_terminated ? "the hook was stopped (SIGTERM) before the new "
				   "container was recorded as good" : "the run was cancelled before the new container "
				   "was recorded as good", &h.log);
		ret = hk_fail(&h, NULL);
		goto out;
	}

	if (proxy) {
		/* Traffic is the proxy's to switch (post_deploy 70); hook 90
		 * records the new one as good and retires the previous one. The
		 * record names the new one as a candidate meanwhile, so that a
		 * tidy-up after a kill keeps it while traffic may go to it. */
		if (!have_state)
			memset(&st, 0, sizeof(st));
		if (res.previous_id &&
		    (!st.container_id[0] || strncmp(res.previous_id, st.container_id, strlen(st.container_id)) != 0)) {
			/* no record yet (an older webops deployed it), or the recorded
			 * container is gone: the one serving is the good one */
			snprintf(st.container_id, sizeof(st.container_id), "%s", res.previous_id);
			snprintf(st.container, sizeof(st.container), "%s", res.previous);
			st.recorded_at = (long long)time(NULL);
		}
		if (!res.upstream[0]) {
			dk_release_abandon(h.engine, &res, "the new container publishes no port on 127.0.0.1 for the proxy",
					   &h.log);
			ret = hk_fail(&h, NULL);
			goto out;
		}
		snprintf(st.mode, sizeof(st.mode), "proxy");
		dk_state_add_candidate(&st, res.container_id, res.container);
		if (hk_state_save(&h, &st) < 0) {
			char why[1024];
			snprintf(why, sizeof(why), "cannot record the new container: %s", dk_error_last());
			dk_release_abandon(h.engine, &res, why, &h.log);
			ret = hk_fail(&h, NULL);
			goto out;
		}
		hk_release_outputs(&h, res.container, res.container_id, res.ports);
		host->output_set(ctx, "upstream", res.upstream);
		host->output_set(ctx, "previous_container", res.previous ? res.previous : "");
		host->log(ctx, WEBOPS_LOG_INFO, "the new container %s answers on %s; %s", res.container, res.upstream,
			  res.previous ? "the previous one keeps serving until the proxy has switched (then docker's "
			  "post_deploy 90 retires it)" : "there is no previous release");
		ret = WEBOPS_OK;
		goto out;
	}

	/* Fixed host ports: the new one serves now. Its systemd unit first: a
	 * unit that cannot be written (a full disk) would leave one naming the
	 * previous image, so the new release is given up and the previous one
	 * restored rather than leaving the two out of step. */
	struct dk_buf unit = DK_BUF_INIT;
	if (hk_write_unit(&h, &spec, tags[0], &unit) < 0) {
		char why[1024];
		snprintf(why, sizeof(why), "cannot write the systemd unit: %s", dk_error_last());
		dk_buf_release(&unit);
		dk_release_abandon(h.engine, &res, why, &h.log);
		ret = hk_fail(&h, NULL);
		goto out;
	}
	host->output_set(ctx, "unit_path", dk_buf_cstr(&unit));
	dk_buf_release(&unit);
	/* then record it, then retire the rest */
	memset(&st, 0, sizeof(st));
	hk_state_good(&h, &st, res.container_id, tags[0], 0, "");
	if (hk_state_save(&h, &st) < 0) {
		char why[1024];
		snprintf(why, sizeof(why), "cannot record the new container as the good release: %s", dk_error_last());
		dk_release_abandon(h.engine, &res, why, &h.log);
		ret = hk_fail(&h, NULL);
		goto out;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "recorded %s (%.12s) as the last good release", res.container,
		  res.container_id);
	int paused = hk_fault_pause(&h, "before_retire");
	/* Retiring is quick (the previous one is stopped already when it held
	 * the ports) and leaves things sound, so it is done even when cancelled. */
	dk_engine_set_cancel(h.engine, NULL, NULL);
	dk_release_retire(h.engine, h.name, res.container_id, ro.stop_timeout_s, &h.log);
	dk_release_prune_stages(h.engine, h.name, &h.log);
	hk_prune_releases(&h, image_id);
	hk_release_outputs(&h, spec.container, res.container_id, res.ports);
	dk_buf_clear(&s);
	size_t i;
	json_t *v;
	json_array_foreach(res.ports, i, v)
		dk_buf_printf(&s, "%s%s", i ? "," : "", json_string_value(v));
	host->log(ctx, WEBOPS_LOG_INFO, "container %s (%.12s) is running%s%s", spec.container, res.container_id,
		  s.len ? ", published on " : "", dk_buf_cstr(&s));
	if (paused < 0 || hk_cancelled(&h)) {
		host->set_error(ctx, "cancelled after the new release took over (it serves and is recorded as good)");
		goto out;
	}
	ret = WEBOPS_OK;
out:
	json_decref(buildargs);
	json_decref(dep);
	free(repo);
	free(image_id);
	dk_buf_release(&tag1);
	dk_buf_release(&tag2);
	dk_buf_release(&tag3);
	dk_buf_release(&s);
	dk_buf_release(&cand);
	dk_run_result_release(&res);
	dk_spec_release(&spec);
	hk_release(&h);
	return ret;
}

/* Sleeps s seconds unless cancelled: 0, or -1 when cancelled. */
static int hk_sleep(struct dk_hook *h, int s)
{
	for (int i = 0; i < s * 10; i++) {
		if (hk_cancelled(h))
			return -1;
		usleep(100000);
	}
	return hk_cancelled(h) ? -1 : 0;
}

/* post_deploy 90, proxy mode: once proxy-nginx (70) switched traffic to the
 * new container, it becomes the last good release; the previous one gets
 * drain_s to finish what it serves, then is stopped and removed. */
WEBOPS_HOOK(docker_retire)
{
	struct dk_hook h;
	struct dk_spec spec = {0};
	struct dk_state st;
	char mode_why[160];
	int ret = WEBOPS_ERROR;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	hk_catch_term();
	if (!hk_proxy_mode(&h, mode_why, sizeof(mode_why))) {
		host->set_error(ctx, "%s: the new container took over in post_deploy 50", mode_why);
		ret = WEBOPS_SKIPPED;
		goto out;
	}
	const char *id = host->output_get(ctx, NULL, "container_id");
	const char *cand = host->output_get(ctx, NULL, "container");
	const char *prev = host->output_get(ctx, NULL, "previous_container");
	const char *switched = host->output_get(ctx, "proxy-nginx", "switched");
	if (!id || !*id) {
		host->set_error(ctx, "no new container to retire the previous one for (docker's post_deploy 50 "
				"published no container_id)");
		goto out;
	}
	if (!switched || strcmp(switched, "true") != 0) {
		host->set_error(ctx, "proxy-nginx did not switch traffic to %s (its output 'switched' is '%s'): the "
				"previous release keeps serving and the new container is left for the next deploy's "
				"tidy-up", cand ? cand : id, switched ? switched : "");
		ret = WEBOPS_SKIPPED;
		goto out;
	}
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	/* Traffic goes to the new one: it is the good release from now on. */
	hk_state(&h, &st);
	hk_state_good(&h, &st, id, host->output_get(ctx, NULL, "image"), 1, host->output_get(ctx, NULL, "upstream"));
	if (hk_state_save(&h, &st) < 0) {
		ret = hk_fail(&h, "cannot record the new container as the good release");
		goto out;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "proxy-nginx switched traffic to %s: recorded it (%.12s) as the last good "
		  "release", cand ? cand : "", id);
	int drain = hk_setting_int(&h, "drain_s", 5, 0, 300);
	int stop_timeout = hk_setting_int(&h, "stop_timeout_s", 10, 0, 300);
	if (hk_fault_pause(&h, "before_retire") < 0 || (prev && *prev && drain > 0 &&
	    (host->log(ctx, WEBOPS_LOG_INFO, "draining: %s keeps running for %d s so that the requests it is "
		       "serving finish", prev, drain), hk_sleep(&h, drain) < 0))) {
		host->set_error(ctx, "%s before the previous container was retired; the new release serves and is "
				"recorded as good, the next deploy's tidy-up removes the previous one",
				hk_terminated ? "stopped (SIGTERM)" : "cancelled");
		goto out;
	}
	if (dk_release_retire(h.engine, h.name, id, stop_timeout, &h.log) < 0) {
		ret = hk_fail(&h, "cannot list the deployment's containers to retire the previous one");
		goto out;
	}
	dk_release_prune_stages(h.engine, h.name, &h.log);
	hk_prune_releases(&h, host->output_get(ctx, NULL, "image_id"));
	struct dk_buf name = DK_BUF_INIT;
	dk_container_name(&name, h.name);
	host->output_set(ctx, "container", dk_buf_cstr(&name));
	host->output_set(ctx, "retired", prev ? prev : "");
	dk_buf_release(&name);
	if (hk_spec(&h, &spec, 1) == 0) {
		/* a rollback's image by its id: its tag may name a later build */
		const char *image = host->output_get(ctx, NULL, hk_rollback(&h, NULL) ? "image_id" : "image");
		hk_generated_env(&h, &spec);
		struct dk_buf unit = DK_BUF_INIT;
		if (!spec.port) {
			/* the port the image exposes, as post_deploy 50 found it */
			json_t *info = NULL;
			if (dk_engine_container_inspect(&info, h.engine, id) == 0) {
				struct dk_ready_target t;
				if (dk_ready_target(&t, info, 0, NULL) == 0)
					dk_spec_set_port(&spec, t.container_port);
			}
			json_decref(info);
		}
		if (image && hk_write_unit(&h, &spec, image, &unit) < 0) {
			/* traffic is on the new release already: the step fails, and
			 * the unit naming the previous image goes, so that it cannot
			 * bring the previous release back at boot */
			char why[1024];
			snprintf(why, sizeof(why), "%s", dk_error_last());
			struct dk_buf path = DK_BUF_INIT;
			hk_unit_path(&h, &path);
			int gone = unlink(dk_buf_cstr(&path)) == 0 || errno == ENOENT;
			host->set_error(ctx, "the new release serves, but its systemd unit could not be written (%s); %s. "
					"Deploy again once that is fixed", why,
					gone ? "the stale unit that named the previous image was removed"
					     : "the unit still names the previous image");
			dk_buf_release(&path);
			dk_buf_release(&unit);
			goto out;
		}
		if (image)
			host->output_set(ctx, "unit_path", dk_buf_cstr(&unit));
		dk_buf_release(&unit);
	}
	ret = WEBOPS_OK;
out:
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

/* The serving container's id and name ("webops-NAME" and no id when there is none). */
static int hk_serving(struct dk_hook *h, char **id, char **name, struct dk_state *st, int *have_state)
{
	*have_state = hk_state(h, st);
	int rc = dk_release_serving(id, name, h->engine, h->name, *have_state ? st : NULL);
	if (rc == DK_ENOTFOUND) {
		struct dk_buf n = DK_BUF_INIT;
		dk_container_name(&n, h->name);
		*id = NULL;
		*name = dk_buf_detach(&n);
	}
	return rc;
}

/* Publishes where the container's app port answers on the host (in proxy
 * mode it changes when the container is started again), for proxy-nginx's
 * hooks that run after docker's and for core's health probe. */
static void hk_publish_upstream(struct dk_hook *h, const char *id, int proxy, char *addr, size_t cap)
{
	struct dk_spec spec = {0};
	int port = hk_spec(h, &spec, proxy) == 0 ? spec.port : 0;
	dk_spec_release(&spec);
	json_t *info = NULL;
	addr[0] = '\0';
	if (dk_engine_container_inspect(&info, h->engine, id) == 0) {
		struct dk_ready_target t;
		if (dk_ready_target(&t, info, port, NULL) == 0) {
			dk_ready_address(addr, cap, &t);
			h->host->output_set(h->ctx, "upstream", addr);
		}
	}
	json_decref(info);
}

/* Proxy mode: the record follows the upstream published by start, so the
 * health hook can tell when the port moved behind webops' back. */
static void hk_record_upstream(struct dk_hook *h, struct dk_state *st, int have_state, const char *upstream)
{
	if (!have_state || !upstream[0] || strcmp(st->upstream, upstream) == 0)
		return;
	snprintf(st->upstream, sizeof(st->upstream), "%s", upstream);
	if (hk_state_save(h, st) < 0)
		h->host->log(h->ctx, WEBOPS_LOG_WARN, "%s", dk_error_last());
}

WEBOPS_HOOK(docker_health)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	int ret = WEBOPS_ERROR, have_state;
	char *id = NULL, *container = NULL;
	struct dk_state sst;
	struct dk_health st;
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	int rc = hk_serving(&h, &id, &container, &sst, &have_state);
	if ((rc < 0 && rc != DK_ENOTFOUND) || dk_release_health(&st, h.engine, id ? id : container) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	if (!id)
		snprintf(st.reason, sizeof(st.reason), "the container '%s' does not exist", container);
	hk_health_outputs(&h, &st);
	/* where the release answers, in either mode: core's HTTP probe goes
	 * there and nowhere else */
	char upstream[96] = "";
	int proxy = hk_proxy_mode(&h, NULL, 0);
	if (id && st.running)
		hk_publish_upstream(&h, id, proxy, upstream, sizeof(upstream));
	/* Started again outside webops (the engine's restart policy after a
	 * reboot, the systemd unit), the container got another host port and
	 * the proxy still sends to the old one: failing the check makes webopsd
	 * restart it through the hooks, and proxy-nginx's start follows. */
	int moved = proxy && upstream[0] && have_state && sst.upstream[0] && !sst.stopped && strcmp(sst.upstream, upstream) != 0 &&
		    id && strncmp(id, sst.container_id, strlen(sst.container_id)) == 0;
	/* Resource use is a detail of the check, not its verdict. */
	if (st.stats_error[0])
		host->log(ctx, WEBOPS_LOG_WARN, "no resource use for %s: %s", container, st.stats_error);
	if (moved) {
		host->set_error(ctx, "unhealthy: %s answers on %s now, but the proxy sends to %s (it was started again "
				"outside webops and got another port); a restart lets the proxy follow", container, upstream,
				sst.upstream);
	} else if (st.exists && st.running && !st.restarting && !st.paused && strcmp(st.health, "unhealthy") != 0) {
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
	free(id);
	free(container);
	hk_release(&h);
	return ret;
}

WEBOPS_HOOK(docker_start)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	hk_catch_term();
	int ret = WEBOPS_ERROR, have_state;
	char *id = NULL, *container = NULL;
	struct dk_state st;
	struct dk_spec spec = {0};
	json_t *dep = NULL;
	char probe_host[256];
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	int rc = hk_serving(&h, &id, &container, &st, &have_state);
	if (rc == DK_ENOTFOUND) {
		host->set_error(ctx, "the container %s does not exist: deploy the deployment first", container);
		goto out;
	} else if (rc < 0 || dk_engine_container_start(h.engine, id) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "started %s", container);
	if (have_state && st.stopped) {
		st.stopped = 0;
		if (hk_state_save(&h, &st) < 0)
			host->log(ctx, WEBOPS_LOG_WARN, "%s", dk_error_last());
	}
	int proxy = hk_proxy_mode(&h, NULL, 0);
	/* Started counts when it answers, as after a deploy (no wait when there is nothing to ask). */
	if (hk_spec(&h, &spec, proxy) < 0) {
		host->log(ctx, WEBOPS_LOG_WARN, "the deployment's docker fields do not check out; not waiting for "
			  "readiness");
		ret = WEBOPS_OK;
		goto out;
	}
	dep = hk_deployment(&h);
	struct dk_ready_http http;
	dk_ready_http_from_deployment(&http, dep);
	struct dk_run_opts ro;
	hk_run_opts(&h, &ro, &http, probe_host, sizeof(probe_host));
	ro.grace_s = 0;
	if (ro.start_timeout_s > 90)
		ro.start_timeout_s = 90;  /* within the start hook's two minutes */
	char upstream[96] = "";
	rc = dk_release_wait(upstream, sizeof(upstream), h.engine, id, &spec, &ro, &h.log);
	if (proxy && upstream[0])
		host->output_set(ctx, "upstream", upstream);
	else if (proxy)
		hk_publish_upstream(&h, id, 1, upstream, sizeof(upstream));
	if (proxy)
		hk_record_upstream(&h, &st, have_state, upstream);
	ret = rc < 0 ? hk_fail(&h, NULL) : WEBOPS_OK;
out:
	json_decref(dep);
	dk_spec_release(&spec);
	free(id);
	free(container);
	hk_release(&h);
	return ret;
}

WEBOPS_HOOK(docker_stop)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	int ret = WEBOPS_ERROR, have_state;
	char *id = NULL, *container = NULL;
	struct dk_state st;
	json_t *list = NULL;
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	/* A unit running the container would restart it (Restart=on-failure): stop it first. */
	if (hk_setting_bool(&h, "systemd_enable", 1) && hk_systemd_running()) {
		struct dk_buf unit = DK_BUF_INIT;
		dk_unit_file_name(&unit, h.name);
		hk_systemctl(&h, "stop", dk_buf_cstr(&unit));
		dk_buf_release(&unit);
	}
	int stop_timeout = hk_setting_int(&h, "stop_timeout_s", 10, 0, 300);
	int rc = hk_serving(&h, &id, &container, &st, &have_state);
	if (rc == DK_ENOTFOUND) {
		host->log(ctx, WEBOPS_LOG_INFO, "the container %s does not exist: nothing to stop", container);
		ret = WEBOPS_OK;
		goto out;
	}
	if (rc < 0 || (rc = dk_engine_container_stop(h.engine, id, stop_timeout)) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "stopped %s", container);
	/* stopped on purpose: a deploy's tidy-up must not start it again */
	if (!have_state) {
		memset(&st, 0, sizeof(st));
		snprintf(st.container_id, sizeof(st.container_id), "%s", id);
		snprintf(st.container, sizeof(st.container), "%s", container);
		st.recorded_at = (long long)time(NULL);
	}
	st.stopped = 1;
	if (hk_state_save(&h, &st) < 0)
		host->log(ctx, WEBOPS_LOG_WARN, "%s", dk_error_last());
	/* and a new release an interrupted deploy left running next to it */
	struct dk_buf label = DK_BUF_INIT;
	dk_buf_printf(&label, "webops.deployment=%s", h.name);
	if (dk_engine_container_list(&list, h.engine, dk_buf_cstr(&label), 0) == 0) {
		size_t i;
		json_t *c;
		json_array_foreach(list, i, c) {
			const char *cid = json_string_value(json_object_get(c, "Id"));
			if (cid && strcmp(cid, id) != 0 && dk_engine_container_stop(h.engine, cid, stop_timeout) == 0)
				host->log(ctx, WEBOPS_LOG_INFO, "stopped %s too (left running by an interrupted deploy)",
					  json_string_value(json_array_get(json_object_get(c, "Names"), 0)));
		}
	}
	dk_buf_release(&label);
	ret = WEBOPS_OK;
out:
	json_decref(list);
	free(id);
	free(container);
	hk_release(&h);
	return ret;
}

/* webops addon status docker (and webopsd, every minute): the engine's state. */
WEBOPS_HOOK(docker_status)
{
	const char *v = host->setting(ctx, "docker_host");
	json_t *st = dk_engine_state(v && *v ? v : NULL);
	const char *k;
	json_t *x;
	json_object_foreach(st, k, x)
		host->output_set(ctx, k, json_string_value(x));
	json_decref(st);
	return WEBOPS_OK;
}

/* webops deployment prune NAME: what older releases and builds left. */
WEBOPS_HOOK(docker_prune)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	if (hk_engine(&h) < 0) {
		int ret = hk_fail(&h, NULL);
		hk_release(&h);
		return ret;
	}
	dk_release_prune_stages(h.engine, h.name, &h.log);
	hk_prune_releases(&h, NULL);
	hk_release(&h);
	return WEBOPS_OK;
}

WEBOPS_HOOK(docker_delete)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	int ret = WEBOPS_ERROR;
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	struct dk_buf unit = DK_BUF_INIT, path = DK_BUF_INIT;
	dk_unit_file_name(&unit, h.name);
	hk_unit_path(&h, &path);
	if (hk_systemd_running() && access(dk_buf_cstr(&path), F_OK) == 0) {
		hk_systemctl(&h, "stop", dk_buf_cstr(&unit));
		hk_systemctl(&h, "disable", dk_buf_cstr(&unit));
	}
	if (unlink(dk_buf_cstr(&path)) == 0)
		host->log(ctx, WEBOPS_LOG_INFO, "removed the unit %s", dk_buf_cstr(&path));
	dk_buf_release(&unit);
	dk_buf_release(&path);
	if (dk_release_remove(h.engine, h.name, hk_setting_bool(&h, "remove_images_on_delete", 1), &h.log) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	hk_state_path(&h, &path);
	if (dk_state_remove(dk_buf_cstr(&path)) < 0)
		host->log(ctx, WEBOPS_LOG_WARN, "%s", dk_error_last());
	dk_buf_release(&path);
	/* the data is the user's: kept, and said where */
	const char *dp = host->field(ctx, "data_path");
	if (dp && *dp)
		host->log(ctx, WEBOPS_LOG_INFO, "kept the data volume webops-%s-data (data_path %s): remove it with "
			  "'docker volume rm webops-%s-data' once its data is no longer needed", h.name, dp, h.name);
	ret = WEBOPS_OK;
out:
	hk_release(&h);
	return ret;
}

/* ---- logs: the running release's own output ---- */

static void hk_logs_line(void *ud, int is_stderr, const char *text)
{
	struct dk_hook *h = ud;
	/* stdout as info, stderr as warn: the host keeps them apart */
	h->host->log(h->ctx, is_stderr ? WEBOPS_LOG_WARN : WEBOPS_LOG_INFO, "%s", text);
}

/* Streams the serving container's stdout and stderr as log lines. The event
 * ({"tail": N, "since": UNIX_TIME, "follow": bool, "timestamps": bool})
 * says how much; a follow goes on across deploys (the next release's
 * container is followed once it serves) until the run is cancelled. */
WEBOPS_HOOK(docker_logs)
{
	struct dk_hook h;
	if (hk_init(&h, host, ctx) < 0)
		return WEBOPS_ERROR;
	int ret = WEBOPS_ERROR;
	char *id = NULL, *container = NULL, *followed = NULL;
	json_t *ev = NULL;
	const char *evs = WEBOPS_HOST_HAS(host, event_json) ? host->event_json(ctx) : NULL;
	ev = evs ? json_loads(evs, 0, NULL) : NULL;
	struct dk_logs_opts o = {
		.tail = json_is_integer(json_object_get(ev, "tail")) ? (int)json_integer_value(json_object_get(ev, "tail"))
								      : 100,
		.since = json_integer_value(json_object_get(ev, "since")),
		.follow = json_is_true(json_object_get(ev, "follow")),
		.timestamps = json_is_true(json_object_get(ev, "timestamps")),
	};
	if (hk_engine(&h) < 0) {
		ret = hk_fail(&h, NULL);
		goto out;
	}
	dk_engine_set_cancel(h.engine, hk_cancelled, &h);
	for (;;) {
		struct dk_state st;
		int have_state;
		free(id);
		free(container);
		id = container = NULL;
		int rc = hk_serving(&h, &id, &container, &st, &have_state);
		if (rc < 0 && rc != DK_ENOTFOUND) {
			ret = hk_fail(&h, NULL);
			goto out;
		}
		if (!id && !o.follow) {
			host->set_error(ctx, "'%s' has no container: it was not deployed yet, or it was deleted", h.name);
			goto out;
		}
		if (id && (!followed || strcmp(followed, id) != 0)) {
			if (followed)
				host->log(ctx, WEBOPS_LOG_DEBUG, "now following %s (%.12s), the release that serves", container,
					  id);
			free(followed);
			followed = strdup(id);
			if (dk_engine_container_logs_stream(h.engine, id, &o, hk_logs_line, &h) < 0 && !hk_cancelled(&h)) {
				ret = hk_fail(&h, NULL);
				goto out;
			}
		}
		if (!o.follow || hk_cancelled(&h))
			break;
		/* the container stopped, or another release took over: what it
		 * prints from now on */
		o.tail = -1;
		o.since = (long long)time(NULL);
		if (hk_sleep(&h, 1) < 0)
			break;
		/* the same container started again: follow it anew */
		json_t *info = NULL;
		if (id && dk_engine_container_inspect(&info, h.engine, id) == 0 &&
		    json_is_true(json_object_get(json_object_get(info, "State"), "Running"))) {
			free(followed);
			followed = NULL;
		}
		json_decref(info);
	}
	ret = WEBOPS_OK;
out:
	free(id);
	free(container);
	free(followed);
	json_decref(ev);
	hk_release(&h);
	return ret;
}

/* ---- watch: the engine's events, so that a dead container is noticed at once ---- */

/* Whether a deploy is under way for the deployment: another of its
 * containers exists next to the serving one (a candidate, the previous
 * release being retired, a release command). */
static int hk_watch_busy(struct dk_hook *h, const char *serving_id)
{
	/* not through h->engine: its handle is in the middle of the event
	 * stream (this runs in its callback), and reusing it there breaks it */
	if (!h->query && dk_engine_open(&h->query, hk_setting(h, "docker_host", NULL), 2000) < 0)
		return 0;
	struct dk_buf label = DK_BUF_INIT;
	dk_buf_printf(&label, "webops.deployment=%s", h->name);
	json_t *list = NULL;
	int busy = 0;
	if (dk_engine_container_list(&list, h->query, dk_buf_cstr(&label), 1) == 0) {
		size_t i;
		json_t *c;
		json_array_foreach(list, i, c) {
			/* a candidate being made or started; not what earlier
			 * deploys left stopped */
			const char *cid = json_string_value(json_object_get(c, "Id"));
			const char *state = json_string_value(json_object_get(c, "State"));
			busy |= cid && strcmp(cid, serving_id) != 0 && state &&
				(!strcmp(state, "running") || !strcmp(state, "created") || !strcmp(state, "restarting"));
		}
	}
	json_decref(list);
	dk_buf_release(&label);
	return busy;
}

static void hk_watch_event(void *ud, const json_t *ev)
{
	struct dk_hook *h = ud;
	const char *action = json_string_value(json_object_get(ev, "Action"));
	json_t *actor = json_object_get(ev, "Actor");
	const char *id = json_string_value(json_object_get(actor, "ID"));
	json_t *attrs = json_object_get(actor, "Attributes");
	const char *dep = json_string_value(json_object_get(attrs, "webops.deployment"));
	if (!action || !id || !dep || !*dep || strlen(dep) >= sizeof(h->name))
		return;
	int died = !strcmp(action, "die"), oom = !strcmp(action, "oom"),
	    unhealthy = !strcmp(action, "health_status: unhealthy");
	if (!died && !oom && !unhealthy)
		return;
	snprintf(h->name, sizeof(h->name), "%s", dep);
	/* only the release that serves, and not one stopped on purpose (webops
	 * stop records that before it stops it) */
	struct dk_state st;
	if (!hk_state(h, &st) || !st.container_id[0] || strncmp(id, st.container_id, strlen(st.container_id)) != 0 ||
	    st.stopped)
		return;
	/* a deploy stops the serving release itself when it needs its ports:
	 * its new container is there within moments */
	if (died) {
		poll(NULL, 0, 400);
		if (hk_state(h, &st) && st.stopped)
			return;
		if (hk_watch_busy(h, id))
			return;
	}
	char detail[160];
	const char *kind = died ? "died" : oom ? "oom" : "unhealthy";
	if (died)
		snprintf(detail, sizeof(detail), "%s exited with code %s", st.container[0] ? st.container : "its container",
			 json_string_value(json_object_get(attrs, "exitCode")) ? json_string_value(json_object_get(attrs, "exitCode")) : "?");
	else if (oom)
		snprintf(detail, sizeof(detail), "%s ran out of memory (the kernel's OOM killer)",
			 st.container[0] ? st.container : "its container");
	else
		snprintf(detail, sizeof(detail), "%s: its HEALTHCHECK failed", st.container[0] ? st.container : "its container");
	h->host->report(h->ctx, dep, kind, detail);
}

/* Follows the engine's events for webops' containers (webopsd keeps it
 * running); a dead, OOM-killed or unhealthy release is reported at once, so
 * that its deployment is checked now rather than at its next interval. */
WEBOPS_HOOK(docker_watch)
{
	struct dk_hook h;
	memset(&h, 0, sizeof(h));
	h.host = host;
	h.ctx = ctx;
	h.log.line = hk_line;
	h.log.ud = &h;
	if (!WEBOPS_HOST_HAS(host, report)) {
		host->set_error(ctx, "this webops has no host->report (host table 1.2)");
		return WEBOPS_ERROR;
	}
	if (hk_engine(&h) < 0) {
		int ret = hk_fail(&h, NULL);
		hk_release(&h);
		return ret;
	}
	json_t *filters = json_pack("{s:[s],s:[s]}", "type", "container", "label", "webops.managed-by=webops");
	int rc = dk_engine_events_stream(h.engine, filters, hk_watch_event, &h);
	json_decref(filters);
	int ret = WEBOPS_OK;
	if (rc < 0 && !hk_cancelled(&h))
		ret = hk_fail(&h, "the engine's event stream ended");
	hk_release(&h);
	return ret;
}
