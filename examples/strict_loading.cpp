// load_state_dict's strict mode, as PyTorch's: with strict=true (the default) missing or
// unexpected keys are an error listing them; with strict=false they are returned
// (IncompatibleKeys) and the matching ones load. A shape mismatch is an error either way.
// Run: ./strict_loading
#include <tandem/tandem.h>

#include <iostream>

#include "example_check.h"

using namespace tandem;

int main() {
  Generator gen(0);
  auto small = nn::models::mlp({.in_features = 8, .hidden = {16}, .num_classes = 3}, gen);
  // One more layer at the end: the same keys and shapes, plus "5.weight" and "5.bias".
  auto deeper = nn::models::mlp({.in_features = 8, .hidden = {16, 3}, .num_classes = 3}, gen);
  std::cout << "small: " << *small << "\ndeeper: " << *deeper << "\n";

  // strict=true: PyTorch's message, naming every key.
  try {
    deeper->load_state_dict(small->state_dict());
    check(false, "strict loading of a different architecture must fail");
  } catch (const Error& e) {
    std::cout << "strict=true: " << e.what() << "\n";
    check(std::string(e.what()).find("Missing key(s) in state_dict") != std::string::npos,
          "the error lists the missing keys");
  }

  // strict=false: the keys that match load, the others are reported.
  nn::IncompatibleKeys result = deeper->load_state_dict(small->state_dict(), /*strict=*/false);
  std::cout << "strict=false: " << result.repr() << "\n";
  check(!result.missing_keys.empty(), "missing keys are reported");
  check(result.missing_keys == std::vector<std::string>{"5.weight", "5.bias"},
        "the new layer's keys are the missing ones");
  check(equal(deeper->state_dict().at("3.weight"), small->state_dict().at("3.weight")),
        "the matching layers were loaded");

  // A shape mismatch is an error even with strict=false.
  auto wider = nn::models::mlp({.in_features = 8, .hidden = {32}, .num_classes = 3}, gen);
  try {
    wider->load_state_dict(small->state_dict(), /*strict=*/false);
    check(false, "a shape mismatch must fail");
  } catch (const Error& e) {
    std::cout << "shape mismatch: " << e.what() << "\n";
    check(std::string(e.what()).find("size mismatch for 1.weight") != std::string::npos,
          "the error names the tensor");
  }
  return 0;
}
