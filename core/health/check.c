/* One batch of health checks: claims, the checks themselves (health hooks in
 * child processes, HTTP probes on one curl multi handle, all at once), the
 * state machine, one transaction recording checks, states, events and
 * notifications, then the automatic restarts the state machine asked for. */
#include "health/health.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addon/addon.h"
#include "db/db.h"
#include "health/probe.h"
#include "pipeline/lifecycle.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/spawn.h"
#include "util/log.h"
#include "util/banned.h"

#define MAX_PROBES_AT_ONCE 500 /* each is a socket: stay well below the fd limit (1024) */
#define MAX_HOOK_WORKERS 8     /* deployments whose health hooks run at once */
#define WORKER_OUTPUT_MAX (256 * 1024)

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void iso_now(char *buf, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static long long jint(const json_t *o, const char *key, long long dflt)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int wo_health_claim(char **out, int *n, PGconn *conn, const char *owner, int max)
{
	char maxs[16];
	snprintf(maxs, sizeof(maxs), "%d", max);
	const char *params[] = { owner, maxs };
	PGresult *res;
	/* the next check is due one interval after this one (a little jitter
	 * keeps deployments from marching in step); a deployment never checked,
	 * or whose schedule fell behind (a daemon was down), is placed at a
	 * random point of its interval so a crowd spreads out */
	if (wo_db_exec(&res, conn,
		       "WITH due AS (SELECT h.deployment_id FROM health_state h JOIN deployments d ON d.id = h.deployment_id"
		       "  WHERE d.status IN ('running', 'deployed') AND h.next_check_at <= clock_timestamp()"
		       "    AND (h.lease_until IS NULL OR h.lease_until < clock_timestamp())"
		       "  ORDER BY h.next_check_at LIMIT $2::int FOR UPDATE OF h SKIP LOCKED),"
		       " s AS (SELECT d.id, make_interval(secs => coalesce((d.health->>'interval_s')::int, 30)) AS iv,"
		       "         coalesce((d.health->>'timeout_s')::int, 5) AS t"
		       "       FROM deployments d JOIN due ON due.deployment_id = d.id)"
		       " UPDATE health_state h SET lease_owner = $1,"
		       "   lease_until = clock_timestamp() + make_interval(secs => s.t * 4 + 60),"
		       "   next_check_at = CASE WHEN h.last_check_at IS NULL OR h.next_check_at + s.iv < clock_timestamp()"
		       "     THEN clock_timestamp() + s.iv * (0.5 + random())"
		       "     ELSE greatest(h.next_check_at + s.iv * (0.95 + 0.1 * random()), clock_timestamp() + s.iv * 0.9) END"
		       " FROM s WHERE h.deployment_id = s.id"
		       " RETURNING h.deployment_id",
		       2, params) < 0)
		return -1;
	struct wo_buf ids = WO_BUF_INIT;
	wo_buf_putc(&ids, '{');
	for (int i = 0; i < PQntuples(res); i++) {
		if (i)
			wo_buf_putc(&ids, ',');
		wo_buf_puts(&ids, PQgetvalue(res, i, 0));
	}
	wo_buf_putc(&ids, '}');
	*n = PQntuples(res);
	PQclear(res);
	*out = wo_buf_detach(&ids);
	return 0;
}

/* ---- one deployment's check ---- */

struct item {
	long long id;
	const char *name;
	json_t *d;         /* the deployment record (borrowed from the batch's object) */
	json_t *st;        /* its health_state as loaded (borrowed) */
	struct wo_probe probe;
	int has_probe;
	/* the health hooks, in a worker process */
	pid_t pid;
	int fd;
	int hooks_started, hooks_done;
	long hooks_started_ms;
	struct wo_buf hook_out;
	json_t *hooks;     /* {"ran", "ok", "failed", "reason", "outputs", "duration_ms", "results"} */
	/* the check's outcome */
	int checked;       /* something was checked: a probe or a hook that ran */
	int ok, counted;
	long latency_ms;
	char *failed, *reason;
	/* what the state machine decided */
	const char *state; /* new state */
	int failures;
	int gave_up;
	int restart;       /* restart it once recorded */
	int backoff_s;
	long long check_id;
};

/* The worker process: this deployment's health hooks, reported as JSON on fd. */
static void hook_worker(struct wo_addon_registry *reg, const json_t *d, int fd)
{
	/* the connection belongs to the parent: this child must not touch it */
	reg->conn = NULL;
	json_t *outputs = json_object();
	const json_t *h = json_object_get(d, "health");
	struct wo_hook_ctx ctx = {
		.deployment = d,
		.source_dir = "",
		.commit = jstr(d, "current_commit") ? jstr(d, "current_commit") : "",
		.run_id = "",
		.outputs = outputs,
		.timeout_ms_max = (int)jint(h, "timeout_s", 5) * 1000,
	};
	struct wo_hook_report *rep = NULL;
	json_t *o = json_object();
	if (wo_hook_dispatch(&rep, reg, WO_EVENT_HEALTH, &ctx) < 0) {
		json_object_set_new(o, "ran", json_integer(1));
		json_object_set_new(o, "ok", json_false());
		json_object_set_new(o, "failed", json_string("health hooks"));
		json_object_set_new(o, "reason", json_string(wo_error_last()));
	} else {
		int ran = 0, ok = 1;
		int64_t ms = 0;
		json_t *results = json_array();
		for (size_t i = 0; i < rep->nresults; i++) {
			const struct wo_hook_result *r = &rep->results[i];
			if (r->status != WO_HOOK_OK && r->status != WO_HOOK_FAILED)
				continue;
			ran++;
			ms += r->duration_ms;
			json_array_append_new(results, json_pack("{s:s, s:b, s:I}", "addon", r->addon, "ok",
								 r->status == WO_HOOK_OK, "duration_ms",
								 (json_int_t)r->duration_ms));
			if (r->status == WO_HOOK_FAILED && ok) {
				ok = 0;
				struct wo_buf f = WO_BUF_INIT;
				wo_buf_printf(&f, "addon %s", r->addon);
				json_object_set_new(o, "failed", json_string(f.ptr));
				wo_buf_release(&f);
				json_object_set_new(o, "reason", json_string(r->error ? r->error : "the health hook failed"));
			}
		}
		/* where the release answers, for the probe: the first address a
		 * hook published, in the hooks' order (the runtime addon's) */
		for (size_t i = 0; i < rep->nresults; i++) {
			const char *up = json_string_value(json_object_get(rep->results[i].outputs, "upstream"));
			if (rep->results[i].status == WO_HOOK_OK && wo_probe_address_check(up) == 0) {
				json_object_set_new(o, "upstream", json_string(up));
				break;
			}
		}
		json_object_set_new(o, "ran", json_integer(ran));
		json_object_set_new(o, "ok", json_boolean(ok));
		json_object_set_new(o, "duration_ms", json_integer(ms));
		json_object_set_new(o, "results", results);
		json_object_set(o, "outputs", outputs);
	}
	char *text = json_dumps(o, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0, off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	_exit(0);
}

static int start_hooks(struct item *it, struct wo_addon_registry *reg)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = wo_fork("a health hook worker", &(struct wo_fork_opts){ .flags = WO_FORK_DEATHSIG_KILL |
											 WO_FORK_RESET_SIGNALS |
											 WO_FORK_IGNORE_SIGPIPE });
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		hook_worker(reg, it->d, p[1]);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	it->pid = pid;
	it->fd = p[0];
	it->hooks_started = 1;
	it->hooks_started_ms = now_ms();
	wo_buf_init(&it->hook_out, WORKER_OUTPUT_MAX);
	return 0;
}

static void end_hooks(struct item *it, const char *why)
{
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
	if (it->pid > 0) {
		if (why)
			kill(it->pid, SIGKILL);
		waitpid(it->pid, NULL, 0);
	}
	it->pid = 0;
	it->hooks_done = 1;
	json_error_t jerr;
	if (!why)
		it->hooks = json_loadb(it->hook_out.ptr ? it->hook_out.ptr : "", it->hook_out.len, 0, &jerr);
	if (!json_is_object(it->hooks)) {
		json_decref(it->hooks);
		it->hooks = json_pack("{s:i, s:b, s:s, s:s}", "ran", 1, "ok", 0, "failed", "health hooks", "reason",
				      why ? why : "the health hooks' process ended without a report");
	}
	wo_buf_release(&it->hook_out);
}

static void read_hooks(struct item *it)
{
	char buf[8192];
	for (;;) {
		ssize_t r = read(it->fd, buf, sizeof(buf));
		if (r > 0) {
			if (wo_buf_add(&it->hook_out, buf, (size_t)r) < 0) {
				end_hooks(it, "the health hooks' report is too large");
				return;
			}
			continue;
		}
		if (r < 0 && (errno == EINTR))
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		end_hooks(it, NULL); /* EOF */
		return;
	}
}

static int registry_has_health_hooks(const struct wo_addon_registry *reg)
{
	for (size_t i = 0; reg && i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		if (!a->enabled || !a->loaded || a->duplicate)
			continue;
		for (size_t j = 0; j < a->manifest->nhooks; j++)
			if (a->manifest->hooks[j].event == WO_EVENT_HEALTH)
				return 1;
	}
	return 0;
}

/* Runs every item's probe and hooks; returns when all are done. */
static void run_checks(struct item *items, size_t n, struct wo_addon_registry *reg)
{
	int hooks = registry_has_health_hooks(reg);
	CURLM *multi = curl_multi_init();
	size_t next_probe = 0, next_hooks = 0, probes_running = 0, workers = 0;
	for (size_t i = 0; i < n; i++) {
		items[i].fd = -1;
		items[i].hooks_done = !hooks;
	}
	struct curl_waitfd *extra = calloc(MAX_HOOK_WORKERS, sizeof(*extra));
	struct item **extra_items = calloc(MAX_HOOK_WORKERS, sizeof(*extra_items));
	for (;;) {
		/* a probe goes where the deployment's health hooks said its release
		 * answers, so it starts once they are done */
		while (next_probe < n && probes_running < MAX_PROBES_AT_ONCE && items[next_probe].hooks_done) {
			struct item *it = &items[next_probe++];
			if (!it->has_probe)
				continue;
			const char *up = jstr(it->hooks, "upstream");
			if (!up) {
				it->probe.done = 1;
				snprintf(it->probe.reason, sizeof(it->probe.reason),
					 "probe GET %s: no addon said where '%s' answers (a running release publishes its "
					 "address; the probe goes nowhere else)", it->probe.path, it->name);
				continue;
			}
			if (wo_probe_target(&it->probe, up) < 0 || wo_probe_start(&it->probe, multi) < 0) {
				it->probe.done = 1;
				snprintf(it->probe.reason, sizeof(it->probe.reason), "probe: %s", wo_error_last());
				continue;
			}
			probes_running++;
		}
		while (hooks && next_hooks < n && workers < MAX_HOOK_WORKERS) {
			struct item *it = &items[next_hooks++];
			if (start_hooks(it, reg) < 0)
				end_hooks(it, "cannot start a process for the health hooks");
			else
				workers++;
		}
		int running = 0;
		curl_multi_perform(multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct wo_probe *p = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
			wo_probe_finish(p, multi, m->data.result);
			probes_running--;
		}
		/* the workers still running, and those over their time */
		int nextra = 0;
		long now = now_ms();
		for (size_t i = 0; i < next_hooks; i++) {
			struct item *it = &items[i];
			if (!it->hooks_started || it->hooks_done)
				continue;
			long limit = jint(json_object_get(it->d, "health"), "timeout_s", 5) * 1000L * 4 + 10000;
			if (now - it->hooks_started_ms > limit) {
				end_hooks(it, "the health hooks took far longer than their timeout and were killed");
				workers--;
				continue;
			}
			extra[nextra].fd = it->fd;
			extra[nextra].events = CURL_WAIT_POLLIN;
			extra[nextra].revents = 0;
			extra_items[nextra++] = it;
		}
		if (probes_running == 0 && next_probe >= n && nextra == 0 && (!hooks || next_hooks >= n))
			break;
		curl_multi_poll(multi, extra, (unsigned)nextra, 200, NULL);
		for (int k = 0; k < nextra; k++) {
			if (!extra[k].revents)
				continue;
			read_hooks(extra_items[k]);
			if (extra_items[k]->hooks_done)
				workers--;
		}
	}
	free(extra);
	free(extra_items);
	curl_multi_cleanup(multi);
}

/* ---- the state machine ---- */

static void set_outcome(struct item *it)
{
	struct wo_buf reason = WO_BUF_INIT;
	int hooks_ran = it->hooks && jint(it->hooks, "ran", 0) > 0;
	it->checked = it->has_probe || hooks_ran;
	it->ok = 1;
	if (it->has_probe && !it->probe.ok) {
		it->ok = 0;
		it->failed = strdup("probe");
		wo_buf_puts(&reason, it->probe.reason);
	}
	if (hooks_ran && !json_is_true(json_object_get(it->hooks, "ok"))) {
		if (it->ok)
			it->failed = strdup(jstr(it->hooks, "failed") ? jstr(it->hooks, "failed") : "health hooks");
		it->ok = 0;
		if (reason.len)
			wo_buf_puts(&reason, "; ");
		wo_buf_puts(&reason, jstr(it->hooks, "reason") ? jstr(it->hooks, "reason") : "a health hook failed");
	}
	if (!it->ok)
		it->reason = wo_buf_detach(&reason);
	wo_buf_release(&reason);
	/* in the start period failures are recorded but do not count */
	it->counted = it->ok || !json_is_true(json_object_get(it->st, "in_grace"));
	it->latency_ms = it->has_probe ? it->probe.latency_ms : (long)jint(it->hooks, "duration_ms", 0);
}

struct batch {
	json_t *events;        /* rows for health_events */
	json_t *notes;         /* rows for notifications */
	char at[32];
};

static void add_event(struct batch *b, const struct item *it, const char *kind, const char *prev, const char *state,
		      const char *reason)
{
	json_t *e = json_object();
	json_object_set_new(e, "deployment_id", json_integer(it->id));
	json_object_set_new(e, "kind", json_string(kind));
	json_object_set_new(e, "previous", prev ? json_string(prev) : json_null());
	json_object_set_new(e, "state", state ? json_string(state) : json_null());
	json_object_set_new(e, "reason", reason ? json_string(reason) : json_null());
	json_object_set_new(e, "check_id", it->check_id ? json_integer(it->check_id) : json_null());
	json_array_append_new(b->events, e);
}

static void add_note(struct batch *b, const struct item *it, const char *event, const char *prev,
		     const char *summary, const char *restart)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "event", json_string(event));
	json_object_set_new(doc, "deployment", json_string(it->name));
	json_object_set_new(doc, "at", json_string(b->at));
	json_object_set_new(doc, "summary", json_string(summary));
	json_object_set_new(doc, "previous", json_string(prev));
	json_object_set_new(doc, "state", json_string(it->state));
	if (it->reason)
		json_object_set_new(doc, "reason", json_string(it->reason));
	if (it->check_id)
		json_object_set_new(doc, "check_id", json_integer(it->check_id));
	if (restart)
		json_object_set_new(doc, "restart", json_string(restart));
	json_t *row = json_object();
	json_object_set_new(row, "deployment_id", json_integer(it->id));
	json_object_set_new(row, "deployment", json_string(it->name));
	json_object_set_new(row, "event", json_string(event));
	json_object_set_new(row, "document", doc);
	json_array_append_new(b->notes, row);
}

