/* libgit2 fetch + checkout for deploy runs. Credentials are used only in the
 * credential callback and never logged. */
#include "git/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/spawn.h"
#include "util/url.h"
#include "util/banned.h"

struct sync_state {
	const struct wo_git_sync_opts *o;
	char *url; /* o->url as it may be shown */
	int cred_attempts;
	int last_pct;
	struct timespec last_log;
	size_t objects, bytes;
	unsigned total;
	int too_big; /* the transfer passed max_fetch_bytes */
	int cancelled; /* the caller's cancelled() said so */
};

static void mib(char *dst, size_t cap, long long bytes)
{
	snprintf(dst, cap, "%.1f MiB", (double)bytes / 1048576.0);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void logf_(struct sync_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct sync_state *st, const char *fmt, ...)
{
	if (!st->o->log)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	st->o->log(st->o->ud, line);
}

/* URLs in messages and logs go through the one redaction (util/url.h). */
static char *shown_text(const char *text)
{
	return wo_url_redact_text(text ? text : "");
}

/* The remote said something: a fetch that hears nothing for long has stalled. */
static void heard(struct sync_state *st)
{
	if (st->o->progress)
		st->o->progress(st->o->ud);
}

static int on_credentials(git_credential **out, const char *url, const char *username_from_url,
			  unsigned int allowed, void *payload)
{
	struct sync_state *st = payload;
	const struct wo_git_creds *c = st->o->creds;
	heard(st);
	/* libgit2 asks again after a rejection: stop after two tries */
	if (++st->cred_attempts > 2 || !c)
		return GIT_PASSTHROUGH;
	/* a credential goes only where it was stored for: the URL asking now
	 * (after any redirect) must have the same scheme, host and port */
	struct wo_buf asking = WO_BUF_INIT;
	int same = c->bound && url && wo_url_origin(&asking, url) == 0 && !strcmp(asking.ptr, c->bound);
	if (!same) {
		if (st->o->log) {
			struct wo_buf m = WO_BUF_INIT;
			wo_buf_printf(&m, "not sending the stored credentials to %s: they were stored for %s",
				      asking.len ? asking.ptr : "this URL", c->bound ? c->bound : "another URL");
			st->o->log(st->o->ud, m.ptr);
			wo_buf_release(&m);
		}
		wo_buf_release(&asking);
		return GIT_PASSTHROUGH;
	}
	wo_buf_release(&asking);
	if ((allowed & GIT_CREDENTIAL_SSH_MEMORY) && c->ssh_private_key) {
		const char *user = c->ssh_username ? c->ssh_username : username_from_url ? username_from_url : "git";
		return git_credential_ssh_key_memory_new(out, user, NULL, c->ssh_private_key, NULL);
	}
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && c->https_token) {
		const char *user = c->https_username ? c->https_username : "x-access-token";
		return git_credential_userpass_plaintext_new(out, user, c->https_token);
	}
	return GIT_PASSTHROUGH;
}

static int on_transfer(const git_indexer_progress *p, void *payload)
{
	struct sync_state *st = payload;
	if (p->received_bytes != st->bytes || p->indexed_objects || p->indexed_deltas)
		heard(st);
	st->objects = p->received_objects;
	st->bytes = p->received_bytes;
	st->total = p->total_objects;
	if (st->o->cancelled && st->o->cancelled(st->o->ud)) {
		st->cancelled = 1;
		git_error_set_str(GIT_ERROR_NONE, "cancelled");
		return -1;
	}
	if (st->o->max_fetch_bytes > 0 && (long long)p->received_bytes > st->o->max_fetch_bytes) {
		st->too_big = 1;
		git_error_set_str(GIT_ERROR_NONE, "too big");
		return -1;
	}
	int pct = p->total_objects ? (int)(100.0 * p->received_objects / p->total_objects) : 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long since = (now.tv_sec - st->last_log.tv_sec) * 1000L + (now.tv_nsec - st->last_log.tv_nsec) / 1000000L;
	int done = p->received_objects == p->total_objects && p->total_objects > 0;
	if ((pct >= st->last_pct + 10 && since >= 250) || (done && st->last_pct < 100)) {
		st->last_pct = done ? 100 : pct;
		st->last_log = now;
		logf_(st, "receiving objects: %d%% (%u/%u), %.1f KiB", pct, p->received_objects, p->total_objects,
		      p->received_bytes / 1024.0);
	}
	return 0;
}

