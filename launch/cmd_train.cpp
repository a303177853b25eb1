// `tandem train CONFIG.yaml [--set ...] [--resume auto|never|PATH] [--print-config]`
#include <cstdio>

#include "launch/cli.h"
#include "launch/config.h"
#include "launch/trainer.h"
#include "launch/training_setup.h"

namespace tandem::launch {

int cmd_train(const CommandLine& cl) {
  if (cl.has_flag("--help-config")) {
    std::fputs(config_reference().c_str(), stdout);
    return 0;
  }
  if (cl.positional.size() != 1)
    throw Error("tandem train expects one CONFIG.yaml",
                "usage: tandem train CONFIG.yaml [--set key.path=value ...]");
  RunConfig cfg = load_config(cl.positional[0], cl.sets);
  if (cl.has_flag("--print-config")) {
    check_config(cfg);  // the model, optimizer and scheduler sections too
    std::fputs(to_yaml(cfg).c_str(), stdout);
    return 0;
  }
  TrainOptions opts;
  opts.resume = cl.option("--resume", "auto");
  return train(cfg, opts);
}

}  // namespace tandem::launch
