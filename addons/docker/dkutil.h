/* The docker addon's own small tools: a growable string, a thread-local
 * last error, and the few file operations it needs. An addon stands on the
 * public header (webops/addon.h) and the C library alone, so these live
 * here, not in webops' core. */
#ifndef DOCKER_DKUTIL_H
#define DOCKER_DKUTIL_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>

/* A NUL-terminated growable byte string, with an optional size cap for
 * what comes from outside (0: none). */
struct dk_buf {
	char *ptr; /* NULL until something is added */
	size_t len;
	size_t cap;
	size_t max;
};
#define DK_BUF_INIT { NULL, 0, 0, 0 }

void dk_buf_init(struct dk_buf *b, size_t max);
void dk_buf_release(struct dk_buf *b);
/* The contents (never NULL), now the caller's; b is empty again. */
char *dk_buf_detach(struct dk_buf *b);
/* The contents, "" when empty; borrowed. */
const char *dk_buf_cstr(const struct dk_buf *b);
void dk_buf_clear(struct dk_buf *b);
int dk_buf_add(struct dk_buf *b, const void *data, size_t len);
int dk_buf_puts(struct dk_buf *b, const char *s);
int dk_buf_putc(struct dk_buf *b, char c);
int dk_buf_printf(struct dk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dk_buf_vprintf(struct dk_buf *b, const char *fmt, va_list ap);
void dk_buf_truncate(struct dk_buf *b, size_t len);

/* How the addon's logic renders its templates (templates/ beside
 * addon.yaml): in the addon through host->render, in tests through webops'
 * own engine. render appends the template called name, rendered with data
 * and escaper ("dockerfile", "nginx", "systemd"), to out; -1 with the
 * reason in dk_error. */
struct dk_renderer {
	int (*render)(struct dk_buf *out, const char *name, const json_t *data, const char *escaper, void *ud);
	void *ud;
};

/* Sets this thread's last error and returns -1. */
int dk_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Puts "PREFIX: " before the current error; returns -1. */
int dk_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last error, "" when none; borrowed. */
const char *dk_error_last(void);

/* Reads all of fd (at most max bytes; more is an error naming name). */
int dk_fs_read_fd(char **out, size_t *len_out, int fd, const char *name, size_t max);
int dk_fs_read_file(char **out, size_t *len_out, const char *path, size_t max);
/* Writes path through a temporary file and rename(), so readers see the
 * old or the new content, never half of it. */
int dk_fs_write_file_atomic(const char *path, const void *data, size_t len, int mode);
int dk_fs_mkdir_p(const char *path, int mode);

#endif
