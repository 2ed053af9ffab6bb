/* Fuzz target: the untrusted text of SSH pushes. The first byte picks the
 * parser: a public key file given to `webops ssh-key add`, or the command an
 * SSH client asks to run (SSH_ORIGINAL_COMMAND, parsed by `webops
 * git-shell`). What a parse accepts must be consistent: a key re-parses to
 * the same fingerprint; a command yields a service and a plain name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/hosted.h"
#include "store/ssh_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 64 * 1024)
		return 0;
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1) {
		const char *service = NULL;
		char name[80];
		if (wo_git_parse_ssh_command(&service, name, sizeof(name), text) == 0) {
			if (strcmp(service, "receive-pack") && strcmp(service, "upload-pack"))
				abort();
			if (!name[0] || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name))
				abort();
		}
	} else {
		struct wo_ssh_pubkey k;
		if (wo_ssh_pubkey_parse(&k, text) == 0) {
			if (strncmp(k.fingerprint, "SHA256:", 7) != 0 || !k.blob)
				abort();
			size_t n = strlen(k.type) + strlen(k.blob) + 2;
			char *again = malloc(n);
			snprintf(again, n, "%s %s", k.type, k.blob);
			struct wo_ssh_pubkey k2;
			if (wo_ssh_pubkey_parse(&k2, again) != 0 || strcmp(k.fingerprint, k2.fingerprint) != 0)
				abort();
			wo_ssh_pubkey_release(&k2);
			free(again);
			wo_ssh_pubkey_release(&k);
		}
	}
	free(text);
	return 0;
}
