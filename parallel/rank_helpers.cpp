// Rank-aware helpers (see rank_helpers.h).
#include "parallel/rank_helpers.h"

#include <cstdarg>
#include <cstdio>

#include "framework/tensor/factories.h"
#include "parallel/distributed.h"

namespace tandem::parallel {

std::vector<double> sum_over_ranks(ProcessGroup* pg, std::vector<double> values) {
  if (!pg || pg->size() == 1 || values.empty()) return values;
  Tensor t = from_vector(values, {int64_t(values.size())}, TensorOptions(DType::Float64));
  pg->allreduce(t, ReduceOp::Sum)->wait();
  return t.to_vector();
}

std::vector<double> mean_over_ranks(ProcessGroup* pg, std::vector<double> values) {
  auto sums = sum_over_ranks(pg, std::move(values));
  const double n = pg ? double(pg->size()) : 1.0;
  for (double& v : sums) v /= n;
  return sums;
}

int print_rank0(const char* format, ...) {
  if (init_distributed().rank != 0) return 0;
  va_list args;
  va_start(args, format);
  const int n = std::vfprintf(stdout, format, args);
  va_end(args);
  std::fflush(stdout);
  return n;
}

}  // namespace tandem::parallel
