/* libFuzzer target for addon manifests: the input is an addon.yaml, parsed
 * and validated; every field and setting it declares then parses the text
 * after a "\n#---\n" line (or a few fixed values) as --set would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "addon/field.h"
#include "addon/manifest.h"
#include "util/buf.h"
#include "util/banned.h"

static void try_value(const struct wo_addon_field *f, const char *text)
{
	json_t *v = NULL;
	struct wo_buf err = WO_BUF_INIT;
	if (wo_addon_field_parse(&v, f, text, &err) == 0) {
		/* a parsed value passes its own check and formats back */
		if (wo_addon_field_check(f, v, &err) != 0)
			abort();
		free(wo_addon_field_format(v));
		json_decref(v);
	} else if (v || !err.len) {
		abort(); /* failures leave out alone and say why */
	}
	wo_buf_release(&err);
}

static void try_fields(const struct wo_addon_field *fs, size_t n, const char *value)
{
	static const char *const fixed[] = {"true", "0", "-9223372036854775808", "a,b", "[\"8080:80\"]",
	                                    "{\"k\":\"v\"}", "k=v,x=", ""};
	for (size_t i = 0; i < n; i++) {
		if (fs[i].dflt)
			free(wo_addon_field_format(fs[i].dflt));
		if (value)
			try_value(&fs[i], value);
		for (size_t j = 0; j < sizeof(fixed) / sizeof(fixed[0]); j++)
			try_value(&fs[i], fixed[j]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *value = NULL;
	char *sep = strstr(text, "\n#---\n");
	if (sep)
		value = sep + 6;
	struct wo_addon_manifest *m = NULL;
	if (wo_addon_manifest_parse(&m, "/fuzz/addon.yaml", text, size, 0) != 0) {
		free(text);
		return 0;
	}
	for (size_t i = 0; i < m->nerrors; i++)
		if (!strstr(m->errors[i], "cannot load manifest '/fuzz/addon.yaml': "))
			abort();
	if (!m->nerrors) {
		if (!m->name || !wo_addon_name_valid(m->name))
			abort();
		for (size_t i = 0; i < m->nhooks; i++)
			if (!m->hooks[i].handler || m->hooks[i].event >= WO_EVENT__COUNT)
				abort();
	}
	try_fields(m->fields, m->nfields, value);
	try_fields(m->settings, m->nsettings, value);
	wo_addon_manifest_free(m);
	free(text);
	return 0;
}
