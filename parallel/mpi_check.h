// Checked MPI calls: a failure throws with the call, MPI's error text and file:line.
#pragma once

#include <mpi.h>

#include <string>

#include "kernels/common/error.h"

namespace tandem::parallel {

inline void mpi_check(int rc, const char* call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string(call) + " failed: " + std::string(text, size_t(len)) + " (" + file + ":" +
              std::to_string(line) + ")");
}

}  // namespace tandem::parallel

#define TANDEM_MPI_CHECK(call) ::tandem::parallel::mpi_check((call), #call, __FILE__, __LINE__)