/* Decides the new state, events, notifications and whether to restart. */
static void decide(struct batch *b, struct item *it)
{
	const char *prev = jstr(it->st, "state") ? jstr(it->st, "state") : "unknown";
	const json_t *h = json_object_get(it->d, "health");
	int retries = (int)jint(h, "retries", 3);
	int cap = (int)jint(h, "restarts_per_hour", 3);
	int restarts = (int)jint(it->st, "restarts", 0);
	it->failures = (int)jint(it->st, "failures", 0);
	it->gave_up = json_is_true(json_object_get(it->st, "gave_up"));
	it->backoff_s = (int)jint(it->st, "backoff", 0);
	it->state = prev;
	if (!it->checked) {
		/* nothing checks it: no probe, no health hook */
		it->state = "unknown";
		free(it->reason);
		it->reason = strdup("nothing checks this deployment: set a health path (--health-path) or enable an addon "
				    "with a health hook");
		return;
	}
	struct wo_buf s = WO_BUF_INIT;
	if (it->ok) {
		it->failures = 0;
		it->state = "healthy";
		it->gave_up = 0;
		it->backoff_s = 0;
		if (strcmp(prev, "healthy") != 0)
			add_event(b, it, "state", prev, "healthy", NULL);
		if (!strcmp(prev, "unhealthy")) {
			wo_buf_printf(&s, "%s is healthy again", it->name);
			add_note(b, it, "health.healthy", prev, s.ptr, NULL);
		}
		wo_buf_release(&s);
		return;
	}
	if (!it->counted)
		return; /* the start period */
	it->failures++;
	it->state = it->failures >= retries || !strcmp(prev, "unhealthy") ? "unhealthy" : "pending";
	if (strcmp(it->state, prev) != 0)
		add_event(b, it, "state", prev, it->state, it->reason);
	if (strcmp(it->state, "unhealthy") != 0 || it->failures < retries)
		return;
	/* unhealthy: restart it when the cap and the backoff allow */
	const char *restart;
	int due = json_is_true(json_object_get(it->st, "restart_due"));
	if (cap == 0) {
		restart = "off";
	} else if (restarts >= cap) {
		restart = "gave up";
	} else if (!due) {
		restart = "waiting";
	} else {
		restart = "restarting";
		it->restart = 1;
		/* the pause before the next one starts at two intervals and doubles,
		 * up to an hour */
		int iv = (int)jint(h, "interval_s", 30);
		it->backoff_s = it->backoff_s ? (it->backoff_s * 2 > 3600 ? 3600 : it->backoff_s * 2) : 2 * iv;
	}
	int newly = strcmp(prev, "unhealthy") != 0;
	int give_up_now = !strcmp(restart, "gave up") && !it->gave_up;
	if (give_up_now) {
		it->gave_up = 1;
		struct wo_buf r = WO_BUF_INIT;
		wo_buf_printf(&r, "%d automatic restart%s in the last hour (health.restarts_per_hour is %d): left alone "
			      "until it recovers or someone acts",
			      restarts, restarts == 1 ? "" : "s", cap);
		add_event(b, it, "gave_up", NULL, "unhealthy", r.ptr);
		wo_buf_release(&r);
	}
	if (!newly && !give_up_now)
		return;
	wo_buf_printf(&s, "%s is unhealthy: %s (%d failed check%s in a row)", it->name, it->reason, it->failures,
		      it->failures == 1 ? "" : "s");
	if (!strcmp(restart, "restarting"))
		wo_buf_printf(&s, "; restarting it (%d of at most %d this hour)", restarts + 1, cap);
	else if (!strcmp(restart, "gave up"))
		wo_buf_printf(&s, "; not restarting it: %d restart%s in the last hour already (at most %d), left alone",
			      restarts, restarts == 1 ? "" : "s", cap);
	else if (!strcmp(restart, "off"))
		wo_buf_puts(&s, "; automatic restarts are off (health.restarts_per_hour is 0)");
	else
		wo_buf_puts(&s, "; it will be restarted after a pause");
	add_note(b, it, "health.unhealthy", prev, s.ptr, restart);
	wo_buf_release(&s);
}

