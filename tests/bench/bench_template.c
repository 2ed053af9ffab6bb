/* Benchmark: renders a page-like template (layout through inheritance, a
 * 1,000-row table, HTML escaping) and compares it with memcpy of the same size.
 *   build/bench/bench_template [ITERATIONS]   (default 300) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "template/template.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

#define ROWS 1000

static const char layout[] =
	"<!doctype html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"  <meta charset=\"utf-8\">\n"
	"  <title>{{$title}}webops{{/title}} - webops</title>\n"
	"  <link rel=\"stylesheet\" href=\"/static/webops.css\">\n"
	"</head>\n"
	"<body>\n"
	"  <nav>\n"
	"    <a href=\"/\">Deployments</a> <a href=\"/addons\">Addons</a>\n"
	"    {{#user}}<span class=\"user\">{{name}}</span>{{/user}}\n"
	"  </nav>\n"
	"  <main>\n"
	"    {{$content}}\n"
	"    <p>Nothing here.</p>\n"
	"    {{/content}}\n"
	"  </main>\n"
	"  <footer>webops {{version}}</footer>\n"
	"</body>\n"
	"</html>\n";

static const char badge[] = "<span class=\"badge badge-{{status}}\">{{status}}</span>";

static const char page[] =
	"{{<layout}}\n"
	"{{$title}}Deployments ({{count}}){{/title}}\n"
	"{{$content}}\n"
	"<h1>Deployments</h1>\n"
	"<table class=\"deployments\">\n"
	"  <tr><th>Name</th><th>Repository</th><th>Branch</th><th>Commit</th><th>Status</th><th>Updated</th></tr>\n"
	"  {{#deployments}}\n"
	"  <tr id=\"d-{{id}}\">\n"
	"    <td><a href=\"/deployments/{{id}}\">{{name}}</a></td>\n"
	"    <td>{{repo}}</td>\n"
	"    <td>{{branch}}</td>\n"
	"    <td><code>{{commit}}</code></td>\n"
	"    <td>{{>badge}}</td>\n"
	"    <td>{{updated}}</td>\n"
	"  </tr>\n"
	"  {{/deployments}}\n"
	"</table>\n"
	"{{^deployments}}<p>No deployments yet.</p>{{/deployments}}\n"
	"{{/content}}\n"
	"{{/layout}}\n";

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static json_t *make_data(void)
{
	static const char *const status[] = { "healthy", "deploying", "failed", "stopped" };
	json_t *rows = json_array();
	for (int i = 0; i < ROWS; i++) {
		char name[64], repo[96], commit[48], updated[32];
		snprintf(name, sizeof(name), i % 10 == 0 ? "shop <%d> & co" : "service-%d", i);
		snprintf(repo, sizeof(repo), "https://git.example.com/team/service-%d.git", i);
		snprintf(commit, sizeof(commit), "%08x%08x", (unsigned)i * 2654435761u, (unsigned)i);
		snprintf(updated, sizeof(updated), "2024-05-%02d 12:%02d:00", 1 + i % 28, i % 60);
		json_array_append_new(rows, json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "id", i,
						       "name", name, "repo", repo, "branch",
						       i % 3 ? "main" : "release/2024\"q2\"", "commit", commit,
						       "status", status[i % 4], "updated", updated));
	}
	return json_pack("{s:o, s:i, s:{s:s}, s:s}", "deployments", rows, "count", ROWS, "user", "name",
			 "admin", "version", "0.1.0");
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 300;
	struct wo_tpl_env *env;
	const struct wo_tpl *tpl;
	struct wo_buf out = WO_BUF_INIT;
	if (iters < 1)
		iters = 1;

	if (wo_tpl_env_new(&env, NULL) < 0 || wo_tpl_env_add(env, "layout", layout) < 0 ||
	    wo_tpl_env_add(env, "badge", badge) < 0 || wo_tpl_env_add(env, "page", page) < 0 ||
	    wo_tpl_env_get(&tpl, env, "page") < 0) {
		fprintf(stderr, "bench_template: %s\n", wo_error_last());
		return 1;
	}
	json_t *data = make_data();

	/* warm up, and learn the output size */
	for (int i = 0; i < 3; i++) {
		wo_buf_clear(&out);
		if (wo_tpl_render(&out, env, tpl, data, NULL) < 0) {
			fprintf(stderr, "bench_template: %s\n", wo_error_last());
			return 1;
		}
	}
	size_t size = out.len;

	double t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		wo_buf_clear(&out);
		if (wo_tpl_render(&out, env, tpl, data, NULL) < 0) {
			fprintf(stderr, "bench_template: %s\n", wo_error_last());
			return 1;
		}
	}
	double render_ns = (now_ns() - t0) / (double)iters;

	/* baseline: copying the same number of bytes, the floor for any renderer */
	char *src = malloc(size), *dst = malloc(size);
	if (!src || !dst)
		return 1;
	memcpy(src, out.ptr, size);
	memcpy(dst, src, size);
	t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		memcpy(dst, src, size);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
	}
	double copy_ns = (now_ns() - t0) / (double)iters;

	double mb = (double)size / 1e6;
	printf("bench_template: page with %d rows, %zu bytes of output, %ld iterations\n", ROWS, size, iters);
	printf("  render : %12.0f ns/render  %9.1f MB/s\n", render_ns, mb / (render_ns / 1e9));
	printf("  memcpy : %12.0f ns/copy    %9.1f MB/s\n", copy_ns, mb / (copy_ns / 1e9));
	printf("  ratio  : render takes %.1fx the time of memcpy\n", render_ns / copy_ns);

	free(src);
	free(dst);
	json_decref(data);
	wo_buf_release(&out);
	wo_tpl_env_free(env);
	return 0;
}
