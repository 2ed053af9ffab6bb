# The layers of core/, checked at every build (cmake -P, from the top
# CMakeLists): a module may include its own headers and those of the modules
# below it in this table, nothing above. An upward #include fails the build,
# naming the file, the line and what the module may use. (systemd keeps
# src/basic from using what is above it the same way.)
#
#   util      nothing: the bottom (errors, buffers, files, logs, secrets)
#   config    util
#   db        util config
#   store     util db
#   template  util
#   git       util config store
#   addon     util db store template webops
#   health    util config db store addon pipeline   (health and pipeline call each other: issue 24)
#   pipeline  util config db store git addon health
#   http      util config db store template git addon health pipeline
#   cli       everything below, not http or daemon
#   daemon    everything
#
# Usage: cmake -DCORE=<source>/core -DSTAMP=<file> -P check_layers.cmake
set(allowed_util "")
set(allowed_config "util")
set(allowed_db "util;config")
set(allowed_store "util;db")
set(allowed_template "util")
set(allowed_git "util;config;store")
set(allowed_addon "util;db;store;template;webops")
set(allowed_health "util;config;db;store;addon;pipeline")
set(allowed_pipeline "util;config;db;store;git;addon;health")
set(allowed_http "util;config;db;store;template;git;addon;health;pipeline;webops")
set(allowed_cli "util;config;db;store;template;git;addon;health;pipeline;webops")
set(allowed_daemon "util;config;db;store;template;git;addon;health;pipeline;http;webops")

set(modules util config db store template git addon health pipeline http cli daemon)
set(bad "")
foreach(mod ${modules})
  file(GLOB files ${CORE}/${mod}/*.c ${CORE}/${mod}/*.h)
  foreach(f ${files})
    file(STRINGS ${f} lines REGEX "^#include \"[a-z_]+/")
    foreach(line ${lines})
      string(REGEX MATCH "^#include \"([a-z_]+)/" _ "${line}")
      set(dep ${CMAKE_MATCH_1})
      if(NOT dep STREQUAL mod)
        list(FIND allowed_${mod} ${dep} at)
        if(at EQUAL -1)
          file(RELATIVE_PATH rel ${CORE}/.. ${f})
          string(REPLACE ";" ", " may "${allowed_${mod}}")
          if(may STREQUAL "")
            set(may "nothing else")
          endif()
          string(APPEND bad "  ${rel}: ${line} (core/${mod} may include ${may})\n")
        endif()
      endif()
    endforeach()
  endforeach()
endforeach()
if(NOT bad STREQUAL "")
  message(FATAL_ERROR "an #include goes up the layers of core (cmake/check_layers.cmake):\n${bad}")
endif()
if(STAMP)
  file(WRITE ${STAMP} "layers checked\n")
endif()
