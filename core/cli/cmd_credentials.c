/* `webops deployment credentials NAME ...`: git credentials of a deployment.
 * Secrets are read from stdin or a file, never from the command line (which
 * other users can see in the process list). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "store/credentials.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"


static int read_stdin(char **out)
{
	struct wo_buf b;
	wo_buf_init(&b, 65536);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (wo_buf_add(&b, chunk, n) < 0) {
			wo_buf_release(&b);
			return wo_error_set("the token on stdin is longer than 64 KiB");
		}
	while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r'))
		wo_buf_truncate(&b, b.len - 1);
	*out = wo_buf_detach(&b);
	return 0;
}

int wo_cmd_credentials(struct wo_cli *cli, int argc, char **argv)
{
	const char *user = NULL, *keyfile = NULL;
	int token = 0, clear = 0;
	const struct wo_opt opts[] = {
		WO_OPT_FLAG("token-stdin", 0, &token, "read an HTTPS token from standard input (user default "
		            "x-access-token)"),
		WO_OPT_STRING("ssh-key", 0, &keyfile, "FILE", "an SSH private key (deploy key) for ssh:// and user@host:path "
		              "URLs"),
		WO_OPT_STRING("user", 0, &user, "U", "the user name to go with the token or key"),
		WO_OPT_FLAG("clear", 0, &clear, "remove the stored credentials"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"deployment credentials", "NAME", 1, 1,
		"Sets the credentials webops uses to fetch NAME's repository. Without an option, says which kind\n"
		"is set (never the secret itself).",
		"Secrets are read from standard input or a file, never from the command line (which other users\n"
		"can see in the process list).\n", opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	if (token + clear + (keyfile != NULL) > 1)
		return wo_cli_usage_error("deployment credentials", "use one of --token-stdin, --ssh-key and --clear");
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	int rc = 0;
	char *secret = NULL;
	if (token) {
		rc = read_stdin(&secret);
		if (rc == 0)
			rc = wo_credentials_set_token(conn, name, user, secret);
	} else if (keyfile) {
		rc = wo_fs_read_file(&secret, NULL, keyfile, 65536);
		if (rc == 0)
			rc = wo_credentials_set_ssh_key(conn, name, user, secret);
	} else if (clear) {
		rc = wo_credentials_clear(conn, name);
	}
	if (secret) {
		memset(secret, 0, strlen(secret));
		free(secret);
	}
	if (rc < 0)
		return wo_cli_fail("%s", wo_error_last());
	char what[300];
	if (wo_credentials_describe(what, sizeof(what), conn, name) < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("credentials of '%s': %s\n", name, what);
	return WO_EXIT_OK;
}
