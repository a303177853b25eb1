# TANDEM_PORTABLE=ON: executables that run on another Linux machine that has glibc, the NVIDIA
# driver and NVIDIA's libraries but none of this machine's packages (tests/gpu/bundle.sh builds
# the GPU bundle this way and carries the other shared libraries next to the binaries):
#   - libstdc++ and libgcc are linked statically, so the target's own (older or newer) copies
#     never matter;
#   - yaml-cpp is linked statically: it is C++, and its shared library would bring
#     libstdc++.so.6 back, a second C++ runtime next to the static one;
#   - no RPATH: the bundle's runner sets LD_LIBRARY_PATH (bundle lib/, then NVIDIA's libraries),
#     and no library is looked for in this machine's build or CUDA folders.
option(TANDEM_PORTABLE "Link for running on another Linux machine (tests/gpu/bundle.sh)" OFF)
if(TANDEM_PORTABLE)
  add_link_options(-static-libstdc++ -static-libgcc)
  set(CMAKE_SKIP_RPATH ON)
  find_library(TANDEM_YAML_CPP_STATIC NAMES libyaml-cpp.a)
  find_path(TANDEM_YAML_CPP_INCLUDE_DIR yaml-cpp/yaml.h)
  if(NOT TANDEM_YAML_CPP_STATIC OR NOT TANDEM_YAML_CPP_INCLUDE_DIR)
    message(FATAL_ERROR "TANDEM_PORTABLE=ON needs yaml-cpp's static library (libyaml-cpp.a) "
      "and headers; Debian's libyaml-cpp-dev has both")
  endif()
  # Defined before launch/ calls find_package(yaml-cpp), whose export file then keeps this target.
  add_library(yaml-cpp STATIC IMPORTED GLOBAL)
  set_target_properties(yaml-cpp PROPERTIES
    IMPORTED_LOCATION ${TANDEM_YAML_CPP_STATIC}
    INTERFACE_INCLUDE_DIRECTORIES ${TANDEM_YAML_CPP_INCLUDE_DIR})
  message(STATUS "tandem: portable build (static libstdc++, libgcc and ${TANDEM_YAML_CPP_STATIC}; no RPATH)")
endif()
