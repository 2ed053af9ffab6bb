/* proxy-nginx: reading certificates with OpenSSL's libcrypto (cert.c) —
 * what a certificate file says (issuer, end of validity, OCSP responder),
 * and the checks a custom certificate and key pass before nginx gets them.
 * Nothing here runs a process: the status hook reads every certificate each
 * minute. */
#ifndef PROXY_NGINX_CERT_H
#define PROXY_NGINX_CERT_H

#include <stddef.h>
#include <time.h>

#include "conf.h"

struct px_cert_facts {
	char issuer[256];  /* the issuer's CN (else its whole name) */
	time_t not_after;
	int ocsp;          /* names an OCSP responder */
};

/* Reads the first certificate of a PEM file; 0, or -1 when there is none. */
int px_cert_file_facts(const char *path, struct px_cert_facts *out);

/* A custom certificate as given (webops deployment tls NAME --cert --key):
 * one PEM text holding the certificate, the chain after it, and the private
 * key. Split into cert (the certificates, leaf first) and key; checked: the
 * key is the leaf's, the leaf names domain, and it is valid now. 0, or -1
 * with the reason in err (which names no secret). cert and key are reset
 * first; on failure they are left empty. facts (may be NULL) gets the leaf's. */
int px_cert_split(const char *pem, const char *domain, struct px_sb *cert, struct px_sb *key,
		  struct px_cert_facts *facts, struct px_sb *err);

#endif