/* ---- recording ---- */

static json_t *check_row(const struct item *it)
{
	json_t *r = json_object();
	json_object_set_new(r, "deployment_id", json_integer(it->id));
	json_object_set_new(r, "ok", json_boolean(it->ok));
	json_object_set_new(r, "counted", json_boolean(it->counted));
	json_object_set_new(r, "latency_ms", json_integer(it->latency_ms));
	json_object_set_new(r, "failed", it->failed ? json_string(it->failed) : json_null());
	json_object_set_new(r, "reason", it->reason ? json_string(it->reason) : json_null());
	json_t *details = json_object();
	const json_t *outs = json_object_get(it->hooks, "outputs");
	const char *addon;
	json_t *kv;
	json_t *cpu = NULL, *mem = NULL;
	json_object_foreach((json_t *)outs, addon, kv) {
		const char *v;
		if (!cpu && (v = jstr(kv, "cpu_percent")))
			cpu = json_real(strtod(v, NULL));
		if (!mem && (v = jstr(kv, "memory_bytes")))
			mem = json_integer(strtoll(v, NULL, 10));
	}
	if (json_object_size(outs))
		json_object_set(details, "outputs", (json_t *)outs);
	if (it->has_probe) {
		json_t *p = json_pack("{s:s, s:i, s:i}", "path", it->probe.path, "status", (int)it->probe.status,
				      "latency_ms", (int)it->probe.latency_ms);
		json_object_set_new(details, "probe", p);
	}
	const json_t *hr = json_object_get(it->hooks, "results");
	if (json_array_size(hr))
		json_object_set(details, "hooks", (json_t *)hr);
	json_object_set_new(r, "cpu_percent", cpu ? cpu : json_null());
	json_object_set_new(r, "memory_bytes", mem ? mem : json_null());
	json_object_set_new(r, "details", details);
	return r;
}

