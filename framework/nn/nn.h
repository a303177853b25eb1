// Umbrella header: everything in tandem::nn (modules, containers, layers, init).
#pragma once

// ReLU, LeakyReLU, GELU, SiLU, Mish, ELU, SELU, CELU, Softplus, Hardsigmoid, Hardswish, Sigmoid,
// Tanh, Softmax, LogSoftmax
#include "framework/nn/activation.h"
#include "framework/nn/batchnorm.h"      // BatchNorm1d, BatchNorm2d
#include "framework/nn/containers.h"     // Sequential, ModuleList, ModuleDict
#include "framework/nn/conv.h"           // Conv2d, ConvTranspose2d
#include "framework/nn/dropout.h"        // Dropout, Dropout1d, Dropout2d, Dropout3d
#include "framework/nn/embedding.h"      // Embedding
#include "framework/nn/flatten.h"        // Flatten
#include "framework/nn/init.h"           // nn::init::*
#include "framework/nn/linear.h"         // Linear, Identity
#include "framework/nn/loss.h"           // CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, ...
#include "framework/nn/module.h"         // Module, StateDict, IncompatibleKeys
#include "framework/nn/normalization.h"  // LayerNorm, GroupNorm
#include "framework/nn/pooling.h"   // MaxPool2d, AvgPool2d, Adaptive{Avg,Max}Pool2d, MaxUnpool2d
#include "framework/nn/upsample.h"  // Upsample
