/* Webhook verification and payloads: GitHub's published test vector, each
 * forge's signature scheme, refusals (unsigned, wrong, malformed), and push
 * payloads shaped as each forge documents them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "http/webhook.h"

static const char sha_a[] = "a3f1c0ffee00000000000000000000000000beef";

static void test_github_vector(void **state)
{
	(void)state;
	/* docs.github.com, "Validating webhook deliveries" */
	char hex[65];
	wo_http_webhook_hmac_hex(hex, "It's a Secret to Everybody", "Hello, World!", 13);
	assert_string_equal(hex, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
	struct wo_webhook_headers h = {
		.github_event = "push",
		.hub_signature_256 = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
	};
	assert_int_equal(wo_http_webhook_forge(&h), WO_FORGE_GITHUB);
	const char *why = NULL;
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, "It's a Secret to Everybody", "Hello, World!", 13), 0);
	/* one byte of body, one digit of signature, or the secret off: refused */
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, "It's a Secret to Everybody", "Hello, World?", 13), -1);
	assert_non_null(strstr(why, "does not match"));
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, "It's a secret to everybody", "Hello, World!", 13), -1);
	h.hub_signature_256 = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18";
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, "It's a Secret to Everybody", "Hello, World!", 13), -1);
	/* no prefix, short, not hex, absent */
	h.hub_signature_256 = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, "It's a Secret to Everybody", "Hello, World!", 13), -1);
	h.hub_signature_256 = "sha256=7571";
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, "It's a Secret to Everybody", "Hello, World!", 13), -1);
	h.hub_signature_256 = "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, "It's a Secret to Everybody", "Hello, World!", 13), -1);
	h.hub_signature_256 = NULL;
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, "It's a Secret to Everybody", "Hello, World!", 13), -1);
	assert_non_null(strstr(why, "not signed"));
	/* a deployment without a secret accepts nothing */
	h.hub_signature_256 = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &h, NULL, "Hello, World!", 13), -1);
}

static void test_other_forges(void **state)
{
	(void)state;
	const char *secret = "s3cret", *body = "{\"ref\":\"refs/heads/main\"}";
	char hex[65], pref[72];
	wo_http_webhook_hmac_hex(hex, secret, body, strlen(body));
	snprintf(pref, sizeof(pref), "sha256=%s", hex);
	const char *why;

	/* Gitea also sends GitHub's headers: recognised as Gitea, bare hex signature */
	struct wo_webhook_headers gitea = { .gitea_event = "push", .github_event = "push", .gitea_signature = hex };
	assert_int_equal(wo_http_webhook_forge(&gitea), WO_FORGE_GITEA);
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITEA, &gitea, secret, body, strlen(body)), 0);
	gitea.gitea_signature = "00";
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITEA, &gitea, secret, body, strlen(body)), -1);
	struct wo_webhook_headers forgejo = { .forgejo_signature = hex, .github_event = "push" };
	assert_int_equal(wo_http_webhook_forge(&forgejo), WO_FORGE_GITEA);
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITEA, &forgejo, secret, body, strlen(body)), 0);

	struct wo_webhook_headers gitlab = { .gitlab_event = "Push Hook", .gitlab_token = "s3cret" };
	assert_int_equal(wo_http_webhook_forge(&gitlab), WO_FORGE_GITLAB);
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITLAB, &gitlab, secret, body, strlen(body)), 0);
	gitlab.gitlab_token = "s3cre";
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITLAB, &gitlab, secret, body, strlen(body)), -1);
	gitlab.gitlab_token = NULL;
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITLAB, &gitlab, secret, body, strlen(body)), -1);

	struct wo_webhook_headers bb = { .event_key = "repo:push", .hub_signature = pref };
	assert_int_equal(wo_http_webhook_forge(&bb), WO_FORGE_BITBUCKET);
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_BITBUCKET, &bb, secret, body, strlen(body)), 0);
	bb.hub_signature = hex; /* Bitbucket writes the sha256= prefix */
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_BITBUCKET, &bb, secret, body, strlen(body)), -1);

	struct wo_webhook_headers none = { .content_type = "application/json" };
	assert_int_equal(wo_http_webhook_forge(&none), WO_FORGE_UNKNOWN);
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_UNKNOWN, &none, secret, body, strlen(body)), -1);
}

