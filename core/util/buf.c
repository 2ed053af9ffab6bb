/* wo_buf implementation: amortised doubling, capped growth. */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/banned.h"

void wo_buf_init(struct wo_buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->failed = 0;
}

void wo_buf_release(struct wo_buf *b)
{
	if (!b)
		return;
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

char *wo_buf_detach(struct wo_buf *b)
{
	if (b->failed) {
		int capped = b->max > 0;
		size_t max = b->max;
		wo_buf_release(b);
		if (capped)
			wo_error_setc(WO_ETOOLARGE, "the text would be longer than %zu bytes", max);
		else
			wo_error_setc(WO_ENOMEM, "out of memory");
		return NULL;
	}
	char *p = b->ptr;
	if (!p && !(p = strdup("")))
		wo_error_setc(WO_ENOMEM, "out of memory");
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}

int wo_buf_failed(const struct wo_buf *b)
{
	return b->failed;
}

const char *wo_buf_cstr(const struct wo_buf *b)
{
	return b->ptr ? b->ptr : "";
}

void wo_buf_clear(struct wo_buf *b)
{
	b->failed = 0;
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

int wo_buf_grow(struct wo_buf *b, size_t extra)
{
	if (b->failed)
		return -1;
	if (extra > (size_t)-1 - b->len - 1)
		return b->failed = 1, -1;
	size_t need = b->len + extra + 1;
	if (b->max && need - 1 > b->max)
		return b->failed = 1, -1;
	if (need <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > ((size_t)-1) / 2 ? need : ncap * 2;
	char *np = realloc(b->ptr, ncap);
	if (!np)
		return b->failed = 1, -1;
	b->ptr = np;
	b->cap = ncap;
	return 0;
}

int wo_buf_add(struct wo_buf *b, const void *data, size_t len)
{
	if (wo_buf_grow(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int wo_buf_puts(struct wo_buf *b, const char *s)
{
	return wo_buf_add(b, s, strlen(s));
}

int wo_buf_putc(struct wo_buf *b, char c)
{
	return wo_buf_add(b, &c, 1);
}

int wo_buf_vprintf(struct wo_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return b->failed = 1, -1;
	if (wo_buf_grow(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int wo_buf_printf(struct wo_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = wo_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void wo_buf_truncate(struct wo_buf *b, size_t len)
{
	b->failed = 0;
	if (len < b->len) {
		b->len = len;
		b->ptr[len] = '\0';
	}
}
