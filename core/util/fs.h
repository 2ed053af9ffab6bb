/* Small filesystem helpers: whole-file reads with a cap, mkdir -p, joins. */
#ifndef WO_UTIL_FS_H
#define WO_UTIL_FS_H

#include <stddef.h>

/* Reads a whole file (at most max bytes, else an error); NUL-terminated. */
int wo_fs_read_file(char **out, size_t *len_out, const char *path, size_t max);
/* Reads an open fd to its end (at most max bytes); name is for messages. The
 * caller keeps and closes fd. */
int wo_fs_read_fd(char **out, size_t *len_out, int fd, const char *name, size_t max);
/* Writes a file atomically (temp file in the same directory, fsync, rename). */
int wo_fs_write_file_atomic(const char *path, const void *data, size_t len, int mode);
int wo_fs_mkdir_p(const char *path, int mode);
/* Removes a directory tree (does not follow symlinks). Missing is not an error. */
int wo_fs_rm_rf(const char *path);

#endif
