/* ANSI colours in program output: SGR sequences to escaped HTML with
 * colour classes, or stripped; nothing else gets through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/ansi.h"
#include "util/buf.h"

static void html_is(const char *in, const char *want)
{
	struct wo_buf b = WO_BUF_INIT;
	assert_int_equal(wo_ansi_html(&b, in), 0);
	assert_string_equal(wo_buf_cstr(&b), want);
	wo_buf_release(&b);
}

static void test_html(void **state)
{
	(void)state;
	html_is("plain <b>&\"'", "plain &lt;b&gt;&amp;&quot;&#39;");
	/* pip's red warning, reset at the end */
	html_is("\x1b[91mWARNING: root\x1b[0m done", "<span class=\"a-f9\">WARNING: root</span> done");
	/* bold green, then only green, then default */
	html_is("\x1b[1;32mok\x1b[22m still green\x1b[39m plain",
		"<span class=\"a-b a-f2\">ok</span><span class=\"a-f2\"> still green</span> plain");
	/* an open colour is closed at the end of the line */
	html_is("\x1b[33myellow", "<span class=\"a-f3\">yellow</span>");
	/* 256 colours: the basic 16 kept; true colour not shown */
	html_is("\x1b[38;5;4mblue\x1b[38;2;1;2;3mx", "<span class=\"a-f4\">blue</span>x");
	/* ESC [ m alone resets */
	html_is("\x1b[31mr\x1b[mn", "<span class=\"a-f1\">r</span>n");
	/* other escapes (cursor moves, titles) and control characters shown, not passed */
	html_is("a\x1b[2Jb\x1b]0;title\x07" "c\rd", "a\\x1b[2Jb\\x1b]0;title\\x07c\\x0dd");
	/* a value can never break out of the markup */
	html_is("\x1b[31m<script>\x1b[0m", "<span class=\"a-f1\">&lt;script&gt;</span>");
}

static void test_strip(void **state)
{
	(void)state;
	struct wo_buf b = WO_BUF_INIT;
	assert_int_equal(wo_ansi_strip(&b, "\x1b[1;32mlistening\x1b[0m on 3000"), 0);
	assert_string_equal(wo_buf_cstr(&b), "listening on 3000");
	wo_buf_release(&b);
	assert_int_equal(wo_ansi_sgr_len("\x1b[0m"), 4);
	assert_int_equal(wo_ansi_sgr_len("\x1b[2J"), 0);
	assert_int_equal(wo_ansi_sgr_len("x"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_strip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
