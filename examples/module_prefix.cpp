// Weights from wrapped models: DistributedDataParallel and DataParallel keep the model as their
// child "module", so their state_dict keys start with "module."; torch.compile (PyTorch 2.x)
// keeps it as "_orig_mod". load_state_dict reconciles these prefixes in both directions, alone
// or together, and reconcile_prefixes says what it did.
// Run: ./module_prefix
#include <tandem/tandem.h>

#include <iostream>

#include "example_check.h"

using namespace tandem;

int main() {
  auto make = [] { return nn::models::mlp({.in_features = 8, .hidden = {16}, .num_classes = 2}); };

  // A wrapped model's keys: DataParallel, as DistributedDataParallel, adds "module.".
  auto wrapped = std::make_shared<parallel::DataParallel>(make, /*num_replicas=*/2);
  const nn::StateDict multi_card = wrapped->state_dict();
  std::cout << "DataParallel keys: " << multi_card.keys().front() << ", ...\n";
  check(multi_card.keys().front() == "module.1.weight", "the wrapper's keys");

  // ...load into a plain model, and a plain model's into a wrapped one.
  auto plain = make();
  check(plain->load_state_dict(multi_card).empty(), "module. weights load into a plain model");
  check(equal(plain->state_dict().at("1.weight"), multi_card.at("module.1.weight")), "same values");
  auto rewrapped = std::make_shared<parallel::DataParallel>(make, 2);
  check(rewrapped->load_state_dict(plain->state_dict()).empty(), "and the reverse");

  // torch.compile's prefix, alone or with DDP's, in either order; PrefixChange says what was done.
  for (const std::string prefix : {"_orig_mod.", "module._orig_mod.", "_orig_mod.module."}) {
    const nn::StateDict saved = io::add_prefix(plain->state_dict(), prefix);
    io::PrefixChange change;
    const nn::StateDict fitted = io::reconcile_prefixes(saved, plain->state_dict().keys(), &change);
    std::cout << saved.keys().front() << ": " << change.describe() << "\n";
    check(fitted.keys() == plain->state_dict().keys(), prefix + " is reconciled");
    check(make()->load_state_dict(saved).empty(), prefix + " loads with load_state_dict");
  }
  return 0;
}
