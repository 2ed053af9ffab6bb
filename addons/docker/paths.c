/* Keeping user and repository paths inside their root: lexical checks, and
 * file access beneath a directory with openat2(RESOLVE_BENEATH). */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dkutil.h"

int dk_path_check_relative(const char *rel, struct dk_buf *err)
{
	const char *why = NULL;
	if (!rel || !*rel)
		why = "is empty";
	else if (rel[0] == '/')
		why = "must be relative to the repository, not absolute";
	else if (strlen(rel) > 1024)
		why = "is longer than 1024 characters";
	else {
		for (const unsigned char *p = (const unsigned char *)rel; *p && !why; p++)
			if (*p < 0x20 || *p == 0x7f)
				why = "holds a control character";
		const char *s = rel;
		while (!why && *s) {
			size_t n = strcspn(s, "/");
			if (n == 0)
				why = "has an empty component ('//' or a trailing '/')";
			else if (n == 2 && s[0] == '.' && s[1] == '.')
				why = "must stay inside the repository (no '..')";
			else if (n == 1 && s[0] == '.')
				why = "has a '.' component";
			s += n;
			if (*s == '/') {
				s++;
				if (!*s)
					why = "has an empty component ('//' or a trailing '/')";
			}
		}
	}
	if (!why)
		return 0;
	if (err)
		dk_buf_printf(err, "'%.200s' %s", rel ? rel : "", why);
	return -1;
}

int dk_path_open_beneath(const char *root, const char *rel, int flags)
{
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	int e = errno;
	if (fd < 0 && (e == ENOSYS || e == EPERM)) {
		/* Before Linux 5.6: refuse symlinks altogether rather than risk an escape. */
		fd = openat(rootfd, rel, flags | O_CLOEXEC | O_NOFOLLOW);
		e = errno;
	}
	close(rootfd);
	errno = e;
	return (int)fd;
}

int dk_path_file_beneath(const char *root, const char *rel)
{
	int fd = dk_path_open_beneath(root, rel, O_PATH);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		if (errno == EXDEV || errno == ELOOP)
			return dk_error_set("'%s' leaves the repository through a symlink", rel);
		return dk_error_set("cannot open '%s': %s", rel, strerror(errno));
	}
	struct stat st;
	int rc = fstat(fd, &st);
	close(fd);
	if (rc < 0)
		return dk_error_set("cannot stat '%s': %s", rel, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return dk_error_set("'%s' is not a regular file", rel);
	return 1;
}

int dk_path_read_beneath(char **out, size_t *len_out, const char *root, const char *rel, size_t max)
{
	int fd = dk_path_open_beneath(root, rel, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return DK_PATH_ENOENT;
		if (errno == EXDEV || errno == ELOOP)
			return dk_error_set("'%s' leaves the repository through a symlink", rel);
		return dk_error_set("cannot read '%s': %s", rel, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dk_error_set("cannot read '%s': not a regular file", rel);
	}
	int ret = dk_fs_read_fd(out, len_out, fd, rel, max);
	close(fd);
	return ret;
}

int dk_path_write_beneath(const char *root, const char *rel, const char *data, size_t len, int mode)
{
	struct dk_buf err = DK_BUF_INIT;
	if (dk_path_check_relative(rel, &err) < 0) {
		dk_error_set("cannot write %s", dk_buf_cstr(&err));
		dk_buf_release(&err);
		return -1;
	}
	char *dir = strdup(rel);
	if (!dir)
		return dk_error_set("out of memory");
	char *slash = strrchr(dir, '/');
	const char *base = rel;
	int dirfd;
	if (slash) {
		*slash = '\0';
		base = rel + (slash - dir) + 1;
		/* mkdir -p beneath root, one component at a time */
		for (char *p = dir;; p++) {
			if (*p == '/' || *p == '\0') {
				char c = *p;
				*p = '\0';
				int fd = dk_path_open_beneath(root, dir, O_PATH | O_DIRECTORY);
				if (fd < 0 && errno == ENOENT) {
					int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
					if (rfd >= 0) {
						mkdirat(rfd, dir, 0755);
						close(rfd);
					}
					fd = dk_path_open_beneath(root, dir, O_PATH | O_DIRECTORY);
				}
				if (fd < 0) {
					int e = errno;
					dk_error_set("cannot create the directory '%s' in the repository: %s", dir,
						     e == EXDEV ? "it leaves the repository through a symlink" : strerror(e));
					free(dir);
					return -1;
				}
				close(fd);
				*p = c;
				if (!c)
					break;
			}
		}
		dirfd = dk_path_open_beneath(root, dir, O_PATH | O_DIRECTORY);
	} else {
		dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	free(dir);
	if (dirfd < 0)
		return dk_error_set("cannot open the directory of '%s': %s", rel, strerror(errno));
	int fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	int e = errno;
	close(dirfd);
	if (fd < 0)
		return dk_error_set("cannot write '%s': %s", rel, e == ELOOP ? "it is a symlink" : strerror(e));
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			return dk_error_set("cannot write '%s': %s", rel, strerror(e));
		}
		off += (size_t)n;
	}
	if (close(fd) < 0)
		return dk_error_set("cannot write '%s': %s", rel, strerror(errno));
	return 0;
}

