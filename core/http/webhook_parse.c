/* Forge detection, signatures and payloads of webhook deliveries. The
 * signature is checked over the raw bytes before any parsing. */
#include "http/webhook.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/form.h"
#include "util/json_arena.h"
#include "util/banned.h"

/* All zeros (the null id of either length): a ref created from or deleted to nothing. */
static int is_null_id(const char *s)
{
	return s && (strlen(s) == 40 || strlen(s) == 64) && strspn(s, "0") == strlen(s);
}

const char *wo_forge_name(enum wo_forge f)
{
	switch (f) {
	case WO_FORGE_GITHUB: return "github";
	case WO_FORGE_GITEA: return "gitea";
	case WO_FORGE_GITLAB: return "gitlab";
	case WO_FORGE_BITBUCKET: return "bitbucket";
	default: return "unknown";
	}
}

enum wo_forge wo_http_webhook_forge(const struct wo_webhook_headers *h)
{
	if (h->gitea_event || h->gitea_signature || h->forgejo_signature)
		return WO_FORGE_GITEA;
	if (h->gitlab_event || h->gitlab_token)
		return WO_FORGE_GITLAB;
	if (h->event_key)
		return WO_FORGE_BITBUCKET;
	if (h->github_event)
		return WO_FORGE_GITHUB;
	return WO_FORGE_UNKNOWN;
}

const char *wo_http_webhook_event(enum wo_forge f, const struct wo_webhook_headers *h)
{
	switch (f) {
	case WO_FORGE_GITHUB: return h->github_event;
	case WO_FORGE_GITEA: return h->gitea_event ? h->gitea_event : h->github_event;
	case WO_FORGE_GITLAB: return h->gitlab_event;
	case WO_FORGE_BITBUCKET: return h->event_key;
	default: return NULL;
	}
}

const char *wo_http_webhook_delivery(enum wo_forge f, const struct wo_webhook_headers *h)
{
	switch (f) {
	case WO_FORGE_GITHUB: return h->github_delivery;
	case WO_FORGE_GITEA: return h->gitea_delivery ? h->gitea_delivery : h->github_delivery;
	/* GitLab keeps Idempotency-Key across retries; the event UUID is new each time */
	case WO_FORGE_GITLAB: return h->idempotency_key && *h->idempotency_key ? h->idempotency_key : h->gitlab_uuid;
	case WO_FORGE_BITBUCKET: return h->request_uuid;
	default: return NULL;
	}
}

static void hmac(unsigned char out[32], const char *key, const void *body, size_t len)
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, out);
}

void wo_http_webhook_hmac_hex(char out[65], const char *key, const void *body, size_t len)
{
	unsigned char mac[32];
	hmac(mac, key, body, len);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
}

/* "sha256=<hex>" (prefix optional when !need_prefix) against the HMAC. */
static int check_hex(const char **why, const char *given, int need_prefix, const char *secret, const void *body,
		     size_t len)
{
	if (!given || !*given) {
		*why = "the delivery is not signed";
		return -1;
	}
	const char *hex = given;
	if (!strncasecmp(hex, "sha256=", 7))
		hex += 7;
	else if (need_prefix) {
		*why = "the signature is not of the form sha256=<hex>";
		return -1;
	}
	unsigned char got[32], want[32];
	size_t n = 0;
	if (strlen(hex) != 64 || sodium_hex2bin(got, sizeof(got), hex, 64, NULL, &n, NULL) != 0 || n != 32) {
		*why = "the signature is not 64 hex digits";
		return -1;
	}
	hmac(want, secret, body, len);
	if (sodium_memcmp(got, want, 32) != 0) {
		*why = "the signature does not match the deployment's webhook secret";
		return -1;
	}
	return 0;
}

/* The payload field of a form-encoded delivery (to be freed); NULL when the
 * body is not one. */
