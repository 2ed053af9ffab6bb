/* Embedded PostgreSQL: initdb, start (as an unprivileged user when root),
 * reuse across invocations (a file lock serialises starters), stop. */
#include "db/embedded.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <grp.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/banned.h"

#define EMBEDDED_PORT "5432"

char *wo_embedded_conninfo(const char *data_dir, const char *dbname)
{
	struct wo_buf b = WO_BUF_INIT;
	/* conninfo values are quoted: the data dir may contain spaces */
	wo_buf_puts(&b, "host='");
	for (const char *p = data_dir; *p; p++) {
		if (*p == '\'' || *p == '\\')
			wo_buf_putc(&b, '\\');
		wo_buf_putc(&b, *p);
	}
	wo_buf_printf(&b, "/postgres' port=" EMBEDDED_PORT " user=webops dbname=%s connect_timeout=10", dbname);
	return wo_buf_detach(&b);
}

int wo_embedded_running(const char *data_dir)
{
	char *ci = wo_embedded_conninfo(data_dir, "postgres");
	int ok = PQping(ci) == PQPING_OK;
	free(ci);
	return ok;
}

/* initdb and postgres from $WEBOPS_PG_BINDIR, else PATH, else the newest /usr/lib/postgresql/N/bin. */
static char *find_pg_bin_dir(void)
{
	const char *forced = getenv("WEBOPS_PG_BINDIR");
	if (forced && *forced) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/initdb", forced);
		return access(p, X_OK) == 0 ? strdup(forced) : NULL;
	}
	char *initdb = wo_proc_which("initdb");
	if (initdb) {
		char *real = realpath(initdb, NULL);
		free(initdb);
		if (real) {
			char *slash = strrchr(real, '/');
			*slash = '\0';
			return real;
		}
	}
	DIR *d = opendir("/usr/lib/postgresql");
	if (!d)
		return NULL;
	long best = -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (*end == '\0' && end != e->d_name && v > best) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "/usr/lib/postgresql/%ld/bin/initdb", v);
			if (access(p, X_OK) == 0)
				best = v;
		}
	}
	closedir(d);
	if (best < 0)
		return NULL;
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_printf(&b, "/usr/lib/postgresql/%ld/bin", best);
	return wo_buf_detach(&b);
}

static void log_tail(struct wo_buf *out, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	if (wo_fs_read_file(&text, &len, path, 1 << 20) < 0)
		return;
	size_t start = len > 1500 ? len - 1500 : 0;
	wo_buf_printf(out, "\n--- last lines of %s ---\n%s", path, text + start);
	free(text);
}

static int run_initdb(const char *bindir, const char *pgdir, const char *logpath,
		      const struct wo_proc_user *as)
{
	char initdb[PATH_MAX];
	snprintf(initdb, sizeof(initdb), "%s/initdb", bindir);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		return wo_error_set("cannot open '%s': %s", logpath, strerror(errno));
	if (as && fchown(logfd, as->uid, as->gid) != 0) {
		/* the log stays root's; postgres writes through the inherited fd */
	}
	char *argv[] = { initdb, "-D", (char *)pgdir, "-U", "webops", "--auth=trust",
			 "-E", "UTF8", "--no-locale", "--no-instructions", NULL };
	fprintf(stderr, "webops: creating the embedded PostgreSQL cluster in '%s'%s%s\n", pgdir,
		as ? " as user " : "", as ? as->name : "");
	int status = 0;
	struct wo_proc_opts o = { .as = as, .out_fd = logfd, .cwd = "/" };
	int r = wo_proc_run(&status, NULL, argv, &o);
	close(logfd);
	if (r < 0)
		return -1;
	if (status != 0) {
		char how[64];
		struct wo_buf msg = WO_BUF_INIT;
		wo_proc_describe(how, sizeof(how), status);
		wo_buf_printf(&msg, "initdb %s", how);
		log_tail(&msg, logpath);
		wo_error_set("%s", wo_buf_cstr(&msg));
		wo_buf_release(&msg);
		return -1;
	}
	return 0;
}