static int exec_json(PGresult **out, PGconn *conn, const char *sql, json_t *rows, const char *owner)
{
	char *text = json_dumps(rows, JSON_COMPACT);
	const char *params[] = { text, owner };
	int rc = wo_db_exec(out, conn, sql, owner ? 2 : 1, params);
	free(text);
	return rc;
}

static int record(PGconn *conn, struct item *items, size_t n, struct batch *b, const char *owner)
{
	if (wo_db_begin(conn) < 0)
		return -1;
	/* a check lost to a crash right after is simply made again: no need to
	 * wait for the WAL flush */
	wo_db_exec(NULL, conn, "SET LOCAL synchronous_commit = off", 0, NULL);
	json_t *checks = json_array();
	for (size_t i = 0; i < n; i++)
		if (items[i].checked)
			json_array_append_new(checks, check_row(&items[i]));
	PGresult *res = NULL;
	int rc = exec_json(&res, conn,
			   "INSERT INTO health_checks (deployment_id, ok, counted, latency_ms, failed, reason, cpu_percent,"
			   " memory_bytes, details)"
			   " SELECT r.deployment_id, r.ok, r.counted, r.latency_ms, r.failed, r.reason, r.cpu_percent,"
			   "        r.memory_bytes, coalesce(r.details, '{}')"
			   " FROM json_to_recordset($1::json) AS r(deployment_id bigint, ok boolean, counted boolean,"
			   "   latency_ms integer, failed text, reason text, cpu_percent real, memory_bytes bigint, details jsonb)"
			   " JOIN deployments d ON d.id = r.deployment_id"
			   " RETURNING deployment_id, id",
			   checks, NULL);
	json_decref(checks);
	if (rc < 0)
		goto fail;
	for (int k = 0; k < PQntuples(res); k++) {
		long long did = strtoll(PQgetvalue(res, k, 0), NULL, 10);
		for (size_t i = 0; i < n; i++)
			if (items[i].id == did)
				items[i].check_id = strtoll(PQgetvalue(res, k, 1), NULL, 10);
	}
	PQclear(res);
	res = NULL;
	/* the state machine needs the check ids for events and notifications */
	for (size_t i = 0; i < n; i++)
		decide(b, &items[i]);
	json_t *states = json_array();
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];
		json_array_append_new(states,
				      json_pack("{s:I, s:s, s:i, s:o, s:b, s:b, s:o, s:i, s:b}", "deployment_id",
						(json_int_t)it->id, "state", it->state, "failures", it->failures, "reason",
						it->reason ? json_string(it->reason) : json_null(), "checked", it->checked,
						"gave_up", it->gave_up, "restart_in_s",
						it->restart ? json_integer(it->backoff_s) : json_null(), "backoff",
						it->backoff_s, "keep_lease", it->restart));
	}
	rc = exec_json(NULL, conn,
		       "UPDATE health_state h SET state = r.state,"
		       "  since = CASE WHEN h.state <> r.state THEN clock_timestamp() ELSE h.since END,"
		       "  failures = r.failures, reason = r.reason,"
		       "  last_check_at = CASE WHEN r.checked THEN clock_timestamp() ELSE h.last_check_at END,"
		       /* the next check begins at least 9/10 of an interval after
			* this one ended: on a loaded machine a check can start
			* late, and the claim's schedule alone would then let two
			* checks of one deployment run closer than that */
		       "  next_check_at = CASE WHEN r.checked THEN greatest(h.next_check_at, clock_timestamp()"
		       "    + make_interval(secs => coalesce((d.health->>'interval_s')::int, 30)) * 0.9)"
		       "    ELSE h.next_check_at END,"
		       "  gave_up = r.gave_up, restart_backoff_s = r.backoff,"
		       "  restart_at = CASE WHEN r.restart_in_s IS NULL THEN h.restart_at"
		       "    ELSE clock_timestamp() + make_interval(secs => r.restart_in_s) END,"
		       "  lease_owner = CASE WHEN r.keep_lease THEN h.lease_owner END,"
		       "  lease_until = CASE WHEN r.keep_lease THEN clock_timestamp() + interval '15 minutes' END"
		       " FROM json_to_recordset($1::json) AS r(deployment_id bigint, state text, failures integer,"
		       "   reason text, checked boolean, gave_up boolean, restart_in_s integer, backoff integer,"
		       "   keep_lease boolean) JOIN deployments d ON d.id = r.deployment_id"
		       " WHERE h.deployment_id = r.deployment_id AND h.lease_owner = $2",
		       states, owner);
	json_decref(states);
	if (rc < 0)
		goto fail;
	if (json_array_size(b->events) &&
	    exec_json(NULL, conn,
		      "INSERT INTO health_events (deployment_id, kind, previous, state, reason, check_id)"
		      " SELECT r.deployment_id, r.kind, r.previous, r.state, r.reason, r.check_id"
		      " FROM json_to_recordset($1::json) AS r(deployment_id bigint, kind text, previous text, state text,"
		      "   reason text, check_id bigint)"
		      " JOIN deployments d ON d.id = r.deployment_id",
		      b->events, NULL) < 0)
		goto fail;
	if (json_array_size(b->notes) &&
	    exec_json(NULL, conn,
		      "INSERT INTO notifications (deployment_id, deployment, event, document)"
		      " SELECT r.deployment_id, r.deployment, r.event, r.document"
		      " FROM json_to_recordset($1::json) AS r(deployment_id bigint, deployment text, event text,"
		      "   document jsonb)"
		      " JOIN deployments d ON d.id = r.deployment_id",
		      b->notes, NULL) < 0)
		goto fail;
	return wo_db_commit(conn);