static void parse_ok(struct wo_push *p, enum wo_forge f, const char *event, const char *ct, const char *body)
{
	const char *why = NULL;
	int r = wo_http_webhook_parse(p, &why, f, event, ct, body, strlen(body));
	if (r != 0)
		print_error("parse failed: %s\n", why);
	assert_int_equal(r, 0);
}

static void test_payloads(void **state)
{
	(void)state;
	struct wo_push p;
	char body[2048];
	/* GitHub push (trimmed from docs.github.com's example) */
	snprintf(body, sizeof(body),
		 "{\"ref\":\"refs/heads/main\",\"before\":\"0000000000000000000000000000000000000001\",\"after\":\"%s\","
		 "\"created\":false,\"deleted\":false,\"repository\":{\"full_name\":\"o/r\"},\"head_commit\":{\"id\":\"%s\"}}",
		 sha_a, sha_a);
	parse_ok(&p, WO_FORGE_GITHUB, "push", "application/json", body);
	assert_int_equal(p.kind, WO_PUSH_BRANCH);
	assert_string_equal(p.branch, "main");
	assert_string_equal(p.after, sha_a);
	/* the same, form-encoded (payload=...) */
	char form[4096] = "payload=";
	for (const char *c = body; *c; c++) {
		char enc[4];
		if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'))
			snprintf(enc, sizeof(enc), "%c", *c);
		else
			snprintf(enc, sizeof(enc), "%%%02X", (unsigned char)*c);
		strcat(form, enc);
	}
	parse_ok(&p, WO_FORGE_GITHUB, "push", "application/x-www-form-urlencoded", form);
	assert_int_equal(p.kind, WO_PUSH_BRANCH);
	assert_string_equal(p.after, sha_a);
	/* deletion, tag, ping, other events */
	parse_ok(&p, WO_FORGE_GITHUB, "push", "application/json",
		 "{\"ref\":\"refs/heads/main\",\"after\":\"0000000000000000000000000000000000000000\",\"deleted\":true}");
	assert_int_equal(p.kind, WO_PUSH_DELETE);
	snprintf(body, sizeof(body), "{\"ref\":\"refs/tags/v1\",\"after\":\"%s\"}", sha_a);
	parse_ok(&p, WO_FORGE_GITHUB, "push", "application/json", body);
	assert_int_equal(p.kind, WO_PUSH_TAG);
	parse_ok(&p, WO_FORGE_GITHUB, "ping", "application/json", "{\"zen\":\"Keep it logically awesome.\"}");
	assert_int_equal(p.kind, WO_PUSH_PING);
	parse_ok(&p, WO_FORGE_GITHUB, "issues", "application/json", "{}");
	assert_int_equal(p.kind, WO_PUSH_OTHER);
	assert_non_null(strstr(p.what, "issues"));
	/* GitLab */
	snprintf(body, sizeof(body),
		 "{\"object_kind\":\"push\",\"ref\":\"refs/heads/dev\",\"before\":\"0000000000000000000000000000000000000001\","
		 "\"after\":\"%s\",\"checkout_sha\":\"%s\"}", sha_a, sha_a);
	parse_ok(&p, WO_FORGE_GITLAB, "Push Hook", "application/json", body);
	assert_int_equal(p.kind, WO_PUSH_BRANCH);
	assert_string_equal(p.branch, "dev");
	/* Gitea */
	snprintf(body, sizeof(body), "{\"ref\":\"refs/heads/main\",\"after\":\"%s\",\"commits\":[]}", sha_a);
	parse_ok(&p, WO_FORGE_GITEA, "push", "application/json", body);
	assert_int_equal(p.kind, WO_PUSH_BRANCH);
	/* Bitbucket Cloud */
	snprintf(body, sizeof(body),
		 "{\"push\":{\"changes\":[{\"old\":{\"type\":\"branch\",\"name\":\"main\",\"target\":{\"hash\":"
		 "\"0000000000000000000000000000000000000001\"}},\"new\":{\"type\":\"branch\",\"name\":\"main\","
		 "\"target\":{\"hash\":\"%s\"}},\"closed\":false}]}}", sha_a);
	parse_ok(&p, WO_FORGE_BITBUCKET, "repo:push", "application/json", body);
	assert_int_equal(p.kind, WO_PUSH_BRANCH);
	assert_string_equal(p.after, sha_a);
	parse_ok(&p, WO_FORGE_BITBUCKET, "repo:push", "application/json",
		 "{\"push\":{\"changes\":[{\"old\":{\"type\":\"branch\",\"name\":\"old\"},\"new\":null,\"closed\":true}]}}");
	assert_int_equal(p.kind, WO_PUSH_DELETE);
	/* malformed: refused with a reason */
	const char *why = NULL;
	assert_int_equal(wo_http_webhook_parse(&p, &why, WO_FORGE_GITHUB, "push", "application/json", "[1,2]", 5), -1);
	assert_non_null(why);
	assert_int_equal(wo_http_webhook_parse(&p, &why, WO_FORGE_GITHUB, "push", "application/json",
					  "{\"ref\":\"refs/heads/main\",\"after\":\"not-a-sha\"}", 44), -1);
	assert_int_equal(wo_http_webhook_parse(&p, &why, WO_FORGE_GITHUB, "push", "application/x-www-form-urlencoded",
					  "nothing=1", 9), -1);
}

