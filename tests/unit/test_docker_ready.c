/* The Docker addon's readiness: what is probed (HEALTHCHECK, HTTP health
 * path, TCP, grace) and where (the published binding read from an inspect
 * document), the verdict on an HTTP answer, and real probes against local
 * sockets: a listener, a closed port, one that accepts and closes at once
 * (as Docker's userland proxy does when nothing listens in the container),
 * and HTTP servers answering 200, 503 and a body without the expected text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ready.h"
#include "dkutil.h"
#include "testdb.h"

static json_t *inspect(const char *ports_json, const char *net, const char *health_test)
{
	json_t *ports = json_loads(ports_json, 0, NULL);
	assert_non_null(ports);
	json_t *cfg = json_object();
	if (health_test)
		json_object_set_new(cfg, "Healthcheck", json_pack("{s:[s,s]}", "Test", health_test, "true"));
	return json_pack("{s:{s:s},s:{s:o},s:o}", "HostConfig", "NetworkMode", net, "NetworkSettings", "Ports", ports,
			 "Config", cfg);
}

static void test_target(void **state)
{
	(void)state;
	struct dk_ready_target t;
	char addr[96];

	/* proxy mode: loopback, an engine-picked port */
	json_t *i = inspect("{\"8000/tcp\": [{\"HostIp\": \"127.0.0.1\", \"HostPort\": \"49153\"}]}", "bridge", NULL);
	assert_int_equal(dk_ready_target(&t, i, 8000, NULL), 0);
	assert_string_equal(t.host, "127.0.0.1");
	assert_int_equal(t.port, 49153);
	assert_int_equal(t.container_port, 8000);
	dk_ready_address(addr, sizeof(addr), &t);
	assert_string_equal(addr, "127.0.0.1:49153");
	json_decref(i);

	/* all interfaces, v4 and v6: loopback v4; a remote engine's host instead */
	i = inspect("{\"80/tcp\": [{\"HostIp\": \"::\", \"HostPort\": \"18080\"}, {\"HostIp\": \"0.0.0.0\", "
		    "\"HostPort\": \"18080\"}], \"53/udp\": [{\"HostIp\": \"\", \"HostPort\": \"5353\"}]}",
		    "bridge", NULL);
	assert_int_equal(dk_ready_target(&t, i, 80, NULL), 0);
	assert_string_equal(t.host, "127.0.0.1");
	assert_int_equal(t.port, 18080);
	assert_int_equal(dk_ready_target(&t, i, 80, "10.0.0.5"), 0);
	assert_string_equal(t.host, "10.0.0.5");
	/* the app's port unknown (0) or not published: the lowest tcp port, never udp */
	assert_int_equal(dk_ready_target(&t, i, 0, NULL), 0);
	assert_int_equal(t.container_port, 80);
	assert_int_equal(dk_ready_target(&t, i, 9999, NULL), 0);
	assert_int_equal(t.port, 18080);
	json_decref(i);

	/* only v6 on one address */
	i = inspect("{\"80/tcp\": [{\"HostIp\": \"::1\", \"HostPort\": \"18081\"}]}", "bridge", NULL);
	assert_int_equal(dk_ready_target(&t, i, 80, NULL), 0);
	assert_string_equal(t.host, "::1");
	dk_ready_address(addr, sizeof(addr), &t);
	assert_string_equal(addr, "[::1]:18081");
	json_decref(i);

	/* exposed but not published, nothing at all, or only udp: nothing to probe */
	i = inspect("{\"80/tcp\": null, \"53/udp\": [{\"HostIp\": \"\", \"HostPort\": \"5353\"}]}", "bridge", NULL);
	assert_int_equal(dk_ready_target(&t, i, 80, NULL), -1);
	assert_int_equal(t.port, 0);
	json_decref(i);

	/* host network: the app's port on the host itself */
	i = inspect("{}", "host", NULL);
	assert_int_equal(dk_ready_target(&t, i, 8080, NULL), 0);
	assert_string_equal(t.host, "127.0.0.1");
	assert_int_equal(t.port, 8080);
	assert_int_equal(dk_ready_target(&t, i, 0, NULL), -1);
	json_decref(i);
}

static void test_kind(void **state)
{
	(void)state;
	struct dk_ready_target t = {"127.0.0.1", 49153, 8000};
	struct dk_ready_target none = {"", 0, 0};
	assert_int_equal(dk_ready_kind(1, "/health", &t), DK_READY_HEALTHCHECK);
	assert_int_equal(dk_ready_kind(0, "/health", &t), DK_READY_HTTP);
	assert_int_equal(dk_ready_kind(0, NULL, &t), DK_READY_TCP);
	assert_int_equal(dk_ready_kind(0, "", &t), DK_READY_TCP);
	assert_int_equal(dk_ready_kind(0, "/health", &none), DK_READY_GRACE);
	assert_int_equal(dk_ready_kind(0, NULL, NULL), DK_READY_GRACE);

	json_t *i = inspect("{}", "bridge", "CMD");
	assert_int_equal(dk_ready_has_healthcheck(i), 1);
	json_decref(i);
	i = inspect("{}", "bridge", "NONE");
	assert_int_equal(dk_ready_has_healthcheck(i), 0);
	json_decref(i);
	i = inspect("{}", "bridge", NULL);
	assert_int_equal(dk_ready_has_healthcheck(i), 0);
	json_decref(i);

	for (int a = 1; a <= 8; a++)
		assert_int_equal(dk_ready_delay_ms(a), 250);
	assert_int_equal(dk_ready_delay_ms(9), 500);
	assert_int_equal(dk_ready_delay_ms(24), 500);
	assert_int_equal(dk_ready_delay_ms(25), 1000);
}

