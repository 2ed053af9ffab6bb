/* Unit tests for core/template beyond the spec: strict mode, escapers,
 * loading from a directory with a cache, name checks, parse errors, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "template/template.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
	if (!v)
		fail_msg("bad test JSON: %s", e.text);
	return v;
}

/* Renders src against data (JSON text) with opts; returns the output or
 * NULL with the error in wo_error_last(). Caller frees. */
static char *render(struct wo_tpl_env *env, const char *src, const char *data,
		    const struct wo_tpl_opts *opts)
{
	struct wo_tpl *tpl;
	struct wo_buf out = WO_BUF_INIT;
	if (wo_tpl_compile(&tpl, "x", src, strlen(src)) < 0)
		return NULL;
	json_t *d = data ? J(data) : NULL;
	int r = wo_tpl_render(&out, env, tpl, d, opts);
	json_decref(d);
	wo_tpl_free(tpl);
	if (r < 0) {
		assert_int_equal(out.len, 0);
		wo_buf_release(&out);
		return NULL;
	}
	return wo_buf_detach(&out);
}

#define assert_renders(env, src, data, opts, expected)                       \
	do {                                                                  \
		char *got_ = render(env, src, data, opts);                    \
		if (!got_)                                                    \
			fail_msg("render failed: %s", wo_error_last());       \
		assert_string_equal(got_, expected);                          \
		free(got_);                                                   \
	} while (0)

#define assert_render_error(env, src, data, opts, message)                   \
	do {                                                                  \
		char *got_ = render(env, src, data, opts);                    \
		if (got_)                                                     \
			fail_msg("expected an error, got \"%s\"", got_);      \
		assert_string_equal(wo_error_last(), message);                \
	} while (0)

static void test_strict_missing(void **state)
{
	struct wo_tpl_opts strict = WO_TPL_OPTS_INIT;
	strict.strict = 1;
	(void)state;

	assert_renders(NULL, "a{{nope}}b", "{}", NULL, "ab");
	assert_render_error(NULL, "FROM {{image}}\nRUN {{cmd}}\n", "{\"image\":\"alpine\"}", &strict,
			    "template 'x', line 2, column 5: missing 'cmd'");
	assert_render_error(NULL, "x\n\n  {{{ a.b }}}", "{\"a\":{}}", &strict,
			    "template 'x', line 3, column 3: missing 'a.b'");
	assert_render_error(NULL, "{{#list}}{{name}}{{/list}}", "{\"list\":[{\"name\":1},{}]}", &strict,
			    "template 'x', line 1, column 10: missing 'name'");
	/* present but null is not missing; sections test presence themselves */
	assert_renders(NULL, "[{{v}}]{{#nope}}x{{/nope}}{{^nope}}y{{/nope}}", "{\"v\":null}", &strict,
		       "[]y");
	/* after a change of delimiters the column is still the tag's */
	assert_render_error(NULL, "{{=<% %>=}}ab <%nope%>", "{}", &strict,
			    "template 'x', line 1, column 15: missing 'nope'");
	assert_render_error(NULL, "{{>nope}}", "{}", &strict,
			    "template 'x', line 1, column 1: missing partial 'nope'");
}

static void test_values(void **state)
{
	(void)state;
	assert_renders(NULL, "{{i}} {{n}} {{f}} {{g}} {{t}} {{fa}} {{z}}",
		       "{\"i\":42,\"n\":-7,\"f\":1.21,\"g\":0.1,\"t\":true,\"fa\":false,\"z\":null}", NULL,
		       "42 -7 1.21 0.1 true false ");
	assert_renders(NULL, "{{{o}}} {{o}}", "{\"o\":{\"a\":[1,\"<\"]}}", NULL,
		       "{\"a\":[1,\"<\"]} {&quot;a&quot;:[1,&quot;&lt;&quot;]}");
	assert_renders(NULL, "{{s}}", "{\"s\":\"<a href='x'>&</a>\"}", NULL,
		       "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
	/* "" and [] are false, 0 is true */
	assert_renders(NULL, "{{#e}}e{{/e}}{{#l}}l{{/l}}{{#z}}z{{/z}}", "{\"e\":\"\",\"l\":[],\"z\":0}",
		       NULL, "z");
	assert_renders(NULL, "{{a}}", NULL, NULL, "");
}

/* A systemd-style escaper: wraps in double quotes, escapes \ and ",
 * refuses newlines (which would start a new directive). */
static int escape_unit(struct wo_buf *out, const char *s, size_t len, void *ud)
{
	int *calls = ud;
	(*calls)++;
	if (memchr(s, '\n', len))
		return wo_error_set("newline in a unit file value");
	wo_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '"')
			wo_buf_putc(out, '\\');
		wo_buf_putc(out, s[i]);
	}
	return wo_buf_putc(out, '"');
}

