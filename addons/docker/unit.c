/* systemd units for containers: a directive-aware escaper and the render of
 * templates/systemd/docker.service. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"
#include "util/error.h"
#include "util/banned.h"

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
	opts.escape = wo_tpl_escape_systemd;
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
