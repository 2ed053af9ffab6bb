/* Addons as JSON, for `webops addon list|info --json` and the web UI: the
 * manifest (hooks, fields, settings), load state, settings and metrics. */
#include "addon/addon.h"

#include <string.h>

#include "addon/field.h"
#include "util/banned.h"

json_t *wo_addon_field_json(const struct wo_addon_field *f, int secret_mask)
{
	json_t *o = json_pack("{s:s, s:s}", "name", f->name, "type", wo_field_type_name(f->type));
	if (!o)
		return NULL;
	if (f->dflt)
		json_object_set(o, "default", f->secret && secret_mask ? json_string("********") : f->dflt);
	if (f->label)
		json_object_set_new(o, "label", json_string(f->label));
	if (f->help)
		json_object_set_new(o, "help", json_string(f->help));
	if (f->pattern)
		json_object_set_new(o, "pattern", json_string(f->pattern));
	if (f->has_min)
		json_object_set_new(o, "min", json_integer((json_int_t)f->min));
	if (f->has_max)
		json_object_set_new(o, "max", json_integer((json_int_t)f->max));
	if (f->nchoices) {
		json_t *c = json_array();
		for (size_t i = 0; i < f->nchoices; i++)
			json_array_append_new(c, json_string(f->choices[i]));
		json_object_set_new(o, "choices", c);
	}
	if (f->required)
		json_object_set_new(o, "required", json_true());
	if (f->secret)
		json_object_set_new(o, "secret", json_true());
	if (f->host_scope)
		json_object_set_new(o, "scope", json_string("host"));
	return o;
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, v ? json_string(v) : json_null());
}

const char *wo_addon_state(const struct wo_addon *a)
{
	if (a->duplicate || a->load_error)
		return "error";
	return a->enabled ? "enabled" : "disabled";
}

json_t *wo_addon_json(const struct wo_addon *a)
{
	const struct wo_addon_manifest *m = a->manifest;
	json_t *o = json_object();
	if (!o)
		return NULL;
	set_str(o, "name", a->name);
	set_str(o, "version", m->version);
	set_str(o, "description", m->description);
	set_str(o, "author", m->author);
	set_str(o, "license", m->license);
	set_str(o, "state", wo_addon_state(a));
	json_object_set_new(o, "enabled", json_boolean(a->enabled));
	json_object_set_new(o, "loaded", json_boolean(a->loaded));
	set_str(o, "dir", a->dir);
	set_str(o, "manifest", m->path);
	set_str(o, "library", m->library_path);
	if (a->abi_major >= 0) {
		char abi[32];
		snprintf(abi, sizeof(abi), "%d.%d", a->abi_major, a->abi_minor);
		json_object_set_new(o, "abi", json_string(abi));
	} else {
		json_object_set_new(o, "abi", json_null());
	}
	set_str(o, "library_version", a->lib_version);
	set_str(o, "load_error", a->load_error);
	json_object_set_new(o, "capabilities", strv_json(m->capabilities, m->ncapabilities));

	json_t *hooks = json_array();
	for (size_t i = 0; hooks && i < m->nhooks; i++) {
		const struct wo_addon_hook *h = &m->hooks[i];
		json_t *hj = json_pack("{s:s, s:s, s:i, s:s, s:i, s:i, s:i, s:f}", "event", wo_event_name(h->event),
		                       "handler", h->handler, "priority", h->priority,
		                       "enforcement", h->required ? "required" : "optional", "timeout_ms", h->timeout_ms,
		                       "retries", h->retries, "retry_initial_delay_ms", h->retry_initial_delay_ms,
		                       "retry_backoff", h->retry_backoff);
		if (hj && h->conditions)
			json_object_set(hj, "conditions", h->conditions);
		if (hj)
			json_array_append_new(hooks, hj);
	}
	json_object_set_new(o, "hooks", hooks);

	json_t *fields = json_array();
	for (size_t i = 0; fields && i < m->nfields; i++)
		json_array_append_new(fields, wo_addon_field_json(&m->fields[i], 0));
	json_object_set_new(o, "deployment_fields", fields);

	json_t *settings = json_array();
	for (size_t i = 0; settings && i < m->nsettings; i++) {
		const struct wo_addon_field *f = &m->settings[i];
		json_t *sj = wo_addon_field_json(f, 1);
		if (!sj)
			continue;
		json_t *v = json_object_get(a->settings, f->name);
		json_object_set(sj, "value", v ? (f->secret ? json_string("********") : v) : json_null());
		json_t *src = json_object_get(a->settings_source, f->name);
		json_object_set(sj, "source", src ? src : json_null());
		json_array_append_new(settings, sj);
	}
	json_object_set_new(o, "settings", settings);

	json_object_set_new(o, "metrics", json_pack("{s:I, s:I, s:s?, s:I, s:s?}",
	                                            "success_count", (json_int_t)a->metrics.success_count,
	                                            "failure_count", (json_int_t)a->metrics.failure_count,
	                                            "last_run_at", a->metrics.last_run_at,
	                                            "last_duration_ms", (json_int_t)a->metrics.last_duration_ms,
	                                            "last_error", a->metrics.last_error));
	json_object_set_new(o, "errors", strv_json(m->errors, m->nerrors));
	json_object_set_new(o, "warnings", strv_json(m->warnings, m->nwarnings));
	return o;
}
