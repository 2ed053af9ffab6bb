/* The Docker addon's project detection and generated Dockerfiles: each kind
 * detected from its fixture under tests/fixtures/docker/ and rendered from
 * templates/dockerfiles/, versions and package managers, PORT honoured,
 * and the Dockerfile escaper refusing what could break out of a value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "detect.h"
#include "dockerfile.h"
#include "dkutil.h"
#include "docker_render.h"
#include "testdb.h"
#include "util/fs.h"

static const struct dk_base_images images = {
	.python = "python:{version}-slim", .python_version = "3.12",
	.node = "node:{version}-slim",     .node_version = "20",
	.go_build = "golang:{version}",    .go_version = "1.22",
	.go_runtime = "debian:bookworm-slim",
	.static_site = "nginx:alpine",
};

static char fixtures[4096];

static char *render_dir(const char *dir, struct dk_project *p)
{
	int rc = dk_detect(p, dir);
	if (rc != 0)
		print_error("detect '%s': %s\n", dir, dk_error_last());
	assert_int_equal(rc, 0);
	struct dk_buf out = DK_BUF_INIT;
	rc = dk_dockerfile_render(&out, &docker_test_renderer, p, &images);
	if (rc != 0)
		print_error("render '%s': %s\n", dir, dk_error_last());
	assert_int_equal(rc, 0);
	return dk_buf_detach(&out);
}

static char *render_fixture(const char *kind, struct dk_project *p)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/%s", fixtures, kind);
	return render_dir(dir, p);
}

static void has_line(const char *df, const char *line)
{
	const char *p = df;
	size_t n = strlen(line);
	while ((p = strstr(p, line)) != NULL) {
		if ((p == df || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return;
		p++;
	}
	print_error("missing line: %s\nin:\n%s\n", line, df);
	fail();
}

static void put(const char *root, const char *rel, const char *text);

/* The generated CMD: gunicorn serving app (through the generated module's
 * directory when shim), WEB_CONCURRENCY workers, its access log on stdout. */
static void has_gunicorn(const char *df, int shim, const char *app)
{
	char line[512];
	snprintf(line, sizeof(line),
		 "CMD [\"/bin/sh\", \"-c\", \"export WEB_CONCURRENCY=\\\"${WEB_CONCURRENCY:-$(( $(nproc) * 2 + 1 ))}\\\"; "
		 "exec gunicorn %s--bind \\\"0.0.0.0:${PORT}\\\" --access-logfile - '%s'\"]",
		 shim ? "--pythonpath /app/.webops " : "", app);
	has_line(df, line);
}

static void no_unexpanded_port(const char *df)
{
	/* ${PORT} only ever inside a sh -c string */
	for (const char *p = df; (p = strstr(p, "${PORT}")) != NULL; p++) {
		const char *bol = p;
		while (bol > df && bol[-1] != '\n')
			bol--;
		assert_true(bol[0] == '#' || strncmp(bol, "CMD [\"/bin/sh\", \"-c\", ", 21) == 0);
	}
}

static void test_django(void **state)
{
	(void)state;
	struct dk_project p;
	char *df = render_fixture("django", &p);
	assert_int_equal(p.kind, DK_KIND_DJANGO);
	assert_string_equal(p.version, "3.11");
	assert_non_null(strstr(p.why, "manage.py and Django in requirements.txt"));
	assert_non_null(strstr(p.why, "WSGI_APPLICATION from mysite/settings.py"));
	has_line(df, "FROM python:3.11-slim");
	has_line(df, "RUN pip install --no-cache-dir -r requirements.txt");
	has_line(df, "RUN pip install --no-cache-dir gunicorn whitenoise");
	assert_non_null(strstr(df, "exec gunicorn --bind \\\"0.0.0.0:${PORT}\\\" --access-logfile - 'mysite.wsgi:application'\"]\n"));
	assert_non_null(strstr(df, "export WEB_CONCURRENCY=\\\"${WEB_CONCURRENCY:-$(( $(nproc) * 2 + 1 ))}\\\""));
	has_line(df, "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000 \\");
	has_line(df, "    DJANGO_SETTINGS_MODULE=webops_settings PYTHONPATH=/app/.webops \\");
	has_line(df, "    WEBOPS_DJANGO_SETTINGS=mysite.settings");
	assert_non_null(strstr(df, "python manage.py collectstatic --noinput"));
	/* no SQLite in the fixture's settings: migrations are the release command's */
	assert_null(strstr(df, "migrate"));
	no_unexpanded_port(df);
	free(df);

	/* the settings wrapper: the project's module, valid Python */
	struct dk_buf w = DK_BUF_INIT;
	assert_int_equal(dk_django_settings_render(&w, &docker_test_renderer, &p), 0);
	assert_non_null(strstr(dk_buf_cstr(&w), "or \"mysite.settings\")"));
	char path[4200], cmd[8600];
	snprintf(path, sizeof(path), "%s/webops_settings.py", wo_test_tmpdir());
	assert_int_equal(wo_fs_write_file_atomic(path, w.ptr, w.len, 0644), 0);
	snprintf(cmd, sizeof(cmd), "python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' '%s'", path);
	assert_int_equal(system(cmd), 0);
	dk_buf_release(&w);
	dk_project_release(&p);
}

/* A project as `django-admin startproject` makes it: DEBUG = True and
 * SQLite are found, with their lines, for the run log's warnings; with
 * SQLite in the image the tables are made at build time. */
