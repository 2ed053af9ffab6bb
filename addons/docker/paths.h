/* Paths from users and repositories kept inside their root: lexical checks,
 * and opening, reading and writing beneath a directory without escaping it
 * through a symlink (openat2 RESOLVE_BENEATH). */
#ifndef DK_PATHS_H
#define DK_PATHS_H

#include <stddef.h>

struct dk_buf;

/* A relative path inside a repository: not empty, not absolute, no "." or
 * ".." component, no empty component, no control characters. On failure
 * appends the reason to err (may be NULL) and returns -1. */
int dk_path_check_relative(const char *rel, struct dk_buf *err);

/* Opens rel beneath the directory root with flags (O_RDONLY, O_PATH, ...);
 * symlinks that stay inside root are followed, one that leaves it fails
 * with errno EXDEV. Returns the fd or -1 with errno set. */
int dk_path_open_beneath(const char *root, const char *rel, int flags);

/* Reads root/rel (at most max bytes) into *out (NUL-terminated, caller
 * frees). DK_PATH_ENOENT when it does not exist; -1 with a dk_error message
 * for anything else (escaping root, not a regular file, too big). */
#define DK_PATH_ENOENT (-2)
int dk_path_read_beneath(char **out, size_t *len_out, const char *root, const char *rel, size_t max);

/* Whether root/rel exists as a regular file beneath root: 1 yes, 0 no,
 * -1 with a dk_error message when it leaves root or is not a regular file. */
int dk_path_file_beneath(const char *root, const char *rel);

/* Writes data to root/rel, creating parent directories beneath root, never
 * through a symlink (an existing symlink at rel is an error). */
int dk_path_write_beneath(const char *root, const char *rel, const char *data, size_t len, int mode);

/* Whether the absolute path is within one of the roots (each absolute),
 * after resolving symlinks of its existing part. Returns 1 inside, 0 not
 * (the reason appended to err), -1 on a malformed path. */
int dk_path_under_roots(const char *path, const char *const *roots, size_t nroots, struct dk_buf *err);

#endif
