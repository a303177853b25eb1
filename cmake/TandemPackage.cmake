# tandem as an installed library and a package (included from the root CMakeLists.txt):
#
#   cmake --install build [--prefix P]   P/bin/tandem and tandem-run; P/lib/libtandem.so; the
#                                        public headers under P/include/tandem/; the CMake package
#                                        (find_package(tandem) gives tandem::tandem) and
#                                        P/lib/pkgconfig/tandem.pc
#   cd build && cpack -G DEB             tandem_<version>_<arch>.deb, whose dependencies are
#                                        Debian's package names (from a build without CUDA, see
#                                        CPackDebianCheck.cmake)
#
# libtandem.so holds the kernels, framework and parallel archives linked whole: kernels register
# themselves from static initialisers in their own object files, which a linker would drop from
# an archive that nothing references by name (in the build tree tandem_kernels_whole does the
# same for the static archives). A program that links libtandem gets every kernel, and its
# libraries (OpenBLAS, MPI, zlib, libzip, libjpeg, libpng, the CUDA stack) come along as libtandem's own
# dependencies: nothing else is needed to compile or link against it.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TANDEM_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/tandem)

configure_file(${PROJECT_SOURCE_DIR}/cmake/version.h.in
               ${PROJECT_BINARY_DIR}/include/tandem/version.h @ONLY)

# --- libtandem.so -------------------------------------------------------------------------------
set_target_properties(tandem_parallel PROPERTIES POSITION_INDEPENDENT_CODE ON)
add_library(tandem_library SHARED ${PROJECT_SOURCE_DIR}/cmake/library_version.cpp)
add_library(tandem::tandem ALIAS tandem_library)
target_link_libraries(tandem_library PRIVATE tandem_parallel tandem_warnings
                      INTERFACE Threads::Threads)
target_include_directories(tandem_library PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/tandem>)
target_compile_features(tandem_library PUBLIC cxx_std_20)
set_target_properties(tandem_library PROPERTIES
  OUTPUT_NAME tandem
  EXPORT_NAME tandem
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}  # 0.x: a minor release breaks ABI
  # Every object of the three archives, not only the ones something references.
  LINK_LIBRARY_OVERRIDE "WHOLE_ARCHIVE,tandem_kernels,tandem_framework,tandem_parallel")
# The CUDA stack usually lives outside the system's library directories: the installed library
# and executable keep the paths they were linked with. Without CUDA every dependency is a system
# library, and nothing is added (the .deb has no RUNPATH).
if(TANDEM_WITH_CUDA)
  set_target_properties(tandem_library PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  if(TARGET tandem)
    set_target_properties(tandem PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  endif()
endif()

# --- install ------------------------------------------------------------------------------------
install(TARGETS tandem_library EXPORT tandemTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(TARGET tandem)
  install(TARGETS tandem RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(PROGRAMS ${PROJECT_SOURCE_DIR}/launch/tandem-run DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tandem/configs)
# The public headers: include/tandem/tandem.h and every tandem header it includes, found by the
# compiler at install time, so the list cannot fall behind the code.
install(CODE "
  set(TANDEM_CXX \"${CMAKE_CXX_COMPILER}\")
  set(TANDEM_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(TANDEM_BINARY_DIR \"${PROJECT_BINARY_DIR}\")
  set(TANDEM_HEADER_DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_INCLUDEDIR}/tandem\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_headers.cmake\")")

install(EXPORT tandemTargets NAMESPACE tandem:: DESTINATION ${TANDEM_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/tandemConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tandemConfig.cmake INSTALL_DESTINATION ${TANDEM_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tandemConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)  # 0.x: the minor version is the API's
install(FILES ${PROJECT_BINARY_DIR}/tandemConfig.cmake ${PROJECT_BINARY_DIR}/tandemConfigVersion.cmake
  DESTINATION ${TANDEM_INSTALL_CMAKEDIR})

# pkg-config: the prefix is found from the .pc file's own place, so an installed tree can move.
file(RELATIVE_PATH TANDEM_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/tandem.pc.in ${PROJECT_BINARY_DIR}/tandem.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tandem.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# --- cpack -G DEB -------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME tandem)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "data-parallel neural-network training in C++ with PyTorch's semantics")
set(CPACK_PACKAGE_CONTACT "tandem maintainers <tandem@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # tandem_0.10.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# Library dependencies from the binaries (dpkg-shlibdeps: libopenblas0-openmp, libgomp1, libopenmpi3,
# libyaml-cpp0.7, libzip4, zlib1g, libjpeg62-turbo, libpng16-16, libstdc++6, ...), plus mpirun for tandem-run and mpirun runs.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "openmpi-bin")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "tandem trains neural networks data-parallel under mpirun with PyTorch's semantics\n(tensors, autograd, nn modules with state_dict, optimizers, LR schedulers,\nDistributedDataParallel) and reads and writes PyTorch's checkpoint files. This package\nholds the tandem command, tandem-run, libtandem, its C++ headers, a CMake package\n(find_package(tandem)) and a pkg-config file.")
set(TANDEM_PACKAGE_WITH_CUDA ${TANDEM_WITH_CUDA})
configure_file(${PROJECT_SOURCE_DIR}/cmake/CPackDebianCheck.cmake.in
               ${PROJECT_BINARY_DIR}/CPackDebianCheck.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_BINARY_DIR}/CPackDebianCheck.cmake)
include(CPack)
