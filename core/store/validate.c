/* Deployment field validators. Messages: "<field> '<value>' is invalid: <rule>". */
#include "store/validate.h"

#include <ctype.h>
#include <git2.h>
#include <regex.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/url.h"
#include "util/banned.h"

/* Values are echoed in messages; keep them short and printable. */
static void add_err(struct wo_buf *err, const char *field, const char *value, const char *rule)
{
	if (!err)
		return;
	if (err->len)
		wo_buf_putc(err, '\n');
	if (!value) {
		wo_buf_printf(err, "%s: %s", field, rule);
		return;
	}
	wo_buf_printf(err, "%s '", field);
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)value; *p && n < 80; p++, n++) {
		if (*p < 0x20 || *p == 0x7f)
			wo_buf_printf(err, "\\x%02x", *p);
		else
			wo_buf_putc(err, (char)*p);
	}
	if (strlen(value) > 80)
		wo_buf_puts(err, "...");
	wo_buf_printf(err, "' is invalid: %s", rule);
}

static int has_ctl_or_space(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

int wo_validate_name(const char *s, struct wo_buf *err)
{
	static const char rule[] = "use 1-63 lowercase letters, digits and '-', starting with a letter "
				   "and not ending with '-'";
	if (!s || !*s) {
		add_err(err, "name", NULL, "is required (1-63 lowercase letters, digits and '-', starting with a letter)");
		return -1;
	}
	size_t len = strlen(s);
	if (len > WO_NAME_MAX) {
		add_err(err, "name", s, "longer than 63 characters");
		return -1;
	}
	if (!(s[0] >= 'a' && s[0] <= 'z') || s[len - 1] == '-') {
		add_err(err, "name", s, rule);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			add_err(err, "name", s, rule);
			return -1;
		}
	}
	return 0;
}

static int match(const char *pattern, const char *s)
{
	regex_t re;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	int ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

int wo_validate_repo_url(const char *s, struct wo_buf *err)
{
	static const char rule[] = "use https://, http://, ssh://, file:///path, user@host:path "
				   "or an absolute path to a local repository";
	if (!s || !*s) {
		add_err(err, "repo_url", NULL, "is required (https://, http://, ssh://, file://, user@host:path or an absolute path)");
		return -1;
	}
	if (has_ctl_or_space(s)) {
		add_err(err, "repo_url", s, "must not contain spaces or control characters");
		return -1;
	}
	if (strlen(s) > 2048) {
		add_err(err, "repo_url", s, "longer than 2048 characters");
		return -1;
	}
	if (!strncmp(s, "https://", 8) || !strncmp(s, "http://", 7) || !strncmp(s, "ssh://", 6)) {
		/* the user part: never a password (it would be shown and logged),
		 * never an option for ssh */
		const char *auth = strstr(s, "://") + 3;
		size_t alen = strcspn(auth, "/");
		const char *at = memrchr(auth, '@', alen);
		if (at) {
			const char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon) {
				char *shown = wo_url_redact(s);
				add_err(err, "repo_url", shown,
					"it contains a password: give the URL without it and store the secret with "
					"'webops deployment credentials NAME --token-stdin'");
				free(shown);
				return -1;
			}
			if (auth[0] == '-') {
				add_err(err, "repo_url", s, "the user name must not start with '-'");
				return -1;
			}
		}
		/* a host must follow the scheme, optionally with user@ and :port */
		if (!match("^[a-z]+://([^@/]+@)?([A-Za-z0-9][A-Za-z0-9._-]*|\\[[0-9A-Fa-f:.]+\\])(:[0-9]+)?(/.*)?$", s)) {
			add_err(err, "repo_url", s, "a host name must follow the scheme, e.g. https://example.com/team/app.git");
			return -1;
		}
		return 0;
	}
	if (!strncmp(s, "file://", 7)) {
		if (s[7] != '/') {
			add_err(err, "repo_url", s, "file:// URLs take an absolute path, e.g. file:///srv/git/app.git");
			return -1;
		}
		return 0;
	}
	if (s[0] == '/')
		return 0;
	/* scp-like: user@host:path; a leading '-' could be read as an option by ssh */
	if (match("^[A-Za-z0-9_][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:[^:]+$", s))
		return 0;
	add_err(err, "repo_url", s, rule);
	return -1;
}

