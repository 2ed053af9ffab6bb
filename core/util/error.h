/* The thread-local last error, like libgit2's git_error_last(): a failing
 * function sets it once, the top level prints it. */
#ifndef WO_UTIL_ERROR_H
#define WO_UTIL_ERROR_H

/* Sets the message and returns -1, so callers can `return wo_error_set(...)`. */
int wo_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefixes the current message with "prefix: " (keeps the detail underneath). */
int wo_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current message, "" when none; borrowed until the next set/clear. */
const char *wo_error_last(void);
void wo_error_clear(void);

#endif
