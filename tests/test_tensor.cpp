// Tensor basics: metadata, views sharing storage, copies, conversion, factories, generator.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/ops/ops.h"

using namespace tandem;

TEST(Tensor, FactoriesAndMetadata) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.dim(), 2);
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.dtype(), DType::Float32);
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(full({2}, 7.5).to_vector(), (std::vector<double>{7.5, 7.5}));
  EXPECT_EQ(arange(5).to_vector(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(5).dtype(), DType::Int64);
  EXPECT_EQ(arange(1, 2, 0.25, TensorOptions(DType::Float64)).to_vector(),
            (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(ones({}).item(), 1.0);
  // Empty tensors are contiguous whatever their strides, as in PyTorch.
  EXPECT_EQ(zeros({2, 0}).strides(), (Shape{1, 1}));
  EXPECT_TRUE(zeros({2, 0}).is_contiguous());
  EXPECT_TRUE(zeros({0, 3}).t().is_contiguous());
}

TEST(Tensor, ViewsShareStorage) {
  Tensor a = arange(6, TensorOptions(DType::Float32)).reshape({2, 3});
  Tensor t = a.t();
  EXPECT_EQ(t.sizes(), (Shape{3, 2}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.contiguous().to_vector(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  Tensor row = a.select(0, 1);
  row.fill_(9);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{0, 1, 2, 9, 9, 9}));
  EXPECT_EQ(a.narrow(1, 1, 2).contiguous().to_vector(), (std::vector<double>{1, 2, 9, 9}));
  EXPECT_EQ(a.slice(1, 0, 3, 2).contiguous().to_vector(), (std::vector<double>{0, 2, 9, 9}));
  EXPECT_EQ(a.unsqueeze(0).sizes(), (Shape{1, 2, 3}));
  EXPECT_EQ(a.unsqueeze(0).squeeze(0).sizes(), (Shape{2, 3}));
  EXPECT_EQ(a.permute({1, 0}).sizes(), (Shape{3, 2}));
  EXPECT_EQ(a.flatten().sizes(), (Shape{6}));
  EXPECT_EQ(a.view({3, -1}).sizes(), (Shape{3, 2}));
  Tensor e = tensor({1, 2}).reshape({2, 1}).expand({2, 3});
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  EXPECT_EQ(e.contiguous().to_vector(), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  EXPECT_THROW(a.t().view({6}), Error);
  EXPECT_EQ(a.t().reshape({6}).to_vector(), (std::vector<double>{0, 9, 1, 9, 2, 9}));
}

TEST(Tensor, CopyAndConvert) {
  Tensor a = tensor({1.5, -2.25, 3.0});
  EXPECT_EQ(a.to(DType::Int64).to_vector(), (std::vector<double>{1, -2, 3}));
  EXPECT_EQ(a.to(DType::Float16).to(DType::Float32).to_vector(), a.to_vector());
  EXPECT_EQ(a.to(DType::BFloat16).to(DType::Float64).to_vector(), a.to_vector());
  EXPECT_EQ(tensor({0.1}).to(DType::Float16).to(DType::Float64).item(), 0.0999755859375);
  EXPECT_EQ(tensor({65520.0}).to(DType::Float16).to(DType::Float32).item(), INFINITY);
  EXPECT_EQ(tensor({0, 2}).to(DType::Bool).to_vector(), (std::vector<double>{0, 1}));
  Tensor b = zeros({2, 3});
  b.copy_(tensor({1, 2, 3}));
  EXPECT_EQ(b.to_vector(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  Tensor c = a.clone();
  c.fill_(0);
  EXPECT_EQ(a.to_vector()[0], 1.5);
}

// div_ by a scalar divides, as PyTorch's does on the CPU: x / 3 is not x * (1 / 3) in every bit.
TEST(Tensor, InPlaceDivisionByAScalarDivides) {
  Generator gen(3);
  const Tensor x = randn({1000}, gen);
  Tensor y = x.clone();
  y.div_(3.0);
  EXPECT_EQ(y.to_vector(), (x / 3.0).to_vector());
  EXPECT_NE(y.to_vector(), (x * (1.0 / 3.0)).to_vector());
  Tensor ints = arange(4);
  EXPECT_THROW(ints.div_(2.0), Error);
}

TEST(Tensor, Print) {
  EXPECT_EQ(tensor({1, 2.5}).str(), "tensor([1.0000, 2.5000])");
  EXPECT_EQ(arange(4).reshape({2, 2}).str(), "tensor([[0, 1],\n        [2, 3]])");
  EXPECT_EQ(ones({1}, TensorOptions(DType::Float64)).set_requires_grad(true).str(),
            "tensor([1.0000], dtype=torch.float64, requires_grad=True)");
}

TEST(Generator, MatchesTorchRandperm) {
  // torch.manual_seed(0); torch.randperm(10) -> [2, 8, 4, 1, 3, 6, 7, 0, 9, 5] (reference §4.5:
  // with 3 replicas, seed 0, epoch 2, rank 0 gets [8, 5, 0, 3]).
  Generator gen(2);
  std::vector<double> perm = randperm(10, gen).to_vector();
  std::vector<double> rank0;
  for (size_t i = 0; i < 12; i += 3) rank0.push_back(i < 10 ? perm[i] : perm[i - 10]);
  EXPECT_EQ(rank0, (std::vector<double>{8, 5, 0, 3}));
}

TEST(Generator, StateRoundTrip) {
  Generator g(7);
  g.random();
  const std::string state = g.get_state();
  const uint32_t next = g.random();
  Generator h;
  h.set_state(state);
  EXPECT_EQ(h.random(), next);
  EXPECT_THROW(h.set_state("garbage"), Error);
}
