# Installs tandem's public headers (run by `cmake --install` through install(CODE) in
# TandemPackage.cmake, with TANDEM_CXX, TANDEM_SOURCE_DIR, TANDEM_BINARY_DIR and
# TANDEM_HEADER_DESTINATION set): include/tandem/tandem.h and every tandem header it includes,
# directly or not, as the compiler finds them (-MM), under TANDEM_HEADER_DESTINATION with their
# paths in the source tree ("framework/nn/module.h"), tandem.h and version.h beside them. The
# headers nothing public includes (kernel tables and backends, file-format internals, launch/)
# are not installed.
execute_process(
  COMMAND "${TANDEM_CXX}" -std=c++20 -x c++ -MM -MT public
          "-I${TANDEM_SOURCE_DIR}" "-I${TANDEM_SOURCE_DIR}/include" "-I${TANDEM_BINARY_DIR}/include"
          "${TANDEM_SOURCE_DIR}/include/tandem/tandem.h"
  OUTPUT_VARIABLE deps ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tandem: cannot list the public headers (${TANDEM_CXX} -MM): ${err}")
endif()
string(REPLACE "\\\n" " " deps "${deps}")
string(REGEX REPLACE "^public:" "" deps "${deps}")
separate_arguments(deps UNIX_COMMAND "${deps}")
set(count 0)
foreach(header IN LISTS deps)
  get_filename_component(header "${header}" ABSOLUTE)
  get_filename_component(dir "${header}" DIRECTORY)
  if(dir STREQUAL "${TANDEM_SOURCE_DIR}/include/tandem" OR dir STREQUAL "${TANDEM_BINARY_DIR}/include/tandem")
    set(subdir "")
  else()
    file(RELATIVE_PATH subdir "${TANDEM_SOURCE_DIR}" "${dir}")
    if(subdir MATCHES "^\\.\\.")
      message(FATAL_ERROR "tandem: a public header includes ${header}, outside the source tree")
    endif()
  endif()
  file(INSTALL DESTINATION "${TANDEM_HEADER_DESTINATION}/${subdir}" TYPE FILE FILES "${header}")
  math(EXPR count "${count} + 1")
endforeach()
message(STATUS "tandem: ${count} public headers")
