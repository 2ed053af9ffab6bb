/* Hook dispatch: orders an event's hooks, checks their conditions, runs each
 * attempt in a sandbox child (retries, timeouts, cancellation) and collects
 * logs, outputs and results into a report; updates addon metrics. */
#include "addon/addon.h"

#include <dlfcn.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addon/field.h"
#include "addon/host.h"
#include "addon/loader.h"
#include "addon/sandbox.h"
#include "store/addons.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/proc.h"
#include "util/url.h"
#include "util/banned.h"

#define MAX_LOG_LINES_KEPT 2000
#define CANCEL_GRACE_MS 5000

const char *wo_hook_status_name(enum wo_hook_status s)
{
	switch (s) {
	case WO_HOOK_OK:
		return "ok";
	case WO_HOOK_FAILED:
		return "failed";
	case WO_HOOK_SKIPPED:
		return "skipped";
	case WO_HOOK_NOT_RUN:
		return "not_run";
	}
	return "?";
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct entry {
	struct wo_addon *addon;
	const struct wo_addon_hook *hook;
	size_t index; /* in the manifest */
};

static int entry_cmp(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;
	if (a->hook->priority != b->hook->priority)
		return a->hook->priority < b->hook->priority ? -1 : 1;
	int c = strcmp(a->addon->name, b->addon->name);
	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

/* ---- the child ---- */

struct job {
	struct wo_addon *addon;
	const struct wo_addon_hook *hook;
	const json_t *deployment; /* with defaults */
	json_t *outputs;          /* accumulated so far */
	const struct wo_hook_ctx *ctx;
	json_t *secrets;          /* the addon's secret fields opened (the child has no key), NULL: none */
};

static int hook_child(void *arg)
{
	struct job *j = arg;
	struct wo_buf err = WO_BUF_INIT;
	void *lib = wo_addon__open(j->addon->manifest->library_path, j->addon->name, &err, NULL, NULL, NULL);
	if (!lib) {
		wo_sandbox_send(WO_MSG_ERROR, wo_buf_cstr(&err), err.len);
		return 3;
	}
	union {
		void *p;
		webops_hook_fn fn;
	} sym;
	sym.p = dlsym(lib, j->hook->handler);
	if (!sym.p) {
		wo_buf_printf(&err, "handler '%s' is not exported by library '%s'", j->hook->handler,
		              j->addon->manifest->library_path);
		wo_sandbox_send(WO_MSG_ERROR, wo_buf_cstr(&err), err.len);
		return 3;
	}
	struct webops_hook_ctx c;
	memset(&c, 0, sizeof(c));
	c.addon = j->addon->name;
	c.addon_dir = j->addon->dir;
	c.event = wo_event_name(j->hook->event);
	c.deployment = j->deployment;
	c.settings = j->addon->settings;
	c.source_dir = j->ctx->source_dir;
	c.commit = j->ctx->commit;
	c.run_id = j->ctx->run_id;
	c.outputs = j->outputs;
	c.event_data = j->ctx->event_data;
	c.secrets = j->secrets;
	int32_t rc = sym.fn(&wo_addon_host_table, &c);
	wo_sandbox_send(WO_MSG_RESULT, &rc, sizeof(rc));
	wo_addon_host_ctx_release(&c);
	return 0;
}

/* ---- the parent ---- */

struct attempt {
	struct job *job;
	struct wo_hook_result *r;
	json_t *outputs; /* the dispatch-wide accumulation (ctx->outputs or ours) */
	int got_result;
	int32_t status;
	char *error;     /* the addon's message (set_error or a load failure) */
};

/* Text from an addon as valid UTF-8 (invalid bytes become '?'), so it can be
 * stored in PostgreSQL and JSON. Caller frees. */
static char *utf8_clean(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t i = 0, o = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		int ok = n > 0 && i + n <= len && c != 0;
		for (size_t k = 1; ok && k < n; k++)
			ok = ((unsigned char)s[i + k] >> 6) == 2;
		if (ok && n > 1) {
			/* no overlong forms, surrogates or values past U+10FFFF */
			unsigned char c1 = (unsigned char)s[i + 1];
			if ((n == 2 && c < 0xc2) || (n == 3 && c == 0xe0 && c1 < 0xa0) || (n == 3 && c == 0xed && c1 >= 0xa0) ||
			    (n == 4 && c == 0xf0 && c1 < 0x90) || (n == 4 && (c > 0xf4 || (c == 0xf4 && c1 >= 0x90))))
				ok = 0;
		}
		if (!ok) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

static void deliver_log(struct attempt *at, int level, const char *raw)
{
	const struct wo_hook_ctx *ctx = at->job->ctx;
	char *clean = utf8_clean(raw, strlen(raw));
	/* URLs in what addons log are shown through the one redaction */
	char *line = clean ? wo_url_redact_text(clean) : NULL;
	free(clean);
	if (!line)
		return;
	if (ctx->log)
		ctx->log(ctx->arg, at->job->addon->name, level, line);
	if (json_array_size(at->r->logs) < MAX_LOG_LINES_KEPT)
		json_array_append_new(at->r->logs, json_pack("{s:i, s:s}", "level", level, "line", line));
	free(line);
}

static void on_msg(void *arg, int type, const char *payload, size_t len)
{
	struct attempt *at = arg;
	switch (type) {
	case WO_MSG_LOG:
		if (len >= 1)
			deliver_log(at, (unsigned char)payload[0], payload + 1);
		break;
	case WO_MSG_ERROR:
		free(at->error);
		char *clean = utf8_clean(payload, strnlen(payload, len));
		at->error = clean ? wo_url_redact_text(clean) : NULL;
		free(clean);
		break;
	case WO_MSG_OUTPUT: {
		size_t kl = strnlen(payload, len);
		if (kl == len || kl == 0)
			break;
		json_t *v = json_stringn(payload + kl + 1, len - kl - 1);
		if (!v)
			break;
		const char *addon = at->job->addon->name;
		json_t *mine = json_object_get(at->outputs, addon);
		if (!json_is_object(mine)) {
			mine = json_object();
			json_object_set_new(at->outputs, addon, mine);
		}
		json_object_set(mine, payload, v);
		json_object_set_new(at->r->outputs, payload, v);
		break;
	}
	case WO_MSG_REPORT: {
		const struct wo_hook_ctx *ctx = at->job->ctx;
		size_t dl = strnlen(payload, len);
		size_t kl = dl < len ? strnlen(payload + dl + 1, len - dl - 1) : 0;
		if (!ctx->report || dl == 0 || dl + 1 + kl >= len)
			break;
		char *detail = utf8_clean(payload + dl + 2 + kl, len - dl - 2 - kl);
		char *dep = utf8_clean(payload, dl), *kind = utf8_clean(payload + dl + 1, kl);
		if (dep && kind && detail)
			ctx->report(ctx->arg, at->job->addon->name, dep, kind, detail);
		free(dep);
		free(kind);
		free(detail);
		break;
	}
	case WO_MSG_RESULT:
		if (len == sizeof(int32_t)) {
			memcpy(&at->status, payload, sizeof(int32_t));
			at->got_result = 1;
		}
		break;
	}
}

static void on_output_line(void *arg, const char *line)
{
	deliver_log(arg, WEBOPS_LOG_INFO, line);
}

static int poll_cancel(void *arg)
{
	const struct wo_hook_ctx *ctx = ((struct attempt *)arg)->job->ctx;
	return ctx->cancelled ? ctx->cancelled(ctx->arg) : 0;
}

static void set_error(struct wo_hook_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct wo_hook_result *r, const char *fmt, ...)
{
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_printf(&b, "addon '%s' hook '%s' (handler '%s') ", r->addon, wo_event_name(r->event), r->handler);
	va_list ap;
	va_start(ap, fmt);
	wo_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(r->error);
	r->error = wo_buf_detach(&b);
}

/* One attempt; returns the status it ended with. */
static enum wo_hook_status run_attempt(struct job *job, struct wo_hook_result *r, json_t *outputs)
{
	struct attempt at = {job, r, outputs, 0, 0, NULL};
	int timeout_ms = job->hook->timeout_ms;
	if (job->ctx->timeout_ms_max > 0 && job->ctx->timeout_ms_max < timeout_ms)
		timeout_ms = job->ctx->timeout_ms_max;
	struct wo_sandbox_opts o = {
		.timeout_ms = timeout_ms,
		.cancel_grace_ms = CANCEL_GRACE_MS,
		.chdir = job->ctx->source_dir,
		.arg = &at,
		.on_msg = on_msg,
		.on_output_line = on_output_line,
	};
	struct wo_sandbox_result res;
	o.cancelled = job->ctx->cancelled ? poll_cancel : NULL;
	enum wo_hook_status st;
	r->signal = 0;
	r->timed_out = 0;
	free(r->skip_reason);
	r->skip_reason = NULL;
	if (wo_sandbox_run(&res, &o, hook_child, job) < 0) {
		set_error(r, "could not be started: %s", wo_error_last());
		free(at.error);
		return WO_HOOK_FAILED;
	}
	r->cancelled = res.cancelled;
	if (res.timed_out) {
		r->timed_out = 1;
		set_error(r, "timed out after %d ms and was killed", timeout_ms);
		st = WO_HOOK_FAILED;
	} else if (res.cancelled && !at.got_result) {
		set_error(r, "was cancelled%s", res.signal ? " and killed" : "");
		st = WO_HOOK_FAILED;
	} else if (res.signal) {
		r->signal = res.signal;
		if (at.error)
			set_error(r, "crashed: killed by %s (its last error: %s)", wo_proc_signame(res.signal), at.error);
		else
			set_error(r, "crashed: killed by %s", wo_proc_signame(res.signal));
		st = WO_HOOK_FAILED;
	} else if (res.protocol_error) {
		set_error(r, "sent a malformed message to webops and was stopped");
		st = WO_HOOK_FAILED;
	} else if (!at.got_result) {
		if (at.error)
			set_error(r, "could not run: %s", at.error);
		else
			set_error(r, "exited with status %d before returning", res.exit_code);
		st = WO_HOOK_FAILED;
	} else if (at.status == WEBOPS_OK) {
		free(r->error);
		r->error = NULL;
		st = WO_HOOK_OK;
	} else if (at.status == WEBOPS_SKIPPED) {
		free(r->error);
		r->error = NULL;
		r->skip_reason = strdup(at.error ? at.error : "the hook skipped itself");
		st = WO_HOOK_SKIPPED;
	} else {
		if (at.error) {
			set_error(r, "failed: %s", at.error);
			free(r->message);
			r->message = strdup(at.error);
		} else if (at.status == WEBOPS_ERROR)
			set_error(r, "failed (no message given)");
		else
			set_error(r, "failed: returned unknown status %d", (int)at.status);
		st = WO_HOOK_FAILED;
	}
	free(at.error);
	return st;
}

/* The addon's own secret fields (stored sealed) opened, for host->field in
 * the hook's child, which never holds the key; NULL when it has none. One
 * that cannot be opened is left out, said in the run log. */
static json_t *open_secrets(const json_t *deployment, const struct wo_addon *a, const struct wo_hook_ctx *ctx)
{
	json_t *mine = json_object_get(json_object_get(deployment, "addon_fields"), a->name);
	json_t *out = NULL;
	const char *fn;
	json_t *v;
	json_object_foreach(mine, fn, v) {
		const struct wo_addon_field *f = wo_addon_manifest_field(a->manifest, fn);
		if (!f || !f->secret || !wo_secret_is_sealed(json_string_value(v)))
			continue;
		char *plain = NULL;
		if (wo_secret_open(&plain, json_string_value(v), "a secret field") < 0) {
			if (ctx->log) {
				struct wo_buf b = WO_BUF_INIT;
				wo_buf_printf(&b, "field '%s': %s", fn, wo_error_last());
				ctx->log(ctx->arg, a->name, WEBOPS_LOG_WARN, wo_buf_cstr(&b));
				wo_buf_release(&b);
			}
			wo_error_clear();
			continue;
		}
		if (!out)
			out = json_object();
		json_object_set_new(out, fn, json_string(plain));
		wo_secret_free(plain);
	}
	return out;
}

/* Conditions: every key must match (a list in the manifest means any of). */
static int conditions_met(const struct entry *e, const json_t *deployment, char **why)
{
	json_t *cond = e->hook->conditions;
	if (!cond)
		return 1;
	json_t *fields = json_object_get(deployment, "addon_fields");
	const char *key;
	json_t *want;
	json_object_foreach(cond, key, want) {
		json_t *have;
		const char *dot = strchr(key, '.');
		if (dot) {
			char *an = strndup(key, (size_t)(dot - key));
			have = json_object_get(json_object_get(fields, an ? an : ""), dot + 1);
			free(an);
		} else if (wo_addon_manifest_field(e->addon->manifest, key)) {
			have = json_object_get(json_object_get(fields, e->addon->name), key);
		} else {
			have = json_object_get(deployment, key);
		}
		char *ht = wo_addon_field_format(have);
		int ok = 0;
		if (json_is_array(want) && !(have && json_is_array(have))) {
			size_t i;
			json_t *w;
			json_array_foreach(want, i, w) {
				char *wt = wo_addon_field_format(w);
				ok |= ht && wt && strcmp(ht, wt) == 0;
				free(wt);
			}
		} else {
			char *wt = wo_addon_field_format(want);
			ok = (ht && wt && strcmp(ht, wt) == 0) || (!ht && !wt);
			free(wt);
		}
		if (!ok) {
			char *wt = wo_addon_field_format(want);
			struct wo_buf b = WO_BUF_INIT;
			wo_buf_printf(&b, "condition %s == %s not met (it is %s)", key, wt ? wt : "null", ht ? ht : "unset");
			free(wt);
			free(ht);
			*why = wo_buf_detach(&b);
			return 0;
		}
		free(ht);
	}
	return 1;
}

static void record_metrics(struct wo_addon_registry *reg, struct wo_addon *a, const struct wo_hook_result *r)
{
	if (r->status == WO_HOOK_OK || r->status == WO_HOOK_FAILED) {
		int ok = r->status == WO_HOOK_OK;
		a->metrics.success_count += ok;
		a->metrics.failure_count += !ok;
		a->metrics.last_duration_ms = r->duration_ms;
		free(a->metrics.last_error);
		a->metrics.last_error = ok ? NULL : strdup(r->error ? r->error : "failed");
	}
	if (!reg->conn || (r->status != WO_HOOK_OK && r->status != WO_HOOK_FAILED))
		return;
	if (wo_addons_record_run(reg->conn, a->name, r->status == WO_HOOK_OK, (long long)r->duration_ms,
	                         r->error ? r->error : "failed") < 0) {
		/* metrics are not worth failing a run for; tell the log */
		wo_error_clear();
	}
}

static void sleep_cancellable(int64_t ms, const struct wo_hook_ctx *ctx)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		int64_t left = end - now_ms();
		if (left <= 0 || (ctx->cancelled && ctx->cancelled(ctx->arg)))
			return;
		poll(NULL, 0, (int)(left < 50 ? left : 50));
	}
}

static int wanted(const struct wo_hook_ctx *ctx, const struct wo_addon *a)
{
	if (!ctx->only_addons)
		return 1;
	for (const char *const *p = ctx->only_addons; *p; p++)
		if (!strcmp(*p, a->name))
			return 1;
	return 0;
}

int wo_hook_dispatch(struct wo_hook_report **out, struct wo_addon_registry *reg,
                     enum wo_event ev, const struct wo_hook_ctx *ctx)
{
	if (!reg || !ctx || (unsigned)ev >= WO_EVENT__COUNT)
		return wo_error_set("invalid hook dispatch arguments");

	size_t n = 0;
	for (size_t i = 0; i < reg->naddons; i++) {
		struct wo_addon *a = reg->addons[i];
		if (!a->enabled || !a->loaded || a->duplicate || !wanted(ctx, a))
			continue;
		for (size_t j = 0; j < a->manifest->nhooks; j++)
			n += a->manifest->hooks[j].event == ev;
	}
	struct entry *entries = calloc(n ? n : 1, sizeof(*entries));
	struct wo_hook_report *rep = calloc(1, sizeof(*rep));
	struct wo_hook_result *results = calloc(n ? n : 1, sizeof(*results));
	json_t *deployment = ctx->deployment ? json_deep_copy(ctx->deployment) : json_object();
	json_t *outputs = ctx->outputs ? json_incref(ctx->outputs) : json_object();
	if (!entries || !rep || !results || !deployment || !outputs) {
		free(entries);
		free(rep);
		free(results);
		json_decref(deployment);
		json_decref(outputs);
		return wo_error_set("out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < reg->naddons; i++) {
		struct wo_addon *a = reg->addons[i];
		if (!a->enabled || !a->loaded || a->duplicate || !wanted(ctx, a))
			continue;
		for (size_t j = 0; j < a->manifest->nhooks; j++)
			if (a->manifest->hooks[j].event == ev)
				entries[k++] = (struct entry){a, &a->manifest->hooks[j], j};
	}
	qsort(entries, n, sizeof(*entries), entry_cmp);

	/* hooks see the fields of enabled addons, with defaults applied; what
	 * is stored for a disabled addon stays stored but is not shown, so
	 * host->field("other.field") tells whether that addon is at work */
	json_t *af = json_object_get(deployment, "addon_fields");
	if (!json_is_object(af)) {
		af = json_object();
		json_object_set_new(deployment, "addon_fields", af);
	}
	const char *an;
	json_t *av;
	void *tmp;
	json_object_foreach_safe(af, tmp, an, av) {
		const struct wo_addon *a = wo_addon_registry_find(reg, an);
		if (!a || !a->enabled || !a->loaded)
			json_object_del(af, an);
	}
	wo_addon_fields_defaults(af, reg);

	rep->event = ev;
	rep->ok = 1;
	rep->results = results;
	rep->nresults = n;
	const char *stop_reason = NULL;
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &entries[i];
		struct wo_hook_result *r = &results[i];
		r->addon = e->addon->name;
		r->handler = e->hook->handler;
		r->event = ev;
		r->priority = e->hook->priority;
		r->required = e->hook->required;
		r->outputs = json_object();
		r->logs = json_array();
		if (!stop_reason && ctx->cancelled && ctx->cancelled(ctx->arg)) {
			rep->cancelled = 1;
			rep->ok = 0;
			stop_reason = "the run was cancelled";
		}
		if (stop_reason) {
			r->status = WO_HOOK_NOT_RUN;
			r->skip_reason = strdup(stop_reason);
			if (ctx->hook_done)
				ctx->hook_done(ctx->arg, r);
			continue;
		}
		char *why = NULL;
		if (!conditions_met(e, deployment, &why)) {
			r->status = WO_HOOK_SKIPPED;
			r->skip_reason = why;
			if (ctx->hook_done)
				ctx->hook_done(ctx->arg, r);
			continue;
		}
		if (ctx->hook_start)
			ctx->hook_start(ctx->arg, r);
		struct job job = {e->addon, e->hook, deployment, outputs, ctx, open_secrets(deployment, e->addon, ctx)};
		int64_t start = now_ms();
		int64_t delay = e->hook->retry_initial_delay_ms;
		for (;;) {
			r->attempts++;
			r->status = run_attempt(&job, r, outputs);
			if (r->status != WO_HOOK_FAILED || r->cancelled || r->attempts > e->hook->retries)
				break;
			if (ctx->cancelled && ctx->cancelled(ctx->arg))
				break;
			if (ctx->log) {
				struct wo_buf b = WO_BUF_INIT;
				wo_buf_printf(&b, "%s; retrying in %lld ms (attempt %d of %d)", r->error, (long long)delay,
				              r->attempts + 1, e->hook->retries + 1);
				ctx->log(ctx->arg, e->addon->name, WEBOPS_LOG_WARN, wo_buf_cstr(&b));
				wo_buf_release(&b);
			}
			sleep_cancellable(delay, ctx);
			double next = (double)delay * e->hook->retry_backoff;
			delay = next > 3600.0 * 1000 ? 3600 * 1000 : (int64_t)next;
		}
		r->duration_ms = now_ms() - start;
		if (r->cancelled) {
			rep->cancelled = 1;
			rep->ok = 0;
			stop_reason = "the run was cancelled";
		} else if (r->status == WO_HOOK_FAILED && r->required) {
			rep->ok = 0;
			stop_reason = "an earlier required hook failed";
		} else if (r->status == WO_HOOK_FAILED && ctx->log) {
			struct wo_buf b = WO_BUF_INIT;
			wo_buf_printf(&b, "%s; the hook is optional, continuing", r->error);
			ctx->log(ctx->arg, e->addon->name, WEBOPS_LOG_WARN, wo_buf_cstr(&b));
			wo_buf_release(&b);
		}
		json_decref(job.secrets);
		record_metrics(reg, e->addon, r);
		if (ctx->hook_done)
			ctx->hook_done(ctx->arg, r);
	}
	free(entries);
	json_decref(deployment);
	json_decref(outputs);
	*out = rep;
	return 0;
}

void wo_hook_report_free(struct wo_hook_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nresults; i++) {
		free(r->results[i].error);
		free(r->results[i].message);
		free(r->results[i].skip_reason);
		json_decref(r->results[i].outputs);
		json_decref(r->results[i].logs);
	}
	free(r->results);
	free(r);
}

