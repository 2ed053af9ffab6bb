/* start/stop/restart/delete: dispatch the event's hooks, then update the
 * record. A restart gives addons without a restart hook stop, then start. */
#include "pipeline/lifecycle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon/addon.h"
#include "git/hosted.h"
#include "pipeline/lock.h"
#include "pipeline/releases.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

struct lc {
	wo_lifecycle_log_fn log;
	void *ud;
};

static void say(struct lc *lc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct lc *lc, const char *fmt, ...)
{
	if (!lc->log)
		return;
	struct wo_buf b = WO_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	wo_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	lc->log(lc->ud, wo_buf_cstr(&b));
	wo_buf_release(&b);
}

static void hook_log(void *arg, const char *addon, int level, const char *line)
{
	(void)level;
	say(arg, "%s: %s", addon, line);
}

static void hook_done(void *arg, const struct wo_hook_result *h)
{
	if (h->status == WO_HOOK_FAILED)
		say(arg, "%s %s failed: %s", h->addon, wo_event_name(h->event), h->error ? h->error : "");
	else
		say(arg, "%s %s %s in %lld ms", h->addon, wo_event_name(h->event), wo_hook_status_name(h->status),
		    (long long)h->duration_ms);
}

/* The names of enabled, loaded addons that have (has != 0) or lack a hook
 * for ev, NULL-terminated; the strings are borrowed from reg. */
static const char **addons_by_hook(const struct wo_addon_registry *reg, enum wo_event ev, int has)
{
	const char **names = calloc(reg->naddons + 1, sizeof(*names));
	size_t k = 0;
	for (size_t i = 0; names && i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		if (!a->enabled || !a->loaded || a->duplicate)
			continue;
		int found = 0;
		for (size_t j = 0; j < a->manifest->nhooks; j++)
			found |= a->manifest->hooks[j].event == ev;
		if (found == !!has)
			names[k++] = a->name;
	}
	return names;
}

/* Dispatches ev to the addons in only (all when NULL); returns 0 when every
 * hook ran fine, 1 with *why set when one failed, -1 on error. */
static int ran_runtime; /* an addon that runs deployments did its part (start, restart) */

static int dispatch_step(struct wo_addon_registry *reg, enum wo_event ev, struct wo_hook_ctx *ctx,
			 const char *const *only, char **why)
{
	struct wo_hook_report *rep = NULL;
	ctx->only_addons = only;
	int rc = wo_hook_dispatch(&rep, reg, ev, ctx);
	ctx->only_addons = NULL;
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < rep->nresults; i++)
		if (rep->results[i].status == WO_HOOK_OK && wo_addon_runs_deployments(reg, rep->results[i].addon))
			ran_runtime = 1;
	/* an optional hook failing still means the runtime did not do its part
	 * (a container left running after its record is gone): stop here too */
	const char *w = NULL;
	for (size_t i = 0; i < rep->nresults; i++)
		if (rep->results[i].status == WO_HOOK_FAILED) {
			w = rep->results[i].error ? rep->results[i].error : "a hook failed";
			break;
		}
	if (rep->cancelled && !w)
		w = "cancelled";
	if (w)
		*why = strdup(w);
	wo_hook_report_free(rep);
	return w ? 1 : 0;
}

