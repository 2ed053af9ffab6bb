/* Mustache conformance: runs the official spec files (comments, delimiters,
 * interpolation, inverted, partials, sections, ~inheritance) through core/template. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "template/template.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

#define EXPECTED_CASES 163

static const char *const spec_files[] = {
	"comments", "delimiters", "interpolation", "inverted", "partials", "sections", "~inheritance",
};

static const char *spec_dir;

/* Shows a string with its newlines and tabs visible, for failure lines. */
static void show(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\r')
			fputs("\\r", f);
		else if (*s == '\t')
			fputs("\\t", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* Runs one case; 0 when the output is the expected one. */
static int run_case(const char *file, json_t *tc)
{
	const char *name = json_string_value(json_object_get(tc, "name"));
	const char *tmpl = json_string_value(json_object_get(tc, "template"));
	const char *expected = json_string_value(json_object_get(tc, "expected"));
	json_t *data = json_object_get(tc, "data");
	json_t *partials = json_object_get(tc, "partials");
	struct wo_tpl_env *env = NULL;
	struct wo_tpl *tpl = NULL;
	struct wo_buf out = WO_BUF_INIT;
	int ok = 0;

	if (!name || !tmpl || !expected) {
		fprintf(stderr, "FAIL %s: malformed case\n", file);
		return -1;
	}
	if (wo_tpl_env_new(&env, NULL) < 0)
		goto out;
	const char *pname;
	json_t *psrc;
	json_object_foreach(partials, pname, psrc) {
		if (wo_tpl_env_add(env, pname, json_string_value(psrc)) < 0)
			goto out;
	}
	if (wo_tpl_compile(&tpl, "spec", tmpl, strlen(tmpl)) < 0)
		goto out;
	if (wo_tpl_render(&out, env, tpl, data, NULL) < 0)
		goto out;
	ok = strcmp(wo_buf_cstr(&out), expected) == 0;
	if (!ok) {
		fprintf(stderr, "FAIL %s / %s: expected ", file, name);
		show(stderr, expected);
		fputs(", got ", stderr);
		show(stderr, wo_buf_cstr(&out));
		fputc('\n', stderr);
	}
out:
	if (!ok && *wo_error_last()) {
		fprintf(stderr, "FAIL %s / %s: %s\n", file, name, wo_error_last());
		wo_error_clear();
	}
	wo_buf_release(&out);
	wo_tpl_free(tpl);
	wo_tpl_env_free(env);
	return ok ? 0 : -1;
}

static void test_mustache_spec(void **state)
{
	int passed = 0, failed = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(spec_files) / sizeof(spec_files[0]); i++) {
		struct wo_buf path = WO_BUF_INIT;
		json_error_t jerr;
		assert_int_equal(wo_buf_printf(&path, "%s/%s.json", spec_dir, spec_files[i]), 0);
		json_t *spec = json_load_file(path.ptr, JSON_DECODE_ANY, &jerr);
		if (!spec)
			fail_msg("cannot read '%s': line %d: %s", path.ptr, jerr.line, jerr.text);
		wo_buf_release(&path);
		json_t *tests = json_object_get(spec, "tests");
		assert_true(json_is_array(tests));
		size_t k;
		json_t *tc;
		json_array_foreach(tests, k, tc) {
			if (run_case(spec_files[i], tc) == 0)
				passed++;
			else
				failed++;
		}
		json_decref(spec);
	}
	printf("mustache spec: %d passed, %d failed\n", passed, failed);
	assert_int_equal(failed, 0);
	assert_int_equal(passed + failed, EXPECTED_CASES);
}

int main(void)
{
	struct stat st;
	spec_dir = getenv("WEBOPS_MUSTACHE_SPEC_DIR");
	if (!spec_dir || !*spec_dir)
		spec_dir = getenv("WEBOPS_MUSTACHE_SPEC_DIR_DEFAULT");
	if (!spec_dir || !*spec_dir) {
		printf("skipped: set WEBOPS_MUSTACHE_SPEC_DIR to the mustache spec's specs/ directory\n");
		return 77;
	}
	if (stat(spec_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		printf("skipped: mustache spec directory '%s' does not exist\n", spec_dir);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mustache_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
