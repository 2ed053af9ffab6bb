/* libFuzzer target for the template compiler and renderer: the input is a
 * template, compiled and rendered against a fixed JSON value, strict and not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "template/template.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

static const char data_json[] =
	"{\"name\":\"web<1>\",\"n\":3,\"pi\":3.25,\"yes\":true,\"no\":false,\"nil\":null,\"empty\":\"\","
	"\"list\":[1,\"two\",{\"name\":\"three\",\"list\":[]}],"
	"\"obj\":{\"a\":{\"b\":\"deep\"},\"list\":[\"x\",\"y\"]},"
	"\"rows\":[{\"id\":1,\"name\":\"a&b\"},{\"id\":2,\"name\":\"'c'\"}]}";

static const char *const partials[][2] = {
	{ "p", "[{{name}}]\n" },
	{ "row", "<tr>{{id}} {{name}}</tr>\n" },
	{ "layout", "<h>{{$title}}T{{/title}}</h>\n  {{$body}}\n  none\n  {{/body}}\n" },
	{ "mid", "{{<layout}}{{$title}}mid{{/title}}{{/layout}}" },
};

static void check(int r)
{
	/* every failure must say why */
	if (r < 0 && !*wo_error_last())
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	static json_t *data;
	struct wo_tpl *tpl = NULL;
	struct wo_tpl_env *env = NULL;

	if (size > 65536)
		return 0;
	if (!data && !(data = json_loads(data_json, 0, NULL)))
		abort();

	wo_error_clear();
	int r = wo_tpl_compile(&tpl, "fuzz", (const char *)in, size);
	check(r);
	if (r < 0)
		return 0;

	if (wo_tpl_env_new(&env, NULL) < 0)
		abort();
	for (size_t i = 0; i < sizeof(partials) / sizeof(partials[0]); i++)
		if (wo_tpl_env_add(env, partials[i][0], partials[i][1]) < 0)
			abort();
	/* the input is also a partial of itself (up to a NUL), for recursion */
	char *self = malloc(size + 1);
	if (!self)
		abort();
	memcpy(self, in, size);
	self[size] = '\0';
	wo_error_clear();
	check(wo_tpl_env_add(env, "self", self));
	free(self);

	for (int mode = 0; mode < 3; mode++) {
		struct wo_tpl_opts o = WO_TPL_OPTS_INIT;
		struct wo_buf out;
		o.strict = mode == 1;
		o.escape = mode == 2 ? wo_tpl_escape_none : wo_tpl_escape_html;
		o.max_steps = 200000;
		wo_buf_init(&out, 1 << 20);
		wo_error_clear();
		r = wo_tpl_render(&out, env, tpl, data, &o);
		check(r);
		if (r < 0 && out.len != 0)
			abort(); /* a failed render leaves the buffer as it was */
		wo_buf_release(&out);
	}
	wo_tpl_env_free(env);
	wo_tpl_free(tpl);
	return 0;
}
