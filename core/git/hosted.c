/* The repositories webops hosts for pushes, created and kept in shape with
 * libgit2. The pre-receive hook is the only file written that a shell reads:
 * it holds our own absolute path and a validated deployment name, both
 * single-quoted. */
#include "git/hosted.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "store/validate.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

static int check_name(const char *name)
{
	struct wo_buf err = WO_BUF_INIT;
	int rc = 0;
	if (wo_validate_name(name, &err) < 0)
		rc = wo_error_set("%s", wo_buf_cstr(&err));
	wo_buf_release(&err);
	return rc;
}

int wo_git_hosted_root(struct wo_buf *out, const char *data_dir)
{
	struct wo_buf dir = WO_BUF_INIT;
	wo_buf_printf(&dir, "%s/git", data_dir);
	if (wo_fs_mkdir_p(dir.ptr, 0700) < 0) {
		wo_buf_release(&dir);
		return -1;
	}
	char abs[PATH_MAX];
	if (!realpath(dir.ptr, abs)) {
		int e = errno;
		wo_error_set("cannot resolve '%s': %s", dir.ptr, strerror(e));
		wo_buf_release(&dir);
		return -1;
	}
	wo_buf_release(&dir);
	wo_buf_clear(out);
	wo_buf_puts(out, abs);
	return 0;
}

int wo_git_hosted_path(struct wo_buf *out, const char *data_dir, const char *name)
{
	if (check_name(name) < 0 || wo_git_hosted_root(out, data_dir) < 0)
		return -1;
	wo_buf_printf(out, "/%s.git", name);
	return 0;
}

int wo_git_hosted_staging_path(struct wo_buf *out, const char *data_dir, const char *name)
{
	if (check_name(name) < 0 || wo_git_hosted_root(out, data_dir) < 0)
		return -1;
	wo_buf_printf(out, "/.staging/%s.git", name);
	return 0;
}

int wo_git_hosted_staging_url(struct wo_buf *out, const char *data_dir, const char *name)
{
	struct wo_buf p = WO_BUF_INIT;
	if (wo_git_hosted_staging_path(&p, data_dir, name) < 0) {
		wo_buf_release(&p);
		return -1;
	}
	wo_buf_clear(out);
	wo_buf_printf(out, "file://%s", p.ptr);
	wo_buf_release(&p);
	return 0;
}

static int git_fail(const char *what, const char *path)
{
	const git_error *e = git_error_last();
	return wo_error_set("%s '%s': %s", what, path, e && e->message ? e->message : "unknown error");
}

/* Opens the bare repository at path, creating it when it is not there. */
static int open_or_init(git_repository **out, const char *path)
{
	struct stat st;
	struct wo_buf head = WO_BUF_INIT;
	wo_buf_printf(&head, "%s/HEAD", path);
	int exists = stat(head.ptr, &st) == 0;
	wo_buf_release(&head);
	if (exists && git_repository_open_bare(out, path) == 0)
		return 0;
	if (wo_fs_mkdir_p(path, 0700) < 0)
		return -1;
	if (git_repository_init(out, path, 1) < 0)
		return git_fail("cannot create the repository", path);
	return 0;
}

/* 'text' with every ' written as '\'' : safe inside sh, whatever it holds. */
static void sh_quote(struct wo_buf *b, const char *text)
{
	wo_buf_putc(b, '\'');
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			wo_buf_puts(b, "'\\''");
		else
			wo_buf_putc(b, *p);
	}
	wo_buf_putc(b, '\'');
}

