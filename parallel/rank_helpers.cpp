// Rank-aware helpers (see rank_helpers.h).
#include "parallel/rank_helpers.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "framework/tensor/factories.h"
#include "parallel/distributed.h"

namespace tandem::parallel {

namespace {
std::vector<double> reduce_over_ranks(ProcessGroup* pg, std::vector<double> values, ReduceOp op) {
  if (!pg || pg->size() == 1 || values.empty()) return values;
  Tensor t = from_vector(values, {int64_t(values.size())}, TensorOptions(DType::Float64));
  pg->allreduce(t, op)->wait();
  return t.to_vector();
}
}  // namespace

std::vector<double> sum_over_ranks(ProcessGroup* pg, std::vector<double> values) {
  return reduce_over_ranks(pg, std::move(values), ReduceOp::Sum);
}

std::vector<double> max_over_ranks(ProcessGroup* pg, std::vector<double> values) {
  return reduce_over_ranks(pg, std::move(values), ReduceOp::Max);
}

std::vector<double> mean_over_ranks(ProcessGroup* pg, std::vector<double> values) {
  auto sums = sum_over_ranks(pg, std::move(values));
  const double n = pg ? double(pg->size()) : 1.0;
  for (double& v : sums) v /= n;
  return sums;
}

namespace {

// Each rank's `length` bytes at `data`, gathered on every rank in rank order.
std::vector<std::string> allgather_bytes(ProcessGroup& pg, const void* data, int64_t length) {
  std::vector<Tensor> lengths;
  for (int r = 0; r < pg.size(); ++r) lengths.push_back(zeros({1}, TensorOptions(DType::Int64)));
  pg.allgather(lengths, from_vector(std::vector<int64_t>{length}, {1}))->wait();
  int64_t longest = 1;  // never a zero-size message
  for (const Tensor& n : lengths) longest = std::max(longest, n.item<int64_t>());
  Tensor mine = zeros({longest}, TensorOptions(DType::UInt8));
  if (length > 0) std::memcpy(mine.raw_data(), data, size_t(length));
  std::vector<Tensor> all;
  for (int r = 0; r < pg.size(); ++r) all.push_back(zeros({longest}, TensorOptions(DType::UInt8)));
  pg.allgather(all, mine)->wait();
  std::vector<std::string> out;
  for (int r = 0; r < pg.size(); ++r)
    out.emplace_back(static_cast<const char*>(all[size_t(r)].raw_data()),
                     size_t(lengths[size_t(r)].item<int64_t>()));
  return out;
}

}  // namespace

std::vector<std::vector<int64_t>> allgather_vectors(ProcessGroup& pg,
                                                    const std::vector<int64_t>& mine) {
  std::vector<std::vector<int64_t>> out;
  for (const std::string& bytes :
       allgather_bytes(pg, mine.data(), int64_t(mine.size() * sizeof(int64_t)))) {
    out.emplace_back(bytes.size() / sizeof(int64_t));
    if (!bytes.empty()) std::memcpy(out.back().data(), bytes.data(), bytes.size());
  }
  return out;
}

std::vector<std::string> allgather_strings(ProcessGroup& pg, const std::string& mine) {
  return allgather_bytes(pg, mine.data(), int64_t(mine.size()));
}

std::string rank_names(const std::vector<int>& ranks) {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
  return out;
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
