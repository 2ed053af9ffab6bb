/* Fetching a deployment's source with libgit2: a cached bare clone per
 * deployment that later fetches update incrementally, and a checkout of the
 * exact commit into the source directory the hooks see. */
#ifndef WO_GIT_FETCH_H
#define WO_GIT_FETCH_H

#include <stddef.h>

struct wo_git_creds {
	const char *https_username; /* default "x-access-token" */
	const char *https_token;
	const char *ssh_username;   /* default: from the URL, else "git" */
	const char *ssh_private_key; /* PEM/OpenSSH text */
	/* the origin (util/url.h wo_url_origin) they were stored for: they are
	 * offered only to a URL of that origin, redirects included; NULL: never */
	const char *bound;
};

struct wo_git_sync_opts {
	const char *url;
	const char *cache_dir;   /* bare repository, created on first use */
	const char *source_dir;  /* replaced by a checkout of the resolved commit */
	const char *branch;      /* deployed when ref is NULL */
	const char *ref;         /* branch, tag or commit; NULL: branch head */
	const struct wo_git_creds *creds; /* may be NULL */
	/* bounds; 0: none. What the repository sends (its pack), what the
	 * checkout writes (the commit's files, counted before writing any),
	 * and, in the child of wo_git_sync_child, its address space
	 * (setrlimit), which a crafted pack or a huge blob would exhaust */
	long long max_fetch_bytes;
	long long max_checkout_bytes;
	long long max_memory_bytes;
	void (*log)(void *ud, const char *line);
	int (*cancelled)(void *ud);
	/* the remote sent something (progress, a message, an auth challenge) */
	void (*progress)(void *ud);
	/* wo_git_sync_child: called once the child is fetching, for the
	 * caller to do meanwhile what does not depend on the fetch */
	void (*meanwhile)(void *ud);
	void *ud;
};

struct wo_git_fetcher;

/* The branch the repository at url names as its default (where its HEAD
 * points), asked of the remote itself. *out is malloc'd. */
int wo_git_default_branch(char **out, const char *url, const struct wo_git_creds *creds);

/* Bounds of a fetch in a child process; 0 takes the default. */
struct wo_git_limits {
	int timeout_s; /* the whole fetch and checkout; default 600 */
	int stall_s;   /* nothing heard from the remote for this long; default 60 */
};

struct wo_git_result {
	char sha[41];
	char subject[512];
	char author[256];
	int first_clone;
	size_t received_objects;
	size_t received_bytes;
	long fetch_ms, checkout_ms;
};

/* Fetches and checks out; on failure the error says what went wrong in words
 * ("repository not found", "authentication failed", "branch 'x' not found"). */
int wo_git_sync(struct wo_git_result *out, const struct wo_git_sync_opts *opts);
/* The same in a child process (its own process group) that is killed when
 * cancelled() turns true (asked at least every 50 ms, so it may serve as
 * the caller's tick), when the remote stays silent for stall_s ("the
 * repository at 'URL' stopped answering (no data for N s)") or after
 * timeout_s. log() is called here, in the caller's process. */
int wo_git_sync_child(struct wo_git_result *out, const struct wo_git_sync_opts *opts,
		      const struct wo_git_limits *limits, struct wo_git_fetcher *fetcher);
/* A fetch process made in advance (a fork off the path of a run), for
 * wo_git_sync_child, which takes it (NULL: it forks then). Made after
 * git_libgit2_init, it starts with libgit2 ready. It dies with its parent;
 * wo_git_fetcher_free ends one not used. */
int wo_git_fetcher_start(struct wo_git_fetcher **out);
/* Whether commit is current, or an ancestor of it, in deployment dep_id's
 * cached clone (DATA/repos/ID.git): 1 yes; 0 no, or not known there (not
 * fetched yet, or no clone). For a webhook: such a push is older than what
 * runs. */
int wo_git_cached_is_behind(const char *data_dir, long long dep_id, const char *current, const char *commit);
void wo_git_fetcher_free(struct wo_git_fetcher *f);

#endif
