// TempDir: an empty folder for one test, removed with it (with whatever the test wrote there).
// Its name holds the test's suite and name and the process id, so tests running at the same time
// (ctest -j, one process per test) never share one.
//
//   const TempDir dir;                            // <tmp>/tandem_Suite_Test_<pid>
//   io::save_npy(dir.file("a/b.npy"), t);         // creates a/ first
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace tandem::testing {

class TempDir {
 public:
  // `name` tells several folders of one test apart.
  explicit TempDir(const std::string& name = "") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string leaf = "tandem_" + std::string(info ? info->test_suite_name() : "test") + "_" +
                       (info ? info->name() : "") + "_" + std::to_string(::getpid());
    if (!name.empty()) leaf += "_" + name;
    std::replace(leaf.begin(), leaf.end(), '/', '_');  // parametrised tests: "Suite/Name/0"
    path_ = (std::filesystem::temp_directory_path() / leaf).string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/relative, with its parent folders created.
  std::string file(const std::string& relative) const {
    const std::filesystem::path p = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(p.parent_path());
    return p.string();
  }

 private:
  std::string path_;
};

}  // namespace tandem::testing