json_t *wo_hook_report_json(const struct wo_hook_report *r)
{
	json_t *hooks = json_array();
	for (size_t i = 0; hooks && i < r->nresults; i++) {
		const struct wo_hook_result *h = &r->results[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:I, s:O, s:O}",
		                      "addon", h->addon, "handler", h->handler, "event", wo_event_name(h->event),
		                      "priority", h->priority, "enforcement", h->required ? "required" : "optional",
		                      "status", wo_hook_status_name(h->status), "attempts", h->attempts,
		                      "duration_ms", (json_int_t)h->duration_ms, "outputs", h->outputs, "logs", h->logs);
		if (!o)
			continue;
		if (h->error)
			json_object_set_new(o, "error", json_string(h->error));
		if (h->skip_reason)
			json_object_set_new(o, "reason", json_string(h->skip_reason));
		if (h->signal)
			json_object_set_new(o, "signal", json_string(wo_proc_signame(h->signal)));
		if (h->timed_out)
			json_object_set_new(o, "timed_out", json_true());
		if (h->cancelled)
			json_object_set_new(o, "cancelled", json_true());
		json_array_append_new(hooks, o);
	}
	return json_pack("{s:s, s:b, s:b, s:o}", "event", wo_event_name(r->event), "ok", r->ok,
	                 "cancelled", r->cancelled, "hooks", hooks ? hooks : json_array());
}