static int start_server(const char *bindir, const char *pgdir, const char *logpath,
			const char *data_dir, const struct wo_proc_user *as)
{
	char postgres[PATH_MAX];
	snprintf(postgres, sizeof(postgres), "%s/postgres", bindir);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		return wo_error_set("cannot open '%s': %s", logpath, strerror(errno));
	char *argv[] = { postgres, "-D", (char *)pgdir, "-k", (char *)pgdir, "-p", EMBEDDED_PORT,
			 "-c", "listen_addresses=", "-c", "max_connections=200",
			 "-c", "fsync=on", NULL };
	fprintf(stderr, "webops: starting the embedded PostgreSQL (log: %s)\n", logpath);
	pid_t pid = 0;
	struct wo_proc_opts o = { .as = as, .out_fd = logfd, .cwd = "/", .detach = 1 };
	int r = wo_proc_run(NULL, &pid, argv, &o);
	close(logfd);
	if (r < 0)
		return -1;
	char *ci = wo_embedded_conninfo(data_dir, "postgres");
	/* up to 60 s: a first start on a slow disk can take a while */
	for (int i = 0; i < 600; i++) {
		PGPing p = PQping(ci);
		if (p == PQPING_OK) {
			free(ci);
			return 0;
		}
		if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
			break;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	free(ci);
	struct wo_buf msg = WO_BUF_INIT;
	wo_buf_puts(&msg, "the embedded PostgreSQL did not start");
	log_tail(&msg, logpath);
	wo_error_set("%s", wo_buf_cstr(&msg));
	wo_buf_release(&msg);
	return -1;
}

static int ensure_database(const char *data_dir)
{
	char *ci = wo_embedded_conninfo(data_dir, "postgres");
	PGconn *c = PQconnectdb(ci);
	free(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		wo_error_set("cannot connect to the embedded PostgreSQL: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	const char *params[] = { "webops" };
	PGresult *res = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL,
				     params, NULL, NULL, 0);
	int exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	PQclear(res);
	int rc = 0;
	if (!exists) {
		res = PQexec(c, "CREATE DATABASE webops");
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		/* another process creating it at the same moment is fine */
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !(state && (!strcmp(state, "42P04") || !strcmp(state, "23505"))))
			rc = wo_error_set("cannot create database 'webops': %s", PQresultErrorMessage(res));
		PQclear(res);
	}
	PQfinish(c);
	return rc;
}

/* Whether user `as` may search (x) directory st. */
static int can_search(const struct stat *st, const struct wo_proc_user *as, const gid_t *groups, int ngroups)
{
	if (st->st_uid == as->uid)
		return (st->st_mode & S_IXUSR) != 0;
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == st->st_gid)
			return (st->st_mode & S_IXGRP) != 0;
	return (st->st_mode & S_IXOTH) != 0;
}

/* The account PostgreSQL runs as must reach DATA_DIR/postgres. The data
 * directory is webops' own: when that account cannot pass through it (a
 * `mktemp -d` directory is 0700), others get search permission on it (x, not
 * r: its listing stays private). A parent blocking the way is not ours to
 * change: the error names it and the fix. */
static int reachable_by(const char *data_dir, const struct wo_proc_user *as)
{
	char *abs = realpath(data_dir, NULL);
	if (!abs)
		return wo_error_set("cannot resolve data directory '%s': %s", data_dir, strerror(errno));
	gid_t groups[64];
	int ngroups = 64;
	if (getgrouplist(as->name, as->gid, groups, &ngroups) < 0)
		ngroups = 0;
	int rc = 0;
	/* every parent, from '/' down */
	for (char *p = abs + 1; rc == 0; p++) {
		char *slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		struct stat st;
		if (stat(abs, &st) == 0 && !can_search(&st, as, groups, ngroups)) {
			struct passwd *pw = getpwuid(st.st_uid);
			rc = wo_error_set("PostgreSQL runs as '%s', which cannot reach the data directory '%s': '%s' (mode %04o, "
					  "owner %s) blocks the way. Use a data directory it can reach (WEBOPS_DATA_DIR, e.g. "
					  "/var/lib/webops), or let it through: chmod o+x '%s'",
					  as->name, data_dir, abs, (unsigned)(st.st_mode & 07777), pw ? pw->pw_name : "?", abs);
		}
		*slash = '/';
		p = slash;
	}
	struct stat st;
	if (rc == 0 && stat(abs, &st) == 0 && !can_search(&st, as, groups, ngroups) &&
	    chmod(abs, (st.st_mode & 07777) | S_IXOTH) != 0)
		rc = wo_error_set("cannot let PostgreSQL's account '%s' into data directory '%s': %s", as->name, abs,
				  strerror(errno));
	free(abs);
	return rc;
}

