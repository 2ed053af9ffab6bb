/* The HTTP server's listening socket: "HOST:PORT", "[V6]:PORT", ":PORT" or
 * "unix:/path", bound and listening before anything else starts. */
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

/* ---- listening ---- */

int wo_http_listen(int *fd_out, char **url_out, const char *spec)
{
	if (!spec || !*spec)
		return wo_error_set("listen address is empty: use HOST:PORT or unix:/path");
	if (!strncmp(spec, "unix:", 5)) {
		const char *path = spec + 5;
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path))
			return wo_error_set("listen address '%s' is invalid: use unix:/absolute/path (at most %zu characters)",
					    spec, sizeof(sun.sun_path) - 1);
		memcpy(sun.sun_path, path, strlen(path) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return wo_error_set("cannot create a socket: %s", strerror(errno));
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path); /* a socket left by an earlier run */
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 128) < 0) {
			int e = errno;
			close(fd);
			return wo_error_set("cannot listen on '%s': %s", path, strerror(e));
		}
		chmod(path, 0660);
		*fd_out = fd;
		*url_out = strdup(spec);
		return 0;
	}
	char host[256];
	const char *port;
	const char *colon = strrchr(spec, ':');
	if (!colon)
		return wo_error_set("listen address '%s' is invalid: use HOST:PORT, [IPv6]:PORT, :PORT or unix:/path", spec);
	size_t hl = (size_t)(colon - spec);
	if (hl >= sizeof(host))
		return wo_error_set("listen address '%s' is invalid: the host is too long", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	port = colon + 1;
	if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	char *end;
	long pn = strtol(port, &end, 10);
	if (!*port || *end || pn < 0 || pn > 65535)
		return wo_error_set("listen address '%s' is invalid: the port must be 0-65535", spec);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	int gr = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (gr != 0)
		return wo_error_set("listen address '%s': cannot resolve '%s': %s", spec, host, gai_strerror(gr));
	int fd = -1, err = 0;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 511) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return wo_error_set("cannot listen on '%s': %s", spec, strerror(err));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char shown[300];
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	char ip[INET6_ADDRSTRLEN] = "";
	int actual = 0;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		actual = ntohs(s6->sin6_port);
		snprintf(shown, sizeof(shown), "http://[%s]:%d", !strcmp(ip, "::") ? "::1" : ip, actual);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		actual = ntohs(s4->sin_port);
		snprintf(shown, sizeof(shown), "http://%s:%d", !strcmp(ip, "0.0.0.0") ? "127.0.0.1" : ip, actual);
	}
	*fd_out = fd;
	*url_out = strdup(shown);
	return 0;
}
