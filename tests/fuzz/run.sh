#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan over the whole project) and runs each for a
# bounded time on the seed corpus. Usage: tests/fuzz/run.sh [seconds per target, default 25]
# (tests/sanitize/run.sh does the same after running the test suites under the sanitizers.)
exec "$(dirname "$0")/../sanitize/run.sh" --fuzz-only "$@"
