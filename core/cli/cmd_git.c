/* Deploying on `git push`: `webops git-hook NAME`, the pre-receive hook of
 * the repositories webops hosts (copies the pushed commit to the staging
 * repository, queues a run from it, streams the run's log to the pusher and
 * accepts the push only when the deploy succeeded); `webops git-shell KEY`,
 * the only thing an SSH key of ours may run (git-receive-pack or
 * git-upload-pack of a deployment's repository, parsed without a shell);
 * `webops ssh-key`, the keys and the authorized_keys file. */
#include "cli/cmd_git.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/follow.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "config/config.h"
#include "db/db.h"
#include "git/hosted.h"
#include "pipeline/runs.h"
#include "store/deployment.h"
#include "store/access.h"
#include "store/ssh_keys.h"
#include "store/validate.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/banned.h"

#define PUSH_QUEUE_TIMEOUT_DEFAULT 600 /* seconds a push waits for a worker to start its run */
#define HOOK_LINE_MAX 4096

/* What every ssh-key subcommand's help ends with. */
#define SSH_KEY_NOTE \
	"Each key becomes one line of the authorized_keys file sshd reads (WEBOPS_SSH_AUTHORIZED_KEYS,\n" \
	"default ~/.ssh/authorized_keys of this account), restricted to `webops git-shell NAME`: git push\n" \
	"and git fetch of existing deployments, nothing else. Other lines of the file are left as they are.\n"

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ---- the pusher's connection ----
 * git receive-pack, the hook's parent (the hook script execs us), talks to
 * the pusher on its standard output. When nothing reads that any more (the
 * pusher pressed Ctrl-C, or the connection dropped: sshd is gone, and it
 * sends no signal to a command without a terminal), the push is over, yet
 * receive-pack would wait for the hook and then move the branch. So a
 * thread watches that descriptor and, once its reader is gone, stops the
 * hook as SIGTERM would: the run is cancelled and the push refused. */

/* A copy of process pid's descriptor fd, or -1. pidfd_getfd takes any kind
 * (a pipe from sshd, or a socket); else a pipe is opened through /proc. */
static int borrow_fd(pid_t pid, int fd)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		int c = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		close(pidfd);
		if (c >= 0) {
			fcntl(c, F_SETFD, FD_CLOEXEC);
			return c;
		}
	}
#endif
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	return open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
}

static int is_receive_pack(pid_t pid)
{
	char path[64], cmd[256];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	cmd[n] = 0;
	return strstr(cmd, "receive-pack") != NULL;
}

static pthread_t hook_thread;
static volatile sig_atomic_t pusher_gone;

static void *watch_pusher(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		/* no events asked: only an error or hang-up wakes it */
		struct pollfd p = { .fd = fd, .events = 0 };
		int r = poll(&p, 1, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
			pusher_gone = 1;
			pthread_kill(hook_thread, SIGTERM);
			return NULL;
		}
	}
}

/* Starts the watcher when the parent is receive-pack; quietly nothing else. */
static void watch_pusher_start(void)
{
	pid_t parent = getppid();
	if (parent <= 1 || !is_receive_pack(parent))
		return;
	int fd = borrow_fd(parent, 1);
	if (fd < 0)
		return;
	hook_thread = pthread_self();
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, watch_pusher, (void *)(long)fd) != 0)
		close(fd);
	pthread_attr_destroy(&at);
}

/* ---- how to reach us ---- */

/* WEBOPS_PUBLIC_URL, else what webopsd recorded, else the default. */
static const char *public_url(void)
{
	const char *pub = getenv("WEBOPS_PUBLIC_URL");
	if (!pub || !*pub)
		pub = wo_cli_recorded_address("public_url");
	return pub && *pub ? pub : "http://127.0.0.1:8000";
}

static void public_base(struct wo_buf *b)
{
	wo_buf_puts(b, public_url());
	while (b->len > 1 && b->ptr[b->len - 1] == '/')
		wo_buf_truncate(b, b->len - 1);
}