static void test_custom_escaper(void **state)
{
	int calls = 0;
	struct wo_tpl_opts o = WO_TPL_OPTS_INIT;
	o.escape = escape_unit;
	o.escape_ud = &calls;
	(void)state;

	assert_renders(NULL, "ExecStart=/bin/app {{arg}} {{{raw}}}\n",
		       "{\"arg\":\"a \\\"b\\\" \\\\c\",\"raw\":\"<x>\"}", &o,
		       "ExecStart=/bin/app \"a \\\"b\\\" \\\\c\" <x>\n");
	assert_int_equal(calls, 1);
	assert_render_error(NULL, "[Service]\nEnvironment=X={{v}}\n", "{\"v\":\"a\\nExecStartPre=/bin/evil\"}",
			    &o, "template 'x', line 2, column 15: cannot escape 'v': newline in a unit file value");

	o.escape = wo_tpl_escape_none;
	assert_renders(NULL, "{{v}}", "{\"v\":\"<&>\"}", &o, "<&>");
	o.escape = NULL; /* default: HTML */
	assert_renders(NULL, "{{v}}", "{\"v\":\"<&>\"}", &o, "&lt;&amp;&gt;");
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *src, *msg;
	} cases[] = {
		{ "ab\ncd {{name", "template 't', line 2, column 4: unclosed tag" },
		{ "{{{name}}", "template 't', line 1, column 1: unclosed tag" },
		{ "x\n  {{#items}}\n{{.}}\n", "template 't', line 2, column 3: unclosed section 'items'" },
		{ "{{#a}}{{/b}}", "template 't', line 1, column 7: closing tag 'b' does not match section 'a' opened at line 1" },
		{ "\n\n{{/a}}", "template 't', line 3, column 1: unexpected closing tag 'a'" },
		{ "{{<layout}}{{$body}}x{{/layout}}", "template 't', line 1, column 22: closing tag 'layout' does not match block 'body' opened at line 1" },
		{ "{{<layout}}", "template 't', line 1, column 1: unclosed parent 'layout'" },
		{ "{{= <% =}}", "template 't', line 1, column 1: invalid set-delimiter tag" },
		{ "a {{ }}", "template 't', line 1, column 3: tag without a name" },
		{ "{{a b}}", "template 't', line 1, column 1: invalid name 'a b'" },
		{ "{{a..b}}", "template 't', line 1, column 1: invalid name 'a..b'" },
		{ "{{#}}{{/}}", "template 't', line 1, column 1: tag without a name" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wo_tpl *tpl = NULL;
		wo_error_clear();
		assert_int_equal(wo_tpl_compile(&tpl, "t", cases[i].src, strlen(cases[i].src)), -1);
		assert_null(tpl);
		assert_string_equal(wo_error_last(), cases[i].msg);
	}

	/* too deep */
	struct wo_buf deep = WO_BUF_INIT;
	struct wo_tpl *tpl = NULL;
	for (int i = 0; i < 150; i++)
		wo_buf_puts(&deep, "{{#a}}");
	assert_int_equal(wo_tpl_compile(&tpl, "t", deep.ptr, deep.len), -1);
	assert_non_null(strstr(wo_error_last(), "nested more than"));
	wo_buf_release(&deep);

	/* NUL bytes are text like any other */
	assert_int_equal(wo_tpl_compile(&tpl, "t", "a\0{{b}}", 7), 0);
	wo_tpl_free(tpl);
}

static char tmpdir[256];

