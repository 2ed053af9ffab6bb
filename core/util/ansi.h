/* ANSI colour sequences in program output (build tools, apps): turned into
 * escaped HTML with colour classes for the pages, or dropped. Only SGR
 * sequences ("ESC [ params m") are understood; every other control
 * character is shown, never passed through. */
#ifndef WO_UTIL_ANSI_H
#define WO_UTIL_ANSI_H

#include <stddef.h>

#include "util/buf.h"

/* The length of the SGR sequence at s, 0 when s does not start one. */
size_t wo_ansi_sgr_len(const char *s);

/* text as HTML: & < > " ' escaped, SGR colours as <span class="a-...">
 * (a-b bold, a-i italic, a-u underline, a-fN foreground 0-15, a-kN
 * background 0-7), any other control character as a visible \xNN; every
 * span is closed at the end. */
int wo_ansi_html(struct wo_buf *out, const char *text);

/* text without its SGR sequences. */
int wo_ansi_strip(struct wo_buf *out, const char *text);

#endif
