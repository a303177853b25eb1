// Command-line parsing for the `tandem` executable: subcommand, positional arguments and
// options (--set may repeat). Each command lives in its own cmd_<name>.cpp.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tandem::launch {

struct CommandLine {
  std::string command;                         // train | eval | predict | inspect | convert |
                                               // help | version
  std::vector<std::string> positional;         // CONFIG.yaml, PATH, IN OUT, ...
  std::vector<std::string> sets;               // --set a.b=c (repeatable)
  std::map<std::string, std::string> options;  // --resume auto, --checkpoint PATH, ...
  std::vector<std::string> flags;              // --json, --print-config, --help
  bool has_flag(const std::string& f) const;
  std::string option(const std::string& name, const std::string& fallback = "") const;
};

// Parses argv; unknown options are errors naming the command's valid options.
CommandLine parse_command_line(int argc, char** argv);
std::string usage();                                   // top-level help
std::string command_help(const std::string& command);  // help of one command

// Commands: each returns the process exit code; user errors throw tandem::Error.
int cmd_train(const CommandLine& cl);
int cmd_eval(const CommandLine& cl);
int cmd_predict(const CommandLine& cl);
int cmd_inspect(const CommandLine& cl);
int cmd_convert(const CommandLine& cl);

}  // namespace tandem::launch
