/* Thread-local last error storage. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char wo_error_msg[4096];

int wo_error_set(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(wo_error_msg, sizeof(wo_error_msg), fmt, ap);
	va_end(ap);
	return -1;
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
	return -1;
}

const char *wo_error_last(void)
{
	return wo_error_msg;
}

void wo_error_clear(void)
{
	wo_error_msg[0] = '\0';
}