fail:
	PQclear(res);
	wo_db_rollback(conn);
	return -1;
}

/* Addons' metrics for the health hooks that ran (the workers have no
 * connection of their own). */
static void record_hook_metrics(PGconn *conn, const struct item *items, size_t n)
{
	json_t *rows = json_array();
	for (size_t i = 0; i < n; i++) {
		const json_t *hr = json_object_get(items[i].hooks, "results");
		size_t k;
		json_t *r;
		json_array_foreach(hr, k, r) json_array_append(rows, r);
	}
	if (json_array_size(rows))
		exec_json(NULL, conn,
			  "UPDATE addons a SET success_count = a.success_count + s.ok, failure_count = a.failure_count + s.bad,"
			  "  last_run_at = now(), last_duration_ms = s.last_ms"
			  " FROM (SELECT r.addon, count(*) FILTER (WHERE r.ok) AS ok, count(*) FILTER (WHERE NOT r.ok) AS bad,"
			  "         max(r.duration_ms) AS last_ms"
			  "       FROM json_to_recordset($1::json) AS r(addon text, ok boolean, duration_ms bigint)"
			  "       GROUP BY r.addon) s"
			  " WHERE a.name = s.addon",
			  rows, NULL);
	json_decref(rows);
	wo_error_clear();
}

