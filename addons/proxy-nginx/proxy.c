/* proxy-nginx: settings, the lock, files and their journal, and nginx itself
 * (test, start, reload and confirm, stop). A change is journaled before the
 * files move, so a hook killed in the middle leaves what the next change (or
 * daemon_start) puts back: the previous, known-good files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "proxy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"

#define PX_LOCK_WAIT_MS 45000
#define PX_QUIT_WAIT_MS 20000
#define PX_MAX_SITES 4096

volatile int px_sigterm;

static int fail(struct px *px, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct px *px, const char *fmt, ...)
{
	px_sb_reset(&px->err);
	va_list ap;
	va_start(ap, fmt);
	px_sb_vprintf(&px->err, fmt, ap);
	va_end(ap);
	return -1;
}

static void say(struct px *px, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct px *px, int level, const char *fmt, ...)
{
	struct px_sb b = PX_SB_INIT;
	va_list ap;
	va_start(ap, fmt);
	px_sb_vprintf(&b, fmt, ap);
	va_end(ap);
	px->host->log(px->ctx, level, "%s", px_sb_str(&b));
	px_sb_release(&b);
}

int px_cancelled(struct px *px)
{
	return !px->ignore_cancel && (px_sigterm || px->host->cancelled(px->ctx));
}

/* Runs argv through the host (no shell), its output kept in out; with
 * out_path its stdout and stderr go to that file (nginx daemonizes and keeps
 * them open) and are read back. Returns its exit status (0-255), or -1 with
 * err set when it could not run, was stopped or timed out. Putting things
 * back after a cancel (ignore_cancel) is not stopped by the cancel. */
static int px_exec_env(struct px *px, const char *const argv[], const char *const env[], const char *out_path,
		       struct px_sb *out, int timeout_ms, struct px_sb *err)
{
	struct webops_run_opts o = { .size = sizeof(o), .env = env, .timeout_ms = timeout_ms, .capture = 1,
				     .output_file = out_path, .keep_on_cancel = px->ignore_cancel };
	struct webops_run_result r;
	if (px->host->run(px->ctx, argv, &o, &r) < 0) {
		px_sb_reset(err);
		px_sb_printf(err, "%s", px->host->last_error(px->ctx));
		return -1;
	}
	px_sb_printf(out, "%.*s", (int)r.output_len, r.output);
	if (r.timed_out || r.cancelled) {
		px_sb_reset(err);
		px_sb_printf(err, "%s was stopped after %s", argv[0],
			     r.cancelled ? "the hook was cancelled" : "it took too long");
		return -1;
	}
	if (r.signal) {
		px_sb_reset(err);
		px_sb_printf(err, "%s was killed by signal %d", argv[0], r.signal);
		return -1;
	}
	return r.exit_code;
}

static int px_exec(struct px *px, const char *const argv[], const char *out_path, struct px_sb *out, int timeout_ms,
		   struct px_sb *err)
{
	return px_exec_env(px, argv, NULL, out_path, out, timeout_ms, err);
}

int px_run(struct px *px, const char *const argv[], const char *const env[], struct px_sb *out, int timeout_ms,
	   struct px_sb *err)
{
	return px_exec_env(px, argv, env, NULL, out, timeout_ms, err);
}

/* ---- settings ---- */

static const char *setting(struct px *px, const char *key)
{
	const char *v = px->host->setting(px->ctx, key);
	return v && *v ? v : NULL;
}

static int setting_int(struct px *px, const char *key, int dflt, int min, int max, int *out)
{
	const char *v = setting(px, key);
	long n = dflt;
	if (v) {
		char *end;
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < min || n > max)
			return fail(px, "setting '%s' is '%s'; expected a whole number from %d to %d", key, v, min, max);
	}
	*out = (int)n;
	return 0;
}

static int setting_path(struct px *px, const char *key, const char *dflt, const char **out)
{
	const char *v = setting(px, key);
	if (!v)
		v = dflt;
	struct px_sb what = PX_SB_INIT;
	px_sb_printf(&what, "setting %s", key);
	int rc = px_check_path(px_sb_str(&what), v, &px->err);
	px_sb_release(&what);
	if (rc < 0)
		return -1;
	*out = v;
	return 0;
}

/* Before ABI 1.2 the private nginx lived in DATA/proxy-nginx: its files
 * move into the new folder once, while that is still empty (an nginx left
 * running from there was stopped by the old webopsd's daemon_stop). */
static void px_adopt_old_dir(struct px *px)
{
	char old[PATH_MAX];
	const char *slash = strrchr(px->dir, '/');
	size_t parent = slash ? (size_t)(slash - px->dir) : 0; /* DATA/addons */
	while (parent > 0 && px->dir[parent - 1] != '/')
		parent--;
	if (parent < 2 || (size_t)snprintf(old, sizeof(old), "%.*sproxy-nginx", (int)parent, px->dir) >= sizeof(old))
		return;
	struct stat st;
	if (stat(old, &st) != 0 || !S_ISDIR(st.st_mode))
		return;
	/* rename() replaces an empty folder, and refuses a non-empty one */
	if (rename(old, px->dir) == 0)
		px->host->log(px->ctx, WEBOPS_LOG_INFO, "moved %s to %s (where addons keep their files now)", old,
			      px->dir);
}

