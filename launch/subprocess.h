// Running a helper program (gnuplot) without a shell: the program and its arguments go to
// posix_spawnp as a vector, so no character of a path or config value is ever interpreted as
// shell syntax. Input arrives on the program's stdin, output goes to a file descriptor.
//
//   ProgramResult r = run_program({"gnuplot"}, script, svg_fd);
//   if (!r.started) ...;  // not installed: r.error says so
#pragma once

#include <string>
#include <vector>

namespace tandem::launch {

struct ProgramResult {
  bool started = false;  // false: the program could not be started (not found, not executable)
  int exit_code = -1;    // the program's exit status; 128 + N when signal N ended it
  std::string error;     // why it could not start, or the first lines of what it wrote to stderr
};

// Runs argv[0] (looked up in PATH when it has no '/') with argv[1...] as its arguments, `input`
// as its stdin and its stdout written to `stdout_fd` (-1: discarded), and waits for it.
ProgramResult run_program(const std::vector<std::string>& argv, const std::string& input,
                          int stdout_fd = -1);

}  // namespace tandem::launch
