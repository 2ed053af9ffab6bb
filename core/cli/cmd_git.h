/* Commands of cmd_git.c: deploying on `git push` (the pre-receive hook of
 * the repositories webops hosts, the forced command of SSH keys) and the SSH
 * keys allowed to push. */
#ifndef WO_CLI_CMD_GIT_H
#define WO_CLI_CMD_GIT_H

#include <stdio.h>

#include "cli/cli.h"

/* `webops git-hook NAME` (hidden): pre-receive hook of git/NAME.git. */
int wo_cmd_git_hook(struct wo_cli *cli, int argc, char **argv);
/* `webops git-shell KEYNAME` (hidden): what an SSH key of ours may run. */
int wo_cmd_git_shell(struct wo_cli *cli, int argc, char **argv);
/* `webops ssh-key add|list|remove|sync`. */
int wo_cmd_ssh_key(struct wo_cli *cli, int argc, char **argv);
/* After `deployment create`: how to push to NAME (HTTP and SSH). */
void wo_cli_print_push_hint(FILE *f, const char *name, const char *branch);

#endif