/* What the forges send that webops read wrongly before (issue 22): several
 * Bitbucket changes, an empty one, SHA-256 ids, GitLab's retry key, Gitea's
 * form deliveries and test delivery, SHA-1-only GitHub, tag deletions. */
/* The fast scan of a push's top-level members: what it reads, and what it
 * leaves to jansson. */
static void test_scan_top(void **state)
{
	(void)state;
	static const char *const keys[] = { "ref", "after", "deleted" };
	struct wo_json_span v[3];
	const char *body = "{\"commits\": [{\"message\": \"a } ] \\\" { ref\", \"ref\": \"refs/heads/x\"}],"
			   " \"repository\": {\"ref\": \"nested\"}, \"ref\" : \"refs/heads/main\", \"size\": 12,"
			   " \"after\":\"abc\",\"deleted\": false }";
	assert_int_equal(wo_http_webhook_scan_top(body, strlen(body), keys, 3, v), 0);
	assert_true(v[0].quoted && v[0].len == 15 && !memcmp(v[0].p, "refs/heads/main", 15));
	assert_true(v[1].quoted && v[1].len == 3 && !memcmp(v[1].p, "abc", 3));
	assert_true(!v[2].quoted && v[2].len == 5 && !memcmp(v[2].p, "false", 5));
	/* the last of a repeated key, as jansson reads it */
	const char *dup = "{\"ref\": \"refs/heads/a\", \"ref\": \"refs/heads/b\"}";
	assert_int_equal(wo_http_webhook_scan_top(dup, strlen(dup), keys, 3, v), 0);
	assert_true(v[0].len == 12 && !memcmp(v[0].p, "refs/heads/b", 12) && !v[1].p && !v[2].p);
	assert_int_equal(wo_http_webhook_scan_top("{}", 2, keys, 3, v), 0);
	assert_null(v[0].p);
	/* left to jansson */
	const char *cannot[] = {
		"[1]", "", "{\"ref\": \"refs/heads/caf\\u00e9\"}", "{\"r\\u0065f\": \"refs/heads/x\"}",
		"{\"ref\": \"refs/heads/caf\xc3\xa9\"}", "{\"ref\": 5}", "{\"ref\": [\"refs/heads/x\"]}",
		"{\"deleted\": tru}", "{\"ref\": \"refs/heads/x\"", "{\"ref\": \"x\"} trailing", "{\"ref\" \"x\"}",
		"{\"a\": {\"b\": 1}", "{\"ref\": \"a\nb\"}",
	};
	for (size_t i = 0; i < sizeof(cannot) / sizeof(cannot[0]); i++)
		assert_int_equal(wo_http_webhook_scan_top(cannot[i], strlen(cannot[i]), keys, 3, v), 1);
}