static int write_hook(const char *repo_path, const char *name)
{
	struct wo_buf webops = WO_BUF_INIT, script = WO_BUF_INIT, dir = WO_BUF_INIT, path = WO_BUF_INIT;
	int rc = -1;
	wo_buf_printf(&webops, "%s/webops", wo_config_exe_dir());
	if (webops.ptr[0] != '/' || strpbrk(webops.ptr, "\n\r")) {
		wo_error_set("cannot write the push hook: the webops program path '%s' is not a plain absolute path",
			     webops.ptr);
		goto out;
	}
	wo_buf_puts(&script, "#!/bin/sh\nexec ");
	sh_quote(&script, webops.ptr);
	wo_buf_puts(&script, " git-hook ");
	sh_quote(&script, name);
	wo_buf_putc(&script, '\n');
	wo_buf_printf(&dir, "%s/hooks", repo_path);
	wo_buf_printf(&path, "%s/pre-receive", dir.ptr);
	char *cur = NULL;
	size_t len = 0;
	struct stat st;
	if (wo_fs_read_file(&cur, &len, path.ptr, 64 * 1024) == 0 && len == script.len &&
	    !memcmp(cur, script.ptr, len) && stat(path.ptr, &st) == 0 && (st.st_mode & 0100)) {
		free(cur);
		rc = 0;
		goto out;
	}
	free(cur);
	wo_error_clear();
	if (wo_buf_failed(&script) || wo_buf_failed(&path)) {
		wo_error_setc(WO_ENOMEM, "cannot install the push hook: out of memory");
		goto out;
	}
	if (wo_fs_mkdir_p(dir.ptr, 0755) < 0 || wo_fs_write_file_atomic(path.ptr, script.ptr, script.len, 0755) < 0) {
		wo_error_prefix("cannot install the push hook");
		goto out;
	}
	/* the umask may have taken the execute bits */
	if (chmod(path.ptr, 0755) < 0) {
		wo_error_set("cannot make '%s' executable: %s", path.ptr, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	wo_buf_release(&webops);
	wo_buf_release(&script);
	wo_buf_release(&dir);
	wo_buf_release(&path);
	return rc;
}

static int configure_hosted(git_repository *repo, const char *path, const char *branch)
{
	git_config *all = NULL, *local = NULL;
	int rc = -1;
	struct wo_buf head = WO_BUF_INIT;
	if (git_repository_config(&all, repo) < 0 || git_config_open_level(&local, all, GIT_CONFIG_LEVEL_LOCAL) < 0) {
		git_fail("cannot read the configuration of", path);
		goto out;
	}
	int on = 0;
	if (git_config_get_bool(&on, local, "http.receivepack") < 0 || !on) {
		if (git_config_set_bool(local, "http.receivepack", 1) < 0) {
			git_fail("cannot configure", path);
			goto out;
		}
	}
	/* clones check out the branch the deployment deploys */
	wo_buf_printf(&head, "refs/heads/%s", branch);
	git_reference *h = NULL;
	int same = 0;
	if (git_reference_lookup(&h, repo, "HEAD") == 0) {
		const char *t = git_reference_symbolic_target(h);
		same = t && !strcmp(t, head.ptr);
		git_reference_free(h);
	}
	if (!same && git_repository_set_head(repo, head.ptr) < 0) {
		git_fail("cannot point HEAD at the deployment's branch in", path);
		goto out;
	}
	rc = 0;
out:
	wo_buf_release(&head);
	git_config_free(local);
	git_config_free(all);
	return rc;
}

int wo_git_hosted_ensure(const char *data_dir, const char *name, const char *branch)
{
	struct wo_buf hosted = WO_BUF_INIT, staging = WO_BUF_INIT, err = WO_BUF_INIT;
	git_repository *h = NULL, *s = NULL;
	int rc = -1;
	if (!branch || wo_validate_branch(branch, &err) < 0) {
		wo_error_set("%s", err.len ? err.ptr : "branch: is required");
		goto out;
	}
	if (wo_git_hosted_path(&hosted, data_dir, name) < 0 || wo_git_hosted_staging_path(&staging, data_dir, name) < 0)
		goto out;
	git_libgit2_init();
	if (open_or_init(&h, hosted.ptr) < 0 || configure_hosted(h, hosted.ptr, branch) < 0 ||
	    write_hook(hosted.ptr, name) < 0 || open_or_init(&s, staging.ptr) < 0) {
		git_repository_free(h);
		git_repository_free(s);
		git_libgit2_shutdown();
		goto out;
	}
	git_repository_free(h);
	git_repository_free(s);
	git_libgit2_shutdown();
	rc = 0;
out:
	wo_buf_release(&hosted);
	wo_buf_release(&staging);
	wo_buf_release(&err);
	return rc;
}

int wo_git_hosted_remove(const char *data_dir, const char *name)
{
	struct wo_buf hosted = WO_BUF_INIT, staging = WO_BUF_INIT;
	int rc = -1;
	if (wo_git_hosted_path(&hosted, data_dir, name) < 0 || wo_git_hosted_staging_path(&staging, data_dir, name) < 0)
		goto out;
	if (wo_fs_rm_rf(hosted.ptr) < 0 || wo_fs_rm_rf(staging.ptr) < 0)
		goto out;
	rc = 0;
out:
	wo_buf_release(&hosted);
	wo_buf_release(&staging);
	return rc;
}

int wo_git_is_sha(const char *s)
{
	size_t n = s ? strspn(s, "0123456789abcdef") : 0;
	return s && (n == 40 || n == 64) && s[n] == '\0';
}

int wo_git_is_zero_sha(const char *s)
{
	return wo_git_is_sha(s) && strspn(s, "0") == strlen(s);
}

int wo_git_hosted_staging_restore(const char *data_dir, const char *name, const char *branch, const char *new_sha,
				  const char *old_sha)
{
	if (!wo_git_is_sha(new_sha) || !wo_git_is_sha(old_sha))
		return wo_error_set("cannot restore the staging branch: '%s' or '%s' is not an object name", new_sha,
				    old_sha);
	struct wo_buf staging = WO_BUF_INIT, ref = WO_BUF_INIT;
	git_repository *repo = NULL;
	git_reference *cur = NULL, *moved = NULL;
	int rc = -1;
	if (wo_git_hosted_staging_path(&staging, data_dir, name) < 0)
		goto out;
	wo_buf_printf(&ref, "refs/heads/%s", branch);
	git_libgit2_init();
	if (git_repository_open_bare(&repo, staging.ptr) < 0) {
		git_fail("cannot open", staging.ptr);
		goto done;
	}
	git_oid want_new, want_old;
	if (git_oid_fromstr(&want_new, new_sha) < 0 || git_oid_fromstr(&want_old, old_sha) < 0) {
		wo_error_set("cannot restore the staging branch: bad object name");
		goto done;
	}
	if (git_reference_lookup(&cur, repo, ref.ptr) < 0 || !git_reference_target(cur) ||
	    !git_oid_equal(git_reference_target(cur), &want_new)) {
		rc = 0; /* something newer is there already: not ours to undo */
		goto done;
	}
	if (wo_git_is_zero_sha(old_sha) ||
	    git_reference_create_matching(&moved, repo, ref.ptr, &want_old, 1, &want_new, "webops: push refused") < 0) {
		/* the first push of the branch, or the old commit is not here: no branch is better than a refused one */
		if (git_reference_delete(cur) < 0) {
			git_fail("cannot reset the staging branch in", staging.ptr);
			goto done;
		}
	}
	rc = 0;
done:
	git_reference_free(moved);
	git_reference_free(cur);
	git_repository_free(repo);
	git_libgit2_shutdown();
out:
	wo_buf_release(&staging);
	wo_buf_release(&ref);
	return rc;
}

int wo_git_hosted_branch_sha(char out[65], const char *data_dir, const char *name, const char *branch)
{
	struct wo_buf hosted = WO_BUF_INIT, ref = WO_BUF_INIT;
	git_repository *repo = NULL;
	int rc = -1;
	out[0] = '\0';
	if (wo_git_hosted_path(&hosted, data_dir, name) < 0)
		goto out;
	wo_buf_printf(&ref, "refs/heads/%s", branch);
	git_libgit2_init();
	if (git_repository_open_bare(&repo, hosted.ptr) < 0) {
		git_fail("cannot open", hosted.ptr);
	} else {
		git_oid oid;
		int r = git_reference_name_to_id(&oid, repo, ref.ptr);
		if (r == 0) {
			git_oid_tostr(out, 65, &oid);
			rc = 0;
		} else if (r == GIT_ENOTFOUND) {
			rc = 0;
		} else {
			git_fail("cannot read the branch of", hosted.ptr);
		}
	}
	git_repository_free(repo);
	git_libgit2_shutdown();
out:
	wo_buf_release(&hosted);
	wo_buf_release(&ref);
	return rc;
}

int wo_git_hosted_lock(int *fd_out, int *busy, const char *data_dir, const char *name, int nonblock)
{
	struct wo_buf path = WO_BUF_INIT;
	*busy = 0;
	if (wo_git_hosted_path(&path, data_dir, name) < 0) {
		wo_buf_release(&path);
		return -1;
	}
	wo_buf_puts(&path, "/webops-push.lock");
	int fd = open(path.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		wo_error_set("cannot open '%s': %s", path.ptr, strerror(e));
		wo_buf_release(&path);
		return -1;
	}
	if (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) < 0) {
		int e = errno;
		*busy = e == EWOULDBLOCK;
		close(fd);
		wo_error_set("cannot lock '%s': %s", path.ptr, strerror(e));
		wo_buf_release(&path);
		return -1;
	}
	wo_buf_release(&path);
	*fd_out = fd;
	return 0;
}

int wo_git_hosted_set_pending(int fd, const char *sha)
{
	char line[80];
	int n = snprintf(line, sizeof(line), "%s\n", sha);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) != n)
		return wo_error_set("cannot record the pending commit: %s", strerror(errno));
	return 0;
}

