/* Project detection: Django, Flask, FastAPI, other Python, Node.js, Go and
 * static sites, in that order, with versions from .python-version,
 * runtime.txt, engines.node/.nvmrc and go.mod. Values that reach a generated
 * Dockerfile are checked here against strict patterns. */
#include "detect.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "paths.h"
#include "dkutil.h"

#define DET_MAX_FILE (1u << 20)

static const char *const kind_names[DK_KIND__COUNT] = {
	[DK_KIND_DJANGO] = "django", [DK_KIND_FLASK] = "flask", [DK_KIND_FASTAPI] = "fastapi",
	[DK_KIND_PYTHON] = "python", [DK_KIND_NODE] = "node",   [DK_KIND_GO] = "go",
	[DK_KIND_STATIC] = "static",
};

const char *dk_kind_name(enum dk_kind k)
{
	return (unsigned)k < DK_KIND__COUNT ? kind_names[k] : "?";
}

int dk_kind_default_port(enum dk_kind k)
{
	switch (k) {
	case DK_KIND_NODE:
		return 3000;
	case DK_KIND_GO:
		return 8080;
	case DK_KIND_STATIC:
		return 80;
	default:
		return 8000;
	}
}

void dk_project_release(struct dk_project *p)
{
	if (!p)
		return;
	json_decref(p->vars);
	p->vars = NULL;
}

static char *det_read(const char *root, const char *rel)
{
	char *s = NULL;
	if (dk_path_read_beneath(&s, NULL, root, rel, DET_MAX_FILE) != 0)
		return NULL;
	return s;
}

static int det_exists(const char *root, const char *rel)
{
	return dk_path_file_beneath(root, rel) == 1;
}

static int det_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* The 1-based line of text at which p points. */
static int det_line_of(const char *text, const char *p)
{
	int line = 1;
	for (const char *c = text; c < p; c++)
		line += *c == '\n';
	return line;
}

/* Whether text names the package (case-insensitive) as a whole requirement
 * token: "Django==4.2", "django>=4", "\"django\"", "django = \"^4\"" but not
 * "django-environ" or "mydjango". */
static int det_has_dep(const char *text, const char *name)
{
	if (!text)
		return 0;
	size_t n = strlen(name);
	for (const char *p = text; (p = strcasestr(p, name)) != NULL; p++) {
		char before = p == text ? '\n' : p[-1];
		char after = p[n];
		int ok_before = before == '\n' || before == ' ' || before == '\t' || before == '"' || before == '\'' ||
				before == ',' || before == '[';
		int ok_after = !(det_ident_char(after) || after == '-' || after == '.');
		if (ok_before && ok_after)
			return 1;
	}
	return 0;
}

/* Python dotted name: ident(.ident)* */
static int det_is_dotted(const char *s)
{
	if (!s || !*s || strlen(s) > 200)
		return 0;
	int start = 1;
	for (; *s; s++) {
		if (*s == '.') {
			if (start)
				return 0;
			start = 1;
		} else if (det_ident_char(*s) && !(start && isdigit((unsigned char)*s))) {
			start = 0;
		} else {
			return 0;
		}
	}
	return !start;
}

static int det_is_ident(const char *s)
{
	return det_is_dotted(s) && !strchr(s, '.');
}

/* A repository-relative file path safe to name in a Dockerfile. */
static int det_is_safe_relpath(const char *s)
{
	if (dk_path_check_relative(s, NULL) < 0 || strlen(s) > 200)
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.' || *s == '/'))
			return 0;
	return 1;
}

/* The quoted string after "key = " (or "key": / key, ...) in text; caller frees. */
static char *det_quoted_after(const char *text, const char *key)
{
	if (!text)
		return NULL;
	for (const char *p = text; (p = strstr(p, key)) != NULL; p++) {
		const char *q = p + strlen(key);
		while (*q == ' ' || *q == '\t' || *q == '=' || *q == ',' || *q == ':' || *q == '"' || *q == '\'') {
			if ((*q == '"' || *q == '\'') && q > p + strlen(key)) {
				/* the opening quote of the value (not of the key) */
				char quote = *q++;
				const char *end = strchr(q, quote);
				if (!end || end - q > 200 || memchr(q, '\n', (size_t)(end - q)))
					break;
				return strndup(q, (size_t)(end - q));
			}
			q++;
		}
	}
	return NULL;
}

/* "3.11.4" -> "3.11"; 0 when it is not MAJOR.MINOR[.x]. */
static int det_major_minor(char *dst, size_t cap, const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == 'v')
		s++;
	size_t i = 0;
	while (isdigit((unsigned char)s[i]))
		i++;
	if (!i || s[i] != '.' || !isdigit((unsigned char)s[i + 1]))
		return 0;
	i++;
	while (isdigit((unsigned char)s[i]))
		i++;
	if (i >= cap || i > 12)
		return 0;
	memcpy(dst, s, i);
	dst[i] = '\0';
	return 1;
}

/* The first run of digits (a major version): ">=18.0" -> "18". */
static int det_major(char *dst, size_t cap, const char *s)
{
	while (*s && !isdigit((unsigned char)*s)) {
		if (isalpha((unsigned char)*s) && *s != 'v')
			return 0; /* "lts/iron", "node": no number to take */
		s++;
	}
	size_t i = 0;
	while (isdigit((unsigned char)s[i]))
		i++;
	if (!i || i >= cap || i > 4)
		return 0;
	memcpy(dst, s, i);
	dst[i] = '\0';
	return 1;
}

static void det_python_version(struct dk_project *p, const char *root, struct dk_buf *why)
{
	char *s = det_read(root, ".python-version");
	if (s && det_major_minor(p->version, sizeof(p->version), s)) {
		dk_buf_printf(why, "; Python %s from .python-version", p->version);
	} else {
		free(s);
		s = det_read(root, "runtime.txt");
		const char *v = s ? strstr(s, "python-") : NULL;
		if (v && det_major_minor(p->version, sizeof(p->version), v + 7))
			dk_buf_printf(why, "; Python %s from runtime.txt", p->version);
	}
	free(s);
}

