/* libgit2 fetch against real repositories made with git in temp dirs: first
 * clone, incremental fetch of one new commit, refs, and errors in words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "git/fetch.h"
#include "testdb.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/proc.h"

static char repo[512], cache[512], src[512];

static void git(const char *dir, ...)
{
	char *argv[32];
	int n = 0;
	argv[n++] = "git";
	argv[n++] = "-C";
	argv[n++] = (char *)dir;
	va_list ap;
	va_start(ap, dir);
	char *a;
	while ((a = va_arg(ap, char *)) && n < 31)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int st;
	assert_int_equal(wo_proc_run(&st, NULL, argv, &(struct wo_proc_opts){ .out_fd = -1 }), 0);
	assert_int_equal(st, 0);
}

static void commit_file(const char *name, const char *text, const char *msg)
{
	struct wo_buf p = WO_BUF_INIT;
	wo_buf_printf(&p, "%s/%s", repo, name);
	assert_int_equal(wo_fs_write_file_atomic(p.ptr, text, strlen(text), 0644), 0);
	wo_buf_release(&p);
	git(repo, "add", name, NULL);
	git(repo, "-c", "user.name=Test", "-c", "user.email=t@example.com", "commit", "-qm", msg, NULL);
}

static int lines;
static void log_line(void *ud, const char *line)
{
	(void)ud;
	lines++;
	if (getenv("VERBOSE"))
		printf("  | %s\n", line);
}

static int sync_ref(struct wo_git_result *r, const char *url, const char *branch, const char *ref)
{
	struct wo_git_sync_opts o = { .url = url, .cache_dir = cache, .source_dir = src, .branch = branch,
				      .ref = ref, .log = log_line };
	return wo_git_sync(r, &o);
}

static int setup(void **state)
{
	(void)state;
	const char *t = wo_test_tmpdir();
	snprintf(repo, sizeof(repo), "%s/repo", t);
	snprintf(cache, sizeof(cache), "%s/cache/x.git", t);
	snprintf(src, sizeof(src), "%s/src", t);
	wo_fs_mkdir_p(repo, 0755);
	git(repo, "init", "-q", "-b", "main", NULL);
	commit_file("index.html", "<h1>one</h1>\n", "first");
	return 0;
}

static void test_clone_then_incremental(void **state)
{
	(void)state;
	struct wo_git_result r;
	lines = 0;
	if (sync_ref(&r, repo, "main", NULL) < 0)
		fail_msg("%s", wo_error_last());
	assert_true(r.first_clone);
	assert_true(r.received_objects >= 3);
	assert_string_equal(r.subject, "first");
	assert_non_null(strstr(r.author, "Test <t@example.com>"));
	assert_true(lines >= 2);
	char *text;
	struct wo_buf p = WO_BUF_INIT;
	wo_buf_printf(&p, "%s/index.html", src);
	assert_int_equal(wo_fs_read_file(&text, NULL, p.ptr, 1024), 0);
	assert_string_equal(text, "<h1>one</h1>\n");
	free(text);
	char first_sha[41];
	memcpy(first_sha, r.sha, 41);

	commit_file("index.html", "<h1>two</h1>\n", "second");
	if (sync_ref(&r, "file://" "", "main", NULL) == 0) {
		/* "file://" with an empty path is not a repository */
		fail_msg("expected an error for an empty file:// URL");
	}
	struct wo_buf url = WO_BUF_INIT;
	wo_buf_printf(&url, "file://%s", repo);
	if (sync_ref(&r, url.ptr, "main", NULL) < 0)
		fail_msg("%s", wo_error_last());
	assert_false(r.first_clone);
	/* one commit, one tree, one blob */
	assert_true(r.received_objects <= 3);
	assert_string_equal(r.subject, "second");
	assert_int_equal(wo_fs_read_file(&text, NULL, p.ptr, 1024), 0);
	assert_string_equal(text, "<h1>two</h1>\n");
	free(text);

	/* an explicit commit, then a tag */
	if (sync_ref(&r, url.ptr, "main", first_sha) < 0)
		fail_msg("%s", wo_error_last());
	assert_string_equal(r.sha, first_sha);
	git(repo, "tag", "v1", first_sha, NULL);
	if (sync_ref(&r, url.ptr, "main", "v1") < 0)
		fail_msg("%s", wo_error_last());
	assert_string_equal(r.sha, first_sha);
	assert_int_equal(wo_fs_read_file(&text, NULL, p.ptr, 1024), 0);
	assert_string_equal(text, "<h1>one</h1>\n");
	free(text);
	wo_buf_release(&p);
	wo_buf_release(&url);
}

static void test_errors(void **state)
{
	(void)state;
	struct wo_git_result r;
	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(sync_ref(&r, repo, "nope", NULL), -1);
	assert_non_null(strstr(wo_error_last(), "branch 'nope' not found"));
	assert_int_equal(r.sha[0], 0x5a); /* not written on failure */

	assert_int_equal(sync_ref(&r, repo, "main", "no-such-ref"), -1);
	assert_non_null(strstr(wo_error_last(), "ref 'no-such-ref' not found"));

	char other[600];
	snprintf(other, sizeof(other), "%s-other", cache);
	struct wo_git_sync_opts o = { .url = "/nonexistent/repo.git", .cache_dir = other, .source_dir = src,
				      .branch = "main", .log = log_line };
	assert_int_equal(wo_git_sync(&r, &o), -1);
	assert_non_null(strstr(wo_error_last(), "repository not found"));
	o.url = "http://127.0.0.1:9/nothing.git";
	assert_int_equal(wo_git_sync(&r, &o), -1);
	assert_non_null(strstr(wo_error_last(), "not reachable"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clone_then_incremental),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
