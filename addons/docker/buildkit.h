/* BuildKit's progress as the Engine streams it from POST /build?version=2:
 * each {"id": "moby.buildkit.trace", "aux": "<base64>"} carries a protobuf
 * StatusResponse (moby/buildkit, api/services/control/control.proto). The
 * fields a run log needs are read off the protobuf wire format here (the
 * vertices' names, cache hits, start and end, errors, and their output) and
 * turned into lines like `docker buildx build --progress=plain` prints;
 * everything else in the message is skipped. */
#ifndef DK_BUILDKIT_H
#define DK_BUILDKIT_H

#include <stddef.h>

#define DK_BK_MAX_VERTICES 512

struct dk_bk_vertex {
	char digest[80];
	int num;        /* #N in the log, in the order vertices started */
	int started;    /* its "#N NAME" line was written */
	int done;       /* its DONE, CACHED or ERROR line was written */
	double start_s; /* when it started (epoch seconds), for the DONE line's duration */
};

/* What has been said about each vertex so far: lines are written once. */
struct dk_bk {
	struct dk_bk_vertex v[DK_BK_MAX_VERTICES];
	int n;
	int next;
};

typedef void (*dk_bk_emit_fn)(void *ud, int is_error, const char *line);

/* Decodes one trace message (aux, base64) and emits its new lines. 0, or
 * -1 (dk_error) when aux is not base64 of a well-formed message; nothing
 * is emitted for a malformed one. */
int dk_bk_trace(struct dk_bk *bk, const char *aux, dk_bk_emit_fn emit, void *ud);

/* Whether a Dockerfile needs BuildKit, and why: the first line that uses
 * what the classic builder refuses (a "# syntax=" directive, RUN --mount,
 * --chmod/--link on COPY/ADD, RUN --network/--security, a heredoc). 0 when
 * none; else its line, with what it uses in why ("RUN --mount"). */
int dk_bk_needed(const char *dockerfile, char *why, size_t cap);

/* The frontend image a "# syntax=IMAGE" directive names (at the top of the
 * Dockerfile, among the parser directives), into image; its line, or 0
 * when there is none. */
int dk_bk_syntax(const char *dockerfile, char *image, size_t cap);

/* dockerfile with its "# syntax=" directive turned into a plain comment
 * (the line count unchanged), so that the engine's built-in frontend is
 * used; malloc'd, NULL when out of memory. */
char *dk_bk_drop_syntax(const char *dockerfile);

#endif
