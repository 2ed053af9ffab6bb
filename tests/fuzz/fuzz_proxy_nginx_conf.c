/* Fuzz target: proxy-nginx's server block rendering (addons/proxy-nginx/
 * conf.c). Every value of a site comes from the input (NUL-separated: name,
 * upstream, domain, certificate, key, proxy token, body size, resolvers; the
 * first byte picks the port and the kinds); a block that renders must hold
 * none of the characters that would let a value end a directive or open a
 * block of its own: anything accepted was checked first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int unsafe(const char *v)
{
	return v && strpbrk(v, ";{}\n\r\"'$#\\ \t") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	uint8_t pick = data[0];
	char *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	const char *field[8] = { NULL };
	char *p = copy, *end = copy + size - 1;
	for (int i = 0; i < 8 && p <= end; i++) {
		field[i] = *p ? p : NULL;
		p += strlen(p) + 1;
	}
	struct px_site s = {
		.name = field[0] ? field[0] : "x",
		.state = pick & 1 ? PX_STOPPED : PX_ACTIVE,
		.upstream = field[1] ? field[1] : "127.0.0.1:1",
		.port = pick & 2 ? 8080 : 0,
		.domain = field[2],
		.cert = field[3],
		.key = field[4],
		.hsts = pick & 4,
		.proxy_token = field[5],
		.body_max = field[6],
		.ocsp_issuer = field[3],
		.ocsp_resolvers = field[7],
		.domain_on_http = pick & 8,
	};
	if (!s.domain && !s.port)
		s.port = 8080;
	struct px_site_opts o = { "127.0.0.1", 80, 1, "16m", 5, 60, 65, 443, pick & 16 ? 0 : 8402 };
	struct px_sb out = PX_SB_INIT, err = PX_SB_INIT;
	if (px_site_render(&out, &s, &o, &err) == 0) {
		/* what was accepted can be written unquoted */
		if (unsafe(s.name) || (s.state == PX_ACTIVE && unsafe(s.upstream)) || unsafe(s.domain) ||
		    (s.domain && s.cert && s.key && (unsafe(s.cert) || unsafe(s.key))) || unsafe(s.proxy_token) ||
		    unsafe(s.body_max))
			abort();
	}
	px_sb_release(&out);
	px_sb_release(&err);
	free(copy);
	return 0;
}