/* The settings module Django is told to use in manage.py ("mysite.settings"). */
static char *det_django_wsgi(const char *root, const char *manage, struct dk_buf *why)
{
	char *settings = det_quoted_after(manage, "DJANGO_SETTINGS_MODULE");
	char *wsgi = NULL;
	if (settings && det_is_dotted(settings)) {
		struct dk_buf path = DK_BUF_INIT;
		for (const char *c = settings; *c; c++)
			dk_buf_putc(&path, *c == '.' ? '/' : *c);
		size_t base = path.len;
		static const char *const tails[] = {".py", "/__init__.py", "/base.py", "/production.py"};
		for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]) && !wsgi; i++) {
			dk_buf_truncate(&path, base);
			dk_buf_puts(&path, tails[i]);
			char *text = det_read(root, dk_buf_cstr(&path));
			wsgi = det_quoted_after(text, "WSGI_APPLICATION");
			if (wsgi)
				dk_buf_printf(why, "; WSGI_APPLICATION from %s line %d", dk_buf_cstr(&path),
					      det_line_of(text, strstr(text, "WSGI_APPLICATION")));
			free(text);
		}
		dk_buf_release(&path);
	}
	free(settings);
	if (wsgi)
		return wsgi;
	/* Otherwise the first <dir>/settings.py naming it, then the first <dir>/wsgi.py. */
	DIR *d = opendir(root);
	if (!d)
		return NULL;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < 4096) {
		if (de->d_name[0] == '.' || !det_is_ident(de->d_name))
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn)
			break;
		names = nn;
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	for (size_t i = 0; i + 1 < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (names[i] && names[j] && strcmp(names[i], names[j]) > 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	struct dk_buf path = DK_BUF_INIT;
	for (size_t i = 0; i < n && !wsgi; i++) {
		if (!names[i])
			continue;
		dk_buf_clear(&path);
		dk_buf_printf(&path, "%s/settings.py", names[i]);
		char *text = det_read(root, dk_buf_cstr(&path));
		wsgi = det_quoted_after(text, "WSGI_APPLICATION");
		if (wsgi)
			dk_buf_printf(why, "; WSGI_APPLICATION from %s line %d", dk_buf_cstr(&path),
				      det_line_of(text, strstr(text, "WSGI_APPLICATION")));
		free(text);
	}
	for (size_t i = 0; i < n && !wsgi; i++) {
		if (!names[i])
			continue;
		dk_buf_clear(&path);
		dk_buf_printf(&path, "%s/wsgi.py", names[i]);
		if (det_exists(root, dk_buf_cstr(&path))) {
			struct dk_buf w = DK_BUF_INIT;
			dk_buf_printf(&w, "%s.wsgi.application", names[i]);
			wsgi = dk_buf_detach(&w);
			dk_buf_printf(why, "; WSGI module from %s", dk_buf_cstr(&path));
		}
	}
	dk_buf_release(&path);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return wsgi;
}

/* "mysite.wsgi.application" -> "mysite.wsgi:application" */
static char *det_module_colon(const char *dotted)
{
	char *s = strdup(dotted);
	if (!s)
		return NULL;
	char *dot = strrchr(s, '.');
	if (dot)
		*dot = ':';
	return s;
}

/* Finds "NAME = Ctor(" in the first candidate file holding it: "module:NAME". */
static char *det_find_app(const char *root, const char *const *files, const char *ctor, struct dk_buf *why)
{
	for (size_t i = 0; files[i]; i++) {
		char *text = det_read(root, files[i]);
		if (!text)
			continue;
		for (const char *p = text; (p = strstr(p, ctor)) != NULL; p++) {
			/* walk back over " = " to the variable name at the start of its line */
			const char *q = p;
			while (q > text && (q[-1] == ' ' || q[-1] == '\t'))
				q--;
			if (q == text || q[-1] != '=')
				continue;
			q--;
			while (q > text && (q[-1] == ' ' || q[-1] == '\t'))
				q--;
			const char *end = q;
			while (q > text && det_ident_char(q[-1]))
				q--;
			if (q == end || (q > text && q[-1] != '\n'))
				continue;
			char var[64];
			if ((size_t)(end - q) >= sizeof(var))
				continue;
			memcpy(var, q, (size_t)(end - q));
			var[end - q] = '\0';
			struct dk_buf m = DK_BUF_INIT;
			for (const char *c = files[i]; *c && strcmp(c, ".py") != 0; c++)
				dk_buf_putc(&m, *c == '/' ? '.' : *c);
			if (m.len >= 9 && strcmp(m.ptr + m.len - 9, ".__init__") == 0)
				dk_buf_truncate(&m, m.len - 9);
			if (!det_is_dotted(dk_buf_cstr(&m)) || !det_is_ident(var)) {
				dk_buf_release(&m);
				continue;
			}
			dk_buf_printf(&m, ":%s", var);
			dk_buf_printf(why, "; app '%s' from %s line %d", dk_buf_cstr(&m), files[i], det_line_of(text, q));
			free(text);
			return dk_buf_detach(&m);
		}
		free(text);
	}
	return NULL;
}

/* "pkg/app.py" -> "pkg.app", "pkg/__init__.py" -> "pkg"; NULL when not a
 * dotted module name. */
static char *det_module_of(const char *file)
{
	struct dk_buf m = DK_BUF_INIT;
	for (const char *c = file; *c && strcmp(c, ".py") != 0; c++)
		dk_buf_putc(&m, *c == '/' ? '.' : *c);
	if (m.len >= 9 && strcmp(m.ptr + m.len - 9, ".__init__") == 0)
		dk_buf_truncate(&m, m.len - 9);
	if (!det_is_dotted(dk_buf_cstr(&m))) {
		dk_buf_release(&m);
		return NULL;
	}
	return dk_buf_detach(&m);
}

/* A factory "def NAME(" at the start of a line of file, one of names:
 * 1 with *fn set to it and *line to its line. */
static int det_find_factory(const char *root, const char *file, const char *const *names, const char **fn, int *line)
{
	char *text = det_read(root, file);
	if (!text)
		return 0;
	int found = 0;
	for (size_t i = 0; names[i] && !found; i++) {
		char pat[80];
		snprintf(pat, sizeof(pat), "def %s(", names[i]);
		for (const char *p = text; !found && (p = strstr(p, pat)) != NULL; p++)
			if (p == text || p[-1] == '\n') {
				*fn = names[i];
				*line = det_line_of(text, p);
				found = 1;
			}
	}
	free(text);
	return found;
}

/* The places a Python web app is looked for, in order: the usual files at
 * the root, then every other .py file at the root, then each package one
 * level down (its __init__.py and the usual files in it). NULL-terminated,
 * malloc'd strings. */
static char **det_python_candidates(const char *root, const char *const *usual)
{
	size_t n = 0, cap = 64;
	char **v = calloc(cap + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; usual[i] && n < cap; i++)
		if (det_exists(root, usual[i]))
			v[n++] = strdup(usual[i]);
	DIR *d = opendir(root);
	struct dirent *e;
	char *names[256];
	size_t nn = 0;
	while (d && (e = readdir(d)) && nn < 256)
		if (e->d_name[0] != '.' && strcmp(e->d_name, "node_modules") && strcmp(e->d_name, "venv") &&
		    strcmp(e->d_name, "tests") && strcmp(e->d_name, "test"))
			names[nn++] = strdup(e->d_name);
	if (d)
		closedir(d);
	/* readdir's order is the filesystem's: sort, so the choice is the same everywhere */
	for (size_t i = 1; i < nn; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < nn && n < cap; i++) {
		size_t l = strlen(names[i]);
		int dup = 0;
		for (size_t k = 0; k < n; k++)
			dup |= !strcmp(v[k], names[i]);
		if (!dup && l > 3 && !strcmp(names[i] + l - 3, ".py") && strcmp(names[i], "setup.py") &&
		    strcmp(names[i], "manage.py") && strcmp(names[i], "conftest.py") && det_exists(root, names[i]))
			v[n++] = strdup(names[i]);
	}
	for (size_t i = 0; i < nn && n + 4 < cap; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/__init__.py", names[i]);
		if (!det_is_ident(names[i]) || !det_exists(root, path))
			continue;
		v[n++] = strdup(path);
		static const char *const inner[] = {"app.py", "wsgi.py", "main.py", "application.py", NULL};
		for (size_t k = 0; inner[k] && n < cap; k++) {
			snprintf(path, sizeof(path), "%s/%s", names[i], inner[k]);
			if (det_exists(root, path))
				v[n++] = strdup(path);
		}
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	return v;
}

static void det_free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* FLASK_APP from .flaskenv or .env: "module", "module:name" or
 * "module:factory()" (a factory's arguments are not supported). */
static int det_flask_env(const char *root, char *module, size_t mcap, char *name, size_t ncap, int *factory)
{
	static const char *const files[] = {".flaskenv", ".env", NULL};
	for (size_t i = 0; files[i]; i++) {
		char *text = det_read(root, files[i]);
		const char *p = text ? strstr(text, "FLASK_APP=") : NULL;
		if (p && (p == text || p[-1] == '\n')) {
			p += 10;
			if (*p == '"' || *p == '\'')
				p++;
			char v[256];
			size_t k = 0;
			while (*p && *p != '\n' && *p != '"' && *p != '\'' && *p != '\r' && k + 1 < sizeof(v))
				v[k++] = *p++;
			v[k] = '\0';
			free(text);
			char *colon = strchr(v, ':');
			*factory = 0;
			name[0] = '\0';
			if (colon) {
				*colon = '\0';
				size_t nl = strlen(colon + 1);
				if (nl > 2 && !strcmp(colon + 1 + nl - 2, "()")) {
					colon[1 + nl - 2] = '\0';
					*factory = 1;
				}
				snprintf(name, ncap, "%s", colon + 1);
			}
			/* a path "pkg/app.py" names the module pkg.app */
			size_t vl = strlen(v);
			if (vl > 3 && !strcmp(v + vl - 3, ".py"))
				v[vl - 3] = '\0';
			for (char *c = v; *c; c++)
				if (*c == '/')
					*c = '.';
			snprintf(module, mcap, "%s", v);
			return det_is_dotted(module) && (!name[0] || det_is_ident(name)) ? 1 : 0;
		}
		free(text);
	}
	return 0;
}

/* The Flask app: "module:name" in *app, or a factory in *factory_module and *factory
 * (gunicorn then serves a generated module calling it). The run log's
 * reason says where it was found. 0 when nothing was found. */
static int det_flask_app(const char *root, char **app, char **factory_module, char **factory, struct dk_buf *why)
{
	static const char *const usual[] = {"app.py", "wsgi.py", "main.py", "application.py", "server.py",
					    "app/__init__.py", NULL};
	static const char *const factories[] = {"create_app", "make_app", NULL};
	char env_mod[256] = "", env_name[128] = "";
	int env_factory = 0;
	if (!det_flask_env(root, env_mod, sizeof(env_mod), env_name, sizeof(env_name), &env_factory))
		env_mod[0] = env_name[0] = '\0';
	else {
		if (env_name[0] && !env_factory) {
			dk_buf_printf(why, "; app '%s:%s' from FLASK_APP", env_mod, env_name);
			struct dk_buf a = DK_BUF_INIT;
			dk_buf_printf(&a, "%s:%s", env_mod, env_name);
			*app = dk_buf_detach(&a);
			return 1;
		}
		if (env_name[0]) {
			dk_buf_printf(why, "; factory %s.%s() from FLASK_APP", env_mod, env_name);
			*factory_module = strdup(env_mod);
			*factory = strdup(env_name);
			return 1;
		}
	}
	char **cands = det_python_candidates(root, usual);
	int found = 0;
	for (size_t i = 0; cands && cands[i] && !found; i++) {
		char *mod = det_module_of(cands[i]);
		if (!mod)
			continue;
		/* FLASK_APP=module: only that module */
		if (env_mod[0] && strcmp(mod, env_mod) != 0) {
			free(mod);
			continue;
		}
		const char *one[] = {cands[i], NULL};
		char *a = det_find_app(root, one, "Flask(", why);
		const char *fn = NULL;
		int fline = 0;
		if (a) {
			*app = a;
			found = 1;
		} else if (det_find_factory(root, cands[i], factories, &fn, &fline)) {
			dk_buf_printf(why, "; application factory %s() in %s line %d", fn, cands[i], fline);
			*factory_module = strdup(mod);
			*factory = strdup(fn);
			found = 1;
		}
		free(mod);
	}
	det_free_list(cands);
	return found;
}

/* How the generated image installs the project, and what it adds that the
 * project's files do not list: server (gunicorn, uvicorn), framework
 * (Django for a project with manage.py and no requirements file) and
 * helpers (whitenoise), each NULL when not wanted. */
static void det_python_install(struct dk_project *p, const char *root, const char *deps, const char *server,
			       const char *framework, const char *helper)
{
	const char *mode = "none";
	if (det_exists(root, "requirements.txt"))
		mode = "requirements";
	else if (det_exists(root, "Pipfile"))
		mode = "pipenv";
	else if (det_exists(root, "pyproject.toml") || det_exists(root, "setup.py"))
		mode = "pyproject";
	json_object_set_new(p->vars, "install_requirements", json_boolean(strcmp(mode, "requirements") == 0));
	json_object_set_new(p->vars, "install_pipenv", json_boolean(strcmp(mode, "pipenv") == 0));
	json_object_set_new(p->vars, "install_pyproject", json_boolean(strcmp(mode, "pyproject") == 0));
	json_object_set_new(p->vars, "pipfile_lock", json_boolean(det_exists(root, "Pipfile.lock")));
	json_t *extra = json_array();
	const char *const wanted[] = {framework, server, helper};
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (wanted[i] && !det_has_dep(deps, wanted[i]))
			json_array_append_new(extra, json_string(wanted[i]));
	json_object_set_new(p->vars, "has_extra_packages", json_boolean(json_array_size(extra) > 0));
	json_object_set_new(p->vars, "extra_packages", extra);
}

/* The first line of text starting with prefix (after indentation is NOT
 * skipped: module level only); 0 when none. */
static int det_line_starting(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, prefix, n))
			return det_line_of(text, l);
	return 0;
}

/* What a Django project's settings say that the deploy should know: the
 * settings module (for the generated settings wrapper), DEBUG on, SQLite. */
static void det_django_settings(struct dk_project *p, const char *root, const char *manage, const char *wsgi)
{
	char *module = det_quoted_after(manage, "DJANGO_SETTINGS_MODULE");
	if (!module || !det_is_dotted(module)) {
		/* "mysite.wsgi.application" -> "mysite.settings" */
		free(module);
		module = NULL;
		const char *dot = wsgi ? strchr(wsgi, '.') : NULL;
		if (dot) {
			struct dk_buf m = DK_BUF_INIT;
			dk_buf_printf(&m, "%.*s.settings", (int)(dot - wsgi), wsgi);
			module = dk_buf_detach(&m);
		}
	}
	if (!module || !det_is_dotted(module)) {
		free(module);
		return;
	}
	json_object_set_new(p->vars, "settings_module", json_string(module));
	struct dk_buf path = DK_BUF_INIT;
	for (const char *c = module; *c; c++)
		dk_buf_putc(&path, *c == '.' ? '/' : *c);
	size_t base = path.len;
	static const char *const tails[] = {".py", "/__init__.py", "/base.py"};
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		dk_buf_truncate(&path, base);
		dk_buf_puts(&path, tails[i]);
		char *text = det_read(root, dk_buf_cstr(&path));
		if (!text)
			continue;
		json_object_set_new(p->vars, "settings_file", json_string(dk_buf_cstr(&path)));
		json_object_set_new(p->vars, "staticfiles",
				    json_boolean(strstr(text, "django.contrib.staticfiles") || strstr(text, "import *")));
		int debug = det_line_starting(text, "DEBUG = True");
		if (!debug)
			debug = det_line_starting(text, "DEBUG=True");
		json_object_set_new(p->vars, "debug_line", json_integer(debug));
		const char *sq = strstr(text, "django.db.backends.sqlite3");
		json_object_set_new(p->vars, "sqlite_line", json_integer(sq ? det_line_of(text, sq) : 0));
		free(text);
		break;
	}
	dk_buf_release(&path);
	free(module);
}

