# The CUDA stack tandem builds against, found in one place (included from the root CMakeLists.txt).
#
#   TANDEM_CUDA=ON    every piece below is required; a missing one is a FATAL_ERROR naming it.
#   TANDEM_CUDA=AUTO  (default) the CUDA backend is built when nvcc is found and every piece is
#                     there (CI's machines have them all); a missing piece is a WARNING naming it,
#                     and tandem is built without CUDA.
#   TANDEM_CUDA=OFF   no CUDA; kernels/cuda_stub and parallel/nccl_stub stand in.
#   TANDEM_CUDA=EMULATED  as OFF, and `cuda` is the emulated device by default (kernels/emulated).
#
# Pieces, and what they give the rest of the build when TANDEM_WITH_CUDA is ON:
#   nvcc + CUDA runtime  the CUDA language (sm_${TANDEM_CUDA_ARCHITECTURES}), CUDA::cudart (shared:
#                        CMAKE_CUDA_RUNTIME_LIBRARY is Shared, so no target links cudart_static
#                        as well; two runtimes in one process would not share devices or streams)
#   cuBLASLt             its headers (through CUDA::cudart's include folder); the library is
#                        opened at first use, not linked (kernels/cuda/cublaslt_library.h)
#   cuBLAS               CUDA::cublas, for bench/gpu's cuBLAS reference only
#   cuRAND               CUDA::curand
#   cuDNN 9              tandem::cudnn (cudnn.h, libcudnn.so.9); CUDNN_ROOT hints where it is
#   NCCL                 tandem::nccl (nccl.h, libnccl.so.2); NCCL_ROOT hints where it is
# and the variables TANDEM_WITH_CUDA, TANDEM_CUDA_VERSION, TANDEM_CUBLAS_VERSION,
# TANDEM_CURAND_VERSION, TANDEM_CUDNN_VERSION, TANDEM_NCCL_VERSION (from the headers).

set(TANDEM_WITH_CUDA OFF)
set(_tandem_cuda_missing "")

# "MAJOR.MINOR.PATCH" from three #defines of a header; "" when the header lacks them.
function(_tandem_header_version header major minor patch out)
  set(parts "")
  if(NOT EXISTS "${header}")
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  foreach(macro ${major} ${minor} ${patch})
    file(STRINGS "${header}" line REGEX "^#define[ \t]+${macro}[ \t]+[0-9]+")
    if(NOT line MATCHES "${macro}[ \t]+([0-9]+)")
      set(${out} "" PARENT_SCOPE)
      return()
    endif()
    list(APPEND parts ${CMAKE_MATCH_1})
  endforeach()
  list(JOIN parts "." version)
  set(${out} "${version}" PARENT_SCOPE)
endfunction()

# A shared library and its header, as an imported target; records the piece as missing otherwise.
# Sets the cache variables <prefix>_INCLUDE_DIR and <prefix>_LIBRARY; <prefix>_ROOT hints.
function(_tandem_find_cuda_library target piece header library prefix)
  find_path(${prefix}_INCLUDE_DIR ${header}
    HINTS ${${prefix}_ROOT} $ENV{${prefix}_ROOT} ${CUDAToolkit_INCLUDE_DIRS}
    PATH_SUFFIXES include)
  find_library(${prefix}_LIBRARY ${library}
    HINTS ${${prefix}_ROOT} $ENV{${prefix}_ROOT} ${CUDAToolkit_LIBRARY_DIR}
    PATH_SUFFIXES lib64 lib)
  if(NOT ${prefix}_INCLUDE_DIR OR NOT ${prefix}_LIBRARY)
    set(_tandem_cuda_missing ${_tandem_cuda_missing}
        "${piece} (${header} and lib${library}.so: -D${prefix}_ROOT=<prefix> says where)"
        PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET ${target})
    add_library(${target} SHARED IMPORTED GLOBAL)
    set_target_properties(${target} PROPERTIES
      IMPORTED_LOCATION "${${prefix}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${${prefix}_INCLUDE_DIR}")
  endif()
endfunction()