static void test_forges_as_they_send(void **state)
{
	(void)state;
	struct wo_push p;
	const char *why = NULL;
	char body[4096];
	/* Bitbucket: main updated, a branch created and a tag pushed together */
	snprintf(body, sizeof(body),
		 "{\"push\":{\"changes\":["
		 "{\"old\":{\"type\":\"branch\",\"name\":\"main\",\"target\":{\"hash\":\"%s\"}},"
		 "\"new\":{\"type\":\"branch\",\"name\":\"main\",\"target\":{\"hash\":\"%s\"}},\"closed\":false},"
		 "{\"old\":null,\"new\":{\"type\":\"branch\",\"name\":\"feature\",\"target\":{\"hash\":\"%s\"}},"
		 "\"closed\":false},"
		 "{\"old\":null,\"new\":{\"type\":\"tag\",\"name\":\"v0.1\",\"target\":{\"hash\":\"%s\"}},"
		 "\"closed\":false}]}}",
		 "0000000000000000000000000000000000000001", sha_a, "b3f1c0ffee00000000000000000000000000beef", sha_a);
	assert_int_equal(wo_http_webhook_parse_for(&p, &why, WO_FORGE_BITBUCKET, "repo:push", "application/json", body,
					      strlen(body), "main"), 0);
	assert_int_equal(p.kind, WO_PUSH_BRANCH);
	assert_string_equal(p.branch, "main");
	assert_string_equal(p.after, sha_a);
	/* for a deployment of another branch: the newest branch change, never the tag */
	assert_int_equal(wo_http_webhook_parse_for(&p, &why, WO_FORGE_BITBUCKET, "repo:push", "application/json", body,
					      strlen(body), "other"), 0);
	assert_int_equal(p.kind, WO_PUSH_BRANCH);
	assert_string_equal(p.branch, "feature");
	/* no changes: nothing to deploy, not an error */
	parse_ok(&p, WO_FORGE_BITBUCKET, "repo:push", "application/json", "{\"push\":{\"changes\":[]}}");
	assert_int_equal(p.kind, WO_PUSH_OTHER);
	/* a repository with SHA-256 object ids */
	const char *sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	snprintf(body, sizeof(body), "{\"ref\":\"refs/heads/main\",\"after\":\"%s\"}", sha256);
	parse_ok(&p, WO_FORGE_GITHUB, "push", "application/json", body);
	assert_int_equal(p.kind, WO_PUSH_BRANCH);
	assert_string_equal(p.after, sha256);
	/* a tag deletion says so */
	parse_ok(&p, WO_FORGE_GITHUB, "push", "application/json",
		 "{\"ref\":\"refs/tags/v1\",\"after\":\"0000000000000000000000000000000000000000\",\"deleted\":true}");
	assert_int_equal(p.kind, WO_PUSH_TAG);
	assert_string_equal(p.what, "a tag deletion");
	/* Gitea's Test Delivery: an all-zero commit on the branch, not deleted */
	parse_ok(&p, WO_FORGE_GITEA, "push", "application/json",
		 "{\"ref\":\"refs/heads/main\",\"after\":\"0000000000000000000000000000000000000000\"}");
	assert_int_equal(p.kind, WO_PUSH_PING);
	/* GitLab: the retry key names the delivery when sent */
	struct wo_webhook_headers gl = { .gitlab_event = "Push Hook", .gitlab_uuid = "u-2", .idempotency_key = "k-1" };
	assert_string_equal(wo_http_webhook_delivery(WO_FORGE_GITLAB, &gl), "k-1");
	gl.idempotency_key = NULL;
	assert_string_equal(wo_http_webhook_delivery(WO_FORGE_GITLAB, &gl), "u-2");
	/* Gitea "POST Content Type: form": payload=JSON, the JSON signed */
	const char *secret = "s3cret", *json = "{\"ref\":\"refs/heads/main\"}";
	char hex[65];
	wo_http_webhook_hmac_hex(hex, secret, json, strlen(json));
	const char *form = "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D";
	struct wo_webhook_headers gt = { .gitea_event = "push", .gitea_signature = hex,
					 .content_type = "application/x-www-form-urlencoded" };
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITEA, &gt, secret, form, strlen(form)), 0);
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITEA, &gt, "other", form, strlen(form)), -1);
	/* GitHub signed with SHA-1 only: said so */
	struct wo_webhook_headers gh = { .github_event = "push", .hub_signature = "sha1=00" };
	assert_int_equal(wo_http_webhook_verify(&why, WO_FORGE_GITHUB, &gh, secret, json, strlen(json)), -1);
	assert_non_null(strstr(why, "SHA-256"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forges_as_they_send),
		cmocka_unit_test(test_github_vector),
		cmocka_unit_test(test_other_forges),
		cmocka_unit_test(test_payloads),
		cmocka_unit_test(test_scan_top),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
