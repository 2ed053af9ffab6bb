/* Forge webhooks, the parts that need no server: recognising the forge from
 * its headers, checking the signature over the raw body in constant time,
 * and reading a push out of the payload. Pure functions, fuzzed and
 * unit-tested (GitHub's published test vector). */
#ifndef WO_HTTP_WEBHOOK_H
#define WO_HTTP_WEBHOOK_H

#include <stddef.h>

enum wo_forge { WO_FORGE_UNKNOWN, WO_FORGE_GITHUB, WO_FORGE_GITEA, WO_FORGE_GITLAB, WO_FORGE_BITBUCKET };

/* The request headers that matter (NULL when absent). */
struct wo_webhook_headers {
	const char *github_event, *github_delivery, *hub_signature_256, *hub_signature;
	const char *gitea_event, *gitea_delivery, *gitea_signature, *forgejo_signature;
	const char *gitlab_event, *gitlab_token, *gitlab_uuid;
	const char *idempotency_key; /* GitLab: the same on every retry of a delivery (Idempotency-Key) */
	const char *event_key, *request_uuid; /* Bitbucket Cloud */
	const char *content_type;
};

const char *wo_forge_name(enum wo_forge f);
/* Which forge sent it (Gitea/Forgejo also send GitHub's headers, so they are
 * recognised first). */
enum wo_forge wo_http_webhook_forge(const struct wo_webhook_headers *h);
/* The event name and delivery id as that forge sends them (may be NULL). */
const char *wo_http_webhook_event(enum wo_forge f, const struct wo_webhook_headers *h);
const char *wo_http_webhook_delivery(enum wo_forge f, const struct wo_webhook_headers *h);

/* 0 when the body is signed with secret as forge f signs it; -1 with *why
 * (a static string) otherwise. Constant time in the secret and signature. */
int wo_http_webhook_verify(const char **why, enum wo_forge f, const struct wo_webhook_headers *h, const char *secret,
			   const void *body, size_t len);
/* Hex HMAC-SHA256 of body under key (65 bytes with the NUL). */
void wo_http_webhook_hmac_hex(char out[65], const char *key, const void *body, size_t len);

enum wo_push_kind { WO_PUSH_PING, WO_PUSH_BRANCH, WO_PUSH_TAG, WO_PUSH_DELETE, WO_PUSH_OTHER };

struct wo_push {
	enum wo_push_kind kind;
	char ref[256];      /* refs/heads/main */
	char branch[256];   /* main, for branch pushes and deletions */
	char after[65];     /* the pushed commit (40 hex digits, or 64 in a SHA-256 repository) */
	char what[128];     /* for OTHER: the event that is not a push; for TAG: push or deletion */
};

/* Reads the delivery: a ping or test delivery, a push (branch, tag or
 * deletion) or another event. The body is JSON, or for GitHub also
 * application/x-www-form-urlencoded with the JSON in `payload`. -1 with
 * *why when it cannot be read. */
int wo_http_webhook_parse(struct wo_push *out, const char **why, enum wo_forge f, const char *event,
			  const char *content_type, const char *body, size_t len);
/* The same for a deployment of branch want (NULL: any): of a delivery with
 * several changes (Bitbucket sends one per ref pushed together), the one of
 * that branch; else the newest branch change; else a tag's. */
int wo_http_webhook_parse_for(struct wo_push *out, const char **why, enum wo_forge f, const char *event,
			      const char *content_type, const char *body, size_t len, const char *want);

/* A member's value as it is written in a JSON text: a string's characters
 * without the quotes (p just past the opening one), or a literal (true,
 * false, null); p NULL when absent. */
struct wo_json_span {
	const char *p;
	size_t len;
	int quoted; /* a string */
};

/* Picks the members named keys out of the top-level object of a JSON text
 * without building a tree (the last one of a repeated key). 0 when done; 1
 * when it cannot tell (not an object, an escape in a wanted string or in a
 * key, a wanted string that is not ASCII, a wanted value that is a
 * number, object or array, a text it sees is malformed): parse with jansson
 * then. It checks the text's shape only as far as it walks it, so a
 * malformed text may still be read (deliveries come here signed). */
int wo_http_webhook_scan_top(const char *body, size_t len, const char *const *keys, size_t nkeys,
			     struct wo_json_span *out);

#endif
