// Builds a Module from a spec tree (tandem::Value, e.g. parsed from the YAML `model:` section).
// Type names are PyTorch class names in lower case, arguments are PyTorch's argument names:
//
//   {name: sequential, layers: [{conv2d: {in_channels: 1, out_channels: 32, kernel_size: 3}},
//                               relu, {maxpool2d: {kernel_size: 2}}, flatten, ...]}
//   {name: sequential, layers: {fc1: {linear: {...}}, relu1: relu}}   // named children
//   {layernorm: {normalized_shape: [8]}}, {groupnorm: {num_groups: 2, num_channels: 8}}
//   {name: resnet18, num_classes: 10, in_channels: 1}                  // a zoo model
//
// Errors name the key path ("model.layers[2].conv2d.kernel") and suggest the closest valid name.
#pragma once

#include <string>
#include <vector>

#include "framework/core/value.h"
#include "framework/nn/module.h"
#include "framework/tensor/generator.h"

namespace tandem::nn::models {

ModulePtr build_model(const Value& spec, Generator& gen = default_generator(),
                      const std::string& path = "model");
// A single layer spec: "relu" or {conv2d: {...}} (also {sequential: [...]}).
ModulePtr build_layer(const Value& spec, Generator& gen = default_generator(),
                      const std::string& path = "layer");

std::vector<std::string> zoo_model_names();   // mlp, simple_cnn, resnet18, ...
std::vector<std::string> layer_type_names();  // conv2d, linear, relu, ...

}  // namespace tandem::nn::models
