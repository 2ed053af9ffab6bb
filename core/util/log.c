/* stderr logger; one write per line so lines of several processes do not interleave. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

const char *wo_log_level_name(enum wo_log_level level)
{
	switch (level) {
	case WO_LOG_DEBUG: return "debug";
	case WO_LOG_INFO: return "info";
	case WO_LOG_WARN: return "warn";
	case WO_LOG_ERROR: return "error";
	}
	return "info";
}

void wo_log(enum wo_log_level level, const char *component, const char *fmt, ...)
{
	char line[4096];
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %s %s: ", (long)tv.tv_usec / 1000,
		      wo_log_level_name(level), component);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(2, line, (size_t)n) < 0) {
		/* stderr is gone; nothing to do */
	}
}
