/* Fuzz target: webhook deliveries, untrusted bytes from the network. The
 * first byte picks the forge and content type, the next line the event and
 * signature header values; the rest is the body, which is verified and
 * parsed. A parse that succeeds must give consistent results. The body is
 * also read by wo_http_webhook_scan_top, which must agree with jansson on every
 * text jansson reads as an object (or say it cannot tell). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The scan's reading of one member against jansson's. */
static void same_member(const json_t *j, const char *key, const struct wo_json_span *s)
{
	const json_t *v = json_object_get(j, key);
	if (!v || !s->p) {
		if (v || s->p)
			abort();
		return;
	}
	if (s->quoted) {
		if (!json_is_string(v) || json_string_length(v) != s->len || memcmp(json_string_value(v), s->p, s->len))
			abort();
		return;
	}
	const char *lit = json_is_true(v) ? "true" : json_is_false(v) ? "false" : json_is_null(v) ? "null" : NULL;
	if (!lit || strlen(lit) != s->len || memcmp(lit, s->p, s->len))
		abort();
}

static void scan_agrees(const char *text, size_t len)
{
	static const char *const keys[] = { "ref", "after", "deleted", "object_kind" };
	struct wo_json_span v[4];
	int r = wo_http_webhook_scan_top(text, len, keys, 4, v);
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	if (r == 0 && json_is_object(j))
		for (int k = 0; k < 4; k++)
			same_member(j, keys[k], &v[k]);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	const char *nl = memchr(text, '\n', len);
	char head[256] = "";
	if (nl && (size_t)(nl - text) < sizeof(head)) {
		memcpy(head, text, (size_t)(nl - text));
		head[nl - text] = '\0';
		len -= (size_t)(nl - text) + 1;
		text = nl + 1;
	}
	/* head: "event signature" */
	char *sp = strchr(head, ' ');
	const char *sig = "";
	if (sp) {
		*sp = '\0';
		sig = sp + 1;
	}
	static const enum wo_forge forges[] = { WO_FORGE_GITHUB, WO_FORGE_GITEA, WO_FORGE_GITLAB, WO_FORGE_BITBUCKET,
						WO_FORGE_UNKNOWN };
	enum wo_forge f = forges[sel % 5];
	struct wo_webhook_headers h = {
		.github_event = head, .hub_signature_256 = sig, .hub_signature = sig, .gitea_signature = sig,
		.gitlab_token = sig, .gitlab_event = head, .event_key = head,
	};
	(void)wo_http_webhook_forge(&h);
	const char *why = NULL;
	(void)wo_http_webhook_verify(&why, f, &h, "fuzz-secret", text, len);
	const char *ct = (sel & 0x80) ? "application/x-www-form-urlencoded" : "application/json; charset=utf-8";
	scan_agrees(text, len);
	struct wo_push p;
	if (wo_http_webhook_parse(&p, &why, f, head, ct, text, len) == 0) {
		if (p.kind == WO_PUSH_BRANCH && strlen(p.after) != 40 && strlen(p.after) != 64)
			abort();
		if (strlen(p.ref) >= sizeof(p.ref) || strlen(p.branch) >= sizeof(p.branch))
			abort();
	} else if (!why) {
		abort();
	}
	return 0;
}
