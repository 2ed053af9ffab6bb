/* The docker addon's own string, error and file tools (see dkutil.h). */
#include "dkutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- dk_buf ---- */

void dk_buf_init(struct dk_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void dk_buf_release(struct dk_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

char *dk_buf_detach(struct dk_buf *b)
{
	char *p = b->ptr ? b->ptr : strdup("");
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *dk_buf_cstr(const struct dk_buf *b)
{
	return b->ptr ? b->ptr : "";
}

void dk_buf_clear(struct dk_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

/* Room for extra more bytes and the NUL; -1 past the cap or out of memory. */
static int dk_buf_room(struct dk_buf *b, size_t extra)
{
	if (extra > (size_t)-1 / 2 - b->len || (b->max && b->len + extra > b->max))
		return -1;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->ptr, cap);
	if (!p)
		return -1;
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int dk_buf_add(struct dk_buf *b, const void *data, size_t len)
{
	if (dk_buf_room(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int dk_buf_puts(struct dk_buf *b, const char *s)
{
	return dk_buf_add(b, s, strlen(s));
}

int dk_buf_putc(struct dk_buf *b, char c)
{
	return dk_buf_add(b, &c, 1);
}

int dk_buf_vprintf(struct dk_buf *b, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	char small[256];
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	int rc = -1;
	if (n >= 0 && (size_t)n < sizeof(small)) {
		rc = dk_buf_add(b, small, (size_t)n);
	} else if (n >= 0 && dk_buf_room(b, (size_t)n) == 0) {
		vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, again);
		b->len += (size_t)n;
		rc = 0;
	}
	va_end(again);
	return rc;
}

int dk_buf_printf(struct dk_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = dk_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void dk_buf_truncate(struct dk_buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->ptr[len] = '\0';
	}
}

/* ---- the last error ---- */

static __thread char dk_err[2048];

int dk_error_set(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dk_err, sizeof(dk_err), fmt, ap);
	va_end(ap);
	return -1;
}

int dk_error_prefix(const char *fmt, ...)
{
	char prefix[1024], old[sizeof(dk_err)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", dk_err);
	snprintf(dk_err, sizeof(dk_err), "%s%s%s", prefix, old[0] ? ": " : "", old);
	return -1;
}

const char *dk_error_last(void)
{
	return dk_err;
}

/* ---- files ---- */

int dk_fs_read_fd(char **out, size_t *len_out, int fd, const char *name, size_t max)
{
	struct dk_buf b;
	dk_buf_init(&b, max);
	char chunk[16384];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			dk_buf_release(&b);
			return dk_error_set("cannot read '%s': %s", name, strerror(e));
		}
		if (n == 0)
			break;
		if (dk_buf_add(&b, chunk, (size_t)n) < 0) {
			dk_buf_release(&b);
			return dk_error_set("cannot read '%s': larger than %zu bytes", name, max);
		}
	}
	if (len_out)
		*len_out = b.len;
	*out = dk_buf_detach(&b);
	return 0;
}

int dk_fs_read_file(char **out, size_t *len_out, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dk_error_set("cannot read '%s': %s", path, strerror(errno));
	int rc = dk_fs_read_fd(out, len_out, fd, path, max);
	close(fd);
	return rc;
}

int dk_fs_write_file_atomic(const char *path, const void *data, size_t len, int mode)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return dk_error_set("cannot write '%s': the path is too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return dk_error_set("cannot write '%s': %s", path, strerror(errno));
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return dk_error_set("cannot write '%s': %s", path, strerror(e));
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return dk_error_set("cannot write '%s': %s", path, strerror(e));
	}
	return 0;
}

int dk_fs_mkdir_p(const char *path, int mode)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp))
		return dk_error_set("cannot create '%s': the path is too long", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
			return dk_error_set("cannot create '%s': %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
		return dk_error_set("cannot create '%s': %s", tmp, strerror(errno));
	return 0;
}