static void test_django_startproject(void **state)
{
	(void)state;
	struct dk_project p;
	const char *d = wo_test_tmpdir();
	put(d, "manage.py", "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site1.settings')\n");
	put(d, "requirements.txt", "Django>=3.2\n");
	put(d, "site1/__init__.py", "");
	put(d, "site1/wsgi.py", "application = None\n");
	put(d, "site1/settings.py", "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\n"
				    "DEBUG = True\nWSGI_APPLICATION = 'site1.wsgi.application'\nDATABASES = {\n"
				    "    'default': {\n        'ENGINE': 'django.db.backends.sqlite3',\n"
				    "        'NAME': BASE_DIR / 'db.sqlite3',\n    }\n}\n");
	assert_int_equal(dk_detect(&p, d), 0);
	assert_int_equal(p.kind, DK_KIND_DJANGO);
	assert_string_equal(json_string_value(json_object_get(p.vars, "settings_module")), "site1.settings");
	assert_string_equal(json_string_value(json_object_get(p.vars, "settings_file")), "site1/settings.py");
	assert_int_equal(json_integer_value(json_object_get(p.vars, "debug_line")), 3);
	assert_int_equal(json_integer_value(json_object_get(p.vars, "sqlite_line")), 7);
	json_object_set_new(p.vars, "migrate_at_build", json_true());
	json_object_set_new(p.vars, "deployment", json_string("blog"));
	struct dk_buf b = DK_BUF_INIT;
	assert_int_equal(dk_dockerfile_render(&b, &docker_test_renderer, &p, &images), 0);
	has_line(dk_buf_cstr(&b), "RUN [\"python\", \"manage.py\", \"migrate\", \"--noinput\"]");
	has_line(dk_buf_cstr(&b), "LABEL webops.deployment=blog");
	dk_buf_release(&b);
	dk_project_release(&p);
}

static void test_flask(void **state)
{
	(void)state;
	struct dk_project p;
	char *df = render_fixture("flask", &p);
	assert_int_equal(p.kind, DK_KIND_FLASK);
	assert_string_equal(p.version, "3.10"); /* runtime.txt */
	has_line(df, "FROM python:3.10-slim");
	has_gunicorn(df, 0, "app:server");
	no_unexpanded_port(df);
	free(df);
	dk_project_release(&p);
}

/* Flask as real projects have it: an application factory in a package (the
 * Flask tutorial's flaskr), an app defined in pkg/__init__.py, FLASK_APP in
 * .flaskenv, and none at all (an error naming what to do). */
static void test_flask_real_layouts(void **state)
{
	(void)state;
	struct dk_project p;
	const char *d = wo_test_tmpdir();
	put(d, "requirements.txt", "Flask>=3\n");
	put(d, "flaskr/__init__.py", "import os\nfrom flask import Flask\n\n\ndef create_app(test_config=None):\n"
				     "    app = Flask(__name__, instance_relative_config=True)\n    return app\n");
	put(d, "flaskr/db.py", "import sqlite3\n");
	char *df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_FLASK);
	assert_non_null(strstr(p.why, "application factory create_app() in flaskr/__init__.py"));
	has_gunicorn(df, 1, "webops_app:app");
	struct dk_buf shim = DK_BUF_INIT;
	assert_int_equal(dk_factory_shim(&shim, &p), 1);
	assert_non_null(strstr(dk_buf_cstr(&shim), "from flaskr import create_app\n\napp = create_app()\n"));
	dk_buf_release(&shim);
	free(df);
	dk_project_release(&p);

	/* app = Flask(__name__) inside a package */
	d = wo_test_tmpdir();
	put(d, "requirements.txt", "flask\n");
	put(d, "hello/__init__.py", "from flask import Flask\napp = Flask(__name__)\n");
	put(d, "hello/views.py", "from hello import app\n");
	df = render_dir(d, &p);
	has_gunicorn(df, 0, "hello:app");
	shim = (struct dk_buf)DK_BUF_INIT;
	assert_int_equal(dk_factory_shim(&shim, &p), 0);
	free(df);
	dk_project_release(&p);

	/* FLASK_APP in .flaskenv wins over what a scan would find */
	d = wo_test_tmpdir();
	put(d, "requirements.txt", "flask\n");
	put(d, ".flaskenv", "FLASK_APP=site.web:make()\nFLASK_DEBUG=0\n");
	put(d, "app.py", "from flask import Flask\napp = Flask(__name__)\n");
	put(d, "site/__init__.py", "");
	put(d, "site/web.py", "def make():\n    pass\n");
	df = render_dir(d, &p);
	assert_non_null(strstr(p.why, "factory site.web.make() from FLASK_APP"));
	has_gunicorn(df, 1, "webops_app:app");
	free(df);
	dk_project_release(&p);

	/* nothing to serve: said, with what to do */
	d = wo_test_tmpdir();
	put(d, "requirements.txt", "flask\n");
	put(d, "tools.py", "print('no app here')\n");
	assert_int_equal(dk_detect(&p, d), -1);
	assert_non_null(strstr(dk_error_last(), "no 'app = Flask(...)' and no create_app() or make_app() factory"));
	dk_project_release(&p);
}

/* A Django project with manage.py and no requirements file (as
 * `django-admin startproject` leaves it) is Django, and the image installs
 * Django and gunicorn. */
