/* Printing helpers shared by commands: JSON to stdout, escaped text. */
#ifndef WO_CLI_OUTPUT_H
#define WO_CLI_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

/* Pretty JSON plus a newline on stdout. */
void wo_out_json(const json_t *j);
/* Prints s with control characters shown as \n, \t, \xNN (for terminals). */
void wo_out_escaped(FILE *f, const char *s);

#endif