int px_load(struct px *px, const struct webops_host *host, struct webops_hook_ctx *ctx)
{
	memset(px, 0, sizeof(*px));
	px->host = host;
	px->ctx = ctx;
	px->lock_fd = -1;
	const char *mode = setting(px, "mode");
	if (mode && strcmp(mode, "private") != 0 && strcmp(mode, "host") != 0)
		return fail(px, "setting 'mode' is '%s'; expected private or host", mode);
	px->host_mode = mode && !strcmp(mode, "host");

	const char *dir = setting(px, "data_dir");
	if (dir) {
		snprintf(px->dir, sizeof(px->dir), "%s", dir);
	} else {
		/* the folder webops gives this addon: DATA/addons/proxy-nginx */
		const char *data = host->data_dir(ctx);
		if (!data)
			return fail(px, "no data directory: %s", host->last_error(ctx));
		if ((size_t)snprintf(px->dir, sizeof(px->dir), "%s", data) >= sizeof(px->dir))
			return fail(px, "data directory '%s' is too long", data);
		px_adopt_old_dir(px);
	}
	size_t dl = strlen(px->dir);
	while (dl > 1 && px->dir[dl - 1] == '/')
		px->dir[--dl] = '\0';
	if (px_check_path("data directory", px->dir, &px->err) < 0)
		return -1;

	if (setting_path(px, "nginx_binary", "/usr/sbin/nginx", &px->nginx) < 0)
		return -1;
	if (access(px->nginx, X_OK) != 0)
		return fail(px, "cannot run nginx '%s': %s (install nginx, or set nginx_binary)", px->nginx,
		            strerror(errno));

	px->site.listen_address = setting(px, "listen_address");
	if (!px->site.listen_address)
		px->site.listen_address = "0.0.0.0";
	if (px_check_address(px->site.listen_address, &px->err) < 0)
		return -1;
	if (setting_int(px, "http_port", 80, 1, 65535, &px->site.http_port) < 0 ||
	    setting_int(px, "https_port", 443, 1, 65535, &px->site.https_port) < 0 ||
	    setting_int(px, "acme_challenge_port", 8402, 1, 65535, &px->site.acme_port) < 0 ||
	    setting_int(px, "acme_renew_days", 30, 1, 89, &px->acme_renew_days) < 0 ||
	    setting_int(px, "acme_retry_minutes", 360, 1, 10080, &px->acme_retry_minutes) < 0 ||
	    setting_int(px, "connect_timeout_s", 5, 1, 600, &px->site.connect_timeout_s) < 0 ||
	    setting_int(px, "read_timeout_s", 60, 1, 86400, &px->site.read_timeout_s) < 0 ||
	    setting_int(px, "keepalive_timeout_s", 65, 0, 3600, &px->site.keepalive_timeout_s) < 0 ||
	    setting_int(px, "reload_timeout_ms", 10000, 500, 60000, &px->reload_timeout_ms) < 0)
		return -1;
	if (setting_path(px, "acme_client", "/usr/bin/lego", &px->acme_client) < 0)
		return -1;
	const char *staging = setting(px, "acme_staging");
	px->acme_directory = staging && (!strcmp(staging, "true") || !strcmp(staging, "1"))
				     ? "https://acme-staging-v02.api.letsencrypt.org/directory"
				     : setting(px, "acme_directory");
	if (!px->acme_directory || !*px->acme_directory)
		px->acme_directory = "https://acme-v02.api.letsencrypt.org/directory";
	if (strncmp(px->acme_directory, "https://", 8) != 0 || strpbrk(px->acme_directory, " \t\n\r"))
		return fail(px, "setting 'acme_directory' is '%s'; expected an https:// URL", px->acme_directory);
	px->ui_domain = setting(px, "ui_domain");
	if (px->ui_domain && !*px->ui_domain)
		px->ui_domain = NULL;
	if (px->ui_domain && px_check_domain(px->ui_domain, &px->err) < 0) {
		char why[400];
		snprintf(why, sizeof(why), "%s", px_sb_str(&px->err));
		return fail(px, "setting 'ui_domain': %s", why);
	}
	px->acme_email = setting(px, "acme_email");
	if (px->acme_email && !*px->acme_email)
		px->acme_email = NULL;
	if (px->acme_email && (strpbrk(px->acme_email, " \t\n\r") || !strchr(px->acme_email, '@') ||
			       px->acme_email[0] == '-'))
		return fail(px, "setting 'acme_email' is '%s'; expected an e-mail address", px->acme_email);
	px->acme_ca_bundle = setting(px, "acme_ca_bundle");
	if (px->acme_ca_bundle && !*px->acme_ca_bundle)
		px->acme_ca_bundle = NULL;
	if (px->acme_ca_bundle && px_check_path("acme_ca_bundle", px->acme_ca_bundle, &px->err) < 0)
		return -1;
	px->site.client_max_body_size = setting(px, "client_max_body_size");
	if (!px->site.client_max_body_size)
		px->site.client_max_body_size = "16m";
	if (px_check_size(px->site.client_max_body_size, &px->err) < 0)
		return -1;
	/* in the host's nginx, who is the default server of a port is the host's business */
	px->site.default_server = !px->host_mode;

	px->worker_processes = setting(px, "worker_processes");
	if (!px->worker_processes)
		px->worker_processes = "auto";
	size_t wn = strlen(px->worker_processes);
	if (strcmp(px->worker_processes, "auto") != 0 &&
	    (wn > 3 || strspn(px->worker_processes, "0123456789") != wn || px->worker_processes[0] == '0'))
		return fail(px, "setting 'worker_processes' is '%s'; expected auto or a number", px->worker_processes);
	const char *al = setting(px, "access_log");
	px->access_log = al && (!strcmp(al, "true") || !strcmp(al, "1") || !strcmp(al, "yes") || !strcmp(al, "on"));

	px->user = NULL;
	if (!px->host_mode && geteuid() == 0) {
		const char *u = setting(px, "user");
		if (!u)
			u = "www-data";
		size_t un = strlen(u);
		if (un > 32 || strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789_-") != un || u[0] == '-' ||
		    (u[0] >= '0' && u[0] <= '9'))
			return fail(px, "setting 'user' is '%s'; expected a user name", u);
		if (!getpwnam(u)) {
			if (strcmp(u, "www-data") != 0 || !getpwnam("nobody"))
				return fail(px, "setting 'user': there is no user '%s' on this host for nginx's workers", u);
			u = "nobody";
		}
		px->user = u;
	}
	if (px->host_mode) {
		if (setting_path(px, "include_dir", "/etc/nginx/conf.d", &px->include_dir) < 0 ||
		    setting_path(px, "config_file", "/etc/nginx/nginx.conf", &px->config_file) < 0 ||
		    setting_path(px, "pid_file", "/run/nginx.pid", &px->pid_file) < 0 ||
		    setting_path(px, "error_log", "/var/log/nginx/error.log", &px->error_log) < 0)
			return -1;
	}
	return 0;
}

