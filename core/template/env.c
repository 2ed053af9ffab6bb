/* The template environment: a templates directory and a name -> compiled
 * template cache (also holding templates added from memory). */
#include "template/template_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

/* Largest template file read from disk. */
#define MAX_TEMPLATE_FILE (8u << 20)

struct entry {
	char *name;
	struct wo_tpl *tpl;      /* NULL: known not to exist on disk */
	struct entry *next;
};

struct wo_tpl_env {
	char *dir;
	struct entry **bucket;
	size_t nbucket, count;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int wo_tpl_env_new(struct wo_tpl_env **out, const char *dir)
{
	struct wo_tpl_env *env = calloc(1, sizeof(*env));
	if (!env)
		return wo_error_set("out of memory");
	env->nbucket = 32;
	env->bucket = calloc(env->nbucket, sizeof(*env->bucket));
	if (dir)
		env->dir = strdup(dir);
	if (!env->bucket || (dir && !env->dir)) {
		wo_tpl_env_free(env);
		return wo_error_set("out of memory");
	}
	*out = env;
	return 0;
}

void wo_tpl_env_free(struct wo_tpl_env *env)
{
	if (!env)
		return;
	for (size_t i = 0; env->bucket && i < env->nbucket; i++) {
		struct entry *e = env->bucket[i];
		while (e) {
			struct entry *next = e->next;
			wo_tpl_free(e->tpl);
			free(e->name);
			free(e);
			e = next;
		}
	}
	free(env->bucket);
	free(env->dir);
	free(env);
}

static struct entry *find(const struct wo_tpl_env *env, const char *name)
{
	struct entry *e = env->bucket[hash(name) & (env->nbucket - 1)];
	while (e && strcmp(e->name, name) != 0)
		e = e->next;
	return e;
}

static void grow(struct wo_tpl_env *env)
{
	size_t nb = env->nbucket * 2;
	struct entry **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* keep the longer chains */
	for (size_t i = 0; i < env->nbucket; i++) {
		struct entry *e = env->bucket[i];
		while (e) {
			struct entry *next = e->next;
			size_t k = hash(e->name) & (nb - 1);
			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(env->bucket);
	env->bucket = b;
	env->nbucket = nb;
}

/* Takes ownership of tpl (may be NULL: a negative entry). */
static int put(struct wo_tpl_env *env, const char *name, struct wo_tpl *tpl)
{
	struct entry *e = find(env, name);
	if (e) {
		wo_tpl_free(e->tpl);
		e->tpl = tpl;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name))) {
		free(e);
		wo_tpl_free(tpl);
		return wo_error_set("out of memory");
	}
	e->tpl = tpl;
	size_t k = hash(name) & (env->nbucket - 1);
	e->next = env->bucket[k];
	env->bucket[k] = e;
	if (++env->count > env->nbucket)
		grow(env);
	return 0;
}

/* Relative, no "..": a name can never leave the templates directory. */
static int name_ok(const char *name)
{
	if (!name || !*name || name[0] == '/')
		return 0;
	for (const char *p = name; *p;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

int wo_tpl_env_add(struct wo_tpl_env *env, const char *name, const char *source)
{
	struct wo_tpl *tpl;
	if (!name_ok(name))
		return wo_error_set("invalid template name '%s'", name ? name : "");
	if (wo_tpl_compile(&tpl, name, source, strlen(source)) < 0)
		return -1;
	return put(env, name, tpl);
}

/* 0 and the file's contents, WO_TPL_ENOTFOUND, or -1 on a read error. */
static int load(char **data, size_t *len, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return WO_TPL_ENOTFOUND;
		return wo_error_set("cannot read template '%s': %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return WO_TPL_ENOTFOUND;
	return wo_fs_read_file(data, len, path, MAX_TEMPLATE_FILE);
}

int wo_tpl_env_get(const struct wo_tpl **out, struct wo_tpl_env *env, const char *name)
{
	if (!name_ok(name))
		return wo_error_set("invalid template name '%s'", name ? name : "");
	struct entry *e = find(env, name);
	if (e) {
		if (!e->tpl)
			goto notfound;
		*out = e->tpl;
		return 0;
	}
	if (!env->dir)
		goto notfound;

	struct wo_buf path = WO_BUF_INIT;
	char *data = NULL;
	size_t len = 0;
	int r = -1;
	if (wo_buf_printf(&path, "%s/%s.mustache", env->dir, name) == 0)
		r = load(&data, &len, path.ptr);
	if (r == WO_TPL_ENOTFOUND) {
		wo_buf_clear(&path);
		r = wo_buf_printf(&path, "%s/%s", env->dir, name) == 0 ? load(&data, &len, path.ptr) : -1;
	}
	wo_buf_release(&path);
	if (r == WO_TPL_ENOTFOUND) {
		if (put(env, name, NULL) < 0)
			return -1;
		goto notfound;
	}
	if (r < 0)
		return -1;

	struct wo_tpl *tpl;
	r = wo_tpl_compile(&tpl, name, data, len);
	free(data);
	if (r < 0)
		return -1;
	if (put(env, name, tpl) < 0)
		return -1;
	*out = tpl;
	return 0;

notfound:
	wo_error_set("template '%s' not found%s%s%s", name, env->dir ? " in '" : "",
		     env->dir ? env->dir : "", env->dir ? "'" : "");
	return WO_TPL_ENOTFOUND;
}