/* The first of a project's Python files (the root's and its packages')
 * that mentions SQLite: sqlite_file and sqlite_line in p->vars, for the run
 * log's warning that a database file inside the container does not outlive
 * a deploy. */
static void det_python_sqlite(struct dk_project *p, const char *root)
{
	static const char *const none[] = {NULL};
	char **cands = det_python_candidates(root, none);
	for (size_t i = 0; cands && cands[i]; i++) {
		char *text = det_read(root, cands[i]);
		const char *at = text ? strcasestr(text, "sqlite") : NULL;
		if (at) {
			json_object_set_new(p->vars, "sqlite_file", json_string(cands[i]));
			json_object_set_new(p->vars, "sqlite_line", json_integer(det_line_of(text, at)));
			free(text);
			break;
		}
		free(text);
	}
	det_free_list(cands);
}

static int det_python(struct dk_project *p, const char *root, struct dk_buf *why)
{
	static const char *const depfiles[] = {"requirements.txt", "pyproject.toml", "Pipfile", "setup.py",
					       "setup.cfg", "requirements/base.txt", "requirements/prod.txt", NULL};
	struct dk_buf deps = DK_BUF_INIT;
	const char *depfile = NULL;
	for (size_t i = 0; depfiles[i]; i++) {
		char *t = det_read(root, depfiles[i]);
		if (t) {
			if (!depfile)
				depfile = depfiles[i];
			dk_buf_puts(&deps, t);
			dk_buf_putc(&deps, '\n');
			free(t);
		}
	}
	char *manage = det_read(root, "manage.py");
	int ret = DK_DETECT_NONE;
	const char *d = dk_buf_cstr(&deps);

	int django_listed = manage && det_has_dep(d, "django");
	if (manage && (django_listed || strstr(manage, "DJANGO_SETTINGS_MODULE"))) {
		p->kind = DK_KIND_DJANGO;
		if (django_listed)
			dk_buf_printf(why, "manage.py and Django in %s", depfile);
		else
			dk_buf_printf(why, "manage.py (it sets DJANGO_SETTINGS_MODULE; no requirements file lists "
				      "Django, so the image installs it)");
		char *wsgi = det_django_wsgi(root, manage, why);
		if (!wsgi || !det_is_dotted(wsgi) || !strchr(wsgi, '.')) {
			ret = dk_error_set("this looks like a Django project (%s) but no WSGI_APPLICATION was found in "
					   "its settings: set WSGI_APPLICATION or commit a Dockerfile", dk_buf_cstr(why));
			free(wsgi);
			goto out;
		}
		char *app = det_module_colon(wsgi);
		json_object_set_new(p->vars, "wsgi_app", json_string(app));
		free(app);
		det_django_settings(p, root, manage, wsgi);
		free(wsgi);
		if (!json_object_get(p->vars, "settings_module")) {
			ret = dk_error_set("this looks like a Django project (%s) but its settings module was not found "
					   "(manage.py sets no DJANGO_SETTINGS_MODULE): commit a Dockerfile", dk_buf_cstr(why));
			goto out;
		}
		/* the label of the image, set by pre_deploy */
		json_object_set_new(p->vars, "deployment", json_string(""));
		json_object_set_new(p->vars, "migrate_at_build", json_false());
		det_python_install(p, root, d, "gunicorn", "django", "whitenoise");
		ret = 0;
	} else if (det_has_dep(d, "flask")) {
		p->kind = DK_KIND_FLASK;
		dk_buf_printf(why, "Flask in %s", depfile);
		char *app = NULL, *fmod = NULL, *fn = NULL;
		if (!det_flask_app(root, &app, &fmod, &fn, why)) {
			ret = dk_error_set("this looks like a Flask project (%s) but no 'app = Flask(...)' and no "
					   "create_app() or make_app() factory was found in its .py files or packages: "
					   "set FLASK_APP in .flaskenv, the deployment's app_module, or commit a Dockerfile",
					   dk_buf_cstr(why));
			goto out;
		}
		if (fmod) {
			/* gunicorn serves a generated module that calls the factory */
			json_object_set_new(p->vars, "factory_module", json_string(fmod));
			json_object_set_new(p->vars, "factory", json_string(fn));
			json_object_set_new(p->vars, "app", json_string(DK_FACTORY_MODULE ":app"));
			json_object_set_new(p->vars, "factory_shim", json_true());
		} else {
			json_object_set_new(p->vars, "app", json_string(app));
			json_object_set_new(p->vars, "factory_shim", json_false());
		}
		free(app);
		free(fmod);
		free(fn);
		det_python_install(p, root, d, "gunicorn", NULL, NULL);
		ret = 0;
	} else if (det_has_dep(d, "fastapi") || det_has_dep(d, "starlette")) {
		/* ASGI apps, served by uvicorn: the usual files, then every .py at
		 * the root and the packages one level down */
		static const char *const usual[] = {"main.py", "app.py", "app/main.py", "src/main.py", "api.py",
						    "server.py", "asgi.py", NULL};
		int fastapi = det_has_dep(d, "fastapi");
		p->kind = DK_KIND_FASTAPI;
		dk_buf_printf(why, "%s in %s", fastapi ? "FastAPI" : "Starlette", depfile);
		char **cands = det_python_candidates(root, usual);
		char *app = NULL;
		for (size_t i = 0; cands && cands[i] && !app; i++) {
			const char *one[] = {cands[i], NULL};
			app = det_find_app(root, one, fastapi ? "FastAPI(" : "Starlette(", why);
		}
		det_free_list(cands);
		if (!app) {
			app = strdup("main:app");
			dk_buf_printf(why, "; no 'app = %s(...)' found, assuming main:app (set app_module to name it)",
				      fastapi ? "FastAPI" : "Starlette");
		}
		json_object_set_new(p->vars, "app", json_string(app));
		free(app);
		det_python_install(p, root, d, "uvicorn", NULL, NULL);
		ret = 0;
	} else if (depfile || manage || det_exists(root, "main.py") || det_exists(root, "app.py")) {
		static const char *const entries[] = {"main.py", "app.py", "server.py", "run.py", "wsgi.py",
						      "manage.py", NULL};
		p->kind = DK_KIND_PYTHON;
		const char *entry = NULL;
		for (size_t i = 0; entries[i] && !entry; i++)
			if (det_exists(root, entries[i]))
				entry = entries[i];
		if (depfile)
			dk_buf_printf(why, "%s", depfile);
		if (!entry) {
			ret = dk_error_set("this looks like a Python project (%s) but it has no main.py, app.py, "
					   "server.py or run.py to start: add one or commit a Dockerfile", dk_buf_cstr(why));
			goto out;
		}
		dk_buf_printf(why, "%s%s as the entry point", depfile ? "; " : "", entry);
		json_object_set_new(p->vars, "entry", json_string(entry));
		det_python_install(p, root, d, NULL, NULL, NULL);
		ret = 0;
	}
	if (ret == 0)
		det_python_version(p, root, why);
	if (ret == 0 && p->kind != DK_KIND_DJANGO)
		det_python_sqlite(p, root);
out:
	free(manage);
	dk_buf_release(&deps);
	return ret;
}