void px_release(struct px *px)
{
	if (!px)
		return;
	if (px->lock_fd >= 0)
		close(px->lock_fd);
	px->lock_fd = -1;
	px_sb_release(&px->err);
}

/* ---- files ---- */

/* snprintf into a PATH_MAX buffer. Paths are short (the data directory is
 * checked to be under 3000 characters, names under 64), so it never cuts;
 * a wrapper keeps the compiler from guessing otherwise. */
static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void path_of(char *out, const struct px *px, const char *fmt, const char *arg)
{
	char rel[PATH_MAX];
	pathf(rel, fmt, arg ? arg : "");
	pathf(out, "%s/%s", px->dir, rel);
}

/* 0 and *out, 1 when the file does not exist, -1 on error */
static int read_text(const char *path, char **out)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	struct px_sb b = PX_SB_INIT;
	char buf[8192];
	ssize_t n;
	size_t total = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		px_sb_printf(&b, "%.*s", (int)n, buf);
		total += (size_t)n;
		if (total > 4 * 1024 * 1024) {
			n = -1;
			errno = EFBIG;
			break;
		}
	}
	int e = errno;
	close(fd);
	if (n < 0 || b.oom) {
		px_sb_release(&b);
		errno = n < 0 ? e : ENOMEM;
		return -1;
	}
	*out = b.ptr ? b.ptr : strdup("");
	return *out ? 0 : -1;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return -1;
	return 0;
}

/* DIR/.BASE.tmp written, then renamed over path: a reader sees the old or the new file */
static int write_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash || (size_t)snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmp", (int)(slash - path), path, slash + 1) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (write_text(tmp, text, 0644) < 0)
		return -1;
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void site_path(char *out, const struct px *px, const char *name)
{
	if (px->host_mode)
		pathf(out, "%s/webops-%s.conf", px->include_dir, name);
	else
		path_of(out, px, "sites/%s.conf", name);
}

int px_site_read(struct px *px, const char *name, char **out)
{
	char path[PATH_MAX];
	site_path(path, px, name);
	int rc = read_text(path, out);
	if (rc < 0)
		return fail(px, "cannot read '%s': %s", path, strerror(errno));
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the deployments with a file in DIR/sites, sorted as nginx's
 * include glob sorts them. */
static int list_sites(struct px *px, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char dir[PATH_MAX];
	/* host mode: include_dir/webops-NAME.conf */
	const char *prefix = px->host_mode ? "webops-" : "";
	size_t pl = strlen(prefix);
	if (px->host_mode)
		pathf(dir, "%s", px->include_dir);
	else
		path_of(dir, px, "sites", NULL);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : fail(px, "cannot list '%s': %s", dir, strerror(errno));
	char **v = calloc(PX_MAX_SITES, sizeof(*v));
	size_t len = 0;
	struct dirent *e;
	struct px_sb ignored = PX_SB_INIT;
	while (v && (e = readdir(d)) && len < PX_MAX_SITES) {
		size_t l = strlen(e->d_name);
		if (l <= 5 + pl || strcmp(e->d_name + l - 5, ".conf") != 0 || strncmp(e->d_name, prefix, pl) != 0)
			continue;
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(l - 5 - pl), e->d_name + pl);
		if (px_check_name(name, &ignored) < 0)
			continue;
		v[len] = strdup(name);
		if (v[len])
			len++;
	}
	px_sb_release(&ignored);
	closedir(d);
	if (!v)
		return fail(px, "out of memory");
	qsort(v, len, sizeof(*v), cmp_str);
	*out = v;
	*n = len;
	return 0;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int px_sites(struct px *px, char ***names, size_t *n)
{
	return list_sites(px, names, n);
}

void px_sites_free(char **names, size_t n)
{
	free_list(names, n);
}

/* ---- the journal: what to put back when a change does not go through ---- */

static void journal_paths(const struct px *px, const char *key, char *prev, char *none)
{
	pathf(prev, "%s/journal/%s.prev", px->dir, key);
	pathf(none, "%s/journal/%s.none", px->dir, key);
}

/* Keeps target's present content (or that there is none) before it changes. */
static int journal_begin(struct px *px, const char *key, const char *target)
{
	char prev[PATH_MAX], none[PATH_MAX], *old = NULL;
	journal_paths(px, key, prev, none);
	int rc = read_text(target, &old);
	if (rc < 0)
		return fail(px, "cannot read '%s': %s", target, strerror(errno));
	if (rc == 0 ? write_text(prev, old, 0600) < 0 : write_text(none, "", 0600) < 0) {
		int e = errno;
		free(old);
		return fail(px, "cannot write the journal under '%s/journal': %s", px->dir, strerror(e));
	}
	free(old);
	return 0;
}

static void journal_end(struct px *px, const char *key)
{
	char prev[PATH_MAX], none[PATH_MAX];
	journal_paths(px, key, prev, none);
	unlink(prev);
	unlink(none);
}

/* Puts target back as the journal has it; 1 when it did, 0 when there was no entry. */
static int journal_restore(struct px *px, const char *key, const char *target)
{
	char prev[PATH_MAX], none[PATH_MAX], *old = NULL;
	journal_paths(px, key, prev, none);
	if (read_text(prev, &old) == 0) {
		int rc = write_atomic(target, old);
		free(old);
		if (rc < 0)
			return fail(px, "cannot put back '%s': %s", target, strerror(errno));
	} else if (access(none, F_OK) == 0) {
		if (unlink(target) < 0 && errno != ENOENT)
			return fail(px, "cannot remove '%s': %s", target, strerror(errno));
	} else {
		return 0;
	}
	journal_end(px, key);
	return 1;
}

/* Journal keys: "main", "site-NAME" (private mode), "host-NAME" (host
 * mode); a key of the other mode is left alone (its file is not ours now). */
static void site_key(char *out, size_t size, const struct px *px, const char *name)
{
	snprintf(out, size, "%s-%s", px->host_mode ? "host" : "site", name);
}

static int key_target(const struct px *px, const char *key, char *target)
{
	if (!strcmp(key, "main") && !px->host_mode)
		path_of(target, px, "nginx.conf", NULL);
	else if (!strncmp(key, px->host_mode ? "host-" : "site-", 5))
		site_path(target, px, key + 5);
	else
		return -1;
	return 0;
}

/* After a hook was killed mid-change: every journaled file goes back.
 * Returns how many did, or -1. */
static int journal_recover(struct px *px)
{
	char dir[PATH_MAX];
	path_of(dir, px, "journal", NULL);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	char keys[64][128];
	size_t nkeys = 0;
	struct dirent *e;
	struct px_sb ignored = PX_SB_INIT;
	while ((e = readdir(d)) && nkeys < 64) {
		size_t l = strlen(e->d_name);
		if (l < 6 || l >= 128 || (strcmp(e->d_name + l - 5, ".prev") && strcmp(e->d_name + l - 5, ".none")))
			continue;
		char key[128];
		snprintf(key, sizeof(key), "%.*s", (int)(l - 5), e->d_name);
		if (strcmp(key, "main") != 0 && px_check_name(key + 5, &ignored) < 0)
			continue;
		snprintf(keys[nkeys++], sizeof(keys[0]), "%s", key);
	}
	px_sb_release(&ignored);
	closedir(d);
	int n = 0;
	for (size_t i = 0; i < nkeys; i++) {
		char target[PATH_MAX];
		if (key_target(px, keys[i], target) < 0)
			continue;
		int rc = journal_restore(px, keys[i], target);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			say(px, WEBOPS_LOG_WARN, "a change was interrupted: put back the previous '%s'", target);
			n++;
		}
	}
	return n;
}