static char *form_payload(const char *content_type, const char *body, size_t len)
{
	size_t mt = content_type ? strcspn(content_type, ";") : 0;
	if (!content_type || mt != 33 || strncasecmp(content_type, "application/x-www-form-urlencoded", 33))
		return NULL;
	struct wo_form form;
	wo_form_init(&form);
	const char *p = NULL;
	char *out = NULL;
	if (wo_form_parse_urlencoded(&form, body, len) == 0 && (p = wo_form_get(&form, "payload")))
		out = strdup(p);
	wo_form_release(&form);
	return out;
}

int wo_http_webhook_verify(const char **why, enum wo_forge f, const struct wo_webhook_headers *h, const char *secret,
			   const void *body, size_t len)
{
	static const char *dummy;
	if (!why)
		why = &dummy;
	if (!secret || !*secret) {
		*why = "the deployment has no webhook secret yet (webops deployment webhook NAME makes one)";
		return -1;
	}
	switch (f) {
	case WO_FORGE_GITHUB:
		if (!h->hub_signature_256 && h->hub_signature) {
			*why = "the delivery is signed with SHA-1 only (X-Hub-Signature); webops checks the SHA-256 "
			       "signature (X-Hub-Signature-256), which GitHub sends when the webhook has a secret";
			return -1;
		}
		return check_hex(why, h->hub_signature_256, 1, secret, body, len);
	case WO_FORGE_GITEA: {
		/* Gitea: X-Gitea-Signature; Forgejo: X-Forgejo-Signature; both bare hex */
		const char *sig = h->gitea_signature ? h->gitea_signature : h->forgejo_signature;
		int prefixed = !sig;
		if (!sig)
			sig = h->hub_signature_256;
		int rc = check_hex(why, sig, prefixed, secret, body, len);
		/* "POST Content Type: form" sends payload=JSON and signs the JSON */
		char *payload = rc < 0 ? form_payload(h->content_type, body, len) : NULL;
		if (payload) {
			const char *why2 = NULL;
			if (check_hex(&why2, sig, prefixed, secret, payload, strlen(payload)) == 0)
				rc = 0;
			free(payload);
		}
		return rc;
	}
	case WO_FORGE_BITBUCKET:
		return check_hex(why, h->hub_signature, 1, secret, body, len);
	case WO_FORGE_GITLAB: {
		if (!h->gitlab_token || !*h->gitlab_token) {
			*why = "the delivery carries no X-Gitlab-Token";
			return -1;
		}
		/* equal-length digests, so the comparison takes the same time whatever the token */
		unsigned char a[32], b[32];
		crypto_hash_sha256(a, (const unsigned char *)h->gitlab_token, strlen(h->gitlab_token));
		crypto_hash_sha256(b, (const unsigned char *)secret, strlen(secret));
		if (sodium_memcmp(a, b, 32) != 0) {
			*why = "the X-Gitlab-Token does not match the deployment's webhook secret";
			return -1;
		}
		return 0;
	}
	default:
		*why = "not a delivery from a known forge (GitHub, GitLab, Gitea/Forgejo, Bitbucket)";
		return -1;
	}
}

static const char *jstr(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A full commit id: 40 hex digits, or 64 in a SHA-256 repository. */
static int is_sha(const char *s)
{
	if (!s || (strlen(s) != 40 && strlen(s) != 64))
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

/* ---- the fast path: a push's three top-level members without a tree ----
 * Building the whole tree of a push (a few hundred values: commits, the
 * repository, the pusher) is most of what a delivery costs, and only ref,
 * after and deleted are read. wo_http_webhook_scan_top walks the body once,
 * skipping nested values by their brackets and strings, and picks those
 * members of the top-level object. Whatever it is not sure of (an escape in
 * a wanted string, a value of another type, anything malformed) it leaves
 * to jansson; the fuzzer checks that it never disagrees with jansson. */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past the string that starts at p (a '"'); NULL when it does not end.
 * *escaped is set when it holds a backslash. */
static const char *skip_string(const char *p, const char *end, int *escaped)
{
	*escaped = 0;
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			*escaped = 1;
			p++;
		} else if ((unsigned char)*p < 0x20) {
			return NULL;
		}
	}
	return NULL;
}

