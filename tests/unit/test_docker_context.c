/* The Docker addon's build context: .dockerignore applied to a real tree,
 * Dockerfile and .dockerignore always sent, symlinks kept as symlinks, and the
 * tar stream read back with libarchive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "ignore.h"
#include "context.h"
#include "dkutil.h"
#include "testdb.h"
#include "util/fs.h"

static void put(const char *root, const char *rel, const char *text, int mode)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	assert_int_equal(wo_fs_mkdir_p(path, 0755), 0);
	*slash = '/';
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, (mode_t)mode);
}

static int has(struct dk_context *c, const char *path)
{
	for (size_t i = 0; i < dk_context_count(c); i++)
		if (strcmp(dk_context_path(c, i), path) == 0)
			return 1;
	return 0;
}

struct tarred {
	char *name;
	int type;
	int perm;
	char *link;
	char *data;
};

/* Reads the whole stream (in small pieces, as curl would) and lists it. */
static size_t read_back(struct dk_context *c, struct tarred *out, size_t max)
{
	struct dk_buf all = DK_BUF_INIT;
	char buf[777];
	long n;
	while ((n = dk_context_read(c, buf, sizeof(buf))) > 0)
		assert_int_equal(dk_buf_add(&all, buf, (size_t)n), 0);
	if (n < 0)
		print_error("read failed: %s\n", dk_error_last());
	assert_int_equal(n, 0);
	assert_int_equal(all.len % 512, 0);

	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, all.ptr, all.len), ARCHIVE_OK);
	struct archive_entry *ae;
	size_t k = 0;
	while (k < max && archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		out[k].name = strdup(archive_entry_pathname(ae));
		out[k].type = (int)archive_entry_filetype(ae);
		out[k].perm = (int)archive_entry_perm(ae);
		out[k].link = archive_entry_symlink(ae) ? strdup(archive_entry_symlink(ae)) : NULL;
		assert_int_equal(archive_entry_uid(ae), 0);
		struct dk_buf d = DK_BUF_INIT;
		char chunk[1024];
		la_ssize_t r;
		while ((r = archive_read_data(a, chunk, sizeof(chunk))) > 0)
			dk_buf_add(&d, chunk, (size_t)r);
		out[k].data = dk_buf_detach(&d);
		k++;
	}
	archive_read_free(a);
	dk_buf_release(&all);
	return k;
}

static const struct tarred *find(const struct tarred *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

static void test_context(void **state)
{
	(void)state;
	char root[4096];
	snprintf(root, sizeof(root), "%s/ctx", wo_test_tmpdir());
	put(root, "Dockerfile", "FROM scratch\n", 0644);
	put(root, ".dockerignore",
	    "# build junk\n*.log\nsecret\n!secret/public.txt\nDockerfile\n.dockerignore\n**/*.tmp\n", 0644);
	put(root, "app.txt", "hello app\n", 0644);
	put(root, "run.sh", "#!/bin/sh\n", 0755);
	put(root, "debug.log", "noise\n", 0644);
	put(root, "secret/key", "top secret\n", 0600);
	put(root, "secret/public.txt", "public\n", 0644);
	put(root, "dir/sub/file", "deep\n", 0644);
	put(root, "dir/sub/x.tmp", "tmp\n", 0644);
	char lp[4096];
	snprintf(lp, sizeof(lp), "%s/link", root);
	assert_int_equal(symlink("app.txt", lp), 0);
	snprintf(lp, sizeof(lp), "%s/escape", root);
	assert_int_equal(symlink("/etc/passwd", lp), 0);
	snprintf(lp, sizeof(lp), "%s/fifo", root);
	assert_int_equal(mkfifo(lp, 0644), 0);

	struct dk_context *c = NULL;
	if (dk_context_open(&c, root, "Dockerfile") != 0)
		print_error("%s\n", dk_error_last());
	assert_non_null(c);
	assert_true(has(c, "Dockerfile"));
	assert_true(has(c, ".dockerignore"));
	assert_true(has(c, "app.txt"));
	assert_false(has(c, "debug.log"));
	assert_false(has(c, "secret"));      /* the excluded dir itself stays out */
	assert_false(has(c, "secret/key"));
	assert_true(has(c, "secret/public.txt"));
	assert_true(has(c, "dir/sub/file"));
	assert_false(has(c, "dir/sub/x.tmp"));
	assert_false(has(c, "fifo"));
	/* Docker's order: each directory's names sorted, depth first */
	assert_string_equal(dk_context_path(c, 0), ".dockerignore");

	struct tarred t[64];
	size_t n = read_back(c, t, 64);
	assert_int_equal(n, dk_context_count(c));
	const struct tarred *e = find(t, n, "app.txt");
	assert_non_null(e);
	assert_string_equal(e->data, "hello app\n");
	assert_int_equal(e->perm, 0644);
	e = find(t, n, "run.sh");
	assert_non_null(e);
	assert_int_equal(e->perm, 0755);
	e = find(t, n, "dir/");
	assert_non_null(e);
	assert_int_equal(e->type, AE_IFDIR);
	e = find(t, n, "link");
	assert_non_null(e);
	assert_int_equal(e->type, AE_IFLNK);
	assert_string_equal(e->link, "app.txt");
	/* a symlink out of the tree is sent as a symlink, never as the file it names */
	e = find(t, n, "escape");
	assert_non_null(e);
	assert_int_equal(e->type, AE_IFLNK);
	assert_string_equal(e->link, "/etc/passwd");
	assert_string_equal(e->data, "");
	e = find(t, n, "secret/public.txt");
	assert_non_null(e);
	assert_string_equal(e->data, "public\n");
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].link);
		free(t[i].data);
	}
	dk_context_free(c);
}

static void test_bad_ignore(void **state)
{
	(void)state;
	char root[4096];
	snprintf(root, sizeof(root), "%s/bad", wo_test_tmpdir());
	put(root, "Dockerfile", "FROM scratch\n", 0644);
	put(root, ".dockerignore", "ok\n[oops\n", 0644);
	struct dk_context *c = NULL;
	assert_int_equal(dk_context_open(&c, root, "Dockerfile"), -1);
	assert_null(c);
	assert_non_null(strstr(dk_error_last(), "'.dockerignore' line 2"));
}

static void test_big_file_streams(void **state)
{
	(void)state;
	char root[4096], path[4200];
	snprintf(root, sizeof(root), "%s/big", wo_test_tmpdir());
	put(root, "Dockerfile", "FROM scratch\n", 0644);
	snprintf(path, sizeof(path), "%s/blob", root);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	char block[4096];
	for (int i = 0; i < 1000; i++) {
		memset(block, 'a' + i % 26, sizeof(block));
		assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	}
	close(fd);
	struct dk_context *c = NULL;
	assert_int_equal(dk_context_open(&c, root, "Dockerfile"), 0);
	assert_true(dk_context_bytes(c) >= 4096000);
	struct tarred t[8];
	size_t n = read_back(c, t, 8);
	const struct tarred *e = find(t, n, "blob");
	assert_non_null(e);
	assert_int_equal(strlen(e->data), 4096000);
	assert_int_equal(e->data[4096 * 27], 'b');
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].link);
		free(t[i].data);
	}
	dk_context_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_context),
		cmocka_unit_test(test_bad_ignore),
		cmocka_unit_test(test_big_file_streams),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
