# tandem_add_build_info(TARGET): compiles into TARGET the build_info() of launch/build_info.h: the
# project version, build type, compiler, CUDA architectures and git commit. A custom target reads
# the commit at every build and rewrites the generated file only when something changed, so the
# commit is never stale and an unchanged one recompiles nothing. Only the `tandem` executable
# takes it: the libraries and tests do not relink after each commit.
function(tandem_add_build_info target)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_build_info.cpp)
  set(archs "")
  if(TANDEM_WITH_CUDA)
    set(archs ${TANDEM_CUDA_ARCHITECTURES})
  endif()
  add_custom_target(${target}_build_info
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUT=${out}
            -DVERSION=${PROJECT_VERSION} -DBUILD_TYPE=${CMAKE_BUILD_TYPE}
            "-DCOMPILER=${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
            "-DCUDA_ARCHITECTURES=${archs}"
            -P ${PROJECT_SOURCE_DIR}/cmake/write_build_info.cmake
    BYPRODUCTS ${out}
    COMMENT "tandem: build info (version ${PROJECT_VERSION}, git commit)"
    VERBATIM)
  set_source_files_properties(${out} PROPERTIES GENERATED TRUE)
  target_sources(${target} PRIVATE ${out})
  add_dependencies(${target} ${target}_build_info)
endfunction()
