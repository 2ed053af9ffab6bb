/* Deployment fields declared by addons: `--set KEY=VALUE` parsing into
 * deployments.addon_fields, defaults, and validation. Fields of disabled or
 * broken addons are hidden, but their stored values are left alone. */
#include "addon/addon.h"

#include <stdlib.h>
#include <string.h>

#include "addon/field.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/banned.h"

/* Addons whose fields are visible: enabled, with a valid manifest. */
static int fields_visible(const struct wo_addon *a)
{
	return a->enabled && !a->duplicate && a->manifest->nerrors == 0;
}

static void list_fields(const struct wo_addon_registry *reg, struct wo_buf *err)
{
	int any = 0;
	for (size_t i = 0; i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		if (!fields_visible(a))
			continue;
		for (size_t j = 0; j < a->manifest->nfields; j++) {
			wo_buf_printf(err, "%s%s.%s", any ? ", " : "", a->name, a->manifest->fields[j].name);
			any = 1;
		}
	}
	if (!any)
		wo_buf_puts(err, "(none: no enabled addon declares deployment_fields)");
}

int wo_addon_fields_apply(json_t *addon_fields, const struct wo_addon_registry *reg,
                          const char *key, const char *value_text, struct wo_buf *err)
{
	const struct wo_addon *owner = NULL;
	const struct wo_addon_field *f = NULL;
	const char *dot = strchr(key, '.');
	if (!json_is_object(addon_fields)) {
		wo_buf_puts(err, "addon_fields is not an object");
		return -1;
	}
	if (dot) {
		char *an = strndup(key, (size_t)(dot - key));
		const struct wo_addon *a = an ? wo_addon_registry_find(reg, an) : NULL;
		free(an);
		if (a && fields_visible(a)) {
			owner = a;
			f = wo_addon_manifest_field(a->manifest, dot + 1);
		}
	} else {
		for (size_t i = 0; i < reg->naddons; i++) {
			const struct wo_addon *a = reg->addons[i];
			if (!fields_visible(a))
				continue;
			const struct wo_addon_field *ff = wo_addon_manifest_field(a->manifest, key);
			if (!ff)
				continue;
			if (f) {
				wo_buf_printf(err, "field '%s' is declared by addons '%s' and '%s'; write %s.%s or %s.%s",
				              key, owner->name, a->name, owner->name, key, a->name, key);
				return -1;
			}
			owner = a;
			f = ff;
		}
	}
	if (!f) {
		wo_buf_printf(err, "unknown field '%s'; the fields of enabled addons are: ", key);
		list_fields(reg, err);
		return -1;
	}
	json_t *v = NULL;
	const char *t = value_text ? value_text : "";
	/* a secret shown masked and given back unchanged keeps what is stored */
	if (f->secret && !strcmp(t, WO_FIELD_SECRET_MASK))
		return 0;
	/* an empty value for a scalar non-string field removes it (back to the default) */
	if (!*t && (f->type == WO_FIELD_BOOL || f->type == WO_FIELD_INT || f->type == WO_FIELD_ENUM)) {
		json_object_del(json_object_get(addon_fields, owner->name), f->name);
		return 0;
	}
	struct wo_buf why = WO_BUF_INIT;
	if (wo_addon_field_parse(&v, f, t, &why) < 0) {
		wo_buf_printf(err, "invalid value for field '%s' (addon '%s', %s): %s", f->name, owner->name,
		              wo_field_type_name(f->type), wo_buf_cstr(&why));
		wo_buf_release(&why);
		return -1;
	}
	wo_buf_release(&why);
	if (wo_addon_field_seal(&v, f, err) < 0)
		return -1;
	json_t *mine = json_object_get(addon_fields, owner->name);
	if (!json_is_object(mine)) {
		mine = json_object();
		if (!mine || json_object_set_new(addon_fields, owner->name, mine) < 0) {
			json_decref(v);
			wo_buf_puts(err, "out of memory");
			return -1;
		}
	}
	if (json_object_set_new(mine, f->name, v) < 0) {
		wo_buf_puts(err, "out of memory");
		return -1;
	}
	return 0;
}

