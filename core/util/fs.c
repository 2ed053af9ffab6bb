/* Filesystem helpers used across modules. */
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

int wo_fs_read_fd(char **out, size_t *len_out, int fd, const char *name, size_t max)
{
	struct wo_buf b;
	wo_buf_init(&b, max);
	char chunk[16384];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			wo_buf_release(&b);
			return wo_error_set("cannot read '%s': %s", name, strerror(e));
		}
		if (n == 0)
			break;
		if (wo_buf_add(&b, chunk, (size_t)n) < 0) {
			wo_buf_release(&b);
			return wo_error_set("cannot read '%s': larger than %zu bytes", name, max);
		}
	}
	size_t len = b.len;
	*out = wo_buf_detach(&b);
	if (len_out)
		*len_out = len;
	return 0;
}

int wo_fs_read_file(char **out, size_t *len_out, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wo_error_set("cannot read '%s': %s", path, strerror(errno));
	int rc = wo_fs_read_fd(out, len_out, fd, path, max);
	close(fd);
	return rc;
}

int wo_fs_write_file_atomic(const char *path, const void *data, size_t len, int mode)
{
	struct wo_buf tmp = WO_BUF_INIT;
	wo_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		int e = errno;
		wo_buf_release(&tmp);
		return wo_error_set("cannot write '%s': %s", path, strerror(e));
	}
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			unlink(tmp.ptr);
			wo_buf_release(&tmp);
			return wo_error_set("cannot write '%s': %s", path, strerror(e));
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp.ptr, path) != 0) {
		int e = errno;
		unlink(tmp.ptr);
		wo_buf_release(&tmp);
		return wo_error_set("cannot write '%s': %s", path, strerror(e));
	}
	wo_buf_release(&tmp);
	return 0;
}

int wo_fs_mkdir_p(const char *path, int mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return wo_error_set("path too long: '%s'", path);
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
				return wo_error_set("cannot create directory '%s': %s", tmp, strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int wo_fs_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : wo_error_set("cannot remove '%s': %s", path, strerror(errno));
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return wo_error_set("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}
