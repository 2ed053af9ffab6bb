/* Test addon "hang": a hook that never returns and ignores SIGTERM. */
#include <signal.h>
#include <unistd.h>
#include <webops/addon.h>

WEBOPS_ADDON("hang", "0.1.0");

WEBOPS_HOOK(hang_pre_deploy)
{
	signal(SIGTERM, SIG_IGN);
	host->log(ctx, WEBOPS_LOG_INFO, "hanging");
	/* a grandchild in the same process group must die with us */
	if (fork() == 0) {
		for (;;)
			pause();
	}
	for (;;)
		pause();
}
