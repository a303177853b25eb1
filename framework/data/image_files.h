// What the image datasets share: listing a folder in torchvision's order, and decoding every
// file once up front to leave out the bad ones (data.skip_bad_images).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tandem::data {

// The files os.walk(dir, followlinks=True) reaches, in the order torchvision's make_dataset
// takes them: directories sorted by path (sorted(os.walk(...)), so "a/sub" < "a/sub-2" <
// "a/sub/deep"), files sorted by name within each, keeping those `keep` accepts. An unreadable
// directory, or a symbolic link leading back into a directory being walked (os.walk would
// descend until the path is too long), is an error naming it.
std::vector<std::string> walk_sorted(const std::string& dir,
                                     const std::function<bool(const std::string&)>& keep);

// The entries of `dir` that are directories (following symbolic links), sorted by name: the
// classes of torchvision's find_classes.
std::vector<std::string> sorted_subdirectories(const std::string& dir);

// Runs check(i) for i in [0, n) on a few threads and returns, in order, the indices whose check
// threw a tandem::Error, after printing "warning: <dataset>: skipping <describe(i)>: <error>" for
// each and a count of them to stderr.
std::vector<int64_t> find_bad_items(const std::string& dataset, int64_t n,
                                    const std::function<void(int64_t)>& check,
                                    const std::function<std::string(int64_t)>& describe);

// `path` without its trailing slashes ("/" stays "/").
std::string without_trailing_slash(std::string path);

}  // namespace tandem::data
