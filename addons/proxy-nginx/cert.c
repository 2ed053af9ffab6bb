/* proxy-nginx: certificates read with libcrypto (see cert.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "cert.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void facts_of(X509 *x, struct px_cert_facts *out)
{
	memset(out, 0, sizeof(*out));
	X509_NAME *iss = X509_get_issuer_name(x);
	if (X509_NAME_get_text_by_NID(iss, NID_commonName, out->issuer, (int)sizeof(out->issuer)) < 0)
		X509_NAME_oneline(iss, out->issuer, (int)sizeof(out->issuer));
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		out->not_after = timegm(&tm);
	STACK_OF(OPENSSL_STRING) *ocsp = X509_get1_ocsp(x);
	out->ocsp = ocsp && sk_OPENSSL_STRING_num(ocsp) > 0;
	X509_email_free(ocsp);
}

int px_cert_file_facts(const char *path, struct px_cert_facts *out)
{
	memset(out, 0, sizeof(*out));
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (!x)
		return -1;
	facts_of(x, out);
	X509_free(x);
	return out->not_after ? 0 : -1;
}

/* A passphrase is never asked for: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)u = 1;
	return -1;
}

static int fail(struct px_sb *err, const char *fmt, const char *arg)
{
	px_sb_reset(err);
	px_sb_printf(err, fmt, arg);
	ERR_clear_error();
	return -1;
}

static int bio_text(BIO *b, struct px_sb *out)
{
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	if (n <= 0)
		return -1;
	px_sb_printf(out, "%.*s", (int)n, p);
	return out->oom ? -1 : 0;
}

int px_cert_split(const char *pem, const char *domain, struct px_sb *cert, struct px_sb *key,
		  struct px_cert_facts *facts, struct px_sb *err)
{
	px_sb_reset(cert);
	px_sb_reset(key);
	if (!pem || !*pem)
		return fail(err, "%sno certificate and key were given", "");
	int rc = -1, encrypted = 0;
	STACK_OF(X509) *certs = sk_X509_new_null();
	EVP_PKEY *pk = NULL;
	BIO *in = BIO_new_mem_buf(pem, -1), *out = BIO_new(BIO_s_mem()), *kout = BIO_new(BIO_s_secmem());
	if (!certs || !in || !out || !kout) {
		fail(err, "%sout of memory", "");
		goto done;
	}
	X509 *x;
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)))
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			fail(err, "%sout of memory", "");
			goto done;
		}
	ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		fail(err, "%sno certificate: expected a PEM block \"-----BEGIN CERTIFICATE-----\"", "");
		goto done;
	}
	BIO_free(in);
	in = BIO_new_mem_buf(pem, -1);
	pk = in ? PEM_read_bio_PrivateKey(in, NULL, no_passphrase, &encrypted) : NULL;
	if (!pk) {
		fail(err, "%s", encrypted ? "the private key is encrypted: give it without a passphrase "
		                            "(openssl pkey -in KEY -out PLAIN.key)"
		                          : "no private key: expected a PEM block \"-----BEGIN PRIVATE KEY-----\" (or RSA/EC "
		                            "PRIVATE KEY)");
		goto done;
	}
	/* the leaf is the certificate of the key; the rest follow as given */
	int leaf = -1;
	for (int i = 0; i < sk_X509_num(certs) && leaf < 0; i++)
		if (X509_check_private_key(sk_X509_value(certs, i), pk) == 1)
			leaf = i;
	ERR_clear_error();
	if (leaf < 0) {
		fail(err, "%sthe private key does not belong to the certificate (nor to any certificate given)", "");
		goto done;
	}
	X509 *l = sk_X509_value(certs, leaf);
	struct px_cert_facts f;
	facts_of(l, &f);
	if (domain && X509_check_host(l, domain, strlen(domain), 0, NULL) != 1) {
		fail(err, "the certificate is not for %s (neither its subject alternative names nor its common name "
		     "match it)", domain);
		goto done;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(l)) <= 0) {
		char when[32] = "?";
		struct tm tm;
		if (gmtime_r(&f.not_after, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
		fail(err, "the certificate expired on %s", when);
		goto done;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(l)) > 0) {
		fail(err, "%sthe certificate is not valid yet (its notBefore is in the future)", "");
		goto done;
	}
	if (!PEM_write_bio_X509(out, l)) {
		fail(err, "%scannot write the certificate", "");
		goto done;
	}
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (i != leaf && !PEM_write_bio_X509(out, sk_X509_value(certs, i))) {
			fail(err, "%scannot write the chain", "");
			goto done;
		}
	if (!PEM_write_bio_PrivateKey(kout, pk, NULL, NULL, 0, NULL, NULL)) {
		fail(err, "%scannot write the private key", "");
		goto done;
	}
	if (bio_text(out, cert) < 0 || bio_text(kout, key) < 0) {
		fail(err, "%sout of memory", "");
		goto done;
	}
	if (facts)
		*facts = f;
	rc = 0;
done:
	if (rc < 0) {
		px_sb_reset(cert);
		if (key->ptr)
			OPENSSL_cleanse(key->ptr, key->cap);
		px_sb_reset(key);
	}
	sk_X509_pop_free(certs, X509_free);
	EVP_PKEY_free(pk);
	BIO_free(in);
	BIO_free(out);
	BIO_free_all(kout);
	ERR_clear_error();
	return rc;
}
