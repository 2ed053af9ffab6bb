/* proxy-nginx: certificates from ACME. The client is lego (Debian's lego
 * package, what Dokku's letsencrypt plugin drives): webops writes no ACME or
 * JWS of its own. lego runs as a child with an argument vector, its account
 * and certificates under DIR/acme, and answers HTTP-01 challenges with its
 * own server on 127.0.0.1:acme_challenge_port while it runs; every domain
 * site's /.well-known/acme-challenge/ on port 80 is passed there by nginx, so
 * nothing stops serving while a certificate is asked for. One lego runs at a
 * time (the challenge port is one). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "acme.h"
#include "cert.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* DIR/acme followed by the pieces given (NULL-terminated); "" when it
 * would not fit (the caller's open or access then fails). */
static void acme_path(char *out, size_t size, const struct px *px, ...)
{
	va_list ap;
	va_start(ap, px);
	size_t len = 0;
	const char *part = px->dir;
	int more = 2;
	while (part) {
		size_t n = strlen(part);
		if (len + n >= size) {
			out[0] = '\0';
			va_end(ap);
			return;
		}
		memcpy(out + len, part, n);
		len += n;
		if (more) {
			more--;
			part = more ? "/acme" : va_arg(ap, const char *);
		} else {
			part = va_arg(ap, const char *);
		}
	}
	out[len] = '\0';
	va_end(ap);
}

int px_acme_files(struct px *px, const char *domain, char *cert, char *key, size_t size)
{
	acme_path(cert, size, px, "/certificates/", domain, ".crt", NULL);
	acme_path(key, size, px, "/certificates/", domain, ".key", NULL);
	return access(cert, R_OK) == 0 && access(key, R_OK) == 0 ? 0 : -1;
}

/* DIR/custom/DOMAIN followed by ext; "" when it would not fit. */
static void custom_path(char *out, size_t size, const struct px *px, const char *domain, const char *ext)
{
	if ((size_t)snprintf(out, size, "%s/custom/%s%s", px->dir, domain, ext) >= size)
		out[0] = '\0';
}

int px_custom_files(struct px *px, const char *domain, char *cert, char *key, size_t size)
{
	custom_path(cert, size, px, domain, ".crt");
	custom_path(key, size, px, domain, ".key");
	return access(cert, R_OK) == 0 && access(key, R_OK) == 0 ? 0 : -1;
}

/* 1 when path holds exactly text */
static int same_content(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = strlen(text), i = 0;
	int c, same = 1;
	while (same && (c = fgetc(f)) != EOF)
		same = i < n && (char)c == text[i++];
	fclose(f);
	return same && i == n;
}