/* ---- the lock ---- */

static int lock(struct px *px)
{
	char path[PATH_MAX];
	/* host mode keeps only the lock and the journal here */
	const char *subs[] = {"", "/journal", "/sites", "/logs", "/tmp", "/daemons"};
	for (size_t i = 0; i < (px->host_mode ? 2 : sizeof(subs) / sizeof(subs[0])); i++) {
		pathf(path, "%s%s", px->dir, subs[i]);
		if (mkdir_p(path, !strcmp(subs[i], "/journal") ? 0700 : 0755) < 0)
			return fail(px, "cannot create '%s': %s", path, strerror(errno));
	}
	path_of(path, px, "lock", NULL);
	px->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (px->lock_fd < 0)
		return fail(px, "cannot open '%s': %s", path, strerror(errno));
	long long until = px_now_ms() + PX_LOCK_WAIT_MS;
	int said = 0;
	while (flock(px->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;
			close(px->lock_fd);
			px->lock_fd = -1;
			return fail(px, "cannot lock '%s': %s", path, strerror(e));
		}
		if (px_cancelled(px) || px_now_ms() > until) {
			close(px->lock_fd);
			px->lock_fd = -1;
			if (px_cancelled(px))
				return fail(px, "cancelled while waiting for another nginx change to end");
			return fail(px, "another nginx change held '%s' for more than %d s", path, PX_LOCK_WAIT_MS / 1000);
		}
		if (!said++)
			say(px, WEBOPS_LOG_INFO, "waiting for another nginx change to end");
		px_sleep_ms(50);
	}
	return 0;
}

static void unlock(struct px *px)
{
	if (px->lock_fd >= 0)
		close(px->lock_fd);
	px->lock_fd = -1;
}

/* ---- nginx's words ---- */

/* Collects the [emerg], [alert] and [crit] messages of nginx output or log
 * text into out ("; "-separated, each once), from pid only when pid > 0.
 * *final is set when one means a reload was given up: anything but a failed
 * bind() (which nginx retries for 2.5 s), or "still could not bind()". */
static void nginx_messages(struct px_sb *out, const char *text, pid_t pid, int *final)
{
	const char *levels[] = {"[emerg] ", "[alert] ", "[crit] "};
	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		for (size_t i = 0; i < 3; i++) {
			const char *lv = memmem(line, len, levels[i], strlen(levels[i]));
			if (!lv)
				continue;
			const char *msg = lv + strlen(levels[i]);
			/* log lines: "PID#TID: message" */
			size_t digits = strspn(msg, "0123456789");
			if (digits && msg[digits] == '#') {
				if (pid > 0 && strtol(msg, NULL, 10) != (long)pid)
					break;
				const char *colon = memmem(msg, len - (size_t)(msg - line), ": ", 2);
				if (colon)
					msg = colon + 2;
			} else if (pid > 0) {
				break;
			}
			size_t mlen = len - (size_t)(msg - line);
			/* a client's *N connection number is noise for what we say */
			char one[1024];
			snprintf(one, sizeof(one), "%.*s", (int)(mlen < sizeof(one) ? mlen : sizeof(one) - 1), msg);
			if (final && i == 0 && (!strstr(one, "bind() to ") || strstr(one, "still could not bind()")))
				*final = 1;
			if (!strstr(px_sb_str(out), one))
				px_sb_printf(out, "%s%s", out->len ? "; " : "", one);
			break;
		}
		line = eol ? eol + 1 : NULL;
	}
}

