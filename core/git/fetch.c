/* libgit2 fetch + checkout for deploy runs. Credentials are used only in the
 * credential callback and never logged. */
#include "git/fetch.h"

#include <errno.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

struct sync_state {
	const struct wo_git_sync_opts *o;
	int cred_attempts;
	int last_pct;
	struct timespec last_log;
	size_t objects, bytes;
	unsigned total;
};

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

static int on_credentials(git_credential **out, const char *url, const char *username_from_url,
			  unsigned int allowed, void *payload)
{
	struct sync_state *st = payload;
	const struct wo_git_creds *c = st->o->creds;
	(void)url;
	/* libgit2 asks again after a rejection: stop after two tries */
	if (++st->cred_attempts > 2 || !c)
		return GIT_PASSTHROUGH;
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
	st->objects = p->received_objects;
	st->bytes = p->received_bytes;
	st->total = p->total_objects;
	if (st->o->cancelled && st->o->cancelled(st->o->ud)) {
		git_error_set_str(GIT_ERROR_NONE, "cancelled");
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

/* libgit2's error in words a user can act on. */
static int fail(const struct wo_git_sync_opts *o, int code, const char *what)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "unknown error";
	if (code == GIT_EAUTH || strstr(msg, "authentication") || strstr(msg, "401") || strstr(msg, "403") ||
	    strstr(msg, "credentials") || strstr(msg, "Permission denied"))
		return wo_error_set("authentication failed for '%s' (%s)", o->url, msg);
	if (strstr(msg, "404") || strstr(msg, "not found") || strstr(msg, "could not find repository") ||
	    strstr(msg, "failed to resolve path") || strstr(msg, "does not exist") ||
	    strstr(msg, "not a git repository") || strstr(msg, "unsupported URL protocol") ||
	    strstr(msg, "failed to resolve address") || strstr(msg, "could not read from remote") ||
	    strstr(msg, "failed to connect") || code == GIT_ENOTFOUND)
		return wo_error_set("repository not found or not reachable: '%s' (%s)", o->url, msg);
	if (!strcmp(msg, "cancelled"))
		return wo_error_set("cancelled");
	return wo_error_set("%s '%s': %s", what, o->url, msg);
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

static int resolve(git_commit **out, git_repository *repo, const struct wo_git_sync_opts *o)
{
	git_object *obj = NULL;
	struct wo_buf name = WO_BUF_INIT;
	int r = GIT_ENOTFOUND;
	if (!o->ref) {
		wo_buf_printf(&name, "refs/remotes/origin/%s", o->branch);
		r = git_revparse_single(&obj, repo, name.ptr);
		wo_buf_release(&name);
		if (r < 0)
			return wo_error_set("branch '%s' not found in '%s'", o->branch, o->url);
	} else {
		const char *const forms[] = { "refs/remotes/origin/%s", "refs/tags/%s", "%s" };
		for (size_t i = 0; i < 3 && r < 0; i++) {
			wo_buf_clear(&name);
			wo_buf_printf(&name, forms[i], o->ref);
			r = git_revparse_single(&obj, repo, name.ptr);
		}
		wo_buf_release(&name);
		if (r < 0)
			return wo_error_set("ref '%s' not found in '%s': use a branch, a tag or a commit", o->ref, o->url);
	}
	git_object *peeled = NULL;
	r = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (r < 0)
		return wo_error_set("'%s' does not name a commit", o->ref ? o->ref : o->branch);
	*out = (git_commit *)peeled;
	return 0;
}

int wo_git_sync(struct wo_git_result *out, const struct wo_git_sync_opts *o)
{
	struct sync_state st = { .o = o, .last_pct = -10 };
	struct wo_git_result res;
	memset(&res, 0, sizeof(res));
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_commit *commit = NULL;
	int rc = -1;

	git_libgit2_init();
	if (open_cache(&repo, o, &res.first_clone) < 0)
		goto out;

	logf_(&st, "%s %s", res.first_clone ? "cloning" : "fetching", o->url);
	long t0 = now_ms();
	int r = git_remote_create_anonymous(&remote, repo, o->url);
	if (r < 0) {
		fail(o, r, "cannot use");
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
		/* asking for a branch the remote lacks */
		if (!o->ref && e && e->message && strstr(e->message, "couldn't find remote ref"))
			wo_error_set("branch '%s' not found in '%s'", o->branch, o->url);
		else
			fail(o, r, "cannot fetch");
		goto out;
	}
	const git_indexer_progress *stats = git_remote_stats(remote);
	res.received_objects = stats->received_objects;
	res.received_bytes = stats->received_bytes;
	res.fetch_ms = now_ms() - t0;
	logf_(&st, "fetched %u new objects (%.1f KiB) in %ld ms", stats->received_objects,
	      stats->received_bytes / 1024.0, res.fetch_ms);

	if (resolve(&commit, repo, o) < 0)
		goto out;
	git_oid_tostr(res.sha, sizeof(res.sha), git_commit_id(commit));
	const char *summary = git_commit_summary(commit);
	snprintf(res.subject, sizeof(res.subject), "%s", summary ? summary : "");
	const git_signature *author = git_commit_author(commit);
	snprintf(res.author, sizeof(res.author), "%s <%s>", author->name, author->email);

	t0 = now_ms();
	if (wo_fs_rm_rf(o->source_dir) < 0 || wo_fs_mkdir_p(o->source_dir, 0755) < 0)
		goto out;
	git_checkout_options co;
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
	co.target_directory = o->source_dir;
	r = git_checkout_tree(repo, (const git_object *)commit, &co);
	if (r < 0) {
		wo_error_set("cannot check out %.12s into '%s': %s", res.sha, o->source_dir, git_error_last()->message);
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
	return rc;
}
