/* Resolves the process configuration from the environment and where the
 * running program lives (build tree or installed). */
#include "config/config.h"

#include <sodium.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/banned.h"

static char exe_dir[PATH_MAX];

const char *wo_config_exe_dir(void)
{
	if (!exe_dir[0]) {
		char path[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
		if (n <= 0)
			return ".";
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		if (slash)
			*slash = '\0';
		snprintf(exe_dir, sizeof(exe_dir), "%s", path);
	}
	return exe_dir;
}

static char *env_dup(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? strdup(v) : NULL;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *joined(const char *a, const char *b)
{
	struct wo_buf buf = WO_BUF_INIT;
	wo_buf_printf(&buf, "%s/%s", a, b);
	return wo_buf_detach(&buf);
}

/* A resource directory: env override, the source tree when running from a
 * build tree, else the installed data dir. */
static char *resource_dir(const struct wo_config *cfg, const char *env, const char *sub)
{
	char *v = env_dup(env);
	if (v)
		return v;
	if (cfg->from_build_tree) {
		char *p = joined(WEBOPS_SOURCE_DIR, sub);
		if (is_dir(p))
			return p;
		free(p);
	}
	return joined(WEBOPS_INSTALL_DATADIR, sub);
}

static char *default_data_dir(void)
{
	if (geteuid() == 0)
		return strdup("/var/lib/webops");
	const char *xdg = getenv("XDG_DATA_HOME");
	if (xdg && *xdg == '/')
		return joined(xdg, "webops");
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : "/tmp";
	}
	return joined(home, ".local/share/webops");
}

int wo_config_load(struct wo_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	/* libsodium picks its implementations and seeds its generator once,
	 * here, before any thread exists */
	if (sodium_init() < 0)
		return -1;
	/* build/bin/<program> with build/CMakeCache.txt next to bin/ */
	char cache[PATH_MAX];
	snprintf(cache, sizeof(cache), "%s/../CMakeCache.txt", wo_config_exe_dir());
	cfg->from_build_tree = access(cache, F_OK) == 0;

	cfg->data_dir = env_dup("WEBOPS_DATA_DIR");
	if (!cfg->data_dir)
		cfg->data_dir = default_data_dir();
	cfg->database_url = env_dup("WEBOPS_DATABASE_URL");
	cfg->migrations_dir = resource_dir(cfg, "WEBOPS_MIGRATIONS_DIR", "migrations");
	cfg->templates_dir = resource_dir(cfg, "WEBOPS_TEMPLATES_DIR", "templates");
	cfg->web_dir = resource_dir(cfg, "WEBOPS_WEB_DIR", "web");
	cfg->addons_path = env_dup("WEBOPS_ADDONS_PATH");
	if (!cfg->addons_path) {
		if (cfg->from_build_tree) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/../addons", wo_config_exe_dir());
			char *real = realpath(p, NULL);
			cfg->addons_path = real ? real : strdup(p);
		} else {
			cfg->addons_path = strdup(WEBOPS_INSTALL_ADDONDIR);
		}
	}
	return 0;
}

void wo_config_release(struct wo_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->data_dir);
	free(cfg->database_url);
	free(cfg->migrations_dir);
	free(cfg->templates_dir);
	free(cfg->web_dir);
	free(cfg->addons_path);
	memset(cfg, 0, sizeof(*cfg));
}

void wo_config_export_env(const struct wo_config *cfg)
{
	setenv("WEBOPS_DATA_DIR", cfg->data_dir, 1);
	setenv("WEBOPS_TEMPLATES_DIR", cfg->templates_dir, 1);
	setenv("WEBOPS_WEB_DIR", cfg->web_dir, 1);
	setenv("WEBOPS_ADDONS_PATH", cfg->addons_path, 1);
	setenv("WEBOPS_MIGRATIONS_DIR", cfg->migrations_dir, 1);
}
