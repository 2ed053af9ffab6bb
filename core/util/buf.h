/* wo_buf: the one growable byte buffer, always NUL-terminated, with an
 * optional size cap for untrusted input (after curl's dynbuf, git's strbuf). */
#ifndef WO_UTIL_BUF_H
#define WO_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct wo_buf {
	char *ptr;     /* always NUL-terminated once anything was added; NULL when empty and never grown */
	size_t len;
	size_t cap;    /* allocated bytes */
	size_t max;    /* 0: unlimited; else appends that would exceed it fail */
};

#define WO_BUF_INIT { NULL, 0, 0, 0 }

void wo_buf_init(struct wo_buf *b, size_t max);
void wo_buf_release(struct wo_buf *b);
/* Returns the contents (never NULL: "" when empty), owned by the caller; resets b. */
char *wo_buf_detach(struct wo_buf *b);
/* Contents as a C string, "" when empty; borrowed. */
const char *wo_buf_cstr(const struct wo_buf *b);
void wo_buf_clear(struct wo_buf *b);
int wo_buf_grow(struct wo_buf *b, size_t extra);
int wo_buf_add(struct wo_buf *b, const void *data, size_t len);
int wo_buf_puts(struct wo_buf *b, const char *s);
int wo_buf_putc(struct wo_buf *b, char c);
int wo_buf_printf(struct wo_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wo_buf_vprintf(struct wo_buf *b, const char *fmt, va_list ap);
void wo_buf_truncate(struct wo_buf *b, size_t len);

#endif
