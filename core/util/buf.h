/* wo_buf: the one growable byte buffer, always NUL-terminated, with an
 * optional size cap for untrusted input (after curl's dynbuf, git's strbuf).
 * A failed append (no memory, or past the cap) sticks: the buffer is marked
 * failed, later appends do nothing and return -1, and whoever takes the text
 * learns it once, at wo_buf_detach (NULL) or from wo_buf_failed, so a capped
 * generated file never goes out with a piece silently missing. */
#ifndef WO_UTIL_BUF_H
#define WO_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct wo_buf {
	char *ptr;     /* always NUL-terminated once anything was added; NULL when empty and never grown */
	size_t len;
	size_t cap;    /* allocated bytes */
	size_t max;    /* 0: unlimited; else appends that would exceed it fail */
	int failed;    /* an append failed: the text is incomplete (see above) */
};

#define WO_BUF_INIT { NULL, 0, 0, 0, 0 }

void wo_buf_init(struct wo_buf *b, size_t max);
void wo_buf_release(struct wo_buf *b);
/* Returns the contents ("" when empty), owned by the caller, and resets b;
 * NULL when an append failed (or there is no memory for ""), with the error
 * set: WO_ETOOLARGE past the cap, WO_ENOMEM otherwise. */
char *wo_buf_detach(struct wo_buf *b);
/* Non-zero once an append failed (until clear, truncate or release). */
int wo_buf_failed(const struct wo_buf *b);
/* Contents as a C string, "" when empty; borrowed. */
const char *wo_buf_cstr(const struct wo_buf *b);
/* Empties b; a failure is forgotten (the caller starts over). */
void wo_buf_clear(struct wo_buf *b);
int wo_buf_grow(struct wo_buf *b, size_t extra);
int wo_buf_add(struct wo_buf *b, const void *data, size_t len);
int wo_buf_puts(struct wo_buf *b, const char *s);
int wo_buf_putc(struct wo_buf *b, char c);
int wo_buf_printf(struct wo_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wo_buf_vprintf(struct wo_buf *b, const char *fmt, va_list ap);
/* Keeps the first len bytes; a failure is forgotten (the caller made room). */
void wo_buf_truncate(struct wo_buf *b, size_t len);

#endif
