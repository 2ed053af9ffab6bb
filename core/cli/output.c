/* Output helpers for the CLI. */
#include "cli/output.h"

#include <unistd.h>

#include "util/ansi.h"
#include "util/banned.h"

void wo_out_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

void wo_out_escaped(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p == '\\')
			fputs("\\\\", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

void wo_out_log_text(FILE *f, const char *s)
{
	int tty = isatty(fileno(f)), kept = 0;
	while (*s) {
		size_t n = wo_ansi_sgr_len(s);
		if (n) {
			if (tty) {
				fwrite(s, 1, n, f);
				kept = 1;
			}
			s += n;
			continue;
		}
		char one[2] = {*s++, '\0'};
		wo_out_escaped(f, one);
	}
	if (kept)
		fputs("\x1b[0m", f);
}