static off_t file_size(const char *path)
{
	struct stat st;
	return path && stat(path, &st) == 0 ? st.st_size : -1;
}

static char *read_from(const char *path, off_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < off)
		off = 0; /* rotated */
	if (st.st_size - off > 262144)
		off = st.st_size - 262144;
	size_t len = (size_t)(st.st_size - off);
	char *buf = malloc(len + 1);
	ssize_t n = buf ? pread(fd, buf, len, off) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- nginx: test, running, reload, start ---- */

static int nginx_test(struct px *px, const char *conf, const char *prefix)
{
	const char *argv[] = {px->nginx, "-t", "-q", "-c", conf, prefix ? "-p" : NULL, prefix, NULL};
	struct px_sb out = PX_SB_INIT, run_err = PX_SB_INIT;
	int rc = px_exec(px, argv, NULL, &out, 30000, &run_err);
	if (rc == 0) {
		px_sb_release(&out);
		px_sb_release(&run_err);
		return 0;
	}
	struct px_sb msg = PX_SB_INIT;
	nginx_messages(&msg, px_sb_str(&out), 0, NULL);
	if (rc < 0)
		fail(px, "nginx -t did not finish: %s", px_sb_str(&run_err));
	else if (msg.len)
		fail(px, "nginx -t refused the new configuration: %s", px_sb_str(&msg));
	else
		fail(px, "nginx -t refused the new configuration (exit %d): %s", rc, px_sb_str(&out));
	px_sb_release(&msg);
	px_sb_release(&out);
	px_sb_release(&run_err);
	return -1;
}

static pid_t private_master(struct px *px);
static pid_t host_master(struct px *px);

pid_t px_master_pid(struct px *px)
{
	pid_t m = px->host_mode ? host_master(px) : private_master(px);
	return m > 0 ? m : 0;
}

static pid_t private_master(struct px *px)
{
	char pidf[PATH_MAX], conf[PATH_MAX];
	path_of(pidf, px, "nginx.pid", NULL);
	path_of(conf, px, "nginx.conf", NULL);
	pid_t pid = px_pidfile_read(pidf);
	return pid && px_is_master(pid, conf) ? pid : 0;
}

static pid_t host_master(struct px *px)
{
	pid_t pid = px_pidfile_read(px->pid_file);
	return pid && px_is_master(pid, NULL) ? pid : 0;
}

static int has_child(const struct px_child *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == pid)
			return 1;
	return 0;
}

/* SIGHUP, then waits until new workers accept and every old one stopped
 * accepting (old ones finish their requests on their own): an old worker
 * counts as stopped once it holds no listening socket, not when it renames
 * itself "shutting down" (it does that just before closing them). Between
 * the signal and then, new connections may reach either generation.
 * *sent tells whether nginx got the signal; *rejected whether it said no. */
static int reload(struct px *px, pid_t master, const char *log, int *sent, int *rejected)
{
	*sent = *rejected = 0;
	struct px_child *old = NULL, *now = NULL;
	size_t nold = 0, nnow = 0;
	if (px_children(&old, &nold, master) < 0)
		return fail(px, "cannot list nginx's worker processes: %s", strerror(errno));
	off_t off = file_size(log);
	long long t0 = px_now_ms();
	px->reload_sent_at = px_wall_ms();
	if (kill(master, SIGHUP) < 0) {
		int e = errno;
		free(old);
		return fail(px, "cannot signal nginx (pid %ld) to reload: %s", (long)master, strerror(e));
	}
	*sent = 1;
	int rc = -1;
	for (;;) {
		px_sleep_ms(10);
		long long elapsed = px_now_ms() - t0;
		if (!px_is_master(master, NULL)) {
			fail(px, "nginx (pid %ld) exited during the reload", (long)master);
			break;
		}
		if (px_children(&now, &nnow, master) < 0) {
			fail(px, "cannot list nginx's worker processes: %s", strerror(errno));
			break;
		}
		size_t fresh = 0, stale = 0;
		for (size_t i = 0; i < nnow; i++) {
			if (!now[i].worker)
				continue;
			if (has_child(old, nold, now[i].pid)) {
				/* unreadable descriptors (another user's workers, webopsd
				 * not root): the title is all there is to go by */
				if (now[i].accepting || px_holds_listener(now[i].pid) > 0)
					stale++;
			} else if (now[i].accepting) {
				fresh++;
			}
		}
		free(now);
		now = NULL;
		if (fresh && !stale) {
			px->switch_ms = (int)(px_now_ms() - t0);
			px->switched_at = px_wall_ms();
			rc = 0;
			break;
		}
		int final = 0;
		struct px_sb msg = PX_SB_INIT;
		if (off >= 0) {
			char *text = read_from(log, off);
			nginx_messages(&msg, text, master, &final);
			free(text);
		}
		if (final) {
			*rejected = 1;
			fail(px, "nginx did not apply the new configuration: %s", px_sb_str(&msg));
			px_sb_release(&msg);
			break;
		}
		if (px_cancelled(px) || elapsed > px->reload_timeout_ms) {
			fail(px, "%s (pid %ld) took over the new configuration%s%s%s",
			     px_cancelled(px) ? "cancelled before nginx" : "no new nginx worker", (long)master,
			     px_cancelled(px) ? "" : " within the reload timeout", msg.len ? ": " : "", px_sb_str(&msg));
			if (!px_cancelled(px) && off < 0 && log)
				px_sb_printf(&px->err, " (see nginx's error log %s)", log);
			px_sb_release(&msg);
			break;
		}
		px_sb_release(&msg);
	}
	free(old);
	return rc;
}

/* nginx -c DIR/nginx.conf -p DIR/: daemonizes itself (setsid), so it
 * outlives the hook's process group; confirmed by its pid file and a worker. */