static void test_django_without_requirements(void **state)
{
	(void)state;
	struct dk_project p;
	const char *d = wo_test_tmpdir();
	put(d, "manage.py", "#!/usr/bin/env python\nimport os\nimport sys\n\ndef main():\n"
			    "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n");
	put(d, "mysite/__init__.py", "");
	put(d, "mysite/settings.py", "WSGI_APPLICATION = 'mysite.wsgi.application'\n");
	put(d, "mysite/wsgi.py", "application = None\n");
	char *df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_DJANGO);
	assert_non_null(strstr(p.why, "no requirements file lists Django, so the image installs it"));
	has_line(df, "RUN pip install --no-cache-dir django gunicorn whitenoise");
	free(df);
	dk_project_release(&p);
}

/* ASGI apps inside packages (Starlette too), and a Python app that
 * mentions SQLite, for the run log's warning. */
static void test_asgi_and_sqlite(void **state)
{
	(void)state;
	struct dk_project p;
	const char *d = wo_test_tmpdir();
	put(d, "requirements.txt", "starlette\nuvicorn\n");
	put(d, "web/__init__.py", "from starlette.applications import Starlette\n\napp = Starlette(debug=False)\n");
	assert_int_equal(dk_detect(&p, d), 0);
	assert_int_equal(p.kind, DK_KIND_FASTAPI);
	assert_non_null(strstr(p.why, "Starlette in requirements.txt; app 'web:app' from web/__init__.py line 3"));
	assert_string_equal(json_string_value(json_object_get(p.vars, "app")), "web:app");
	assert_null(json_object_get(p.vars, "sqlite_file"));
	dk_project_release(&p);

	d = wo_test_tmpdir();
	put(d, "requirements.txt", "fastapi\n");
	put(d, "api/__init__.py", "");
	put(d, "api/main.py", "import sqlite3\nfrom fastapi import FastAPI\napi = FastAPI()\n");
	assert_int_equal(dk_detect(&p, d), 0);
	assert_string_equal(json_string_value(json_object_get(p.vars, "app")), "api.main:api");
	assert_string_equal(json_string_value(json_object_get(p.vars, "sqlite_file")), "api/main.py");
	assert_int_equal(json_integer_value(json_object_get(p.vars, "sqlite_line")), 1);
	dk_project_release(&p);
}

/* The deployment's app_module wins over detection. */
static void test_app_module(void **state)
{
	(void)state;
	struct dk_project p;
	const char *d = wo_test_tmpdir();
	put(d, "requirements.txt", "flask\n");
	put(d, "app.py", "from flask import Flask\napp = Flask(__name__)\n");
	put(d, "web/__init__.py", "def build():\n    pass\n");
	assert_int_equal(dk_detect(&p, d), 0);
	assert_int_equal(dk_project_set_app(&p, "web:build()"), 0);
	struct dk_buf b = DK_BUF_INIT;
	assert_int_equal(dk_dockerfile_render(&b, &docker_test_renderer, &p, &images), 0);
	has_gunicorn(dk_buf_cstr(&b), 1, "webops_app:app");
	struct dk_buf shim = DK_BUF_INIT;
	assert_int_equal(dk_factory_shim(&shim, &p), 1);
	assert_non_null(strstr(dk_buf_cstr(&shim), "from web import build\n"));
	dk_buf_release(&shim);
	dk_buf_clear(&b);
	assert_int_equal(dk_project_set_app(&p, "app:application"), 0);
	assert_int_equal(dk_dockerfile_render(&b, &docker_test_renderer, &p, &images), 0);
	has_gunicorn(dk_buf_cstr(&b), 0, "app:application");
	dk_buf_release(&b);
	assert_int_equal(dk_project_set_app(&p, "app; rm -rf /:x"), -1);
	assert_non_null(strstr(dk_error_last(), "is not MODULE:NAME with Python names"));
	assert_int_equal(dk_project_set_app(&p, "nocolon"), -1);
	dk_project_release(&p);
	/* a plain Python project has no app to name */
	d = wo_test_tmpdir();
	put(d, "main.py", "print(1)\n");
	assert_int_equal(dk_detect(&p, d), 0);
	assert_int_equal(dk_project_set_app(&p, "main:app"), -1);
	assert_non_null(strstr(dk_error_last(), "applies to Django, Flask and FastAPI projects"));
	dk_project_release(&p);
}

static void test_procfile(void **state)
{
	(void)state;
	const char *pf = "# processes\nweb: gunicorn app:app --workers 2\r\nrelease:   python manage.py migrate --noinput  \n"
			 "worker: celery -A x\nreleased: no\n";
	char *r = dk_procfile_get(pf, "release");
	assert_string_equal(r, "python manage.py migrate --noinput");
	free(r);
	r = dk_procfile_get(pf, "web");
	assert_string_equal(r, "gunicorn app:app --workers 2");
	free(r);
	assert_null(dk_procfile_get(pf, "clock"));
	assert_null(dk_procfile_get("release:\n", "release"));
}

static void test_fastapi(void **state)
{
	(void)state;
	struct dk_project p;
	char *df = render_fixture("fastapi", &p);
	assert_int_equal(p.kind, DK_KIND_FASTAPI);
	assert_string_equal(p.version, "");
	has_line(df, "FROM python:3.12-slim"); /* the default version */
	has_line(df, "CMD [\"/bin/sh\", \"-c\", \"exec uvicorn 'app.main:api' --host 0.0.0.0 --port \\\"${PORT}\\\"\"]");
	/* uvicorn[standard] is in the requirements: not added again */
	assert_null(strstr(df, "pip install --no-cache-dir uvicorn"));
	no_unexpanded_port(df);
	free(df);
	dk_project_release(&p);
}

