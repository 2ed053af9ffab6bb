/* Dockerfile generation: picks the base image from settings and the detected
 * version, and renders the kind's Mustache template with a strict escaper. */
#include "dockerfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
		/* a site built by npm first */
		if (rc == 0 && json_is_true(json_object_get(p->vars, "node_build")))
			rc = dk_dockerfile_image(&build, img->node, p->version, img->node_version);
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

int dk_django_settings_render(struct dk_buf *out, const struct dk_renderer *r, const struct dk_project *p)
{
	if (p->kind != DK_KIND_DJANGO || !json_is_string(json_object_get(p->vars, "settings_module")))
		return dk_error_set("a settings module is generated for Django projects only");
	/* the module name is a checked dotted name: the word escaper keeps it so */
	int rc = r->render(out, "dockerfiles/django.settings.py", p->vars, "dockerfile", r->ud);
	if (rc < 0)
		dk_error_prefix("cannot generate %s from the docker addon's templates/dockerfiles/"
				"django.settings.py.mustache", DK_DJANGO_SETTINGS_PATH);
	return rc < 0 ? -1 : 0;
}

int dk_pull_failure(const char *e)
{
	static const char *const signs[] = {
		"pull access denied", "no such host", "manifest unknown", "manifest for", "repository does not exist",
		"failed to resolve reference", "error pulling image", "registry-1.docker.io", "i/o timeout",
		"TLS handshake timeout", "connection refused", "no basic auth credentials", "not found: manifest",
	};
	for (size_t i = 0; e && i < sizeof(signs) / sizeof(signs[0]); i++)
		if (strstr(e, signs[i]))
			return 1;
	return 0;
}

/* The setting that picks the FROM image of a generated Dockerfile of kind,
 * for its first (build) or a later (runtime) stage named stage ("" when
 * unnamed): a static site's "build" stage is npm's. */
static const char *pull_setting(const char *kind, int later_stage, const char *stage)
{
	if (!kind)
		return NULL;
	if (!strcmp(kind, "go"))
		return later_stage ? "go_runtime_image" : "go_base_image";
	if (!strcmp(kind, "node"))
		return "node_base_image";
	if (!strcmp(kind, "static"))
		return stage && !strcasecmp(stage, "build") ? "node_base_image" : "static_base_image";
	return "python_base_image"; /* python, django, flask, fastapi */
}

int dk_pull_failure_explain(struct dk_buf *out, const char *error, const char *dockerfile, const char *generated_kind)
{
	if (!dk_pull_failure(error))
		return 0;
	char stages[16][128];
	int nstages = 0, nfrom = 0, lineno = 0;
	const char *p = dockerfile ? dockerfile : "";
	dk_buf_puts(out, "a base image cannot be pulled (no registry answers, or it does not have it):");
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		lineno++;
		char line[512];
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1), p);
		p += len + (eol ? 1 : 0);
		const char *l = line;
		while (*l == ' ' || *l == '\t')
			l++;
		if (strncasecmp(l, "FROM", 4) != 0 || (l[4] != ' ' && l[4] != '\t'))
			continue;
		/* FROM [--platform=...] IMAGE [AS NAME] */
		char w[3][256] = { "", "", "" };
		int nw = 0;
		for (const char *q = l + 4; *q && nw < 3;) {
			while (*q == ' ' || *q == '\t')
				q++;
			if (!*q)
				break;
			size_t k = strcspn(q, " \t");
			if (!(nw == 0 && !strncmp(q, "--", 2)))
				snprintf(w[nw++], sizeof(w[0]), "%.*s", (int)(k < 255 ? k : 255), q);
			q += k;
		}
		if (!w[0][0])
			continue;
		int is_stage = !strcmp(w[0], "scratch");
		for (int s = 0; s < nstages && !is_stage; s++)
			is_stage = !strcasecmp(stages[s], w[0]);
		if (nw == 3 && !strcasecmp(w[1], "AS") && nstages < 16)
			snprintf(stages[nstages++], sizeof(stages[0]), "%s", w[2]);
		if (is_stage)
			continue;
		const char *setting = pull_setting(generated_kind, nfrom > 0, nw == 3 ? w[2] : "");
		dk_buf_printf(out, " '%s' (Dockerfile line %d%s%s%s)", w[0], lineno, setting ? "; the setting " : "",
			      setting ? setting : "", setting ? " chose it" : "");
		nfrom++;
	}
	if (!nfrom)
		dk_buf_puts(out, " (no FROM line names one)");
	if (generated_kind)
		dk_buf_printf(out, ". Make it available on this engine (docker load, docker import, or a build of "
			      "your own), or point the setting at an image it has: webops addon config docker %s=IMAGE",
			      pull_setting(generated_kind, 0, ""));
	else
		dk_buf_puts(out, ". Make it available on this engine (docker load, docker import, or a build of your "
			    "own), or change the FROM line to an image it has");
	return 1;
}