static void write_file(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup_dir(void **state)
{
	char path[512];
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/wo-tpl-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(path, sizeof(path), "%s/templates", tmpdir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/templates/dockerfiles", tmpdir);
	mkdir(path, 0700);
	write_file("secret.mustache", "SECRET");
	write_file("templates/row.mustache", "<td>{{name}}</td>\n");
	write_file("templates/page.mustache", "<table>\n  {{>row}}\n</table>\n");
	write_file("templates/both.mustache", "with extension");
	write_file("templates/both", "without extension");
	write_file("templates/dockerfiles/static.Dockerfile", "FROM {{image}}\n");
	write_file("templates/layout.mustache",
		   "<html>\n<head><title>{{$title}}webops{{/title}}</title></head>\n<body>\n"
		   "  {{$content}}\n  <p>nothing here</p>\n  {{/content}}\n</body>\n</html>\n");
	write_file("templates/home.mustache",
		   "{{<layout}}\n{{$title}}Home{{/title}}\n{{$content}}\n<ul>\n{{#items}}\n  <li>{{.}}</li>\n"
		   "{{/items}}\n</ul>\n{{/content}}\n{{/layout}}\n");
	write_file("templates/self.mustache", "x{{>self}}");
	write_file("templates/bad.mustache", "ok\n{{#open}}\n");
	return 0;
}

static int teardown_dir(void **state)
{
	static const char *const files[] = {
		"secret.mustache", "templates/row.mustache", "templates/page.mustache",
		"templates/both.mustache", "templates/both", "templates/dockerfiles/static.Dockerfile",
		"templates/layout.mustache", "templates/home.mustache", "templates/self.mustache",
		"templates/bad.mustache", "templates/dockerfiles", "templates", "",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		remove(path);
	}
	return 0;
}

static struct wo_tpl_env *dir_env(void)
{
	char path[512];
	struct wo_tpl_env *env;
	snprintf(path, sizeof(path), "%s/templates", tmpdir);
	assert_int_equal(wo_tpl_env_new(&env, path), 0);
	return env;
}

static char *render_file(struct wo_tpl_env *env, const char *name, const char *data,
			 const struct wo_tpl_opts *opts)
{
	struct wo_buf out = WO_BUF_INIT;
	json_t *d = J(data);
	int r = wo_tpl_render_file(&out, env, name, d, opts);
	json_decref(d);
	if (r < 0) {
		wo_buf_release(&out);
		return NULL;
	}
	return wo_buf_detach(&out);
}

static void test_dir_and_cache(void **state)
{
	struct wo_tpl_env *env = dir_env();
	const struct wo_tpl *a, *b;
	char *s;
	(void)state;

	s = render_file(env, "page", "{\"name\":\"<b>\"}", NULL);
	assert_non_null(s);
	assert_string_equal(s, "<table>\n  <td>&lt;b&gt;</td>\n</table>\n");
	free(s);

	/* cached: a change on disk is not seen, the same object comes back */
	assert_int_equal(wo_tpl_env_get(&a, env, "row"), 0);
	write_file("templates/row.mustache", "changed");
	assert_int_equal(wo_tpl_env_get(&b, env, "row"), 0);
	assert_ptr_equal(a, b);
	assert_string_equal(wo_tpl_name(a), "row");
	write_file("templates/row.mustache", "<td>{{name}}</td>\n");

	/* "<name>.mustache" first, then "<name>" exactly; subdirectories */
	s = render_file(env, "both", "{}", NULL);
	assert_string_equal(s, "with extension");
	free(s);
	s = render_file(env, "dockerfiles/static.Dockerfile", "{\"image\":\"nginx:1.27\"}", NULL);
	assert_string_equal(s, "FROM nginx:1.27\n");
	free(s);

	/* missing: a distinct code, and render_file reports it */
	assert_int_equal(wo_tpl_env_get(&a, env, "nope"), WO_TPL_ENOTFOUND);
	assert_int_equal(wo_tpl_env_get(&a, env, "dockerfiles"), WO_TPL_ENOTFOUND);
	assert_null(render_file(env, "nope", "{}", NULL));
	assert_non_null(strstr(wo_error_last(), "template 'nope' not found in '"));

	/* templates added in memory win over (and can replace) the directory */
	assert_int_equal(wo_tpl_env_add(env, "nope", "now {{x}}"), 0);
	s = render_file(env, "nope", "{\"x\":1}", NULL);
	assert_string_equal(s, "now 1");
	free(s);
	assert_int_equal(wo_tpl_env_add(env, "nope", "again"), 0);
	s = render_file(env, "nope", "{}", NULL);
	assert_string_equal(s, "again");
	free(s);

	/* a broken file is a compile error naming it */
	assert_null(render_file(env, "bad", "{}", NULL));
	assert_string_equal(wo_error_last(), "template 'bad', line 2, column 1: unclosed section 'open'");

	/* recursion without an end */
	assert_null(render_file(env, "self", "{}", NULL));
	assert_non_null(strstr(wo_error_last(), "nested more than"));

	wo_tpl_env_free(env);
	wo_tpl_env_free(NULL);
}

static void test_inheritance_layout(void **state)
{
	struct wo_tpl_env *env = dir_env();
	(void)state;
	char *s = render_file(env, "home", "{\"items\":[\"a\",\"<b>\"]}", NULL);
	assert_non_null(s);
	assert_string_equal(s, "<html>\n<head><title>Home</title></head>\n<body>\n"
			       "  <ul>\n    <li>a</li>\n    <li>&lt;b&gt;</li>\n  </ul>\n</body>\n</html>\n");
	free(s);
	s = render_file(env, "layout", "{}", NULL);
	assert_string_equal(s, "<html>\n<head><title>webops</title></head>\n<body>\n"
			       "  <p>nothing here</p>\n</body>\n</html>\n");
	free(s);
	wo_tpl_env_free(env);
}

static void test_names_cannot_escape(void **state)
{
	struct wo_tpl_env *env = dir_env();
	const struct wo_tpl *t;
	static const char *const bad[] = {
		"../secret", "/etc/passwd", "dockerfiles/../../secret", "..", "a/..", "",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wo_tpl_env_get(&t, env, bad[i]), -1);
		assert_non_null(strstr(wo_error_last(), "invalid template name"));
		assert_int_equal(wo_tpl_env_add(env, bad[i], "x"), -1);
	}
	/* also through a partial tag, strict or not */
	assert_render_error(env, "a\n {{>../secret}}", "{}", NULL,
			    "template 'x', line 2, column 2: invalid template name '../secret'");
	assert_render_error(env, "{{<../secret}}{{/../secret}}", "{}", NULL,
			    "template 'x', line 1, column 1: invalid template name '../secret'");
	/* dots inside a component are fine */
	assert_int_equal(wo_tpl_env_get(&t, env, "dockerfiles/static.Dockerfile"), 0);
	assert_int_equal(wo_tpl_env_get(&t, env, "./row"), 0);
	wo_tpl_env_free(env);
}

static void test_partials_in_memory(void **state)
{
	struct wo_tpl_env *env;
	(void)state;
	assert_int_equal(wo_tpl_env_new(&env, NULL), 0);
	assert_int_equal(wo_tpl_env_add(env, "item", "- {{name}}\n{{#sub}}\n  {{>item}}\n{{/sub}}"), 0);
	assert_renders(env, "list:\n  {{>item}}\n",
		       "{\"name\":\"a\",\"sub\":[{\"name\":\"b\",\"sub\":[{\"name\":\"c\",\"sub\":false}]}]}", NULL,
		       "list:\n  - a\n    - b\n      - c\n");
	/* names missing in an item are looked up in the items around it (spec), so
	 * a leaf without "sub" would recurse into its parent's list forever */
	/* inline partials are not indented */
	assert_renders(env, "  x {{>item}}\n", "{\"name\":\"a\",\"sub\":[{\"name\":\"b\",\"sub\":[]}]}", NULL,
		       "  x - a\n  - b\n\n");
	/* a missing partial is empty unless strict */
	assert_renders(env, "[{{>nope}}]", "{}", NULL, "[]");
	/* a partial that does not compile cannot be added */
	assert_int_equal(wo_tpl_env_add(env, "broken", "{{#a}}"), -1);
	assert_string_equal(wo_error_last(), "template 'broken', line 1, column 1: unclosed section 'a'");
	wo_tpl_env_free(env);
}

static void test_indentation(void **state)
{
	struct wo_tpl_env *env;
	(void)state;
	assert_int_equal(wo_tpl_env_new(&env, NULL), 0);
	assert_int_equal(wo_tpl_env_add(env, "p", "a\n\n{{#on}}\nb\n{{/on}} c\n"), 0);
	assert_int_equal(wo_tpl_env_add(env, "frame", "<div>\n  {{$body}}{{/body}}\n</div>\n"), 0);
	assert_int_equal(wo_tpl_env_add(env, "deep", "<main>\n  {{$body}}\n  {{/body}}\n</main>\n"), 0);

	/* blank lines get no trailing whitespace; a line starting with a
	 * closing tag is still indented */
	assert_renders(env, "x:\n    {{>p}}\n", "{\"on\":true}", NULL, "x:\n    a\n\n    b\n     c\n");
	/* arguments may be indented inside the parent tag: their common
	 * indentation is removed and the block's added */
	assert_renders(env, "{{<deep}}\n    {{$body}}\n    <p>\n      hi\n    </p>\n    {{/body}}\n{{/deep}}\n",
		       "{}", NULL, "<main>\n  <p>\n    hi\n  </p>\n</main>\n");
	/* an inline argument at a standalone block starts indented too */
	assert_renders(env, "{{<frame}}{{$body}}one{{/body}}{{/frame}}", "{}", NULL, "<div>\n  one\n</div>\n");
	/* a standalone parent indents everything, arguments included */
	assert_renders(env, "<body>\n  {{<deep}}\n  {{$body}}\n  x\n  y\n  {{/body}}\n  {{/deep}}\n</body>\n", "{}",
		       NULL, "<body>\n  <main>\n    x\n    y\n  </main>\n</body>\n");
	/* {{$b}}{{/b}} on one line keeps its newline (spec), so lines passed
	 * there end up followed by an empty one: use separate lines for those */
	assert_renders(env, "{{<frame}}\n{{$body}}\nx\n{{/body}}\n{{/frame}}\n", "{}", NULL,
		       "<div>\n  x\n\n</div>\n");
	wo_tpl_env_free(env);
}

static void test_limits(void **state)
{
	struct wo_tpl_opts o = WO_TPL_OPTS_INIT;
	struct wo_tpl *tpl;
	struct wo_buf out;
	(void)state;

	/* a step budget stops exponential templates */
	o.max_steps = 1000;
	assert_render_error(NULL, "{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}",
			    "{\"l\":[1,2,3]}", &o,
			    "template 'x', line 1, column 43: rendering takes more than 1000 steps");

	/* an output cap fails the render and leaves the buffer as it was */
	const char *src = "{{#l}}<{{v}}>{{/l}}";
	assert_int_equal(wo_tpl_compile(&tpl, "cap", src, strlen(src)), 0);
	json_t *d = J("{\"l\":[1,2,3,4,5,6,7,8,9,10],\"v\":\"&&&&\"}");
	wo_buf_init(&out, 40);
	wo_buf_puts(&out, "keep");
	assert_int_equal(wo_tpl_render(&out, NULL, tpl, d, NULL), -1);
	assert_string_equal(wo_buf_cstr(&out), "keep");
	assert_non_null(strstr(wo_error_last(), "output exceeds 40 bytes"));
	wo_buf_release(&out);

	/* an options struct from another version is refused */
	o = (struct wo_tpl_opts)WO_TPL_OPTS_INIT;
	o.version = 99;
	wo_buf_init(&out, 0);
	assert_int_equal(wo_tpl_render(&out, NULL, tpl, d, &o), -1);
	assert_non_null(strstr(wo_error_last(), "unsupported wo_tpl_opts version 99"));
	wo_buf_release(&out);
	json_decref(d);
	wo_tpl_free(tpl);
	wo_tpl_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strict_missing),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_custom_escaper),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_dir_and_cache),
		cmocka_unit_test(test_inheritance_layout),
		cmocka_unit_test(test_names_cannot_escape),
		cmocka_unit_test(test_partials_in_memory),
		cmocka_unit_test(test_indentation),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
