/* Project detection for generated Dockerfiles: which kind of project a
 * repository holds (first match wins), why, its runtime version, and the
 * values its Dockerfile template needs. Everything read stays beneath root. */
#ifndef DK_DETECT_H
#define DK_DETECT_H

#include <jansson.h>

#include "dkutil.h"

enum dk_kind {
	DK_KIND_DJANGO,
	DK_KIND_FLASK,
	DK_KIND_FASTAPI,
	DK_KIND_PYTHON,
	DK_KIND_NODE,
	DK_KIND_GO,
	DK_KIND_STATIC,
	DK_KIND__COUNT
};

/* Returned by dk_detect when no kind matches. */
#define DK_DETECT_NONE (-2)

struct dk_project {
	enum dk_kind kind;
	char why[512];      /* "manage.py and Django in requirements.txt; ..." */
	char version[32];   /* runtime version found ("3.11", "20", "1.22"), "" when none */
	json_t *vars;       /* values for the kind's template (see templates/dockerfiles/) */
};

/* "django", "flask", "fastapi", "python", "node", "go", "static". */
const char *dk_kind_name(enum dk_kind k);
/* The port a generated image listens on unless PORT says otherwise. */
int dk_kind_default_port(enum dk_kind k);

/* Detects the project under root. DK_DETECT_NONE (with a dk_error message
 * listing what was looked for) when nothing matches; -1 when a kind matched
 * but something it needs is missing (the message says what to add). Values
 * taken from repository files are checked against strict patterns. */
int dk_detect(struct dk_project *out, const char *root);
void dk_project_release(struct dk_project *p);

/* A Flask application factory is served through a generated module that
 * calls it: DK_FACTORY_SHIM_PATH in the build context (beside the site's
 * nginx.conf), imported as DK_FACTORY_MODULE (gunicorn --pythonpath). */
#define DK_FACTORY_MODULE "webops_app"
#define DK_FACTORY_SHIM_PATH ".webops/webops_app.py"

/* A generated Django image reads the project's settings through a generated
 * module (STATIC_ROOT, whitenoise, ALLOWED_HOSTS, data_path): written here
 * in the build context, imported as webops_settings. */
#define DK_DJANGO_SETTINGS_PATH ".webops/webops_settings.py"

/* The generated module for p's factory (vars factory_module, factory),
 * into out; 0 when p has none. */
int dk_factory_shim(struct dk_buf *out, const struct dk_project *p);

/* The command of process type in a Procfile's text ("release", "web"):
 * "TYPE: COMMAND" on a line of its own; malloc'd, NULL when none. */
char *dk_procfile_get(const char *procfile, const char *type);

/* The deployment's app_module: "module:name" (a WSGI or ASGI app) or, for
 * Flask, "module:factory()" replaces what detection found for a Django,
 * Flask or FastAPI project. -1 with the reason when it does not apply or is
 * malformed. */
int dk_project_set_app(struct dk_project *p, const char *app_module);

#endif