static int on_sideband(const char *str, int len, void *payload)
{
	struct sync_state *st = payload;
	heard(st);
	/* "remote: Counting objects..." lines; keep the completed ones only */
	while (len > 0) {
		int n = 0;
		while (n < len && str[n] != '\n' && str[n] != '\r')
			n++;
		if (n > 0 && n < len && str[n] == '\n')
			logf_(st, "remote: %.*s", n, str);
		while (n < len && (str[n] == '\n' || str[n] == '\r'))
			n++;
		str += n;
		len -= n;
	}
	return 0;
}

/* libgit2's error by its code and class (never its words): credentials
 * refused (a 401, an SSH key the server rejects), a remote that is not
 * there or does not answer as a git server (the network, the path, an HTTP
 * status, its certificate), a cancel, memory. */
static int fail_msg(struct sync_state *st, int code, int klass, int os_errno, const char *what, const char *msg)
{
	if (st->cancelled || code == GIT_EUSER)
		return wo_error_setc(WO_ECANCELLED, "cancelled");
	if (code == GIT_EAUTH)
		return wo_error_setc(WO_EAUTH, "authentication failed for '%s' (%s)", st->url, msg);
	if (code == GIT_ECERTIFICATE)
		return wo_error_setc(WO_EUNREACHABLE, "the certificate of '%s' is not trusted (%s)", st->url, msg);
	/* an OS error's errno is still the one libgit2 reported it for */
	if (klass == GIT_ERROR_NOMEMORY || (klass == GIT_ERROR_OS && os_errno == ENOMEM))
		return wo_error_setc(WO_ENOMEM, "%s '%s': %s", what, st->url, msg);
	if (code == GIT_ENOTFOUND || klass == GIT_ERROR_NET || klass == GIT_ERROR_OS || klass == GIT_ERROR_HTTP ||
	    klass == GIT_ERROR_SSH || klass == GIT_ERROR_SSL)
		return wo_error_setc(WO_EUNREACHABLE, "repository not found or not reachable: '%s' (%s)", st->url, msg);
	return wo_error_set("%s '%s': %s", what, st->url, msg);
}

static void on_checkout(const char *path, size_t done, size_t total, void *payload)
{
	(void)path;
	(void)done;
	(void)total;
	heard(payload);
}

/* libgit2's error in words a user can act on. */
static int fail(struct sync_state *st, int code, const char *what)
{
	int os_errno = errno;
	const git_error *e = git_error_last();
	char *shown_msg = shown_text(e && e->message ? e->message : "unknown error");
	const char *msg = shown_msg ? shown_msg : "unknown error";
	int rc = fail_msg(st, code, e ? e->klass : GIT_ERROR_NONE, os_errno, what, msg);
	free(shown_msg);
	return rc;
}

/* Lock files left by a fetch that was killed (the deployment's lock says no
 * other fetch uses this cache now): libgit2 would refuse to update the refs
 * they guard. */
static int sweep_lock(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	size_t n = strlen(path);
	(void)sb;
	(void)ftw;
	if (type == FTW_F && n > 5 && !strcmp(path + n - 5, ".lock"))
		unlink(path);
	return 0;
}

static void sweep_locks(const char *cache_dir)
{
	static const char *const top[] = { "HEAD.lock", "config.lock", "packed-refs.lock", "FETCH_HEAD.lock",
					   "shallow.lock", "index.lock" };
	struct wo_buf p = WO_BUF_INIT;
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
		wo_buf_clear(&p);
		wo_buf_printf(&p, "%s/%s", cache_dir, top[i]);
		unlink(p.ptr);
	}
	wo_buf_clear(&p);
	wo_buf_printf(&p, "%s/refs", cache_dir);
	nftw(p.ptr, sweep_lock, 16, FTW_PHYS);
	wo_buf_release(&p);
}

static int open_cache(git_repository **out, const struct wo_git_sync_opts *o, int *first)
{
	struct stat sb;
	struct wo_buf head = WO_BUF_INIT;
	wo_buf_printf(&head, "%s/HEAD", o->cache_dir);
	int exists = stat(head.ptr, &sb) == 0;
	wo_buf_release(&head);
	*first = !exists;
	int r;
	if (exists) {
		sweep_locks(o->cache_dir);
		r = git_repository_open_bare(out, o->cache_dir);
		if (r == 0)
			return 0;
		/* a broken cache is rebuilt, not trusted */
		wo_fs_rm_rf(o->cache_dir);
		*first = 1;
	}
	if (wo_fs_mkdir_p(o->cache_dir, 0700) < 0)
		return -1;
	r = git_repository_init(out, o->cache_dir, 1);
	if (r < 0)
		return wo_error_set("cannot create the repository cache '%s': %s", o->cache_dir, git_error_last()->message);
	return 0;
}

