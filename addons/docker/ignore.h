/* .dockerignore with Docker's semantics: comments, `!` exceptions, `*`, `?`,
 * `[...]`, `**`, cleaned patterns, last match wins, parents match children. */
#ifndef DK_IGNORE_H
#define DK_IGNORE_H

#include <stddef.h>

struct dk_ignore;

/* An empty pattern list (nothing excluded). */
int dk_ignore_new(struct dk_ignore **out);
/* Parses .dockerignore text (need not be NUL-terminated): one pattern a line,
 * '#' in the first column starts a comment, surrounding blanks are trimmed,
 * a leading '!' makes an exception, a leading '/' or './' is dropped. A bad
 * pattern fails with "'.dockerignore' line N: ...". */
int dk_ignore_parse(struct dk_ignore **out, const char *text, size_t len);
/* Appends one pattern as a .dockerignore line would give it ("!Dockerfile"). */
int dk_ignore_add(struct dk_ignore *ig, const char *pattern);
void dk_ignore_free(struct dk_ignore *ig);
size_t dk_ignore_count(const struct dk_ignore *ig);

/* Whether path (relative to the context, '/'-separated, no "./") is left out:
 * the last pattern matching it or one of its parent directories decides. */
int dk_ignore_excluded(const struct dk_ignore *ig, const char *path);
/* For an excluded directory: whether an exception may match something below
 * it, so that the directory must still be walked (its own entry stays out). */
int dk_ignore_dir_has_exceptions(const struct dk_ignore *ig, const char *dir);

/* Appends s to dst with the pattern metacharacters *?[]\ escaped, so that
 * the pattern matches exactly that path. */
struct dk_buf;
int dk_ignore_escape(struct dk_buf *dst, const char *s);

#endif