static int write_private(struct px *px, const char *path, const char *text)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return px_sb_reset(&px->err), px_sb_puts(&px->err, "the certificate's path is too long"), -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t n = strlen(text), off = 0;
	while (fd >= 0 && off < n) {
		ssize_t w = write(fd, text + off, n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (fd < 0 || off < n || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		if (fd >= 0 && off < n)
			close(fd);
		unlink(tmp);
		px_sb_reset(&px->err);
		px_sb_printf(&px->err, "cannot write %s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

int px_custom_install(struct px *px, const char *domain, const char *cert_text, const char *key_text)
{
	char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/custom", px->dir) >= sizeof(dir))
		return px_sb_reset(&px->err), px_sb_puts(&px->err, "the data directory's path is too long"), -1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		px_sb_reset(&px->err);
		px_sb_printf(&px->err, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	px_custom_files(px, domain, cert, key, sizeof(cert));
	if (!cert[0] || !key[0])
		return px_sb_reset(&px->err), px_sb_puts(&px->err, "the certificate's path is too long"), -1;
	if (same_content(cert, cert_text) && same_content(key, key_text))
		return 1;
	/* the key first: a certificate whose key is not there yet is never served */
	if (write_private(px, key, key_text) < 0 || write_private(px, cert, cert_text) < 0)
		return -1;
	return 0;
}

void px_custom_remove(struct px *px, const char *domain)
{
	char cert[PATH_MAX], key[PATH_MAX];
	px_custom_files(px, domain, cert, key, sizeof(cert));
	if (cert[0])
		unlink(cert);
	if (key[0])
		unlink(key);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The line of lego's output that says what went wrong: the ACME server's
 * problem when there is one, else the last line. */
static void problem_of(const char *out, struct px_sb *err)
{
	const char *best = NULL, *last = NULL;
	size_t best_len = 0, last_len = 0;
	for (const char *p = out; *p;) {
		size_t n = strcspn(p, "\n");
		if (n > 0) {
			last = p;
			last_len = n;
			if (memmem(p, n, "urn:ietf:params:acme:error", 26) || memmem(p, n, "acme: error", 11)) {
				best = p;
				best_len = n;
			}
		}
		p += n;
		if (*p)
			p++;
	}
	if (!best) {
		best = last;
		best_len = last_len;
	}
	/* lego's lines start with a date and time */
	if (best && best_len > 20 && best[4] == '/' && best[7] == '/' && best[10] == ' ') {
		best += 20;
		best_len -= 20;
	}
	px_sb_reset(err);
	if (best)
		px_sb_printf(err, "%.*s", (int)(best_len > 600 ? 600 : best_len), best);
	else
		px_sb_puts(err, "lego printed nothing");
}

int px_acme_failed_since(struct px *px, const char *domain, long long *when);

/* The outcome of an attempt: "ok", or "error: ..." and on a second line how
 * many attempts in a row failed (for the periodic check's backoff). */
static void write_status(struct px *px, const char *domain, const char *text)
{
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	long long ignored;
	int failures = strncmp(text, "error: ", 7) ? 0 : px_acme_failed_since(px, domain, &ignored) + 1;
	acme_path(dir, sizeof(dir), px, "/status", NULL);
	mkdir(dir, 0700);
	acme_path(path, sizeof(path), px, "/status/", domain, NULL);
	acme_path(tmp, sizeof(tmp), px, "/status/", domain, ".tmp", NULL);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%s\n", text);
	if (failures)
		fprintf(f, "failures: %d\n", failures);
	if (fclose(f) == 0)
		rename(tmp, path);
}

/* Waits for the one lego run at a time; -1 when cancelled meanwhile. */
static int take_lock(struct px *px, int *fd)
{
	char path[PATH_MAX];
	acme_path(path, sizeof(path), px, "/.lock", NULL);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return px_sb_reset(&px->err), px_sb_printf(&px->err, "cannot open %s: %s", path, strerror(errno)), -1;
	while (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		if (px_cancelled(px)) {
			close(*fd);
			*fd = -1;
			px_sb_reset(&px->err);
			px_sb_puts(&px->err, "cancelled while another certificate was being asked for");
			return -1;
		}
		px_sleep_ms(200);
	}
	return 0;
}

static long long mtime_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec : 0;
}

int px_acme_obtain(struct px *px, const char *domain)
{
	char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], listen[64], days[16], accounts[PATH_MAX];
	acme_path(dir, sizeof(dir), px, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		px_sb_reset(&px->err);
		px_sb_printf(&px->err, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	int have = px_acme_files(px, domain, cert, key, sizeof(cert)) == 0;
	long long before = mtime_of(cert);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", px->site.acme_port);
	snprintf(days, sizeof(days), "%d", px->acme_renew_days);
	const char *argv[] = { px->acme_client, "--server", px->acme_directory, "--accept-tos", "--email",
			       px->acme_email, "--path", dir, "--http", "--http.port", listen, "--domains", domain,
			       have ? "renew" : "run", have ? "--days" : NULL, days,
			       /* a deploy is no time for lego's random wait of up to 8 minutes */
			       "--no-random-sleep", NULL };
	char bundle[PATH_MAX + 32];
	const char *env[] = { NULL, NULL };
	if (px->acme_ca_bundle) {
		snprintf(bundle, sizeof(bundle), "LEGO_CA_CERTIFICATES=%s", px->acme_ca_bundle);
		env[0] = bundle;
	}
	int lock_fd = -1;
	if (take_lock(px, &lock_fd) < 0)
		return -1;
	struct px_sb out = PX_SB_INIT, run_err = PX_SB_INIT;
	int rc = -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		px_sb_reset(&out);
		int st = px_run(px, argv, env, &out, 240000, &run_err);
		if (st == 0) {
			rc = 0;
			break;
		}
		if (st < 0) {
			px_sb_reset(&px->err);
			px_sb_printf(&px->err, "%s", px_sb_str(&run_err));
			break;
		}
		/* the server forgot the account (a test server restarted, an
		 * account deactivated): register again, once */
		if (attempt == 0 && strstr(px_sb_str(&out), "accountDoesNotExist")) {
			acme_path(accounts, sizeof(accounts), px, "/accounts", NULL);
			nftw(accounts, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
			continue;
		}
		problem_of(px_sb_str(&out), &px->err);
		break;
	}
	close(lock_fd);
	if (rc == 0) {
		rc = mtime_of(cert) != before ? 0 : 1;
		write_status(px, domain, "ok");
	} else {
		struct px_sb line = PX_SB_INIT;
		px_sb_printf(&line, "error: %s", px_sb_str(&px->err));
		write_status(px, domain, px_sb_str(&line));
		px_sb_release(&line);
	}
	px_sb_release(&out);
	px_sb_release(&run_err);
	return rc;
}

/* ---- what certificates there are ---- */

static void json_str(struct px_sb *out, const char *s)
{
	px_sb_puts(out, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			px_sb_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			px_sb_printf(out, "\\u%04x", *p);
		else
			px_sb_printf(out, "%c", *p);
	}
	px_sb_puts(out, "\"");
}

/* The issuer (CN) and the end of validity of a certificate file; 0 when read. */
static int cert_facts(struct px *px, const char *cert, char *issuer, size_t isize, time_t *not_after)
{
	(void)px;
	struct px_cert_facts f;
	int rc = px_cert_file_facts(cert, &f);
	snprintf(issuer, isize, "%s", rc == 0 ? f.issuer : "");
	*not_after = rc == 0 ? f.not_after : 0;
	return rc;
}

int px_acme_expiry(struct px *px, const char *domain, long long *not_after)
{
	char cert[PATH_MAX], key[PATH_MAX], issuer[256];
	time_t t = 0;
	*not_after = 0;
	if (px_acme_files(px, domain, cert, key, sizeof(cert)) < 0 || cert_facts(px, cert, issuer, sizeof(issuer), &t) < 0)
		return -1;
	*not_after = (long long)t;
	return 0;
}

int px_acme_failed_since(struct px *px, const char *domain, long long *when)
{
	char path[PATH_MAX], line[1024] = "";
	acme_path(path, sizeof(path), px, "/status/", domain, NULL);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int failures = 0;
	if (fgets(line, sizeof(line), f) && !strncmp(line, "error: ", 7)) {
		failures = 1;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "failures: ", 10) && atoi(line + 10) > 0)
				failures = atoi(line + 10);
	}
	fclose(f);
	struct stat st;
	if (!failures || stat(path, &st) != 0)
		return 0;
	*when = (long long)st.st_mtim.tv_sec;
	return failures;
}

/* The custom certificates, appended to the list (after count entries). */
static int list_custom(struct px *px, struct px_sb *json, int count)
{
	char dir[PATH_MAX];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/custom", px->dir) >= sizeof(dir))
		return 0;
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	long long now = (long long)time(NULL);
	while (d && (e = readdir(d))) {
		char dom[256];
		size_t len = strlen(e->d_name);
		if (len < 5 || len - 4 >= sizeof(dom) || strcmp(e->d_name + len - 4, ".crt") != 0)
			continue;
		memcpy(dom, e->d_name, len - 4);
		dom[len - 4] = '\0';
		struct px_sb err = PX_SB_INIT;
		int ok = px_check_domain(dom, &err) == 0;
		px_sb_release(&err);
		char cert[PATH_MAX], key[PATH_MAX];
		struct px_cert_facts f;
		struct stat st;
		if (!ok || px_custom_files(px, dom, cert, key, sizeof(cert)) < 0 || px_cert_file_facts(cert, &f) < 0 ||
		    stat(cert, &st) < 0)
			continue;
		char when[32];
		struct tm tm;
		gmtime_r(&f.not_after, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		px_sb_printf(json, "%s{\"domain\": ", count + n++ ? ", " : "");
		json_str(json, dom);
		px_sb_puts(json, ", \"source\": \"custom\", \"issuer\": ");
		json_str(json, f.issuer);
		px_sb_printf(json, ", \"not_after\": \"%s\", \"expires_at\": %lld, \"last_error\": ", when,
			     (long long)f.not_after);
		long long left = ((long long)f.not_after - now) / 86400;
		if (left <= 14) {
			char msg[200];
			snprintf(msg, sizeof(msg), "a custom certificate %s: give a new one (webops deployment tls NAME "
				 "--cert FILE --key FILE)", f.not_after <= now ? "that has expired" : "with 14 days or fewer left");
			json_str(json, msg);
		} else {
			px_sb_puts(json, "null");
		}
		px_sb_printf(json, ", \"checked_at\": %lld}", (long long)st.st_mtim.tv_sec);
	}
	if (d)
		closedir(d);
	return n;
}

int px_acme_list(struct px *px, struct px_sb *json)
{
	char dir[PATH_MAX];
	acme_path(dir, sizeof(dir), px, "/status", NULL);
	px_sb_reset(json);
	px_sb_puts(json, "[");
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *dom = e->d_name;
		size_t len = strlen(dom);
		if (dom[0] == '.' || (len > 4 && !strcmp(dom + len - 4, ".tmp")))
			continue;
		struct px_sb err = PX_SB_INIT;
		if (px_check_domain(dom, &err) < 0) {
			px_sb_release(&err);
			continue;
		}
		px_sb_release(&err);
		char path[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], status[1024] = "", issuer[256];
		acme_path(path, sizeof(path), px, "/status/", dom, NULL);
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(status, sizeof(status), f))
				status[0] = '\0';
			fclose(f);
		}
		status[strcspn(status, "\n")] = '\0';
		struct stat st;
		long long at = stat(path, &st) == 0 ? (long long)st.st_mtim.tv_sec : 0;
		time_t not_after = 0;
		int have = px_acme_files(px, dom, cert, key, sizeof(cert)) == 0 &&
			   cert_facts(px, cert, issuer, sizeof(issuer), &not_after) == 0;
		char ccert[PATH_MAX], ckey[PATH_MAX];
		if (px_custom_files(px, dom, ccert, ckey, sizeof(ccert)) == 0)
			continue; /* served with a custom certificate now: listed below */
		px_sb_printf(json, "%s{\"domain\": ", n++ ? ", " : "");
		json_str(json, dom);
		px_sb_puts(json, ", \"source\": \"acme\"");
		if (have) {
			char when[32];
			struct tm tm;
			gmtime_r(&not_after, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			px_sb_puts(json, ", \"issuer\": ");
			json_str(json, issuer);
			px_sb_printf(json, ", \"not_after\": \"%s\", \"expires_at\": %lld", when, (long long)not_after);
		} else {
			px_sb_puts(json, ", \"issuer\": null, \"not_after\": null, \"expires_at\": null");
		}
		px_sb_puts(json, ", \"last_error\": ");
		if (!strncmp(status, "error: ", 7))
			json_str(json, status + 7);
		else
			px_sb_puts(json, "null");
		px_sb_printf(json, ", \"checked_at\": %lld}", at);
	}
	if (d)
		closedir(d);
	n += list_custom(px, json, n);
	px_sb_puts(json, "]");
	return json->oom ? -1 : n;
}

int px_acme_ocsp(struct px *px, const char *domain, char *issuer, size_t size)
{
	char cert[PATH_MAX], key[PATH_MAX];
	struct px_cert_facts f;
	if (px_acme_files(px, domain, cert, key, sizeof(cert)) < 0)
		return 0;
	acme_path(issuer, size, px, "/certificates/", domain, ".issuer.crt", NULL);
	return access(issuer, R_OK) == 0 && px_cert_file_facts(cert, &f) == 0 && f.ocsp;
}

int px_resolvers(char *out, size_t size)
{
	FILE *f = fopen("/etc/resolv.conf", "r");
	size_t len = 0;
	out[0] = '\0';
	if (!f)
		return 0;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		char addr[64];
		if (sscanf(line, " nameserver %63s", addr) != 1 || strspn(addr, "0123456789.") != strlen(addr) ||
		    !strchr(addr, '.'))
			continue; /* IPv4 only: nginx wants IPv6 ones in brackets */
		size_t n = strlen(addr);
		if (len + n + 2 > size)
			break;
		if (len)
			out[len++] = ' ';
		memcpy(out + len, addr, n + 1);
		len += n;
	}
	fclose(f);
	return len > 0;
}
