/* Benchmark: redeploy after one new commit on a repository of N commits
 * (default 2000). Measures webops' fetch+checkout (libgit2, cached clone)
 * for the first clone and for the redeploy, against `git clone` of the same
 * repository measured in the same run; prints ratios (machines are noisy,
 * so only ratios from one run mean anything). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "git/fetch.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/proc.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void run(char *const argv[], const char *cwd)
{
	int st;
	struct wo_proc_opts o = { .out_fd = -1, .cwd = cwd };
	if (wo_proc_run(&st, NULL, argv, &o) < 0 || st != 0) {
		fprintf(stderr, "bench: %s failed\n", argv[0]);
		exit(1);
	}
}

/* A repository of n commits, each touching a few files, made with fast-import. */
static void make_repo(const char *dir, int n)
{
	char *init[] = { "git", "init", "-q", "-b", "main", (char *)dir, NULL };
	run(init, NULL);
	struct wo_buf s = WO_BUF_INIT;
	for (int i = 1; i <= n; i++) {
		wo_buf_printf(&s, "commit refs/heads/main\nmark :%d\ncommitter Bench <b@example.com> %d +0000\n", i,
			      1700000000 + i);
		char msg[64];
		int ml = snprintf(msg, sizeof(msg), "commit %d", i);
		wo_buf_printf(&s, "data %d\n%s\n", ml, msg);
		if (i > 1)
			wo_buf_printf(&s, "from :%d\n", i - 1);
		for (int f = 0; f < 3; f++) {
			char body[256];
			int bl = snprintf(body, sizeof(body), "file %d of dir %d, version %d\n%*s\n", f, i % 50, i, 80, "x");
			wo_buf_printf(&s, "M 644 inline src/d%02d/f%d.txt\ndata %d\n%s\n", i % 50, f, bl, body);
		}
	}
	char path[512];
	snprintf(path, sizeof(path), "%s.fi", dir);
	wo_fs_write_file_atomic(path, s.ptr, s.len, 0644);
	wo_buf_release(&s);
	/* fast-import reads stdin: feed it from the file without a shell */
	pid_t pid = fork();
	if (pid == 0) {
		freopen(path, "r", stdin);
		freopen("/dev/null", "w", stdout);
		execlp("git", "git", "-C", dir, "fast-import", "--quiet", (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	char *co[] = { "git", "-C", (char *)dir, "checkout", "-q", "-f", "main", NULL };
	run(co, NULL);
	unlink(path);
}

static double sync_once(const char *url, const char *cache, const char *src, struct wo_git_result *r)
{
	struct wo_git_sync_opts o = { .url = url, .cache_dir = cache, .source_dir = src, .branch = "main" };
	double t0 = now_ms();
	if (wo_git_sync(r, &o) < 0) {
		fprintf(stderr, "bench: %s\n", wo_error_last());
		exit(1);
	}
	return now_ms() - t0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2000;
	int reps = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
	char tmpl[] = "/tmp/webops-bench-XXXXXX";
	const char *t = mkdtemp(tmpl);
	char repo[256], cache[256], src[256], gitclone[256];
	snprintf(repo, sizeof(repo), "%s/repo", t);
	snprintf(cache, sizeof(cache), "%s/cache.git", t);
	snprintf(src, sizeof(src), "%s/src", t);
	make_repo(repo, n);
	char url[300];
	snprintf(url, sizeof(url), "file://%s", repo);

	double first[16], redeploy[16], clone[16];
	struct wo_git_result r;
	size_t objs_first = 0, objs_redeploy = 0;
	if (reps > 16)
		reps = 16;
	for (int i = 0; i < reps; i++) {
		wo_fs_rm_rf(cache);
		first[i] = sync_once(url, cache, src, &r);
		objs_first = r.received_objects;
		/* one new commit touching one file */
		struct wo_buf p = WO_BUF_INIT;
		wo_buf_printf(&p, "%s/src/d00/f0.txt", repo);
		char body[64];
		int bl = snprintf(body, sizeof(body), "changed in rep %d\n", i);
		wo_fs_write_file_atomic(p.ptr, body, (size_t)bl, 0644);
		wo_buf_release(&p);
		char *ci[] = { "git", "-C", repo, "-c", "user.name=B", "-c", "user.email=b@e", "commit", "-qam", "one more", NULL };
		run(ci, NULL);
		redeploy[i] = sync_once(url, cache, src, &r);
		objs_redeploy = r.received_objects;
		/* baseline: git clone of the same repository (with checkout), same transport */
		snprintf(gitclone, sizeof(gitclone), "%s/clone%d", t, i);
		char *gc[] = { "git", "clone", "-q", "--no-hardlinks", url, gitclone, NULL };
		double t0 = now_ms();
		run(gc, NULL);
		clone[i] = now_ms() - t0;
		wo_fs_rm_rf(gitclone);
	}
	qsort(first, (size_t)reps, sizeof(double), cmp);
	qsort(redeploy, (size_t)reps, sizeof(double), cmp);
	qsort(clone, (size_t)reps, sizeof(double), cmp);
	double mf = first[reps / 2], mr = redeploy[reps / 2], mc = clone[reps / 2];
	printf("bench_git_fetch: repository of %d commits (+1 per rep), %d reps, medians\n", n, reps);
	printf("  webops first clone      %8.1f ms  (%zu objects)\n", mf, objs_first);
	printf("  webops redeploy         %8.1f ms  (%zu objects fetched)\n", mr, objs_redeploy);
	printf("  git clone (baseline)    %8.1f ms\n", mc);
	printf("  redeploy / first clone  %8.3f\n", mr / mf);
	printf("  redeploy / git clone    %8.3f\n", mr / mc);
	printf("  first clone / git clone %8.3f\n", mf / mc);
	wo_fs_rm_rf(t);
	return 0;
}
