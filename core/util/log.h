/* Plain structured logging to stderr: "2026-11-23T08:30:00Z info component: message". */
#ifndef WO_UTIL_LOG_H
#define WO_UTIL_LOG_H

enum wo_log_level { WO_LOG_DEBUG, WO_LOG_INFO, WO_LOG_WARN, WO_LOG_ERROR };

void wo_log(enum wo_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *wo_log_level_name(enum wo_log_level level);

#endif
