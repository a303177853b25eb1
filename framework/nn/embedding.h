// Embedding: a lookup table of num_embeddings rows of embedding_dim, as torch.nn.Embedding (the
// functional form is framework/ops/embedding.h).
//
//   auto emb = std::make_shared<nn::Embedding>(1000, 64);   // Embedding(1000, 64)
//   Tensor out = emb->forward(token_ids);                   // int64 [B, T] -> [B, T, 64]
#pragma once

#include <optional>

#include "framework/nn/module.h"
#include "framework/tensor/generator.h"

namespace tandem::nn {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings = 0, int64_t embedding_dim = 0)
      : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {}
  int64_t num_embeddings;
  int64_t embedding_dim;
  // May be given negative (counted from the end); the module keeps it in [0, num_embeddings).
  std::optional<int64_t> padding_idx;
  std::optional<double> max_norm;
  double norm_type = 2.0;
  bool scale_grad_by_freq = false;
};

class Embedding : public Module {
 public:
  // weight ~ N(0, 1) (PyTorch's normal_), then the padding row zeroed.
  explicit Embedding(const EmbeddingOptions& options, Generator& gen = default_generator());
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator& gen = default_generator())
      : Embedding(EmbeddingOptions{num_embeddings, embedding_dim}, gen) {}
  // Embedding.from_pretrained: the table is `embeddings` itself (2-D, its storage shared, no
  // init drawn, the padding row left as it is), frozen unless freeze is false. options' sizes
  // are taken from `embeddings`.
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& embeddings, bool freeze = true,
                                                    EmbeddingOptions options = {});
  void reset_parameters(Generator& gen = default_generator());
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;

  EmbeddingOptions options;
  Tensor weight;  // [num_embeddings, embedding_dim]

 private:
  Embedding(const EmbeddingOptions& options, Tensor weight);
};

}  // namespace tandem::nn
