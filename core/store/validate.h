/* Validation of deployment settings, shared by every entry point (CLI, web
 * form, API). Each failure appends one line to err naming the field and what
 * is allowed, and returns -1. */
#ifndef WO_STORE_VALIDATE_H
#define WO_STORE_VALIDATE_H

#include "util/buf.h"

#define WO_NAME_MAX 63

int wo_validate_name(const char *s, struct wo_buf *err);
int wo_validate_repo_url(const char *s, struct wo_buf *err);
/* A repo_url given by a user (over HTTP) rather than the host's operator: a
 * local repository (file://, an absolute path) only under one of the
 * host's WEBOPS_LOCAL_REPO_ROOTS (':'-separated, symlinks resolved), so an
 * account cannot read the host's other repositories through a deploy. */
int wo_validate_repo_url_for_user(const char *s, struct wo_buf *err);
int wo_validate_branch(const char *s, struct wo_buf *err);
/* A ref a run is asked to deploy: a branch, tag or commit, by git's rules
 * (the field is called "ref"). */
int wo_validate_ref(const char *s, struct wo_buf *err);
int wo_validate_domain(const char *s, struct wo_buf *err);
/* Parses a port given as text: digits only, 1-65535. */
int wo_validate_port_text(const char *s, int *out, struct wo_buf *err);
int wo_validate_port(long long port, struct wo_buf *err);
int wo_validate_env_key(const char *s, struct wo_buf *err);

#endif