/* The remote's branches (up to 20, comma-separated) and the one its HEAD
 * names (its default branch), from a connected ls. 0, or -1 (no error set)
 * when the remote cannot be listed. */
static int remote_heads(git_remote *remote, const git_remote_callbacks *cb, struct wo_buf *branches,
			char *head, size_t headcap)
{
	if (!git_remote_connected(remote) &&
	    git_remote_connect(remote, GIT_DIRECTION_FETCH, cb, NULL, NULL) < 0)
		return -1;
	const git_remote_head **heads = NULL;
	size_t n = 0;
	if (git_remote_ls(&heads, &n, remote) < 0)
		return -1;
	int listed = 0;
	head[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *nm = heads[i]->name;
		if (!strcmp(nm, "HEAD") && heads[i]->symref_target &&
		    !strncmp(heads[i]->symref_target, "refs/heads/", 11))
			snprintf(head, headcap, "%s", heads[i]->symref_target + 11);
		if (strncmp(nm, "refs/heads/", 11) != 0)
			continue;
		if (listed < 20)
			wo_buf_printf(branches, "%s%s", listed ? ", " : "", nm + 11);
		else if (listed == 20)
			wo_buf_puts(branches, ", ...");
		listed++;
	}
	return 0;
}

static int branch_not_found(struct sync_state *st, git_remote *remote, const git_remote_callbacks *cb);

/* The same, asking the remote afresh (the fetch itself did not complain:
 * libgit2's local transport fetches nothing rather than fail). */
static int branch_not_found_url(struct sync_state *st)
{
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb.credentials = on_credentials;
	cb.payload = st;
	st->cred_attempts = 0;
	if (git_remote_create_detached(&remote, st->o->url) < 0)
		remote = NULL;
	branch_not_found(st, remote, &cb);
	git_remote_free(remote);
	return -1;
}

/* "branch 'x' not found in 'URL': it has a, b (default b)" */
static int branch_not_found(struct sync_state *st, git_remote *remote, const git_remote_callbacks *cb)
{
	struct wo_buf b = WO_BUF_INIT;
	char head[256];
	int listed = remote && remote_heads(remote, cb, &b, head, sizeof(head)) == 0;
	if (listed && b.len)
		wo_error_setc(WO_ENOTFOUND, "branch '%s' not found in '%s': its branches are %s%s%s%s (set one with --branch)",
			     st->o->branch, st->url, b.ptr, head[0] ? "; its default branch is '" : "", head,
			     head[0] ? "'" : "");
	else if (listed)
		wo_error_setc(WO_ENOTFOUND, "branch '%s' not found in '%s': the repository has no branch yet", st->o->branch, st->url);
	else
		wo_error_setc(WO_ENOTFOUND, "branch '%s' not found in '%s'", st->o->branch, st->url);
	wo_buf_release(&b);
	git_error_clear();
	return -1;
}

int wo_git_default_branch(char **out, const char *url, const struct wo_git_creds *creds)
{
	git_libgit2_init();
	struct wo_git_sync_opts o = { .url = url, .creds = creds };
	struct sync_state st = { .o = &o, .url = wo_url_redact(url) };
	git_remote *remote = NULL;
	int rc = -1;
	git_remote_callbacks cb;
	git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb.credentials = on_credentials;
	cb.payload = &st;
	struct wo_buf b = WO_BUF_INIT;
	char head[256];
	if (git_remote_create_detached(&remote, url) < 0 || remote_heads(remote, &cb, &b, head, sizeof(head)) < 0) {
		const git_error *e = git_error_last();
		wo_error_set("cannot list the branches of '%s': %s", st.url, e && e->message ? e->message : "?");
	} else if (!head[0]) {
		wo_error_set("'%s' names no default branch (an empty repository?)", st.url);
	} else {
		*out = strdup(head);
		rc = 0;
	}
	wo_buf_release(&b);
	git_remote_free(remote);
	free(st.url);
	return rc;
}

