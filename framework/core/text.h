// Small text helpers for error messages.
#pragma once

#include <string>
#include <vector>

namespace tandem {

// The candidate closest to `word` (edit distance; a prefix/substring relation counts as close,
// so "kernel" suggests "kernel_size"), or "" if none is reasonably close. Used for the
// "did you mean ...?" hints of config keys, layer names and command-line options.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF);
// on failure *bad_at (if given) is the offset of the first bad byte. Readers check text from
// files with it, so a bad byte is reported where it came from and not by a later JSON writer.
bool is_valid_utf8(const std::string& s, size_t* bad_at = nullptr);

}  // namespace tandem