int wo_embedded_ensure(char **conninfo_out, const char *data_dir, int *started_out)
{
	if (started_out)
		*started_out = 0;
	if (wo_embedded_running(data_dir)) {
		if (ensure_database(data_dir) < 0)
			return -1;
		*conninfo_out = wo_embedded_conninfo(data_dir, "webops");
		return 0;
	}
	char *bindir = find_pg_bin_dir();
	if (!bindir)
		return wo_error_set("initdb not found: install postgresql (apt-get install postgresql), "
				    "or point WEBOPS_DATABASE_URL at a server");
	if (wo_fs_mkdir_p(data_dir, 0755) < 0) {
		free(bindir);
		return -1;
	}
	struct wo_proc_user user, *as = NULL;
	if (geteuid() == 0) {
		if (wo_proc_unprivileged_user(&user) < 0) {
			free(bindir);
			return -1;
		}
		as = &user;
	}

	if (as && reachable_by(data_dir, as) < 0) {
		free(bindir);
		return -1;
	}

	char lockpath[PATH_MAX], pgdir[PATH_MAX], logpath[PATH_MAX], version[PATH_MAX];
	snprintf(lockpath, sizeof(lockpath), "%s/postgres.lock", data_dir);
	snprintf(pgdir, sizeof(pgdir), "%s/postgres", data_dir);
	snprintf(logpath, sizeof(logpath), "%s/postgres.log", data_dir);
	snprintf(version, sizeof(version), "%s/PG_VERSION", pgdir);
	if (strlen(pgdir) + strlen("/.s.PGSQL." EMBEDDED_PORT) >= 107) {
		free(bindir);
		return wo_error_set("data directory '%s' is too long for a unix socket path (max ~90 characters): "
				    "set WEBOPS_DATA_DIR to a shorter path", data_dir);
	}

	int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0) {
		free(bindir);
		return wo_error_set("cannot open '%s': %s", lockpath, strerror(errno));
	}
	flock(lock, LOCK_EX);
	int rc = 0;
	/* someone else may have started it while we waited for the lock */
	if (!wo_embedded_running(data_dir)) {
		if (access(version, F_OK) != 0) {
			if (mkdir(pgdir, 0700) != 0 && errno != EEXIST) {
				rc = wo_error_set("cannot create '%s': %s", pgdir, strerror(errno));
				goto out;
			}
			if (as && chown(pgdir, as->uid, as->gid) != 0) {
				rc = wo_error_set("cannot hand '%s' to user '%s': %s", pgdir, as->name, strerror(errno));
				goto out;
			}
			if (run_initdb(bindir, pgdir, logpath, as) < 0) {
				rc = -1;
				goto out;
			}
		}
		if (start_server(bindir, pgdir, logpath, data_dir, as) < 0) {
			rc = -1;
			goto out;
		}
		if (started_out)
			*started_out = 1;
	}
	if (ensure_database(data_dir) < 0) {
		rc = -1;
		goto out;
	}
	*conninfo_out = wo_embedded_conninfo(data_dir, "webops");
out:
	flock(lock, LOCK_UN);
	close(lock);
	free(bindir);
	return rc;
}

int wo_embedded_stop(const char *data_dir, int *was_running_out)
{
	char pidpath[PATH_MAX];
	snprintf(pidpath, sizeof(pidpath), "%s/postgres/postmaster.pid", data_dir);
	if (was_running_out)
		*was_running_out = 0;
	char *text = NULL;
	size_t len;
	if (wo_fs_read_file(&text, &len, pidpath, 4096) < 0) {
		wo_error_clear();
		return 0;
	}
	char *end;
	long pid = strtol(text, &end, 10);
	free(text);
	if (pid <= 0 || kill((pid_t)pid, 0) != 0)
		return 0;
	if (was_running_out)
		*was_running_out = 1;
	kill((pid_t)pid, SIGINT); /* fast shutdown */
	for (int i = 0; i < 600; i++) {
		if (kill((pid_t)pid, 0) != 0 || access(pidpath, F_OK) != 0)
			return 0;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return wo_error_set("the embedded PostgreSQL (pid %ld) did not stop within 60 s", pid);
}