/* user@host for SSH: what webopsd recorded (WEBOPS_SSH_HOST there), else
 * this account at the host of WEBOPS_PUBLIC_URL or our host name. */
static void ssh_target(struct wo_buf *b)
{
	const char *rec = getenv("WEBOPS_PUBLIC_URL") ? NULL : wo_cli_recorded_address("ssh");
	if (rec && *rec) {
		wo_buf_puts(b, rec);
		return;
	}
	struct passwd *pw = getpwuid(geteuid());
	char host[256] = "";
	const char *pub = getenv("WEBOPS_PUBLIC_URL");
	const char *h = pub ? strstr(pub, "://") : NULL;
	if (h) {
		h += 3;
		size_t n = strcspn(h, ":/");
		if (*h == '[')
			n = strcspn(h, "]") + 1;
		snprintf(host, sizeof(host), "%.*s", (int)n, h);
	}
	if (!host[0] && gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "HOST");
	wo_buf_printf(b, "%s@%s", pw ? pw->pw_name : "USER", host);
}

void wo_cli_print_push_hint(FILE *f, const char *name, const char *branch)
{
	struct wo_buf base = WO_BUF_INIT, ssh = WO_BUF_INIT;
	public_base(&base);
	ssh_target(&ssh);
	fprintf(f,
		"deploy it with git push, over HTTP (the password is an API token: webops token create NAME)\n"
		"  git remote add webops %s/git/%s.git\n"
		"or over SSH (after: webops ssh-key add NAME --key-file ~/.ssh/id_ed25519.pub)\n"
		"  git remote add webops ssh://%s/%s.git\n"
		"then\n"
		"  git push webops %s\n",
		base.ptr, name, ssh.ptr, name, branch);
	wo_buf_release(&base);
	wo_buf_release(&ssh);
}

/* ---- webops git-hook NAME ---- */

struct push_line {
	char old[65], new[65];
	char *ref;
};

/* Reads "OLD NEW REF" lines from stdin. */
static int read_push_lines(struct push_line **out, size_t *n_out)
{
	struct push_line *v = NULL;
	size_t n = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		char old[128], new[128];
		int ref_at = 0;
		if (len > HOOK_LINE_MAX || sscanf(line, "%127s %127s %n", old, new, &ref_at) != 2 || ref_at <= 0 ||
		    !wo_git_is_sha(old) || !wo_git_is_sha(new) || !line[ref_at] || strpbrk(line + ref_at, " \t")) {
			free(line);
			for (size_t i = 0; i < n; i++)
				free(v[i].ref);
			free(v);
			return wo_error_set("unexpected input from git: this command is the pre-receive hook of webops' "
					    "repositories, not meant to be run by hand");
		}
		struct push_line *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(line);
			free(v);
			return wo_error_set("out of memory");
		}
		v = nv;
		snprintf(v[n].old, sizeof(v[n].old), "%s", old);
		snprintf(v[n].new, sizeof(v[n].new), "%s", new);
		v[n].ref = strdup(line + ref_at);
		n++;
	}
	free(line);
	*out = v;
	*n_out = n;
	return 0;
}

/* Copies the pushed commit (still in the push's quarantine, which git
 * exports to this hook's environment) into the staging repository. */
static int copy_to_staging(const char *staging, const char *sha, const char *branch)
{
	char *git = wo_proc_which("git");
	if (!git)
		return wo_error_set("cannot find the git program in PATH (install git)");
	struct wo_buf spec = WO_BUF_INIT;
	wo_buf_printf(&spec, "%s:refs/heads/%s", sha, branch);
	/* the staging repository's receive-pack would refuse to update refs
	 * "inside the quarantine" if it inherited this */
	unsetenv("GIT_QUARANTINE_PATH");
	char *argv[] = { git, "push", "--quiet", "--force", "--no-verify", (char *)staging, spec.ptr, NULL };
	struct wo_proc_opts po = { .out_fd = 2 };
	int status = 0;
	int rc = wo_proc_run(&status, NULL, argv, &po);
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		char how[64];
		wo_proc_describe(how, sizeof(how), status);
		rc = wo_error_set("cannot copy %.12s into the staging repository '%s': git push %s", sha, staging, how);
	}
	wo_buf_release(&spec);
	free(git);
	return rc;
}

