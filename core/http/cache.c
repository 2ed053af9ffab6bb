/* Answers kept in memory while what they show has not changed (generation
 * counters bumped by NOTIFY), and the authentication cache. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addon/addon.h"
#include "db/db.h"
#include "http/server_int.h"
#include "http/webhook_writer.h"
#include "store/access.h"
#include "pipeline/runs.h"
#include "store/deployment.h"
#include "template/template.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

extern char **environ;

/* ---- caches ---- */

unsigned wo_http__dep_gen(struct wo_http_server *srv)
{
	if (!__atomic_load_n(&srv->listening, __ATOMIC_ACQUIRE))
		return 0;
	unsigned g = __atomic_load_n(&srv->dep_gen, __ATOMIC_ACQUIRE);
	return g ? g : 1;
}

unsigned wo_http__runs_gen(struct wo_http_server *srv)
{
	if (!__atomic_load_n(&srv->listening, __ATOMIC_ACQUIRE))
		return 0;
	unsigned g = __atomic_load_n(&srv->runs_gen, __ATOMIC_ACQUIRE);
	return g ? g : 1;
}

json_t *wo_http__json_cache_get(struct wo_http_json_cache *c, unsigned a, unsigned b)
{
	if (!a || !b)
		return NULL;
	json_t *v = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->v && c->gen_a == a && c->gen_b == b)
		v = json_incref(c->v);
	pthread_mutex_unlock(&c->lock);
	return v;
}

void wo_http__json_cache_put(struct wo_http_json_cache *c, unsigned a, unsigned b, json_t *v)
{
	if (!a || !b)
		return;
	pthread_mutex_lock(&c->lock);
	json_t *old = c->v;
	c->v = json_incref(v);
	c->gen_a = a;
	c->gen_b = b;
	pthread_mutex_unlock(&c->lock);
	json_decref(old);
}

int wo_http__cache_send(struct wo_req *req, struct wo_http_blob_cache *c, unsigned gen, const char *content_type)
{
	(void)content_type; /* part of the cached response */
	if (!gen)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (!c->resp || c->gen != gen) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	enum MHD_Result q = MHD_queue_response(req->mhd, 200, c->resp);
	pthread_mutex_unlock(&c->lock);
	if (q != MHD_YES)
		return 0;
	req->queued = 1;
	req->status = 200;
	return 1;
}

void wo_http__cache_put(struct wo_http_blob_cache *c, unsigned gen, const char *data, size_t len,
			const char *content_type)
{
	if (!gen)
		return;
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return;
	wo_http__add_security_headers(r);
	MHD_add_response_header(r, "Content-Type", content_type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	pthread_mutex_lock(&c->lock);
	struct MHD_Response *old = c->resp;
	c->resp = r;
	c->gen = gen;
	pthread_mutex_unlock(&c->lock);
	if (old)
		MHD_destroy_response(old); /* freed once the last connection sending it is done */
}

/* Who a token or session id belongs to, remembered for a while: most
 * requests then need no database round trip to authenticate. Only good
 * answers are kept; any change to tokens, sessions or users drops them. */
static void auth_key(unsigned char key[32], char kind, const char *secret)
{
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)&kind, 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)secret, strlen(secret));
	crypto_hash_sha256_final(&st, key);
}

int wo_http__auth_cached(struct wo_http_server *srv, char kind, const char *secret, struct wo_principal *out)
{
	if (!__atomic_load_n(&srv->listening, __ATOMIC_ACQUIRE))
		return 0;
	unsigned char key[32];
	auth_key(key, kind, secret);
	unsigned gen = __atomic_load_n(&srv->auth_gen, __ATOMIC_ACQUIRE);
	struct wo_auth_cache_entry *e = &srv->auth[(key[0] | key[1] << 8) % WO_AUTH_CACHE_SLOTS];
	int hit = 0;
	pthread_mutex_lock(&srv->auth_lock);
	if (e->used && e->gen == gen && wo_http__now_ms() - e->at_ms < WO_AUTH_CACHE_MS &&
	    sodium_memcmp(e->key, key, 32) == 0) {
		*out = e->who;
		hit = 1;
	}
	pthread_mutex_unlock(&srv->auth_lock);
	return hit;
}

void wo_http__auth_remember(struct wo_http_server *srv, char kind, const char *secret, unsigned gen,
			  const struct wo_principal *who)
{
	if (!__atomic_load_n(&srv->listening, __ATOMIC_ACQUIRE))
		return;
	unsigned char key[32];
	auth_key(key, kind, secret);
	struct wo_auth_cache_entry *e = &srv->auth[(key[0] | key[1] << 8) % WO_AUTH_CACHE_SLOTS];
	pthread_mutex_lock(&srv->auth_lock);
	memcpy(e->key, key, 32);
	e->used = 1;
	e->gen = gen;
	e->at_ms = wo_http__now_ms();
	e->who = *who;
	pthread_mutex_unlock(&srv->auth_lock);
}

void wo_http_auth_changed(struct wo_req *req)
{
	__atomic_add_fetch(&req->srv->auth_gen, 1, __ATOMIC_RELEASE);
}