const char *wo_addon_runtime_of(const struct wo_addon_registry *reg, const json_t *deployment)
{
	for (size_t i = 0; reg && i < reg->naddons; i++) {
		struct wo_addon *a = reg->addons[i];
		if (!a->enabled || !a->loaded || a->duplicate || !wo_addon_runs_deployments(reg, a->name))
			continue;
		for (size_t k = 0; k < a->manifest->nhooks; k++) {
			struct entry e = { a, &a->manifest->hooks[k], k };
			char *why = NULL;
			int met = e.hook->event == WO_EVENT_POST_DEPLOY && conditions_met(&e, deployment, &why);
			free(why);
			if (met)
				return a->name;
		}
	}
	return NULL;
}

int wo_addon_validate_record(struct wo_addon_registry *reg, const json_t *record, const json_t *actor,
			     struct wo_buf *err)
{
	size_t before = err->len;
	json_t *af = json_deep_copy(json_object_get(record, "addon_fields"));
	if (!json_is_object(af)) {
		json_decref(af);
		af = json_object();
	}
	wo_addon_fields_defaults(af, reg);
	if (wo_addon_fields_validate(af, reg, err) < 0) {
		json_decref(af);
		return -1;
	}
	json_t *d = json_deep_copy(record);
	json_object_set_new(d, "addon_fields", af);
	json_t *outputs = json_object();
	struct wo_hook_ctx ctx = {
		.deployment = d,
		.source_dir = "",
		.commit = "",
		.run_id = "",
		.outputs = outputs,
		/* who asks: {"actor": {"user", "role"}} (the host: role admin, no user) */
		.event_data = actor,
	};
	struct wo_hook_report *rep = NULL;
	int rc = wo_hook_dispatch(&rep, reg, WO_EVENT_VALIDATE, &ctx);
	if (rc < 0) {
		if (err->len)
			wo_buf_putc(err, '\n');
		wo_buf_puts(err, wo_error_last());
	}
	for (size_t i = 0; rc == 0 && i < rep->nresults; i++) {
		const struct wo_hook_result *r = &rep->results[i];
		if (r->status != WO_HOOK_FAILED)
			continue;
		if (err->len)
			wo_buf_putc(err, '\n');
		/* an addon's own words name the field; a crash or timeout says which addon */
		wo_buf_puts(err, r->message ? r->message : r->error ? r->error : "a validate hook failed");
	}
	wo_hook_report_free(rep);
	json_decref(outputs);
	json_decref(d);
	return err->len > before ? -1 : 0;
}
