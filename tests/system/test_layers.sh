#!/usr/bin/env bash
# The layers of core/ (cmake/check_layers.cmake, run at every build): the
# tree as it is passes; an upward #include (core/util including http, store
# including pipeline) is refused, naming the file, the line and what the
# module may use. No database, no daemon.
. "$(dirname "$0")/lib.sh"
SRC=${WEBOPS_SOURCE_DIR:?}
check() { cmake -DCORE="$1" -P "$SRC/cmake/check_layers.cmake"; }
expect 0 "the tree keeps its layers" -- check "$SRC/core"
cp -r "$SRC/core" "$T/core"
echo '#include "http/http.h"' >>"$T/core/util/buf.h"
expect 1 "core/util including http is refused" -- check "$T/core"
contains "... naming the file and the line" "$ERR" 'core/util/buf.h: #include "http/http.h"'
contains "... and that util may include nothing else" "$ERR" "core/util may include nothing else"
cp "$SRC/core/util/buf.h" "$T/core/util/buf.h"
echo '#include "pipeline/runs.h"' >>"$T/core/store/deployment.c"
expect 1 "core/store including pipeline is refused" -- check "$T/core"
contains "... saying what store may use" "$ERR" "core/store may include util, db"
finish
