/* Fuzz target: .dockerignore parsing and matching (the Docker addon's
 * parser of untrusted repository content). Input: ignore text, then
 * optionally "\0" and paths separated by newlines to match. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	size_t tlen = nul ? (size_t)(nul - text) : size;
	struct dk_ignore *ig = NULL;
	if (dk_ignore_parse(&ig, text, tlen) != 0)
		return 0;
	static const char *const fixed[] = {"Dockerfile", "a", "a/b", "a/b/c.txt", ".git/config",
					    "node_modules/x/y.js", "caf\xc3\xa9/\xff", "x/y/z/w/v"};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		(void)dk_ignore_excluded(ig, fixed[i]);
		(void)dk_ignore_dir_has_exceptions(ig, fixed[i]);
	}
	if (nul) {
		const char *p = nul + 1, *end = text + size;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			char *path = strndup(p, len);
			if (path) {
				(void)dk_ignore_excluded(ig, path);
				(void)dk_ignore_dir_has_exceptions(ig, path);
				free(path);
			}
			p += len + 1;
		}
	}
	dk_ignore_free(ig);
	return 0;
}