/* Past the value that starts at p: a string, an object or array (whose
 * strings may hold brackets), or a literal. NULL when malformed. */
static const char *skip_value(const char *p, const char *end)
{
	int esc;
	if (p >= end)
		return NULL;
	if (*p == '"')
		return skip_string(p, end, &esc);
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (p < end) {
			if (*p == '"') {
				p = skip_string(p, end, &esc);
				if (!p)
					return NULL;
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']')
				depth--;
			p++;
			if (depth == 0)
				return p;
		}
		return NULL;
	}
	const char *q = p;
	while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' && *q != '\n' && *q != '\r' && *q != '\t')
		q++;
	return q > p ? q : NULL;
}

static int span_is(const struct wo_json_span *s, const char *lit)
{
	return s->p && s->len == strlen(lit) && !memcmp(s->p, lit, s->len);
}

int wo_http_webhook_scan_top(const char *body, size_t len, const char *const *keys, size_t nkeys,
			     struct wo_json_span *out)
{
	const char *p = body, *end = body + len;
	for (size_t k = 0; k < nkeys; k++)
		out[k] = (struct wo_json_span){ NULL, 0, 0 };
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return 1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return skip_ws(p + 1, end) == end ? 0 : 1;
	for (;;) {
		int kesc, vesc = 0;
		if (p >= end || *p != '"')
			return 1;
		const char *kstart = p + 1, *kend = skip_string(p, end, &kesc);
		if (!kend || kesc)
			return 1; /* an escaped key may spell a wanted one */
		size_t klen = (size_t)(kend - 1 - kstart);
		p = skip_ws(kend, end);
		if (p >= end || *p != ':')
			return 1;
		p = skip_ws(p + 1, end);
		const char *vstart = p, *vend = skip_value(p, end);
		if (!vend)
			return 1;
		for (size_t k = 0; k < nkeys; k++) {
			if (strlen(keys[k]) != klen || memcmp(keys[k], kstart, klen))
				continue;
			/* a string without escapes, or a literal; the last of a
			 * repeated key wins, as in jansson */
			if (*vstart == '"') {
				skip_string(vstart, vend, &vesc);
				if (vesc)
					return 1;
				/* jansson checks UTF-8; the scan takes ASCII only */
				for (const char *c = vstart + 1; c < vend - 1; c++)
					if ((unsigned char)*c >= 0x80)
						return 1;
				out[k] = (struct wo_json_span){ vstart + 1, (size_t)(vend - vstart - 2), 1 };
			} else {
				struct wo_json_span lit = { vstart, (size_t)(vend - vstart), 0 };
				if (!span_is(&lit, "true") && !span_is(&lit, "false") && !span_is(&lit, "null"))
					return 1;
				out[k] = lit;
			}
		}
		p = skip_ws(vend, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			return skip_ws(p + 1, end) == end ? 0 : 1;
		return 1;
	}
}

/* ref + after as GitHub, Gitea and GitLab send them (NULL when absent;
 * deleted: 1 when the payload says "deleted": true). */
static int read_ref_push_values(struct wo_push *out, const char **why, const char *ref, const char *after,
				int deleted_flag, int gitea)
{
	if (!ref || !after) {
		*why = "the push payload has no 'ref' and 'after'";
		return -1;
	}
	if (strlen(ref) >= sizeof(out->ref) || (!is_null_id(after) && !is_sha(after))) {
		*why = "the push payload's 'ref' or 'after' is malformed (a full ref, and a commit id of 40 or 64 hex "
		       "digits)";
		return -1;
	}
	snprintf(out->ref, sizeof(out->ref), "%s", ref);
	int deleted = deleted_flag || is_null_id(after);
	if (!strncmp(ref, "refs/heads/", 11)) {
		snprintf(out->branch, sizeof(out->branch), "%s", ref + 11);
		out->kind = deleted ? WO_PUSH_DELETE : WO_PUSH_BRANCH;
		/* Gitea's "Test Delivery": a made-up all-zero commit on the branch
		 * (a real deletion is Gitea's delete event, not a push) */
		if (gitea && is_null_id(after) && !deleted_flag)
			out->kind = WO_PUSH_PING;
	} else if (!strncmp(ref, "refs/tags/", 10)) {
		out->kind = WO_PUSH_TAG;
		snprintf(out->what, sizeof(out->what), "%s", deleted ? "a tag deletion" : "a tag push");
	} else {
		out->kind = WO_PUSH_OTHER;
		snprintf(out->what, sizeof(out->what), "a push of '%.100s'", ref);
	}
	snprintf(out->after, sizeof(out->after), "%s", after);
	return 0;
}

static int read_ref_push(struct wo_push *out, const char **why, const json_t *j, int gitea)
{
	return read_ref_push_values(out, why, jstr(j, "ref"), jstr(j, "after"),
				    json_is_true(json_object_get(j, "deleted")), gitea);
}

/* The fast path: 1 when the scan cannot tell (jansson then reads it). */
static int scan_ref_push(struct wo_push *out, const char **why, const char *js, size_t jl, int gitea)
{
	static const char *const keys[] = { "ref", "after", "deleted" };
	struct wo_json_span v[3];
	if (wo_http_webhook_scan_top(js, jl, keys, 3, v) != 0)
		return 1;
	/* a ref or after that is not a string: jansson decides */
	if ((v[0].p && !v[0].quoted) || (v[1].p && !v[1].quoted))
		return 1;
	char ref[sizeof(out->ref) + 1], after[sizeof(out->after) + 1];
	if ((v[0].p && v[0].len >= sizeof(ref)) || (v[1].p && v[1].len >= sizeof(after)))
		return 1;
	if (v[0].p)
		snprintf(ref, sizeof(ref), "%.*s", (int)v[0].len, v[0].p);
	if (v[1].p)
		snprintf(after, sizeof(after), "%.*s", (int)v[1].len, v[1].p);
	return read_ref_push_values(out, why, v[0].p ? ref : NULL, v[1].p ? after : NULL, !v[2].quoted && span_is(&v[2], "true"),
				    gitea);
}

/* One change of a Bitbucket push: its branch or tag name, and whether it is a tag. */
static const char *bb_name(const json_t *c, int *tag)
{
	const json_t *nw = json_object_get(c, "new"), *old = json_object_get(c, "old");
	const json_t *side = json_is_object(nw) ? nw : old;
	const char *type = jstr(side, "type");
	*tag = type && !strcmp(type, "tag");
	return type ? jstr(side, "name") : NULL;
}

static int read_bitbucket(struct wo_push *out, const char **why, const json_t *j, const char *want)
{
	const json_t *changes = json_object_get(json_object_get(j, "push"), "changes");
	if (!json_is_array(changes)) {
		*why = "the push payload has no push.changes";
		return -1;
	}
	if (json_array_size(changes) == 0) {
		/* Bitbucket sends these (a push it could not describe): nothing to do, and not a failure */
		out->kind = WO_PUSH_OTHER;
		snprintf(out->what, sizeof(out->what), "a push with no changes listed");
		return 0;
	}
	/* one change per ref pushed together (git push --follow-tags: a
	 * branch and its tag): the deployment's branch, else the newest
	 * branch change, else the newest one */
	const json_t *c = NULL, *branch_c = NULL;
	size_t i;
	json_t *x;
	json_array_foreach(changes, i, x) {
		int tag;
		const char *n = bb_name(x, &tag);
		if (!n || tag)
			continue;
		branch_c = x;
		if (want && !strcmp(n, want))
			c = x;
	}
	if (!c)
		c = branch_c ? branch_c : json_array_get(changes, json_array_size(changes) - 1);
	const json_t *nw = json_object_get(c, "new");
	int tag;
	const char *name = bb_name(c, &tag);
	if (!name || strlen(name) >= sizeof(out->branch)) {
		*why = "the push payload's change has no type and name";
		return -1;
	}
	if (tag) {
		out->kind = WO_PUSH_TAG;
		snprintf(out->ref, sizeof(out->ref), "refs/tags/%s", name);
		snprintf(out->what, sizeof(out->what), "%s", json_is_object(nw) ? "a tag push" : "a tag deletion");
		return 0;
	}
	snprintf(out->branch, sizeof(out->branch), "%s", name);
	snprintf(out->ref, sizeof(out->ref), "refs/heads/%s", name);
	if (!json_is_object(nw) || json_is_true(json_object_get(c, "closed"))) {
		out->kind = WO_PUSH_DELETE;
		return 0;
	}
	const char *hash = jstr(json_object_get(nw, "target"), "hash");
	if (!is_sha(hash)) {
		*why = "the push payload's new.target.hash is not a full commit id";
		return -1;
	}
	out->kind = WO_PUSH_BRANCH;
	snprintf(out->after, sizeof(out->after), "%s", hash);
	return 0;
}

int wo_http_webhook_parse(struct wo_push *out, const char **why, enum wo_forge f, const char *event,
			  const char *content_type, const char *body, size_t len)
{
	return wo_http_webhook_parse_for(out, why, f, event, content_type, body, len, NULL);
}

int wo_http_webhook_parse_for(struct wo_push *out, const char **why, enum wo_forge f, const char *event,
			      const char *content_type, const char *body, size_t len, const char *want)
{
	static const char *dummy;
	if (!why)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	const char *ev = event ? event : "";
	/* pings and test deliveries */
	if ((f == WO_FORGE_GITHUB || f == WO_FORGE_GITEA) && !strcmp(ev, "ping")) {
		out->kind = WO_PUSH_PING;
		return 0;
	}
	if (f == WO_FORGE_BITBUCKET && !strcmp(ev, "diagnostics:ping")) {
		out->kind = WO_PUSH_PING;
		return 0;
	}
	int push = (f == WO_FORGE_GITHUB || f == WO_FORGE_GITEA) ? !strcmp(ev, "push")
		   : f == WO_FORGE_GITLAB ? (!strcmp(ev, "Push Hook") || !strcmp(ev, "Tag Push Hook"))
		   : f == WO_FORGE_BITBUCKET ? !strcmp(ev, "repo:push")
					     : 0;
	if (!push) {
		out->kind = WO_PUSH_OTHER;
		snprintf(out->what, sizeof(out->what), "event '%.100s' is not a push", ev);
		return 0;
	}
	/* the JSON itself, or the form-encoded payload= (GitHub, Gitea) */
	char *owned = NULL;
	const char *js = body;
	size_t jl = len;
	size_t mt = content_type ? strcspn(content_type, ";") : 0;
	if (content_type && mt == 33 && !strncasecmp(content_type, "application/x-www-form-urlencoded", 33)) {
		owned = form_payload(content_type, body, len);
		if (!owned) {
			*why = "the form-encoded delivery has no 'payload' field";
			return -1;
		}
		js = owned;
		jl = strlen(owned);
	}
	if (f != WO_FORGE_BITBUCKET) {
		int r = scan_ref_push(out, why, js, jl, f == WO_FORGE_GITEA);
		if (r <= 0) {
			free(owned);
			return r;
		}
	}
	/* what is read is copied into out: no value outlives the arena */
	json_error_t je;
	wo_json_arena_begin();
	json_t *j = json_loadb(js, jl, 0, &je);
	free(owned);
	int rc;
	if (!json_is_object(j)) {
		*why = "the delivery's body is not a JSON object";
		rc = -1;
	} else {
		rc = f == WO_FORGE_BITBUCKET ? read_bitbucket(out, why, j, want)
					     : read_ref_push(out, why, j, f == WO_FORGE_GITEA);
	}
	json_decref(j);
	wo_json_arena_end();
	return rc;
}
