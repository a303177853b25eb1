// Umbrella include: the whole differentiable op set.
#pragma once

#include "framework/ops/activation.h"     // relu, gelu, sigmoid, tanh, softmax, log_softmax
#include "framework/ops/conv.h"           // conv2d, conv_transpose2d
#include "framework/ops/dropout.h"        // dropout, dropout1d, dropout2d, dropout3d
#include "framework/ops/elementwise.h"    // add, mul, ..., clamp, comparisons, sum_to
#include "framework/ops/embedding.h"      // embedding, embedding_renorm_
#include "framework/ops/linalg.h"         // matmul, mm, linear
#include "framework/ops/loss.h"           // cross_entropy, nll_loss, mse_loss, kl_div, ...
#include "framework/ops/normalization.h"  // batch_norm
#include "framework/ops/pad.h"            // pad (constant, reflect, replicate, circular)
#include "framework/ops/pooling.h"        // max_pool2d, max_unpool2d, avg_pool2d, adaptive_*_pool2d
#include "framework/ops/reduction.h"      // sum, mean, var, max, min, amax, argmax
#include "framework/ops/shape_ops.h"      // cat, stack, index_select
#include "framework/ops/upsample.h"       // interpolate
#include "framework/tensor/factories.h"   // zeros, ones, rand, randn, randperm, ...
