/* systemd units for containers: a directive-aware escaper and the render of
 * templates/systemd/docker.service. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"
#include "util/error.h"
#include "util/banned.h"

enum unit_mode { UNIT_PLAIN, UNIT_ENV, UNIT_EXEC };

/* The directive of the line being written: the text from the line start to '='. */
static enum unit_mode unit_mode_of(const struct wo_buf *out)
{
	const char *s = wo_buf_cstr(out);
	size_t i = out->len;
	while (i > 0 && s[i - 1] != '\n')
		i--;
	const char *line = s + i;
	size_t llen = out->len - i;
	const char *eq = memchr(line, '=', llen);
	if (!eq || line[0] == '#' || line[0] == ';')
		return UNIT_PLAIN;
	size_t klen = (size_t)(eq - line);
	while (klen && (line[klen - 1] == ' ' || line[klen - 1] == '\t'))
		klen--;
	if (klen == 11 && strncmp(line, "Environment", 11) == 0)
		return UNIT_ENV;
	if (klen > 4 && strncmp(line, "Exec", 4) == 0)
		return UNIT_EXEC;
	return UNIT_PLAIN;
}

static void unit_show(struct wo_buf *shown, const char *s, size_t len)
{
	for (size_t k = 0; k < len && k < 80; k++) {
		unsigned char c = (unsigned char)s[k];
		if (c < 0x20 || c == 0x7f)
			wo_buf_printf(shown, "\\x%02x", c);
		else
			wo_buf_putc(shown, (char)c);
	}
}

int dk_unit_escape(struct wo_buf *out, const char *s, size_t len, void *ud)
{
	enum unit_mode mode = unit_mode_of(out);
	size_t start = out->len;
	int rc = 0;
	if (mode == UNIT_PLAIN) {
		for (size_t i = 0; i < len && rc == 0; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x20 || c == 0x7f || c == '\\') {
				struct wo_buf shown = WO_BUF_INIT;
				unit_show(&shown, s, len);
				wo_error_set("the value '%s' cannot go into this unit line: control characters and "
					     "backslashes are not allowed there", wo_buf_cstr(&shown));
				wo_buf_release(&shown);
				wo_buf_truncate(out, start);
				return -1;
			}
			rc = c == '%' ? wo_buf_puts(out, "%%") : wo_buf_putc(out, (char)c);
		}
		return rc;
	}
	rc = wo_buf_putc(out, '"');
	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '\\':
			rc = wo_buf_puts(out, "\\\\");
			break;
		case '"':
			rc = wo_buf_puts(out, "\\\"");
			break;
		case '\n':
			rc = wo_buf_puts(out, "\\n");
			break;
		case '\t':
			rc = wo_buf_puts(out, "\\t");
			break;
		case '\r':
			rc = wo_buf_puts(out, "\\r");
			break;
		case '%':
			rc = wo_buf_puts(out, "%%");
			break;
		case '$':
			rc = wo_buf_puts(out, mode == UNIT_EXEC ? "$$" : "$");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				rc = wo_buf_printf(out, "\\x%02x", c);
			else
				rc = wo_buf_putc(out, (char)c);
		}
	}
	if (rc == 0)
		rc = wo_buf_putc(out, '"');
	if (rc < 0) {
		wo_buf_truncate(out, start);
		return wo_error_set("out of memory");
	}
	return 0;
}

int dk_unit_file_name(struct wo_buf *out, const char *name)
{
	return wo_buf_printf(out, "webops-%s.service", name);
}

int dk_unit_render(struct wo_buf *out, const char *templates_dir, const struct dk_unit_spec *spec)
{
	if (!spec->docker_cli || spec->docker_cli[0] != '/')
		return wo_error_set("the docker CLI path '%s' must be absolute", spec->docker_cli ? spec->docker_cli : "");
	json_t *env = json_array(), *labels = json_array();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)spec->env, k, v) {
		char *assign = NULL;
		struct wo_buf a = WO_BUF_INIT;
		wo_buf_printf(&a, "%s=%s", k, json_string_value(v) ? json_string_value(v) : "");
		assign = wo_buf_detach(&a);
		json_array_append_new(env, json_pack("{s:s,s:s}", "key", k, "assignment", assign));
		free(assign);
	}
	json_object_foreach((json_t *)spec->labels, k, v) {
		struct wo_buf a = WO_BUF_INIT;
		wo_buf_printf(&a, "%s=%s", k, json_string_value(v) ? json_string_value(v) : "");
		json_array_append_new(labels, json_string(wo_buf_cstr(&a)));
		wo_buf_release(&a);
	}
	json_t *ports = spec->ports ? json_incref((json_t *)spec->ports) : json_array();
	json_t *volumes = spec->volumes ? json_incref((json_t *)spec->volumes) : json_array();
	json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:o,s:i,s:i,s:b}", "name", spec->name, "container",
				 spec->container, "docker", spec->docker_cli, "image", spec->image, "env", env, "ports",
				 ports, "volumes", volumes, "network",
				 spec->network ? spec->network : "bridge", "labels", labels, "stop_timeout",
				 spec->stop_timeout_s, "stop_timeout_total", spec->stop_timeout_s + 30, "init", spec->init);
	if (!data)
		return wo_error_set("out of memory");
	struct wo_tpl_env *tenv = NULL;
	struct wo_tpl_opts opts = WO_TPL_OPTS_INIT;
	opts.escape = dk_unit_escape;
	opts.strict = 1;
	int rc = wo_tpl_env_new(&tenv, templates_dir);
	if (rc == 0)
		rc = wo_tpl_render_file(out, tenv, "systemd/docker.service", data, &opts);
	if (rc < 0)
		wo_error_prefix("cannot render the unit from '%s/systemd/docker.service.mustache'", templates_dir);
	wo_tpl_env_free(tenv);
	json_decref(data);
	return rc < 0 ? -1 : 0;
}
