/* Printing helpers shared by commands: JSON to stdout, escaped text. */
#ifndef WO_CLI_OUTPUT_H
#define WO_CLI_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

/* Pretty JSON plus a newline on stdout. */
void wo_out_json(const json_t *j);
/* Prints s with control characters shown as \n, \t, \xNN (for terminals). */
void wo_out_escaped(FILE *f, const char *s);
/* A log line's text: as wo_out_escaped, but ANSI colour sequences (SGR,
 * "ESC [ ... m") are kept when f is a terminal, with a reset at the end
 * when any was kept, and dropped otherwise; every other escape is shown
 * escaped, so no program's output can move the cursor or retitle the
 * terminal. */
void wo_out_log_text(FILE *f, const char *s);
/* The length of the SGR sequence at s ("\x1b[1;32m"), 0 when there is none. */
size_t wo_out_sgr_len(const char *s);

#endif