static int resolve(git_commit **out, git_repository *repo, struct sync_state *st)
{
	const struct wo_git_sync_opts *o = st->o;
	git_object *obj = NULL;
	struct wo_buf name = WO_BUF_INIT;
	int r = GIT_ENOTFOUND;
	if (!o->ref) {
		wo_buf_printf(&name, "refs/remotes/origin/%s", o->branch);
		r = git_revparse_single(&obj, repo, name.ptr);
		wo_buf_release(&name);
		if (r < 0)
			return branch_not_found_url(st);
	} else {
		const char *const forms[] = { "refs/remotes/origin/%s", "refs/tags/%s", "%s" };
		for (size_t i = 0; i < 3 && r < 0; i++) {
			wo_buf_clear(&name);
			wo_buf_printf(&name, forms[i], o->ref);
			r = git_revparse_single(&obj, repo, name.ptr);
		}
		wo_buf_release(&name);
		if (r < 0)
			return wo_error_set("ref '%s' not found in '%s': use a branch, a tag or a commit", o->ref, st->url);
	}
	git_object *peeled = NULL;
	r = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (r < 0)
		return wo_error_set("'%s' does not name a commit", o->ref ? o->ref : o->branch);
	*out = (git_commit *)peeled;
	return 0;
}

struct tree_size {
	git_odb *odb;
	long long bytes, files;
	int failed;
};

static int add_blob(const char *root, const git_tree_entry *e, void *payload)
{
	(void)root;
	struct tree_size *ts = payload;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	size_t len = 0;
	git_object_t type;
	if (git_odb_read_header(&len, &type, ts->odb, git_tree_entry_id(e)) < 0) {
		ts->failed = 1;
		return -1;
	}
	ts->bytes += (long long)len;
	ts->files++;
	return 0;
}

/* What the checkout would write, from the objects' headers (nothing is
 * inflated), refused above max_checkout_bytes before a byte is written: a
 * small repository may hold a blob of zeros that expands a thousandfold. */
static int checkout_size(git_repository *repo, git_commit *commit, struct sync_state *st, const char *sha)
{
	if (st->o->max_checkout_bytes <= 0)
		return 0;
	git_tree *tree = NULL;
	struct tree_size ts = {0};
	int r = git_repository_odb(&ts.odb, repo);
	if (r == 0)
		r = git_commit_tree(&tree, commit);
	if (r == 0)
		r = git_tree_walk(tree, GIT_TREEWALK_PRE, add_blob, &ts);
	git_tree_free(tree);
	git_odb_free(ts.odb);
	if (r < 0 || ts.failed)
		return fail(st, r, "cannot read the commit's files from");
	if (ts.bytes > st->o->max_checkout_bytes) {
		char has[32], lim[32];
		mib(has, sizeof(has), ts.bytes);
		mib(lim, sizeof(lim), st->o->max_checkout_bytes);
		return wo_error_set("the checkout of %.12s would write %s in %lld file(s), more than %s, the limit of a "
				    "checkout (WEBOPS_CHECKOUT_MAX_MB on the host); nothing was written", sha, has,
				    ts.files, lim);
	}
	return 0;
}

