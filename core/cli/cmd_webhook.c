/* `webops deployment webhook|webhooks`: not there yet. */
#include <stdio.h>

#include "cli/cli.h"
#include "util/banned.h"

int wo_cmd_webhook(struct wo_cli *cli, int argc, char **argv)
{
	return wo_cli_fail("webhooks are not available yet");
}

int wo_cmd_webhooks(struct wo_cli *cli, int argc, char **argv)
{
	return wo_cli_fail("webhooks are not available yet");
}

void wo_cli_print_webhook_hint(struct wo_cli *cli, const char *name)
{
}
