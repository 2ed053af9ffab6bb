/* proxy-nginx: the nginx instance and its files — settings, the lock that
 * serializes changes, applying one deployment's server block (stage, nginx -t,
 * put in place, reload, confirm, or put the previous files back), and starting
 * and stopping the private nginx. */
#ifndef PROXY_NGINX_PROXY_H
#define PROXY_NGINX_PROXY_H

#include <limits.h>
#include <sys/types.h>
#include <webops/addon.h>

#include "conf.h"

struct px {
	const struct webops_host *host;
	struct webops_hook_ctx *ctx;
	int host_mode;
	char dir[PATH_MAX]; /* DATA/proxy-nginx: the private nginx; in host mode the lock and journal */
	const char *nginx;
	struct px_site_opts site;
	const char *user; /* workers' user; NULL when the master does not run as root */
	const char *worker_processes;
	int access_log;
	int reload_timeout_ms;
	const char *include_dir, *config_file, *pid_file, *error_log; /* host mode */
	int lock_fd;
	pid_t master;  /* the master after an apply */
	int switch_ms; /* how long the last reload or start took to be confirmed */
	long long reload_sent_at; /* wall clock (ms since the epoch): nginx was told to switch */
	long long switched_at;    /* ... and no old worker could take a new connection any more */
	int started;   /* the last apply started nginx rather than reloading it */
	int ignore_cancel; /* putting things back after a cancel: finish it */
	/* ACME (acme.c) */
	const char *acme_client, *acme_directory, *acme_email, *acme_ca_bundle;
	int acme_renew_days;
	int acme_retry_minutes; /* after a failed attempt, the periodic check waits this long */
	/* webopsd's own site (hooks.c): the domain it is published at (NULL:
	 * not published), and what webopsd told the hook (daemon_start, renew):
	 * where it listens and the token it believes its proxy by ("": unknown) */
	const char *ui_domain;
	char ui_upstream[80], ui_token[130];
	struct px_sb err;
};

/* Reads and checks the addon's settings; -1 with the reason in px->err. */
int px_load(struct px *px, const struct webops_host *host, struct webops_hook_ctx *ctx);
void px_release(struct px *px);

/* Non-zero once the hook was cancelled or got SIGTERM (hooks.c sets the
 * latter), unless ignore_cancel is set. */
int px_cancelled(struct px *px);
extern volatile int px_sigterm;

/* NAME's server block as it is now: 0 and *out (free() it), 1 when there is none, -1 on error. */
int px_site_read(struct px *px, const char *name, char **out);

/* Makes content (NULL: none) NAME's server block and nginx serve it: under
 * the lock, the new files are checked with nginx -t before they are put in
 * place, nginx is reloaded (or started) and the change confirmed by its
 * workers; on any failure the previous files are put back and nginx keeps
 * (or gets back) its previous configuration. name NULL only brings the main
 * file up to date and nginx up. Returns 0 when it changed something, 1 when
 * nothing needed to change, -1 with the reason in px->err. */
int px_apply(struct px *px, const char *name, const char *content);

/* daemon_start: records webopsd (pid) as a user of the private nginx and
 * brings nginx up. daemon_stop: forgets it and, when no other live webopsd
 * uses this data directory, stops nginx gracefully (SIGQUIT). Return 0, or
 * -1 with px->err; *note says what happened. */
int px_daemon_start(struct px *px, pid_t webopsd);
int px_daemon_stop(struct px *px, pid_t webopsd, struct px_sb *note);

/* Runs argv (no shell) with env ("NAME=value" entries, NULL-terminated, or
 * NULL), its output kept in out; its exit status, or -1 with err set when
 * it could not run, was stopped or timed out. */
int px_run(struct px *px, const char *const argv[], const char *const env[], struct px_sb *out, int timeout_ms,
	   struct px_sb *err);

/* The deployments with a server block (sorted names); px_sites_free frees them. */
int px_sites(struct px *px, char ***names, size_t *n);
void px_sites_free(char **names, size_t n);

/* The nginx master running now (private mode: from the pid file, checked;
 * host mode: from pid_file); 0 when none. */
pid_t px_master_pid(struct px *px);

/* Counts the deployments with a server block (private mode). */
int px_site_count(struct px *px);

#endif