/* Whether a start script only runs a development server or a build tool
 * ("vite", "react-scripts start", "gulp", "browser-sync"...): nothing to
 * run in production. */
static int det_dev_start(const char *start)
{
	static const char *const tools[] = {
		"vite", "react-scripts start", "parcel", "webpack serve", "webpack-dev-server", "gulp", "grunt",
		"live-server", "browser-sync", "eleventy --serve", "gatsby develop", "ng serve", "vue-cli-service serve",
		"astro dev", "nuxt dev", "next dev", "http-server", "lite-server",
	};
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		const char *t = strstr(start, tools[i]);
		size_t n = strlen(tools[i]);
		/* "vite" but not "vite preview" (which serves a build), nor "vitest" */
		if (t && (t == start || t[-1] == ' ' || t[-1] == '/') && !det_ident_char(t[n]) && t[n] != '-' &&
		    strncmp(t + n, " preview", 8) != 0)
			return 1;
	}
	return 0;
}

/* Where an npm build puts the site, by the tool its build script or
 * dependencies name: build/ (Create React App), public/ (Gatsby), _site/
 * (Eleventy), out/ (Next.js static export), else dist/ (Vite, Parcel,
 * Astro, Vue CLI, webpack). */
static const char *det_npm_output(const json_t *pkg, const char *build)
{
	static const struct {
		const char *dep, *dir;
	} tools[] = {
		{"react-scripts", "build"}, {"gatsby", "public"}, {"@11ty/eleventy", "_site"}, {"next", "out"},
	};
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (strstr(build, tools[i].dep) ||
		    json_object_get(json_object_get(pkg, "dependencies"), tools[i].dep) ||
		    json_object_get(json_object_get(pkg, "devDependencies"), tools[i].dep))
			return tools[i].dir;
	return "dist";
}