static int start_private(struct px *px)
{
	char conf[PATH_MAX], prefix[PATH_MAX], out_path[PATH_MAX], pidf[PATH_MAX];
	path_of(conf, px, "nginx.conf", NULL);
	path_of(prefix, px, "", NULL);
	path_of(out_path, px, "logs/start.log", NULL);
	path_of(pidf, px, "nginx.pid", NULL);
	pid_t stale = px_pidfile_read(pidf);
	if (stale && !px_is_master(stale, conf))
		unlink(pidf);
	const char *argv[] = {px->nginx, "-c", conf, "-p", prefix, NULL};
	struct px_sb out = PX_SB_INIT, run_err = PX_SB_INIT;
	long long t0 = px_now_ms();
	px->reload_sent_at = px_wall_ms();
	int rc = px_exec(px, argv, out_path, &out, 30000, &run_err);
	if (rc != 0) {
		struct px_sb msg = PX_SB_INIT;
		nginx_messages(&msg, px_sb_str(&out), 0, NULL);
		if (rc < 0)
			fail(px, "nginx did not start: %s", px_sb_str(&run_err));
		else
			fail(px, "nginx did not start: %s", msg.len ? px_sb_str(&msg) : px_sb_str(&out));
		px_sb_release(&msg);
		px_sb_release(&out);
		px_sb_release(&run_err);
		return -1;
	}
	px_sb_release(&out);
	px_sb_release(&run_err);
	for (;;) {
		pid_t pid = px_pidfile_read(pidf);
		if (pid && px_is_master(pid, conf)) {
			struct px_child *kids = NULL;
			size_t n = 0, accepting = 0;
			if (px_children(&kids, &n, pid) == 0) {
				for (size_t i = 0; i < n; i++)
					accepting += kids[i].accepting;
				free(kids);
			}
			if (accepting) {
				px->master = pid;
				px->started = 1;
				px->switch_ms = (int)(px_now_ms() - t0);
				px->switched_at = px_wall_ms();
				return 0;
			}
		}
		if (px_cancelled(px))
			return fail(px, "cancelled while nginx was starting");
		if (px_now_ms() - t0 > px->reload_timeout_ms)
			return fail(px, "nginx did not come up within %d ms (see %s/logs/error.log)", px->reload_timeout_ms,
			            px->dir);
		px_sleep_ms(10);
	}
}

