// main() for GoogleTest suites that run on every rank under mpirun: initialises the world,
// runs the tests, and makes the job fail if any rank failed.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include "parallel/distributed.h"

#define TANDEM_MPI_TEST_MAIN()                                                             \
  int main(int argc, char** argv) {                                                        \
    ::testing::InitGoogleTest(&argc, argv);                                                \
    const auto& world = tandem::parallel::init_distributed();                              \
    if (world.rank != 0) { /* only rank 0 prints */                                        \
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();                   \
      delete listeners.Release(listeners.default_result_printer());                        \
    }                                                                                      \
    int failed = RUN_ALL_TESTS() != 0 ? 1 : 0, any = failed;                               \
    if (world.size > 1) MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD); \
    tandem::parallel::shutdown_distributed();                                              \
    return any;                                                                            \
  }