static void collect_line(void *ud, const char *line)
{
	struct wo_buf *b = ud;
	if (b->len < 2000) {
		wo_buf_puts(b, line);
		wo_buf_putc(b, '\n');
	}
}

static void restart_one(const struct wo_config *cfg, PGconn *conn, struct item *it, const char *owner)
{
	struct wo_buf log = WO_BUF_INIT;
	wo_log(WO_LOG_WARN, "health", "'%s' is unhealthy (%s): restarting it", it->name, it->reason ? it->reason : "?");
	/* a run or an action holding the deployment wins: no waiting here */
	int rc = wo_lifecycle_run(conn, cfg, it->name, "restart", 0, 0, collect_line, &log);
	struct wo_buf why = WO_BUF_INIT;
	if (rc < 0) {
		wo_buf_printf(&why, "the restart failed: %s", wo_error_last());
		wo_log(WO_LOG_ERROR, "health", "'%s': %s", it->name, why.ptr);
	} else {
		wo_buf_printf(&why, "restarted after %d failed check%s: %s", it->failures, it->failures == 1 ? "" : "s",
			      it->reason ? it->reason : "?");
	}
	char ids[32], cid[32];
	snprintf(ids, sizeof(ids), "%lld", it->id);
	snprintf(cid, sizeof(cid), "%lld", it->check_id);
	const char *params[] = { ids, rc < 0 ? "restart_failed" : "restart", why.ptr, it->check_id ? cid : NULL, owner };
	/* the start period begins again: the restarted app gets time to come up */
	if (wo_db_exec(NULL, conn,
		       "WITH e AS (INSERT INTO health_events (deployment_id, kind, state, reason, check_id)"
		       "  SELECT $1::bigint, $2, 'unhealthy', $3, $4::bigint WHERE EXISTS"
		       "  (SELECT 1 FROM deployments WHERE id = $1::bigint))"
		       " UPDATE health_state h SET failures = 0, lease_owner = NULL, lease_until = NULL,"
		       "   grace_until = clock_timestamp() + make_interval(secs => coalesce((d.health->>'start_period_s')::int, 30)),"
		       "   next_check_at = clock_timestamp() + make_interval(secs => coalesce((d.health->>'interval_s')::int, 30))"
		       " FROM deployments d WHERE d.id = h.deployment_id AND h.deployment_id = $1::bigint"
		       "   AND h.lease_owner = $5",
		       5, params) < 0)
		wo_log(WO_LOG_ERROR, "health", "cannot record the restart of '%s': %s", it->name, wo_error_last());
	wo_buf_release(&why);
	wo_buf_release(&log);
}

