/* Per-client bookkeeping: rejected webhook deliveries per address (to slow
 * down probing), connections per address (a cap, and slow clients cut). */
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

/* ---- rejected webhook deliveries per client address ---- */

static struct wo_http_reject_slot *reject_slot(struct wo_http_server *srv, const char *address, long now)
{
	unsigned h = 2166136261u;
	for (const char *p = address; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	struct wo_http_reject_slot *s = &srv->rejects[h % WO_HTTP_REJECT_SLOTS];
	/* another address's slot is taken over once its window is over (two
	 * addresses sharing one in the same minute share its budget) */
	if (strcmp(s->address, address) != 0 && now - s->window_ms >= 60000) {
		snprintf(s->address, sizeof(s->address), "%s", address);
		s->count = 0;
		s->window_ms = now;
	}
	if (now - s->window_ms >= 60000) {
		s->count = 0;
		s->window_ms = now;
	}
	return s;
}

int wo_http_rejects_over(struct wo_req *req, int *retry_s)
{
	struct wo_http_server *srv = req->srv;
	if (!srv->rejects_per_min)
		return 0;
	long now = wo_http__now_ms();
	pthread_mutex_lock(&srv->rejects_lock);
	struct wo_http_reject_slot *s = reject_slot(srv, req->address, now);
	int over = s->count >= srv->rejects_per_min;
	if (retry_s)
		*retry_s = (int)((s->window_ms + 60000 - now + 999) / 1000);
	pthread_mutex_unlock(&srv->rejects_lock);
	return over;
}

void wo_http_rejects_count(struct wo_req *req)
{
	struct wo_http_server *srv = req->srv;
	if (!srv->rejects_per_min)
		return;
	pthread_mutex_lock(&srv->rejects_lock);
	reject_slot(srv, req->address, wo_http__now_ms())->count++;
	pthread_mutex_unlock(&srv->rejects_lock);
}

/* ---- connections per client address ---- */

static int addr_key(const struct sockaddr *sa, unsigned char out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return AF_INET6;
	}
	return 0;
}

/* The slot of an address (a free one to take when it has none); NULL when
 * the table is full. Call with addr_lock held. */
static struct wo_http_addr_slot *addr_slot(struct wo_http_server *srv, int family, const unsigned char key[16], int take)
{
	unsigned h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	struct wo_http_addr_slot *free_slot = NULL;
	for (unsigned i = 0; i < WO_HTTP_ADDR_SLOTS; i++) {
		struct wo_http_addr_slot *s = &srv->addrs[(h + i) % WO_HTTP_ADDR_SLOTS];
		if (s->family == family && !memcmp(s->addr, key, 16))
			return s;
		if (!s->family || !s->count) {
			if (!free_slot)
				free_slot = s;
			if (!s->family)
				break; /* the probe sequence ends at a never-used slot */
		}
	}
	if (!take || !free_slot)
		return NULL;
	free_slot->family = family;
	memcpy(free_slot->addr, key, 16);
	free_slot->count = 0;
	return free_slot;
}

/* MHD asks before it accepts a connection: refused when its address holds
 * per_address_max already. */
enum MHD_Result wo_http__accept_policy(void *cls, const struct sockaddr *sa, socklen_t len)
{
	(void)len;
	struct wo_http_server *srv = cls;
	if (!srv->per_address_max)
		return MHD_YES;
	unsigned char key[16];
	int family = addr_key(sa, key);
	if (!family)
		return MHD_YES;
	pthread_mutex_lock(&srv->addr_lock);
	struct wo_http_addr_slot *s = addr_slot(srv, family, key, 0);
	int over = s && s->count >= srv->per_address_max;
	pthread_mutex_unlock(&srv->addr_lock);
	return over ? MHD_NO : MHD_YES;
}

/* The connection's entry for the header deadline (socket context). */
static struct wo_http_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* A request's headers arrived (in_request 1), or its answer ended and the
 * connection waits for the next one (0: the deadline starts again). */
void wo_http__conn_mark(struct wo_http_server *srv, struct MHD_Connection *c, int in_request)
{
	struct wo_http_conn *k = conn_of(c);
	if (!k)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	k->in_request = in_request;
	k->since_ms = wo_http__now_ms();
	pthread_mutex_unlock(&srv->conns_lock);
}

/* Event thread: shuts down the connections past their header deadline (MHD
 * sees the read fail and closes them). */
void wo_http__conns_cut_slow(struct wo_http_server *srv, long now)
{
	if (!srv->header_timeout_ms)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	for (struct wo_http_conn *k = srv->conns; k; k = k->next)
		if (!k->in_request && !k->cut && now - k->since_ms > srv->header_timeout_ms) {
			k->cut = 1;
			shutdown(k->fd, SHUT_RDWR);
		}
	pthread_mutex_unlock(&srv->conns_lock);
}

static void conns_track(struct wo_http_server *srv, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	pthread_mutex_lock(&srv->conns_lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct wo_http_conn *k = ci ? calloc(1, sizeof(*k)) : NULL;
		if (k) {
			k->fd = ci->connect_fd;
			k->since_ms = wo_http__now_ms();
			k->next = srv->conns;
			if (srv->conns)
				srv->conns->prev = k;
			srv->conns = k;
		}
		*socket_context = k;
	} else if (*socket_context) {
		struct wo_http_conn *k = *socket_context;
		if (k->prev)
			k->prev->next = k->next;
		else
			srv->conns = k->next;
		if (k->next)
			k->next->prev = k->prev;
		free(k);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&srv->conns_lock);
}

/* Tracks a connection for the header deadline, and counts it for its
 * address while it lives. */
void wo_http__on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct wo_http_server *srv = cls;
	conns_track(srv, c, socket_context, code);
	if (!srv->per_address_max)
		return;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	unsigned char key[16];
	int family = addr_key(ci->client_addr, key);
	if (!family)
		return;
	pthread_mutex_lock(&srv->addr_lock);
	struct wo_http_addr_slot *s = addr_slot(srv, family, key, code == MHD_CONNECTION_NOTIFY_STARTED);
	if (s) {
		if (code == MHD_CONNECTION_NOTIFY_STARTED)
			s->count++;
		else if (s->count)
			s->count--;
	}
	pthread_mutex_unlock(&srv->addr_lock);
}