static void test_http_settings_and_verdict(void **state)
{
	(void)state;
	struct dk_ready_http h;
	json_t *d = json_loads("{\"domain\": \"example.com\", \"health\": {\"path\": \"/health\", \"status\": 204, "
			       "\"body\": \"ok\", \"timeout_s\": 3}}", 0, NULL);
	assert_int_equal(dk_ready_http_from_deployment(&h, d), 1);
	assert_string_equal(h.path, "/health");
	assert_int_equal(h.expect_status, 204);
	assert_string_equal(h.expect_body, "ok");
	assert_string_equal(h.host_header, "example.com");
	assert_int_equal(h.timeout_ms, 3000);
	json_decref(d);
	/* no health path: GET / for an app that speaks HTTP (the default), any
	 * status below 500; a TCP probe only for an app declared tcp */
	d = json_loads("{\"health\": {\"path\": null, \"status\": null}}", 0, NULL);
	assert_int_equal(dk_ready_http_from_deployment(&h, d), 1);
	assert_string_equal(h.path, "/");
	assert_true(h.below_500);
	json_decref(d);
	d = json_loads("{\"addon_fields\": {\"docker\": {\"docker_protocol\": \"tcp\"}}}", 0, NULL);
	assert_int_equal(dk_ready_http_from_deployment(&h, d), 0);
	assert_null(h.path);
	json_decref(d);

	char why[256];
	struct dk_ready_http any = {"/health", 0, NULL, NULL, 5000, 0};
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), "connection refused", 0, NULL, 0, &any), 0);
	assert_string_equal(why, "connection refused");
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 200, "", 0, &any), 1);
	assert_string_equal(why, "status 200");
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 302, "", 0, &any), 1);
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 503, "", 0, &any), 0);
	assert_string_equal(why, "status 503 (expected a status below 400)");
	struct dk_ready_http exact = {"/health", 204, "ok", NULL, 5000, 0};
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 200, "ok", 2, &exact), 0);
	assert_string_equal(why, "status 200 (expected 204)");
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 204, "nope", 4, &exact), 0);
	assert_non_null(strstr(why, "does not contain 'ok'"));
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 204, "all ok", 6, &exact), 1);
	struct dk_ready_http dflt = {"/", 0, NULL, NULL, 5000, 1};
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 404, "", 0, &dflt), 1);
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 302, "", 0, &dflt), 1);
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 500, "", 0, &dflt), 0);
	assert_string_equal(why, "status 500 (a server error: the app does not run as it should)");
	assert_int_equal(dk_ready_http_verdict(why, sizeof(why), NULL, 502, "", 0, &dflt), 0);
}

/* A listening socket on 127.0.0.1 with an ephemeral port. */
static int listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A child that accepts connections forever: answers with reply (NULL:
 * closes each at once, as the userland proxy does with nothing behind it). */
static pid_t serve(int fd, const char *reply)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (reply) {
				char buf[2048];
				ssize_t n = read(c, buf, sizeof(buf));
				(void)n;
				ssize_t w = write(c, reply, strlen(reply));
				(void)w;
			}
			close(c);
		}
	}
	return pid;
}

static void stop(pid_t pid, int fd)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fd);
}

static void test_probes(void **state)
{
	(void)state;
	char why[256];
	int port;
	struct dk_ready_target t = {"127.0.0.1", 0, 80};

	/* a listener that keeps the connection: ready */
	int fd = listener(&port);
	t.port = port;
	assert_int_equal(dk_ready_probe_tcp(why, sizeof(why), &t, 2000), 1);
	assert_string_equal(why, "connected");
	close(fd);

	/* nothing listens: refused */
	assert_int_equal(dk_ready_probe_tcp(why, sizeof(why), &t, 2000), 0);
	assert_string_equal(why, "connection refused");
	struct dk_ready_http h = {"/health", 0, NULL, NULL, 2000, 0};
	assert_int_equal(dk_ready_probe_http(why, sizeof(why), &t, &h), 0);
	assert_string_equal(why, "connection refused");

	/* accepted, closed at once: not ready */
	fd = listener(&port);
	t.port = port;
	pid_t pid = serve(fd, NULL);
	assert_int_equal(dk_ready_probe_tcp(why, sizeof(why), &t, 2000), 0);
	assert_non_null(strstr(why, "closed at once"));
	assert_int_equal(dk_ready_probe_http(why, sizeof(why), &t, &h), 0);
	stop(pid, fd);

	/* HTTP answers */
	fd = listener(&port);
	t.port = port;
	pid = serve(fd, "HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nall ok\n");
	assert_int_equal(dk_ready_probe_http(why, sizeof(why), &t, &h), 1);
	assert_string_equal(why, "status 200");
	struct dk_ready_http body = {"/health", 200, "all ok", "example.com", 2000, 0};
	assert_int_equal(dk_ready_probe_http(why, sizeof(why), &t, &body), 1);
	struct dk_ready_http other = {"/health", 0, "ready", NULL, 2000, 0};
	assert_int_equal(dk_ready_probe_http(why, sizeof(why), &t, &other), 0);
	assert_non_null(strstr(why, "does not contain 'ready'"));
	stop(pid, fd);

	fd = listener(&port);
	t.port = port;
	pid = serve(fd, "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(dk_ready_probe_http(why, sizeof(why), &t, &h), 0);
	assert_string_equal(why, "status 503 (expected a status below 400)");
	stop(pid, fd);

	/* not an address */
	struct dk_ready_target bad = {"example.com", 80, 80};
	assert_int_equal(dk_ready_probe_tcp(why, sizeof(why), &bad, 500), 0);
	assert_non_null(strstr(why, "not an IP address"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_kind),
		cmocka_unit_test(test_http_settings_and_verdict),
		cmocka_unit_test(test_probes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
