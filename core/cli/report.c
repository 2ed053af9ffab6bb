/* How the webops command reports: a failure's message on stderr (and its
 * code), a usage error with where to read more, and, for a program that
 * ran the command (WEBOPS_RESULT_FD), the outcome as one JSON object. Kept
 * apart from main.c so the option parser's unit test links it. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "util/error.h"
#include "util/banned.h"

/* The command's failure, for a program that ran it (WEBOPS_RESULT_FD):
 * the last message said and the error code behind it. */
static char failed_msg[2048];
static int failed_code;

static void said(int code, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	vsnprintf(failed_msg, sizeof(failed_msg), fmt, copy);
	va_end(copy);
	failed_code = code;
	fprintf(stderr, "webops: %s", failed_msg);
}

int wo_cli_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	/* the failure at hand is the last one set (util/error.h), if any */
	int code = wo_error_code();
	said(code < 0 ? code : WO_ERROR, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return wo_error_exit_code(failed_code);
}

int wo_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	said(WO_EINVALID, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'webops %s --help'.\n", cmd);
	return WO_EXIT_USAGE;
}

void wo_cli_result(int code, const char *msg)
{
	snprintf(failed_msg, sizeof(failed_msg), "%s", msg ? msg : "");
	failed_code = code;
}

/* With WEBOPS_RESULT_FD=N (the web UI's process runs lifecycle actions so),
 * the outcome as one JSON object on descriptor N: {"exit": 0, "code": "ok"}
 * or {"exit": 1, "code": "conflict", "error": "deployment 'x' is busy: ..."};
 * the caller needs no line of text to tell what happened. */
void wo_cli_report_result(int rc)
{
	const char *v = getenv("WEBOPS_RESULT_FD");
	char *end = NULL;
	long fd = v && *v ? strtol(v, &end, 10) : -1;
	if (fd < 3 || !end || *end || fcntl((int)fd, F_GETFD) < 0)
		return;
	json_t *o = json_pack("{s:i, s:s}", "exit", rc, "code", wo_error_name(rc == 0 ? WO_OK : failed_code ? failed_code
	                                                                                             : WO_ERROR));
	if (rc != 0 && failed_msg[0])
		json_object_set_new(o, "error", json_string(failed_msg));
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text) {
		size_t n = strlen(text), off = 0;
		while (off < n) {
			ssize_t w = write((int)fd, text + off, n - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	free(text);
	json_decref(o);
	close((int)fd);
}

int wo_cli_is_help(const char *s)
{
	return s && (!strcmp(s, "-h") || !strcmp(s, "--help") || !strcmp(s, "help"));
}
