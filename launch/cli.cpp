// Argument parsing and help texts. Valid options per command are listed once here.
#include "launch/cli.h"

#include <algorithm>

#include "framework/core/text.h"
#include "kernels/common/error.h"
#include "launch/config.h"

namespace tandem::launch {
namespace {

struct CommandSpec {
  const char* name;
  const char* synopsis;
  const char* summary;
  std::vector<std::string> options;  // take a value
  std::vector<std::string> flags;    // take none
};

const std::vector<CommandSpec>& specs() {
  static const std::vector<CommandSpec> s = {
      {"train",
       "tandem train CONFIG.yaml [--set key.path=value ...] [--resume auto|never|PATH] "
       "[--print-config] [--help-config]",
       "Train as configured; under mpirun each rank is one data-parallel worker.\n"
       "  --set key.path=value   override a config key (YAML value syntax), repeatable\n"
       "  --resume auto          continue from CHECKPOINT_DIR/last.safetensors if present "
       "(default)\n"
       "  --resume never         start fresh even if the run directory has checkpoints\n"
       "  --resume PATH          continue from the given tandem checkpoint\n"
       "  --print-config         print the resolved config and exit\n"
       "  --help-config          list every config key with its default and meaning",
       {"--set", "--resume"},
       {"--print-config", "--help-config"}},
      {"eval",
       "tandem eval [CONFIG.yaml] --checkpoint PATH [--set key.path=value ...]",
       "Evaluate a checkpoint on the test split in one process; prints one JSON line\n"
       "{\"split\",\"loss\",\"accuracy\",\"samples\"}. CONFIG is optional for a tandem checkpoint.",
       {"--checkpoint", "--set"},
       {}},
      {"predict",
       "tandem predict [CONFIG.yaml] --checkpoint PATH --input IN --output OUT",
       "Eval-mode forward. IN.safetensors: of its tensor \"input\"; writes the tensor \"output\" "
       "to OUT.safetensors.\nIN an image (.jpg, .png) or a folder of them: each through "
       "data.val_transforms; a segmentation model\nwrites a PNG of class indices per image into "
       "the folder OUT (or to OUT.png for one image), a classifier\nwrites OUT.json "
       "{\"predictions\": [{\"file\", \"class\", \"probability\"}]}.",
       {"--checkpoint", "--input", "--output", "--set"},
       {}},
      {"inspect",
       "tandem inspect PATH [--json]",
       "List keys, dtypes, shapes and metadata of a .safetensors, .pt or .pth file.",
       {},
       {"--json"}},
      {"convert",
       "tandem convert IN OUT [--strip-prefix P] [--add-prefix P] [--dtype bf16|fp16|fp32]",
       "Convert between .pt/.pth and .safetensors (by extension); a tandem checkpoint becomes\n"
       "PyTorch's {'epoch','state_dict','optimizer','scheduler','best_metric','is_best'} dict.\n"
       "--dtype writes the weights' floating tensors in that type (for inference).",
       {"--strip-prefix", "--add-prefix", "--dtype"},
       {}},
  };
  return s;
}

const CommandSpec* find_spec(const std::string& name) {
  for (const auto& s : specs())
    if (name == s.name) return &s;
  return nullptr;
}

std::vector<std::string> command_names() {
  std::vector<std::string> names;
  for (const auto& s : specs()) names.push_back(s.name);
  return names;
}

}  // namespace

bool CommandLine::has_flag(const std::string& f) const {
  return std::find(flags.begin(), flags.end(), f) != flags.end();
}

std::string CommandLine::option(const std::string& name, const std::string& fallback) const {
  auto it = options.find(name);
  return it == options.end() ? fallback : it->second;
}

std::string usage() {
  std::string u =
      "tandem: data-parallel training with PyTorch's semantics\n\n"
      "usage:\n";
  for (const auto& s : specs()) u += "  " + std::string(s.synopsis) + "\n";
  u += "  tandem --version     (build, library versions as built and as loaded, CUDA devices)\n";
  u += "\nRun `tandem COMMAND --help` for a command's options. Multi-process: mpirun -np N tandem "
       "train ...\n";
  return u;
}

std::string command_help(const std::string& command) {
  const CommandSpec* s = find_spec(command);
  if (!s) return usage();
  return std::string("usage: ") + s->synopsis + "\n\n" + s->summary + "\n";
}

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine cl;
  if (argc < 2) throw Error("no command given", "run `tandem --help` for usage");
  cl.command = argv[1];
  if (cl.command == "--help" || cl.command == "-h" || cl.command == "help") {
    cl.command = "help";
    return cl;
  }
  if (cl.command == "--version") {
    cl.command = "version";
    return cl;
  }
  const CommandSpec* spec = find_spec(cl.command);
  if (!spec) {
    const std::string guess = closest_match(cl.command, command_names());
    throw Error("unknown command '" + cl.command + "'",
                (guess.empty() ? std::string() : "did you mean '" + guess + "'? ") +
                    "commands: train, eval, predict, inspect, convert");
  }
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cl.flags.push_back("--help");
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      cl.positional.push_back(arg);
      continue;
    }
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--set", 0) != 0) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (std::find(spec->flags.begin(), spec->flags.end(), arg) != spec->flags.end()) {
      cl.flags.push_back(arg);
      continue;
    }
    if (std::find(spec->options.begin(), spec->options.end(), arg) == spec->options.end()) {
      std::vector<std::string> valid = spec->options;
      valid.insert(valid.end(), spec->flags.begin(), spec->flags.end());
      const std::string guess = closest_match(arg, valid);
      throw Error("tandem " + cl.command + ": unknown option '" + arg + "'",
                  guess.empty() ? "run `tandem " + cl.command + " --help`"
                                : "did you mean '" + guess + "'?");
    }
    if (!has_value) {
      if (i + 1 >= argc) throw Error("tandem " + cl.command + ": option " + arg + " needs a value");
      value = argv[++i];
    }
    if (arg == "--set")
      cl.sets.push_back(value);
    else
      cl.options[arg] = value;
  }
  return cl;
}

}  // namespace tandem::launch