int wo_git_sync(struct wo_git_result *out, const struct wo_git_sync_opts *o)
{
	struct sync_state st = { .o = o, .last_pct = -10, .url = wo_url_redact(o->url) };
	struct wo_git_result res;
	memset(&res, 0, sizeof(res));
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_commit *commit = NULL;
	int rc = -1;

	git_libgit2_init();
	if (open_cache(&repo, o, &res.first_clone) < 0)
		goto out;

	logf_(&st, "%s %s", res.first_clone ? "cloning" : "fetching", st.url);
	long t0 = now_ms();
	int r = git_remote_create_anonymous(&remote, repo, o->url);
	if (r < 0) {
		fail(&st, r, "cannot use");
		goto out;
	}
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.callbacks.credentials = on_credentials;
	fo.callbacks.transfer_progress = on_transfer;
	fo.callbacks.sideband_progress = on_sideband;
	fo.callbacks.payload = &st;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.prune = GIT_FETCH_NO_PRUNE;

	/* a branch head needs only that branch; another ref may be any branch or tag */
	struct wo_buf spec = WO_BUF_INIT;
	char *specs[2];
	git_strarray refspecs = { specs, 0 };
	if (!o->ref) {
		wo_buf_printf(&spec, "+refs/heads/%s:refs/remotes/origin/%s", o->branch, o->branch);
		specs[refspecs.count++] = spec.ptr;
	} else {
		specs[refspecs.count++] = "+refs/heads/*:refs/remotes/origin/*";
		specs[refspecs.count++] = "+refs/tags/*:refs/tags/*";
	}
	r = git_remote_fetch(remote, &refspecs, &fo, "webops fetch");
	wo_buf_release(&spec);
	if (r < 0) {
		const git_error *e = git_error_last();
		char lim[32];
		mib(lim, sizeof(lim), o->max_fetch_bytes);
		if (st.too_big)
			wo_error_setc(WO_ETOOLARGE, "the repository at '%s' sent more than %s, the limit of a fetch "
				      "(WEBOPS_FETCH_MAX_MB on the host); nothing was checked out", st.url, lim);
		/* asking for a branch the remote lacks (after it answered) */
		else if (!o->ref && r == GIT_ENOTFOUND && e && e->klass != GIT_ERROR_OS)
			branch_not_found(&st, remote, &fo.callbacks);
		else
			fail(&st, r, "cannot fetch");
		goto out;
	}
	const git_indexer_progress *stats = git_remote_stats(remote);
	res.received_objects = stats->received_objects;
	res.received_bytes = stats->received_bytes;
	res.fetch_ms = now_ms() - t0;
	logf_(&st, "fetched %u new objects (%.1f KiB) in %ld ms", stats->received_objects,
	      stats->received_bytes / 1024.0, res.fetch_ms);

	if (resolve(&commit, repo, &st) < 0)
		goto out;
	git_oid_tostr(res.sha, sizeof(res.sha), git_commit_id(commit));
	const char *summary = git_commit_summary(commit);
	snprintf(res.subject, sizeof(res.subject), "%s", summary ? summary : "");
	const git_signature *author = git_commit_author(commit);
	snprintf(res.author, sizeof(res.author), "%s <%s>", author->name, author->email);

	if (checkout_size(repo, commit, &st, res.sha) < 0)
		goto out;
	t0 = now_ms();
	/* a checkout is webops' own: no other local user reads it (its
	 * folders above are the caller's: the runner makes DATA/builds 0700) */
	if (wo_fs_rm_rf(o->source_dir) < 0 || wo_fs_mkdir_p(o->source_dir, 0700) < 0)
		goto out;
	git_checkout_options co;
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
	co.target_directory = o->source_dir;
	co.progress_cb = on_checkout;
	co.progress_payload = &st;
	r = git_checkout_tree(repo, (const git_object *)commit, &co);
	if (r < 0) {
		int os_errno = errno;
		const git_error *e = git_error_last();
		int klass = e ? e->klass : GIT_ERROR_NONE;
		int code = klass == GIT_ERROR_NOMEMORY || (klass == GIT_ERROR_OS && os_errno == ENOMEM) ? WO_ENOMEM : WO_ERROR;
		wo_error_setc(code, "cannot check out %.12s into '%s': %s", res.sha, o->source_dir,
			      e && e->message ? e->message : "unknown error");
		goto out;
	}
	res.checkout_ms = now_ms() - t0;
	logf_(&st, "checked out %.12s \"%s\" by %s", res.sha, res.subject, res.author);
	*out = res;
	rc = 0;
out:
	git_commit_free(commit);
	git_remote_free(remote);
	git_repository_free(repo);
	git_libgit2_shutdown();
	free(st.url);
	return rc;
}

/* ---- the fetch in a child process ----
 * libgit2 gives no way to interrupt a read from a server that stopped
 * answering, so the fetch runs in a child process (its own process group)
 * that the caller can kill. Frames on a pipe: a type byte, a 4-byte length,
 * the payload. */
enum { FRAME_LOG = 'L', FRAME_HEARD = 'H', FRAME_RESULT = 'R', FRAME_ERROR = 'E' };

struct child_state {
	int fd;
	long last_heard;
};

