#!/usr/bin/env bash
# The layers of core/ (cmake/layers.cmake). At every build a check reads
# every #include: the tree as it is passes; an upward one (core/util
# including http, store including pipeline) is refused, naming the file,
# the line and what the module may use. Behind it, each module compiles
# against a folder that holds only the headers it may use, so the compiler
# refuses an upward #include too. No database, no daemon.
. "$(dirname "$0")/lib.sh"
test_setup 'the source tree and a copy to break' <<'EOT'
SRC=${WEBOPS_SOURCE_DIR:?}
BLD=${WEBOPS_BUILD_DIR:?}
check() { cmake -DCORE="$1" -P "$SRC/cmake/check_layers.cmake"; }
cp -r "$SRC/core" "$T/core"
EOT

test_expect_success 'the tree keeps its layers' <<'EOT'
expect 0 "the check passes" -- check "$SRC/core"
EOT

test_expect_success 'the check refuses core/util including http' <<'EOT'
echo '#include "http/http.h"' >>"$T/core/util/buf.h"
expect 1 "refused" -- check "$T/core"
contains "... naming the file and the line" "$ERR" 'core/util/buf.h: #include "http/http.h"'
contains "... and that util may include nothing else" "$ERR" "core/util may include nothing else"
cp "$SRC/core/util/buf.h" "$T/core/util/buf.h"
EOT

test_expect_success 'the check refuses core/store including pipeline' <<'EOT'
echo '#include "pipeline/runs.h"' >>"$T/core/store/deployment.c"
expect 1 "refused" -- check "$T/core"
contains "... saying what store may use" "$ERR" "core/store may include util, db"
cp "$SRC/core/store/deployment.c" "$T/core/store/deployment.c"
EOT

test_expect_success 'the check refuses core/pipeline including health (issue 24)' <<'EOT'
echo '#include "health/health.h"' >>"$T/core/pipeline/notify.c"
expect 1 "refused" -- check "$T/core"
contains "... naming the file and the line" "$ERR" 'core/pipeline/notify.c: #include "health/health.h"'
contains "... saying what pipeline may use" "$ERR" "core/pipeline may include util, config, db, store, git, addon"
cp "$SRC/core/pipeline/notify.c" "$T/core/pipeline/notify.c"
EOT

test_expect_success 'the check refuses core/addon including db: its SQL is in store (issue 24)' <<'EOT'
echo '#include "db/db.h"' >>"$T/core/addon/registry.c"
expect 1 "refused" -- check "$T/core"
contains "... naming the file and the line" "$ERR" 'core/addon/registry.c: #include "db/db.h"'
contains "... saying what addon may use" "$ERR" "core/addon may include util, store, template, webops"
cp "$SRC/core/addon/registry.c" "$T/core/addon/registry.c"
EOT

test_expect_success 'the compiler refuses it too: a module sees only the headers it may use' <<'EOT'
# the include folders the build gives each module's object library
flags() { sed -n 's/^C_INCLUDES = //p' "$BLD/CMakeFiles/webops_$1.dir/flags.make"; }
printf '#include "util/buf.h"\n#include "store/deployment.h"\n' >"$T/up.c"
# shellcheck disable=SC2046
expect 1 "util cannot reach store's headers" -- gcc $(flags util) -fsyntax-only "$T/up.c"
contains "... not found" "$ERR" "store/deployment.h: No such file or directory"
printf '#include "store/deployment.h"\n#include "pipeline/runs.h"\n' >"$T/up2.c"
expect 1 "store cannot reach pipeline's" -- gcc $(flags store) -fsyntax-only "$T/up2.c"
contains "... not found" "$ERR" "pipeline/runs.h: No such file or directory"
printf '#include "store/deployment.h"\n#include "addon/addon.h"\n#include "pipeline/runs.h"\n' >"$T/ok.c"
expect 0 "http reaches what is below it" -- gcc $(flags http) -fsyntax-only "$T/ok.c"
EOT
finish