/* Can uid/gid traverse every folder down to path? (the workers' temp files) */
static int reachable(const char *path, uid_t uid, gid_t gid)
{
	char p[PATH_MAX];
	pathf(p, "%s", path);
	for (;;) {
		struct stat st;
		if (stat(p, &st) < 0)
			return 0;
		mode_t need = st.st_uid == uid ? S_IXUSR : st.st_gid == gid ? S_IXGRP : S_IXOTH;
		if (!(st.st_mode & need))
			return 0;
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	return 1;
}

static int render_main(struct px *px, struct px_sb *out, int default_http, const char *const *includes, size_t n)
{
	char tmp[PATH_MAX];
	path_of(tmp, px, "tmp", NULL);
	int to_disk = 1;
	if (px->user) {
		struct passwd *pw = getpwnam(px->user);
		to_disk = pw && reachable(tmp, pw->pw_uid, pw->pw_gid);
	}
	struct px_main_opts o = {
		.dir = px->dir,
		.user = px->user,
		.worker_processes = px->worker_processes,
		.access_log = px->access_log,
		.buffer_to_disk = to_disk,
		.listen_address = px->site.listen_address,
		.default_http = default_http,
		.http_port = px->site.http_port,
		.includes = includes,
		.nincludes = n,
	};
	if (px_main_render(out, &o) < 0)
		return fail(px, "out of memory");
	return 0;
}

/* ---- applying a change ---- */

static int apply_private(struct px *px, const char *name, const char *content, int recovered)
{
	char site[PATH_MAX], site_new[PATH_MAX], main_path[PATH_MAX], main_new[PATH_MAX], test_path[PATH_MAX],
		prefix[PATH_MAX], key[128], errlog[PATH_MAX];
	path_of(main_path, px, "nginx.conf", NULL);
	path_of(main_new, px, "nginx.conf.new", NULL);
	path_of(test_path, px, "nginx.test.conf", NULL);
	path_of(prefix, px, "", NULL);
	path_of(errlog, px, "logs/error.log", NULL);
	site[0] = site_new[0] = '\0';
	if (name) {
		site_path(site, px, name);
		path_of(site_new, px, "sites/%s.conf.new", name);
		site_key(key, sizeof(key), px, name);
	}
	char *old = NULL, *main_old = NULL, **names = NULL;
	const char **includes = NULL;
	size_t nnames = 0, ninc = 0;
	struct px_sb main_text = PX_SB_INIT, test_text = PX_SB_INIT;
	int rc = -1, site_changed = 0, main_changed = 0, journaled_site = 0, journaled_main = 0;

	if (name && px_site_read(px, name, &old) < 0)
		goto out;
	if (list_sites(px, &names, &nnames) < 0)
		goto out;
	/* what the sites need of the main file, after the change */
	int any_domain = 0, port_on_http = 0;
	includes = calloc(nnames + 1, sizeof(*includes));
	char **inc_paths = calloc(nnames + 1, sizeof(*inc_paths));
	if (!includes || !inc_paths) {
		free(inc_paths);
		fail(px, "out of memory");
		goto out;
	}
	int placed = 0;
	for (size_t i = 0; i <= nnames; i++) {
		const char *n = i < nnames ? names[i] : NULL;
		/* NAME goes where the sorted glob puts it */
		if (name && content && !placed && (!n || strcmp(name, n) <= 0)) {
			placed = 1;
			struct px_meta m;
			px_site_meta(&m, content);
			any_domain |= m.kind == 'd';
			port_on_http |= m.kind == 'p' && m.port == px->site.http_port;
			inc_paths[ninc] = strdup(site_new);
			includes[ninc] = inc_paths[ninc];
			ninc++;
		}
		if (!n || (name && !strcmp(n, name)))
			continue;
		char p[PATH_MAX], *text = NULL;
		site_path(p, px, n);
		if (read_text(p, &text) == 0) {
			struct px_meta m;
			px_site_meta(&m, text);
			any_domain |= m.kind == 'd';
			port_on_http |= m.kind == 'p' && m.port == px->site.http_port;
		}
		free(text);
		inc_paths[ninc] = strdup(p);
		includes[ninc] = inc_paths[ninc];
		ninc++;
	}
	int default_http = any_domain && !port_on_http;
	if (render_main(px, &main_text, default_http, NULL, 0) < 0 ||
	    render_main(px, &test_text, default_http, includes, ninc) < 0)
		goto out_inc;
	if (read_text(main_path, &main_old) < 0) {
		fail(px, "cannot read '%s': %s", main_path, strerror(errno));
		goto out_inc;
	}
	site_changed = name && !same(old, content);
	main_changed = !same(main_old, px_sb_str(&main_text));
	pid_t master = private_master(px);
	px->master = master;
	if (!site_changed && !main_changed && !recovered && (master || (name && !content))) {
		rc = 1;
		goto out_inc;
	}
	if (!master && name && !content) {
		/* nothing runs: removing the file is all there is to do */
		if (unlink(site) < 0 && errno != ENOENT) {
			fail(px, "cannot remove '%s': %s", site, strerror(errno));
			goto out_inc;
		}
		if (main_changed && write_atomic(main_path, px_sb_str(&main_text)) < 0) {
			fail(px, "cannot write '%s': %s", main_path, strerror(errno));
			goto out_inc;
		}
		rc = 0;
		goto out_inc;
	}

	/* stage and test (the test includes NAME's .new file, also when its
	 * content is what is in place already) */
	if (name && content && write_text(site_new, content, 0600) < 0) {
		fail(px, "cannot write '%s': %s", site_new, strerror(errno));
		goto out_staged;
	}
	if (main_changed && write_text(main_new, px_sb_str(&main_text), 0644) < 0) {
		fail(px, "cannot write '%s': %s", main_new, strerror(errno));
		goto out_staged;
	}
	if (write_text(test_path, px_sb_str(&test_text), 0644) < 0) {
		fail(px, "cannot write '%s': %s", test_path, strerror(errno));
		goto out_staged;
	}
	if (nginx_test(px, test_path, prefix) < 0)
		goto out_staged;

	/* put in place, journaled */
	if (site_changed) {
		if (journal_begin(px, key, site) < 0)
			goto out_staged;
		journaled_site = 1;
		if (content ? rename(site_new, site) < 0 : (unlink(site) < 0 && errno != ENOENT)) {
			fail(px, "cannot put '%s' in place: %s", site, strerror(errno));
			goto out_restore;
		}
	}
	if (main_changed) {
		if (journal_begin(px, "main", main_path) < 0)
			goto out_restore;
		journaled_main = 1;
		if (rename(main_new, main_path) < 0) {
			fail(px, "cannot put '%s' in place: %s", main_path, strerror(errno));
			goto out_restore;
		}
	}

	/* activate */
	if (master) {
		int sent, rejected;
		if (reload(px, master, errlog, &sent, &rejected) < 0) {
			if (sent && !rejected) {
				/* nginx may take the new files late: give it the old ones again */
				if (journaled_site)
					journal_restore(px, key, site);
				if (journaled_main)
					journal_restore(px, "main", main_path);
				journaled_site = journaled_main = 0;
				kill(master, SIGHUP);
			}
			goto out_restore;
		}
	} else if (start_private(px) < 0) {
		goto out_restore;
	}
	if (journaled_site)
		journal_end(px, key);
	if (journaled_main)
		journal_end(px, "main");
	journaled_site = journaled_main = 0;
	rc = 0;
	goto out_staged;

out_restore:
	{
		struct px_sb keep = PX_SB_INIT;
		px_sb_puts(&keep, px_sb_str(&px->err));
		if (journaled_site && journal_restore(px, key, site) < 0)
			say(px, WEBOPS_LOG_ERROR, "%s", px_sb_str(&px->err));
		if (journaled_main && journal_restore(px, "main", main_path) < 0)
			say(px, WEBOPS_LOG_ERROR, "%s", px_sb_str(&px->err));
		px_sb_reset(&px->err);
		px_sb_puts(&px->err, px_sb_str(&keep));
		px_sb_release(&keep);
	}
out_staged:
	if (site_new[0])
		unlink(site_new);
	unlink(main_new);
out_inc:
	for (size_t i = 0; i < ninc; i++)
		free(inc_paths[i]);
	free(inc_paths);
out:
	free(includes);
	free_list(names, nnames);
	free(old);
	free(main_old);
	px_sb_release(&main_text);
	px_sb_release(&test_text);
	return rc;
}

static int apply_host(struct px *px, const char *name, const char *content, int recovered)
{
	char site[PATH_MAX], tmp[PATH_MAX], key[128];
	site_path(site, px, name);
	pathf(tmp, "%s/.webops-%s.conf.tmp", px->include_dir, name);
	site_key(key, sizeof(key), px, name);
	char *old = NULL;
	int rc = -1, journaled = 0;
	if (px_site_read(px, name, &old) < 0)
		return -1;
	pid_t master = host_master(px);
	px->master = master;
	if (same(old, content) && !recovered) {
		free(old);
		if (content && !master)
			return fail(px, "the host's nginx is not running (no live nginx master in '%s')", px->pid_file);
		return 1;
	}
	free(old);
	if (!master) {
		if (content)
			return fail(px, "the host's nginx is not running (no live nginx master in '%s')", px->pid_file);
		if (unlink(site) < 0 && errno != ENOENT)
			return fail(px, "cannot remove '%s': %s", site, strerror(errno));
		return 0;
	}
	if (content && write_text(tmp, content, 0600) < 0) {
		fail(px, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (journal_begin(px, key, site) < 0)
		goto out;
	journaled = 1;
	if (content ? rename(tmp, site) < 0 : (unlink(site) < 0 && errno != ENOENT)) {
		fail(px, "cannot put '%s' in place: %s", site, strerror(errno));
		goto out;
	}
	/* the host's nginx reads the include folder only when told to reload:
	 * the file is in place, but not in use, while it is tested */
	if (nginx_test(px, px->config_file, NULL) < 0)
		goto out;
	int sent, rejected;
	if (reload(px, master, access(px->error_log, R_OK) == 0 ? px->error_log : NULL, &sent, &rejected) < 0) {
		if (sent && !rejected) {
			journal_restore(px, key, site);
			journaled = 0;
			kill(master, SIGHUP);
		}
		goto out;
	}
	journal_end(px, key);
	journaled = 0;
	rc = 0;
out:
	if (journaled) {
		struct px_sb keep = PX_SB_INIT;
		px_sb_puts(&keep, px_sb_str(&px->err));
		if (journal_restore(px, key, site) < 0)
			say(px, WEBOPS_LOG_ERROR, "%s", px_sb_str(&px->err));
		px_sb_reset(&px->err);
		px_sb_puts(&px->err, px_sb_str(&keep));
		px_sb_release(&keep);
	}
	unlink(tmp);
	return rc;
}

int px_apply(struct px *px, const char *name, const char *content)
{
	if (name && px_check_name(name, &px->err) < 0)
		return -1;
	if (px->host_mode && !name)
		return 1;
	if (lock(px) < 0)
		return -1;
	int rc = journal_recover(px);
	if (rc >= 0)
		rc = px->host_mode ? apply_host(px, name, content, rc > 0) : apply_private(px, name, content, rc > 0);
	unlock(px);
	return rc;
}

int px_site_count(struct px *px)
{
	char **names = NULL;
	size_t n = 0;
	if (list_sites(px, &names, &n) < 0)
		return -1;
	free_list(names, n);
	return (int)n;
}

/* ---- the private nginx beside webopsd ---- */

static void daemon_path(char *out, const struct px *px, pid_t pid)
{
	pathf(out, "%s/daemons/%ld", px->dir, (long)pid);
}

/* How many live webopsd other than self use this nginx; forgets the dead. */
static int daemons_alive(struct px *px, pid_t self, pid_t *one)
{
	char dir[PATH_MAX];
	path_of(dir, px, "daemons", NULL);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
		char path[PATH_MAX], *text = NULL;
		daemon_path(path, px, pid);
		unsigned long long want = 0;
		if (read_text(path, &text) == 0)
			want = strtoull(text, NULL, 10);
		free(text);
		if (pid == self)
			continue;
		if (!want || px_proc_start_time(pid) != want) {
			unlink(path);
			continue;
		}
		if (one)
			*one = pid;
		n++;
	}
	closedir(d);
	return n;
}

int px_daemon_start(struct px *px, pid_t webopsd)
{
	if (lock(px) < 0)
		return -1;
	char path[PATH_MAX], text[32];
	daemon_path(path, px, webopsd);
	snprintf(text, sizeof(text), "%llu\n", px_proc_start_time(webopsd));
	if (write_text(path, text, 0644) < 0) {
		int e = errno;
		unlock(px);
		return fail(px, "cannot write '%s': %s", path, strerror(e));
	}
	daemons_alive(px, webopsd, NULL);
	unlock(px);
	return px_apply(px, NULL, NULL) < 0 ? -1 : 0;
}

int px_daemon_stop(struct px *px, pid_t webopsd, struct px_sb *note)
{
	if (lock(px) < 0)
		return -1;
	char path[PATH_MAX], conf[PATH_MAX];
	daemon_path(path, px, webopsd);
	unlink(path);
	pid_t other = 0;
	int others = daemons_alive(px, webopsd, &other);
	pid_t master = private_master(px);
	px_sb_reset(note);
	if (!master) {
		px_sb_puts(note, "nginx is not running");
		unlock(px);
		return 0;
	}
	if (others) {
		px_sb_printf(note, "nginx (pid %ld) keeps running: webopsd %ld uses it too", (long)master, (long)other);
		unlock(px);
		return 0;
	}
	path_of(conf, px, "nginx.conf", NULL);
	/* graceful: the workers finish their requests, then everything exits */
	kill(master, SIGQUIT);
	long long t0 = px_now_ms();
	int sig = SIGQUIT;
	while (px_is_master(master, conf)) {
		long long el = px_now_ms() - t0;
		if (sig == SIGQUIT && (el > PX_QUIT_WAIT_MS || px_cancelled(px))) {
			sig = SIGTERM;
			kill(master, SIGTERM);
		} else if (sig == SIGTERM && el > PX_QUIT_WAIT_MS + 5000) {
			sig = SIGKILL;
			kill(-master, SIGKILL);
		} else if (sig == SIGKILL && el > PX_QUIT_WAIT_MS + 10000) {
			unlock(px);
			return fail(px, "nginx (pid %ld) did not exit", (long)master);
		}
		px_sleep_ms(20);
	}
	/* its workers, still finishing requests after a SIGTERM, go with it */
	px_sb_printf(note, "nginx (pid %ld) stopped in %lld ms%s", (long)master, px_now_ms() - t0,
	             sig == SIGQUIT ? "" : sig == SIGTERM ? " (quit did not finish: terminated)" : " (killed)");
	unlock(px);
	return 0;
}