static void test_python(void **state)
{
	(void)state;
	struct dk_project p;
	char *df = render_fixture("python", &p);
	assert_int_equal(p.kind, DK_KIND_PYTHON);
	has_line(df, "RUN pip install --no-cache-dir .");
	has_line(df, "CMD [\"python\", \"main.py\"]");
	free(df);
	dk_project_release(&p);
}

static void test_node(void **state)
{
	(void)state;
	struct dk_project p;
	char *df = render_fixture("node", &p);
	assert_int_equal(p.kind, DK_KIND_NODE);
	assert_string_equal(p.version, "18");
	assert_non_null(strstr(p.why, "yarn (from yarn.lock)"));
	has_line(df, "FROM node:18-slim");
	has_line(df, "COPY package.json yarn.lock ./");
	has_line(df, "RUN corepack enable && yarn install --frozen-lockfile");
	has_line(df, "RUN npm run build");
	/* a build needs the dev dependencies: all installed, pruned after */
	has_line(df, "RUN corepack enable && yarn install --frozen-lockfile");
	has_line(df, "CMD [\"npm\", \"start\"]");
	has_line(df, "ENV PORT=3000");
	free(df);
	dk_project_release(&p);
}

/* What package.json really says about a project: a server, a site built by
 * npm, or dev tooling beside a committed site. */
static void test_node_kinds(void **state)
{
	(void)state;
	struct dk_project p;
	char *df;

	/* a site template: gulp and sass in devDependencies, the built site in
	 * dist/, a start script that runs browser-sync: static, nothing installed */
	const char *d = wo_test_tmpdir();
	put(d, "package.json", "{\"scripts\": {\"start\": \"npm run build && browser-sync start --server dist\", "
			       "\"build\": \"gulp\"}, \"devDependencies\": {\"gulp\": \"^4\", \"sass\": \"^1\"}}");
	put(d, "dist/index.html", "<h1>site</h1>");
	put(d, "package-lock.json", "{}");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_STATIC);
	assert_non_null(strstr(p.why, "dist/index.html is committed, the output of package.json's build script (gulp)"));
	has_line(df, "COPY dist/ /site/");
	assert_null(strstr(df, "npm"));
	free(df);
	dk_project_release(&p);

	/* StartBootstrap's layout: bootstrap in dependencies, a start script
	 * that builds and runs browser-sync from a script, dist/ committed */
	d = wo_test_tmpdir();
	put(d, "package.json", "{\"scripts\": {\"start\": \"npm run build && node scripts/start.js\", \"build\": "
			       "\"npm run clean && npm run build:pug\"}, \"dependencies\": {\"bootstrap\": \"5.2.3\"}}");
	put(d, "dist/index.html", "<h1>grayscale</h1>");
	put(d, "scripts/start.js", "require('browser-sync')");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_STATIC);
	has_line(df, "COPY dist/ /site/");
	free(df);
	dk_project_release(&p);

	/* an Express server that serves a committed dist/: a server */
	d = wo_test_tmpdir();
	put(d, "package.json", "{\"scripts\": {\"start\": \"node app.js\", \"build\": \"vite build\"}, "
			       "\"dependencies\": {\"express\": \"^4\"}}");
	put(d, "dist/index.html", "<div id=root></div>");
	put(d, "app.js", "require('express')");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_NODE);
	free(df);
	dk_project_release(&p);

	/* a site with a root index.html and no package.json server: dev tooling
	 * only, served from the root */
	d = wo_test_tmpdir();
	put(d, "package.json", "{\"scripts\": {\"start\": \"browser-sync start --server\"}, \"devDependencies\": "
			       "{\"browser-sync\": \"^2\"}}");
	put(d, "index.html", "<h1>root</h1>");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_STATIC);
	assert_non_null(strstr(p.why, "index.html, and a package.json with no dependencies to run"));
	free(df);
	dk_project_release(&p);

	/* a Vite app: react at run time, vite to build, no server: built with
	 * npm, dist/ served as a single-page app */
	d = wo_test_tmpdir();
	put(d, "package.json", "{\"scripts\": {\"dev\": \"vite\", \"build\": \"vite build\"}, \"dependencies\": "
			       "{\"react\": \"^18\"}, \"devDependencies\": {\"vite\": \"^5\"}, \"engines\": {\"node\": \">=18\"}}");
	put(d, "index.html", "<div id=root></div>");
	put(d, "package-lock.json", "{}");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_STATIC);
	assert_non_null(strstr(p.why, "built with npm, dist/ served as a static site"));
	has_line(df, "FROM node:18-slim AS build");
	has_line(df, "RUN npm ci");
	has_line(df, "RUN npm run build");
	has_line(df, "COPY --from=build /app/dist/ /site/");
	has_line(df, "FROM nginx:alpine AS site");
	free(df);
	struct dk_buf conf = DK_BUF_INIT;
	assert_int_equal(dk_static_conf_render(&conf, &docker_test_renderer, &p, "spa"), 0);
	assert_non_null(strstr(dk_buf_cstr(&conf), "try_files $uri $uri/ /index.html;"));
	dk_buf_release(&conf);
	dk_project_release(&p);

	/* Create React App: react-scripts start is a dev server; build/ */
	d = wo_test_tmpdir();
	put(d, "package.json", "{\"scripts\": {\"start\": \"react-scripts start\", \"build\": \"react-scripts build\"}, "
			       "\"dependencies\": {\"react\": \"^18\", \"react-scripts\": \"5\"}}");
	put(d, "public/index.html", "<div id=root></div>");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_STATIC);
	has_line(df, "RUN npm install");
	has_line(df, "COPY --from=build /app/build/ /site/");
	free(df);
	dk_project_release(&p);

	/* an Express server with a build step: everything installed for the
	 * build, then the dev dependencies pruned */
	d = wo_test_tmpdir();
	put(d, "package.json", "{\"scripts\": {\"start\": \"node server.js\", \"build\": \"tsc\"}, "
			       "\"dependencies\": {\"express\": \"^4\"}}");
	put(d, "package-lock.json", "{}");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_NODE);
	has_line(df, "RUN npm ci");
	has_line(df, "RUN npm prune --omit=dev");
	free(df);
	dk_project_release(&p);

	/* nothing to start, build or serve */
	d = wo_test_tmpdir();
	put(d, "package.json", "{\"devDependencies\": {\"eslint\": \"^8\"}}");
	assert_int_equal(dk_detect(&p, d), -1);
	assert_non_null(strstr(dk_error_last(), "no start script, no main file, no build script and no index.html"));
}

