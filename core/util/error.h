/* The thread-local last error, like libgit2's git_error_last(): a failing
 * function sets it once, the top level prints it. Each error has a code
 * beside its message, so what a caller does with it (an HTTP status, an
 * exit code, a retry) never depends on its wording. */
#ifndef WO_UTIL_ERROR_H
#define WO_UTIL_ERROR_H

/* What went wrong, by kind. Values are never renumbered or reused (they
 * cross process boundaries: a child's result, a fetch process's frames);
 * new kinds are added at the end. Functions return -1 (WO_ERROR) or, where
 * it helps their callers, the code itself (always negative). */
enum wo_error_code {
	WO_OK = 0,
	WO_ERROR = -1,        /* unclassified: a failure of webops or its host (500) */
	WO_ENOTFOUND = -2,    /* what was named does not exist (404) */
	WO_EEXISTS = -3,      /* a name, port or id is already taken (409) */
	WO_EFORBIDDEN = -4,   /* the caller may not do this (403) */
	WO_EINVALID = -5,     /* a value given is not allowed; the message names the field (422) */
	WO_ECONFLICT = -6,    /* it is busy: held by a run or another action, or changed meanwhile (409) */
	WO_EAUTH = -7,        /* credentials were refused (a repository's; 401 only for our own) (502) */
	WO_EUNAVAILABLE = -8, /* the database, the engine or another part is away for now (503) */
	WO_EUNREACHABLE = -9, /* a remote (a repository) is not there or cannot be reached (502) */
	WO_ECANCELLED = -10,  /* stopped on request (409) */
	WO_ETOOLARGE = -11,   /* over a size limit (413) */
	WO_ETIMEOUT = -12,    /* it took longer than allowed (504) */
	WO_ENOMEM = -13,      /* out of memory, or over a memory limit (500) */
};
#define WO_ERROR_CODE_MIN WO_ENOMEM

/* Sets the message (code WO_ERROR) and returns -1, so callers can
 * `return wo_error_set(...)`. */
int wo_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sets the message with a code; returns the code. */
int wo_error_setc(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "prefix: " (keeps the detail
 * underneath and the code); returns the code (-1 when there is none). */
int wo_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current message, "" when none; borrowed until the next set/clear. */
const char *wo_error_last(void);
/* The current code: WO_OK when none was set since the last clear. */
int wo_error_code(void);
void wo_error_clear(void);

/* The one table of what each code means outside: its name ("not_found"),
 * the HTTP status an answer gets and the CLI's exit code. An unknown code
 * reads as WO_ERROR. */
const char *wo_error_name(int code);
int wo_error_http_status(int code);
int wo_error_exit_code(int code);
/* The code a name stands for (a child's result); WO_ERROR when unknown. */
int wo_error_from_name(const char *name);

#endif
