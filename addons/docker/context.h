/* The build context: the source tree less what .dockerignore leaves out,
 * streamed as a tar (libarchive) without ever following a symlink. */
#ifndef DK_CONTEXT_H
#define DK_CONTEXT_H

#include <stddef.h>

struct dk_context;

/* Walks root (read now; the tar is produced later by dk_context_read).
 * dockerfile is the Dockerfile's path relative to root: it and .dockerignore
 * are always sent, as Docker does. A .dockerignore that cannot be parsed is
 * an error naming its line. Symlinks are sent as symlinks, sockets and
 * devices are skipped. */
int dk_context_open(struct dk_context **out, const char *root, const char *dockerfile);
/* The same, with more paths sent whatever .dockerignore says: files webops
 * generated for the build (a static site's nginx.conf). */
int dk_context_open_with(struct dk_context **out, const char *root, const char *dockerfile,
			 const char *const *always, size_t nalways);
void dk_context_free(struct dk_context *ctx);

/* Entries in the order they are sent (directories end in '/'). */
size_t dk_context_count(const struct dk_context *ctx);
const char *dk_context_path(const struct dk_context *ctx, size_t i);
/* Bytes of file data in the context. */
unsigned long long dk_context_bytes(const struct dk_context *ctx);

/* A dk_read_fn: fills buf with the next bytes of the tar stream; returns
 * the count, 0 at the end, -1 on error (dk_error says which file). */
long dk_context_read(void *ctx, char *buf, size_t cap);

#endif
