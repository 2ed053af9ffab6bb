/* Thread-local last error storage, and the table of error codes. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static _Thread_local char wo_error_msg[4096];
static _Thread_local int wo_error_num;

static const struct {
	int code;
	const char *name;
	int http;
	int exit;
} kinds[] = {
	{ WO_OK, "ok", 200, 0 },
	{ WO_ERROR, "error", 500, 1 },
	{ WO_ENOTFOUND, "not_found", 404, 1 },
	{ WO_EEXISTS, "exists", 409, 1 },
	{ WO_EINVALID, "invalid", 422, 1 },
	{ WO_ECONFLICT, "conflict", 409, 1 },
	{ WO_EAUTH, "auth", 502, 1 },
	{ WO_EFORBIDDEN, "forbidden", 403, 1 },
	{ WO_EUNAVAILABLE, "unavailable", 503, 1 },
	{ WO_EUNREACHABLE, "unreachable", 502, 1 },
	{ WO_ECANCELLED, "cancelled", 409, 1 },
	{ WO_ETOOLARGE, "too_large", 413, 1 },
	{ WO_ETIMEOUT, "timeout", 504, 1 },
	{ WO_ENOMEM, "no_memory", 500, 1 },
};

static int kind_of(int code)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].code == code)
			return (int)i;
	return 1; /* WO_ERROR */
}

static void set_msg(int code, const char *fmt, va_list ap)
{
	vsnprintf(wo_error_msg, sizeof(wo_error_msg), fmt, ap);
	wo_error_num = code < 0 && code >= WO_ERROR_CODE_MIN ? code : WO_ERROR;
}

int wo_error_set(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_msg(WO_ERROR, fmt, ap);
	va_end(ap);
	return -1;
}

int wo_error_setc(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_msg(code, fmt, ap);
	va_end(ap);
	return wo_error_num;
}

int wo_error_prefix(const char *fmt, ...)
{
	char prefix[1024], old[sizeof(wo_error_msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, wo_error_msg, sizeof(old));
	if (old[0])
		snprintf(wo_error_msg, sizeof(wo_error_msg), "%s: %s", prefix, old);
	else
		snprintf(wo_error_msg, sizeof(wo_error_msg), "%s", prefix);
	if (wo_error_num == WO_OK)
		wo_error_num = WO_ERROR;
	return wo_error_num;
}

const char *wo_error_last(void)
{
	return wo_error_msg;
}

int wo_error_code(void)
{
	return wo_error_num;
}

void wo_error_clear(void)
{
	wo_error_msg[0] = '\0';
	wo_error_num = WO_OK;
}

const char *wo_error_name(int code)
{
	return kinds[kind_of(code)].name;
}

int wo_error_http_status(int code)
{
	return kinds[kind_of(code)].http;
}

int wo_error_exit_code(int code)
{
	return kinds[kind_of(code)].exit;
}

int wo_error_from_name(const char *name)
{
	for (size_t i = 0; name && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			return kinds[i].code;
	return WO_ERROR;
}
