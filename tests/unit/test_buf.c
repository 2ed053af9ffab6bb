/* util/buf: appends, the cap, and a failure that sticks until the caller
 * deals with it (the text is never handed out with a piece missing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"

static void test_appends(void **state)
{
	(void)state;
	struct wo_buf b = WO_BUF_INIT;
	assert_string_equal(wo_buf_cstr(&b), "");
	assert_int_equal(wo_buf_puts(&b, "a"), 0);
	assert_int_equal(wo_buf_putc(&b, 'b'), 0);
	assert_int_equal(wo_buf_printf(&b, "%d%s", 12, "c"), 0);
	assert_int_equal(wo_buf_add(&b, "de", 2), 0);
	assert_string_equal(wo_buf_cstr(&b), "ab12cde");
	assert_false(wo_buf_failed(&b));
	char *s = wo_buf_detach(&b);
	assert_string_equal(s, "ab12cde");
	free(s);
	s = wo_buf_detach(&b); /* empty, never grown: "" */
	assert_string_equal(s, "");
	free(s);
}

static void test_failure_sticks(void **state)
{
	(void)state;
	struct wo_buf b;
	wo_buf_init(&b, 8);
	assert_int_equal(wo_buf_puts(&b, "12345"), 0);
	assert_int_equal(wo_buf_puts(&b, "6789"), -1); /* past the cap */
	assert_true(wo_buf_failed(&b));
	/* a later append that would fit does nothing: no text with a hole */
	assert_int_equal(wo_buf_puts(&b, "x"), -1);
	assert_string_equal(wo_buf_cstr(&b), "12345");
	wo_error_clear();
	assert_null(wo_buf_detach(&b));
	assert_int_equal(wo_error_code(), WO_ETOOLARGE);
	assert_non_null(strstr(wo_error_last(), "8 bytes"));
	/* detach released it: the buffer is usable again */
	assert_false(wo_buf_failed(&b));
	wo_buf_release(&b);

	/* truncate (the caller made room) and clear (it starts over) forget it */
	wo_buf_init(&b, 4);
	assert_int_equal(wo_buf_puts(&b, "abcdef"), -1);
	wo_buf_truncate(&b, 0);
	assert_false(wo_buf_failed(&b));
	assert_int_equal(wo_buf_puts(&b, "ab"), 0);
	assert_int_equal(wo_buf_puts(&b, "cdef"), -1);
	wo_buf_clear(&b);
	assert_int_equal(wo_buf_puts(&b, "abcd"), 0);
	assert_string_equal(wo_buf_cstr(&b), "abcd");
	wo_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_failure_sticks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
