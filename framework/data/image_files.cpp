// Folder walking in Python's order and the parallel pre-check of skip_bad_images.
#include "framework/data/image_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>
#include <utility>

#include "framework/data/worker_pool.h"
#include "kernels/common/error.h"

namespace tandem::data {

namespace {

namespace fs = std::filesystem;

struct Listing {
  std::string root;
  std::vector<std::string> files;
};

// One directory of os.walk: its files, then each subdirectory (os.walk's followlinks=True:
// DirEntry.is_dir() follows links; an entry whose target cannot be read counts as a file).
void walk(const std::string& dir, std::vector<std::pair<dev_t, ino_t>>& open_dirs,
          std::vector<Listing>& out) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    throw Error("cannot read directory " + dir + ": " + std::strerror(errno));
  const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
  if (std::find(open_dirs.begin(), open_dirs.end(), id) != open_dirs.end())
    throw Error("directory " + dir + " leads back into itself through a symbolic link",
                "remove the link: os.walk(followlinks=True), which torchvision uses, would "
                "descend into it until the path is too long");
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error("cannot list directory " + dir + ": " + ec.message());
  Listing listing{dir, {}};
  std::vector<std::string> subdirs;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error("cannot list directory " + dir + ": " + ec.message());
    std::error_code type_ec;
    const std::string name = it->path().filename().string();
    (it->is_directory(type_ec) ? subdirs : listing.files).push_back(name);
  }
  if (ec) throw Error("cannot list directory " + dir + ": " + ec.message());
  out.push_back(std::move(listing));
  open_dirs.push_back(id);
  for (const std::string& sub : subdirs) walk(dir + "/" + sub, open_dirs, out);
  open_dirs.pop_back();
}

}  // namespace

std::string without_trailing_slash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::vector<std::string> walk_sorted(const std::string& dir,
                                     const std::function<bool(const std::string&)>& keep) {
  std::vector<Listing> listings;
  std::vector<std::pair<dev_t, ino_t>> open_dirs;
  walk(dir, open_dirs, listings);
  // sorted(os.walk(...)) compares the (root, dirs, files) tuples: by root, as strings (code
  // points; byte order for UTF-8), which is not the depth-first order of the walk.
  std::sort(listings.begin(), listings.end(),
            [](const Listing& a, const Listing& b) { return a.root < b.root; });
  std::vector<std::string> paths;
  for (Listing& l : listings) {
    std::sort(l.files.begin(), l.files.end());
    for (const std::string& f : l.files)
      if (keep(f)) paths.push_back(l.root + "/" + f);
  }
  return paths;
}

std::vector<std::string> sorted_subdirectories(const std::string& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error("cannot list directory " + dir + ": " + ec.message());
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error("cannot list directory " + dir + ": " + ec.message());
    std::error_code type_ec;
    if (it->is_directory(type_ec)) names.push_back(it->path().filename().string());
  }
  if (ec) throw Error("cannot list directory " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<int64_t> find_bad_items(const std::string& dataset, int64_t n,
                                    const std::function<void(int64_t)>& check,
                                    const std::function<std::string(int64_t)>& describe) {
  // A few helpers: decoding is CPU-bound, and the training processes share the machine.
  const int64_t helpers =
      std::clamp<int64_t>(int64_t(std::thread::hardware_concurrency()) - 1, 0, 3);
  std::vector<std::string> errors(size_t(std::max<int64_t>(n, 0)));
  std::vector<char> bad(errors.size(), 0);
  WorkerPool pool(helpers);
  pool.run(n, [&](int64_t i) {
    try {
      check(i);
    } catch (const Error& e) {
      errors[size_t(i)] = e.what();
      bad[size_t(i)] = 1;
    }
  });
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    if (!bad[size_t(i)]) continue;
    out.push_back(i);
    std::cerr << "warning: " << dataset << ": skipping " << describe(i) << ": " << errors[size_t(i)]
              << "\n";
  }
  if (!out.empty())
    std::cerr << "warning: " << dataset << ": skipped " << out.size() << " of " << n
              << " files (data.skip_bad_images)\n";
  return out;
}

}  // namespace tandem::data
