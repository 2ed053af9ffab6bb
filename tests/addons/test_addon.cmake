# Builds a test addon from tests/addons/<name>/: <name>.so next to a copy of
# its addon.yaml in build/tests/addons/<name>/, like a real addon folder.
function(webops_test_addon_plain target)
  if(WEBOPS_SANITIZE)
    target_compile_options(${target} PRIVATE -fno-sanitize=all)
    target_link_options(${target} PRIVATE -fno-sanitize=all)
  endif()
endfunction()

function(webops_test_addon name)
  set(out ${CMAKE_BINARY_DIR}/tests/addons/${name})
  add_library(test_addon_${name} MODULE ${ARGN})
  target_include_directories(test_addon_${name} PRIVATE ${CMAKE_SOURCE_DIR}/core/include)
  set_target_properties(test_addon_${name} PROPERTIES
    PREFIX "" OUTPUT_NAME ${name}
    LIBRARY_OUTPUT_DIRECTORY ${out}
    C_VISIBILITY_PRESET hidden)
  # Built like a third-party addon: no sanitizer instrumentation, so a crash
  # test really dies by its signal even in a WEBOPS_SANITIZE build.
  webops_test_addon_plain(test_addon_${name})
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/addon.yaml ${out}/addon.yaml COPYONLY)
endfunction()
