// error_text(fn): what fn threw (its what()), or "<no error>", so a test can assert on the
// message a user would read.
#pragma once

#include <exception>
#include <functional>
#include <string>

namespace tandem::testing {

inline std::string error_text(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace tandem::testing