int wo_validate_repo_url_for_user(const char *s, struct wo_buf *err)
{
	const char *path = !strncmp(s, "file://", 7) ? s + 7 : s[0] == '/' ? s : NULL;
	if (!path)
		return 0;
	/* the repository as the host resolves it: symlinks and '..' followed */
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		add_err(err, "repo_url", s, "it is a local path that does not exist on this host");
		return -1;
	}
	const char *roots = getenv("WEBOPS_LOCAL_REPO_ROOTS");
	if (roots && *roots) {
		char *copy = strdup(roots), *save = NULL;
		for (char *r = copy ? strtok_r(copy, ":", &save) : NULL; r; r = strtok_r(NULL, ":", &save)) {
			char rr[PATH_MAX];
			if (!realpath(r, rr))
				continue;
			size_t n = strlen(rr);
			if (!strncmp(real, rr, n) && (real[n] == '/' || real[n] == '\0' || !strcmp(rr, "/"))) {
				free(copy);
				return 0;
			}
		}
		free(copy);
	}
	add_err(err, "repo_url", s,
		"it is a repository on this host: only the host's operator may use one (with the CLI there), "
		"unless they list its folder in webopsd's WEBOPS_LOCAL_REPO_ROOTS (folders separated by ':')");
	return -1;
}

/* A branch name, or (ref) a branch, tag or commit: git's own rules. */
static int git_name(const char *field, const char *s, struct wo_buf *err)
{
	static const char rule[] = "not a valid git branch name (no spaces, '..', '~', '^', ':', '?', '*', '[', '\\', "
				   "no leading '-' or '.', no trailing '/', '.' or '.lock')";
	static const char ref_rule[] = "not a valid branch, tag or commit name (no spaces, '..', '~', '^', ':', '?', '*', "
				       "'[', '\\', no leading '-' or '.', no trailing '/', '.' or '.lock')";
	int is_ref = !strcmp(field, "ref");
	if (!s || !*s) {
		add_err(err, field, NULL, is_ref ? "is empty: give a branch, tag or commit" : "is required, e.g. main");
		return -1;
	}
	if (strlen(s) > 255) {
		add_err(err, field, s, "longer than 255 characters");
		return -1;
	}
	if (s[0] == '-' || !strcmp(s, "HEAD") || !strcmp(s, "@")) {
		add_err(err, field, s, is_ref ? ref_rule : rule);
		return -1;
	}
	git_libgit2_init();
	struct wo_buf ref = WO_BUF_INIT;
	wo_buf_printf(&ref, "refs/heads/%s", s);
	int valid = 0;
	if (git_reference_name_is_valid(&valid, ref.ptr) < 0)
		valid = 0;
	wo_buf_release(&ref);
	git_libgit2_shutdown();
	if (!valid) {
		add_err(err, field, s, is_ref ? ref_rule : rule);
		return -1;
	}
	return 0;
}

int wo_validate_branch(const char *s, struct wo_buf *err)
{
	return git_name("branch", s, err);
}

int wo_validate_ref(const char *s, struct wo_buf *err)
{
	return git_name("ref", s, err);
}

int wo_validate_domain(const char *s, struct wo_buf *err)
{
	static const char rule[] = "use a host name: labels of letters, digits and '-' separated by dots, "
				   "each 1-63 characters, not starting or ending with '-', 253 characters at most";
	if (!s || !*s)
		return 0; /* optional */
	size_t len = strlen(s);
	if (len > 253) {
		add_err(err, "domain", s, rule);
		return -1;
	}
	const char *label = s;
	for (;;) {
		size_t n = strcspn(label, ".");
		if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-') {
			add_err(err, "domain", s, rule);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)label[i]) && label[i] != '-') {
				add_err(err, "domain", s, rule);
				return -1;
			}
		if (label[n] == '\0')
			break;
		label += n + 1;
	}
	return 0;
}

int wo_validate_port(long long port, struct wo_buf *err)
{
	if (port < 1 || port > 65535) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", port);
		add_err(err, "port", v, "must be a whole number from 1 to 65535");
		return -1;
	}
	return 0;
}

int wo_validate_port_text(const char *s, int *out, struct wo_buf *err)
{
	if (!s || !*s || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s)) {
		add_err(err, "port", s ? s : "", "must be a whole number from 1 to 65535");
		return -1;
	}
	long long v = strtoll(s, NULL, 10);
	if (wo_validate_port(v, err) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

int wo_validate_env_key(const char *s, struct wo_buf *err)
{
	static const char rule[] = "environment variable names use letters, digits and '_' and do not start with a digit";
	if (!s || !*s) {
		add_err(err, "env", "", rule);
		return -1;
	}
	if (strlen(s) > 255) {
		add_err(err, "env", s, "name longer than 255 characters");
		return -1;
	}
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_')) {
		add_err(err, "env", s, rule);
		return -1;
	}
	for (const char *p = s; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_') || (unsigned char)*p >= 0x80) {
			add_err(err, "env", s, rule);
			return -1;
		}
	return 0;
}
