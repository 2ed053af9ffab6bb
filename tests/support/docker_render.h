/* For the docker addon's tests: renders its templates (addons/docker/
 * templates) with webops' own engine and escapers, as host->render does in
 * the addon. Header-only: include it in one test file. */
#ifndef WEBOPS_TEST_DOCKER_RENDER_H
#define WEBOPS_TEST_DOCKER_RENDER_H

#include <stdio.h>

#include "dkutil.h"
#include "template/template.h"
#include "util/buf.h"
#include "util/error.h"

static int docker_test_render(struct dk_buf *out, const char *name, const json_t *data, const char *escaper,
			      void *ud)
{
	(void)ud;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/addons/docker/templates", WEBOPS_SOURCE_DIR);
	struct wo_tpl_env *env = NULL;
	struct wo_tpl_opts opts = WO_TPL_OPTS_INIT;
	opts.escape = wo_tpl_escaper(escaper);
	opts.strict = 1;
	struct wo_buf b = WO_BUF_INIT;
	int rc = wo_tpl_env_new(&env, dir);
	if (rc == 0)
		rc = wo_tpl_render_file(&b, env, name, data, &opts);
	wo_tpl_env_free(env);
	if (rc < 0) {
		wo_buf_release(&b);
		return dk_error_set("%s", wo_error_last());
	}
	rc = dk_buf_add(out, b.ptr ? b.ptr : "", b.len);
	wo_buf_release(&b);
	return rc;
}

static const struct dk_renderer docker_test_renderer = { docker_test_render, NULL };

#endif