static void test_go(void **state)
{
	(void)state;
	struct dk_project p;
	char *df = render_fixture("go", &p);
	assert_int_equal(p.kind, DK_KIND_GO);
	assert_string_equal(p.version, "1.21");
	has_line(df, "FROM golang:1.21 AS build");
	has_line(df, "COPY go.mod go.sum ./");
	has_line(df, "RUN CGO_ENABLED=0 go build -trimpath -o /out/app ./cmd/server");
	has_line(df, "FROM debian:bookworm-slim");
	has_line(df, "ENV PORT=8080");
	free(df);
	dk_project_release(&p);
}

static void put(const char *root, const char *rel, const char *text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	assert_int_equal(wo_fs_mkdir_p(path, 0755), 0);
	*slash = '/';
	assert_int_equal(wo_fs_write_file_atomic(path, text, strlen(text), 0644), 0);
}

static void test_static(void **state)
{
	(void)state;
	struct dk_project p;
	char *df = render_fixture("static", &p);
	assert_int_equal(p.kind, DK_KIND_STATIC);
	assert_string_equal(p.why, "index.html");
	/* the site is copied into a first stage, cleaned there, and only the
	 * clean copy reaches the image nginx serves from */
	has_line(df, "FROM nginx:alpine AS site");
	has_line(df, "COPY ./ /site/");
	has_line(df, "RUN [\"/bin/sh\", \"-c\", \"find /site -mindepth 1 -name '.*' ! -path /site/.well-known -prune "
		 "-exec rm -rf {} + && rm -f /site/Dockerfile /site/Dockerfile\"]");
	has_line(df, "FROM nginx:alpine");
	has_line(df, "COPY --from=site /site/ /srv/site/");
	has_line(df, "COPY .webops/nginx.conf /etc/webops/nginx.conf");
	has_line(df, "ENV PORT=80");
	has_line(df, "ENTRYPOINT []");
	has_line(df, "STOPSIGNAL SIGQUIT");
	assert_non_null(strstr(df, "then echo \\\"listen ${PORT};\\\" > /tmp/webops-listen.conf && exec nginx -c "
			       "/etc/webops/nginx.conf; fi;"));
	/* a base image without nginx still serves the cleaned copy, and says so */
	assert_non_null(strstr(df, "the base image has no nginx"));
	assert_non_null(strstr(df, "exec busybox httpd -f -v -p \\\"${PORT}\\\" -h /srv/site\"]"));
	no_unexpanded_port(df);
	free(df);
	dk_project_release(&p);
}

static char *render_conf(struct dk_project *p, const char *name)
{
	struct dk_buf out = DK_BUF_INIT;
	int rc = dk_static_conf_render(&out, &docker_test_renderer, p, name);
	if (rc != 0)
		print_error("render nginx.conf: %s\n", dk_error_last());
	assert_int_equal(rc, 0);
	return dk_buf_detach(&out);
}