/* The committed site directory (index.html in ".", public/ or dist/), or NULL. */
static const char *det_site_dir(const char *root)
{
	static const char *const dirs[] = {".", "public", "dist"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "%s%sindex.html", strcmp(dirs[i], ".") ? dirs[i] : "",
			 strcmp(dirs[i], ".") ? "/" : "");
		if (det_exists(root, rel))
			return dirs[i];
	}
	return NULL;
}

/* The package manager and lockfile into p->vars and why. */
static void det_node_pm(struct dk_project *p, const char *root, struct dk_buf *why)
{
	const char *pm = "npm", *lock = NULL;
	if (det_exists(root, "pnpm-lock.yaml")) {
		pm = "pnpm";
		lock = "pnpm-lock.yaml";
	} else if (det_exists(root, "yarn.lock")) {
		pm = "yarn";
		lock = "yarn.lock";
	} else if (det_exists(root, "package-lock.json")) {
		lock = "package-lock.json";
	} else if (det_exists(root, "npm-shrinkwrap.json")) {
		lock = "npm-shrinkwrap.json";
	}
	dk_buf_printf(why, "; %s%s%s%s", pm, lock ? " (from " : " (no lockfile)", lock ? lock : "", lock ? ")" : "");
	json_object_set_new(p->vars, "npm", json_boolean(strcmp(pm, "npm") == 0));
	json_object_set_new(p->vars, "yarn", json_boolean(strcmp(pm, "yarn") == 0));
	json_object_set_new(p->vars, "pnpm", json_boolean(strcmp(pm, "pnpm") == 0));
	json_object_set_new(p->vars, "lockfile", json_string(lock ? lock : ""));
	json_object_set_new(p->vars, "has_lockfile", json_boolean(lock != NULL));
}