static void frame(int fd, char type, const void *data, uint32_t len)
{
	char head[5];
	head[0] = type;
	memcpy(head + 1, &len, 4);
	/* a frame is written whole: the parent reads them in order */
	const char *parts[2] = { head, data };
	size_t lens[2] = { 5, len };
	for (int i = 0; i < 2; i++) {
		size_t off = 0;
		while (off < lens[i]) {
			ssize_t n = write(fd, parts[i] + off, lens[i] - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				_exit(5); /* the parent is gone */
			off += (size_t)n;
		}
	}
}

static void child_log(void *ud, const char *line)
{
	struct child_state *c = ud;
	frame(c->fd, FRAME_LOG, line, (uint32_t)strlen(line));
}

static void child_heard(void *ud)
{
	struct child_state *c = ud;
	/* a few a second are enough to tell a live transfer from a stalled one */
	long now = now_ms();
	if (now - c->last_heard >= 200) {
		c->last_heard = now;
		frame(c->fd, FRAME_HEARD, "", 0);
	}
}

/* A fetch process dies with its parent, in a group of its own (a stop
 * kills what libgit2 started too), with every signal at its default. */
static const struct wo_fork_opts child_fork = {
	.flags = WO_FORK_DEATHSIG_KILL | WO_FORK_NEW_GROUP | WO_FORK_RESET_SIGNALS
};

/* The child's bounds: its address space, and (a backstop to the counts
 * above) the largest file it may write, so a runaway fetch fails with an
 * error instead of filling the disk or the machine's memory. */
static void child_limits(const struct wo_git_sync_opts *o)
{
#ifndef __SANITIZE_ADDRESS__ /* ASan's shadow memory is address space too */
	if (o->max_memory_bytes > 0) {
		/* libgit2 maps pack files in windows, 8 GiB of them by default on
		 * 64-bit: keep its mappings within a quarter of the limit */
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)(o->max_memory_bytes / 4));
		struct rlimit rl = { (rlim_t)o->max_memory_bytes, (rlim_t)o->max_memory_bytes };
		setrlimit(RLIMIT_AS, &rl);
	}
#endif
	long long biggest = o->max_fetch_bytes > o->max_checkout_bytes ? o->max_fetch_bytes : o->max_checkout_bytes;
	if (o->max_fetch_bytes > 0 && o->max_checkout_bytes > 0) {
		struct rlimit rl = { (rlim_t)(biggest + (64LL << 20)), (rlim_t)(biggest + (64LL << 20)) };
		signal(SIGXFSZ, SIG_IGN); /* a write past it fails with EFBIG instead */
		setrlimit(RLIMIT_FSIZE, &rl);
	}
}

static void child_main(int fd, const struct wo_git_sync_opts *o)
{
	struct child_state c = { fd, 0 };
	child_limits(o);
	struct wo_git_sync_opts co = *o;
	co.log = child_log;
	co.progress = child_heard;
	co.cancelled = NULL; /* the parent kills us instead */
	co.meanwhile = NULL;
	co.ud = &c;
	struct wo_git_result res;
	if (wo_git_sync(&res, &co) == 0) {
		frame(fd, FRAME_RESULT, &res, sizeof(res));
		_exit(0);
	}
	const char *e = wo_error_last();
	if (o->max_memory_bytes > 0 && wo_error_code() == WO_ENOMEM) {
		char lim[32], was[2048];
		mib(lim, sizeof(lim), o->max_memory_bytes);
		snprintf(was, sizeof(was), "%s", e);
		wo_error_setc(WO_ENOMEM, "%s (the fetch may use %s of memory: WEBOPS_FETCH_MEMORY_MB on the host)", was, lim);
		e = wo_error_last();
	}
	/* the code first (4 bytes), then the message */
	size_t n = strlen(e);
	char *payload = malloc(4 + n);
	int32_t code = wo_error_code();
	if (payload) {
		memcpy(payload, &code, 4);
		memcpy(payload + 4, e, n);
		frame(fd, FRAME_ERROR, payload, (uint32_t)(4 + n));
	}
	_exit(1);
}

/* ---- a fetch process made in advance ---- */

struct wo_git_fetcher {
	pid_t pid;
	int req;    /* what to fetch goes here */
	int frames; /* its frames come from here */
};