static void test_static_conf(void **state)
{
	(void)state;
	struct dk_project p;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/static", fixtures);
	assert_int_equal(dk_detect(&p, dir), 0);
	char *conf = render_conf(&p, "site-1");
	assert_non_null(strstr(conf, "static site of site-1"));
	assert_non_null(strstr(conf, "root /srv/site;"));
	assert_non_null(strstr(conf, "include /tmp/webops-listen.conf;"));
	/* never a dotfile nor a Dockerfile, but /.well-known/ */
	assert_non_null(strstr(conf, "location ~ /\\. {\n            return 404;"));
	assert_non_null(strstr(conf, "location ~ (^|/)Dockerfile$ {\n            return 404;"));
	assert_non_null(strstr(conf, "location ^~ /.well-known/ {"));
	assert_non_null(strstr(conf, "disable_symlinks on;"));
	assert_non_null(strstr(conf, "autoindex off;"));
	/* gzip and cache headers */
	assert_non_null(strstr(conf, "gzip on;"));
	assert_non_null(strstr(conf, "text/css"));
	assert_non_null(strstr(conf, "add_header Cache-Control \"public, max-age=604800\";"));
	assert_non_null(strstr(conf, "add_header Cache-Control \"no-cache\";"));
	assert_null(strstr(conf, "error_page 404"));
	assert_null(strstr(conf, "{{"));

	/* nginx itself accepts it (when installed), with the container's paths
	 * moved into a temporary directory */
	if (access("/usr/sbin/nginx", X_OK) == 0) {
		char tmp[] = "/tmp/wo-nginx-XXXXXX";
		assert_non_null(mkdtemp(tmp));
		struct dk_buf c = DK_BUF_INIT, path = DK_BUF_INIT, listen = DK_BUF_INIT;
		for (const char *q = conf; *q;) {
			if (strncmp(q, "/tmp/webops-listen.conf", 23) == 0) {
				dk_buf_printf(&c, "%s/listen.conf", tmp);
				q += 23;
			} else if (strncmp(q, "/tmp/nginx.pid", 14) == 0) {
				dk_buf_printf(&c, "%s/nginx.pid", tmp);
				q += 14;
			} else {
				dk_buf_putc(&c, *q++);
			}
		}
		dk_buf_printf(&listen, "listen 127.0.0.1:1;\n");
		dk_buf_printf(&path, "%s/listen.conf", tmp);
		assert_int_equal(wo_fs_write_file_atomic(dk_buf_cstr(&path), listen.ptr, listen.len, 0644), 0);
		dk_buf_clear(&path);
		dk_buf_printf(&path, "%s/nginx.conf", tmp);
		assert_int_equal(wo_fs_write_file_atomic(dk_buf_cstr(&path), c.ptr, c.len, 0644), 0);
		char cmd[9000];
		snprintf(cmd, sizeof(cmd), "/usr/sbin/nginx -q -t -p '%s' -c '%s' -e '%s/error.log' 2>&1", tmp,
			 dk_buf_cstr(&path), tmp);
		FILE *f = popen(cmd, "r");
		char said[4096] = "";
		size_t n = f ? fread(said, 1, sizeof(said) - 1, f) : 0;
		said[n] = '\0';
		int st = f ? pclose(f) : -1;
		if (st != 0)
			print_error("nginx -t: %s\n", said);
		assert_int_equal(st, 0);
		dk_buf_release(&c);
		dk_buf_release(&path);
		dk_buf_release(&listen);
		assert_int_equal(wo_fs_rm_rf(tmp), 0);
	}
	free(conf);
	dk_project_release(&p);

	/* a site with its own 404 page gets it */
	char tmp[] = "/tmp/wo-static-XXXXXX";
	assert_non_null(mkdtemp(tmp));
	put(tmp, "dist/index.html", "<h1>x</h1>");
	put(tmp, "dist/404.html", "<h1>gone</h1>");
	assert_int_equal(dk_detect(&p, tmp), 0);
	conf = render_conf(&p, "site");
	assert_non_null(strstr(conf, "error_page 404 /404.html;"));
	assert_non_null(strstr(conf, "repository's dist directory"));
	free(conf);
	/* dist/: the Dockerfile copies it only */
	struct dk_buf out = DK_BUF_INIT;
	assert_int_equal(dk_dockerfile_render(&out, &docker_test_renderer, &p, &images), 0);
	has_line(dk_buf_cstr(&out), "COPY dist/ /site/");
	dk_buf_release(&out);

	/* values are escaped: anything that could end a directive, open a
	 * block, expand a variable or start a comment is refused */
	static const char *const bad[] = {"a;b", "a b", "a{b", "a}b", "a$b", "a\"b", "a'b", "a#b", "a\nb", "a\\b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wo_buf b = WO_BUF_INIT;
		assert_int_equal(wo_tpl_escape_nginx(&b, bad[i], strlen(bad[i]), NULL), -1);
		assert_non_null(strstr(wo_error_last(), "cannot go into an nginx configuration"));
		assert_int_equal(b.len, 0);
		wo_buf_release(&b);
		dk_buf_clear(&out);
		assert_int_equal(dk_static_conf_render(&out, &docker_test_renderer, &p, bad[i]), -1);
		assert_null(strstr(dk_buf_cstr(&out), bad[i]));
	}
	dk_buf_release(&out);
	struct wo_buf b = WO_BUF_INIT;
	assert_int_equal(wo_tpl_escape_nginx(&b, "site-1_a.b", 10, NULL), 0);
	assert_string_equal(wo_buf_cstr(&b), "site-1_a.b");
	wo_buf_release(&b);
	/* other kinds have no nginx.conf */
	struct dk_project other = p;
	other.kind = DK_KIND_NODE;
	assert_int_equal(dk_static_conf_render(&out, &docker_test_renderer, &other, "site"), -1);
	dk_project_release(&p);
	assert_int_equal(wo_fs_rm_rf(tmp), 0);
}

