/* Build context as a tar stream: a walk of the tree (sorted like Docker's,
 * .dockerignore applied, symlinks never followed) and a pull-driven libarchive
 * writer, so the engine gets the context as it is produced. */
#include "context.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "ignore.h"
#include "dkutil.h"

#define CTX_MAX_ENTRIES 500000
#define CTX_MAX_DEPTH 128
#define CTX_MAX_IGNORE (1u << 20)
#define CTX_CHUNK 65536

struct ctx_entry {
	char *path;      /* relative, no trailing '/' */
	mode_t mode;     /* type and permission bits */
	off_t size;
	struct timespec mtime;
	char *link;      /* symlink target */
};

struct dk_context {
	int rootfd;
	char *root;
	struct dk_ignore *ignore;
	struct ctx_entry *e;
	size_t n, cap;
	unsigned long long bytes;
	/* streaming */
	struct archive *a;
	struct dk_buf out;
	size_t out_pos;
	size_t next;
	int fd;
	off_t remaining;
	int finished, failed;
	char *chunk;
};

size_t dk_context_count(const struct dk_context *c)
{
	return c->n;
}

const char *dk_context_path(const struct dk_context *c, size_t i)
{
	return i < c->n ? c->e[i].path : NULL;
}

unsigned long long dk_context_bytes(const struct dk_context *c)
{
	return c->bytes;
}

void dk_context_free(struct dk_context *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].path);
		free(c->e[i].link);
	}
	free(c->e);
	if (c->a)
		archive_write_free(c->a);
	if (c->fd >= 0)
		close(c->fd);
	if (c->rootfd >= 0)
		close(c->rootfd);
	dk_ignore_free(c->ignore);
	dk_buf_release(&c->out);
	free(c->chunk);
	free(c->root);
	free(c);
}

static int ctx_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ctx_add(struct dk_context *c, const char *path, const struct stat *st, int dirfd, const char *name)
{
	if (c->n >= CTX_MAX_ENTRIES)
		return dk_error_set("the build context has more than %d entries", CTX_MAX_ENTRIES);
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		struct ctx_entry *ne = realloc(c->e, ncap * sizeof(*ne));
		if (!ne)
			return dk_error_set("out of memory");
		c->e = ne;
		c->cap = ncap;
	}
	struct ctx_entry *e = &c->e[c->n];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (!e->path)
		return dk_error_set("out of memory");
	e->mode = st->st_mode;
	e->size = S_ISREG(st->st_mode) ? st->st_size : 0;
	e->mtime = st->st_mtim;
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n < 0) {
			free(e->path);
			return dk_error_set("cannot read the symlink '%s': %s", path, strerror(errno));
		}
		target[n] = '\0';
		e->link = strdup(target);
		if (!e->link) {
			free(e->path);
			return dk_error_set("out of memory");
		}
	}
	c->bytes += (unsigned long long)e->size;
	c->n++;
	return 0;
}

static int ctx_walk(struct dk_context *c, int dirfd, const char *rel, int depth)
{
	if (depth > CTX_MAX_DEPTH)
		return dk_error_set("'%s' is nested more than %d directories deep", rel, CTX_MAX_DEPTH);
	int fd = dup(dirfd);
	if (fd < 0)
		return dk_error_set("cannot read the directory '%s': %s", *rel ? rel : ".", strerror(errno));
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return dk_error_set("cannot read the directory '%s': %s", *rel ? rel : ".", strerror(errno));
	}
	rewinddir(d);
	char **names = NULL;
	size_t nn = 0, ncap = 0;
	int ret = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (nn == ncap) {
			size_t nc = ncap ? ncap * 2 : 32;
			char **nv = realloc(names, nc * sizeof(*nv));
			if (!nv) {
				ret = dk_error_set("out of memory");
				goto out;
			}
			names = nv;
			ncap = nc;
		}
		if (!(names[nn] = strdup(de->d_name))) {
			ret = dk_error_set("out of memory");
			goto out;
		}
		nn++;
	}
	if (nn)
		qsort(names, nn, sizeof(*names), ctx_cmp);
	struct dk_buf path = DK_BUF_INIT;
	for (size_t i = 0; i < nn && ret == 0; i++) {
		dk_buf_clear(&path);
		if (*rel)
			dk_buf_printf(&path, "%s/", rel);
		dk_buf_puts(&path, names[i]);
		struct stat st;
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = dk_error_set("cannot stat '%s': %s", dk_buf_cstr(&path), strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
			continue; /* sockets, fifos, devices have no place in an image build */
		int excluded = dk_ignore_excluded(c->ignore, dk_buf_cstr(&path));
		if (excluded && !(S_ISDIR(st.st_mode) && dk_ignore_dir_has_exceptions(c->ignore, dk_buf_cstr(&path))))
			continue;
		if (!excluded)
			ret = ctx_add(c, dk_buf_cstr(&path), &st, dirfd, names[i]);
		if (ret == 0 && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				ret = dk_error_set("cannot open the directory '%s': %s", dk_buf_cstr(&path), strerror(errno));
				break;
			}
			ret = ctx_walk(c, sub, dk_buf_cstr(&path), depth + 1);
			close(sub);
		}
	}
	dk_buf_release(&path);
