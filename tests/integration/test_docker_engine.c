/* The Docker addon's Engine API client against a real engine (scripts/docker-env
 * provides one): ping and version negotiation, a streamed build with labels and
 * build args, build errors, a container's life cycle, logs, label listing.
 * Skipped (77) when no engine answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "ignore.h"
#include "context.h"
#include "dkutil.h"
#include "testdb.h"
#include "util/fs.h"

static struct dk_engine *eng;
static const char *base_image;
static char tag[128];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put(const char *root, const char *rel, const char *text)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(wo_fs_write_file_atomic(path, text, strlen(text), 0644), 0);
}

struct lines {
	struct dk_buf all;
	int errors;
};

static void on_line(void *ud, int is_error, const char *line)
{
	struct lines *l = ud;
	dk_buf_printf(&l->all, "%s%s\n", is_error ? "ERROR: " : "", line);
	l->errors += is_error;
}

static int build_dir(char **out, const char *root, struct lines *l, const json_t *args, const json_t *labels)
{
	struct dk_context *c = NULL;
	if (dk_context_open(&c, root, "Dockerfile") < 0)
		return -1;
	const char *tags[] = {tag};
	struct dk_build_opts o = {
		.tags = tags, .ntags = 1, .dockerfile = "Dockerfile", .buildargs = args, .labels = labels,
		.read = dk_context_read, .read_ud = c, .line = on_line, .line_ud = l,
	};
	int rc = dk_engine_build(out, eng, &o);
	dk_context_free(c);
	return rc;
}

static void test_unavailable_fails_fast(void **state)
{
	(void)state;
	struct dk_engine *e = NULL;
	double t0 = now_s();
	int rc = dk_engine_open(&e, "unix:///nonexistent/webops-test.sock", 0);
	double dt = now_s() - t0;
	assert_int_equal(rc, DK_EUNAVAILABLE);
	assert_null(e);
	assert_true(dt < 5.0);
	assert_non_null(strstr(dk_error_last(), "Docker is not available: cannot connect to "
						 "unix:///nonexistent/webops-test.sock"));
	assert_non_null(strstr(dk_error_last(), "No such file or directory"));

	/* a tcp port nobody listens on */
	t0 = now_s();
	rc = dk_engine_open(&e, "tcp://127.0.0.1:1", 0);
	assert_int_equal(rc, DK_EUNAVAILABLE);
	assert_true(now_s() - t0 < 5.0);
	assert_non_null(strstr(dk_error_last(), "cannot connect to tcp://127.0.0.1:1"));

	assert_int_equal(dk_engine_open(&e, "ssh://host", 0), -1);
	assert_non_null(strstr(dk_error_last(), "invalid DOCKER_HOST"));
}

static void test_version_negotiated(void **state)
{
	(void)state;
	int maj = 0, min = 0;
	assert_int_equal(dk_engine_parse_version(dk_engine_api_version(eng), &maj, &min), 0);
	assert_int_equal(maj, 1);
	assert_true(min >= DK_API_MIN_MINOR && min <= DK_API_MAX_MINOR);
	json_t *v = NULL;
	assert_int_equal(dk_engine_request(&v, eng, "GET", "/version", NULL, 0), 0);
	const char *server = json_string_value(json_object_get(v, "ApiVersion"));
	assert_non_null(server);
	int smaj, smin;
	assert_int_equal(dk_engine_parse_version(server, &smaj, &smin), 0);
	/* min(server, ours) */
	assert_int_equal(min, smin < DK_API_MAX_MINOR ? smin : DK_API_MAX_MINOR);
	json_decref(v);
}