static long queue_timeout_ms(void)
{
	const char *s = getenv("WEBOPS_PUSH_QUEUE_TIMEOUT");
	if (!s || !*s)
		return PUSH_QUEUE_TIMEOUT_DEFAULT * 1000L;
	char *end;
	long v = strtol(s, &end, 10);
	return *end || v < 0 ? PUSH_QUEUE_TIMEOUT_DEFAULT * 1000L : v * 1000L;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	fputs("webops: ", stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static const char *pusher(void)
{
	const char *u = getenv("REMOTE_USER");
	static char who[128];
	if (getenv("WEBOPS_SSH_KEY"))
		snprintf(who, sizeof(who), " by SSH key '%.64s'", getenv("WEBOPS_SSH_KEY"));
	else if (u && *u)
		snprintf(who, sizeof(who), " by token '%.64s'", u);
	else
		who[0] = '\0';
	return who;
}

static int same_commit(const char *a, const char *b)
{
	int za = !*a || wo_git_is_zero_sha(a), zb = !*b || wo_git_is_zero_sha(b);
	return za || zb ? za && zb : !strcmp(a, b);
}

/* Waits for the pushes to this deployment before ours, then checks that the
 * branch is still where git told the pusher it was: a push that raced
 * another one is refused before it deploys, as git would refuse it after. */
static int take_turn(int *lock_fd, const char *data_dir, const char *name, const char *branch,
		     const struct push_line *pl)
{
	int busy = 0;
	if (wo_git_hosted_lock(lock_fd, &busy, data_dir, name, 1) < 0) {
		if (!busy)
			return wo_cli_fail("%s; the push is refused", wo_error_last()), -1;
		say("another push to '%s' is deploying; this one waits for it", name);
		if (wo_git_hosted_lock(lock_fd, &busy, data_dir, name, 0) < 0) {
			if (stop_requested)
				return wo_cli_fail("the push was interrupted while it waited; nothing was deployed"), -1;
			return wo_cli_fail("%s; the push is refused", wo_error_last()), -1;
		}
	}
	/* the push before ours may have ended a moment ago, its branch update
	 * still under way: give git up to 5 s to make it */
	char cur[65], pending[65];
	wo_git_hosted_get_pending(pending, *lock_fd, 60);
	for (int i = 0;; i++) {
		if (wo_git_hosted_branch_sha(cur, data_dir, name, branch) < 0)
			return wo_cli_fail("%s; the push is refused", wo_error_last()), -1;
		if (!pending[0] || same_commit(cur, pending) || i >= 50)
			break;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (!same_commit(cur, pl->old))
		return wo_cli_fail("'%s' moved to %.12s while this push waited (another push went in first): fetch, "
				   "merge or rebase, and push again; the push is refused",
				   branch, cur[0] ? cur : "(deleted)"), -1;
	return 0;
}

/* Queues the deploy of the pushed commit and follows it; 0 when the push
 * may go in. */
static int deploy_push(struct wo_cli *cli, PGconn *conn, const char *name, const char *branch,
		       const struct push_line *pl)
{
	const char *data_dir = cli->cfg.data_dir;
	struct wo_buf staging = WO_BUF_INIT, url = WO_BUF_INIT;
	json_t *run = NULL;
	int rc = WO_EXIT_ERROR, lock_fd = -1;
	if (wo_git_hosted_ensure(data_dir, name, branch) < 0 || wo_git_hosted_staging_path(&staging, data_dir, name) < 0 ||
	    wo_git_hosted_staging_url(&url, data_dir, name) < 0) {
		wo_cli_fail("%s; the push is refused", wo_error_last());
		goto out;
	}
	if (take_turn(&lock_fd, data_dir, name, branch, pl) < 0)
		goto out;
	if (copy_to_staging(staging.ptr, pl->new, branch) < 0) {
		wo_cli_fail("%s; the push is refused", wo_error_last());
		goto out;
	}
	if (wo_run_enqueue_source(&run, conn, name, "push", pl->new, url.ptr) < 0) {
		wo_cli_fail("cannot queue the deploy: %s; the push is refused", wo_error_last());
		wo_git_hosted_staging_restore(data_dir, name, branch, pl->new, pl->old);
		goto out;
	}
	long long id = json_integer_value(json_object_get(run, "id"));
	json_decref(run);
	run = NULL;
	say("deploying %.12s to '%s' (run %lld, pushed%s); the push completes when the deploy does", pl->new, name, id,
	    pusher());
	struct wo_cli_follow fo = {
		.out = stdout,
		.queued_hint_ms = 5000,
		.queue_timeout_ms = queue_timeout_ms(),
		.stop = &stop_requested,
	};
	int f = wo_cli_follow_run(&run, conn, id, &fo);
	if (f != WO_FOLLOW_ENDED) {
		const char *st = NULL;
		wo_run_cancel(&st, conn, id);
		wo_git_hosted_staging_restore(data_dir, name, branch, pl->new, pl->old);
		if (f < 0)
			wo_cli_fail("lost the run: %s; run %lld was cancelled and the push is refused", wo_error_last(), id);
		else if (f == WO_FOLLOW_TIMEOUT)
			wo_cli_fail("no webopsd worker started run %lld within %ld s: is webopsd running? The run was "
				    "cancelled and the push is refused; push again once webopsd runs",
				    id, fo.queue_timeout_ms / 1000);
		else if (pusher_gone)
			wo_cli_fail("the pusher went away (Ctrl-C or a dropped connection): run %lld was cancelled and the "
				    "push is refused", id);
		else
			wo_cli_fail("the push was interrupted: run %lld was cancelled and the push is refused", id);
		run = NULL;
		goto out;
	}
	const char *status = json_string_value(json_object_get(run, "status"));
	const json_t *err = json_object_get(run, "error");
	const json_t *dur = json_object_get(run, "duration_ms");
	double secs = json_is_integer(dur) ? json_integer_value(dur) / 1000.0 : 0;
	if (!strcmp(status, "succeeded")) {
		wo_git_hosted_set_pending(lock_fd, pl->new);
		say("deployed '%s' at %.12s (run %lld succeeded in %.1f s); '%s' now points at it", name, pl->new, id, secs,
		    branch);
		rc = WO_EXIT_OK;
	} else if (!strcmp(status, "superseded")) {
		wo_git_hosted_set_pending(lock_fd, pl->new);
		/* pushes take turns, so what came later is a deploy from elsewhere
		 * (the Deploy button, webops deploy, a webhook) */
		say("a newer deploy superseded this one (run %lld: %s); '%s' takes this commit, the newer run deploys",
		    id, json_is_string(err) ? json_string_value(err) : "superseded", branch);
		rc = WO_EXIT_OK;
	} else {
		wo_git_hosted_staging_restore(data_dir, name, branch, pl->new, pl->old);
		fflush(stdout);
		fprintf(stderr, "webops: run %lld %s: ", id, status);
		wo_out_escaped(stderr, json_is_string(err) ? json_string_value(err) : "no reason recorded");
		fputc('\n', stderr);
		if (wo_git_is_zero_sha(pl->old))
			fprintf(stderr, "webops: the push is refused: '%s' was not created; fix the commit and push again\n",
				branch);
		else
			fprintf(stderr, "webops: the push is refused: '%s' stays at %.12s and the version running keeps "
					"serving; fix the commit and push again\n", branch, pl->old);
		fflush(stderr);
	}
out:
	/* the lock goes with this process, right before git updates the branch */
	fflush(stdout);
	if (lock_fd >= 0)
		close(lock_fd);
	json_decref(run);
	wo_buf_release(&staging);
	wo_buf_release(&url);
	return rc;
}

int wo_cmd_git_hook(struct wo_cli *cli, int argc, char **argv)
{
	if (argc == 2 && wo_cli_is_help(argv[1])) {
		puts("Usage: webops git-hook NAME\n\nThe pre-receive hook of webops' repository for deployment NAME "
		     "(git runs it during a push).");
		return WO_EXIT_OK;
	}
	if (argc != 2)
		return wo_cli_usage_error("git-hook", "git-hook needs the deployment NAME");
	const char *name = argv[1];
	struct wo_buf verr = WO_BUF_INIT;
	if (wo_validate_name(name, &verr) < 0) {
		wo_cli_fail("%s", verr.ptr);
		wo_buf_release(&verr);
		return WO_EXIT_ERROR;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	watch_pusher_start();

	struct push_line *lines = NULL;
	size_t n = 0;
	if (read_push_lines(&lines, &n) < 0)
		return wo_cli_fail("%s", wo_error_last());
	int rc = WO_EXIT_ERROR;
	json_t *d = NULL;
	PGconn *conn = wo_cli_db(cli);
	if (!conn) {
		fprintf(stderr, "webops: the push is refused: the database is not reachable\n");
		goto out;
	}
	if (wo_deployment_get(&d, conn, name) < 0) {
		wo_cli_fail("%s; the push is refused", wo_error_last());
		goto out;
	}
	const char *branch = json_string_value(json_object_get(d, "branch"));
	struct wo_buf want = WO_BUF_INIT;
	wo_buf_printf(&want, "refs/heads/%s", branch);
	const struct push_line *deploy = NULL;
	int refused = 0;
	for (size_t i = 0; i < n; i++) {
		const char *ref = lines[i].ref;
		int gone = wo_git_is_zero_sha(lines[i].new);
		if (!strcmp(ref, want.ptr)) {
			if (gone) {
				fprintf(stderr, "webops: deleting branch '%s' is refused: it is the branch '%s' deploys "
						"(delete the deployment with 'webops deployment delete %s' instead)\n",
					branch, name, name);
				refused = 1;
			} else {
				deploy = &lines[i];
			}
		} else if (!strncmp(ref, "refs/heads/", 11)) {
			say("branch '%s' %s; not deployed ('%s' deploys '%s')", ref + 11, gone ? "deleted" : "stored", name,
			    branch);
		} else if (!strncmp(ref, "refs/tags/", 10)) {
			say("tag '%s' %s; not deployed ('%s' deploys '%s')", ref + 10, gone ? "deleted" : "stored", name,
			    branch);
		} else {
			say("ref '%s' %s; not deployed ('%s' deploys '%s')", ref, gone ? "deleted" : "stored", name, branch);
		}
	}
	wo_buf_release(&want);
	if (refused)
		goto out;
	rc = deploy ? deploy_push(cli, conn, name, branch, deploy) : WO_EXIT_OK;
out:
	fflush(stdout);
	json_decref(d);
	for (size_t i = 0; i < n; i++)
		free(lines[i].ref);
	free(lines);
	return rc;
}

/* ---- webops git-shell KEYNAME ---- */

int wo_cmd_git_shell(struct wo_cli *cli, int argc, char **argv)
{
	if (argc != 2 || wo_cli_is_help(argv[1])) {
		fputs("Usage: webops git-shell KEYNAME\n\nThe command an SSH key added with 'webops ssh-key add' may run: "
		      "git push and git fetch of a deployment's repository (from SSH_ORIGINAL_COMMAND).\n",
		      argc == 2 ? stdout : stderr);
		return argc == 2 ? WO_EXIT_OK : WO_EXIT_USAGE;
	}
	const char *key = argv[1];
	struct wo_buf err = WO_BUF_INIT;
	if (wo_validate_ssh_key_name(key, &err) < 0) {
		wo_cli_fail("%s", err.ptr);
		wo_buf_release(&err);
		return WO_EXIT_ERROR;
	}
	const char *cmd = getenv("SSH_ORIGINAL_COMMAND");
	if (!cmd || !*cmd) {
		struct wo_buf t = WO_BUF_INIT;
		ssh_target(&t);
		fprintf(stderr,
			"webops: hello '%s': this SSH key can push to and fetch from webops deployments, nothing else "
			"(no shell).\n"
			"webops: e.g. git remote add webops ssh://%s/NAME.git && git push webops main\n",
			key, t.ptr);
		wo_buf_release(&t);
		return WO_EXIT_ERROR;
	}
	const char *service = NULL;
	char name[WO_NAME_MAX + 8];
	if (strlen(cmd) > 1024 || wo_git_parse_ssh_command(&service, name, sizeof(name), cmd) < 0) {
		fputs("webops: '", stderr);
		wo_out_escaped(stderr, strlen(cmd) > 200 ? "(a long command)" : cmd);
		fputs("' is not allowed: this SSH key may only run git push and git fetch of a deployment's repository "
		      "(git-receive-pack or git-upload-pack 'NAME.git')\n",
		      stderr);
		return WO_EXIT_ERROR;
	}
	if (wo_validate_name(name, &err) < 0) {
		wo_cli_fail("repository '%s.git' is not a deployment's: %s", name, err.ptr);
		wo_buf_release(&err);
		return WO_EXIT_ERROR;
	}
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *k = NULL, *d = NULL;
	if (wo_ssh_key_get(&k, conn, key) < 0)
		return wo_cli_fail("SSH key '%s' is no longer allowed here (it was removed from webops)", key);
	/* a user's key pushes (deploys) and fetches with that user's rights */
	const char *owner = json_string_value(json_object_get(k, "user"));
	if (owner) {
		struct wo_principal p;
		int push = !strcmp(service, "git-receive-pack");
		int a = wo_user_principal(&p, conn, owner);
		if (a == 0)
			a = wo_access_check(conn, &p, push ? WO_PERM_DEP_DEPLOY : WO_PERM_DEP_READ, name);
		if (a != 0) {
			json_decref(k);
			if (a == WO_ENOTFOUND)
				return wo_cli_fail("there is no deployment '%s' ('webops deployment list' shows them)", name);
			return wo_cli_fail("%s", wo_error_last());
		}
	}
	json_decref(k);
	if (wo_deployment_get(&d, conn, name) < 0)
		return wo_cli_fail("there is no deployment '%s' ('webops deployment list' shows them)", name);
	const char *branch = json_string_value(json_object_get(d, "branch"));
	struct wo_buf repo = WO_BUF_INIT;
	if (wo_git_hosted_ensure(cli->cfg.data_dir, name, branch) < 0 ||
	    wo_git_hosted_path(&repo, cli->cfg.data_dir, name) < 0) {
		json_decref(d);
		return wo_cli_fail("%s", wo_error_last());
	}
	json_decref(d);
	char *git = wo_proc_which("git");
	if (!git) {
		wo_buf_release(&repo);
		return wo_cli_fail("cannot find the git program in PATH on the server (install git)");
	}
	/* the push hook says who pushed */
	setenv("WEBOPS_SSH_KEY", key, 1);
	wo_db_close(cli->conn);
	cli->conn = NULL;
	char *args[] = { "git", (char *)service, repo.ptr, NULL };
	execv(git, args);
	int e = errno;
	wo_cli_fail("cannot run '%s': %s", git, strerror(e));
	free(git);
	wo_buf_release(&repo);
	return WO_EXIT_ERROR;
}

/* ---- webops ssh-key ---- */

/* Rewrites webops' lines of authorized_keys from the keys in the database
 * (conn may be inside a transaction). */
static int sync_authorized_keys(struct wo_cli *cli, PGconn *conn, char **path_out)
{
	char *path = NULL;
	json_t *keys = NULL;
	struct wo_buf webops = WO_BUF_INIT;
	char data[PATH_MAX];
	int rc = -1;
	if (wo_ssh_authorized_keys_path(&path) < 0 || wo_ssh_key_list(&keys, conn) < 0)
		goto out;
	if (wo_fs_mkdir_p(cli->cfg.data_dir, 0700) < 0)
		goto out;
	if (!realpath(cli->cfg.data_dir, data)) {
		wo_error_set("cannot resolve the data directory '%s': %s", cli->cfg.data_dir, strerror(errno));
		goto out;
	}
	wo_buf_printf(&webops, "%s/webops", wo_config_exe_dir());
	if (wo_ssh_authorized_keys_sync(path, keys, webops.ptr, data) < 0)
		goto out;
	rc = 0;
out:
	if (rc == 0 && path_out)
		*path_out = path;
	else
		free(path);
	json_decref(keys);
	wo_buf_release(&webops);
	return rc;
}

static int read_key_file(char **out, const char *file)
{
	if (!strcmp(file, "-")) {
		size_t len;
		return wo_fs_read_fd(out, &len, 0, "stdin", 64 * 1024);
	}
	return wo_fs_read_file(out, NULL, file, 64 * 1024);
}

static int ssh_key_add(struct wo_cli *cli, int argc, char **argv)
{
	const char *file = NULL, *user = NULL;
	int json = 0;
	const struct wo_opt opts[] = {
		WO_OPT_STRING("key-file", 0, &file, "FILE", "the public key (the .pub file; '-' reads stdin)"),
		WO_OPT_STRING("user", 0, &user, "USER", "it pushes with USER's rights (without it, the host's: any "
		              "deployment)"),
		WO_OPT_JSON(&json),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"ssh-key add", "NAME", 1, 1,
		"Adds an SSH key that may push to (and fetch from) the deployments' repositories. NAME: 1-63\n"
		"letters, digits, '_', '.' and '-', starting with a letter or digit.",
		SSH_KEY_NOTE "\nExample:\n  webops ssh-key add laptop --key-file ~/.ssh/id_ed25519.pub\n", opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	if (!file)
		return wo_cli_usage_error("ssh-key add", "ssh-key add needs --key-file FILE (the public key, e.g. "
						     "~/.ssh/id_ed25519.pub)");
	struct wo_buf err = WO_BUF_INIT;
	if (wo_validate_ssh_key_name(name, &err) < 0) {
		wo_cli_fail("%s", err.ptr);
		wo_buf_release(&err);
		return WO_EXIT_ERROR;
	}
	char *text = NULL;
	if (read_key_file(&text, file) < 0)
		return wo_cli_fail("%s", wo_error_last());
	struct wo_ssh_pubkey k;
	if (wo_ssh_pubkey_parse(&k, text) < 0) {
		free(text);
		return wo_cli_fail("cannot use '%s': %s", file, wo_error_last());
	}
	free(text);
	PGconn *conn = wo_cli_db(cli);
	if (!conn) {
		wo_ssh_pubkey_release(&k);
		return WO_EXIT_ERROR;
	}
	json_t *rec = NULL;
	char *path = NULL;
	/* the key is only recorded when the file has it too */
	if (wo_db_begin(conn) < 0 || wo_ssh_key_add(&rec, conn, name, &k) < 0 ||
	    (user && wo_ssh_key_set_user(conn, name, user) < 0) ||
	    sync_authorized_keys(cli, conn, &path) < 0 || wo_db_commit(conn) < 0) {
		wo_db_rollback(conn);
		wo_ssh_pubkey_release(&k);
		json_decref(rec);
		return wo_cli_fail("%s", wo_error_last());
	}
	wo_ssh_pubkey_release(&k);
	if (json) {
		wo_out_json(rec);
	} else {
		struct wo_buf t = WO_BUF_INIT;
		ssh_target(&t);
		printf("added SSH key '%s' (%s %s) to %s\n", name, json_string_value(json_object_get(rec, "type")),
		       json_string_value(json_object_get(rec, "fingerprint")), path);
		if (user)
			printf("it pushes with the rights of user '%s' (to the deployments they may deploy): "
			       "git remote add webops ssh://%s/NAME.git\n", user, t.ptr);
		else
			printf("it can push to any deployment (a key of no user is the host's; --user USER limits it "
			       "to what USER may deploy): git remote add webops ssh://%s/NAME.git\n", t.ptr);
		wo_buf_release(&t);
	}
	json_decref(rec);
	free(path);
	return WO_EXIT_OK;
}

static int ssh_key_list(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0;
	const struct wo_opt opts[] = { WO_OPT_JSON(&json), WO_OPTS_END };
	const struct wo_cmd_spec spec = {
		"ssh-key list", NULL, 0, 0, "Lists the SSH keys that may push, with their SHA256 fingerprints.", SSH_KEY_NOTE,
		opts,
	};
	int parsed = wo_opts_parse(&spec, argc, argv, NULL, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *keys;
	if (wo_ssh_key_list(&keys, conn) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (json) {
		wo_out_json(keys);
	} else if (json_array_size(keys) == 0) {
		printf("no SSH keys yet: add one with\n  webops ssh-key add NAME --key-file ~/.ssh/id_ed25519.pub\n");
	} else {
		printf("%-20s %-20s %-52s %-20s %s\n", "NAME", "TYPE", "FINGERPRINT", "ADDED", "COMMENT");
		size_t i;
		json_t *k;
		json_array_foreach(keys, i, k) {
			const json_t *c = json_object_get(k, "comment");
			printf("%-20s %-20s %-52s %-20s ", json_string_value(json_object_get(k, "name")),
			       json_string_value(json_object_get(k, "type")),
			       json_string_value(json_object_get(k, "fingerprint")),
			       json_string_value(json_object_get(k, "created_at")));
			wo_out_escaped(stdout, json_is_string(c) ? json_string_value(c) : "");
			putchar('\n');
		}
	}
	json_decref(keys);
	return WO_EXIT_OK;
}

static int ssh_key_remove(struct wo_cli *cli, int argc, char **argv)
{
	const struct wo_opt opts[] = { WO_OPTS_END };
	const struct wo_cmd_spec spec = {
		"ssh-key remove", "NAME", 1, 1, "Removes an SSH key (and its line in the authorized_keys file).", NULL, opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	char *path = NULL;
	if (wo_db_begin(conn) < 0 || wo_ssh_key_remove(conn, name) < 0 || sync_authorized_keys(cli, conn, &path) < 0 ||
	    wo_db_commit(conn) < 0) {
		wo_db_rollback(conn);
		return wo_cli_fail("%s", wo_error_last());
	}
	printf("removed SSH key '%s' (and its line in %s)\n", name, path);
	free(path);
	return WO_EXIT_OK;
}

static int ssh_key_sync(struct wo_cli *cli, int argc, char **argv)
{
	const struct wo_opt opts[] = { WO_OPTS_END };
	const struct wo_cmd_spec spec = {
		"ssh-key sync", NULL, 0, 0, "Rewrites webops' lines of the authorized_keys file from the keys stored.",
		SSH_KEY_NOTE, opts,
	};
	int parsed = wo_opts_parse(&spec, argc, argv, NULL, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	char *path = NULL;
	if (sync_authorized_keys(cli, conn, &path) < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("%s holds webops' SSH keys\n", path);
	free(path);
	return WO_EXIT_OK;
}

int wo_cmd_ssh_key(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "add", ssh_key_add, "NAME --key-file FILE", "add a public key ('-' reads stdin); --user USER: with "
		  "USER's rights", NULL },
		{ "list", ssh_key_list, NULL, "the keys, with their SHA256 fingerprints", "ls" },
		{ "remove", ssh_key_remove, "NAME", "remove a key", "rm" },
		{ "sync", ssh_key_sync, NULL, "rewrite webops' lines of the authorized_keys file", NULL },
		WO_SUBCMD_END,
	};
	return wo_subcmd_run("ssh-key", "SSH keys that may push to (and fetch from) the deployments' repositories.",
	                     subs, cli, argc, argv);
}