out:
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ret;
}

/* Opens rel under the root without following any symlink on the way. */
static int ctx_open_beneath(struct dk_context *c, const char *rel)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	long fd = syscall(SYS_openat2, c->rootfd, rel, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* Kernels before 5.6: only the last component is guarded. */
		fd = openat(c->rootfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	return (int)fd;
}

static int ctx_read_ignore(struct dk_context *c)
{
	int fd = ctx_open_beneath(c, ".dockerignore");
	if (fd < 0) {
		if (errno == ENOENT)
			return dk_ignore_new(&c->ignore);
		return dk_error_set("cannot read '.dockerignore': %s", strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)CTX_MAX_IGNORE) {
		close(fd);
		return dk_error_set("cannot read '.dockerignore': not a regular file of at most %u bytes", CTX_MAX_IGNORE);
	}
	char *text = NULL;
	size_t len = 0;
	int ret = dk_fs_read_fd(&text, &len, fd, ".dockerignore", CTX_MAX_IGNORE);
	close(fd);
	if (ret == 0)
		ret = dk_ignore_parse(&c->ignore, text, len);
	free(text);
	return ret;
}

static la_ssize_t ctx_archive_write(struct archive *a, void *ud, const void *buf, size_t len)
{
	struct dk_context *c = ud;
	if (dk_buf_add(&c->out, buf, len) < 0) {
		archive_set_error(a, ENOMEM, "out of memory");
		return -1;
	}
	return (la_ssize_t)len;
}

int dk_context_open(struct dk_context **out, const char *root, const char *dockerfile)
{
	return dk_context_open_with(out, root, dockerfile, NULL, 0);
}

int dk_context_open_with(struct dk_context **out, const char *root, const char *dockerfile,
			 const char *const *always, size_t nalways)
{
	struct dk_context *c = calloc(1, sizeof(*c));
	if (!c)
		return dk_error_set("out of memory");
	c->fd = -1;
	c->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0) {
		int e = errno;
		dk_context_free(c);
		return dk_error_set("cannot open the build context '%s': %s", root, strerror(e));
	}
	c->root = strdup(root);
	int ret = c->root ? ctx_read_ignore(c) : dk_error_set("out of memory");
	if (ret == 0) {
		/* Docker always sends these two, whatever .dockerignore says. */
		struct dk_buf p = DK_BUF_INIT;
		dk_buf_puts(&p, "!");
		dk_ignore_escape(&p, ".dockerignore");
		ret = dk_ignore_add(c->ignore, dk_buf_cstr(&p));
		if (ret == 0 && dockerfile && *dockerfile) {
			dk_buf_clear(&p);
			dk_buf_puts(&p, "!");
			dk_ignore_escape(&p, dockerfile);
			ret = dk_ignore_add(c->ignore, dk_buf_cstr(&p));
		}
		for (size_t i = 0; ret == 0 && i < nalways; i++) {
			dk_buf_clear(&p);
			dk_buf_puts(&p, "!");
			dk_ignore_escape(&p, always[i]);
			ret = dk_ignore_add(c->ignore, dk_buf_cstr(&p));
		}
		dk_buf_release(&p);
	}
	if (ret == 0)
		ret = ctx_walk(c, c->rootfd, "", 0);
	if (ret == 0) {
		c->chunk = malloc(CTX_CHUNK);
		c->a = archive_write_new();
		if (!c->chunk || !c->a)
			ret = dk_error_set("out of memory");
	}
	if (ret == 0) {
		/* pax_restricted: plain ustar headers, a pax header only for an
		 * entry that needs one (a long or non-ASCII name); BuildKit tells
		 * a context tarball from a lone Dockerfile by its first block */
		if (archive_write_set_format_pax_restricted(c->a) != ARCHIVE_OK ||
		    archive_write_open(c->a, c, NULL, ctx_archive_write, NULL) != ARCHIVE_OK)
			ret = dk_error_set("cannot start the context tar: %s", archive_error_string(c->a));
	}
	if (ret < 0) {
		dk_context_free(c);
		return ret;
	}
	*out = c;
	return 0;
}

