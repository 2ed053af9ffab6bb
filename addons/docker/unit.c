/* systemd units for containers: a directive-aware escaper and the render of
 * the addon's templates/systemd/docker.service. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkutil.h"

int dk_unit_file_name(struct dk_buf *out, const char *name)
{
	return dk_buf_printf(out, "webops-%s.service", name);
}

int dk_unit_render(struct dk_buf *out, const struct dk_renderer *r, const struct dk_unit_spec *spec)
{
	if (!spec->docker_cli || spec->docker_cli[0] != '/')
		return dk_error_set("the docker CLI path '%s' must be absolute", spec->docker_cli ? spec->docker_cli : "");
	json_t *env = json_array(), *labels = json_array();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)spec->env, k, v) {
		char *assign = NULL;
		struct dk_buf a = DK_BUF_INIT;
		dk_buf_printf(&a, "%s=%s", k, json_string_value(v) ? json_string_value(v) : "");
		assign = dk_buf_detach(&a);
		json_array_append_new(env, json_pack("{s:s,s:s}", "key", k, "assignment", assign));
		free(assign);
	}
	json_object_foreach((json_t *)spec->labels, k, v) {
		struct dk_buf a = DK_BUF_INIT;
		dk_buf_printf(&a, "%s=%s", k, json_string_value(v) ? json_string_value(v) : "");
		json_array_append_new(labels, json_string(dk_buf_cstr(&a)));
		dk_buf_release(&a);
	}
	json_t *ports = spec->ports ? json_incref((json_t *)spec->ports) : json_array();
	json_t *volumes = spec->volumes ? json_incref((json_t *)spec->volumes) : json_array();
	json_t *cmd = spec->cmd ? json_incref((json_t *)spec->cmd) : json_array();
	/* the limits as docker run options; the engine's restart policy is
	 * systemd's to carry out (docker run --rm cannot have one) */
	json_t *opts = json_array();
	const struct dk_limits *l = spec->limits;
	char o[200];
	if (l && l->memory) {
		snprintf(o, sizeof(o), "--memory=%lldb", l->memory);
		json_array_append_new(opts, json_string(o));
	}
	if (l && l->nano_cpus) {
		snprintf(o, sizeof(o), "--cpus=%lld.%03lld", l->nano_cpus / 1000000000LL,
			 (l->nano_cpus % 1000000000LL) / 1000000LL);
		json_array_append_new(opts, json_string(o));
	}
	if (l && l->gpus_text[0]) {
		int plain = !strcmp(l->gpus_text, "all") || strspn(l->gpus_text, "0123456789") == strlen(l->gpus_text);
		snprintf(o, sizeof(o), plain ? "--gpus=%s" : "--gpus=\"device=%s\"", l->gpus_text);
		json_array_append_new(opts, json_string(o));
	}
	const char *restart = l ? dk_limits_unit_restart(l) : "always";
	json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:o,s:i,s:i,s:b,s:o,s:o,s:s}", "name", spec->name,
				 "container", spec->container, "docker", spec->docker_cli, "image", spec->image, "env",
				 env, "ports", ports, "volumes", volumes, "network",
				 spec->network ? spec->network : "bridge", "labels", labels, "stop_timeout",
				 spec->stop_timeout_s, "stop_timeout_total", spec->stop_timeout_s + 30, "init", spec->init,
				 "cmd", cmd, "options", opts, "restart", restart);
	if (!data)
		return dk_error_set("out of memory");
	int rc = r->render(out, "systemd/docker.service", data, "systemd", r->ud);
	if (rc < 0)
		dk_error_prefix("cannot render the unit from the docker addon's templates/systemd/docker.service.mustache");
	json_decref(data);
	return rc < 0 ? -1 : 0;
}