int wo_addon_field_seal(json_t **v, const struct wo_addon_field *f, struct wo_buf *err)
{
	const char *plain = json_string_value(*v);
	if (!f->secret || !plain || !*plain || wo_secret_is_sealed(plain))
		return 0;
	char *sealed = NULL;
	json_t *nv = NULL;
	if (wo_secret_seal(&sealed, plain, strlen(plain)) < 0 || !(nv = json_string(sealed))) {
		wo_buf_printf(err, "cannot store field '%s' sealed: %s", f->name, wo_error_last());
		wo_secret_free(sealed);
		return -1;
	}
	wo_secret_free(sealed);
	json_decref(*v);
	*v = nv;
	return 0;
}

static void mask_record(json_t *d)
{
	const char *an, *fn;
	json_t *mine, *v;
	json_object_foreach(json_object_get(d, "addon_fields"), an, mine) {
		json_object_foreach(mine, fn, v)
			if (wo_secret_is_sealed(json_string_value(v)))
				json_object_set_new(mine, fn, json_string(WO_FIELD_SECRET_MASK));
	}
}

void wo_addon_fields_mask(json_t *records)
{
	size_t i;
	json_t *d;
	if (json_is_array(records))
		json_array_foreach(records, i, d)
			mask_record(d);
	else
		mask_record(records);
}

int wo_addon_fields_defaults(json_t *addon_fields, const struct wo_addon_registry *reg)
{
	if (!json_is_object(addon_fields))
		return wo_error_set("addon_fields is not an object");
	for (size_t i = 0; i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		if (!fields_visible(a))
			continue;
		json_t *mine = json_object_get(addon_fields, a->name);
		for (size_t j = 0; j < a->manifest->nfields; j++) {
			const struct wo_addon_field *f = &a->manifest->fields[j];
			if (!f->dflt || (mine && json_object_get(mine, f->name)))
				continue;
			if (!json_is_object(mine)) {
				mine = json_object();
				if (!mine || json_object_set_new(addon_fields, a->name, mine) < 0)
					return wo_error_set("out of memory");
			}
			json_t *copy = json_deep_copy(f->dflt);
			if (!copy || json_object_set_new(mine, f->name, copy) < 0)
				return wo_error_set("out of memory");
		}
	}
	return 0;
}

int wo_addon_fields_validate(const json_t *addon_fields, const struct wo_addon_registry *reg, struct wo_buf *err)
{
	int bad = 0;
	for (size_t i = 0; i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		if (!fields_visible(a))
			continue;
		json_t *mine = json_object_get(addon_fields, a->name);
		for (size_t j = 0; j < a->manifest->nfields; j++) {
			const struct wo_addon_field *f = &a->manifest->fields[j];
			json_t *v = json_object_get(mine, f->name);
			if (!v || json_is_null(v)) {
				if (f->required && !f->dflt) {
					wo_buf_printf(err, "%sfield '%s' (addon '%s') is required", bad ? "\n" : "", f->name, a->name);
					bad = 1;
				}
				continue;
			}
			/* a sealed secret was checked before it was sealed */
			if (f->secret && wo_secret_is_sealed(json_string_value(v)))
				continue;
			struct wo_buf why = WO_BUF_INIT;
			if (wo_addon_field_check(f, v, &why) < 0) {
				wo_buf_printf(err, "%sinvalid value for field '%s' (addon '%s', %s): %s", bad ? "\n" : "",
				              f->name, a->name, wo_field_type_name(f->type), wo_buf_cstr(&why));
				bad = 1;
			}
			wo_buf_release(&why);
		}
	}
	return bad ? -1 : 0;
}

json_t *wo_addon_fields_json(const struct wo_addon_registry *reg)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		if (!fields_visible(a))
			continue;
		for (size_t j = 0; j < a->manifest->nfields; j++) {
			json_t *f = wo_addon_field_json(&a->manifest->fields[j], 0);
			if (!f)
				continue;
			json_object_set_new(f, "addon", json_string(a->name));
			json_array_append_new(arr, f);
		}
	}
	return arr;
}
