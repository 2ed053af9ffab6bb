/* URLs as they may be shown: the one redaction every URL passes through
 * before it is printed, logged, stored in a message or put on a page. */
#ifndef WO_UTIL_URL_H
#define WO_UTIL_URL_H

#include <jansson.h>
#include <stddef.h>

#include "util/buf.h"

/* Appends url to out as it may be shown:
 * - a password in the user part becomes "***" (https://user:***@host/x);
 * - over http(s), a user part without a password that looks like a token
 *   (long, or a known token prefix such as ghp_ or glpat-) becomes "***";
 * - query parameters whose name says secret (token, key, password, secret,
 *   signature, sig, auth, credential, session, ...) keep their name and
 *   get "***" as value.
 * Anything that is not scheme://... (a path, user@host:path) is appended as
 * it is. NULL appends nothing. */
int wo_url_redact_buf(struct wo_buf *out, const char *url);
/* The same as a new string (never NULL unless out of memory; NULL in, ""
 * out). Caller frees. */
char *wo_url_redact(const char *url);
/* Redacts every scheme://... URL found inside free text (an error message
 * from libgit2 or libcurl, a log line); the rest is kept as it is. */
char *wo_url_redact_text(const char *text);
/* Redacts, in place, the string member key of each record: records is
 * one JSON object or an array of them (deployment records' repo_url). */
void wo_url_redact_json(json_t *records, const char *key);
/* The origin a credential is bound to, "scheme://host:port" with the scheme
 * and host in lowercase and the default port filled in: https (443), http
 * (80), ssh (22; also ssh+git, git+ssh and user@host:path) and git (9418).
 * -1 with an error for anything else (a local path, file://). */
int wo_url_origin(struct wo_buf *out, const char *url);

/* Whether a libpq conninfo ("password=...") or URI
 * (postgresql://user:pw@host/db, ?password=...) carries a password. */
int wo_conninfo_has_password(const char *conninfo);

#endif