static void test_build_run_remove(void **state)
{
	(void)state;
	const char *root = wo_test_tmpdir();
	char df[512];
	snprintf(df, sizeof(df),
		 "FROM %s\nARG GREETING=unset\nRUN echo \"greeting=$GREETING\" > /www/greeting.txt\n"
		 "COPY index.html /www/index.html\nENV PORT=8080\n"
		 "CMD [\"/bin/sh\", \"-c\", \"echo started; exec /bin/busybox httpd -f -p \\\"$PORT\\\" -h /www\"]\n",
		 base_image);
	put(root, "Dockerfile", df);
	put(root, "index.html", "<h1>engine test</h1>\n");
	put(root, "secret.txt", "do not send\n");
	put(root, ".dockerignore", "secret.txt\n");

	struct lines l = {DK_BUF_INIT, 0};
	json_t *args = json_pack("{s:s}", "GREETING", "hi there");
	json_t *labels = json_pack("{s:s,s:s}", "webops.deployment", "enginetest", "webops.commit", "abc1234");
	char *image = NULL;
	int rc = build_dir(&image, root, &l, args, labels);
	if (rc != 0)
		print_error("build failed: %s\n%s", dk_error_last(), dk_buf_cstr(&l.all));
	assert_int_equal(rc, 0);
	assert_true(strncmp(image, "sha256:", 7) == 0);
	assert_non_null(strstr(dk_buf_cstr(&l.all), "Step 1/"));
	assert_int_equal(l.errors, 0);

	json_t *img = NULL;
	assert_int_equal(dk_engine_image_inspect(&img, eng, tag), 0);
	assert_string_equal(json_string_value(json_object_get(img, "Id")), image);
	json_t *ilabels = json_object_get(json_object_get(img, "Config"), "Labels");
	assert_string_equal(json_string_value(json_object_get(ilabels, "webops.deployment")), "enginetest");
	json_decref(img);

	/* a free port for the published one */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(s, (struct sockaddr *)&sa, &sl);
	int port = ntohs(sa.sin_port);
	close(s);
	char hostport[16];
	snprintf(hostport, sizeof(hostport), "%d", port);

	json_t *cfg = json_pack("{s:s, s:[s], s:{s:s}, s:{s:{}}, s:{s:{s:[{s:s,s:s}]}, s:s}}", "Image", image,
				"Env", "PORT=8080", "Labels", "webops.deployment", "enginetest", "ExposedPorts",
				"8080/tcp", "HostConfig", "PortBindings", "8080/tcp", "HostIp", "127.0.0.1", "HostPort",
				hostport, "NetworkMode", "bridge");
	assert_non_null(cfg);
	dk_engine_container_remove(eng, "webops-enginetest", 1);
	char *id = NULL;
	rc = dk_engine_container_create(&id, eng, "webops-enginetest", cfg);
	if (rc != 0)
		print_error("create: %s\n", dk_error_last());
	assert_int_equal(rc, 0);
	/* the same name again: a conflict, with the engine's message */
	char *id2 = NULL;
	assert_int_equal(dk_engine_container_create(&id2, eng, "webops-enginetest", cfg), DK_ECONFLICT);
	assert_non_null(strstr(dk_engine_last_message(eng), "already in use"));
	json_decref(cfg);

	assert_int_equal(dk_engine_container_start(eng, id), 0);
	json_t *info = NULL;
	assert_int_equal(dk_engine_container_inspect(&info, eng, id), 0);
	assert_true(json_is_true(json_object_get(json_object_get(info, "State"), "Running")));
	json_decref(info);

	/* the page answers on the published port */
	char resp[2048] = "";
	for (int i = 0; i < 50 && !strstr(resp, "engine test"); i++) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		sa.sin_port = htons((uint16_t)port);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			const char req[] = "GET / HTTP/1.0\r\n\r\n";
			if (write(s, req, sizeof(req) - 1) > 0) {
				ssize_t n, off = 0;
				while ((n = read(s, resp + off, sizeof(resp) - 1 - (size_t)off)) > 0)
					off += n;
				resp[off] = '\0';
			}
		}
		close(s);
		if (!strstr(resp, "engine test"))
			usleep(100000);
	}
	assert_non_null(strstr(resp, "engine test"));

	json_t *list = NULL;
	assert_int_equal(dk_engine_container_list(&list, eng, "webops.deployment=enginetest", 1), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);

	struct dk_buf logs = DK_BUF_INIT;
	assert_int_equal(dk_engine_container_logs(&logs, eng, id, 10), 0);
	assert_non_null(strstr(dk_buf_cstr(&logs), "started"));
	dk_buf_release(&logs);

	assert_int_equal(dk_engine_container_rename(eng, id, "webops-enginetest-previous"), 0);
	assert_int_equal(dk_engine_container_stop(eng, id, 2), 0);
	assert_int_equal(dk_engine_container_stop(eng, id, 2), 0); /* 304: already stopped */
	assert_int_equal(dk_engine_container_remove(eng, "webops-enginetest-previous", 1), 0);
	assert_int_equal(dk_engine_container_remove(eng, id, 1), DK_ENOTFOUND);
	assert_int_equal(dk_engine_container_inspect(&info, eng, id), DK_ENOTFOUND);

	assert_int_equal(dk_engine_image_remove(eng, tag, 1), 0);
	assert_int_equal(dk_engine_image_inspect(&img, eng, tag), DK_ENOTFOUND);
	json_decref(args);
	json_decref(labels);
	free(id);
	free(image);
	dk_buf_release(&l.all);
}

