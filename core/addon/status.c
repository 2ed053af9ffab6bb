/* Addons' own state (a `status` hook, no deployment): what each enabled
 * addon says of itself ("state": running, unconfigured, failed..., a
 * "reason" and details), run in child processes like every hook, stored in
 * addons.status for the Addons page, /metrics and `webops addon status`. */
#include "addon/addon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/addons.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

/* Runs an event that concerns no deployment (status, renew) on the enabled
 * addons (only that one when only is set). */
static json_t *daemon_facts;

void wo_addon_daemon_facts_set(json_t *facts)
{
	json_incref(facts);
	json_decref(daemon_facts);
	daemon_facts = facts;
}

const json_t *wo_addon_daemon_facts(void)
{
	return daemon_facts;
}

static int dispatch_hostwide(struct wo_hook_report **rep, struct wo_addon_registry *reg, enum wo_event ev,
			     const char *only)
{
	const char *names[2] = { only, NULL };
	json_t *none = json_object(), *outputs = json_object();
	struct wo_hook_ctx ctx = {
		.deployment = none,
		.source_dir = "",
		.commit = "",
		.run_id = "",
		.outputs = outputs,
		.only_addons = only ? names : NULL,
		/* renew rebuilds webopsd's own site (proxy-nginx's ui_domain) */
		.event_data = ev == WO_EVENT_RENEW ? daemon_facts : NULL,
	};
	int rc = wo_hook_dispatch(rep, reg, ev, &ctx);
	json_decref(none);
	json_decref(outputs);
	return rc;
}

int wo_addon_status_refresh(json_t **out, struct wo_addon_registry *reg, PGconn *conn, const char *only)
{
	struct wo_hook_report *rep = NULL;
	int rc = dispatch_hostwide(&rep, reg, WO_EVENT_STATUS, only);
	json_t *all = json_object();
	for (size_t i = 0; rc == 0 && i < rep->nresults; i++) {
		const struct wo_hook_result *r = &rep->results[i];
		json_t *st = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(r->outputs, k, v)
			json_object_set(st, k, v);
		if (r->status == WO_HOOK_FAILED) {
			/* a hook that fails (or crashes) says its addon failed */
			json_object_set_new(st, "state", json_string("failed"));
			json_object_set_new(st, "reason", json_string(r->message ? r->message : r->error ? r->error : "?"));
		} else if (!json_is_string(json_object_get(st, "state"))) {
			json_object_set_new(st, "state", json_string(r->status == WO_HOOK_SKIPPED ? "skipped" : "ok"));
		}
		json_object_set_new(all, r->addon, st);
	}
	wo_hook_report_free(rep);
	if (rc < 0) {
		json_decref(all);
		return -1;
	}
	const char *k;
	json_t *v;
	json_object_foreach(all, k, v) {
		char *text = json_dumps(v, JSON_COMPACT);
		if (conn && text)
			wo_addons_status_set(conn, k, text);
		free(text);
	}
	if (out)
		*out = all;
	else
		json_decref(all);
	return 0;
}

int wo_addon_status_read(json_t **out, PGconn *conn)
{
	return wo_addons_status_read(out, conn);
}

json_t *wo_addon_certificates(const json_t *statuses)
{
	json_t *all = json_array();
	const char *addon;
	json_t *st;
	json_object_foreach((json_t *)statuses, addon, st) {
		const char *text = json_string_value(json_object_get(st, "certificates"));
		json_t *list = text ? json_loads(text, 0, NULL) : NULL;
		size_t i;
		json_t *c;
		json_array_foreach(list, i, c) {
			if (!json_is_object(c) || !json_is_string(json_object_get(c, "domain")))
				continue;
			json_t *row = json_deep_copy(c);
			json_object_set_new(row, "addon", json_string(addon));
			json_t *exp = json_object_get(c, "expires_at");
			if (json_is_integer(exp))
				json_object_set_new(row, "days_left",
						    json_integer((json_integer_value(exp) - (json_int_t)time(NULL)) / 86400));
			else
				json_object_set_new(row, "days_left", json_null());
			json_array_append_new(all, row);
		}
		json_decref(list);
	}
	return all;
}

int wo_addon_renew(struct wo_addon_registry *reg)
{
	struct wo_hook_report *rep = NULL;
	int rc = dispatch_hostwide(&rep, reg, WO_EVENT_RENEW, NULL);
	for (size_t i = 0; rc == 0 && i < rep->nresults; i++) {
		const struct wo_hook_result *r = &rep->results[i];
		const char *said = json_string_value(json_object_get(r->outputs, "summary"));
		if (r->status == WO_HOOK_FAILED)
			wo_log(WO_LOG_WARN, "renew", "%s: %s", r->addon, r->message ? r->message : r->error ? r->error : "?");
		else if (said && *said)
			wo_log(WO_LOG_INFO, "renew", "%s: %s", r->addon, said);
	}
	wo_hook_report_free(rep);
	return rc;
}
