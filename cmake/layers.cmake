# The layers of core/: a module may include its own headers and those of the
# modules below it in this table, nothing above. Read by check_layers.cmake
# (every file's #include lines, at every build) and by the top CMakeLists
# (each module compiles as its own object library that sees only the
# headers of these modules and of what they use in turn). systemd keeps
# src/basic from using what is above it the same way.
#
#   util      nothing: the bottom (errors, buffers, files, logs, secrets, spawning)
#   config    util
#   db        util config
#   store     util db
#   template  util
#   git       util config store
#   addon     util store template webops
#   pipeline  util config db store git addon
#   health    util config db store addon pipeline
#   http      util config db store template git addon pipeline health
#   cli       everything below, not http or daemon
#   daemon    everything
# ("webops" is the public addon header, core/include/webops.)
set(allowed_util "")
set(allowed_config "util")
set(allowed_db "util;config")
set(allowed_store "util;db")
set(allowed_template "util")
set(allowed_git "util;config;store")
set(allowed_addon "util;store;template;webops")
set(allowed_pipeline "util;config;db;store;git;addon")
set(allowed_health "util;config;db;store;addon;pipeline")
set(allowed_http "util;config;db;store;template;git;addon;pipeline;health;webops")
set(allowed_cli "util;config;db;store;template;git;addon;pipeline;health;webops")
set(allowed_daemon "util;config;db;store;template;git;addon;pipeline;health;http;webops")

set(modules util config db store template git addon pipeline health http cli daemon)