if(NOT TANDEM_CUDA STREQUAL "OFF" AND NOT TANDEM_CUDA STREQUAL "EMULATED")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    list(APPEND _tandem_cuda_missing "nvcc (the CUDA compiler; set -DCMAKE_CUDA_COMPILER=<path>)")
  else()
    # The toolkit that nvcc belongs to: runtime, cuBLAS(Lt), cuRAND.
    if(NOT CUDAToolkit_ROOT)
      get_filename_component(_nvcc_bin "${CMAKE_CUDA_COMPILER}" DIRECTORY)
      get_filename_component(CUDAToolkit_ROOT "${_nvcc_bin}" DIRECTORY)
    endif()
    find_package(CUDAToolkit)
    foreach(lib cudart cublas cublasLt curand)  # cublas: bench/gpu's reference
      if(NOT TARGET CUDA::${lib})
        list(APPEND _tandem_cuda_missing "lib${lib} (CUDA toolkit at ${CUDAToolkit_ROOT})")
      endif()
    endforeach()
    if(CUDAToolkit_FOUND)
      set(TANDEM_CUDA_VERSION ${CUDAToolkit_VERSION})
      foreach(inc ${CUDAToolkit_INCLUDE_DIRS})
        if(EXISTS ${inc}/cublas_api.h)
          _tandem_header_version(${inc}/cublas_api.h
            CUBLAS_VER_MAJOR CUBLAS_VER_MINOR CUBLAS_VER_PATCH TANDEM_CUBLAS_VERSION)
        endif()
        if(EXISTS ${inc}/curand.h)
          _tandem_header_version(${inc}/curand.h
            CURAND_VER_MAJOR CURAND_VER_MINOR CURAND_VER_PATCH TANDEM_CURAND_VERSION)
        endif()
      endforeach()
    endif()

    _tandem_find_cuda_library(tandem::cudnn "cuDNN 9" cudnn.h cudnn CUDNN)
    if(CUDNN_INCLUDE_DIR)
      set(_cudnn_version_header ${CUDNN_INCLUDE_DIR}/cudnn_version.h)
      if(NOT EXISTS ${_cudnn_version_header})
        set(_cudnn_version_header ${CUDNN_INCLUDE_DIR}/cudnn.h)
      endif()
      _tandem_header_version(${_cudnn_version_header}
        CUDNN_MAJOR CUDNN_MINOR CUDNN_PATCHLEVEL TANDEM_CUDNN_VERSION)
      if(TANDEM_CUDNN_VERSION STREQUAL "")
        list(APPEND _tandem_cuda_missing
             "cuDNN 9 (no CUDNN_MAJOR/MINOR/PATCHLEVEL in ${_cudnn_version_header})")
      elseif(NOT TANDEM_CUDNN_VERSION MATCHES "^9\\.")
        list(APPEND _tandem_cuda_missing
             "cuDNN 9 (found cuDNN ${TANDEM_CUDNN_VERSION} in ${CUDNN_INCLUDE_DIR})")
      endif()
    endif()

    _tandem_find_cuda_library(tandem::nccl NCCL nccl.h nccl NCCL)
    if(NCCL_INCLUDE_DIR)
      _tandem_header_version(${NCCL_INCLUDE_DIR}/nccl.h
        NCCL_MAJOR NCCL_MINOR NCCL_PATCH TANDEM_NCCL_VERSION)
    endif()
  endif()

  if(_tandem_cuda_missing STREQUAL "")
    # Shared runtime for every CUDA target: CMake's default would add cudart_static next to the
    # CUDA::cudart that cuBLAS, cuDNN and NCCL need.
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    set(CMAKE_CUDA_ARCHITECTURES ${TANDEM_CUDA_ARCHITECTURES})
    enable_language(CUDA)
    # .cu files share the C++20 headers of kernels/common; CMake 3.25 does not know nvcc's C++20
    # flag, so it is told.
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA_STANDARD 20)
    set(TANDEM_WITH_CUDA ON)
    message(STATUS "tandem: CUDA backend ON (sm_${TANDEM_CUDA_ARCHITECTURES}): "
      "CUDA ${TANDEM_CUDA_VERSION} (shared runtime, ${CUDAToolkit_LIBRARY_DIR}), "
      "cuBLASLt ${TANDEM_CUBLAS_VERSION} (opened at first use), cuRAND ${TANDEM_CURAND_VERSION}, "
      "cuDNN ${TANDEM_CUDNN_VERSION} (${CUDNN_LIBRARY}), "
      "NCCL ${TANDEM_NCCL_VERSION} (${NCCL_LIBRARY})")
  else()
    list(JOIN _tandem_cuda_missing "\n  " _missing_text)
    if(TANDEM_CUDA STREQUAL "ON")
      message(FATAL_ERROR "TANDEM_CUDA=ON but the CUDA stack is incomplete; missing:\n"
        "  ${_missing_text}\n"
        "Install the CUDA toolkit with cuDNN 9 and NCCL (or point CUDNN_ROOT / NCCL_ROOT at "
        "them), or configure with -DTANDEM_CUDA=OFF.")
    elseif(CMAKE_CUDA_COMPILER)
      message(WARNING "tandem: nvcc found but the CUDA stack is incomplete, so tandem is built "
        "WITHOUT CUDA (TANDEM_CUDA=AUTO); missing:\n  ${_missing_text}\n"
        "Configure with -DTANDEM_CUDA=ON to make this an error.")
    else()
      message(STATUS "tandem: CUDA backend OFF (no nvcc found)")
    endif()
  endif()
else()
  message(STATUS "tandem: CUDA backend OFF (TANDEM_CUDA=${TANDEM_CUDA})")
endif()
unset(_tandem_cuda_missing)
