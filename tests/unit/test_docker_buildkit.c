/* The Docker addon's BuildKit support: progress messages as a real engine
 * (dockerd 20.10, POST /build?version=2) sent them for a build with a
 * RUN --mount step printing two lines and a RUN that failed, decoded into
 * log lines; a malformed message refused; what in a Dockerfile needs
 * BuildKit, with its line; the syntax directive found and dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buildkit.h"
#include "dkutil.h"

/* captured from the engine: the step starting, its two lines of output,
 * the step done, and a later step failing */
static const char *const start_msg =
	"Co8CCkdzaGEyNTY6YWFmNGFlZmQ1ZDI0ODI3YmZkZjIxNzQ3YmIwZmI0YWExYzI3ZDk3YTkxZjRmNjBkZDA3ZTBjZWE5YmQ5NGY5ZRJHc2hh"
	"MjU2OjcxMzhiZGNiYzFjNDhhZGM2OWExMTNlYTY0NTNhYTViY2VlZWQ5NDNiYmZlZWJmMjQ5OGJiYjE2Y2M2ZjIzZTIaX1tiYXNlIDIvMl0g"
	"UlVOIC0tbW91bnQ9dHlwZT1jYWNoZSx0YXJnZXQ9L3Jvb3QvLmNhY2hlIGVjaG8gaGVsbG8tZnJvbS1tb3VudCAmJiBlY2hvIHNlY29uZCBs"
	"aW5lKgwIyvfV2AYQ/u7p5QIyDAjL99XYBhDOypykAQ==";
static const char *const log_msg =
	"GmwKR3NoYTI1NjphYWY0YWVmZDVkMjQ4MjdiZmRmMjE3NDdiYjBmYjRhYTFjMjdkOTdhOTFmNGY2MGRkMDdlMGNlYTliZDk0ZjllEgwIy/fV"
	"2AYQwL+TgQEYASIRaGVsbG8tZnJvbS1tb3VudAoaZwpHc2hhMjU2OmFhZjRhZWZkNWQyNDgyN2JmZGYyMTc0N2JiMGZiNGFhMWMyN2Q5N2E5"
	"MWY0ZjYwZGQwN2UwY2VhOWJkOTRmOWUSDAjL99XYBhDC0J+BARgBIgxzZWNvbmQgbGluZQo=";
static const char *const error_msg =
	"CoECCkdzaGEyNTY6Y2Q1NDk5YzI5NzIyZjNlMjVmYzM1MjExOTMyYTNkNjJkYTZkNzljMDhiMmFiZTk3YTEzZTgxNDJkYWJmMmQ3MhJHc2hh"
	"MjU2OmQ1NmMwOGZkN2NkMjNkM2ZhYmMyM2EwMDBlYmQ2YjZmOTFlNDhkMjkxY2U4MzM1NDEyYzk2N2NkNmVkNzQ4NDIaF1tzdGFnZS0xIDIv"
	"Ml0gUlVOIGZhbHNlKgwIy/fV2AYQvdaIrgEyDAjL99XYBhCxhKO4Azo4ZXhlY3V0b3IgZmFpbGVkIHJ1bm5pbmcgWy9iaW4vc2ggLWMgZmFs"
	"c2VdOiBleGl0IGNvZGU6IDE=";

struct lines {
	struct dk_buf all;
	int errors;
};

static void collect(void *ud, int is_error, const char *line)
{
	struct lines *l = ud;
	dk_buf_printf(&l->all, "%s\n", line);
	l->errors += is_error;
}

static void test_trace(void **state)
{
	(void)state;
	struct dk_bk *bk = calloc(1, sizeof(*bk));
	struct lines l = {DK_BUF_INIT, 0};
	/* the step's first message is both its start and its end (it was quick):
	 * its name, then DONE */
	assert_int_equal(dk_bk_trace(bk, start_msg, collect, &l), 0);
	assert_string_equal(dk_buf_cstr(&l.all),
			    "#1 [base 2/2] RUN --mount=type=cache,target=/root/.cache echo hello-from-mount && echo "
			    "second line\n#1 DONE 0.6s\n");
	dk_buf_clear(&l.all);
	/* its output, line by line, under its number */
	assert_int_equal(dk_bk_trace(bk, log_msg, collect, &l), 0);
	assert_string_equal(dk_buf_cstr(&l.all), "#1 hello-from-mount\n#1 second line\n");
	dk_buf_clear(&l.all);
	/* the same message again says nothing new */
	assert_int_equal(dk_bk_trace(bk, start_msg, collect, &l), 0);
	assert_int_equal(l.all.len, 0);
	/* a failing step: its name, then its error, as an error line */
	assert_int_equal(dk_bk_trace(bk, error_msg, collect, &l), 0);
	assert_string_equal(dk_buf_cstr(&l.all), "#2 [stage-1 2/2] RUN false\n"
			    "#2 ERROR: executor failed running [/bin/sh -c false]: exit code: 1\n");
	assert_int_equal(l.errors, 1);
	/* not base64; base64 of a truncated message */
	assert_int_equal(dk_bk_trace(bk, "%%%", collect, &l), -1);
	assert_int_equal(dk_bk_trace(bk, "CoEC", collect, &l), -1);
	dk_buf_release(&l.all);
	free(bk);
}

static void test_needed(void **state)
{
	(void)state;
	char why[160];
	assert_int_equal(dk_bk_needed("FROM python:3.12\nRUN pip install -r requirements.txt\nCOPY --chown=1:1 . .\n",
				      why, sizeof(why)), 0);
	assert_int_equal(dk_bk_needed("FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache pip install x\n",
				      why, sizeof(why)), 2);
	assert_string_equal(why, "RUN --mount");
	assert_int_equal(dk_bk_needed("FROM a\nWORKDIR /x\n  copy --link --chmod=644 a b\n", why, sizeof(why)), 3);
	assert_string_equal(why, "COPY --link");
	assert_int_equal(dk_bk_needed("FROM a\nRUN <<EOF\necho hi\nEOF\n", why, sizeof(why)), 2);
	assert_string_equal(why, "a heredoc (<<)");
	/* a shift in a shell command is no heredoc */
	assert_int_equal(dk_bk_needed("FROM a\nRUN echo $((1 << 2))\n", why, sizeof(why)), 0);
	assert_int_equal(dk_bk_needed("# escape=`\n# syntax = docker/dockerfile:1.7\nFROM a\n", why, sizeof(why)), 2);
	assert_string_equal(why, "a '# syntax=docker/dockerfile:1.7' directive");
	/* a comment ends the directives: a syntax line after it is a comment */
	assert_int_equal(dk_bk_needed("# my app\n# syntax=docker/dockerfile:1\nFROM a\n", why, sizeof(why)), 0);
}

static void test_drop_syntax(void **state)
{
	(void)state;
	char image[128];
	const char *df = "# syntax=docker/dockerfile:1\nFROM a\nRUN --mount=type=cache,target=/c true\n";
	assert_int_equal(dk_bk_syntax(df, image, sizeof(image)), 1);
	assert_string_equal(image, "docker/dockerfile:1");
	char *d = dk_bk_drop_syntax(df);
	assert_string_equal(d, "# (webops: the syntax directive for docker/dockerfile:1 was dropped: it cannot be "
			    "pulled here)\nFROM a\nRUN --mount=type=cache,target=/c true\n");
	assert_int_equal(dk_bk_syntax(d, image, sizeof(image)), 0);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_needed),
		cmocka_unit_test(test_drop_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