int wo_health_check_batch(const struct wo_config *cfg, PGconn *conn, struct wo_addon_registry *reg,
			  const char *ids_array, const char *owner)
{
	long t_start = now_ms();
	json_t *deps = NULL;
	if (wo_deployment_get_ids(&deps, conn, ids_array) < 0)
		return -1;
	const char *params[] = { ids_array, owner };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT h.deployment_id, json_build_object('state', h.state, 'failures', h.failures,"
		       "  'in_grace', coalesce(h.grace_until > clock_timestamp(), false),"
		       "  'restart_due', h.restart_at IS NULL OR h.restart_at <= clock_timestamp(),"
		       "  'backoff', h.restart_backoff_s, 'gave_up', h.gave_up,"
		       "  'restarts', (SELECT count(*) FROM health_events e WHERE e.deployment_id = h.deployment_id"
		       "               AND e.kind IN ('restart', 'restart_failed') AND e.at > clock_timestamp() - interval '1 hour'))::text"
		       " FROM health_state h WHERE h.deployment_id = ANY($1::bigint[]) AND h.lease_owner = $2",
		       2, params) < 0) {
		json_decref(deps);
		return -1;
	}
	size_t n = 0, cap = (size_t)PQntuples(res);
	struct item *items = calloc(cap ? cap : 1, sizeof(*items));
	json_t *states = json_array();
	for (size_t k = 0; k < cap; k++) {
		json_t *d = json_object_get(deps, PQgetvalue(res, (int)k, 0));
		json_error_t jerr;
		json_t *st = json_loads(PQgetvalue(res, (int)k, 1), 0, &jerr);
		if (!d || !st) {
			json_decref(st);
			continue;
		}
		json_array_append_new(states, st);
		struct item *it = &items[n++];
		it->id = jint(d, "id", 0);
		it->name = jstr(d, "name");
		it->d = d;
		it->st = st;
		wo_probe_init(&it->probe, d, &it->has_probe);
	}
	PQclear(res);

	long t_loaded = now_ms();
	run_checks(items, n, reg);
	long t_checked = now_ms();
	for (size_t i = 0; i < n; i++)
		set_outcome(&items[i]);

	struct batch b = { json_array(), json_array(), "" };
	iso_now(b.at, sizeof(b.at));
	int rc = record(conn, items, n, &b, owner);
	/* for bench_health: where a batch's time goes */
	if (getenv("WEBOPS_HEALTH_TIMINGS"))
		wo_log(WO_LOG_INFO, "health", "batch of %zu: load %ld ms, checks %ld ms, record %ld ms", n,
		       t_loaded - t_start, t_checked - t_loaded, now_ms() - t_checked);
	if (rc < 0)
		wo_log(WO_LOG_ERROR, "health", "cannot record %zu check(s): %s", n, wo_error_last());
	if (rc == 0) {
		size_t k;
		json_t *e;
		json_array_foreach(b.events, k, e) {
			if (strcmp(jstr(e, "kind"), "state") != 0)
				continue;
			long long did = jint(e, "deployment_id", 0);
			for (size_t i = 0; i < n; i++)
				if (items[i].id == did)
					wo_log(!strcmp(jstr(e, "state"), "healthy") ? WO_LOG_INFO : WO_LOG_WARN, "health",
					       "'%s' is %s (was %s)%s%s", items[i].name, jstr(e, "state"), jstr(e, "previous"),
					       items[i].reason ? ": " : "", items[i].reason ? items[i].reason : "");
		}
		record_hook_metrics(conn, items, n);
		for (size_t i = 0; i < n; i++)
			if (items[i].restart)
				restart_one(cfg, conn, &items[i], owner);
	}
	json_decref(b.events);
	json_decref(b.notes);
	for (size_t i = 0; i < n; i++) {
		wo_probe_release(&items[i].probe);
		json_decref(items[i].hooks);
		free(items[i].failed);
		free(items[i].reason);
	}
	free(items);
	json_decref(states);
	json_decref(deps);
	return rc;
}