static void det_node_version(struct dk_project *p, const char *root, const json_t *pkg, struct dk_buf *why)
{
	const char *engines = json_string_value(json_object_get(json_object_get(pkg, "engines"), "node"));
	if (engines && det_major(p->version, sizeof(p->version), engines)) {
		dk_buf_printf(why, "; Node.js %s from engines.node", p->version);
	} else {
		char *nvmrc = det_read(root, ".nvmrc");
		if (nvmrc && det_major(p->version, sizeof(p->version), nvmrc))
			dk_buf_printf(why, "; Node.js %s from .nvmrc", p->version);
		free(nvmrc);
	}
}

static void det_static_vars(struct dk_project *p, const char *root, const char *site, int node_build);

/* package.json: a Node.js server (a start script that is not a dev server,
 * or a main file), or a site built by npm (a build script, no server:
 * built with Node, served by nginx), or nothing to run with Node at all (a
 * committed site whose package.json only drives dev tooling: the static
 * step serves it). */
static int det_node(struct dk_project *p, const char *root, struct dk_buf *why)
{
	char *text = det_read(root, "package.json");
	if (!text)
		return DK_DETECT_NONE;
	json_error_t jerr;
	json_t *pkg = json_loads(text, 0, &jerr);
	free(text);
	p->kind = DK_KIND_NODE;
	if (!json_is_object(pkg)) {
		json_decref(pkg);
		return dk_error_set("package.json is not a JSON object (line %d: %s)", jerr.line, jerr.text);
	}
	json_t *scripts = json_object_get(pkg, "scripts");
	const char *start = json_string_value(json_object_get(scripts, "start"));
	const char *build = json_string_value(json_object_get(scripts, "build"));
	json_t *deps = json_object_get(pkg, "dependencies");
	int runtime_deps = json_is_object(deps) && json_object_size(deps) > 0;
	const char *site = det_site_dir(root);
	const char *main = NULL;
	int dev_start = start && det_dev_start(start);
	if (!start || dev_start) {
		const char *m = json_string_value(json_object_get(pkg, "main"));
		static const char *const entries[] = {"server.js", "index.js", "app.js", "main.js", NULL};
		if (m && det_is_safe_relpath(m) && det_exists(root, m))
			main = m;
		for (size_t i = 0; entries[i] && !main && !dev_start; i++)
			if (det_exists(root, entries[i]))
				main = entries[i];
	}
	int server = (start && !dev_start) || main;
	int rc = 0;
	/* a build whose output is committed (a site template's dist/) and no
	 * server to run (no start script, a dev server, or one that rebuilds
	 * the site first): served as it is */
	const char *out_dir = build ? det_npm_output(pkg, build) : NULL;
	char out_index[64] = "";
	if (out_dir)
		snprintf(out_index, sizeof(out_index), "%s/index.html", out_dir);
	int rebuilds = start && !strncmp(start, "npm run build", 13);
	if (out_dir && !main && (!start || dev_start || rebuilds) && det_exists(root, out_index)) {
		dk_buf_printf(why, "%s/index.html is committed, the output of package.json's build script (%.60s): "
			      "served as a static site as it is, nothing installed or built", out_dir, build);
		det_static_vars(p, root, out_dir, 0);
	} else if (site && !runtime_deps && (!start || dev_start) && !(main && !dev_start)) {
		/* a committed site; package.json only drives dev tooling */
		dk_buf_printf(why, "%s%sindex.html, and a package.json with no dependencies to run (%s): served as a "
			      "static site, nothing installed", strcmp(site, ".") ? site : "", strcmp(site, ".") ? "/" : "",
			      start ? "its start script runs a development server" : "no start script");
		det_static_vars(p, root, site, 0);
	} else if (server) {
		dk_buf_puts(why, "package.json");
		if (start)
			dk_buf_printf(why, " with a start script (%.60s)", start);
		else
			dk_buf_printf(why, ", started with node %s", main);
		det_node_pm(p, root, why);
		json_object_set_new(p->vars, "has_build", json_boolean(build != NULL));
		/* dev dependencies only when a build needs them (then pruned) */
		json_object_set_new(p->vars, "omit_dev", json_boolean(build == NULL));
		json_object_set_new(p->vars, "start_script", json_boolean(start && !dev_start));
		json_object_set_new(p->vars, "main", json_string(main ? main : ""));
		det_node_version(p, root, pkg, why);
	} else if (build) {
		const char *out = det_npm_output(pkg, build);
		dk_buf_printf(why, "package.json with a build script (%.60s) and no server to start: built with npm, "
			      "%s/ served as a static site", build, out);
		det_node_pm(p, root, why);
		det_node_version(p, root, pkg, why);
		det_static_vars(p, root, out, 1);
	} else if (site) {
		dk_buf_printf(why, "%s%sindex.html (package.json has nothing to start or build)",
			      strcmp(site, ".") ? site : "", strcmp(site, ".") ? "/" : "");
		det_static_vars(p, root, site, 0);
	} else {
		rc = dk_error_set("this looks like a Node.js project (package.json) but it has no start script, no "
				  "main file, no build script and no index.html: add \"scripts\": {\"start\": ...} or "
				  "commit a Dockerfile");
	}
	json_decref(pkg);
	return rc;
}

