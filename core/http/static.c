/* /static/{file}: the web assets (CSS, JS, images) from the web directory.
 * Names are one plain segment (no '/', no leading '.'), so nothing outside
 * the directory can be named; files are read once and kept in memory. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

#define STATIC_MAX (2 * 1024 * 1024)
#define CACHE_SLOTS 32

struct cached {
	char *name;
	char *data;
	size_t len;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached cache[CACHE_SLOTS];

static const char *type_of(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ NULL, NULL },
	};
	const char *dot = strrchr(name, '.');
	for (int i = 0; dot && types[i].ext; i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return NULL;
}

int wo_static_file(struct wo_req *req)
{
	const char *name = req->params[0];
	const char *type = type_of(name);
	if (!type || name[0] == '.' || strchr(name, '/') || strchr(name, '\\') || strlen(name) > 100)
		return wo_http_send(req, 404, "text/plain; charset=utf-8", "not found", 9);
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SLOTS && cache[i].name; i++) {
		if (!strcmp(cache[i].name, name)) {
			wo_http_add_header(req, "Cache-Control", "public, max-age=3600");
			int rc = wo_http_send(req, 200, type, cache[i].data, cache[i].len);
			pthread_mutex_unlock(&cache_lock);
			return rc;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	char *path = NULL, *data = NULL;
	size_t len = 0;
	if (asprintf(&path, "%s/%s", wo_http_config(req)->web_dir, name) < 0)
		return wo_error_set("out of memory");
	int rc = wo_fs_read_file(&data, &len, path, STATIC_MAX);
	free(path);
	if (rc < 0)
		return wo_http_send(req, 404, "text/plain; charset=utf-8", "not found", 9);
	wo_http_add_header(req, "Cache-Control", "public, max-age=3600");
	rc = wo_http_send(req, 200, type, data, len);
	pthread_mutex_lock(&cache_lock);
	int kept = 0;
	for (int i = 0; i < CACHE_SLOTS && !kept; i++) {
		if (cache[i].name && !strcmp(cache[i].name, name))
			break; /* another thread was first */
		if (!cache[i].name) {
			cache[i] = (struct cached){ strdup(name), data, len };
			kept = 1;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	if (!kept)
		free(data);
	return rc;
}
