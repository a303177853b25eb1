// error_text(fn): what fn threw (its what()), or "<no error>", so a test can assert on the
// message a user would read; throws_with(fn, needle): fn throws a tandem::Error whose message
// contains `needle`.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <string>

#include "kernels/common/error.h"

namespace tandem::testing {

inline std::string error_text(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

inline ::testing::AssertionResult throws_with(const std::function<void()>& fn,
                                              const std::string& needle) {
  try {
    fn();
  } catch (const Error& e) {
    if (std::string(e.what()).find(needle) != std::string::npos)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
  }
  return ::testing::AssertionFailure() << "no error (expected \"" << needle << "\")";
}

}  // namespace tandem::testing