/* realpath of the longest existing prefix of path, plus the rest as written. */
static char *paths_resolve(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return NULL;
	size_t len = strlen(copy);
	size_t cut = len;
	for (;;) {
		char saved = copy[cut];
		copy[cut] = '\0';
		char *r = realpath(cut ? copy : "/", NULL);
		copy[cut] = saved;
		if (r) {
			struct dk_buf b = DK_BUF_INIT;
			dk_buf_puts(&b, r);
			free(r);
			if (cut < len) {
				if (b.len && b.ptr[b.len - 1] == '/' && copy[cut] == '/')
					dk_buf_puts(&b, copy + cut + 1);
				else
					dk_buf_puts(&b, copy + cut);
			}
			free(copy);
			return dk_buf_detach(&b);
		}
		if (cut == 0)
			break;
		while (cut > 0 && copy[cut - 1] != '/')
			cut--;
		if (cut > 0)
			cut--; /* drop the '/' too */
	}
	free(copy);
	return NULL;
}

static int paths_is_under(const char *p, const char *root)
{
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	if (n == 1 && root[0] == '/')
		return 1;
	return strncmp(p, root, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

int dk_path_under_roots(const char *path, const char *const *roots, size_t nroots, struct dk_buf *err)
{
	if (!path || path[0] != '/')
		return -1;
	/* lexically: no '.' or '..' components, so the text says where it points */
	if (dk_path_check_relative(path + 1, NULL) < 0 && strcmp(path, "/") != 0) {
		if (err)
			dk_buf_printf(err, "'%s' must be a plain absolute path (no '.', '..' or '//')", path);
		return -1;
	}
	char *real = paths_resolve(path);
	if (!real)
		return -1;
	int ok = 0;
	for (size_t i = 0; i < nroots && !ok; i++) {
		if (!roots[i] || roots[i][0] != '/')
			continue;
		char *rr = paths_resolve(roots[i]);
		if (rr && paths_is_under(path, roots[i]) && paths_is_under(real, rr))
			ok = 1;
		free(rr);
	}
	if (!ok && err) {
		dk_buf_printf(err, "'%s' is not under an allowed volume root (", path);
		if (!nroots)
			dk_buf_puts(err, "none is set: set the docker addon's allowed_volume_roots");
		for (size_t i = 0; i < nroots; i++)
			dk_buf_printf(err, "%s%s", i ? ", " : "", roots[i]);
		dk_buf_puts(err, ")");
		if (strcmp(real, path) != 0)
			dk_buf_printf(err, "; it resolves to '%s'", real);
	}
	free(real);
	return ok;
}