static int ctx_header(struct dk_context *c, const struct ctx_entry *e)
{
	struct archive_entry *ae = archive_entry_new();
	if (!ae)
		return dk_error_set("out of memory");
	struct dk_buf name = DK_BUF_INIT;
	dk_buf_puts(&name, e->path);
	if (S_ISDIR(e->mode))
		dk_buf_putc(&name, '/');
	archive_entry_set_pathname(ae, dk_buf_cstr(&name));
	archive_entry_set_perm(ae, e->mode & 07777);
	/* whole seconds: a sub-second time would add a pax header before the
	 * first entry, and BuildKit, which sniffs the first block to tell a
	 * context tarball from a lone Dockerfile, would take the tarball for
	 * a Dockerfile */
	archive_entry_set_mtime(ae, e->mtime.tv_sec, 0);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	if (S_ISDIR(e->mode)) {
		archive_entry_set_filetype(ae, AE_IFDIR);
	} else if (S_ISLNK(e->mode)) {
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_set_symlink(ae, e->link);
	} else {
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_size(ae, e->size);
	}
	int rc = archive_write_header(c->a, ae);
	int ret = 0;
	if (rc < ARCHIVE_WARN)
		ret = dk_error_set("cannot add '%s' to the context tar: %s", e->path, archive_error_string(c->a));
	archive_entry_free(ae);
	dk_buf_release(&name);
	return ret;
}

/* Produces the next piece of the tar into c->out. */
static int ctx_step(struct dk_context *c)
{
	if (c->fd >= 0) {
		size_t want = c->remaining < (off_t)CTX_CHUNK ? (size_t)c->remaining : CTX_CHUNK;
		ssize_t n = want ? read(c->fd, c->chunk, want) : 0;
		if (n < 0)
			return dk_error_set("cannot read '%s': %s", c->e[c->next - 1].path, strerror(errno));
		if (n > 0) {
			if (archive_write_data(c->a, c->chunk, (size_t)n) != n)
				return dk_error_set("cannot add '%s' to the context tar: %s", c->e[c->next - 1].path,
						    archive_error_string(c->a));
			c->remaining -= n;
		}
		if (n == 0 || c->remaining == 0) {
			/* A file that shrank meanwhile is padded with zeros by libarchive. */
			close(c->fd);
			c->fd = -1;
			if (archive_write_finish_entry(c->a) < ARCHIVE_WARN)
				return dk_error_set("cannot add '%s' to the context tar: %s", c->e[c->next - 1].path,
						    archive_error_string(c->a));
		}
		return 0;
	}
	if (c->next < c->n) {
		const struct ctx_entry *e = &c->e[c->next++];
		if (S_ISREG(e->mode) && e->size > 0) {
			c->fd = ctx_open_beneath(c, e->path);
			struct stat st;
			if (c->fd < 0)
				return dk_error_set("cannot read '%s': %s", e->path, strerror(errno));
			if (fstat(c->fd, &st) < 0 || !S_ISREG(st.st_mode))
				return dk_error_set("cannot read '%s': no longer a regular file", e->path);
			c->remaining = e->size;
		}
		if (ctx_header(c, e) < 0)
			return -1;
		if (c->fd < 0 && archive_write_finish_entry(c->a) < ARCHIVE_WARN)
			return dk_error_set("cannot add '%s' to the context tar: %s", e->path, archive_error_string(c->a));
		return 0;
	}
	if (archive_write_close(c->a) != ARCHIVE_OK)
		return dk_error_set("cannot finish the context tar: %s", archive_error_string(c->a));
	c->finished = 1;
	return 0;
}

long dk_context_read(void *ud, char *buf, size_t cap)
{
	struct dk_context *c = ud;
	if (c->failed)
		return -1;
	while (c->out_pos == c->out.len && !c->finished) {
		dk_buf_clear(&c->out);
		c->out_pos = 0;
		if (ctx_step(c) < 0) {
			c->failed = 1;
			return -1;
		}
	}
	size_t avail = c->out.len - c->out_pos;
	size_t n = avail < cap ? avail : cap;
	if (n)
		memcpy(buf, c->out.ptr + c->out_pos, n);
	c->out_pos += n;
	return (long)n;
}
