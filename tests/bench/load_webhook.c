/* The load driver of bench_webhook.sh: sends exactly COUNT POST requests of
 * one body to http://127.0.0.1:PORT/PATH over CONNS keep-alive connections
 * (a thread each), every request with a header of its own
 * (X-GitHub-Delivery: TAG-NNNNNNNN), and prints one line:
 *   requests=N ok=N other=N errors=N seconds=S rps=R p50_ms=A p99_ms=B
 * wrk cannot stop after a number of requests, and a delivery id per request
 * is what a forge sends. Usage:
 *   load_webhook PORT PATH BODYFILE SIGNATURE TAG COUNT CONNS */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static const char *path, *sig, *tag;
static char *body;
static size_t body_len;
static long count;
static atomic_long next_req, ok, other, errors;
static double *lat_ms;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int connect_once(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one response; returns its status, 0 when the server closes after
 * it (Connection: close), -1 on an error. */
static int read_response(int fd, int *closes)
{
	char buf[16384];
	size_t have = 0;
	char *end = NULL;
	while (!end) {
		if (have == sizeof(buf) - 1)
			return -1;
		ssize_t r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	long clen = 0;
	*closes = 0;
	for (char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
		if (!strncasecmp(l + 2, "content-length:", 15))
			clen = strtol(l + 17, NULL, 10);
		if (!strncasecmp(l + 2, "connection: close", 17))
			*closes = 1;
	}
	long left = clen - (long)(have - (size_t)(end + 4 - buf));
	while (left > 0) {
		ssize_t r = recv(fd, buf, sizeof(buf) < (size_t)left ? sizeof(buf) : (size_t)left, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		left -= r;
	}
	return status;
}

static void *worker(void *arg)
{
	(void)arg;
	int fd = -1;
	char head[1024];
	for (;;) {
		long i = atomic_fetch_add(&next_req, 1);
		if (i >= count)
			break;
		if (fd < 0 && (fd = connect_once()) < 0) {
			atomic_fetch_add(&errors, 1);
			lat_ms[i] = -1;
			continue;
		}
		int hn = snprintf(head, sizeof(head),
				  "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
				  "Accept: */*\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n"
				  "X-GitHub-Hook-ID: 292430182\r\nX-GitHub-Delivery: %s-%08ld\r\n"
				  "X-Hub-Signature-256: %s\r\nContent-Length: %zu\r\n\r\n",
				  path, port, tag, i, sig, body_len);
		double t0 = now_ms();
		int closes = 0, st = -1;
		if (send_all(fd, head, (size_t)hn) == 0 && send_all(fd, body, body_len) == 0)
			st = read_response(fd, &closes);
		lat_ms[i] = now_ms() - t0;
		if (st < 0) {
			atomic_fetch_add(&errors, 1);
			lat_ms[i] = -1;
			close(fd);
			fd = -1;
			continue;
		}
		atomic_fetch_add(st >= 200 && st < 300 ? &ok : &other, 1);
		if (closes) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fputs("usage: load_webhook PORT PATH BODYFILE SIGNATURE TAG COUNT CONNS\n", stderr);
		return 2;
	}
	port = atoi(argv[1]);
	path = argv[2];
	sig = argv[4];
	tag = argv[5];
	count = atol(argv[6]);
	int conns = atoi(argv[7]);
	if (port <= 0 || count <= 0 || conns <= 0 || conns > 1024) {
		fputs("load_webhook: bad PORT, COUNT or CONNS\n", stderr);
		return 2;
	}
	FILE *f = fopen(argv[3], "rb");
	if (!f) {
		perror(argv[3]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	body_len = (size_t)ftell(f);
	rewind(f);
	body = malloc(body_len + 1);
	if (!body || fread(body, 1, body_len, f) != body_len) {
		fputs("load_webhook: cannot read the body\n", stderr);
		return 1;
	}
	fclose(f);
	lat_ms = calloc((size_t)count, sizeof(double));
	pthread_t *t = calloc((size_t)conns, sizeof(pthread_t));
	if (!lat_ms || !t)
		return 1;
	double t0 = now_ms();
	for (int i = 0; i < conns; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < conns; i++)
		pthread_join(t[i], NULL);
	double secs = (now_ms() - t0) / 1000.0;
	long n = 0;
	for (long i = 0; i < count; i++)
		if (lat_ms[i] >= 0)
			lat_ms[n++] = lat_ms[i];
	qsort(lat_ms, (size_t)n, sizeof(double), cmp_double);
	double p50 = n ? lat_ms[(n - 1) / 2] : 0, p99 = n ? lat_ms[(long)((n - 1) * 0.99)] : 0;
	printf("requests=%ld ok=%ld other=%ld errors=%ld seconds=%.3f rps=%.0f p50_ms=%.2f p99_ms=%.2f\n", count,
	       (long)ok, (long)other, (long)errors, secs, secs > 0 ? (double)(ok + other) / secs : 0, p50, p99);
	free(t);
	free(lat_ms);
	free(body);
	return errors ? 1 : 0;
}