static void test_more_detection(void **state)
{
	(void)state;
	struct dk_project p;
	char *df;

	/* node: .nvmrc, package-lock, no start script but a main */
	const char *d = wo_test_tmpdir();
	put(d, "package.json", "{\"main\": \"lib/app.js\", \"engines\": {\"node\": \"lts/*\"}}");
	put(d, "lib/app.js", "");
	put(d, "package-lock.json", "{}");
	put(d, ".nvmrc", "v20.11.1\n");
	df = render_dir(d, &p);
	assert_string_equal(p.version, "20");
	assert_non_null(strstr(p.why, "from .nvmrc"));
	has_line(df, "RUN npm ci --omit=dev");
	has_line(df, "CMD [\"node\", \"lib/app.js\"]");
	free(df);
	dk_project_release(&p);

	/* a main that tries to leave the repository is not used */
	d = wo_test_tmpdir();
	put(d, "package.json", "{\"main\": \"../../etc/passwd\"}");
	put(d, "index.js", "");
	df = render_dir(d, &p);
	has_line(df, "CMD [\"node\", \"index.js\"]");
	has_line(df, "RUN npm install --omit=dev");
	free(df);
	dk_project_release(&p);

	/* go with its main package at the root */
	d = wo_test_tmpdir();
	put(d, "go.mod", "module x\n\ngo 1.22\n");
	put(d, "main.go", "// hi\npackage main\n");
	df = render_dir(d, &p);
	has_line(df, "RUN CGO_ENABLED=0 go build -trimpath -o /out/app .");
	has_line(df, "COPY go.mod ./");
	free(df);
	dk_project_release(&p);

	/* static sites in public/ and dist/ */
	d = wo_test_tmpdir();
	put(d, "dist/index.html", "x");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_STATIC);
	has_line(df, "COPY dist/ /site/");
	free(df);
	dk_project_release(&p);
	d = wo_test_tmpdir();
	put(d, "public/index.html", "x");
	put(d, "dist/index.html", "x");
	df = render_dir(d, &p);
	has_line(df, "COPY public/ /site/");
	free(df);
	dk_project_release(&p);

	/* Django without a settings module named in manage.py: found by its wsgi.py */
	d = wo_test_tmpdir();
	put(d, "manage.py", "print('hi')\n");
	put(d, "requirements.txt", "django\ngunicorn==21\n");
	put(d, "proj/wsgi.py", "");
	df = render_dir(d, &p);
	assert_int_equal(p.kind, DK_KIND_DJANGO);
	assert_non_null(strstr(df, "'proj.wsgi:application'"));
	assert_null(strstr(df, "pip install --no-cache-dir gunicorn")); /* already required */
	free(df);
	dk_project_release(&p);

	/* "django-environ" is not Django: a plain Python project */
	d = wo_test_tmpdir();
	put(d, "requirements.txt", "django-environ\n");
	put(d, "manage.py", "");
	put(d, "main.py", "");
	assert_int_equal(dk_detect(&p, d), 0);
	assert_int_equal(p.kind, DK_KIND_PYTHON);
	dk_project_release(&p);

	/* a repository-controlled WSGI_APPLICATION that would break out is refused */
	d = wo_test_tmpdir();
	put(d, "manage.py", "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'evil.settings')\n");
	put(d, "requirements.txt", "Django\n");
	put(d, "evil/settings.py", "WSGI_APPLICATION = 'x.y\"; rm -rf /; \"'\n");
	assert_int_equal(dk_detect(&p, d), -1);
	assert_non_null(strstr(dk_error_last(), "WSGI_APPLICATION"));

	/* a symlinked requirements file pointing out of the tree is not read */
	d = wo_test_tmpdir();
	char link[4200];
	snprintf(link, sizeof(link), "%s/requirements.txt", d);
	assert_int_equal(symlink("/etc/hostname", link), 0);
	put(d, "index.html", "x");
	assert_int_equal(dk_detect(&p, d), 0);
	assert_int_equal(p.kind, DK_KIND_STATIC);
	dk_project_release(&p);

	/* nothing to go on */
	d = wo_test_tmpdir();
	put(d, "README", "x");
	assert_int_equal(dk_detect(&p, d), DK_DETECT_NONE);
	assert_non_null(strstr(dk_error_last(), "commit a Dockerfile"));
}

static void test_escaper(void **state)
{
	(void)state;
	struct wo_buf b = WO_BUF_INIT;
	const char *ok = "registry.local:5000/py@sha256:ab+c=1,2%";
	assert_int_equal(wo_tpl_escape_dockerfile(&b, ok, strlen(ok), NULL), 0);
	assert_string_equal(wo_buf_cstr(&b), ok);
	static const char *const bad[] = {"a b", "a\"b", "a'b", "a$b", "a\\b", "a\nCMD x", "a`b", "a;b", "a&b",
					  "a|b", "a(b)", "a{b}", "a<b", "a\tb", "a\r"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wo_buf_clear(&b);
		assert_int_equal(wo_tpl_escape_dockerfile(&b, bad[i], strlen(bad[i]), NULL), -1);
		assert_non_null(strstr(wo_error_last(), "cannot go into a Dockerfile"));
	}
	wo_buf_release(&b);

	/* a base image setting with a space fails the render, naming the value */
	struct dk_project p;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/static", fixtures);
	assert_int_equal(dk_detect(&p, dir), 0);
	struct dk_base_images img = images;
	img.static_site = "nginx:alpine\nRUN evil";
	struct dk_buf out = DK_BUF_INIT;
	assert_int_equal(dk_dockerfile_render(&out, &docker_test_renderer, &p, &img), -1);
	assert_int_equal(out.len, 0);
	assert_non_null(strstr(dk_error_last(), "cannot go into a Dockerfile"));
	dk_buf_release(&out);
	dk_project_release(&p);

	char *s = NULL;
	assert_int_equal(dk_dockerfile_image(&s, "python:{version}-slim", "3.9", "3.12"), 0);
	assert_string_equal(s, "python:3.9-slim");
	free(s);
	assert_int_equal(dk_dockerfile_image(&s, "python:{version}-slim", "", "3.12"), 0);
	assert_string_equal(s, "python:3.12-slim");
	free(s);
	assert_int_equal(dk_dockerfile_image(&s, "local/py:latest", "3.9", "3.12"), 0);
	assert_string_equal(s, "local/py:latest");
	free(s);
}

