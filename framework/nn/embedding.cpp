// Embedding: the weight, PyTorch's init and padding row, from_pretrained, forward, repr.
#include "framework/nn/embedding.h"

#include "framework/autograd/grad_mode.h"
#include "framework/nn/init.h"
#include "framework/ops/embedding.h"
#include "framework/tensor/factories.h"

namespace tandem::nn {
namespace {

// nn.Embedding's check of padding_idx, which it keeps wrapped into [0, num_embeddings).
EmbeddingOptions checked(EmbeddingOptions o) {
  if (o.padding_idx) o.padding_idx = embedding_padding_index(*o.padding_idx, o.num_embeddings);
  return o;
}

}  // namespace

Embedding::Embedding(const EmbeddingOptions& o, Generator& gen)
    : Module("Embedding"), options(checked(o)) {
  weight = register_parameter("weight", empty({options.num_embeddings, options.embedding_dim}));
  reset_parameters(gen);
}

Embedding::Embedding(const EmbeddingOptions& o, Tensor w) : Module("Embedding"), options(o) {
  weight = register_parameter("weight", std::move(w));
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& embeddings, bool freeze,
                                                      EmbeddingOptions o) {
  TANDEM_CHECK(embeddings.dim() == 2, "Embeddings parameter is expected to be 2-dimensional");
  o.num_embeddings = embeddings.size(0);
  o.embedding_dim = embeddings.size(1);
  auto m = std::shared_ptr<Embedding>(new Embedding(checked(o), embeddings.detach()));
  m->weight.set_requires_grad(!freeze);
  return m;
}

void Embedding::reset_parameters(Generator& gen) {
  init::normal_(weight, 0.0, 1.0, gen);
  if (options.padding_idx) {
    const NoGradGuard no_grad;
    weight.narrow(0, *options.padding_idx, 1).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  return embedding(indices, weight, options.padding_idx, options.max_norm, options.norm_type,
                   options.scale_grad_by_freq);
}

std::string Embedding::extra_repr() const {
  std::string s =
      std::to_string(options.num_embeddings) + ", " + std::to_string(options.embedding_dim);
  if (options.padding_idx) s += ", padding_idx=" + std::to_string(*options.padding_idx);
  if (options.max_norm) s += ", max_norm=" + python_float_str(*options.max_norm);
  if (options.norm_type != 2) s += ", norm_type=" + python_float_str(options.norm_type);
  if (options.scale_grad_by_freq) s += ", scale_grad_by_freq=True";
  return s;
}

}  // namespace tandem::nn
