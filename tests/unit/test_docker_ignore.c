/* .dockerignore semantics of the Docker addon: Docker's own pattern table
 * (moby patternmatcher), exceptions, last match wins, parsing and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

/* The addon's logic is compiled into the test: tests link only webops_core. */
#include "ignore.h"
#include "dkutil.h"

static struct dk_ignore *parse(const char *text)
{
	struct dk_ignore *ig = NULL;
	int rc = dk_ignore_parse(&ig, text, strlen(text));
	if (rc != 0)
		print_error("parse failed: %s\n", dk_error_last());
	assert_int_equal(rc, 0);
	return ig;
}

struct row {
	const char *pattern, *path;
	int want;
};

/* From moby/patternmatcher's TestMatches (paths without trailing slashes). */
static const struct row docker_table[] = {
	{"**", "file", 1},
	{"**/", "file", 1},
	{"**", "dir/file", 1},
	{"**/", "dir/file", 1},
	{"**/**", "dir/file", 1},
	{"dir/**", "dir/file", 1},
	{"dir/**", "dir/dir2/file", 1},
	{"**/dir", "dir", 1},
	{"**/dir", "dir/file", 1},
	{"**/dir2/*", "dir/dir2/file", 1},
	{"**/dir2/**", "dir/dir2/dir3/file", 1},
	{"**file", "file", 1},
	{"**file", "dir/file", 1},
	{"**/file", "dir/file", 1},
	{"**file", "dir/dir/file", 1},
	{"**/file", "dir/dir/file", 1},
	{"**/file*", "dir/dir/file", 1},
	{"**/file*", "dir/dir/file.txt", 1},
	{"**/file*txt", "dir/dir/file.txt", 1},
	{"**/file*.txt", "dir/dir/file.txt", 1},
	{"**/file*.txt*", "dir/dir/file.txt", 1},
	{"**/**/*.txt", "dir/dir/file.txt", 1},
	{"**/**/*.txt2", "dir/dir/file.txt", 0},
	{"**/*.txt", "file.txt", 1},
	{"**/**/*.txt", "file.txt", 1},
	{"a**/*.txt", "a/file.txt", 1},
	{"a**/*.txt", "a/dir/file.txt", 1},
	{"a**/*.txt", "a/dir/dir/file.txt", 1},
	{"a/*.txt", "a/dir/file.txt", 0},
	{"a/*.txt", "a/file.txt", 1},
	{"a/*.txt**", "a/file.txt", 1},
	{"a[b-d]e", "ae", 0},
	{"a[b-d]e", "ace", 1},
	{"a[b-d]e", "aae", 0},
	{"a[^b-d]e", "aze", 1},
	{".*", ".foo", 1},
	{".*", "foo", 0},
	{"abc.def", "abcdef", 0},
	{"abc.def", "abc.def", 1},
	{"abc.def", "abcZdef", 0},
	{"abc?def", "abcZdef", 1},
	{"abc?def", "abcdef", 0},
	{"a\\\\", "a\\", 1},
	{"**/foo/bar", "foo/bar", 1},
	{"**/foo/bar", "dir/foo/bar", 1},
	{"**/foo/bar", "dir/dir2/foo/bar", 1},
	{"abc/**", "abc", 0},
	{"abc/**", "abc/def", 1},
	{"abc/**", "abc/def/ghi", 1},
	{"**/.foo", ".foo", 1},
	{"**/.foo", "bar.foo", 0},
	{"a(b)c/def", "a(b)c/def", 1},
	{"a(b)c/def", "a(b)c/xyz", 0},
	{"a.|)$(}+{bc", "a.|)$(}+{bc", 1},
	{"dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
	 "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", 1},
	{"dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", 1},
	/* parents match their children */
	{"node_modules", "node_modules/a/b.js", 1},
	{"*/temp*", "somedir/temporary.txt", 1},
	{"*/temp*", "temp", 0},
	{"temp?", "tempa/x", 1},
	{"docs/*.md", "docs/sub/x.md", 0},
	/* cleaned patterns */
	{"/foo", "foo", 1},
	{"./bar", "bar", 1},
	{"bar/", "bar/x", 1},
	{"a//b/./c/../d", "a/b/d", 1},
	/* code points, not bytes */
	{"caf?", "caf\xc3\xa9", 1},
	{"[\xc3\xa9]x", "\xc3\xa9x", 1},
	{"\\*", "*", 1},
	{"\\*", "a", 0},
};

static void test_docker_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(docker_table) / sizeof(docker_table[0]); i++) {
		const struct row *r = &docker_table[i];
		struct dk_ignore *ig = NULL;
		assert_int_equal(dk_ignore_new(&ig), 0);
		if (dk_ignore_add(ig, r->pattern) != 0) {
			print_error("pattern '%s' refused: %s\n", r->pattern, dk_error_last());
			fail();
		}
		int got = dk_ignore_excluded(ig, r->path);
		if (got != r->want) {
			print_error("pattern '%s' path '%s': want %d got %d\n", r->pattern, r->path, r->want, got);
			fail();
		}
		dk_ignore_free(ig);
	}
}