static void test_paths(void **state)
{
	(void)state;
	struct dk_buf err = DK_BUF_INIT;
	assert_int_equal(dk_path_check_relative("Dockerfile", NULL), 0);
	assert_int_equal(dk_path_check_relative("docker/prod.Dockerfile", NULL), 0);
	assert_int_equal(dk_path_check_relative("../../etc/passwd", &err), -1);
	assert_non_null(strstr(dk_buf_cstr(&err), "no '..'"));
	assert_int_equal(dk_path_check_relative("/etc/passwd", NULL), -1);
	assert_int_equal(dk_path_check_relative("a/../b", NULL), -1);
	assert_int_equal(dk_path_check_relative("a//b", NULL), -1);
	assert_int_equal(dk_path_check_relative("a/", NULL), -1);
	assert_int_equal(dk_path_check_relative("./a", NULL), -1);
	assert_int_equal(dk_path_check_relative("", NULL), -1);
	assert_int_equal(dk_path_check_relative("a\nb", NULL), -1);
	dk_buf_release(&err);

	/* a symlink inside the repository that leaves it */
	const char *d = wo_test_tmpdir();
	char link[4200];
	snprintf(link, sizeof(link), "%s/docker", d);
	assert_int_equal(symlink("/etc", link), 0);
	assert_int_equal(dk_path_file_beneath(d, "docker/passwd"), -1);
	assert_non_null(strstr(dk_error_last(), "leaves the repository"));
	assert_int_equal(dk_path_write_beneath(d, "docker/Dockerfile", "x", 1, 0644), -1);
	snprintf(link, sizeof(link), "%s/Dockerfile", d);
	assert_int_equal(symlink("/tmp/webops-never-written", link), 0);
	assert_int_equal(dk_path_write_beneath(d, "Dockerfile", "x", 1, 0644), -1);
	assert_int_equal(access("/tmp/webops-never-written", F_OK), -1);
	/* inside is fine, parents created */
	assert_int_equal(dk_path_write_beneath(d, "a/b/Dockerfile", "FROM x\n", 7, 0644), 0);
	assert_int_equal(dk_path_file_beneath(d, "a/b/Dockerfile"), 1);
	assert_int_equal(dk_path_file_beneath(d, "a/b/none"), 0);

	/* volume roots */
	const char *roots[] = {d};
	char p[4300];
	snprintf(p, sizeof(p), "%s/a/b", d);
	assert_int_equal(dk_path_under_roots(p, roots, 1, NULL), 1);
	snprintf(p, sizeof(p), "%s/new/dir", d); /* not there yet */
	assert_int_equal(dk_path_under_roots(p, roots, 1, NULL), 1);
	snprintf(p, sizeof(p), "%s/docker/x", d); /* through the symlink to /etc */
	struct dk_buf e2 = DK_BUF_INIT;
	assert_int_equal(dk_path_under_roots(p, roots, 1, &e2), 0);
	assert_non_null(strstr(dk_buf_cstr(&e2), "resolves to '/etc/x'"));
	dk_buf_release(&e2);
	assert_int_equal(dk_path_under_roots("/etc/passwd", roots, 1, NULL), 0);
	snprintf(p, sizeof(p), "%s/../x", d);
	assert_int_equal(dk_path_under_roots(p, roots, 1, NULL), -1);
	assert_int_equal(dk_path_under_roots("/etc", NULL, 0, NULL), 0);
}

/* A base image that cannot be pulled: named, with its FROM line and (for a
 * generated Dockerfile) the setting that chose it. */
static void test_pull_failure_explained(void **state)
{
	(void)state;
	struct dk_buf b = DK_BUF_INIT;
	const char *err = "docker engine: the image build failed: Get \"https://registry-1.docker.io/v2/\": dial tcp: "
			  "lookup registry-1.docker.io: no such host";
	const char *go = "# syntax\nFROM golang:1.22 AS build\nRUN go build\nFROM --platform=linux/amd64 debian:bookworm-slim\n"
			 "COPY --from=build /app /app\nFROM build AS again\nFROM scratch\n";
	assert_int_equal(dk_pull_failure_explain(&b, err, go, "go"), 1);
	const char *s = dk_buf_cstr(&b);
	assert_non_null(strstr(s, "'golang:1.22' (Dockerfile line 2; the setting go_base_image chose it)"));
	assert_non_null(strstr(s, "'debian:bookworm-slim' (Dockerfile line 4; the setting go_runtime_image chose it)"));
	assert_null(strstr(s, "'build'"));
	assert_null(strstr(s, "'scratch'"));
	assert_non_null(strstr(s, "webops addon config docker go_base_image=IMAGE"));
	dk_buf_clear(&b);
	assert_int_equal(dk_pull_failure_explain(&b, "pull access denied for node, repository does not exist",
						 "from node:20-slim\n", NULL), 1);
	assert_non_null(strstr(dk_buf_cstr(&b), "'node:20-slim' (Dockerfile line 1)"));
	assert_non_null(strstr(dk_buf_cstr(&b), "change the FROM line"));
	dk_buf_clear(&b);
	assert_int_equal(dk_pull_failure_explain(&b, "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
						 "FROM python:3.12\n", "python"), 0);
	dk_buf_release(&b);
}

int main(void)
{
	snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/docker", WEBOPS_SOURCE_DIR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pull_failure_explained),
		cmocka_unit_test(test_flask_real_layouts),
		cmocka_unit_test(test_django_without_requirements),
		cmocka_unit_test(test_django_startproject),
		cmocka_unit_test(test_procfile),
		cmocka_unit_test(test_app_module),
		cmocka_unit_test(test_asgi_and_sqlite),
		cmocka_unit_test(test_django),  cmocka_unit_test(test_flask),  cmocka_unit_test(test_fastapi),
		cmocka_unit_test(test_python),  cmocka_unit_test(test_node), cmocka_unit_test(test_node_kinds),   cmocka_unit_test(test_go),
		cmocka_unit_test(test_static),  cmocka_unit_test(test_static_conf), cmocka_unit_test(test_more_detection),
		cmocka_unit_test(test_escaper), cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
