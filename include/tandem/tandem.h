// tandem's public API in one include, as libtorch's <torch/torch.h>:
//
//   #include <tandem/tandem.h>
//   using namespace tandem;
//   auto net = nn::models::resnet18({.num_classes = 10});
//   optim::SGD opt(net->parameters(), {.lr = 0.1, .momentum = 0.9});
//   Tensor loss = cross_entropy((*net)(images), labels);
//   loss.backward();
//   opt.step();
//   io::save(net->state_dict(), "net.pt");           // torch.load("net.pt") reads it
//   std::cout << *net << "\n";                        // print(net)
//
// Installed with tandem (cmake --install, or the .deb) and found by find_package(tandem) or
// pkg-config; the headers below, and what they include, are the installed ones. Everything else
// in the source tree (kernel tables and backends, file-format internals, the CLI) is internal.
#pragma once

#include "tandem/version.h"  // TANDEM_VERSION, tandem::library_version()

// Tensors and autograd
#include "framework/autograd/engine.h"     // autograd::backward
#include "framework/autograd/grad_mode.h"  // NoGradGuard
#include "framework/core/value.h"          // Value: what .pt files and optimizer states hold
#include "framework/tensor/factories.h"    // zeros, ones, randn, arange, from_vector, ...
#include "framework/tensor/generator.h"    // Generator, manual_seed
#include "framework/tensor/tensor.h"       // Tensor, its methods and operators

// Ops (differentiable): elementwise, reductions, matmul, conv, pooling, losses, pad, ...
#include "framework/ops/ops.h"

// nn: modules, layers, containers, init, and the model zoo
#include "framework/nn/models/builder.h"  // build_model from a spec (the YAML model section)
#include "framework/nn/models/resnet.h"   // resnet18/34/50
#include "framework/nn/models/simple.h"   // mlp, simple_cnn
#include "framework/nn/models/unet.h"     // UNet and its blocks
#include "framework/nn/models/vgg.h"      // vgg11_bn
#include "framework/nn/nn.h"              // Module, Sequential, Linear, Conv2d, ...

// Optimizers and LR schedulers
#include "framework/optim/adam.h"          // Adam, AdamW
#include "framework/optim/clip_grad.h"     // clip_grad_norm_, clip_grad_value_
#include "framework/optim/factory.h"       // make_optimizer, make_scheduler from a spec
#include "framework/optim/lr_scheduler.h"  // StepLR, CosineAnnealingLR, OneCycleLR, ...
#include "framework/optim/sgd.h"           // SGD

// Data
#include "framework/data/data_loader.h"    // DataLoader
#include "framework/data/dataset.h"        // Dataset
#include "framework/data/fashion_mnist.h"  // FashionMnist
#include "framework/data/synthetic.h"      // SyntheticDataset

// Files: .pt/.pth (torch.save), .safetensors, checkpoints
#include "framework/io/checkpoint.h"        // Checkpoint, save_checkpoint, load_checkpoint
#include "framework/io/safetensors.h"       // load_safetensors, save_safetensors
#include "framework/io/serialize.h"         // io::save, io::load, io::load_state_dict
#include "framework/io/state_dict_utils.h"  // reconcile_prefixes, strip_prefix, add_prefix

// Data parallelism
#include "parallel/data_parallel.h"        // DataParallel (one process, threads)
#include "parallel/ddp.h"                  // DistributedDataParallel (mpirun)
#include "parallel/distributed.h"          // init_distributed, World
#include "parallel/distributed_sampler.h"  // DistributedSampler
#include "parallel/process_group.h"        // ProcessGroup, allreduce, ...
