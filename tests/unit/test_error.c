/* util/error: the code beside the message, and the one table that maps
 * each code to an HTTP status and a CLI exit code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/error.h"

static void test_codes_travel_with_messages(void **state)
{
	(void)state;
	wo_error_clear();
	assert_int_equal(wo_error_code(), WO_OK);
	assert_string_equal(wo_error_last(), "");
	assert_int_equal(wo_error_set("plain %d", 1), -1);
	assert_int_equal(wo_error_code(), WO_ERROR);
	assert_int_equal(wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", "x"), WO_ENOTFOUND);
	assert_int_equal(wo_error_code(), WO_ENOTFOUND);
	/* a prefix keeps the code, and the words do not matter */
	assert_int_equal(wo_error_prefix("cannot deploy"), WO_ENOTFOUND);
	assert_string_equal(wo_error_last(), "cannot deploy: deployment 'x' not found");
	assert_int_equal(wo_error_code(), WO_ENOTFOUND);
	wo_error_setc(WO_EINVALID, "it was not found, already taken and busy");
	assert_int_equal(wo_error_http_status(wo_error_code()), 422);
	/* a code out of range is a plain error */
	assert_int_equal(wo_error_setc(-999, "odd"), WO_ERROR);
	assert_int_equal(wo_error_setc(5, "positive"), WO_ERROR);
	wo_error_clear();
	assert_int_equal(wo_error_code(), WO_OK);
	assert_int_equal(wo_error_prefix("nothing before"), WO_ERROR);
	wo_error_clear();
}

static void test_table(void **state)
{
	(void)state;
	static const struct {
		int code;
		const char *name;
		int http, exit;
	} want[] = {
		{ WO_OK, "ok", 200, 0 },
		{ WO_ERROR, "error", 500, 1 },
		{ WO_ENOTFOUND, "not_found", 404, 1 },
		{ WO_EEXISTS, "exists", 409, 1 },
		{ WO_EFORBIDDEN, "forbidden", 403, 1 },
		{ WO_EINVALID, "invalid", 422, 1 },
		{ WO_ECONFLICT, "conflict", 409, 1 },
		{ WO_EAUTH, "auth", 502, 1 },
		{ WO_EUNAVAILABLE, "unavailable", 503, 1 },
		{ WO_EUNREACHABLE, "unreachable", 502, 1 },
		{ WO_ECANCELLED, "cancelled", 409, 1 },
		{ WO_ETOOLARGE, "too_large", 413, 1 },
		{ WO_ETIMEOUT, "timeout", 504, 1 },
		{ WO_ENOMEM, "no_memory", 500, 1 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(wo_error_name(want[i].code), want[i].name);
		assert_int_equal(wo_error_http_status(want[i].code), want[i].http);
		assert_int_equal(wo_error_exit_code(want[i].code), want[i].exit);
		/* names come back to their codes (a child's result) */
		assert_int_equal(wo_error_from_name(want[i].name), want[i].code);
	}
	/* codes are never renumbered: these values cross process boundaries */
	assert_int_equal(WO_ENOTFOUND, -2);
	assert_int_equal(WO_EFORBIDDEN, -4);
	assert_int_equal(WO_ENOMEM, -13);
	assert_int_equal(WO_ERROR_CODE_MIN, WO_ENOMEM);
	assert_string_equal(wo_error_name(-77), "error");
	assert_int_equal(wo_error_http_status(-77), 500);
	assert_int_equal(wo_error_from_name("no such kind"), WO_ERROR);
	assert_int_equal(wo_error_from_name(NULL), WO_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_travel_with_messages),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
