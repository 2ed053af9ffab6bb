/* Generated Dockerfiles: the per-kind templates under templates/dockerfiles/
 * rendered with a strict escaper, and base images chosen from settings. */
#ifndef DK_DOCKERFILE_H
#define DK_DOCKERFILE_H

#include <stddef.h>

#include "detect.h"
#include "dkutil.h"

/* Base images per kind (addon settings). Each may hold "{version}", replaced
 * by the version detected in the repository, else by the *_version default. */
struct dk_base_images {
	const char *python, *python_version;  /* "python:{version}-slim", "3.12" */
	const char *node, *node_version;      /* "node:{version}-slim", "20" */
	const char *go_build, *go_version;    /* "golang:{version}", "1.22" */
	const char *go_runtime;               /* "debian:bookworm-slim" */
	const char *static_site;              /* "nginx:alpine" (needs nginx and a POSIX shell with find) */
};

/* tmpl with "{version}" replaced (version NULL or "" keeps dflt). */
int dk_dockerfile_image(char **out, const char *tmpl, const char *version, const char *dflt);

/* Renders the addon's dockerfiles/<kind>.Dockerfile for p through r. */
int dk_dockerfile_render(struct dk_buf *out, const struct dk_renderer *r, const struct dk_project *p,
			 const struct dk_base_images *img);

/* Where the generated nginx.conf of a static site goes in the repository
 * (the build context); the generated Dockerfile copies it from there. */
#define DK_STATIC_CONF_PATH ".webops/nginx.conf"
/* How long browsers may cache a static site's assets (css, js, images, fonts). */
#define DK_STATIC_ASSET_MAX_AGE_S 604800

/* Renders dockerfiles/static.nginx.conf for a static site p of the deployment name, through r. */
int dk_static_conf_render(struct dk_buf *out, const struct dk_renderer *r, const struct dk_project *p,
			  const char *name);

/* Renders dockerfiles/django.settings.py (DK_DJANGO_SETTINGS_PATH) for a
 * Django project p through r. */
int dk_django_settings_render(struct dk_buf *out, const struct dk_renderer *r, const struct dk_project *p);

/* Whether an engine error is about pulling an image (no registry, no such
 * image, denied). */
int dk_pull_failure(const char *error);

/* When a build failed because a base image could not be pulled (error is
 * the engine's message: "pull access denied", "no such host", "manifest
 * unknown"...), appends to out what to change: each FROM image of
 * dockerfile (the text) with its line, stage names and scratch left out,
 * and, for a generated Dockerfile (generated_kind: "python", "node", "go",
 * "static", ...; NULL for the repository's own), the setting that chose it.
 * 1 when it did, 0 when the error is not about pulling. */
int dk_pull_failure_explain(struct dk_buf *out, const char *error, const char *dockerfile, const char *generated_kind);

#endif
