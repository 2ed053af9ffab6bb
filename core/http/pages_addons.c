/* The web UI's addons page: each addon's state, hooks, fields and settings,
 * enabling, disabling and changing settings. */
#include "http/pages_int.h"

#include "http/http.h"
#include "http/server_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include "addon/addon.h"
#include "addon/field.h"
#include "health/history.h"
#include "http/chart.h"
#include "pipeline/releases.h"
#include "pipeline/runs.h"
#include "store/access.h"
#include "store/auth.h"
#include "store/deployment.h"
#include "store/webhooks.h"
#include "util/ansi.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/url.h"
#include "util/banned.h"

/* ---- addons ---- */

/* One setting as a form field. typed: what was posted ({key: text}) when
 * the form comes back with errors, else NULL. */
static json_t *pg_setting_view(const struct wo_addon *a, const struct wo_addon_field *f, const json_t *typed,
			    const json_t *errors, json_t *order)
{
	struct wo_buf id = WO_BUF_INIT, name = WO_BUF_INIT, note = WO_BUF_INIT;
	wo_buf_printf(&id, "s-%s-%s", a->name, f->name);
	wo_buf_printf(&name, "s.%s", f->name);
	const json_t *stored = json_object_get(a->settings_stored, f->name);
	const char *source = json_string_value(json_object_get(a->settings_source, f->name));
	char *stored_text = f->secret ? strdup("") : pg_value_text(stored);
	char *dflt = pg_value_text(f->dflt);
	const char *value = pg_jstr(typed, f->name) ? pg_jstr(typed, f->name) : stored_text;
	char hint[96] = "";
	struct fv fv = { 0 };
	fv.id = id.ptr;
	fv.name = name.ptr;
	fv.label = f->label ? f->label : f->name;
	fv.help = f->help;
	fv.error = pg_jstr(errors, f->name);
	fv.value = value;
	fv.placeholder = *dflt ? dflt : NULL;
	pg_order_add(order, f->name, id.ptr);
	if (source && !strcmp(source, "env")) {
		char *env = wo_addon_setting_env_name(a->name, f->name);
		char *cur = f->secret ? NULL : pg_value_text(json_object_get(a->settings, f->name));
		wo_buf_printf(&note, "%s in webopsd's environment overrides this%s%s%s.", env ? env : "a variable",
			      cur ? " (now: " : "", cur ? cur : "", cur ? ")" : "");
		free(env);
		free(cur);
		fv.note = note.ptr;
	}
	char *host_value = NULL;
	if (f->host_scope) {
		/* shown, never sent back: only the host changes it */
		host_value = f->secret ? strdup("(secret)") : pg_value_text(json_object_get(a->settings, f->name));
		fv.kind = "readonly";
		fv.value = host_value && *host_value ? host_value : "(empty)";
		wo_buf_clear(&note);
		wo_buf_printf(&note, "A host setting: changed on the host only ('webops addon config %s %s=VALUE' or "
			      "webopsd's environment).", a->name, f->name);
		fv.note = note.ptr;
	} else if (f->secret) {
		fv.input_type = "password";
		fv.autocomplete = "new-password";
		fv.value = "";
		fv.placeholder = stored ? "stored (leave blank to keep it)" : "not set";
		fv.clear_key = stored ? f->name : NULL;
	} else if (f->type == WO_FIELD_BOOL || f->type == WO_FIELD_ENUM) {
		struct wo_buf d = WO_BUF_INIT;
		wo_buf_printf(&d, "Default%s%s%s", *dflt ? " (" : "", dflt, *dflt ? ")" : "");
		fv.kind = "select";
		fv.choices = json_array();
		pg_add_choice(fv.choices, "", d.ptr, !*value);
		wo_buf_release(&d);
		if (f->type == WO_FIELD_BOOL) {
			int b = *value ? wo_addon_parse_bool(value) : -1;
			pg_add_choice(fv.choices, "true", "true", b == 1);
			pg_add_choice(fv.choices, "false", "false", b == 0);
		} else {
			for (size_t i = 0; i < f->nchoices; i++)
				pg_add_choice(fv.choices, f->choices[i], f->choices[i], !strcmp(value, f->choices[i]));
		}
	} else if (f->type == WO_FIELD_INT) {
		fv.inputmode = "numeric";
		pg_int_hint(hint, sizeof(hint), f->has_min, (long long)f->min, f->has_max, (long long)f->max);
		fv.type_hint = hint;
	} else if (f->type == WO_FIELD_LIST || f->type == WO_FIELD_MAP) {
		fv.kind = "textarea";
		fv.type_hint = f->type == WO_FIELD_LIST ? "(one per line)" : "(KEY=VALUE, one per line)";
		fv.rows = pg_line_count(value) + 1;
		if (fv.rows > 12)
			fv.rows = 12;
	}
	json_t *v = pg_field_view(&fv);
	wo_buf_release(&id);
	wo_buf_release(&name);
	wo_buf_release(&note);
	free(host_value);
	free(stored_text);
	free(dflt);
	return v;
}