void wo_git_hosted_get_pending(char out[65], int fd, int max_age_s)
{
	char line[80];
	struct stat st;
	out[0] = '\0';
	if (fstat(fd, &st) < 0 || time(NULL) - st.st_mtime > max_age_s)
		return;
	ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
	if (n <= 0)
		return;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (wo_git_is_sha(line))
		snprintf(out, 65, "%s", line);
}

int wo_git_parse_ssh_command(const char **service_out, char *name, size_t cap, const char *cmd)
{
	static const struct {
		const char *spelling;
		const char *service;
	} verbs[] = {
		{ "git-receive-pack", "receive-pack" },
		{ "git-upload-pack", "upload-pack" },
		{ "git receive-pack", "receive-pack" },
		{ "git upload-pack", "upload-pack" },
	};
	const char *service = NULL, *p = NULL;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]) && !service; i++) {
		size_t n = strlen(verbs[i].spelling);
		if (!strncmp(cmd, verbs[i].spelling, n) && cmd[n] == ' ') {
			service = verbs[i].service;
			p = cmd + n;
		}
	}
	if (!service)
		return -1;
	while (*p == ' ')
		p++;
	size_t len = strlen(p);
	while (len && p[len - 1] == ' ')
		len--;
	if (len >= 2 && (p[0] == '\'' || p[0] == '"') && p[len - 1] == p[0]) {
		p++;
		len -= 2;
	}
	/* what is left is one path of harmless characters */
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '.' ||
		      p[i] == '/'))
			return -1;
	if (len && p[0] == '/') {
		p++;
		len--;
	}
	if (len && p[len - 1] == '/')
		len--;
	if (len > 4 && !memcmp(p + len - 4, ".git", 4))
		len -= 4;
	if (len == 0 || len >= cap || memchr(p, '/', len) || memchr(p, '.', len))
		return -1;
	memcpy(name, p, len);
	name[len] = '\0';
	*service_out = service;
	return 0;
}