static int det_go_has_main(const char *root, const char *dir)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, dir);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 4 || strcmp(de->d_name + n - 3, ".go") != 0 || strstr(de->d_name, "_test.go"))
			continue;
		char rel[512];
		snprintf(rel, sizeof(rel), "%s%s%s", strcmp(dir, ".") ? dir : "", strcmp(dir, ".") ? "/" : "",
			 de->d_name);
		char *text = det_read(root, rel);
		if (text && (strncmp(text, "package main", 12) == 0 || strstr(text, "\npackage main")))
			found = 1;
		free(text);
	}
	closedir(d);
	return found;
}

static int det_go(struct dk_project *p, const char *root, struct dk_buf *why)
{
	char *mod = det_read(root, "go.mod");
	if (!mod)
		return DK_DETECT_NONE;
	p->kind = DK_KIND_GO;
	dk_buf_puts(why, "go.mod");
	for (const char *l = mod; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, "go ", 3) == 0 && det_major_minor(p->version, sizeof(p->version), l + 3)) {
			dk_buf_printf(why, "; Go %s from its go directive", p->version);
			break;
		}
	}
	free(mod);
	const char *pkg = NULL;
	char cmdpkg[300] = "";
	if (det_go_has_main(root, ".")) {
		pkg = ".";
	} else {
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "%s/cmd", root);
		DIR *d = opendir(cmd);
		struct dirent *de;
		while (d && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' || !det_is_safe_relpath(de->d_name) || strlen(de->d_name) > 200)
				continue;
			char sub[300];
			snprintf(sub, sizeof(sub), "cmd/%s", de->d_name);
			if (det_go_has_main(root, sub) && (!cmdpkg[0] || strcmp(sub, cmdpkg + 2) < 0))
				snprintf(cmdpkg, sizeof(cmdpkg), "./%s", sub);
		}
		if (d)
			closedir(d);
		if (cmdpkg[0])
			pkg = cmdpkg;
	}
	if (!pkg)
		return dk_error_set("this looks like a Go project (go.mod) but no 'package main' was found at the root "
				    "or under cmd/: add one or commit a Dockerfile");
	dk_buf_printf(why, "; main package %s", pkg);
	json_object_set_new(p->vars, "main_package", json_string(pkg));
	json_object_set_new(p->vars, "has_gosum", json_boolean(det_exists(root, "go.sum")));
	return 0;
}

/* A static site's template values: site (its directory), built by npm
 * first when node_build (then site is the build's output). */