/* The addons page's data; focus is the addon whose settings form came back
 * with typed values and errors. Call with the registry locked. */
static json_t *pg_addons_data(const struct wo_addon_registry *reg, const char *focus, const json_t *typed,
			   const json_t *errors)
{
	json_t *data = json_object();
	json_t *list = json_array();
	json_t *order = json_array();
	for (size_t i = 0; i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		json_t *j = wo_addon_json(a);
		if (!j)
			continue;
		int mine = focus && !strcmp(focus, a->name);
		json_t *v = json_object();
		pg_set_text(v, "name", a->name);
		pg_set_text(v, "version", pg_jstr(j, "version"));
		pg_set_text(v, "description", pg_jstr(j, "description"));
		pg_set_text(v, "state", pg_jstr(j, "state"));
		json_object_set_new(v, "base", pg_jpath("/addons/", a->name, NULL));
		pg_set_text(v, "toggle_action", a->enabled ? "disable" : "enable");
		pg_set_text(v, "toggle_label", a->enabled ? "Disable" : "Enable");
		pg_set_text(v, "toggle_class", a->enabled ? "" : "primary");

		json_t *hooks = json_array();
		size_t k;
		json_t *h;
		json_array_foreach(json_object_get(j, "hooks"), k, h)
			json_array_append_new(hooks, json_pack("{s:o, s:o, s:O, s:b}", "event", pg_jtext(pg_jstr(h, "event")),
							       "handler", pg_jtext(pg_jstr(h, "handler")), "priority",
							       json_object_get(h, "priority"), "required",
							       pg_jstr(h, "enforcement") && !strcmp(pg_jstr(h, "enforcement"), "required")));
		json_object_set_new(v, "has_hooks", json_boolean(json_array_size(hooks) > 0));
		json_object_set_new(v, "hooks", hooks);

		json_t *load_error = pg_lines_json(pg_jstr(j, "load_error"));
		json_t *errs = json_array();
		json_array_foreach(json_object_get(j, "errors"), k, h)
			json_array_append_new(errs, pg_jtext(json_string_value(h)));
		if (a->duplicate && json_array_size(load_error) == 0)
			json_array_append_new(load_error,
					      pg_jtext("another addon of the same name comes first in the addons path"));
		json_object_set_new(v, "has_problems",
				    json_boolean(json_array_size(load_error) > 0 || json_array_size(errs) > 0));
		json_object_set_new(v, "load_error", load_error);
		json_object_set_new(v, "errors", errs);
		json_t *warns = json_array();
		json_array_foreach(json_object_get(j, "warnings"), k, h)
			json_array_append_new(warns, pg_jtext(json_string_value(h)));
		json_object_set_new(v, "has_warnings", json_boolean(json_array_size(warns) > 0));
		json_object_set_new(v, "warnings", warns);

		json_t *settings = json_array();
		for (size_t s = 0; s < a->manifest->nsettings; s++)
			json_array_append_new(settings, pg_setting_view(a, &a->manifest->settings[s], mine ? typed : NULL,
								     mine ? errors : NULL, mine ? order : NULL));
		json_object_set_new(v, "has_settings", json_boolean(json_array_size(settings) > 0));
		json_object_set_new(v, "settings", settings);
		json_object_set_new(v, "settings_open", json_boolean(mine));
		json_array_append_new(list, v);
		json_decref(j);
	}
	json_t *warns = json_array();
	for (size_t i = 0; i < reg->nwarnings; i++)
		json_array_append_new(warns, pg_jtext(reg->warnings[i]));
	json_object_set_new(data, "has_reg_warnings", json_boolean(json_array_size(warns) > 0));
	json_object_set_new(data, "reg_warnings", warns);
	json_object_set_new(data, "has_addons", json_boolean(json_array_size(list) > 0));
	json_object_set_new(data, "addons", list);
	pg_add_summary(data, errors, order);
	json_decref(order);
	json_object_set_new(data, "nav_addons", json_true());
	return data;
}

static const struct wo_addon_registry empty_registry;

/* What each addon last said of its own state (its status hook, asked by
 * webopsd every minute), beside its card: {state, detail, at}. */
