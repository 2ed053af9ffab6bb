/* proxy-nginx: certificates from ACME through lego (acme.c). */
#ifndef PROXY_NGINX_ACME_H
#define PROXY_NGINX_ACME_H

#include <stddef.h>

#include "proxy.h"

/* The certificate and key files of domain (each size bytes); 0 when both
 * exist. */
int px_acme_files(struct px *px, const char *domain, char *cert, char *key, size_t size);
/* Asks the ACME server for domain's certificate (lego run), or renews it
 * when fewer than acme_renew_days are left (lego renew). 0 when a new
 * certificate was written, 1 when the one there is holds, -1 with the ACME
 * server's problem (or why lego could not run) in px->err. The outcome is
 * also kept in DIR/acme/status/DOMAIN. */
int px_acme_obtain(struct px *px, const char *domain);

/* When domain's certificate expires (seconds since the epoch); -1 when
 * there is none or it cannot be read. */
int px_acme_expiry(struct px *px, const char *domain, long long *not_after);
/* How many attempts for domain failed in a row (*when: the last one's
 * time); 0 when the last one worked or there was none. */
int px_acme_failed_since(struct px *px, const char *domain, long long *when);
/* The certificates asked for and the custom ones, as a JSON array:
 * [{"domain", "source" ("acme" or "custom"), "issuer", "not_after" (ISO
 * 8601), "expires_at" (seconds since the epoch), "last_error" (null when the
 * last attempt worked; for a custom certificate, set when 14 days or fewer
 * are left), "checked_at"}], issuer and dates null when there is no
 * certificate (yet). The count, or -1. */
int px_acme_list(struct px *px, struct px_sb *json);

/* Custom certificates (the field tls custom): DIR/custom/DOMAIN.crt and
 * .key (0600). px_custom_files: their paths, 0 when both exist.
 * px_custom_install: writes cert and key there when they differ from what
 * is there (so the files' time, the block's version, changes only with
 * them); 0 when written, 1 when unchanged, -1 with px->err. px_custom_remove:
 * removes them (a domain back on ACME, a deleted deployment). */
int px_custom_files(struct px *px, const char *domain, char *cert, char *key, size_t size);
int px_custom_install(struct px *px, const char *domain, const char *cert_text, const char *key_text);
void px_custom_remove(struct px *px, const char *domain);

/* 1 when domain's certificate names an OCSP responder and its issuer's
 * certificate is there (its path in issuer, size bytes): stapling can work. */
int px_acme_ocsp(struct px *px, const char *domain, char *issuer, size_t size);
/* The IPv4 name servers of /etc/resolv.conf, space-separated; 0 when none. */
int px_resolvers(char *out, size_t size);

#endif
