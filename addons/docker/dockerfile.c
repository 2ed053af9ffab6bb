/* Dockerfile generation: picks the base image from settings and the detected
 * version, and renders the kind's Mustache template with a strict escaper. */
#include "dockerfile.h"

#include <stdlib.h>
#include <string.h>

#include "dkutil.h"

int dk_dockerfile_image(char **out, const char *tmpl, const char *version, const char *dflt)
{
	if (!tmpl || !*tmpl)
		return dk_error_set("no base image is set");
	const char *v = version && *version ? version : dflt;
	struct dk_buf b = DK_BUF_INIT;
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "{version}", 9) == 0) {
			if (!v || !*v) {
				dk_buf_release(&b);
				return dk_error_set("the base image '%s' needs a version and none is set", tmpl);
			}
			dk_buf_puts(&b, v);
			p += 9;
		} else {
			dk_buf_putc(&b, *p++);
		}
	}
	*out = dk_buf_detach(&b);
	return 0;
}

int dk_dockerfile_render(struct dk_buf *out, const struct dk_renderer *r, const struct dk_project *p,
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
		rc = dk_error_set("unknown project kind");
	}
	if (rc < 0)
		return rc;
	json_t *data = json_deep_copy(p->vars);
	if (!data) {
		free(base);
		free(build);
		return dk_error_set("out of memory");
	}
	json_object_set_new(data, "base_image", json_string(base));
	if (build)
		json_object_set_new(data, "build_image", json_string(build));
	free(base);
	free(build);

	char name[64];
	snprintf(name, sizeof(name), "dockerfiles/%s.Dockerfile", dk_kind_name(p->kind));
	rc = r->render(out, name, data, "dockerfile", r->ud);
	if (rc < 0)
		dk_error_prefix("cannot generate a Dockerfile from the docker addon's templates/%s.mustache", name);
	json_decref(data);
	return rc < 0 ? -1 : 0;
}

int dk_static_conf_render(struct dk_buf *out, const struct dk_renderer *r, const struct dk_project *p,
			  const char *name)
{
	if (p->kind != DK_KIND_STATIC)
		return dk_error_set("an nginx configuration is generated for static sites only");
	json_t *data = json_deep_copy(p->vars);
	if (!data)
		return dk_error_set("out of memory");
	json_object_set_new(data, "name", json_string(name ? name : ""));
	json_object_set_new(data, "asset_max_age_s", json_integer(DK_STATIC_ASSET_MAX_AGE_S));
	int rc = r->render(out, "dockerfiles/static.nginx.conf", data, "nginx", r->ud);
	if (rc < 0)
		dk_error_prefix("cannot generate nginx.conf from the docker addon's "
				"templates/dockerfiles/static.nginx.conf.mustache");
	json_decref(data);
	return rc < 0 ? -1 : 0;
}