static void pg_addons_status(json_t *data, PGconn *conn)
{
	json_t *all = NULL;
	if (!conn || wo_addon_status_read(&all, conn) < 0) {
		wo_error_clear();
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(data, "addons"), i, v) {
		const json_t *st = json_object_get(all, pg_jstr(v, "name"));
		if (!st)
			continue;
		struct wo_buf d = WO_BUF_INIT;
		const char *reason = pg_jstr(st, "reason");
		if (reason) {
			wo_buf_puts(&d, reason);
		} else {
			static const char *const keys[][2] = {
				{ "version", "version " }, { "api_version", "API " }, { "storage_driver", "storage " },
				{ "cgroup_version", "cgroup v" }, { "host", "at " },
			};
			for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
				if (pg_jstr(st, keys[k][0]))
					wo_buf_printf(&d, "%s%s%s", d.len ? ", " : "", keys[k][1], pg_jstr(st, keys[k][0]));
			if (pg_jstr(st, "nvidia"))
				wo_buf_printf(&d, "%snvidia runtime %s", d.len ? ", " : "",
					      !strcmp(pg_jstr(st, "nvidia"), "true") ? "present" : "absent");
		}
		json_object_set_new(v, "status", json_pack("{s:o,s:o,s:o}", "state", pg_jtext(pg_jstr(st, "state")), "detail",
							   pg_jtext(wo_buf_cstr(&d)), "at", pg_when_json(json_object_get(st, "at"))));
		wo_buf_release(&d);
	}
	json_decref(all);
}

WO_HANDLER(wo_page_addons)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	json_t *data = pg_addons_data(reg ? reg : &empty_registry, NULL, NULL, NULL);
	pg_addons_status(data, req->conn);
	if (reg) {
		wo_http_registry_unlock(req);
	} else {
		/* say why there is nothing to list */
		json_object_set_new(data, "has_reg_warnings", json_true());
		json_object_set_new(data, "reg_warnings", json_pack("[o]", pg_jtext(wo_error_last())));
	}
	pg_add_notice(data, req);
	return pg_render(req, 200, "addons", data);
}

static int pg_redirect_addon(struct wo_req *req, const char *done, const char *name)
{
	struct wo_buf loc = WO_BUF_INIT;
	wo_buf_printf(&loc, "/addons?done=%s#addon-", done);
	pg_put_segment(&loc, name);
	int rc = wo_http_redirect(req, loc.ptr);
	wo_buf_release(&loc);
	return rc;
}

/* The route's addon ({name}), the registry locked (*reg) until
 * wo_http_registry_unlock; NULL, nothing locked, when there is none. */
static struct wo_addon *pg_addon_locked(struct wo_addon_registry **reg, struct wo_req *req)
{
	*reg = wo_http_registry_lock(req);
	struct wo_addon *a = *reg ? wo_addon_registry_find(*reg, req->params[0]) : NULL;
	if (!a && *reg)
		wo_http_registry_unlock(req);
	return a;
}

WO_HANDLER(wo_page_addon_action)
{
	const char *name = req->params[0], *action = req->params[1];
	int enable = action && !strcmp(action, "enable");
	if (!action || (!enable && strcmp(action, "disable")))
		return pg_not_found(req, "There is no such page.");
	struct wo_addon_registry *reg;
	struct wo_addon *a = pg_addon_locked(&reg, req);
	if (!a)
		return pg_not_found(req, "There is no such addon.");
	if (wo_addon_set_enabled(reg, a, enable) < 0) {
		json_t *errors = json_pack("{s:s}", "_", wo_error_last());
		json_t *data = pg_addons_data(reg, NULL, NULL, errors);
		wo_http_registry_unlock(req);
		json_decref(errors);
		return pg_render(req, 409, "addons", data);
	}
	wo_http_registry_unlock(req);
	return pg_redirect_addon(req, enable ? "enabled" : "disabled", name);
}

/* Whether the form asks to remove setting name (an "unset" naming it). */
static int pg_unset_asked(struct wo_req *req, const char *name)
{
	int unset = 0;
	for (size_t n = 0; wo_http_form_nth(req, "unset", n); n++)
		unset |= !strcmp(wo_http_form_nth(req, "unset", n), name);
	return unset;
}

/* The text v posted for setting f, as addon text, into ops: set when it
 * says something else than what is stored, unset when emptied; what is
 * wrong with it into errors. err: scratch space. */