static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static const char *jget(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The fetcher's side: waits for the request, then fetches as child_main. */
static void fetcher_main(int req, int frames)
{
	uint32_t len;
	char *text = NULL;
	if (read_full(req, &len, sizeof(len)) < 0 || len > (1u << 24) || !(text = malloc(len + 1)) ||
	    read_full(req, text, len) < 0)
		_exit(0); /* not needed after all */
	text[len] = '\0';
	json_t *j = json_loads(text, 0, NULL);
	sodium_memzero(text, len);
	free(text);
	if (!j)
		_exit(4);
	const json_t *c = json_object_get(j, "creds");
	struct wo_git_creds creds = {
		.https_username = jget(c, "https_username"),
		.https_token = jget(c, "https_token"),
		.ssh_username = jget(c, "ssh_username"),
		.ssh_private_key = jget(c, "ssh_private_key"),
		.bound = jget(c, "bound"),
	};
	struct wo_git_sync_opts o = {
		.url = jget(j, "url"),
		.cache_dir = jget(j, "cache_dir"),
		.source_dir = jget(j, "source_dir"),
		.branch = jget(j, "branch"),
		.ref = jget(j, "ref"),
		.creds = json_is_object(c) ? &creds : NULL,
		.max_fetch_bytes = json_integer_value(json_object_get(j, "max_fetch_bytes")),
		.max_checkout_bytes = json_integer_value(json_object_get(j, "max_checkout_bytes")),
		.max_memory_bytes = json_integer_value(json_object_get(j, "max_memory_bytes")),
	};
	child_main(frames, &o);
}

int wo_git_fetcher_start(struct wo_git_fetcher **out)
{
	struct wo_git_fetcher *f = calloc(1, sizeof(*f));
	int req[2] = { -1, -1 }, frames[2] = { -1, -1 };
	if (!f || pipe2(req, O_CLOEXEC) < 0 || pipe2(frames, O_CLOEXEC) < 0) {
		int e = errno;
		free(f);
		if (req[0] >= 0) {
			close(req[0]);
			close(req[1]);
		}
		return wo_error_set("cannot make a fetch process: %s", strerror(e));
	}
	pid_t pid = wo_fork("a fetch process", &child_fork);
	if (pid < 0) {
		close(req[0]);
		close(req[1]);
		close(frames[0]);
		close(frames[1]);
		free(f);
		return -1;
	}
	if (pid == 0) {
		close(req[1]);
		close(frames[0]);
		fetcher_main(req[0], frames[1]);
	}
	close(req[0]);
	close(frames[1]);
	f->pid = pid;
	f->req = req[1];
	f->frames = frames[0];
	*out = f;
	return 0;
}

void wo_git_fetcher_free(struct wo_git_fetcher *f)
{
	if (!f)
		return;
	close(f->req);
	close(f->frames);
	kill(-f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	free(f);
}

/* Hands the request to f; the frames fd on success (f is spent). */
static int fetcher_use(struct wo_git_fetcher *f, const struct wo_git_sync_opts *o)
{
	json_t *c = NULL;
	if (o->creds)
		c = json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?}", "https_username", o->creds->https_username, "https_token",
			      o->creds->https_token, "ssh_username", o->creds->ssh_username, "ssh_private_key",
			      o->creds->ssh_private_key, "bound", o->creds->bound);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:o?,s:I,s:I,s:I}", "url", o->url, "cache_dir", o->cache_dir,
			      "source_dir", o->source_dir, "branch", o->branch, "ref", o->ref, "creds", c,
			      "max_fetch_bytes", (json_int_t)o->max_fetch_bytes, "max_checkout_bytes",
			      (json_int_t)o->max_checkout_bytes, "max_memory_bytes", (json_int_t)o->max_memory_bytes);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	int rc = -1;
	if (text && waitpid(f->pid, NULL, WNOHANG) == 0) {
		uint32_t len = (uint32_t)strlen(text);
		struct iovec iov[2] = { { &len, sizeof(len) }, { text, len } };
		ssize_t n = writev(f->req, iov, 2);
		rc = n == (ssize_t)(sizeof(len) + len) ? 0 : -1;
		sodium_memzero(text, len);
	}
	free(text);
	return rc;
}

/* Takes whole frames from buf (len bytes); returns how many bytes it used. */
static size_t take_frames(const char *buf, size_t len, const struct wo_git_sync_opts *o, long *heard_at,
			  struct wo_git_result *res, int *got, struct wo_buf *err, int *err_code)
{
	size_t off = 0;
	while (len - off >= 5) {
		uint32_t n;
		memcpy(&n, buf + off + 1, 4);
		if (len - off - 5 < n)
			break;
		const char *p = buf + off + 5;
		*heard_at = now_ms();
		switch (buf[off]) {
		case FRAME_LOG: {
			char *line = strndup(p, n);
			if (line && o->log)
				o->log(o->ud, line);
			free(line);
			break;
		}
		case FRAME_RESULT:
			if (n == sizeof(*res)) {
				memcpy(res, p, sizeof(*res));
				*got = 1;
			}
			break;
		case FRAME_ERROR:
			wo_buf_clear(err);
			if (n >= 4) {
				int32_t code;
				memcpy(&code, p, 4);
				*err_code = code;
				wo_buf_add(err, p + 4, n - 4);
			}
			*got = -1;
			break;
		default:
			break;
		}
		off += 5 + n;
	}
	return off;
}

