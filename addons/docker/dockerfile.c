/* Dockerfile generation: picks the base image from settings and the detected
 * version, and renders the kind's Mustache template with a strict escaper. */
#include "dockerfile.h"

#include <stdlib.h>
#include <string.h>

#include "template/template.h"
#include "util/error.h"
#include "util/banned.h"

int dk_dockerfile_image(char **out, const char *tmpl, const char *version, const char *dflt)
{
	if (!tmpl || !*tmpl)
		return wo_error_set("no base image is set");
	const char *v = version && *version ? version : dflt;
	struct wo_buf b = WO_BUF_INIT;
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "{version}", 9) == 0) {
			if (!v || !*v) {
				wo_buf_release(&b);
				return wo_error_set("the base image '%s' needs a version and none is set", tmpl);
			}
			wo_buf_puts(&b, v);
			p += 9;
		} else {
			wo_buf_putc(&b, *p++);
		}
	}
	*out = wo_buf_detach(&b);
	return 0;
}

int dk_dockerfile_render(struct wo_buf *out, const char *templates_dir, const struct dk_project *p,
			 const struct dk_base_images *img)
{
	char *base = NULL, *build = NULL;
	int rc = 0;
	switch (p->kind) {
	case DK_KIND_DJANGO:
	case DK_KIND_FLASK:
	case DK_KIND_FASTAPI:
	case DK_KIND_PYTHON:
		rc = dk_dockerfile_image(&base, img->python, p->version, img->python_version);
		break;
	case DK_KIND_NODE:
		rc = dk_dockerfile_image(&base, img->node, p->version, img->node_version);
		break;
	case DK_KIND_GO:
		rc = dk_dockerfile_image(&build, img->go_build, p->version, img->go_version);
		if (rc == 0)
			rc = dk_dockerfile_image(&base, img->go_runtime, NULL, NULL);
		break;
	case DK_KIND_STATIC:
		rc = dk_dockerfile_image(&base, img->static_site, NULL, NULL);
		break;
	default:
		rc = wo_error_set("unknown project kind");
	}
	if (rc < 0)
		return rc;
	json_t *data = json_deep_copy(p->vars);
	if (!data) {
		free(base);
		free(build);
		return wo_error_set("out of memory");
	}
	json_object_set_new(data, "base_image", json_string(base));
	if (build)
		json_object_set_new(data, "build_image", json_string(build));
	free(base);
	free(build);

	struct wo_tpl_env *env = NULL;
	struct wo_tpl_opts opts = WO_TPL_OPTS_INIT;
	opts.escape = wo_tpl_escape_dockerfile;
	opts.strict = 1;
	char name[64];
	snprintf(name, sizeof(name), "dockerfiles/%s.Dockerfile", dk_kind_name(p->kind));
	rc = wo_tpl_env_new(&env, templates_dir);
	if (rc == 0)
		rc = wo_tpl_render_file(out, env, name, data, &opts);
	if (rc < 0)
		wo_error_prefix("cannot generate a Dockerfile from '%s/%s.mustache'", templates_dir, name);
	wo_tpl_env_free(env);
	json_decref(data);
	return rc < 0 ? -1 : 0;
}

int dk_static_conf_render(struct wo_buf *out, const char *templates_dir, const struct dk_project *p,
			  const char *name)
{
	if (p->kind != DK_KIND_STATIC)
		return wo_error_set("an nginx configuration is generated for static sites only");
	json_t *data = json_deep_copy(p->vars);
	if (!data)
		return wo_error_set("out of memory");
	json_object_set_new(data, "name", json_string(name ? name : ""));
	json_object_set_new(data, "asset_max_age_s", json_integer(DK_STATIC_ASSET_MAX_AGE_S));
	struct wo_tpl_env *env = NULL;
	struct wo_tpl_opts opts = WO_TPL_OPTS_INIT;
	opts.escape = wo_tpl_escape_nginx;
	opts.strict = 1;
	int rc = wo_tpl_env_new(&env, templates_dir);
	if (rc == 0)
		rc = wo_tpl_render_file(out, env, "dockerfiles/static.nginx.conf", data, &opts);
	if (rc < 0)
		wo_error_prefix("cannot generate nginx.conf from '%s/dockerfiles/static.nginx.conf.mustache'",
				templates_dir);
	wo_tpl_env_free(env);
	json_decref(data);
	return rc < 0 ? -1 : 0;
}