int wo_lifecycle_run(PGconn *conn, const struct wo_config *cfg, const char *name, const char *action, int force,
		     int wait_ms, wo_lifecycle_log_fn log, void *ud)
{
	enum wo_event ev;
	if (wo_event_parse(&ev, action) < 0 ||
	    (ev != WO_EVENT_START && ev != WO_EVENT_STOP && ev != WO_EVENT_DELETE && ev != WO_EVENT_RESTART &&
	     ev != WO_EVENT_PRUNE))
		return wo_error_setc(WO_EINVALID, "action '%s' is invalid: use start, stop, restart, delete or prune", action);
	json_t *d = NULL;
	int rc = wo_deployment_get(&d, conn, name);
	if (rc < 0)
		return rc;
	struct lc lc = { log, ud };
	long long id = json_integer_value(json_object_get(d, "id"));
	struct wo_buf who = WO_BUF_INIT;
	wo_buf_printf(&who, "webops deployment %s %s", action, name);
	rc = wo_deployment_lock(conn, id, name, who.ptr, wait_ms);
	wo_buf_release(&who);
	if (rc != 0) {
		json_decref(d);
		return -1;
	}
	/* what it was told to act on may have changed while it waited */
	json_decref(d);
	d = NULL;
	if ((rc = wo_deployment_get(&d, conn, name)) < 0) {
		wo_deployment_unlock(conn, id);
		return rc;
	}
	struct wo_buf src = WO_BUF_INIT, repo = WO_BUF_INIT, build = WO_BUF_INIT;
	wo_buf_printf(&build, "%s/builds/%lld", cfg->data_dir, id);
	wo_buf_printf(&src, "%s/src", build.ptr);
	wo_buf_printf(&repo, "%s/repos/%lld.git", cfg->data_dir, id);
	const json_t *commit = json_object_get(d, "current_commit");

	struct wo_addon_registry *reg = NULL;
	const char **with = NULL, **without = NULL;
	char *why = NULL;
	if (wo_addon_registry_load(&reg, cfg->addons_path, conn) < 0) {
		rc = wo_error_prefix("cannot load addons");
		goto out;
	}
	ran_runtime = 0;
	json_t *outputs = json_object(), *event = NULL;
	if (ev == WO_EVENT_PRUNE) {
		/* what to keep is the addons' rule (keep_releases): they are told
		 * every release, newest first */
		json_t *rels = NULL;
		if (wo_release_recent(&rels, conn, id, 1000) < 0) {
			json_decref(outputs);
			rc = -1;
			goto out;
		}
		event = json_pack("{s:o}", "releases", rels);
	}
	struct wo_hook_ctx ctx = {
		.event_data = event,
		.deployment = d,
		.source_dir = src.ptr,
		.commit = json_is_string(commit) ? json_string_value(commit) : "",
		.run_id = "",
		.outputs = outputs,
		.arg = &lc,
		.log = hook_log,
		.hook_done = hook_done,
	};
	if (ev == WO_EVENT_DELETE && wo_deployment_set_status(conn, name, "deleting") < 0) {
		rc = -1;
		goto out;
	}
	if (ev == WO_EVENT_RESTART) {
		/* addons with a restart hook restart; the others stop, then start
		 * (a failed stop stops the restart unless forced) */
		with = addons_by_hook(reg, WO_EVENT_RESTART, 1);
		without = addons_by_hook(reg, WO_EVENT_RESTART, 0);
		rc = with && without ? 0 : wo_error_set("out of memory");
		if (rc == 0)
			rc = dispatch_step(reg, WO_EVENT_STOP, &ctx, without, &why);
		if (rc == 1 && force) {
			say(&lc, "going on despite: %s", why);
			free(why);
			why = NULL;
			rc = 0;
		}
		if (rc == 0)
			rc = dispatch_step(reg, WO_EVENT_RESTART, &ctx, with, &why);
		if (rc == 0 || (rc == 1 && force)) {
			if (why)
				say(&lc, "going on despite: %s", why);
			free(why);
			why = NULL;
			rc = dispatch_step(reg, WO_EVENT_START, &ctx, without, &why);
		}
	} else {
		rc = dispatch_step(reg, ev, &ctx, NULL, &why);
	}
	json_decref(outputs);
	json_decref(event);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		if (!force && ev == WO_EVENT_DELETE) {
			/* resumable: the record stays, marked, and says what is left */
			/* an addon's hook refused: not now, as things are (409 over HTTP) */
			rc = wo_error_setc(WO_ECONFLICT, "delete of '%s' stopped: %s. The deployment stays, marked 'deleting': what the "
					  "addons run may be partly removed. Run 'webops deployment delete %s' again to finish "
					  "(--force removes the record even if a hook still fails)",
					  name, why, name);
			goto out;
		}
		if (!force) {
			rc = wo_error_setc(WO_ECONFLICT, "%s of '%s' stopped: %s (nothing was changed; --force goes on regardless)", action,
					  name, why);
			goto out;
		}
		say(&lc, "going on despite: %s", why);
	}
	rc = 0;
	if (ev == WO_EVENT_DELETE) {
		rc = wo_deployment_delete(conn, name);
		if (rc == 0) {
			wo_fs_rm_rf(repo.ptr);
			wo_fs_rm_rf(build.ptr);
			/* the repositories pushed to (git/NAME.git, git/.staging/NAME.git) */
			if (wo_git_hosted_remove(cfg->data_dir, name) < 0)
				say(&lc, "warning: %s", wo_error_last());
		}
	} else if (ev == WO_EVENT_STOP) {
		rc = wo_deployment_set_status(conn, name, "stopped");
	} else if (ev != WO_EVENT_PRUNE) {
		/* running only when something runs it; else what a deploy left */
		const char *st = ran_runtime ? "running" : json_is_string(commit) ? "deployed" : NULL;
		rc = st ? wo_deployment_set_status(conn, name, st) : 0;
	}
out:
	wo_deployment_unlock(conn, id);
	free(why);
	free(with);
	free(without);
	wo_addon_registry_free(reg);
	wo_buf_release(&src);
	wo_buf_release(&repo);
	wo_buf_release(&build);
	json_decref(d);
	return rc;
}