static void test_exceptions_last_match_wins(void **state)
{
	(void)state;
	struct dk_ignore *ig = parse("*.md\n!README.md\n");
	assert_true(dk_ignore_excluded(ig, "CHANGES.md"));
	assert_false(dk_ignore_excluded(ig, "README.md"));
	assert_false(dk_ignore_excluded(ig, "docs/x.md")); /* '*' stops at '/' */
	dk_ignore_free(ig);

	ig = parse("!README.md\n*.md\n");
	assert_true(dk_ignore_excluded(ig, "README.md"));
	dk_ignore_free(ig);

	ig = parse("docs\n!docs/keep.txt\n");
	assert_true(dk_ignore_excluded(ig, "docs"));
	assert_true(dk_ignore_excluded(ig, "docs/other.txt"));
	assert_false(dk_ignore_excluded(ig, "docs/keep.txt"));
	assert_true(dk_ignore_dir_has_exceptions(ig, "docs"));
	assert_false(dk_ignore_dir_has_exceptions(ig, "src"));
	dk_ignore_free(ig);

	/* an exception for a directory brings back what is under it */
	ig = parse("secret\n!secret/public\nsecret/public/*.key\n");
	assert_false(dk_ignore_excluded(ig, "secret/public/a.txt"));
	assert_true(dk_ignore_excluded(ig, "secret/public/a.key"));
	assert_true(dk_ignore_excluded(ig, "secret/x"));
	dk_ignore_free(ig);

	/* a wildcard exception may reach into an excluded directory */
	ig = parse("vendor\n!**/keep\n");
	assert_true(dk_ignore_dir_has_exceptions(ig, "vendor"));
	assert_false(dk_ignore_excluded(ig, "vendor/a/keep"));
	dk_ignore_free(ig);

	ig = parse("*\n!src\n");
	assert_true(dk_ignore_excluded(ig, "Makefile"));
	assert_false(dk_ignore_excluded(ig, "src/main.c"));
	dk_ignore_free(ig);
}

static void test_parsing(void **state)
{
	(void)state;
	/* BOM, comments only in column 1, blank lines, CRLF, surrounding blanks */
	struct dk_ignore *ig = parse("\xef\xbb\xbf# comment\r\n\r\n   \n  *.log  \r\n  # not a comment\n\t!keep.log\n");
	assert_int_equal(dk_ignore_count(ig), 3);
	assert_true(dk_ignore_excluded(ig, "a.log"));
	assert_false(dk_ignore_excluded(ig, "keep.log"));
	assert_true(dk_ignore_excluded(ig, "# not a comment"));
	assert_false(dk_ignore_excluded(ig, "comment"));
	dk_ignore_free(ig);

	/* "! x" is an exception of "x" */
	ig = parse("*\n! x\n");
	assert_false(dk_ignore_excluded(ig, "x"));
	dk_ignore_free(ig);

	ig = parse("");
	assert_int_equal(dk_ignore_count(ig), 0);
	assert_false(dk_ignore_excluded(ig, "anything"));
	dk_ignore_free(ig);
}

static void test_errors(void **state)
{
	(void)state;
	struct dk_ignore *ig = (struct dk_ignore *)0x1;
	const char *text = "ok\n# fine\n!\n";
	assert_int_equal(dk_ignore_parse(&ig, text, strlen(text)), -1);
	assert_ptr_equal(ig, (struct dk_ignore *)0x1); /* not written on failure */
	assert_non_null(strstr(dk_error_last(), "line 3"));
	assert_non_null(strstr(dk_error_last(), "illegal exclusion"));

	text = "a\n[abc\n";
	assert_int_equal(dk_ignore_parse(&ig, text, strlen(text)), -1);
	assert_non_null(strstr(dk_error_last(), "line 2"));
	assert_non_null(strstr(dk_error_last(), "']'"));
}

static void test_escape(void **state)
{
	(void)state;
	struct dk_buf b = DK_BUF_INIT;
	assert_int_equal(dk_ignore_escape(&b, "Docker[file]*?\\"), 0);
	assert_string_equal(dk_buf_cstr(&b), "Docker\\[file\\]\\*\\?\\\\");
	struct dk_ignore *ig = NULL;
	assert_int_equal(dk_ignore_new(&ig), 0);
	assert_int_equal(dk_ignore_add(ig, dk_buf_cstr(&b)), 0);
	assert_true(dk_ignore_excluded(ig, "Docker[file]*?\\"));
	assert_false(dk_ignore_excluded(ig, "Dockerf*?\\"));
	dk_ignore_free(ig);
	dk_buf_release(&b);
}

/* A pathological glob stays linear (the NFA never backtracks). */
static void test_no_blowup(void **state)
{
	(void)state;
	struct dk_ignore *ig = NULL;
	assert_int_equal(dk_ignore_new(&ig), 0);
	assert_int_equal(dk_ignore_add(ig, "**a**a**a**a**a**a**a**a**a**a**a**a**a**a**b"), 0);
	char path[4001];
	memset(path, 'a', sizeof(path) - 1);
	for (size_t i = 7; i < sizeof(path) - 1; i += 8)
		path[i] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_false(dk_ignore_excluded(ig, path));
	dk_ignore_free(ig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docker_table), cmocka_unit_test(test_exceptions_last_match_wins),
		cmocka_unit_test(test_parsing),      cmocka_unit_test(test_errors),
		cmocka_unit_test(test_escape),       cmocka_unit_test(test_no_blowup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
