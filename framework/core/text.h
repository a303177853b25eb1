// Small text helpers for error messages.
#pragma once

#include <string>
#include <vector>

namespace tandem {

// The candidate closest to `word` (edit distance; a prefix/substring relation counts as close,
// so "kernel" suggests "kernel_size"), or "" if none is reasonably close. Used for the
// "did you mean ...?" hints of config keys, layer names and command-line options.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace tandem
