/* The repositories webops hosts for `git push`: for deployment NAME, the bare
 * repository people push to and clone from ($WEBOPS_DATA_DIR/git/NAME.git,
 * whose pre-receive hook is `webops git-hook NAME`) and a bare staging
 * repository ($WEBOPS_DATA_DIR/git/.staging/NAME.git) that deploy runs fetch
 * pushed commits from. Names are validated deployment names, so no path
 * built here leaves $WEBOPS_DATA_DIR/git. */
#ifndef WO_GIT_HOSTED_H
#define WO_GIT_HOSTED_H

#include "util/buf.h"

/* Absolute path of $data_dir/git (created, mode 0700, when missing) into
 * out (cleared first). */
int wo_git_hosted_root(struct wo_buf *out, const char *data_dir);
/* Absolute paths of NAME's hosted and staging repositories (not created). */
int wo_git_hosted_path(struct wo_buf *out, const char *data_dir, const char *name);
int wo_git_hosted_staging_path(struct wo_buf *out, const char *data_dir, const char *name);
/* file:///... URL of the staging repository: what push runs fetch from, and
 * the repo_url of a push-only deployment. */
int wo_git_hosted_staging_url(struct wo_buf *out, const char *data_dir, const char *name);

/* Creates both repositories when missing (libgit2) and brings the hosted
 * one up to date: HEAD -> refs/heads/branch, http.receivepack=true, and a
 * pre-receive hook running our own `webops git-hook NAME` (the program next
 * to the running one). Cheap when everything is already in place. */
int wo_git_hosted_ensure(const char *data_dir, const char *name, const char *branch);

/* Removes both repositories; missing ones are not an error. */
int wo_git_hosted_remove(const char *data_dir, const char *name);

/* After a failed deploy of a push: when the staging repository's branch
 * still points at new_sha, points it back at old_sha (or deletes it when
 * old_sha is all zeros), so a later `webops deploy` does not pick the
 * refused commit. */
int wo_git_hosted_staging_restore(const char *data_dir, const char *name, const char *branch, const char *new_sha,
				  const char *old_sha);

/* The commit refs/heads/branch of NAME's hosted repository points at, as
 * 40/64 hex digits, or "" when the branch does not exist. */
int wo_git_hosted_branch_sha(char out[65], const char *data_dir, const char *name, const char *branch);

/* Pushes to one deployment are deployed one at a time: an exclusive lock
 * (flock) on a file of its hosted repository, held by the pre-receive hook
 * until it exits. *fd_out stays open (O_CLOEXEC) while it is held. nonblock:
 * fail with *busy set instead of waiting. The file also carries the commit
 * the branch is about to point at ("pending"), which the holder writes just
 * before it lets git update the branch. */
int wo_git_hosted_lock(int *fd_out, int *busy, const char *data_dir, const char *name, int nonblock);
/* Records (in the locked file) the commit the branch is about to point at. */
int wo_git_hosted_set_pending(int fd, const char *sha);
/* The pending commit recorded less than max_age_s seconds ago, or "". */
void wo_git_hosted_get_pending(char out[65], int fd, int max_age_s);

/* Parses what an SSH client asked to run (SSH_ORIGINAL_COMMAND), strictly
 * and without any shell: git-receive-pack or git-upload-pack (also spelt
 * "git receive-pack"), then exactly one path 'NAME.git' or '/NAME.git', with
 * or without quotes or ".git". *service_out: "receive-pack" or
 * "upload-pack" (static); name gets NAME (not yet validated as a deployment
 * name: only lowercase letters, digits and '-' get through). -1 for
 * anything else. */
int wo_git_parse_ssh_command(const char **service_out, char *name, size_t cap, const char *cmd);

/* 1 when s is a full hexadecimal object name (40 or 64 digits). */
int wo_git_is_sha(const char *s);
/* 1 when s is an all-zero object name (git's "no object"). */
int wo_git_is_zero_sha(const char *s);

#endif