int wo_health_prune(PGconn *conn, int retention_days, long long *rolled)
{
	char days[16];
	snprintf(days, sizeof(days), "%d", retention_days);
	const char *params[] = { days };
	PGresult *res = NULL;
	if (wo_db_begin(conn) < 0)
		return -1;
	/* whole hours only, so an hour is rolled up once, with all its checks */
	int rc = wo_db_exec(&res, conn,
			    "WITH old AS (DELETE FROM health_checks WHERE at < date_trunc('hour', clock_timestamp()"
			    "   - make_interval(days => $1::int)) RETURNING *),"
			    " agg AS (INSERT INTO health_hourly AS hh (deployment_id, hour, checks, failures, latency_avg_ms,"
			    "   latency_max_ms, cpu_avg, memory_avg)"
			    "  SELECT deployment_id, date_trunc('hour', at), count(*), count(*) FILTER (WHERE NOT ok),"
			    "   avg(latency_ms), max(latency_ms), avg(cpu_percent), avg(memory_bytes)::bigint"
			    "  FROM old GROUP BY 1, 2"
			    "  ON CONFLICT (deployment_id, hour) DO UPDATE SET checks = hh.checks + excluded.checks,"
			    "   failures = hh.failures + excluded.failures,"
			    "   latency_avg_ms = (hh.latency_avg_ms * hh.checks + excluded.latency_avg_ms * excluded.checks)"
			    "                    / (hh.checks + excluded.checks),"
			    "   latency_max_ms = greatest(hh.latency_max_ms, excluded.latency_max_ms),"
			    "   cpu_avg = coalesce(excluded.cpu_avg, hh.cpu_avg), memory_avg = coalesce(excluded.memory_avg, hh.memory_avg)"
			    "  RETURNING 1)"
			    " SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM agg)",
			    1, params);
	if (rc == 0)
		*rolled = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	static const char *const more[] = {
		"DELETE FROM health_hourly WHERE hour < clock_timestamp() - interval '400 days'",
		"DELETE FROM health_events WHERE at < clock_timestamp() - interval '400 days'",
		"DELETE FROM notifications WHERE done_at < clock_timestamp() - interval '30 days'",
	};
	for (size_t i = 0; rc == 0 && i < sizeof(more) / sizeof(more[0]); i++)
		rc = wo_db_exec(NULL, conn, more[i], 0, NULL);
	if (rc == 0)
		return wo_db_commit(conn);
	wo_db_rollback(conn);
	return -1;
}