static void test_build_error_reaches_log(void **state)
{
	(void)state;
	const char *root = wo_test_tmpdir();
	char df[256];
	snprintf(df, sizeof(df), "FROM %s\nRUN echo about to fail && exit 3\n", base_image);
	put(root, "Dockerfile", df);
	struct lines l = {DK_BUF_INIT, 0};
	char *image = NULL;
	assert_int_equal(build_dir(&image, root, &l, NULL, NULL), -1);
	assert_null(image);
	assert_true(l.errors >= 1);
	assert_non_null(strstr(dk_buf_cstr(&l.all), "about to fail"));
	assert_non_null(strstr(dk_error_last(), "non-zero code: 3"));
	dk_buf_release(&l.all);

	/* a Dockerfile the engine refuses outright (HTTP 400): its own words,
	 * in the error and the log, not "HTTP 400" */
	root = wo_test_tmpdir();
	snprintf(df, sizeof(df), "FROM %s\nAPK add curl\n", base_image);
	put(root, "Dockerfile", df);
	l.all = (struct dk_buf)DK_BUF_INIT;
	l.errors = 0;
	assert_int_equal(build_dir(&image, root, &l, NULL, NULL), -1);
	if (!strstr(dk_error_last(), "unknown instruction"))
		print_error("refused build: %s; log: %s\n", dk_error_last(), dk_buf_cstr(&l.all));
	assert_non_null(strstr(dk_error_last(), "unknown instruction"));
	assert_null(strstr(dk_error_last(), "HTTP 400"));
	assert_true(l.errors >= 1);
	assert_non_null(strstr(dk_buf_cstr(&l.all), "unknown instruction"));
	dk_buf_release(&l.all);

	/* an image that is not there and cannot be pulled */
	root = wo_test_tmpdir();
	put(root, "Dockerfile", "FROM webops-test/does-not-exist:never\n");
	l.all = (struct dk_buf)DK_BUF_INIT;
	assert_int_equal(build_dir(&image, root, &l, NULL, NULL), -1);
	assert_true(l.errors >= 1);
	dk_buf_release(&l.all);
}

/* MOCK, named as such: an engine that goes away in the middle of a build.
 * The real one is shared by every test running at once and cannot be
 * stopped for one of them, so a unix socket that answers /_ping like an
 * engine, then starts a build's answer and hangs up, stands in for it. */
static void *fake_engine(void *arg)
{
	int ls = *(int *)arg;
	for (int n = 0; n < 2; n++) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			break;
		char req[65536];
		ssize_t r = read(c, req, sizeof(req) - 1);
		req[r > 0 ? r : 0] = '\0';
		if (strstr(req, "/_ping")) {
			const char *a = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK";
			(void)!write(c, a, strlen(a));
			/* curl may keep the connection for the build: serve it here */
			r = read(c, req, sizeof(req) - 1);
		}
		const char *b = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
				"{\"stream\":\"Step 1/2 : FROM base\\n\"}\r\n";
		(void)!write(c, b, strlen(b));
		close(c);
	}
	return NULL;
}

static void test_engine_gone_mid_build(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof(path), "%s/fake-engine.sock", wo_test_tmpdir());
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 4), 0);
	pthread_t t;
	pthread_create(&t, NULL, fake_engine, &ls);
	char host[300];
	snprintf(host, sizeof(host), "unix://%s", path);
	struct dk_engine *saved = eng, *fake = NULL;
	assert_int_equal(dk_engine_open(&fake, host, 0), 0);
	eng = fake;
	const char *root = wo_test_tmpdir();
	put(root, "Dockerfile", "FROM base\n");
	struct lines l = {DK_BUF_INIT, 0};
	char *image = NULL;
	assert_int_equal(build_dir(&image, root, &l, NULL, NULL), -1);
	eng = saved;
	const char *msg = dk_error_last();
	assert_non_null(strstr(msg, "closed the connection during the build"));
	dk_engine_free(fake);
	shutdown(ls, SHUT_RDWR);
	close(ls);
	pthread_join(t, NULL);
	dk_buf_release(&l.all);
}

static int setup(void **state)
{
	(void)state;
	const char *host = getenv("DOCKER_HOST");
	if (dk_engine_open(&eng, host, 0) != 0) {
		fprintf(stderr, "skipped: %s (run scripts/docker-env)\n", dk_error_last());
		exit(77);
	}
	base_image = getenv("WEBOPS_TEST_BASE_IMAGE");
	if (!base_image || !*base_image)
		base_image = "webops-test/busybox:latest";
	json_t *img = NULL;
	if (dk_engine_image_inspect(&img, eng, base_image) != 0) {
		fprintf(stderr, "skipped: base image '%s' missing (run scripts/docker-env)\n", base_image);
		exit(77);
	}
	json_decref(img);
	snprintf(tag, sizeof(tag), "webops-test/engine:%d", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dk_engine_container_remove(eng, "webops-enginetest", 1);
	dk_engine_image_remove(eng, tag, 1);
	dk_engine_free(eng);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unavailable_fails_fast),
		cmocka_unit_test(test_version_negotiated),
		cmocka_unit_test(test_build_run_remove),
		cmocka_unit_test(test_build_error_reaches_log),
		cmocka_unit_test(test_engine_gone_mid_build),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