static void det_static_vars(struct dk_project *p, const char *root, const char *site, int node_build)
{
	p->kind = DK_KIND_STATIC;
	json_object_set_new(p->vars, "site_dir", json_string(site));
	json_object_set_new(p->vars, "site_is_root", json_boolean(strcmp(site, ".") == 0));
	json_object_set_new(p->vars, "node_build", json_boolean(node_build));
	json_object_set_new(p->vars, "omit_dev", json_false());
	/* the Dockerfile's path, to keep it out of a site at the root
	 * (pre_deploy sets the real dockerfile_path) */
	json_object_set_new(p->vars, "dockerfile", json_string("Dockerfile"));
	/* the deployment's name, to label the build stages (pre_deploy sets it) */
	json_object_set_new(p->vars, "deployment", json_string(""));
	char rel[64];
	snprintf(rel, sizeof(rel), "%s%s404.html", strcmp(site, ".") ? site : "", strcmp(site, ".") ? "/" : "");
	json_object_set_new(p->vars, "has_404", json_boolean(!node_build && det_exists(root, rel)));
	/* a single-page app's routes (/about) are its index.html: what Vite and
	 * Create React App build into dist/ and build/ */
	json_object_set_new(p->vars, "spa",
			    json_boolean(node_build && (!strcmp(site, "dist") || !strcmp(site, "build"))));
}

static int det_static(struct dk_project *p, const char *root, struct dk_buf *why)
{
	const char *site = det_site_dir(root);
	if (!site)
		return DK_DETECT_NONE;
	dk_buf_printf(why, "%s%sindex.html", strcmp(site, ".") ? site : "", strcmp(site, ".") ? "/" : "");
	det_static_vars(p, root, site, 0);
	return 0;
}

int dk_detect(struct dk_project *out, const char *root)
{
	struct dk_project p;
	memset(&p, 0, sizeof(p));
	p.vars = json_object();
	if (!p.vars)
		return dk_error_set("out of memory");
	struct dk_buf why = DK_BUF_INIT;
	int (*const steps[])(struct dk_project *, const char *, struct dk_buf *) = {det_python, det_node, det_go,
										    det_static};
	int rc = DK_DETECT_NONE;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && rc == DK_DETECT_NONE; i++) {
		dk_buf_clear(&why);
		rc = steps[i](&p, root, &why);
	}
	if (rc == DK_DETECT_NONE)
		dk_error_set("cannot tell what kind of project this is (looked for manage.py, requirements.txt, "
			     "pyproject.toml, package.json, go.mod, and index.html at the root, in public/ or in "
			     "dist/): commit a Dockerfile");
	if (rc != 0) {
		dk_buf_release(&why);
		json_decref(p.vars);
		return rc;
	}
	snprintf(p.why, sizeof(p.why), "%s", dk_buf_cstr(&why));
	dk_buf_release(&why);
	json_object_set_new(p.vars, "kind", json_string(dk_kind_name(p.kind)));
	json_object_set_new(p.vars, "port", json_integer(dk_kind_default_port(p.kind)));
	*out = p;
	return 0;
}

int dk_factory_shim(struct dk_buf *out, const struct dk_project *p)
{
	const char *mod = json_string_value(json_object_get(p->vars, "factory_module"));
	const char *fn = json_string_value(json_object_get(p->vars, "factory"));
	if (!mod || !fn || !det_is_dotted(mod) || !det_is_ident(fn))
		return 0;
	dk_buf_printf(out,
		      "# Generated by webops: gunicorn serves the Flask app that the factory\n"
		      "# %s.%s() makes. Commit a Dockerfile, or set app_module, to serve it otherwise.\n"
		      "from %s import %s\n"
		      "\n"
		      "app = %s()\n",
		      mod, fn, mod, fn, fn);
	return 1;
}

char *dk_procfile_get(const char *text, const char *type)
{
	size_t tl = strlen(type);
	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		while (len && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > tl && !strncmp(p, type, tl) && p[tl] == ':') {
			const char *c = p + tl + 1;
			while (c < p + len && (*c == ' ' || *c == '\t'))
				c++;
			if (c < p + len)
				return strndup(c, (size_t)(p + len - c));
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

int dk_project_set_app(struct dk_project *p, const char *am)
{
	char mod[256], name[128];
	const char *colon = am ? strchr(am, ':') : NULL;
	if (!colon || (size_t)(colon - am) >= sizeof(mod))
		return dk_error_set("app_module '%s' is not MODULE:NAME (like 'mysite.wsgi:application' or "
				    "'flaskr:create_app()')", am ? am : "");
	snprintf(mod, sizeof(mod), "%.*s", (int)(colon - am), am);
	snprintf(name, sizeof(name), "%s", colon + 1);
	size_t nl = strlen(name);
	int factory = nl > 2 && !strcmp(name + nl - 2, "()");
	if (factory)
		name[nl - 2] = '\0';
	if (!det_is_dotted(mod) || !det_is_ident(name))
		return dk_error_set("app_module '%s' is not MODULE:NAME with Python names", am);
	struct dk_buf v = DK_BUF_INIT;
	dk_buf_printf(&v, "%s:%s", mod, name);
	int rc = 0;
	if (p->kind == DK_KIND_DJANGO && !factory) {
		json_object_set_new(p->vars, "wsgi_app", json_string(dk_buf_cstr(&v)));
	} else if (p->kind == DK_KIND_FLASK) {
		json_object_set_new(p->vars, "factory_shim", json_boolean(factory));
		if (factory) {
			json_object_set_new(p->vars, "factory_module", json_string(mod));
			json_object_set_new(p->vars, "factory", json_string(name));
			json_object_set_new(p->vars, "app", json_string(DK_FACTORY_MODULE ":app"));
		} else {
			json_object_del(p->vars, "factory_module");
			json_object_del(p->vars, "factory");
			json_object_set_new(p->vars, "app", json_string(dk_buf_cstr(&v)));
		}
	} else if (p->kind == DK_KIND_FASTAPI && !factory) {
		json_object_set_new(p->vars, "app", json_string(dk_buf_cstr(&v)));
	} else {
		rc = dk_error_set("app_module '%s' applies to %s", am,
				  factory ? "Flask projects when it names a factory" : "Django, Flask and FastAPI projects");
	}
	dk_buf_release(&v);
	return rc;
}