int wo_git_sync_child(struct wo_git_result *out, const struct wo_git_sync_opts *o, const struct wo_git_limits *lim,
		      struct wo_git_fetcher *fetcher)
{
	int timeout_s = lim && lim->timeout_s > 0 ? lim->timeout_s : 600;
	int stall_s = lim && lim->stall_s > 0 ? lim->stall_s : 60;
	int p[2] = { -1, -1 };
	pid_t pid = -1;
	if (fetcher && fetcher_use(fetcher, o) == 0) {
		pid = fetcher->pid;
		p[0] = fetcher->frames;
		close(fetcher->req);
		free(fetcher);
		fetcher = NULL;
	}
	wo_git_fetcher_free(fetcher); /* one that could not take it */
	if (pid < 0) {
	if (pipe2(p, O_CLOEXEC) < 0)
			return wo_error_set("cannot start the fetch: %s", strerror(errno));
		pid = wo_fork("the fetch", &child_fork);
		if (pid < 0) {
			close(p[0]);
			close(p[1]);
			return -1;
		}
		if (pid == 0) {
			close(p[0]);
			child_main(p[1], o);
		}
		close(p[1]);
	}
	if (o->meanwhile)
		o->meanwhile(o->ud);

	long start = now_ms(), heard_at = start;
	struct wo_git_result res;
	memset(&res, 0, sizeof(res));
	struct wo_buf in = WO_BUF_INIT, err = WO_BUF_INIT;
	int got = 0, eof = 0, err_code = WO_ERROR;
	const char *stopped = NULL;
	while (!eof) {
		long now = now_ms();
		if (o->cancelled && o->cancelled(o->ud)) {
			stopped = "cancelled";
			break;
		}
		if (now - heard_at >= stall_s * 1000L) {
			stopped = "stalled";
			break;
		}
		if (now - start >= timeout_s * 1000L) {
			stopped = "timeout";
			break;
		}
		struct pollfd pfd = { p[0], POLLIN, 0 };
		/* the caller's cancelled() is also its tick: asked every 50 ms at least */
		int r = poll(&pfd, 1, 50);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		char chunk[16384];
		ssize_t n = read(p[0], chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			eof = 1;
		} else if (wo_buf_add(&in, chunk, (size_t)n) < 0) {
			stopped = "out of memory";
			break;
		}
		size_t used = take_frames(in.ptr, in.len, o, &heard_at, &res, &got, &err, &err_code);
		if (used) {
			memmove(in.ptr, in.ptr + used, in.len - used);
			wo_buf_truncate(&in, in.len - used);
		}
		if (got)
			break; /* it has said all it will say */
	}
	/* whatever it started goes with it; one that has given its result is
	 * not waited for (it is on its way out; the zombie goes with us) */
	kill(-pid, SIGKILL);
	int status = 0;
	if (!got)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	else
		waitpid(pid, &status, WNOHANG);
	close(p[0]);
	wo_buf_release(&in);
	int rc = -1;
	char *url = wo_url_redact(o->url);
	if (stopped && !strcmp(stopped, "cancelled"))
		wo_error_setc(WO_ECANCELLED, "cancelled");
	else if (stopped && !strcmp(stopped, "stalled"))
		wo_error_setc(WO_ETIMEOUT, "the repository at '%s' stopped answering (no data for %d s)", url, stall_s);
	else if (stopped && !strcmp(stopped, "timeout"))
		wo_error_setc(WO_ETIMEOUT, "the fetch from '%s' did not finish within %d s (WEBOPS_FETCH_TIMEOUT_S)", url,
			      timeout_s);
	else if (stopped)
		wo_error_set("cannot fetch '%s': %s", url, stopped);
	else if (got == 1)
		rc = 0;
	else if (got == -1)
		wo_error_setc(err_code, "%s", wo_buf_cstr(&err));
	else {
		char how[64];
		wo_proc_describe(how, sizeof(how), status);
		wo_error_set("the fetch from '%s' ended without a result: its process %s", url, how);
	}
	free(url);
	wo_buf_release(&err);
	if (rc == 0)
		*out = res;
	return rc;
}

int wo_git_cached_is_behind(const char *data_dir, long long dep_id, const char *current, const char *commit)
{
	if (!current || !commit || !*current || !*commit)
		return 0;
	if (!strcmp(current, commit))
		return 1;
	git_oid cur, c;
	if (git_oid_fromstr(&cur, current) < 0 || git_oid_fromstr(&c, commit) < 0)
		return 0;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/repos/%lld.git", data_dir, dep_id);
	git_libgit2_init();
	git_repository *repo = NULL;
	int behind = 0;
	if (git_repository_open_bare(&repo, path) == 0)
		behind = git_graph_descendant_of(repo, &cur, &c) == 1;
	git_repository_free(repo);
	git_libgit2_shutdown();
	return behind;
}