static void pg_setting_posted(json_t *ops, json_t *errors, const struct wo_addon *a, const struct wo_addon_field *f,
			      const char *v, struct wo_buf *err)
{
	const json_t *stored = json_object_get(a->settings_stored, f->name);
	char *t;
	wo_buf_clear(err);
	if (f->type == WO_FIELD_LIST) {
		t = pg_list_text(v);
	} else if (f->type == WO_FIELD_MAP) {
		t = pg_map_text(v, f->name, a->name, "setting", err);
	} else {
		t = pg_trimmed(v);
	}
	if (!t) {
		pg_set_text(errors, f->name, err->ptr);
		return;
	}
	if (!*t) {
		if (stored)
			json_array_append_new(ops, json_pack("[s, n]", f->name));
		free(t);
		return;
	}
	char *cur = stored ? wo_addon_field_format(stored) : NULL;
	json_t *parsed = NULL;
	if (wo_addon_field_parse(&parsed, f, t, err) < 0) {
		struct wo_buf m2 = WO_BUF_INIT;
		wo_buf_printf(&m2, "invalid value for setting '%s' (addon '%s', %s): %s", f->name, a->name,
			      wo_field_type_name(f->type), wo_buf_cstr(err));
		pg_set_text(errors, f->name, m2.ptr);
		wo_buf_release(&m2);
	} else {
		char *now = wo_addon_field_format(parsed);
		if (!cur || !now || strcmp(cur, now) != 0)
			json_array_append_new(ops, json_pack("[s, o]", f->name, pg_jtext(t)));
		free(now);
	}
	json_decref(parsed);
	free(cur);
	free(t);
}

/* What the settings form of addon a asks: into ops [key, text] to set and
 * [key, null] to unset, the text typed into typed, the problems into
 * errors. 1 when it tried to change a host setting. */
static int pg_settings_read(json_t *ops, json_t *typed, json_t *errors, struct wo_req *req, const struct wo_addon *a)
{
	const struct wo_addon_manifest *m = a->manifest;
	struct wo_buf key = WO_BUF_INIT, err = WO_BUF_INIT;
	int host_only = 0;
	for (size_t i = 0; i < m->nsettings; i++) {
		const struct wo_addon_field *f = &m->settings[i];
		wo_buf_clear(&key);
		wo_buf_printf(&key, "s.%s", f->name);
		const char *v = wo_http_form(req, key.ptr);
		const json_t *stored = json_object_get(a->settings_stored, f->name);
		int unset = pg_unset_asked(req, f->name);
		if (f->host_scope) {
			/* shown read-only, never submitted by the form itself */
			if (v || unset) {
				char *why = wo_addon_setting_host_only(a, f);
				pg_set_text(errors, f->name, why);
				free(why);
				host_only = 1;
			}
			continue;
		}
		if (f->secret) {
			/* never shown; blank keeps the stored value */
			if (unset && stored)
				json_array_append_new(ops, json_pack("[s, n]", f->name));
			else if (v && *v)
				json_array_append_new(ops, json_pack("[s, o]", f->name, pg_jtext(v)));
			continue;
		}
		if (!v)
			continue;
		pg_set_text(typed, f->name, v);
		pg_setting_posted(ops, errors, a, f, v, &err);
	}
	wo_buf_release(&key);
	wo_buf_release(&err);
	return host_only;
}

/* Carries out ops (pg_settings_read's); what the addon refuses into errors. */
static void pg_settings_store(json_t *errors, struct wo_addon_registry *reg, struct wo_addon *a, const json_t *ops)
{
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		const char *k = json_string_value(json_array_get(op, 0));
		const json_t *t = json_array_get(op, 1);
		int rc = json_is_null(t) ? wo_addon_setting_unset(reg, a, k)
					 : wo_addon_setting_set(reg, a, k, json_string_value(t));
		if (rc < 0)
			pg_set_text(errors, k, wo_error_last());
	}
}

WO_HANDLER(wo_page_addon_settings)
{
	const char *name = req->params[0];
	struct wo_addon_registry *reg;
	struct wo_addon *a = pg_addon_locked(&reg, req);
	if (!a)
		return pg_not_found(req, "There is no such addon.");
	json_t *typed = json_object(), *errors = json_object();
	json_t *ops = json_array();
	int host_only = pg_settings_read(ops, typed, errors, req, a);
	/* all or nothing: nothing is stored while any value is refused */
	if (json_object_size(errors) == 0)
		pg_settings_store(errors, reg, a, ops);
	json_decref(ops);
	int refused = json_object_size(errors) > 0;
	json_t *data = refused ? pg_addons_data(reg, name, typed, errors) : NULL;
	wo_http_registry_unlock(req);
	json_decref(typed);
	json_decref(errors);
	if (refused)
		return pg_render(req, host_only ? 403 : 422, "addons", data);
	return pg_redirect_addon(req, "settings", name);
}
